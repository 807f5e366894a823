"""What every cell shares: config round trip, dtypes, carries, and the fused-cell contract.

A cell is a frozen dataclass of hyperparameters (hashable, so it can be a static `jit`
argument) with three pure methods:

    params = cell.init(key, input_size)            # dict of arrays, Keras names/layouts
    carry = cell.initial_carry(batch_size)         # zeros
    carry, y = cell(params, carry, x_t)            # one step; x_t: (*batch, I)

(written down as the protocol `jrnn.cells.RecurrentCell`; `Cell` below is the mixin the
built-in cells share, and `FusedCell` the base class of the fused-cell contract).

The built-in cells also implement the *fused-cell contract* used by `jrnn.unroll`'s
fast path. One step is split as

    gx = x_t @ kernel + input_bias           (no recurrence: hoistable over all steps)
    gh = h_{t-1} @ recurrent_kernel + recurrent_bias
    carry_t, y_t = pointwise(gx, gh, carry_{t-1})   (elementwise only)

so the engine can run the only sequential work (one GEMM and one elementwise block per
step) in the scan, and compute the weight, bias and input gradients as GEMMs over all
steps after the reverse scan. `__call__` is written with the same three pieces, so the
reference step and the fast path share one statement of the equations.

gx and gh reach `pointwise` split into their G gate blocks, a tuple of G arrays
(*B, H). Keeping each gate in its own contiguous array matters on XLA:CPU: a fused loop
that reads several column slices of one (B, G*H) buffer compiles to slow, unvectorized
code (measured 2-3x slower per LSTM step at B=64, H=256).
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from jrnn import initializers
from jrnn._checks import check_batch_size, check_bool, check_positive_int, shape_error
from jrnn._ops import add_bias, batch_shape_of, dtype_name, matmul, split_gates
from jrnn._serialize import json_value, resolve_functions


def static_pytree(cls):
    """Register a cell class as a pytree node with no leaves, the cell itself its static
    data (`jax.tree_util.register_static`): a cell can then travel in any pytree, e.g.
    as an ordinary `jax.jit` argument or beside the parameters given to `optax.init`,
    instead of JAX tracing its fields. Needs equal cells to hash equal, as frozen
    dataclasses do. Returns cls, so it also serves as a class decorator."""
    jax.tree_util.register_static(cls)
    return cls


def initial_carry_of(cell, batch_size, dtype=None):
    """`cell.initial_carry(batch_size)`, in `dtype` when one is given (a user cell's
    `initial_carry` need not take a dtype)."""
    if dtype is None:
        return cell.initial_carry(batch_size)
    return cell.initial_carry(batch_size, dtype)


class Cell:
    """Mixin for frozen-dataclass cells: config round trip and dtype helpers.

    Subclasses define `units`, `dtype` (compute dtype, None = float32) and
    `param_dtype`, and implement `init`, `initial_carry`, `__call__`.
    """

    units: int
    dtype: Any
    param_dtype: Any
    # The parameter whose rows are the input features (I).
    input_kernel = "kernel"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        static_pytree(cls)

    # -- config -------------------------------------------------------------------
    def get_config(self) -> dict:
        """Hyperparameters as plain JSON data; `type(cell).from_config(cfg) == cell` (a
        callable activation or initializer is saved by its name, so it comes back as
        that name, or as the registered function for `register_serializable` ones)."""
        cfg = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for k in ("dtype", "param_dtype"):
            if k in cfg:
                cfg[k] = dtype_name(cfg[k])
        return {k: json_value(v, k) for k, v in cfg.items()}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**resolve_functions(config))

    # -- shapes -------------------------------------------------------------------
    @property
    def output_size(self) -> int:
        return self.units

    def _check_hyperparameters(self):
        """Validate `units`, the bool flags and the initializers (at construction, as
        Keras, not at the first `init`); store dtypes by name, so configs round-trip to
        equal cells."""
        check_positive_int("units", self.units)
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type in ("bool", bool):
                check_bool(f.name, value)  # "no" is truthy: a string flag is a bug
            elif f.name.endswith("_initializer"):
                try:
                    initializers.get(value)
                except ValueError as e:
                    raise ValueError(f"{f.name}: {str(e).partition(': ')[2]}") from None
        for name in ("dtype", "param_dtype"):
            value = getattr(self, name)
            try:
                canonical = dtype_name(value)
            except TypeError:
                canonical = ""
            if canonical is not None and not (
                canonical and jnp.issubdtype(jnp.dtype(canonical), jnp.floating)
            ):
                # an integer compute dtype would run the gates in integer arithmetic
                raise ValueError(
                    f"{name}: got {value!r}, expected a floating-point dtype such as "
                    f"'float32' or 'bfloat16'"
                )
            object.__setattr__(self, name, canonical)

    def _zeros(self, batch_size, dtype, width=None):
        """Zeros (*batch, width), width default `units`, dtype default `state_dtype`."""
        check_batch_size("batch_size", batch_size)
        shape = batch_shape_of(batch_size) + (width or self.units,)
        return jnp.zeros(shape, dtype or self.state_dtype)

    @property
    def compute_dtype(self):
        return None if self.dtype is None else jnp.dtype(self.dtype)

    @property
    def state_dtype(self):
        """The carry's dtype: float32, or float64 when `dtype` or `param_dtype` is
        float64 (under `jax_enable_x64`). A bfloat16/float16 cell keeps a float32 state,
        so rounding does not accumulate over the time steps."""
        dtypes = (self.compute_dtype or self._param_dtype(), self._param_dtype())
        wide = any(d == jnp.float64 for d in dtypes)  # not `in`: NumPy reads None as float64
        return jnp.dtype(jnp.float64 if wide and jax.config.jax_enable_x64 else jnp.float32)

    @property
    def input_dtype(self):
        """What `jrnn.unroll` casts xs to: the compute dtype, else the state's (float32),
        as Keras layers cast their inputs to their compute dtype."""
        return self.compute_dtype or self.state_dtype

    def _param_dtype(self, dtype=None):
        """The dtype `init` stores parameters in: `dtype`, else `param_dtype`, else
        float32."""
        return jnp.dtype(dtype or self.param_dtype or jnp.float32)

    def _out(self, h):
        """Cast a float32 hidden state to the compute dtype for the step's output."""
        return h if self.dtype is None else h.astype(self.dtype)

    def expected_input_size(self, params) -> int:
        return params[self.input_kernel].shape[0]

    def _check_input_size(self, input_size) -> int:
        return check_positive_int("input_size", input_size)

    def _check_step(self, params, carry, x, num_gates: int):
        """Static checks of one step's arguments (shapes and dtypes, at trace time): the
        params from `init` (kernel (I, G*H), recurrent_kernel (H, G*H)), x (*B, I)
        floating, and a carry of `initial_carry`'s structure with leaves (*B, H)."""
        if not (isinstance(params, dict) and {"kernel", "recurrent_kernel"} <= set(params)):
            got = sorted(params) if isinstance(params, dict) else type(params).__name__
            raise TypeError(
                f"params: got {got}, expected the dict of arrays from "
                f"{type(self).__name__}.init (with 'kernel' and 'recurrent_kernel')"
            )
        width = num_gates * self.units
        kernel, recurrent = jnp.shape(params["kernel"]), jnp.shape(params["recurrent_kernel"])
        if len(kernel) != 2 or kernel[1] != width:
            raise shape_error("params['kernel']", kernel, f"(input_size, {width})")
        if recurrent != (self.units, width):
            raise shape_error("params['recurrent_kernel']", recurrent, f"{(self.units, width)}")
        x_dtype = jnp.result_type(x)
        if not jnp.issubdtype(x_dtype, jnp.floating):
            raise TypeError(f"x_t: got dtype {x_dtype}, expected a floating-point array")
        x_shape = jnp.shape(x)
        if len(x_shape) < 1 or x_shape[-1] != kernel[0]:
            raise shape_error("x_t", x_shape, f"(*batch, {kernel[0]}) to match params['kernel']")
        self._check_step_carry(carry, tuple(x_shape[:-1]), self.units, f"units={self.units}")

    def _check_step_carry(self, carry, batch, width, what) -> None:
        """A step's carry: `initial_carry`'s structure, every leaf (*batch, width)."""
        want = jax.eval_shape(self.initial_carry, None)
        if jax.tree.structure(carry) != jax.tree.structure(want):
            raise TypeError(
                f"carry: got {_describe(carry)}, expected {_describe(want)} as from "
                f"{type(self).__name__}.initial_carry"
            )
        for leaf in jax.tree.leaves(carry):
            if tuple(jnp.shape(leaf)) != batch + (width,):
                raise shape_error(
                    "carry", jnp.shape(leaf), f"{batch + (width,)}: x_t's batch {batch} and {what}"
                )


