"""jrnn: functional recurrent neural networks on JAX.

Cells are pure step functions with Keras names and weight layouts; `unroll` is the one
engine that runs them over time; state is explicit.
"""

from jrnn import (
    callbacks,
    cells,
    checkpoint,
    ctc,
    data,
    decode,
    layers,
    losses,
    metrics,
    recurrence,
    text,
)
from jrnn.callbacks import History
from jrnn.cells import GRUCell, LSTMCell, SimpleRNNCell, bidirectional, stack, stack_bidirectional
from jrnn.convert import from_keras, from_torch
from jrnn.data import pad_sequences, timeseries_dataset_from_array, to_categorical
from jrnn.dataset import Dataset
from jrnn.layers import Input
from jrnn.lm import lm_step
from jrnn.models import Model, Sequential
from jrnn.recurrence import unroll
from jrnn.text import Tokenizer, make_sampling_table, ngram_sequences, skipgrams
from jrnn.train import TrainState, evaluate, fit, predict

__version__ = "0.1.0"

__all__ = [
    "Dataset",
    "History",
    "Input",
    "Model",
    "Sequential",
    "TrainState",
    "callbacks",
    "cells",
    "checkpoint",
    "ctc",
    "data",
    "decode",
    "evaluate",
    "fit",
    "layers",
    "lm_step",
    "losses",
    "make_sampling_table",
    "metrics",
    "ngram_sequences",
    "pad_sequences",
    "predict",
    "recurrence",
    "skipgrams",
    "GRUCell",
    "LSTMCell",
    "SimpleRNNCell",
    "Tokenizer",
    "bidirectional",
    "from_keras",
    "from_torch",
    "stack",
    "stack_bidirectional",
    "text",
    "timeseries_dataset_from_array",
    "to_categorical",
    "unroll",
]
