"""Long short-term memory cell, Keras layout, with the TF1 LSTMBlockCell options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from jrnn import activations, initializers
from jrnn._checks import check_key
from jrnn.cells.base import FusedCell


@dataclass(frozen=True)
class LSTMCell(FusedCell):
    """LSTM cell (Hochreiter & Schmidhuber 1997) with Keras's gate order i, f, c, o.

    Use (the cell protocol; everything else below is the engine's fused-cell contract):
      cell = LSTMCell(64)
      params = cell.init(jax.random.key(0), 100)    # I=100: 42,240 parameters
      carry = cell.initial_carry(32)                # (h, c), each (32, 64)
      carry, y = cell(params, carry, x_t)           # x_t: (32, 100) -> y: (32, 64)
      carry, ys = jrnn.unroll(cell, params, xs)     # xs: (B, T, 100) -> ys: (B, T, 64)

    Args: units (H); activation="tanh", recurrent_activation="sigmoid", use_bias=True,
    unit_forget_bias=True, forget_bias=0.0, cell_clip=None, use_peephole=False,
    kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
    bias_initializer="zeros", dtype=None (compute dtype; float only), param_dtype="float32".

    Parameters (Keras names and layouts, so `keras_layer.get_weights()` loads as is):
      kernel            (I, 4H)   input weights, column blocks [i | f | c | o]
      recurrent_kernel  (H, 4H)
      bias              (4H,)     when `use_bias`
      w_i_diag, w_f_diag, w_o_diag  (H,)   peephole weights, when `use_peephole`

    Step, with g = x_t @ kernel + h_{t-1} @ recurrent_kernel + bias split into i, f, c, o:
      i = rec_act(g_i [+ w_i_diag * c_{t-1}])
      f = rec_act(g_f + forget_bias [+ w_f_diag * c_{t-1}])
      c_t = f * c_{t-1} + i * act(g_c)          (clipped to +-cell_clip if set)
      o = rec_act(g_o [+ w_o_diag * c_t])       (the output peephole sees the new c)
      h_t = o * act(c_t);   carry = (h_t, c_t);   y_t = h_t

    The carry is (h, c) as in Keras and PyTorch; Flax's LSTM carries are (c, h). A bare
    h, a carry of another batch than x_t's, or an integer x_t raises (the step checks
    shapes and dtypes at trace time).

    `unit_forget_bias` (Keras) puts 1 in the forget block of the initial bias;
    `forget_bias` (TF1 LSTMBlockCell) is instead added at every step.
    """

    units: int
    activation: Any = "tanh"
    recurrent_activation: Any = "sigmoid"
    use_bias: bool = True
    unit_forget_bias: bool = True
    forget_bias: float = 0.0
    cell_clip: float | None = None
    use_peephole: bool = False
    kernel_initializer: Any = "glorot_uniform"
    recurrent_initializer: Any = "orthogonal"
    bias_initializer: Any = "zeros"
    dtype: Any = None
    param_dtype: Any = "float32"

    additive = True
    num_gates = 4

    def __post_init__(self):
        self._check_hyperparameters()
        activations.get(self.activation)
        activations.get(self.recurrent_activation)
        if self.cell_clip is not None and not self.cell_clip > 0:
            raise ValueError(f"cell_clip: got {self.cell_clip!r}, expected None or > 0")

    def init(self, key, input_size: int, dtype=None) -> dict:
        """Parameters for inputs of size `input_size` (Keras initializers by default)."""
        check_key("key", key)
        dt = self._param_dtype(dtype)
        input_size, h = self._check_input_size(input_size), self.units
        k1, k2, k3, k4, k5 = jax.random.split(key, 5)
        params = {
            "kernel": initializers.get(self.kernel_initializer)(k1, (input_size, 4 * h), dt),
            "recurrent_kernel": initializers.get(self.recurrent_initializer)(k2, (h, 4 * h), dt),
        }
        if self.use_bias:
            if self.unit_forget_bias:
                # Keras: the i, c, o blocks from bias_initializer, the f block ones.
                b = initializers.get(self.bias_initializer)(k3, (h,), dt)
                rest = initializers.get(self.bias_initializer)(k4, (2 * h,), dt)
                params["bias"] = jnp.concatenate([b, jnp.ones((h,), dt), rest])
            else:
                params["bias"] = initializers.get(self.bias_initializer)(k3, (4 * h,), dt)
        if self.use_peephole:
            ki, kf, ko = jax.random.split(k5, 3)
            for name, k in (("w_i_diag", ki), ("w_f_diag", kf), ("w_o_diag", ko)):
                params[name] = initializers.vector_glorot_uniform(k, (h,), dt)
        return params

    def initial_carry(self, batch_size=None, dtype=None):
        """Zeros `(h, c)`, each of shape (*batch, H); `batch_size` None means unbatched."""
        return (self._zeros(batch_size, dtype), self._zeros(batch_size, dtype))

    # -- fused-cell contract ------------------------------------------------------
    def fused_split(self, params):
        pw = {}
        if self.use_peephole:
            pw = {k: params[k] for k in ("w_i_diag", "w_f_diag", "w_o_diag")}
        return {
            "kernel": params["kernel"],
            "recurrent_kernel": params["recurrent_kernel"],
            "input_bias": params.get("bias"),
            "recurrent_bias": None,
            "pointwise": pw,
        }

    def recurrent_input(self, carry):
        return carry[0]

    def pointwise(self, pw, gx, gh, carry):
        new, y, _ = self.pointwise_saved(pw, gx, gh, carry)
        return new, y

    def pointwise_saved(self, pw, gx, gh, carry):
        """As `pointwise`, also returning the gate activations (i, f, act(g_c), o)."""
        act = activations.get(self.activation)
        rec = activations.get(self.recurrent_activation)
        c = carry[1]
        gi, gf, gc, go = (a + b for a, b in zip(gx, gh))
        if self.forget_bias:
            gf = gf + self.forget_bias
        if self.use_peephole:
            gi = gi + _diag(c, pw["w_i_diag"])
            gf = gf + _diag(c, pw["w_f_diag"])
        i, f, cc = rec(gi), rec(gf), act(gc)
        c_new = f * c + i * cc
        if self.cell_clip is not None:
            c_new = jnp.clip(c_new, -self.cell_clip, self.cell_clip)
        if self.use_peephole:
            go = go + _diag(c_new, pw["w_o_diag"])
        o = rec(go)
        h_new = o * act(c_new)
        return (h_new, c_new), self._out(h_new), (i, f, cc, o)

    # -- hand-written backward of the elementwise block -----------------------------
    @property
    def has_backward(self) -> bool:
        return (
            not self.use_peephole
            and self.cell_clip is None
            and activations.derivative_from_output(self.activation) is not None
            and activations.derivative_from_output(self.recurrent_activation) is not None
        )

    def pointwise_backward(self, pw, saved, carry_prev, carry_new, dcarry, dy):
        """Cotangents of the gate pre-activations from the saved activations:
        dc = dc' + dh*o*act'(c'),  do = dh*act(c')*o', di = dc*cc*i', df = dc*c*f',
        dg_c = dc*i*cc', dc_prev = dc*f (x' meaning the derivative at x's output)."""
        act = activations.get(self.activation)
        d_act = activations.derivative_from_output(self.activation)
        d_rec = activations.derivative_from_output(self.recurrent_activation)
        i, f, cc, o = saved
        c_prev, c_new = carry_prev[1], carry_new[1]
        tc = act(c_new)
        dh = dcarry[0] + dy.astype(dcarry[0].dtype)
        dc = dcarry[1] + dh * o * d_act(tc)
        dg = (dc * cc * d_rec(i), dc * c_prev * d_rec(f), dc * i * d_act(cc), dh * tc * d_rec(o))
        return {}, (jnp.zeros_like(dh), dc * f), dg, dg


def _diag(c, w):
    """Peephole term c * w, w (H,) broadcast explicitly over the batch axes of c."""
    return c * jnp.reshape(w, (1,) * (c.ndim - 1) + w.shape).astype(c.dtype)
