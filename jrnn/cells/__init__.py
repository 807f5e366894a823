"""Recurrent cells: pure step functions with Keras names and weight layouts."""

from jrnn.cells.base import Cell, FusedCell
from jrnn.cells.gru import GRUCell
from jrnn.cells.lstm import LSTMCell
from jrnn.cells.simple_rnn import SimpleRNNCell
from jrnn.cells.stacked import StackedCell, stack

CELLS = {
    "LSTMCell": LSTMCell,
    "GRUCell": GRUCell,
    "SimpleRNNCell": SimpleRNNCell,
    "StackedCell": StackedCell,
}

__all__ = [
    "CELLS",
    "Cell",
    "FusedCell",
    "GRUCell",
    "LSTMCell",
    "SimpleRNNCell",
    "StackedCell",
    "stack",
]
