"""What the adapters share: zero carries, the LSTM carry order, and input checks."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jrnn._checks import check_batch_size, shape_error
from jrnn._ops import batch_shape_of


def zeros_like_carry(make_carry, batch_size, dtype):
    """Zeros shaped as the carry `make_carry(batch_shape)` returns (found with
    `jax.eval_shape`, so nothing runs): jrnn's initial carry is zeros, whatever
    `carry_init` the wrapped module was built with (pass `carry=` to `jrnn.unroll` for
    another start)."""
    batch = batch_shape_of(check_batch_size("batch_size", batch_size))
    shapes = jax.eval_shape(lambda: make_carry(batch))
    return jax.tree.map(lambda s: jnp.zeros(s.shape, dtype or s.dtype), shapes)


def describe(obj) -> str:
    """An object for an error message: its repr when short, else its full type name
    (a Flax module's repr spans lines; `flax.linen.recurrent.LSTMCell` says which API)."""
    text = repr(obj)
    if "\n" not in text and len(text) <= 60:
        return f"{text} of type {type(obj).__name__}"
    return f"a {type(obj).__module__}.{type(obj).__qualname__}"


def swap_pair(carry):
    """(a, b) -> (b, a): Flax's LSTM carry (c, h) <-> jrnn's (h, c)."""
    return (carry[1], carry[0])


def check_step_input(x_t, input_size, where) -> jax.Array:
    """x_t (*B, I) floating, I = `input_size` when the wrapped module says (else any)."""
    x_t = jnp.asarray(x_t)
    if not jnp.issubdtype(x_t.dtype, jnp.floating):
        raise TypeError(f"x_t: got dtype {x_t.dtype}, expected a floating-point array")
    if x_t.ndim < 1 or (input_size is not None and x_t.shape[-1] != input_size):
        raise shape_error("x_t", x_t.shape, f"(*batch, {input_size}) to match {where}")
    return x_t


def check_carry_structure(carry, want, owner) -> None:
    """A step's carry has `want`'s tree structure (the adapter's `initial_carry`): a
    Flax (c, h) pair is the same structure as jrnn's (h, c), so only the order differs
    (said in the adapters' docstrings), but a bare h for an LSTM is caught here."""
    if jax.tree.structure(carry) != jax.tree.structure(want):
        raise TypeError(
            f"carry: got structure {jax.tree.structure(carry)}, expected "
            f"{jax.tree.structure(want)} as from {owner}.initial_carry"
        )


def check_params_structure(params, want, owner) -> None:
    """params of the structure `owner.init` returns (the wrapped module's weights)."""
    got, expected = jax.tree.structure(params), jax.tree.structure(want)
    if got != expected:
        raise TypeError(f"params: got structure {got}, expected {expected} as from {owner}.init")


def over_batch_axes(fn, batch_ndim: int):
    """`fn(carry, x)` for one example, mapped over `batch_ndim` leading batch axes of
    both arguments (for modules written unbatched, as Equinox's)."""
    for _ in range(batch_ndim):
        fn = jax.vmap(fn)
    return fn
