"""Checks shared by the decoders: step functions, their carries and token arguments.

A step function is `(carry, tokens (B,)) -> (carry, logits (B, V))`; `check_step` traces
one step abstractly so that a bad carry or step function is named before any loop runs.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import Partial

from jrnn._checks import is_concrete, shape_error


def as_step(step_fn) -> Partial:
    """`step_fn` as a `Partial`, which jit takes as an argument (a plain function is
    wrapped with no arguments: what it closes over is baked into the program)."""
    if isinstance(step_fn, Partial):
        return step_fn
    if not callable(step_fn):
        raise TypeError(
            f"step_fn: got {type(step_fn).__name__}, expected a function "
            f"(carry, tokens (B,)) -> (carry, logits (B, V))"
        )
    return Partial(step_fn)


def check_step(step, carry, batch: int) -> int:
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
    except Exception as e:  # the user's step failed on this carry: name both
        shapes = [jnp.shape(v) for v in jax.tree.leaves(carry)]
        raise ValueError(
            f"step_fn: failed on a carry of shapes {shapes} and ({batch},) int32 tokens "
            f"({type(e).__name__}: {e}); expected a carry step_fn accepts"
        ) from e
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError("step_fn: expected it to return a pair (carry, logits)")
    new, logits = out
    if logits.ndim != 2 or logits.shape[0] != batch:
        raise shape_error("step_fn's logits", logits.shape, f"({batch}, V)")
    if jax.tree.structure(new) != jax.tree.structure(carry):
        raise ValueError(
            f"step_fn: returned a carry whose structure differs from its input's: got "
            f"{jax.tree.structure(new)}, expected {jax.tree.structure(carry)}"
        )
    got = [jnp.shape(v) for v in jax.tree.leaves(new)]
    want = [jnp.shape(v) for v in jax.tree.leaves(carry)]
    if got != want:  # most often a carry made for another batch size than the tokens'
        raise ValueError(
            f"carry: got arrays of shapes {want}, but step_fn on ({batch},) tokens returns "
            f"a carry of shapes {got}; expected the carry's batch to be {batch}"
        )
    return logits.shape[1]


def check_tokens(name: str, tokens, ndim: int, vocab: int | None = None):
    """Integer token ids of rank `ndim` as int32, each in [0, vocab) when given and
    concrete; errors name the argument."""
    if not hasattr(tokens, "dtype"):  # a str or a list of them would fail inside JAX
        tokens = np.asarray(tokens)
        if tokens.dtype.kind not in "iub":
            raise TypeError(f"{name}: got dtype {tokens.dtype}, expected integer token ids")
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


def batch_of(carry) -> int:
    """The batch size B that leads every array of `carry`."""
    sizes = {jnp.shape(v)[0] if jnp.ndim(v) else None for v in jax.tree.leaves(carry)}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(
            f"carry: got leading sizes {sorted(sizes, key=str)}, expected every array of "
            f"the carry to start with the same batch axis"
        )
    return sizes.pop()


def check_number(name, value) -> float:
    """`value` as a float, finite and >= 0 (a ValueError naming `name` otherwise)."""
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
    if not (ok and value >= 0 and math.isfinite(value)):
        raise ValueError(f"{name}: got {value!r}, expected a finite number >= 0")
    return float(value)
