"""The linear-recurrence contract: cells whose state update is linear in the state.

A `LinearCell` (MinGRU, MinLSTM, LRU, RG-LRU) computes, from the input alone,

    k_t = project(params, x_t)                 # the input GEMM, (*B, K)
    a_t, b_t = gates(params, k_t, x_t)         # elementwise, (*B, S) each; a may broadcast
    h_t = a_t ⊙ h_{t-1} + b_t                  # the carry is h (*B, S)
    y_t = readout(params, h_t, x_t)            # (*B, H)

Because a and b do not depend on h, `jrnn.unroll` computes them for many steps at once
(one GEMM over (T*B, I), or one per block of steps: see `jrnn._linear_unroll`), runs the
elementwise recurrence with `jrnn.linear_scan` and reads the outputs out; the step
`__call__` (decoding, streaming, the reference) runs the same functions on one step, so
both give the same numbers. `project`, `gates` and `readout` take any leading axes:
(T, *B, I) for a whole sequence, (*B, I) for one step.
"""

from __future__ import annotations

import abc

import jax.numpy as jnp

from jrnn._checks import shape_error
from jrnn.cells.base import Cell


class LinearCell(Cell, metaclass=abc.ABCMeta):
    """A cell with a linear recurrence h_t = a_t ⊙ h_{t-1} + b_t (module docstring).

    Subclasses implement `param_shapes(input_size)` (name -> shape of every parameter;
    `init` and the step's checks use it), `project` and `gates`, optionally `readout`
    (default: y_t = h_t in the compute dtype) and `state_size` (S; default `units`).
    The split of `project` (linear in x, the GEMM) from `gates` (elementwise) lets the
    engine's backward keep the projections and differentiate the GEMM as two GEMMs
    (dW = x^T dk, dx = dk W^T) without recomputing it.
    """

    @property
    def state_size(self) -> int:
        """S, the width of the carry h."""
        return self.units

    @abc.abstractmethod
    def param_shapes(self, input_size: int) -> dict:
        """{name: shape} of the parameters for inputs of width `input_size`."""

    @abc.abstractmethod
    def project(self, params, xs):
        """xs (..., I) -> k (..., K) float32: the input projection, linear in xs."""

    @abc.abstractmethod
    def gates(self, params, k, xs):
        """k (..., K), xs (..., I) -> (a, b): b (..., S) float32 (complex64 for a complex
        state), a of b's shape or broadcastable to it with the same number of axes."""

    def coefficients(self, params, xs):
        """xs (..., I) -> (a, b) = gates(params, project(params, xs), xs)."""
        return self.gates(params, self.project(params, xs), xs)

    def readout(self, params, hs, xs):
        """hs (..., S), xs (..., I) -> ys (..., H); default y = h."""
        del params, xs
        return self._out(hs)

    def output(self, carry):
        """The output a carry stands for (Keras's `states[0]`, used before a sequence's
        first valid step): h for cells whose output is their state."""
        return self._out(carry)

    def initial_carry(self, batch_size=None, dtype=None):
        """Zeros of shape (*batch, S); `batch_size` None means unbatched."""
        return self._zeros(batch_size, dtype, self.state_size)

    def __call__(self, params, carry, x_t):
        """One step: (h_t, y_t) = (a ⊙ h_{t-1} + b, readout(h_t, x_t))."""
        self._check_linear_step(params, carry, x_t)
        a, b = self.coefficients(params, x_t)
        h = a * carry + b
        return h, self.readout(params, h, x_t)

    def _check_linear_step(self, params, carry, x) -> None:
        """Static checks of one step's arguments: params of `param_shapes`, x (*B, I)
        floating, a carry of initial_carry's structure with leaves (*B, S)."""
        want_keys = set(self.param_shapes(1))
        if not (isinstance(params, dict) and set(params) == want_keys):
            got = sorted(params) if isinstance(params, dict) else type(params).__name__
            raise TypeError(
                f"params: got {got}, expected the dict of arrays from "
                f"{type(self).__name__}.init (keys {sorted(want_keys)})"
            )
        size = self.expected_input_size(params)
        for name, shape in self.param_shapes(size).items():
            if tuple(jnp.shape(params[name])) != tuple(shape):
                raise shape_error(f"params[{name!r}]", jnp.shape(params[name]), f"{shape}")
        x_dtype = jnp.result_type(x)
        if not jnp.issubdtype(x_dtype, jnp.floating):
            raise TypeError(f"x_t: got dtype {x_dtype}, expected a floating-point array")
        x_shape = jnp.shape(x)
        if len(x_shape) < 1 or x_shape[-1] != size:
            raise shape_error("x_t", x_shape, f"(*batch, {size}) to match the cell's params")
        self._check_step_carry(
            carry, tuple(x_shape[:-1]), self.state_size, f"state size {self.state_size}"
        )
