"""Diagonal linear recurrent units: LRU (Orvieto et al. 2023) and Griffin's RG-LRU (De et
al. 2024, the recurrence of RecurrentGemma). Both are `LinearCell`s."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jrnn import initializers
from jrnn._checks import check_key, check_positive_int
from jrnn._ops import add_bias, matmul, split_gates
from jrnn.cells.linear import LinearCell


def _check_same_width(cell, input_size: int) -> int:
    """The LRU's skip term and the RG-LRU's gated input are elementwise in x."""
    input_size = check_positive_int("input_size", input_size)
    if input_size != cell.units:
        raise ValueError(
            f"input_size: got {input_size}, expected units={cell.units}: "
            f"{type(cell).__name__} combines x elementwise with its state (as the paper's "
            f"layer does), so put a Dense({cell.units}) before it"
        )
    return input_size


def _check_range(name, value, low, high, *, low_open=False):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        ok = (low < value if low_open else low <= value) and value <= high
    if not ok:
        bracket = "(" if low_open else "["
        raise ValueError(f"{name}: got {value!r}, expected a number in {bracket}{low}, {high}]")
    return float(value)


@dataclass(frozen=True)
class LRUCell(LinearCell):
    """The Linear Recurrent Unit: a complex diagonal recurrence with a real readout.

      Λ = exp(-exp(ν) + i·exp(θ))                      (N,) complex, |Λ| < 1
      h_t = Λ ⊙ h_{t-1} + γ ⊙ (x_t @ B)                h: (*B, N) complex, the carry
      y_t = Re(h_t @ C) + D ⊙ x_t                      (*B, H)

    with γ = sqrt(1 - |Λ|²) (the normalisation that keeps h's scale at initialisation),
    B = B_re + i·B_im, C = C_re + i·C_im. Initialisation as the paper: |Λ| uniform on the
    ring r_min <= |Λ| <= r_max (uniform in area), arg Λ uniform in [0, max_phase],
    B ~ N(0, 1/(2I)) per part, C ~ N(0, 1/N) per part, D ~ N(0, 1).

    Parameters (our x @ W layout, the transpose of the paper's B and C):
      B_re, B_im (I, N);  nu_log, theta_log, gamma_log (N,);  C_re, C_im (N, H);  D (H,)
    I must equal `units` (D ⊙ x is elementwise; the paper puts a linear encoder first).
    `state_units` is N (default `units`).

    The output is not a function of the carry alone (it reads x_t), so before a
    sequence's first valid step the output is zeros (Keras's rule for such cells).
    """

    units: int
    state_units: int | None = None
    r_min: float = 0.0
    r_max: float = 1.0
    max_phase: float = 2 * math.pi
    dtype: Any = None
    param_dtype: Any = "float32"

    input_kernel = "B_re"

    def __post_init__(self):
        self._check_hyperparameters()
        if self.state_units is not None:
            check_positive_int("state_units", self.state_units)
        r_max = _check_range("r_max", self.r_max, 0.0, 1.0, low_open=True)
        _check_range("r_min", self.r_min, 0.0, r_max)
        if self.r_min == r_max:
            raise ValueError(f"r_min: got {self.r_min}, expected less than r_max={r_max}")
        _check_range("max_phase", self.max_phase, 0.0, 2 * math.pi, low_open=True)

    @property
    def state_size(self) -> int:
        return self.state_units or self.units

    def param_shapes(self, input_size):
        i, n, h = input_size, self.state_size, self.units
        return {
            "B_re": (i, n),
            "B_im": (i, n),
            "nu_log": (n,),
            "theta_log": (n,),
            "gamma_log": (n,),
            "C_re": (n, h),
            "C_im": (n, h),
            "D": (h,),
        }

    def init(self, key, input_size: int, dtype=None) -> dict:
        check_key("key", key)
        dt = self._param_dtype(dtype)
        i, n = _check_same_width(self, input_size), self.state_size
        k = jax.random.split(key, 7)
        # u1 in (0, 1]: u1 = 0 with r_min = 0 would give |Λ| = 0 and ν = log(inf).
        u1 = 1.0 - jax.random.uniform(k[0], (n,))
        u2 = jax.random.uniform(k[1], (n,))
        radius_sq = u1 * (self.r_max**2 - self.r_min**2) + self.r_min**2
        nu_log = jnp.log(-0.5 * jnp.log(radius_sq))
        gamma_log = 0.5 * jnp.log(-jnp.expm1(-2.0 * jnp.exp(nu_log)))
        normal = jax.random.normal
        params = {
            "B_re": normal(k[2], (i, n)) / math.sqrt(2 * i),
            "B_im": normal(k[3], (i, n)) / math.sqrt(2 * i),
            "nu_log": nu_log,
            "theta_log": jnp.log(self.max_phase * u2),
            "gamma_log": gamma_log,
            "C_re": normal(k[4], (n, self.units)) / math.sqrt(n),
            "C_im": normal(k[5], (n, self.units)) / math.sqrt(n),
            "D": normal(k[6], (self.units,)),
        }
        return {name: p.astype(dt) for name, p in params.items()}

    def initial_carry(self, batch_size=None, dtype=None):
        """Complex zeros (*batch, N): complex64 for a float32 state (complex128 for
        float64); `dtype` the real dtype, default `state_dtype`."""
        wide = jnp.dtype(dtype or self.state_dtype) == jnp.float64
        complex_dtype = jnp.complex128 if wide else jnp.complex64
        return self._zeros(batch_size, complex_dtype, self.state_size)

    def output(self, carry):
        return jnp.zeros(carry.shape[:-1] + (self.units,), self.input_dtype)

    def project(self, params, xs):
        """xs @ [B_re | B_im]: (..., 2N)."""
        b_both = jnp.concatenate([params["B_re"], params["B_im"]], axis=1)
        return matmul(xs, b_both, self.compute_dtype)

    def gates(self, params, k, xs):
        wide = lambda name: params[name].astype(self.state_dtype)  # noqa: E731
        lam = jnp.exp(lax.complex(-jnp.exp(wide("nu_log")), jnp.exp(wide("theta_log"))))
        bx_re, bx_im = split_gates(k.astype(self.state_dtype), 2)
        gamma = jnp.exp(wide("gamma_log"))
        gamma = jnp.reshape(gamma, (1,) * (bx_re.ndim - 1) + gamma.shape)
        b = lax.complex(bx_re * gamma, bx_im * gamma)
        return jnp.reshape(lam, (1,) * (b.ndim - 1) + lam.shape), b

    def readout(self, params, hs, xs):
        # Re(h @ C) = h_re @ C_re - h_im @ C_im: one real GEMM over [h_re | h_im].
        c_both = jnp.concatenate([params["C_re"], -params["C_im"]], axis=0)
        h_both = jnp.concatenate([jnp.real(hs), jnp.imag(hs)], axis=-1)
        y = matmul(h_both, c_both, self.compute_dtype)
        d = params["D"].astype(y.dtype)
        skip = jnp.reshape(d, (1,) * (y.ndim - 1) + d.shape) * xs.astype(y.dtype)
        return self._out(y + skip)


# recurrentgemma bounds the gradient of sqrt(1 - a²) near a = 1 (where it is infinite).
_MAX_SQRT_GRADIENT = 1000.0


@jax.custom_jvp
def _sqrt_bound_derivative(v):
    return jnp.sqrt(v)


@_sqrt_bound_derivative.defjvp
def _sqrt_bound_derivative_jvp(primals, tangents):
    (v,), (dv,) = primals, tangents
    return jnp.sqrt(v), dv / jnp.sqrt(jnp.maximum(4.0 * v, 1.0 / _MAX_SQRT_GRADIENT**2))


@dataclass(frozen=True)
class RGLRUCell(LinearCell):
    """Griffin's Real-Gated Linear Recurrent Unit.

      r_t = sigmoid(x_t @ W_a + b_a)        (recurrence gate)
      i_t = sigmoid(x_t @ W_x + b_x)        (input gate)
      a_t = sigmoid(Λ)^(c·r_t),  computed as log a_t = -c · r_t · softplus(a_param)
      h_t = a_t ⊙ h_{t-1} + sqrt(1 - a_t²) ⊙ (i_t ⊙ x_t)      carry = y_t = h_t

    with c = 8 and a_param = -Λ (recurrentgemma's parameterisation, so its weights load
    as they are). sqrt(1 - a²) is computed as sqrt(-expm1(2 log a)), with its gradient
    bounded by 1000 near a = 1, as recurrentgemma does. a_param is initialised so that
    sigmoid(Λ) is uniform (in area) on the ring [min_rad, max_rad] = [0.9, 0.999].

    Parameters: kernel (H, 2H) with column blocks [a | x] (the two gates; recurrentgemma
    uses block-diagonal gate weights, here dense), bias (2H,), a_param (H,). The input
    width must equal `units` (the gate multiplies x elementwise); Griffin's residual
    block (`jrnn.layers.GriffinBlock`) projects to it. recurrentgemma's reset of the
    normalisation at a document's first token is not applied (the carry starts at h0).
    """

    units: int
    c: float = 8.0
    min_rad: float = 0.9
    max_rad: float = 0.999
    kernel_initializer: Any = "glorot_uniform"
    bias_initializer: Any = "zeros"
    dtype: Any = None
    param_dtype: Any = "float32"

    def __post_init__(self):
        self._check_hyperparameters()
        _check_range("c", self.c, 0.0, math.inf, low_open=True)
        max_rad = _check_range("max_rad", self.max_rad, 0.0, 1.0, low_open=True)
        if max_rad == 1.0:
            raise ValueError("max_rad: got 1.0, expected a number below 1 (a = 1 never decays)")
        _check_range("min_rad", self.min_rad, 0.0, max_rad, low_open=True)

    def param_shapes(self, input_size):
        h = self.units
        return {"kernel": (input_size, 2 * h), "bias": (2 * h,), "a_param": (h,)}

    def init(self, key, input_size: int, dtype=None) -> dict:
        check_key("key", key)
        dt = self._param_dtype(dtype)
        shapes = self.param_shapes(_check_same_width(self, input_size))
        k1, k2, k3 = jax.random.split(key, 3)
        u = jax.random.uniform(k3, (self.units,))
        log_radius = 0.5 * jnp.log(u * (self.max_rad**2 - self.min_rad**2) + self.min_rad**2)
        # softplus(a_param) = -log(radius): a_param = softplus^-1(-log radius).
        a_param = jnp.log(jnp.expm1(-log_radius))
        return {
            "kernel": initializers.get(self.kernel_initializer)(k1, shapes["kernel"], dt),
            "bias": initializers.get(self.bias_initializer)(k2, shapes["bias"], dt),
            "a_param": a_param.astype(dt),
        }

    def project(self, params, xs):
        return add_bias(matmul(xs, params["kernel"], self.compute_dtype), params["bias"])

    def gates(self, params, k, xs):
        k_a, k_x = split_gates(k, 2)
        softplus = jax.nn.softplus(params["a_param"].astype(self.state_dtype))
        log_a = (
            -self.c
            * jax.nn.sigmoid(k_a)
            * jnp.reshape(softplus, (1,) * (k_a.ndim - 1) + softplus.shape)
        )
        multiplier = _sqrt_bound_derivative(-jnp.expm1(2.0 * log_a))
        return jnp.exp(log_a), multiplier * jax.nn.sigmoid(k_x) * xs.astype(self.state_dtype)
