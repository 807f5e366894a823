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


def _gelu(x):
    # Keras 3's gelu is the exact erf form; jax.nn.gelu defaults to the tanh approximation.
    return jax.nn.gelu(x, approximate=False)


ACTIVATIONS: dict[str, Callable] = {
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "hard_sigmoid": _hard_sigmoid,
    "relu": jax.nn.relu,
    "relu6": jax.nn.relu6,
    "elu": jax.nn.elu,
    "selu": jax.nn.selu,
    "gelu": _gelu,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
    "softsign": jax.nn.soft_sign,
    "softplus": jax.nn.softplus,
    "exponential": jnp.exp,
    "linear": _linear,
    "softmax": jax.nn.softmax,
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


def _ones_like(y):
    return jnp.ones_like(y)


# f'(x) written in terms of y = f(x), for the activations whose derivative allows it:
# a hand-written backward pass can then use the saved outputs and skip recomputing f.
DERIVATIVES_FROM_OUTPUT: dict[str, Callable] = {
    "tanh": lambda y: 1.0 - y * y,
    "sigmoid": lambda y: y * (1.0 - y),
    "relu": lambda y: (y > 0).astype(y.dtype),
    "linear": _ones_like,
    None: _ones_like,
}


def derivative_from_output(activation) -> Callable | None:
    """f' as a function of f's output, or None when `activation` has no such form (a
    callable, or a name such as "gelu"); an unknown name raises ValueError, as `get`."""
    if callable(activation):
        return None
    get(activation)
    return DERIVATIVES_FROM_OUTPUT.get(activation)
