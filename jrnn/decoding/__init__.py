"""Decoding a trained RNN back into sequences: step functions from models, sampling,
greedy and beam search, and CTC (loss and decoders).

Everything but CTC runs on a *step function*, one decoder step on a batch:

    carry, logits = step_fn(carry, tokens)      # tokens: (B,) int32, logits: (B, V)

`lm_step(model, variables)` builds one from a `jrnn.Sequential` language model (or the
decoder layers of an encoder-decoder) through the layer-step protocol
(`jrnn.layers.Layer.step`); an encoder-decoder may also pass its own (the encoder's final
carry is the decoder's first carry). Each loop is one compiled `lax.scan` /
`lax.while_loop` over steps with the carry explicit; PRNG keys are arguments. A step
function may be a plain function (compiled once per function object) or a
`jax.tree_util.Partial` whose arguments are arrays (they are traced, not baked into the
program; `lm_step` returns one).

  step, init = jrnn.lm_step(model, variables)
  tokens = jrnn.decoding.sample(step, init(2), prompt, 50, jax.random.key(0), top_k=5)
  seqs, scores, lengths = jrnn.decoding.beam_search(step, carry, 1, 4, 20, end_token=2)
  loss = jrnn.decoding.ctc_loss(logits, labels, logit_lengths, label_lengths)

`jrnn.decode` (sampling and search) and `jrnn.ctc` are the same functions by their
shorter module names.
"""

from jrnn.decoding._beam import beam_search, greedy_decode
from jrnn.decoding._ctc import ctc_beam_search_decode, ctc_greedy_decode, ctc_loss
from jrnn.decoding._lm import lm_step
from jrnn.decoding._sampling import feed, sample

__all__ = [
    "beam_search",
    "ctc_beam_search_decode",
    "ctc_greedy_decode",
    "ctc_loss",
    "feed",
    "greedy_decode",
    "lm_step",
    "sample",
]
