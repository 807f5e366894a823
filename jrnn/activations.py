"""Activation functions by Keras name.

Cells keep the activation as a name (a hashable string, so a cell can be a static jit
argument and round-trips through `get_config`) or as any callable.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp


def _hard_sigmoid(x):
    # Keras 3 definition: relu6(x + 3) / 6.
    return jnp.clip(x + 3.0, 0.0, 6.0) / 6.0


def _linear(x):
    return x


ACTIVATIONS: dict[str, Callable] = {
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "hard_sigmoid": _hard_sigmoid,
    "relu": jax.nn.relu,
    "relu6": jax.nn.relu6,
    "elu": jax.nn.elu,
    "selu": jax.nn.selu,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
    "softsign": jax.nn.soft_sign,
    "softplus": jax.nn.softplus,
    "exponential": jnp.exp,
    "linear": _linear,
    None: _linear,
}


def get(activation) -> Callable:
    """Return the function for a Keras activation name, or `activation` if callable."""
    if callable(activation):
        return activation
    try:
        return ACTIVATIONS[activation]
    except (KeyError, TypeError):
        names = sorted(k for k in ACTIVATIONS if k is not None)
        raise ValueError(
            f"activation: got {activation!r}, expected a callable or one of {names}"
        ) from None
