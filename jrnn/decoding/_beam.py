"""Greedy decoding and beam search on a step function (an encoder-decoder's decoder).

One `lax.while_loop` over steps, batched over rows and beams, that stops once every
beam has finished; greedy decoding is beam search with one beam.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jrnn._checks import check_int, check_positive_int, shape_error
from jrnn.decoding._stepfn import as_step, batch_of, check_number, check_step, check_tokens


def _length_penalty(length, alpha):
    """GNMT (Wu et al. 2016): lp = ((5 + length) / 6) ** alpha; 1 when alpha = 0."""
    return ((5.0 + length.astype(jnp.float32)) / 6.0) ** alpha


def _decode_args(step_fn, carry, start_token, max_length, end_token):
    step = as_step(step_fn)
    max_length = check_positive_int("max_length", max_length)
    batch = batch_of(carry)
    vocab = check_step(step, carry, batch)
    start = check_tokens("start_token", start_token, np.ndim(start_token), vocab)
    if start.ndim == 0:
        start = jnp.broadcast_to(start, (batch,))
    if start.shape != (batch,):
        raise shape_error("start_token", start.shape, f"() or ({batch},), the carry's batch")
    if end_token is not None:
        end_token = check_int("end_token", end_token, minimum=0)
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
    a = check_number("length_normalization", length_normalization)
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
