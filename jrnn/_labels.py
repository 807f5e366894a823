"""Per-class helpers shared by the adaptive softmax layer and the head losses: labels
checked and squeezed, a value per label gathered, NaN for ids out of range."""

from __future__ import annotations

import jax.numpy as jnp

from jrnn._checks import shape_error
from jrnn._ops import wide_dtype


def squeeze_labels(labels, batch_shape: tuple, name: str):
    """Labels (...) or (..., 1) matching `batch_shape`, as int32 (floats truncated, as
    Keras's sparse crossentropy does)."""
    labels = jnp.asarray(labels)
    if not (
        jnp.issubdtype(labels.dtype, jnp.integer) or jnp.issubdtype(labels.dtype, jnp.floating)
    ):
        raise TypeError(f"{name}: got dtype {labels.dtype}, expected integer class ids")
    if labels.ndim == len(batch_shape) + 1 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if tuple(labels.shape) != tuple(batch_shape):
        raise shape_error(name, labels.shape, f"{tuple(batch_shape)} (or with a trailing 1)")
    return labels.astype(jnp.int32)


def nan_outside(values, labels, num_classes: int):
    """NaN where a label is outside [0, num_classes): a wrong id shows, not a clamped one."""
    valid = (labels >= 0) & (labels < num_classes)
    return jnp.where(valid, values, jnp.nan)


def at_least_f32(x):
    return x.astype(wide_dtype(x.dtype))


def gather_last(values, index):
    """values (..., N), index (...) int -> values[..., index] (...)."""
    return jnp.take_along_axis(values, index[..., None], axis=-1)[..., 0]
