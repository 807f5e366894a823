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


def varying_axes(*trees) -> frozenset:
    """The mesh axes any leaf of `trees` varies over inside `jax.shard_map` (the union of
    their varying manual axes); empty outside shard_map and under `check_vma=False`."""
    axes = frozenset()
    for leaf in jax.tree.leaves(trees):
        axes |= _vma(leaf)
    return axes


def _vma(x) -> frozenset:
    aval = jax.typeof(x)
    # jax >= 0.10 keeps them in the aval's manual axis type; earlier versions in `vma`.
    mat = getattr(aval, "mat", None)
    return mat.varying if mat is not None else getattr(aval, "vma", frozenset())


def to_varying(tree, axes):
    """`tree` with every leaf made to vary over `axes` (`lax.pcast(..., to="varying")`
    over the axes it does not vary over yet); the identity when `axes` is empty.

    Inside `shard_map` (with its default `check_vma=True`) a scan's carry must have the
    same varying axes going in as coming out, and a custom derivative's tangents those of its
    primal. A zero initial carry or replicated params vary over no axis, while a step
    that reads device-varying inputs makes them vary: so the engine casts carry and
    params to the inputs' axes before its loops. The cast costs nothing at run time; its
    transpose is a `psum` of the params' gradient over the axes, which is what autodiff
    gives a replicated param used with varying inputs (once, instead of per step).
    """
    if not axes:
        return tree

    def cast(x):
        missing = tuple(sorted(axes - _vma(x), key=str))
        return jax.lax.pcast(x, missing, to="varying") if missing else x

    return jax.tree.map(cast, tree)


def jvp_from_vjp(bwd, out, tangents):
    """The tangent of a function's outputs `out` from its hand-written backward pass.

    bwd: cotangents of `out` -> cotangents of the differentiable inputs (linear in its
    argument); tangents: the inputs' tangents, the same structure as bwd's result, with
    `SymbolicZero` leaves where an input has none (`custom_jvp(symbolic_zeros=True)`).

    The tangent is bwd's transpose applied to `tangents`. The engine's fast paths are
    `jax.custom_jvp`s whose rule returns it: forward mode (`jax.jvp`, `jacfwd`,
    `linearize`) evaluates it, and reverse mode transposes it back into `bwd` itself, so
    `grad` keeps the hand-written backward. `bwd`'s loop bodies must be under
    `jax.checkpoint`: reverse mode partially evaluates this linear map, which would
    otherwise move every computation on residuals alone out of the loop into a loop of
    its own, writing its per-step results to memory (twice the time of `grad`).
    """
    is_zero = lambda t: isinstance(t, jax.custom_derivatives.SymbolicZero)
    leaves = jax.tree.leaves(tangents, is_leaf=is_zero)
    keep = [not is_zero(t) for t in leaves]
    if not any(keep):  # JAX calls the rule only when some tangent is nonzero; to be safe
        return jax.tree.map(jnp.zeros_like, out)

    def transposed(cts):  # only the inputs with a tangent: the others' work is skipped
        grads = jax.tree.leaves(bwd(cts))
        return [g for g, k in zip(grads, keep, strict=True) if k]

    (dout,) = jax.linear_transpose(transposed, out)([t for t, k in zip(leaves, keep) if k])
    return dout
