"""Weight initializers by Keras name, with Keras's conventions.

Keras initialises the *fused* matrices: `glorot_uniform` over the whole (I, G*H) input
kernel and `orthogonal` over the whole (H, G*H) recurrent kernel. `jax.nn.initializers`
computes fans from the last two axes, which for 2-D shapes is exactly Keras's rule.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.nn import initializers as jinit


def _random_uniform(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -0.05, 0.05)


def _random_normal(key, shape, dtype=jnp.float32):
    return 0.05 * jax.random.normal(key, shape, dtype)


INITIALIZERS: dict[str, Callable] = {
    "glorot_uniform": jinit.glorot_uniform(),
    "glorot_normal": jinit.glorot_normal(),
    "he_uniform": jinit.he_uniform(),
    "he_normal": jinit.he_normal(),
    "lecun_uniform": jinit.lecun_uniform(),
    "lecun_normal": jinit.lecun_normal(),
    "orthogonal": jinit.orthogonal(),
    "zeros": jinit.zeros,
    "ones": jinit.ones,
    "random_uniform": _random_uniform,
    "random_normal": _random_normal,
}


def get(initializer) -> Callable:
    """Return `init(key, shape, dtype)` for a Keras initializer name or a callable.

    The initializer draws in float32 (float64 for float64) and the result is cast to
    `dtype`: XLA:CPU has no bfloat16/float16 QR for `orthogonal`, and drawing in the
    wide type gives a low-precision parameter the same values, rounded, as a float32 one.
    """
    if callable(initializer):
        fn = initializer
    else:
        try:
            fn = INITIALIZERS[initializer]
        except (KeyError, TypeError):
            raise ValueError(
                f"initializer: got {initializer!r}, expected a callable or one of "
                f"{sorted(INITIALIZERS)}"
            ) from None
    return functools.partial(_draw_wide, fn)


def _draw_wide(fn, key, shape, dtype=jnp.float32):
    dtype = jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating) or dtype.itemsize >= 4:
        return fn(key, shape, dtype)
    return fn(key, shape, jnp.float32).astype(dtype)


def vector_glorot_uniform(key, shape, dtype=jnp.float32):
    """Glorot-uniform for a 1-D weight (TF1 peepholes): fan_in = fan_out = shape[0],
    values in [-sqrt(3 / n), sqrt(3 / n)] for `shape` = (n,), n >= 1."""
    if len(shape) != 1 or shape[0] < 1:
        raise ValueError(f"shape: got {tuple(shape)}, expected (n,) with n >= 1 (a vector)")
    limit = jnp.sqrt(3.0 / shape[0])
    return jax.random.uniform(key, shape, dtype, -limit, limit)
