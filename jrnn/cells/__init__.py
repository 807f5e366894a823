"""Recurrent cells: pure step functions with Keras names and weight layouts.

Every cell follows `RecurrentCell` (init, initial_carry, __call__); `FusedCell` is the
optional contract of the engine's fast path, `LinearCell` that of linear recurrences
(MinGRU, MinLSTM, LRU, RG-LRU), run with one GEMM over all steps and `linear_scan`. A
stack of cells is a cell (`stack`); `BidirectionalCells` and `StackedBidirectional`
pair cells for `jrnn.unroll`.
"""

from jrnn._serialize import register_builtin
from jrnn.cells._protocol import (
    RecurrentCell,
    expected_input_size,
    is_cell,
    is_fusable,
    is_linear,
    output_of_carry,
)
from jrnn.cells.base import Cell, FusedCell
from jrnn.cells.bidirectional import (
    MERGE_MODES,
    BidirectionalCells,
    StackedBidirectional,
    bidirectional,
    check_merge_mode,
    merge,
    stack_bidirectional,
)
from jrnn.cells.gru import GRUCell
from jrnn.cells.linear import LinearCell
from jrnn.cells.lru import LRUCell, RGLRUCell
from jrnn.cells.lstm import LSTMCell
from jrnn.cells.min_rnn import MinGRUCell, MinLSTMCell
from jrnn.cells.simple_rnn import SimpleRNNCell
from jrnn.cells.stacked import StackedCell, stack

CELLS = {
    "LSTMCell": LSTMCell,
    "GRUCell": GRUCell,
    "SimpleRNNCell": SimpleRNNCell,
    "MinGRUCell": MinGRUCell,
    "MinLSTMCell": MinLSTMCell,
    "LRUCell": LRUCell,
    "RGLRUCell": RGLRUCell,
    "StackedCell": StackedCell,
}

register_builtin(*CELLS.values(), BidirectionalCells, StackedBidirectional)

__all__ = [
    "CELLS",
    "MERGE_MODES",
    "BidirectionalCells",
    "Cell",
    "FusedCell",
    "GRUCell",
    "LRUCell",
    "LSTMCell",
    "LinearCell",
    "MinGRUCell",
    "MinLSTMCell",
    "RGLRUCell",
    "RecurrentCell",
    "SimpleRNNCell",
    "StackedBidirectional",
    "StackedCell",
    "bidirectional",
    "check_merge_mode",
    "expected_input_size",
    "is_cell",
    "is_fusable",
    "is_linear",
    "merge",
    "output_of_carry",
    "stack",
    "stack_bidirectional",
]
