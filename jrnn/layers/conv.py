"""Convolution and pooling over time: Conv1D, MaxPooling1D, GlobalAveragePooling1D,
GlobalMaxPooling1D. Inputs are (B, T, C) ("channels_last", Keras's default)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from jax.export import is_symbolic_dim

from jrnn import activations, initializers
from jrnn._checks import check_bool, check_choice, check_key, check_positive_int, shape_error
from jrnn._ops import add_bias
from jrnn.layers.base import Layer, as_float, shape_dtype

_SEQUENCE = "(batch, time, channels)"


def _padding(padding: str, size: int, dilation: int = 1):
    """lax padding for Keras's modes; "same" is TensorFlow's (extra pad on the right)."""
    if padding == "causal":
        return [((size - 1) * dilation, 0)]
    return padding.upper()


class Conv1D(Layer):
    """1-D convolution over time: (B, T, C) -> (B, T', filters).

    kernel (kernel_size, C, filters), bias (filters,), as Keras. `padding`: "valid"
    (T' = floor((T - d*(k-1) - 1) / s) + 1), "same" (T' = ceil(T / s)), or "causal"
    (left padding only, so y_t sees x_{<=t}; strides 1). Like Keras's Conv1D, it does not
    carry a mask: padding steps are convolved like data.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int,
        strides: int = 1,
        padding: str = "valid",
        *,
        dilation_rate: int = 1,
        activation=None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        name=None,
    ):
        super().__init__(name=name)
        self.filters = check_positive_int("filters", filters)
        self.kernel_size = check_positive_int("kernel_size", _scalar(kernel_size))
        self.strides = check_positive_int("strides", _scalar(strides))
        self.dilation_rate = check_positive_int("dilation_rate", _scalar(dilation_rate))
        check_choice("padding", padding, ("valid", "same", "causal"))
        if padding == "causal" and self.strides != 1:
            raise ValueError(f"strides: got {self.strides} with padding='causal', expected 1")
        self.padding = padding
        self.activation = activation
        self._act = activations.get("linear" if activation is None else activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer

    def init(self, key, x):
        self.check_rank(x, (3,), _SEQUENCE)
        self._check_steps(shape_dtype(x).shape[1])
        channels = shape_dtype(x).shape[-1]
        kk, kb = jax.random.split(check_key("key", key))
        shape = (self.kernel_size, channels, self.filters)
        params = {"kernel": initializers.get(self.kernel_initializer)(kk, shape)}
        if self.use_bias:
            params["bias"] = initializers.get(self.bias_initializer)(kb, (self.filters,))
        return params

    def _check_steps(self, steps) -> None:
        span = self.dilation_rate * (self.kernel_size - 1) + 1
        if self.padding == "valid" and not is_symbolic_dim(steps) and steps < span:
            raise ValueError(
                f"{self.label}: x: got {steps} time steps, expected at least {span} "
                f"(dilation_rate * (kernel_size - 1) + 1) for padding='valid'"
            )

    def call(self, params, x, *, state=None, mask=None, training=False, key=None):
        kernel = params["kernel"]
        x = as_float(jnp.asarray(x), kernel.dtype)
        self.check_rank(x, (3,), _SEQUENCE)
        if x.shape[-1] != kernel.shape[1]:
            raise shape_error(
                f"{self.label}: x",
                x.shape,
                f"(batch, time, {kernel.shape[1]}) to match its kernel {kernel.shape}",
            )
        self._check_steps(x.shape[1])
        y = lax.conv_general_dilated(
            x,
            kernel.astype(x.dtype),
            window_strides=(self.strides,),
            padding=_padding(self.padding, self.kernel_size, self.dilation_rate),
            rhs_dilation=(self.dilation_rate,),
            dimension_numbers=("NWC", "WIO", "NWC"),
        )
        if self.use_bias:
            y = add_bias(y, params["bias"].astype(y.dtype))
        return self._act(y), None

    def compute_mask(self, x, mask):
        return None


class MaxPooling1D(Layer):
    """Max over windows of `pool_size` steps every `strides` (default `pool_size`) steps:
    (B, T, C) -> (B, T', C), T' as for Conv1D with "valid" or "same" padding."""

    def __init__(
        self, pool_size: int = 2, strides: int | None = None, padding="valid", *, name=None
    ):
        super().__init__(name=name)
        self.pool_size = check_positive_int("pool_size", _scalar(pool_size))
        self.strides = check_positive_int(
            "strides", self.pool_size if strides is None else _scalar(strides)
        )
        check_choice("padding", padding, ("valid", "same"))
        self.padding = padding

    def call(self, params, x, *, state=None, mask=None, training=False, key=None):
        self.check_rank(x, (3,), _SEQUENCE)
        y = lax.reduce_window(
            x,
            -jnp.inf,  # a Python scalar: an array init value breaks jit(grad) of reduce_window
            lax.max,
            (1, self.pool_size, 1),
            (1, self.strides, 1),
            self.padding.upper(),
        )
        return y, None

    def compute_mask(self, x, mask):
        return None


class GlobalAveragePooling1D(Layer):
    """Mean over time: (B, T, C) -> (B, C); with a mask, the mean over valid steps."""

    def __init__(self, *, keepdims: bool = False, name=None):
        super().__init__(name=name)
        self.keepdims = check_bool("keepdims", keepdims)

    def call(self, params, x, *, state=None, mask=None, training=False, key=None):
        self.check_rank(x, (3,), _SEQUENCE)
        if mask is None:
            return jnp.mean(x, axis=1, keepdims=self.keepdims), None
        w = mask[..., None].astype(x.dtype)
        total = jnp.sum(x * w, axis=1, keepdims=self.keepdims)
        return total / jnp.maximum(jnp.sum(w, axis=1, keepdims=self.keepdims), 1), None

    def compute_mask(self, x, mask):
        return None


class GlobalMaxPooling1D(Layer):
    """Max over time: (B, T, C) -> (B, C). With a mask, the max over valid steps (Keras
    ignores the mask here and lets padding win; a row with no valid step gives 0)."""

    def __init__(self, *, keepdims: bool = False, name=None):
        super().__init__(name=name)
        self.keepdims = check_bool("keepdims", keepdims)

    def call(self, params, x, *, state=None, mask=None, training=False, key=None):
        self.check_rank(x, (3,), _SEQUENCE)
        if mask is None:
            return jnp.max(x, axis=1, keepdims=self.keepdims), None
        m = mask[..., None]
        y = jnp.max(jnp.where(m, x, -jnp.inf), axis=1, keepdims=self.keepdims)
        any_valid = jnp.any(m, axis=1, keepdims=self.keepdims)
        return jnp.where(any_valid, y, 0).astype(x.dtype), None

    def compute_mask(self, x, mask):
        return None


def _scalar(v):
    """Keras accepts 1-tuples for 1-D sizes."""
    if isinstance(v, (tuple, list)) and len(v) == 1:
        return v[0]
    return v
