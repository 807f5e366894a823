"""Language-model sampling on a step function: `feed` a prompt, then `sample`."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jrnn._checks import check_int, check_key, check_positive_int, shape_error
from jrnn._ops import tree_where
from jrnn.decoding._stepfn import as_step, check_number, check_step, check_tokens


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
    return _checked_feed(as_step(step_fn), carry, tokens, mask, ("tokens", "mask"))


def _checked_feed(step, carry, tokens, mask, names):
    tokens = check_tokens(names[0], tokens, 2)
    if tokens.shape[1] < 1:
        raise shape_error(names[0], tokens.shape, "(batch, steps) with steps >= 1")
    vocab = check_step(step, carry, tokens.shape[0])
    tokens = check_tokens(names[0], tokens, 2, vocab)
    if mask is not None:
        mask = jnp.asarray(mask)
        if mask.shape != tokens.shape:
            raise shape_error(names[1], mask.shape, f"{tokens.shape} like {names[0]}")
        if not (mask.dtype == bool or jnp.issubdtype(mask.dtype, jnp.integer)):
            # a float mask looks like weights, which a keep/skip mask cannot honour
            raise TypeError(f"{names[1]}: got dtype {mask.dtype}, expected bool (or 0/1 ints)")
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


def _pick(logits, key, temperature, top_k, greedy, zero_is_greedy):
    """One token per row: argmax, or a draw from softmax(logits / temperature) over
    the top_k largest logits (all when None). `zero_is_greedy`: the temperature is a
    traced value, so temperature <= 0 picks the argmax in the program itself."""
    argmax = jnp.argmax(logits, axis=-1).astype(jnp.int32)
    if greedy:
        return argmax
    hot = temperature > 0
    if zero_is_greedy:
        temperature = jnp.where(hot, temperature, 1.0)  # no 0/0 in the unused draw
    logits = logits.astype(jnp.float32) / temperature
    if top_k is None:
        tok = jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)
    else:
        vals, idx = lax.top_k(logits, top_k)  # (B, k), sorted
        j = jax.random.categorical(key, vals, axis=-1)
        tok = jnp.take_along_axis(idx, j[:, None], axis=1)[:, 0].astype(jnp.int32)
    return jnp.where(hot, tok, argmax) if zero_is_greedy else tok


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
      temperature: >= 0; lower is sharper, 0 is greedy. A Python number, or a scalar
        array, traced too (under `jit`/`vmap`, e.g. a sweep of temperatures in one
        program); a traced value cannot be checked, and one <= 0 acts as 0 (greedy).
      top_k: None or 1 <= top_k <= V: sample among the k most likely tokens only.
      greedy: take the argmax at every step (no key needed).
      prompt_mask: optional (B, P) bool, False at the prompt's padding (see `feed`).

    Returns:
      (B, num_steps) int32, the generated tokens (without the prompt).

    Compiles: two programs, kept for later calls. The prompt's is compiled anew for a new
    prompt shape (B, P), carry structure, or `prompt_mask` given vs None; the loop's for a
    new batch size B, `num_steps`, `top_k` or `greedy`, and either for another step
    function's code. A new `temperature`, `key`, prompt or mask values, carry values,
    or new variables in the same `lm_step` step function compile nothing.
    """
    step = as_step(step_fn)
    num_steps = check_int("num_steps", num_steps, minimum=0)
    t = _check_temperature(temperature)
    traced = not isinstance(t, float)
    greedy = bool(greedy) or (not traced and t == 0)
    prompt = check_tokens("prompt", prompt, 2)
    vocab = check_step(step, carry, prompt.shape[0])
    if top_k is not None:
        top_k = check_positive_int("top_k", top_k)
        if top_k > vocab:
            raise ValueError(f"top_k: got {top_k}, expected at most the vocabulary size {vocab}")
    if key is None and not greedy:
        raise ValueError("key: got None, expected a PRNG key (jax.random.key) for sampling")
    if key is not None:
        check_key("key", key)
    carry, logits = _checked_feed(step, carry, prompt, prompt_mask, ("prompt", "prompt_mask"))
    if num_steps == 0:
        return jnp.zeros((prompt.shape[0], 0), jnp.int32)
    keys = None if greedy else jax.random.split(key, num_steps)
    temp = jnp.asarray(t, jnp.float32)  # traced: a new temperature does not recompile
    return _sample(step, carry, logits, keys, num_steps, temp, top_k, greedy, traced)


def _check_temperature(value):
    """A float, checked (finite, >= 0), or a traced scalar (checked for shape and dtype
    only: its value is not known until the program runs)."""
    if isinstance(value, (jax.Array, np.ndarray, np.generic)) and not isinstance(value, bool):
        if jnp.shape(value) != () or not (
            jnp.issubdtype(jnp.result_type(value), jnp.floating)
            or jnp.issubdtype(jnp.result_type(value), jnp.integer)
        ):
            raise ValueError(
                f"temperature: got an array of shape {jnp.shape(value)} and dtype "
                f"{jnp.result_type(value)}, expected a real scalar >= 0"
            )
        try:
            value = float(value)
        except jax.errors.ConcretizationTypeError:
            return value  # traced
    return check_number("temperature", value)


@partial(jax.jit, static_argnums=(4, 6, 7, 8))
def _sample(step, carry, logits, keys, num_steps, temperature, top_k, greedy, traced):
    pick = partial(
        _pick, temperature=temperature, top_k=top_k, greedy=greedy, zero_is_greedy=traced
    )
    first = pick(logits, None if keys is None else keys[0])

    def body(state, key):  # key is None when greedy (no xs)
        carry, tok = state
        carry, logits = step(carry, tok)
        tok = pick(logits, key)
        return (carry, tok), tok

    rest = None if keys is None else keys[1:]
    _, toks = lax.scan(body, (carry, first), rest, length=num_steps - 1)
    return jnp.concatenate([first[:, None], toks.T], axis=1)
