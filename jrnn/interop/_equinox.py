"""Equinox cells as jrnn cells: `EquinoxCell`.

Equinox is not a dependency of jrnn: it is imported when an `EquinoxCell` is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from jrnn._checks import check_key, check_positive_int
from jrnn.cells.base import static_pytree
from jrnn.interop._common import (
    check_carry_structure,
    check_params_structure,
    check_step_input,
    describe,
    over_batch_axes,
    zeros_like_carry,
)


def _equinox():
    try:
        import equinox
    except ImportError:
        raise ImportError(
            "EquinoxCell: could not import equinox, expected it installed (jrnn does not "
            "install it): pip install equinox"
        ) from None
    return equinox


@static_pytree
@dataclass(frozen=True, eq=False)
class EquinoxCell:
    """An Equinox cell (`eqx.nn.LSTMCell`, `eqx.nn.GRUCell`) as a jrnn cell, for
    `jrnn.unroll` (lengths, masks, reverse), `jrnn.stack`, `jrnn.bidirectional` and
    `jrnn.layers.RNN`.

      cell = EquinoxCell(eqx.nn.LSTMCell(16, 64, key=jax.random.key(0)))
      params = cell.init(key, 16)            # the module's arrays (eqx.filter)
      carry = cell.initial_carry(8)          # (h, c), each (8, 64): zeros
      carry, y = cell(params, carry, x_t)    # x_t (8, 16) -> y (8, 64)

    Equinox cells are written for one example: the step is `jax.vmap`ped over every
    batch axis of x_t (none for an unbatched x_t (I,)). The module is split once
    (`eqx.partition(module, eqx.is_array)`): the non-array part is the cell's static
    part (two cells are equal when those are), the arrays are params, a pytree of the
    module's type with None in place of everything else (Optax and `jax.grad` take it
    as it is; `eqx.combine(params, static)` is the module). As for NNX, the module is
    built with its weights: `init` returns them as they were when wrapped, whatever
    the key, after checking `input_size` against the module's.

    Carry: Equinox's LSTM carry is (h, c), jrnn's order already; GRU's is h. The output
    y_t is h. The initial carry is zeros.

    Args:
      module: `eqx.nn.LSTMCell` or `eqx.nn.GRUCell` (their carries are known; other
        Equinox modules have no carry protocol to read).
    """

    module: Any

    def __post_init__(self):
        m = self.module
        # Only an Equinox object needs Equinox: anything else is refused without it.
        from_equinox = (type(m).__module__ or "").startswith("equinox")
        eqx = _equinox() if from_equinox else None
        if eqx is None or not isinstance(m, (eqx.nn.LSTMCell, eqx.nn.GRUCell)):
            raise TypeError(
                f"module: got {describe(m)}, expected an Equinox cell, "
                f"eqx.nn.LSTMCell or eqx.nn.GRUCell; for Flax cells use FlaxCell or NNXCell"
            )
        params, static = eqx.partition(m, eqx.is_array)
        object.__setattr__(self, "_params", params)
        object.__setattr__(self, "_static", static)

    def __eq__(self, other):
        return type(other) is type(self) and bool(self._static == other._static)

    def __hash__(self):
        return hash((type(self), self._static))

    def __repr__(self):
        return f"EquinoxCell({type(self.module).__name__}, output_size={self.output_size})"

    @property
    def _is_lstm(self) -> bool:
        return isinstance(self.module, _equinox().nn.LSTMCell)

    @property
    def output_size(self) -> int:
        """H, the module's `hidden_size`."""
        return self.module.hidden_size

    def init(self, key, input_size: int):
        """The wrapped module's arrays, for inputs of width `input_size`."""
        check_key("key", key)
        input_size = check_positive_int("input_size", input_size)
        if input_size != self.module.input_size:
            raise ValueError(
                f"input_size: got {input_size}, expected {self.module.input_size}, the "
                f"input_size the Equinox module was built with"
            )
        return self._params

    def initial_carry(self, batch_size=None, dtype=None):
        """Zeros (h, c) for the LSTM, h for the GRU, each (*B, H) for `batch_size` (an
        int B, a tuple of batch axes, or None for unbatched); dtype default float32."""
        h = self.module.hidden_size

        def make(batch):
            z = jax.ShapeDtypeStruct(batch + (h,), jnp.dtype(dtype or jnp.float32))
            return (z, z) if self._is_lstm else z

        return zeros_like_carry(make, batch_size, dtype)

    def _carry_shapes(self, batch):
        # Shapes only: a check at trace time should not put zeros into the program.
        return jax.eval_shape(lambda: self.initial_carry(batch))

    def expected_input_size(self, params=None) -> int:
        """I, the module's `input_size`."""
        return self.module.input_size

    def __call__(self, params, carry, x_t):
        """One step: x_t (*B, I) -> (new carry, y_t (*B, H)), vmapped over *B."""
        eqx = _equinox()
        check_params_structure(params, self._params, "EquinoxCell")
        x_t = check_step_input(x_t, self.module.input_size, "the module's input_size")
        batch = x_t.shape[:-1]
        check_carry_structure(carry, self._carry_shapes(batch), "EquinoxCell")
        module = eqx.combine(params, self._static)
        new = over_batch_axes(lambda c, x: module(x, c), len(batch))(carry, x_t)
        return new, (new[0] if self._is_lstm else new)
