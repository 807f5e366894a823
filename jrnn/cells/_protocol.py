"""The cell protocol, and the questions the engine and the layers ask of a cell.

Every cell, built in or user-written, follows `RecurrentCell` (three pure methods). The
optional contracts are nominal: a cell takes `jrnn.unroll`'s fused fast path by
subclassing `FusedCell` (see `jrnn.cells.base`), a linear recurrence by subclassing
`LinearCell` (`jrnn.cells.linear`), and a stack is a `StackedCell`. The
functions here answer each question once, so no caller probes attributes with
`hasattr`/`getattr`.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import jax

from jrnn.cells.base import Cell, FusedCell
from jrnn.cells.bidirectional import BidirectionalCells, StackedBidirectional
from jrnn.cells.linear import LinearCell
from jrnn.cells.stacked import StackedCell


@runtime_checkable
class RecurrentCell(Protocol):
    """What `jrnn.unroll` and `jrnn.layers.RNN` need of a cell: three pure methods.

    A cell is an immutable, hashable object of hyperparameters (a frozen dataclass), so
    it can be a static argument of `jax.jit`.

      params = cell.init(key, input_size)     # a pytree of arrays; Keras names/layouts
      carry = cell.initial_carry(batch_size)  # zeros; batch_size None = unbatched
      carry, y_t = cell(params, carry, x_t)   # one step; x_t (*B, I) -> y_t (*B, H)

    Nothing else is required: a user cell with only these methods runs on the plain
    `lax.scan` path with autodiff (see `IndRNNCell` in tests/cells_registry.py).
    Optional contracts: `FusedCell` (one GEMM and one elementwise block per step, with a
    hand-written backward; the engine's fast path), `LinearCell` (a recurrence linear in
    h: one GEMM over all steps and `jrnn.linear_scan`) and `StackedCell` (layer by
    layer).
    """

    def init(self, key: jax.Array, input_size: int) -> Any:
        """Parameters for inputs of width `input_size` (I)."""
        ...

    def initial_carry(self, batch_size=None) -> Any:
        """The zero carry for `batch_size` (an int B, a tuple of batch axes, or None)."""
        ...

    def __call__(self, params: Any, carry: Any, x_t: jax.Array) -> tuple[Any, jax.Array]:
        """One time step: x_t (*B, I) -> (new carry, y_t (*B, H))."""
        ...


def is_cell(obj) -> bool:
    """Whether `obj` follows the cell protocol (`RecurrentCell`)."""
    return isinstance(obj, RecurrentCell)


def is_fusable(cell) -> bool:
    """Whether `jrnn.unroll` may run `cell` on the fused fast path (`FusedCell`)."""
    return isinstance(cell, FusedCell) and cell.fusable


def is_linear(cell) -> bool:
    """Whether `jrnn.unroll` runs `cell` as a linear recurrence (`LinearCell`: one input
    GEMM over all steps, then `jrnn.linear_scan`)."""
    return isinstance(cell, LinearCell)


def expected_input_size(cell, params) -> int | None:
    """The input width I that `params` were made for (kernel rows), or None when the
    cell does not say (user cells)."""
    _check_is_cell(cell)
    if isinstance(cell, (Cell, StackedCell)):
        return cell.expected_input_size(params)
    if isinstance(cell, BidirectionalCells):
        return expected_input_size(cell.forward, params["forward"])
    if isinstance(cell, StackedBidirectional):
        return expected_input_size(cell.layers[0], params[0])
    return None


def output_of_carry(cell, carry):
    """The step output y a carry stands for (Keras's `states[0]`): h for the built-in
    cells, the last cell's for a stack, the first carry leaf for a user cell."""
    _check_is_cell(cell)
    if isinstance(cell, StackedCell):
        return output_of_carry(cell.cells[-1], carry[-1])
    if isinstance(cell, (FusedCell, LinearCell)):
        # An LSTM's (h, c) given as a bare h would read a slice of h as the output.
        want = jax.tree.structure(jax.eval_shape(lambda: cell.initial_carry(1)))
        if jax.tree.structure(carry) != want:
            raise TypeError(
                f"carry: got {jax.tree.structure(carry)}, expected the structure of "
                f"{type(cell).__name__}.initial_carry: {want}"
            )
        return cell.output(carry)
    return jax.tree.leaves(carry)[0]


def _check_is_cell(cell) -> None:
    # What the engine steps: initial_carry and __call__ (an internal wrapper such as the
    # recurrent-dropout cell runs without an init of its own).
    if not (is_cell(cell) or (callable(cell) and hasattr(cell, "initial_carry"))):
        raise TypeError(
            f"cell: got {cell!r} of type {type(cell).__name__}, expected a cell (init, "
            f"initial_carry, __call__)"
        )
