"""`fit`'s `optimizer` argument: an Optax GradientTransformation, or a Keras name with
Keras 3's default hyperparameters.

Each name gives the same object on every call, so a second `fit` with the same name
reuses the compiled train step.
"""

from __future__ import annotations

import functools

import optax


@functools.cache
def _named(name: str) -> optax.GradientTransformation:
    # Keras 3's defaults (keras.optimizers.*): epsilon 1e-7 where Optax uses 1e-8; RMSprop
    # adds epsilon outside the square root; AdamW decays weights by 0.004.
    if name == "adam":
        return optax.adam(1e-3, b1=0.9, b2=0.999, eps=1e-7)
    if name == "sgd":
        return optax.sgd(0.01)
    if name == "rmsprop":
        return optax.rmsprop(1e-3, decay=0.9, eps=1e-7, eps_in_sqrt=False)
    if name == "adamw":
        return optax.adamw(1e-3, b1=0.9, b2=0.999, eps=1e-7, weight_decay=0.004)
    raise AssertionError(name)


NAMES = ("adam", "adamw", "rmsprop", "sgd")


@functools.cache
def _default() -> optax.GradientTransformation:
    return optax.adam(1e-3)


def get_optimizer(optimizer) -> optax.GradientTransformation:
    """None (Optax's `adam(1e-3)`), a name in NAMES (Keras's defaults), or an Optax
    GradientTransformation (returned as is)."""
    if optimizer is None:
        return _default()
    if isinstance(optimizer, str):
        key = optimizer.lower()
        if key not in NAMES:
            raise ValueError(
                f"optimizer: got {optimizer!r}, expected one of {list(NAMES)} or an optax "
                f"GradientTransformation (e.g. optax.adam(1e-3))"
            )
        return _named(key)
    if not (
        callable(getattr(optimizer, "init", None)) and callable(getattr(optimizer, "update", None))
    ):
        raise TypeError(
            f"optimizer: got {type(optimizer).__name__}, expected an optax "
            f"GradientTransformation (e.g. optax.adam(1e-3)) or one of {list(NAMES)}"
        )
    return optimizer
