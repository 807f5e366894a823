"""Flatten: every axis after the batch axis into one, as Keras."""

from __future__ import annotations

import math

import jax.numpy as jnp

from jrnn._checks import check_choice
from jrnn.layers.base import Layer


class Flatten(Layer):
    """(B, d1, ..., dn) -> (B, d1 * ... * dn); (B,) -> (B, 1).

    data_format="channels_first" moves axis 1 last before flattening (Keras's ordering
    for channels-first inputs). The output has no time axis, so no mask is passed on
    (Keras's Flatten does not support masking either).
    """

    def __init__(self, data_format: str = "channels_last", *, name=None):
        super().__init__(name=name)
        check_choice("data_format", data_format, ("channels_last", "channels_first"))
        self.data_format = data_format

    def call(self, params, x, *, state=None, mask=None, training=False, key=None):
        if x.ndim < 1:
            raise ValueError(f"x: got shape {tuple(x.shape)}, expected (batch, ...)")
        if self.data_format == "channels_first" and x.ndim > 2:
            x = jnp.moveaxis(x, 1, -1)
        return x.reshape(x.shape[0], math.prod(x.shape[1:])), None

    def compute_mask(self, x, mask):
        return None
