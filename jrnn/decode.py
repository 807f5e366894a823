"""Sampling, greedy decoding and beam search on a step function
`(carry, tokens (B,)) -> (carry, logits (B, V))`; see `jrnn.decoding`, where they live.

  step, init = jrnn.lm_step(model, variables)
  tokens = jrnn.decode.sample(step, init(2), prompt, 50, jax.random.key(0), top_k=5)
  seqs, scores, lengths = jrnn.decode.beam_search(step, carry, 1, 4, 20, end_token=2)
"""

from jrnn.decoding import beam_search, feed, greedy_decode, sample

__all__ = ["beam_search", "feed", "greedy_decode", "sample"]
