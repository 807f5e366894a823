"""jrnn: functional recurrent neural networks on JAX.

Cells are pure step functions with Keras names and weight layouts; `unroll` is the one
engine that runs them over time; state is explicit.
"""

from jrnn import callbacks, checkpoint, data, layers, losses, metrics
from jrnn.bidirectional import (
    Bidirectional,
    StackedBidirectional,
    bidirectional,
    stack_bidirectional,
)
from jrnn.callbacks import History
from jrnn.cells import GRUCell, LSTMCell, SimpleRNNCell, StackedCell, stack
from jrnn.convert import from_keras, from_torch
from jrnn.layers import Input
from jrnn.models import Model, Sequential
from jrnn.recurrence import unroll
from jrnn.train import TrainState, evaluate, fit, predict

__version__ = "0.1.0"

__all__ = [
    "Bidirectional",
    "History",
    "Input",
    "Model",
    "Sequential",
    "TrainState",
    "callbacks",
    "checkpoint",
    "data",
    "evaluate",
    "fit",
    "layers",
    "losses",
    "metrics",
    "predict",
    "GRUCell",
    "LSTMCell",
    "SimpleRNNCell",
    "StackedBidirectional",
    "StackedCell",
    "bidirectional",
    "from_keras",
    "from_torch",
    "stack",
    "stack_bidirectional",
    "unroll",
]