class FusedCell(Cell, metaclass=abc.ABCMeta):
    """A cell that implements the fused-cell contract (see the module docstring).

    Subclasses implement:
      fused_split(params) -> dict(kernel, recurrent_kernel, input_bias, recurrent_bias,
                                  pointwise)      # biases may be None; pointwise a dict
      pointwise(pw, gx, gh, carry) -> (new_carry, y)   # float32 elementwise block;
                                                       # gx, gh: tuples of G (*B, H)
      recurrent_input(carry) -> h                      # what multiplies recurrent_kernel
    and set `num_gates` (G; every gate block is `units` wide) and `additive = True` when
    `pointwise` depends on gx and gh only through gx + gh (the engine then saves and
    differentiates the G sums instead of gx and gh apart; a wrong True gives wrong
    gradients, so the default is False). `pointwise`'s y must equal `output(new_carry)`:
    under `grad` the engine rebuilds the outputs from the saved carries.

    Optionally, a hand-written backward for the elementwise block, used when
    `has_backward` is True (the built-in cells when their activations' derivatives can
    be written from their outputs; LSTM also without peepholes and cell_clip):
      pointwise_saved(pw, gx, gh, carry) -> (new_carry, y, saved)  # saved: tuple (*B, H)
      pointwise_backward(pw, saved, carry_prev, carry_new, dcarry, dy)
          -> (dpw, dcarry_prev, dgx, dgh)   # dgx, dgh: tuples of G; without the
                                            # h_prev @ recurrent_kernel path
    Otherwise the engine saves the pre-activations and differentiates `pointwise` with
    `jax.vjp`, recomputing it.
    `fused_split` must be differentiable (slices and lookups): the engine's custom
    backward returns gradients for its output, and autodiff maps them back to params.
    """

    additive: bool = False
    num_gates: int

    @abc.abstractmethod
    def fused_split(self, params) -> dict:
        """params -> dict(kernel (I, G*H), recurrent_kernel (H, G*H), input_bias (G*H,) or
        None, recurrent_bias (G*H,) or None, pointwise: dict of elementwise params)."""

    @abc.abstractmethod
    def recurrent_input(self, carry):
        """The (*B, H) array of `carry` that multiplies recurrent_kernel (h)."""

    @abc.abstractmethod
    def pointwise(self, pw, gx, gh, carry):
        """Elementwise block: gx, gh tuples of G (*B, H) -> (new_carry, y_t (*B, H))."""

    @property
    def fusable(self) -> bool:
        return True

    @property
    def has_backward(self) -> bool:
        return False

    def output(self, carry):
        """y_t from carry_t; `pointwise` must return exactly this as its y."""
        return self._out(self.recurrent_input(carry))

    def __call__(self, params, carry, x_t):
        """One time step: returns (new_carry, y_t)."""
        self._check_step(params, carry, x_t, self.num_gates)
        p = self.fused_split(params)
        cdt = self.compute_dtype
        gx = add_bias(matmul(x_t, p["kernel"], cdt), p["input_bias"])
        h = self.recurrent_input(carry)
        gh = add_bias(matmul(h, p["recurrent_kernel"], cdt), p["recurrent_bias"])
        g = self.num_gates
        return self.pointwise(p["pointwise"], split_gates(gx, g), split_gates(gh, g), carry)


def _describe(carry) -> str:
    """A carry's structure in words: 'an array' or 'a tuple of 2 arrays'."""
    if isinstance(carry, (tuple, list)):
        return f"a {type(carry).__name__} of {len(carry)} arrays"
    if isinstance(carry, (jax.Array, jax.ShapeDtypeStruct)):
        return "an array"
    return f"{type(carry).__name__} (structure {jax.tree.structure(carry)})"
