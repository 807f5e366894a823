"""Shape and dtype helpers shared by the losses and the metrics (private)."""

from __future__ import annotations

import jax.numpy as jnp


def as_f32(x) -> jnp.ndarray:
    return jnp.asarray(x).astype(jnp.float32)


def broadcast_left(x, shape: tuple[int, ...], argname: str) -> jnp.ndarray:
    """Broadcast `x` to `shape`, aligning the leading axes.

    A (B,) weight or mask applies to every step of a (B, T) per-example loss; a trailing
    size-1 axis beyond `shape` (a (B, 1) weight for (B,) losses) is squeezed, as in Keras.
    """
    x = jnp.asarray(x)
    if x.ndim == len(shape) + 1 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim > len(shape) or any(a not in (1, b) for a, b in zip(x.shape, shape)):
        raise ValueError(
            f"{argname}: got shape {tuple(x.shape)}, expected a shape that matches the "
            f"leading axes of the per-example values {tuple(shape)} (e.g. {shape[:1]} or "
            f"{tuple(shape)})"
        )
    return jnp.broadcast_to(x.reshape(x.shape + (1,) * (len(shape) - x.ndim)), shape)


def match_elementwise(y_true, y_pred, name: str):
    """Keras `squeeze_or_expand_to_same_rank` for elementwise losses.

    (B,) labels with (B, 1) predictions become (B, 1); so do (B, T) labels with (B, T, 1)
    predictions (Keras squeezes the predictions instead when the rank is above 1, which
    gives a (B,) per-example loss; the reduced loss is the same without weights/masks).
    """
    if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
        y_true = y_true[..., None]
    elif y_pred.ndim == y_true.ndim - 1 and y_true.shape[-1] == 1:
        y_pred = y_pred[..., None]
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"{name}: got y_true shape {tuple(y_true.shape)} and y_pred shape "
            f"{tuple(y_pred.shape)}, expected equal shapes (or a trailing axis of size 1 "
            "on one of them)"
        )
    return y_true, y_pred
