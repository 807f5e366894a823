"""Array helpers shared by the cells, the engine and the layers (not public API)."""

from __future__ import annotations

import operator

import jax
import jax.numpy as jnp
from jax.export import is_symbolic_dim


def dtype_name(dtype) -> str | None:
    """A dtype's canonical name ('float32'), or None for None."""
    return None if dtype is None else jnp.dtype(dtype).name


def batch_shape_of(batch_size) -> tuple[int, ...]:
    """`None` or `()` -> unbatched, an int -> (B,), a tuple -> itself.

    A symbolic size (`jax.export` with a symbolic batch dimension) is kept as it is: it is
    not an int, but jnp.zeros and every shape computation take it.
    """
    if batch_size is None:
        return ()
    if isinstance(batch_size, tuple):
        return batch_size
    if is_symbolic_dim(batch_size):
        return (batch_size,)
    return (operator.index(batch_size),)


def matmul(x, w, compute_dtype):
    """x @ w in `compute_dtype` (inputs cast), accumulated and returned in float32.

    float32 accumulation keeps bf16 runs stable; for float32 inputs this is a plain dot.
    """
    if compute_dtype is not None:
        x = x.astype(compute_dtype)
        w = w.astype(compute_dtype)
    return jnp.matmul(x, w, preferred_element_type=wide_dtype(x.dtype))


def wide_dtype(dtype):
    """Where low-precision values accumulate: float64 (complex128) for 64-bit dtypes,
    else float32 (complex64). Unlike `jnp.promote_types`, also allowed under
    `jax.numpy_dtype_promotion("strict")`."""
    dtype = jnp.dtype(dtype)
    complex_ = jnp.issubdtype(dtype, jnp.complexfloating)
    if dtype.itemsize * (1 if complex_ else 2) >= 16:  # float64 or complex128
        return jnp.dtype(jnp.complex128 if complex_ else jnp.float64)
    return jnp.dtype(jnp.complex64 if complex_ else jnp.float32)


def add_bias(g, b):
    """g (..., N) + b (N,), with an explicit broadcast (we run with rank promotion off)."""
    if b is None:
        return g
    return g + jnp.reshape(b, (1,) * (g.ndim - 1) + b.shape).astype(g.dtype)


def split_gates(g, n):
    """Split the last axis of `g` into a tuple of `n` equal gate blocks."""
    return tuple(jnp.split(g, n, axis=-1))


def tree_where(m, new, old):
    """Per-example select: m (*B,) bool; new/old pytrees of (*B, ...) arrays."""

    def sel(a, b):
        return jnp.where(jnp.reshape(m, m.shape + (1,) * (a.ndim - m.ndim)), a, b)

    return jax.tree.map(sel, new, old)


def zero_where_masked(m, y):
    """y (*B, ...) with the examples where m (*B,) is False set to zero."""
    return jnp.where(jnp.reshape(m, m.shape + (1,) * (y.ndim - m.ndim)), y, jnp.zeros_like(y))
