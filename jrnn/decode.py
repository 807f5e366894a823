"""Decoding a trained RNN back into sequences: sampling, greedy and beam search.

Everything runs on a *step function*, one decoder step on a batch:

    carry, logits = step_fn(carry, tokens)      # tokens: (B,) int32, logits: (B, V)

`jrnn.lm_step(model, variables)` builds one from a `jrnn.Sequential` language model; an
encoder-decoder passes its own (the encoder's final carry is the decoder's first carry).
Each loop is one compiled `lax.scan` / `lax.while_loop` over steps with the carry
explicit; PRNG keys are arguments. A step function may be a plain function (compiled
once per function object) or a `jax.tree_util.Partial` whose arguments are arrays (they
are traced, not baked into the program; `lm_step` returns one).

  step, init = jrnn.lm_step(model, variables)
  tokens = jrnn.decode.sample(step, init(2), prompt, 50, jax.random.key(0), top_k=5)
  seqs, scores, lengths = jrnn.decode.beam_search(step, carry, 1, 4, 20, end_token=2)
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.tree_util import Partial

from jrnn._checks import check_positive_int, is_concrete, shape_error
from jrnn._fused import tree_where

# -- checks -----------------------------------------------------------------------------------


def _as_step(step_fn) -> Partial:
    if isinstance(step_fn, Partial):
        return step_fn
    if not callable(step_fn):
        raise TypeError(
            f"step_fn: got {type(step_fn).__name__}, expected a function "
            f"(carry, tokens (B,)) -> (carry, logits (B, V))"
        )
    return Partial(step_fn)


def _check_step(step, carry, batch: int) -> int:
    """Trace one step on (batch,) tokens; returns V, or raises naming step_fn or carry."""
    tokens = jax.ShapeDtypeStruct((batch,), jnp.int32)
    try:
        out = jax.eval_shape(step, carry, tokens)
    except TypeError as e:  # e.g. broadcasting a carry of another batch with the tokens
        sizes = {jnp.shape(v)[0] for v in jax.tree.leaves(carry) if jnp.ndim(v)}
        if sizes and batch not in sizes:
            raise ValueError(
                f"carry: got arrays of leading sizes {sorted(sizes)}, expected the batch "
                f"{batch} of the tokens (step_fn failed on them: {e})"
            ) from e
        raise
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError("step_fn: expected it to return a pair (carry, logits)")
    new, logits = out
    if logits.ndim != 2 or logits.shape[0] != batch:
        raise shape_error("step_fn's logits", logits.shape, f"({batch}, V)")
    if jax.tree.structure(new) != jax.tree.structure(carry):
        raise ValueError("step_fn: returned a carry whose structure differs from its input's")
    got = [jnp.shape(v) for v in jax.tree.leaves(new)]
    want = [jnp.shape(v) for v in jax.tree.leaves(carry)]
    if got != want:  # most often a carry made for another batch size than the tokens'
        raise ValueError(
            f"carry: got arrays of shapes {want}, but step_fn on ({batch},) tokens returns "
            f"a carry of shapes {got}; expected the carry's batch to be {batch}"
        )
    return logits.shape[1]


def _check_tokens(name: str, tokens, ndim: int, vocab: int | None = None):
    tokens = jnp.asarray(tokens)
    if not jnp.issubdtype(tokens.dtype, jnp.integer):
        raise TypeError(f"{name}: got dtype {tokens.dtype}, expected integer token ids")
    if tokens.ndim != ndim:
        raise shape_error(name, tokens.shape, "(batch,)" if ndim == 1 else "(batch, steps)")
    if vocab is not None and is_concrete(tokens) and tokens.size:
        t = np.asarray(tokens)
        if t.min() < 0 or t.max() >= vocab:
            bad = t[(t < 0) | (t >= vocab)].ravel()[0]
            raise ValueError(f"{name}: got token id {bad}, expected ids in [0, {vocab})")
    return tokens.astype(jnp.int32)


def _batch_of(carry) -> int:
    sizes = {jnp.shape(v)[0] if jnp.ndim(v) else None for v in jax.tree.leaves(carry)}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(
            f"carry: got leading sizes {sorted(sizes, key=str)}, expected every array of "
            f"the carry to start with the same batch axis"
        )
    return sizes.pop()


def _check_number(name, value) -> float:
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
    if not (ok and value >= 0 and math.isfinite(value)):
        raise ValueError(f"{name}: got {value!r}, expected a finite number >= 0")
    return float(value)


def _check_int(name, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name}: got {value!r}, expected an integer >= {low}")
    return int(value)


# -- language-model sampling --------------------------------------------------------------------


def feed(step_fn, carry, tokens, mask=None):
    """Run a prompt through the step function with `lax.scan`.

    Args:
      step_fn: `(carry, tokens (B,)) -> (carry, logits (B, V))`.
      carry: the initial carry (e.g. `initial_carry_fn(B)`).
      tokens: (B, P) int token ids, P >= 1.
      mask: optional (B, P) bool, False at padding (e.g. left-padded prompts): a masked
        step leaves the carry and the last logits unchanged.

    Returns:
      (carry, logits): the carry after the prompt and the logits (B, V) of its last
      valid step (zeros for a row without one), i.e. the next-token distribution.
    """
    return _checked_feed(_as_step(step_fn), carry, tokens, mask, ("tokens", "mask"))


def _checked_feed(step, carry, tokens, mask, names):
    tokens = _check_tokens(names[0], tokens, 2)
    if tokens.shape[1] < 1:
        raise shape_error(names[0], tokens.shape, "(batch, steps) with steps >= 1")
    vocab = _check_step(step, carry, tokens.shape[0])
    tokens = _check_tokens(names[0], tokens, 2, vocab)
    if mask is not None:
        mask = jnp.asarray(mask)
        if mask.shape != tokens.shape:
            raise shape_error(names[1], mask.shape, f"{tokens.shape} like {names[0]}")
        mask = mask.astype(bool)
    return _feed(step, carry, tokens, mask, vocab)


@partial(jax.jit, static_argnums=4)
def _feed(step, carry, tokens, mask, vocab):
    logits0 = jnp.zeros((tokens.shape[0], vocab), jnp.float32)

    def body(state, inp):
        carry, last = state
        tok, m = inp
        new, logits = step(carry, tok)
        logits = logits.astype(jnp.float32)
        if m is not None:
            new, logits = tree_where(m, new, carry), jnp.where(m[:, None], logits, last)
        return (new, logits), None

    xs = (tokens.T, None if mask is None else mask.T)
    (carry, logits), _ = lax.scan(body, (carry, logits0), xs)
    return carry, logits


def _pick(logits, key, temperature, top_k, greedy):
    """One token per row: argmax, or a draw from softmax(logits / temperature) over
    the top_k largest logits (all when None)."""
    if greedy:
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    logits = logits.astype(jnp.float32) / temperature
    if top_k is None:
        return jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)
    vals, idx = lax.top_k(logits, top_k)  # (B, k), sorted
    j = jax.random.categorical(key, vals, axis=-1)
    return jnp.take_along_axis(idx, j[:, None], axis=1)[:, 0].astype(jnp.int32)


def sample(
    step_fn,
    carry,
    prompt,
    num_steps: int,
    key=None,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    greedy: bool = False,
    prompt_mask=None,
):
    """Generate tokens from a language model: feed the prompt, then sample step by step.

    With z the logits after the last token, the next token is drawn from
    p(v) = softmax(z / temperature)_v restricted to the `top_k` largest z (the others
    get probability 0), or argmax z with `greedy=True` (also temperature=0); the token
    is fed back and the loop (one `lax.scan`) repeats. Step s uses
    `jax.random.split(key, num_steps)[s]`, so the same key gives the same tokens.

    Args:
      step_fn: `(carry, tokens (B,)) -> (carry, logits (B, V))`, e.g. from `lm_step`.
      carry: the initial carry, e.g. `initial_carry_fn(B)`.
      prompt: (B, P) int token ids, P >= 1 (see `feed`; `prompt_mask` for padding).
      num_steps: tokens to generate (>= 0).
      key: a PRNG key (not needed when greedy).
      temperature: > 0; lower is sharper, 0 is greedy.
      top_k: None or 1 <= top_k <= V: sample among the k most likely tokens only.

    Returns:
      (B, num_steps) int32, the generated tokens (without the prompt).
    """
    step = _as_step(step_fn)
    num_steps = _check_int("num_steps", num_steps, 0)
    t = _check_number("temperature", temperature)
    greedy = bool(greedy) or t == 0
    prompt = _check_tokens("prompt", prompt, 2)
    vocab = _check_step(step, carry, prompt.shape[0])
    if top_k is not None:
        top_k = _check_int("top_k", top_k, 1)
        if top_k > vocab:
            raise ValueError(f"top_k: got {top_k}, expected at most the vocabulary size {vocab}")
    if key is None and not greedy:
        raise ValueError("key: got None, expected a PRNG key (jax.random.key) for sampling")
    carry, logits = _checked_feed(step, carry, prompt, prompt_mask, ("prompt", "prompt_mask"))
    if num_steps == 0:
        return jnp.zeros((prompt.shape[0], 0), jnp.int32)
    keys = None if greedy else jax.random.split(key, num_steps)
    temp = jnp.asarray(t, jnp.float32)  # traced: a new temperature does not recompile
    return _sample(step, carry, logits, keys, num_steps, temp, top_k, greedy)


@partial(jax.jit, static_argnums=(4, 6, 7))
def _sample(step, carry, logits, keys, num_steps, temperature, top_k, greedy):
    pick = partial(_pick, temperature=temperature, top_k=top_k, greedy=greedy)
    first = pick(logits, None if keys is None else keys[0])

    def body(state, key):  # key is None when greedy (no xs)
        carry, tok = state
        carry, logits = step(carry, tok)
        tok = pick(logits, key)
        return (carry, tok), tok

    rest = None if keys is None else keys[1:]
    _, toks = lax.scan(body, (carry, first), rest, length=num_steps - 1)
    return jnp.concatenate([first[:, None], toks.T], axis=1)


# -- encoder-decoder decoding -------------------------------------------------------------------


def _length_penalty(length, alpha):
    """GNMT (Wu et al. 2016): lp = ((5 + length) / 6) ** alpha; 1 when alpha = 0."""
    return ((5.0 + length.astype(jnp.float32)) / 6.0) ** alpha


def _decode_args(step_fn, carry, start_token, max_length, end_token):
    step = _as_step(step_fn)
    max_length = check_positive_int("max_length", max_length)
    batch = _batch_of(carry)
    vocab = _check_step(step, carry, batch)
    start = jnp.asarray(start_token)
    if start.ndim == 0:
        start = jnp.broadcast_to(start, (batch,))
    start = _check_tokens("start_token", start, 1, vocab)
    if start.shape[0] != batch:
        raise shape_error("start_token", start.shape, f"() or ({batch},), the carry's batch")
    if end_token is not None:
        end_token = _check_int("end_token", end_token, 0)
        if end_token >= vocab:
            raise ValueError(f"end_token: got {end_token}, expected an id in [0, {vocab})")
    return step, start, max_length, end_token


def greedy_decode(step_fn, carry, start_token, max_length: int, end_token: int | None = None):
    """Greedy decoding: feed `start_token`, then repeatedly the argmax token.

    y_t = argmax_v log_softmax(z_t)_v, fed back as the next input, until `end_token`
    (included in the sequence) or `max_length` tokens; one `lax.while_loop` that stops
    early once every row has ended. This is `beam_search` with one beam.

    Args:
      step_fn: `(carry, tokens (B,)) -> (carry, logits (B, V))`.
      carry: the decoder's initial carry (e.g. the encoder's final carry); every array
        starts with the batch axis B.
      start_token: int or (B,) ints, the first input (not part of the output).
      max_length: tokens to generate at most (>= 1).
      end_token: optional id that ends a sequence.

    Returns:
      (sequences (B, 1, max_length) int32, scores (B, 1), lengths (B, 1)), shaped as
      `beam_search` with one beam: positions after the end token hold the end token;
      score = sum of the tokens' log-probabilities (up to and with the end token);
      length counts the tokens up to and with the end token.
    """
    step, start, max_length, end = _decode_args(step_fn, carry, start_token, max_length, end_token)
    return _beam(step, carry, start, 1, max_length, end, jnp.float32(0.0))  # top-1 = argmax


def beam_search(
    step_fn,
    carry,
    start_token,
    beam_width: int,
    max_length: int,
    end_token: int | None = None,
    length_normalization: float = 0.0,
):
    """Beam search over a decoder, batched: the `beam_width` best sequences per row.

    Each hypothesis y_1..y_n has log-probability log p = sum_t log_softmax(z_t)_{y_t}
    and is ranked by score = log p / lp(n), lp(n) = ((5 + n) / 6) ** alpha with
    alpha = `length_normalization` (GNMT, Wu et al. 2016; tfa.seq2seq's
    `length_penalty_weight`; alpha = 0 ranks by log p). At each step every live beam
    is extended by each of the V tokens and the `beam_width` best of the
    beam_width * V candidates are kept. A beam that emits `end_token` is finished: it
    stays in the candidates with its score and length fixed, padded with `end_token`.
    One `lax.while_loop` that stops when every beam has finished. With a beam as wide
    as the number of hypotheses the search is exhaustive; `beam_width=1` is greedy.

    Args:
      step_fn: `(carry, tokens (B,)) -> (carry, logits (B, V))`; called on B * beam_width
        rows (every carry array is repeated beam_width times, row b * beam_width + k).
      carry: the decoder's initial carry; every array starts with the batch axis B.
      start_token: int or (B,) ints, the first input (not part of the output).
      beam_width: beams kept per row (>= 1).
      max_length: tokens to generate at most (>= 1).
      end_token: optional id that ends a hypothesis.
      length_normalization: alpha >= 0 above.

    Returns:
      (sequences (B, beam_width, max_length) int32, scores (B, beam_width) float32,
      lengths (B, beam_width) int32), best first; positions after a sequence's end
      hold `end_token` (0 without one); scores are the ranking scores above; lengths
      count the tokens up to and with the end token. A beam scored -inf is not a
      hypothesis (only when beam_width exceeds the number of possible sequences).
    """
    beam_width = check_positive_int("beam_width", beam_width)
    a = _check_number("length_normalization", length_normalization)
    step, start, max_length, end = _decode_args(step_fn, carry, start_token, max_length, end_token)
    alpha = jnp.asarray(a, jnp.float32)  # traced: a new alpha does not recompile
    return _beam(step, carry, start, beam_width, max_length, end, alpha)


@partial(jax.jit, static_argnums=(3, 4, 5))
def _beam(step, carry, start, k, max_length, end, alpha):
    b = start.shape[0]
    pad = 0 if end is None else end
    carry = jax.tree.map(lambda v: jnp.repeat(v, k, axis=0), carry)  # row b * k + j
    logp0 = jnp.full((b, k), -jnp.inf, jnp.float32).at[:, 0].set(0.0)  # one live beam
    init = (
        0,
        carry,
        jnp.repeat(start[:, None], k, axis=1),
        jnp.full((b, k, max_length), pad, jnp.int32),
        logp0,
        logp0,
        jnp.zeros((b, k), bool),
        jnp.zeros((b, k), jnp.int32),
    )

    def cond(s):
        return (s[0] < max_length) & ~jnp.all(s[6])

    def body(s):
        t, carry, tok, seqs, logp, _, done, length = s
        carry, logits = step(carry, tok.reshape(b * k))
        v = logits.shape[-1]
        lsm = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1).reshape(b, k, v)
        cand = logp[:, :, None] + lsm  # (B, K, V)
        if end is not None:
            # A finished beam has one continuation, the pad (= end token), at no cost.
            only_pad = jnp.where(jnp.arange(v) == end, 0.0, -jnp.inf)
            cand = jnp.where(done[:, :, None], logp[:, :, None] + only_pad[None, None], cand)
        new_len = length + (~done).astype(jnp.int32)  # (B, K)
        rank = cand / _length_penalty(new_len, alpha)[:, :, None]
        score, idx = lax.top_k(rank.reshape(b, k * v), k)  # sorted, best first
        parent, new = idx // v, (idx % v).astype(jnp.int32)
        logp = jnp.take_along_axis(cand.reshape(b, k * v), idx, axis=1)
        take = lambda x: jnp.take_along_axis(
            x, parent.reshape(parent.shape + (1,) * (x.ndim - 2)), axis=1
        )
        seqs = lax.dynamic_update_slice(take(seqs), new[:, :, None], (0, 0, t))
        length, done = take(new_len), take(done)
        if end is not None:
            done = done | (new == end)
        rows = (parent + k * jnp.arange(b)[:, None]).reshape(b * k)
        carry = jax.tree.map(lambda x: jnp.take(x, rows, axis=0), carry)
        return t + 1, carry, new, seqs, logp, score, done, length

    _, _, _, seqs, _, score, _, length = lax.while_loop(cond, body, init)
    return seqs, score, length
