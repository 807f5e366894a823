"""Gated recurrent unit cell, Keras layout (gates z, r, h), both reset variants."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax

from jrnn import activations, initializers
from jrnn._checks import check_key
from jrnn._ops import add_bias, matmul, split_gates
from jrnn.cells.base import FusedCell


@dataclass(frozen=True)
class GRUCell(FusedCell):
    """GRU cell (Cho et al. 2014) with Keras's gate order z, r, h.

    Parameters (Keras names and layouts):
      kernel            (I, 3H)   column blocks [z | r | h]
      recurrent_kernel  (H, 3H)
      bias              (2, 3H) when `reset_after` (row 0 input side, row 1 recurrent
                        side: the cuDNN / PyTorch formula), else (3H,)

    reset_after=True (default; Keras 3, cuDNN, PyTorch):
      gx = x_t @ kernel + bias[0];   gh = h @ recurrent_kernel + bias[1]
      z = rec_act(gx_z + gh_z);  r = rec_act(gx_r + gh_r)
      hh = act(gx_h + r * gh_h)
    reset_after=False (TF1 GRUCell, Keras <= 2.3 default):
      z, r as above with gh = h @ recurrent_kernel (no recurrent bias)
      hh = act(gx_h + (r * h) @ recurrent_kernel[:, 2H:])
    then  h_t = z * h_{t-1} + (1 - z) * hh;  carry = y_t = h_t.

    The reset-before variant needs a second, dependent matmul inside the step, so
    `jrnn.unroll` runs it with plain autodiff rather than the fused backward.

    Example:
      cell = GRUCell(64)
      params = cell.init(jax.random.key(0), 100)   # 31,872 parameters
      carry, y = cell(params, cell.initial_carry(8), x_t)   # x_t: (8, 100)
    """

    units: int
    activation: Any = "tanh"
    recurrent_activation: Any = "sigmoid"
    use_bias: bool = True
    reset_after: bool = True
    kernel_initializer: Any = "glorot_uniform"
    recurrent_initializer: Any = "orthogonal"
    bias_initializer: Any = "zeros"
    dtype: Any = None
    param_dtype: Any = "float32"

    additive = False
    num_gates = 3

    def __post_init__(self):
        self._check_hyperparameters()
        activations.get(self.activation)
        activations.get(self.recurrent_activation)

    @property
    def fusable(self) -> bool:
        return self.reset_after

    def init(self, key, input_size: int, dtype=None) -> dict:
        check_key("key", key)
        dt = self._param_dtype(dtype)
        input_size, h = self._check_input_size(input_size), self.units
        k1, k2, k3 = jax.random.split(key, 3)
        params = {
            "kernel": initializers.get(self.kernel_initializer)(k1, (input_size, 3 * h), dt),
            "recurrent_kernel": initializers.get(self.recurrent_initializer)(k2, (h, 3 * h), dt),
        }
        if self.use_bias:
            shape = (2, 3 * h) if self.reset_after else (3 * h,)
            params["bias"] = initializers.get(self.bias_initializer)(k3, shape, dt)
        return params

    def initial_carry(self, batch_size=None, dtype=None):
        """Zeros of shape (*batch, H); `batch_size` None means unbatched."""
        return self._zeros(batch_size, dtype)

    def __call__(self, params, carry, x_t):
        if self.reset_after:
            return super().__call__(params, carry, x_t)
        # Reset-before: the candidate's recurrent matmul takes r * h, so it cannot join
        # the gates' matmul.
        self._check_step(params, carry, x_t, 3)
        act = activations.get(self.activation)
        rec = activations.get(self.recurrent_activation)
        cdt, h, u = self.compute_dtype, carry, params["recurrent_kernel"]
        gx = add_bias(matmul(x_t, params["kernel"], cdt), params.get("bias"))
        gx_z, gx_r, gx_h = split_gates(gx, 3)
        gh_z, gh_r = split_gates(matmul(h, u[:, : 2 * self.units], cdt), 2)
        z, r = rec(gx_z + gh_z), rec(gx_r + gh_r)
        hh = act(gx_h + matmul(r * h, u[:, 2 * self.units :], cdt))
        h_new = z * h + (1.0 - z) * hh
        return h_new, self._out(h_new)

    # -- fused-cell contract (reset_after=True) -----------------------------------
    def fused_split(self, params):
        b = params.get("bias")
        return {
            "kernel": params["kernel"],
            "recurrent_kernel": params["recurrent_kernel"],
            "input_bias": None if b is None else b[0],
            "recurrent_bias": None if b is None else b[1],
            "pointwise": {},
        }

    def recurrent_input(self, carry):
        return carry

    def pointwise(self, pw, gx, gh, carry):
        new, y, _ = self.pointwise_saved(pw, gx, gh, carry)
        return new, y

    # -- hand-written backward of the elementwise block (reset_after=True) ----------
    @property
    def has_backward(self) -> bool:
        return (
            self.reset_after
            and activations.derivative_from_output(self.activation) is not None
            and activations.derivative_from_output(self.recurrent_activation) is not None
        )

    def pointwise_saved(self, pw, gx, gh, carry):
        """As `pointwise`, also returning (z, r, hh, gh_h)."""
        act = activations.get(self.activation)
        rec = activations.get(self.recurrent_activation)
        z, r = rec(gx[0] + gh[0]), rec(gx[1] + gh[1])
        hh = act(gx[2] + r * gh[2])
        h_new = z * carry + (1.0 - z) * hh
        return h_new, self._out(h_new), (z, r, hh, gh[2])

    def pointwise_backward(self, pw, saved, carry_prev, carry_new, dcarry, dy):
        """da = dh*(1-z)*act'(hh); dgx = (dh*(h-hh)*z', da*gh_h*r', da);
        dgh = (same z, r terms, da*r); dh_prev = dh*z."""
        d_act = activations.derivative_from_output(self.activation)
        d_rec = activations.derivative_from_output(self.recurrent_activation)
        z, r, hh, gh_h = saved
        dh = dcarry + dy.astype(dcarry.dtype)
        da = dh * (1.0 - z) * d_act(hh)
        dz = dh * (carry_prev - hh) * d_rec(z)
        dr = da * gh_h * d_rec(r)
        return {}, dh * z, (dz, dr, da), (dz, dr, da * r)
