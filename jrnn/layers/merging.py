"""Elementwise merges of a list of arrays: Add, Multiply, Average, as Keras 3."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jrnn.layers.base import Layer


class _Merge(Layer):
    """A list of arrays of one shape -> one array of that shape. Shapes may broadcast
    (batch sizes must agree); an input of lower rank gets size-1 axes after its batch
    axis, as Keras does. Output mask, as Keras 3: None unless every input has a mask,
    else their OR (a step is valid where it is valid in any input)."""

    def _inputs(self, x) -> list:
        if not isinstance(x, (list, tuple)) or not x:
            raise TypeError(
                f"{self.type_name}: x: got {type(x).__name__}, expected a list of arrays to merge"
            )
        shapes = [tuple(jnp.shape(v)) for v in x]
        rank = max(len(s) for s in shapes)
        if any(len(s) == 0 for s in shapes) or len({s[0] for s in shapes}) > 1:
            raise ValueError(
                f"{self.type_name}: x: got shapes {shapes}, expected arrays with the same "
                f"batch size"
            )
        x = [v.reshape(v.shape[:1] + (1,) * (rank - v.ndim) + v.shape[1:]) for v in x]
        try:
            np.broadcast_shapes(*(v.shape for v in x))
        except ValueError:
            raise ValueError(
                f"{self.type_name}: x: got shapes {shapes}, expected shapes that broadcast "
                f"to one (as Keras: equal, or 1 where they differ)"
            ) from None
        return x

    def compute_mask(self, x, mask):
        if mask is None:
            return None
        if not isinstance(mask, (list, tuple)) or len(mask) != len(x):
            raise ValueError(
                f"{self.type_name}: mask: got {type(mask).__name__}, expected a list of "
                f"{len(x)} masks (or None), one per input"
            )
        if any(m is None for m in mask):
            return None
        out = mask[0]
        for m in mask[1:]:
            out = jnp.logical_or(out, m)
        return out


class Add(_Merge):
    """y = x_1 + ... + x_n, elementwise (e.g. a residual connection)."""

    def call(self, params, x, *, state=None, mask=None, training=False, key=None):
        x = self._inputs(x)
        y = x[0]
        for v in x[1:]:
            y = y + v
        return y, None


class Average(_Merge):
    """y = (x_1 + ... + x_n) / n, elementwise."""

    def call(self, params, x, *, state=None, mask=None, training=False, key=None):
        x = self._inputs(x)
        y = x[0]
        for v in x[1:]:
            y = y + v
        return y / len(x), None


class Multiply(_Merge):
    """y = x_1 * ... * x_n, elementwise.

    As Keras 3, masked steps count as 1 in the product (an input's padding does not zero
    another's valid step), and when every input has a mask the output is 0 where all of
    them are masked.
    """

    def call(self, params, x, *, state=None, mask=None, training=False, key=None):
        x = self._inputs(x)
        out_mask = self.compute_mask(x, mask)
        masks = [None] * len(x) if mask is None else list(mask)
        y = None
        for v, m in zip(x, masks):
            if m is not None:
                v = jnp.where(_expand(m, v), v, jnp.ones((), v.dtype))
            y = v if y is None else y * v
        if out_mask is not None:
            y = jnp.where(_expand(out_mask, y), y, jnp.zeros((), y.dtype))
        return y, None


def _expand(mask, x):
    """A (B, T) mask broadcast over the features of x (B, T, ...)."""
    return jnp.reshape(mask, mask.shape + (1,) * (x.ndim - mask.ndim))
