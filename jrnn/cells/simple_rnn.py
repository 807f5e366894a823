"""Fully connected (Elman) recurrent cell, Keras layout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from jrnn import activations, initializers
from jrnn._checks import check_key
from jrnn.cells.base import FusedCell


@dataclass(frozen=True)
class SimpleRNNCell(FusedCell):
    """Elman RNN cell: h_t = act(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias).

    Parameters (Keras): kernel (I, H), recurrent_kernel (H, H), bias (H,).
    carry = y_t = h_t, shape (*batch, H).

    Example:
      cell = SimpleRNNCell(64)
      params = cell.init(jax.random.key(0), 100)   # 10,560 parameters
    """

    units: int
    activation: Any = "tanh"
    use_bias: bool = True
    kernel_initializer: Any = "glorot_uniform"
    recurrent_initializer: Any = "orthogonal"
    bias_initializer: Any = "zeros"
    dtype: Any = None
    param_dtype: Any = "float32"

    additive = True
    num_gates = 1

    def __post_init__(self):
        self._check_hyperparameters()
        activations.get(self.activation)

    def init(self, key, input_size: int, dtype=None) -> dict:
        check_key("key", key)
        dt = self._param_dtype(dtype)
        input_size, h = self._check_input_size(input_size), self.units
        k1, k2, k3 = jax.random.split(key, 3)
        params = {
            "kernel": initializers.get(self.kernel_initializer)(k1, (input_size, h), dt),
            "recurrent_kernel": initializers.get(self.recurrent_initializer)(k2, (h, h), dt),
        }
        if self.use_bias:
            params["bias"] = initializers.get(self.bias_initializer)(k3, (h,), dt)
        return params

    def initial_carry(self, batch_size=None, dtype=None):
        """Zeros of shape (*batch, H); `batch_size` None means unbatched."""
        return self._zeros(batch_size, dtype)

    def fused_split(self, params):
        return {
            "kernel": params["kernel"],
            "recurrent_kernel": params["recurrent_kernel"],
            "input_bias": params.get("bias"),
            "recurrent_bias": None,
            "pointwise": {},
        }

    def recurrent_input(self, carry):
        return carry

    def pointwise(self, pw, gx, gh, carry):
        h_new = activations.get(self.activation)(gx[0] + gh[0])
        return h_new, self._out(h_new)

    # -- hand-written backward of the elementwise block -----------------------------
    @property
    def has_backward(self) -> bool:
        return activations.derivative_from_output(self.activation) is not None

    def pointwise_saved(self, pw, gx, gh, carry):
        """As `pointwise`; nothing extra to save (h_t itself gives act')."""
        new, y = self.pointwise(pw, gx, gh, carry)
        return new, y, ()

    def pointwise_backward(self, pw, saved, carry_prev, carry_new, dcarry, dy):
        """dg = (dh + dy) * act'(h_t); h_{t-1} is reached only through the recurrent GEMM."""
        da = (dcarry + dy.astype(dcarry.dtype)) * activations.derivative_from_output(
            self.activation
        )(carry_new)
        return {}, jnp.zeros_like(da), (da,), (da,)
