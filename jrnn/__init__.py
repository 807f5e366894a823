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
    decoding,
    distributed,
    layers,
    losses,
    metrics,
    recurrence,
    sampling,
    saving,
    training,
)
from jrnn._version import __version__
from jrnn.callbacks import History
from jrnn.cells import (
    GRUCell,
    LRUCell,
    LSTMCell,
    MinGRUCell,
    MinLSTMCell,
    RGLRUCell,
    SimpleRNNCell,
    bidirectional,
    stack,
    stack_bidirectional,
)
from jrnn.convert import from_flax, from_keras, from_keras_model, from_torch
from jrnn.data import (
    Dataset,
    Tokenizer,
    make_sampling_table,
    ngram_sequences,
    pad_sequences,
    skipgrams,
    timeseries_dataset_from_array,
    to_categorical,
)
from jrnn.decoding import lm_step
from jrnn.layers import Input
from jrnn.models import Model, Sequential
from jrnn.recurrence import linear_scan, unroll
from jrnn.saving import (
    export,
    export_chunk_step,
    export_step,
    load_model,
    load_variables,
    save_model,
)
from jrnn.training import TrainState, evaluate, fit, load_train_state, predict

__all__ = [
    "__version__",
    "Dataset",
    "History",
    "interop",
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
    "decoding",
    "distributed",
    "evaluate",
    "export",
    "export_chunk_step",
    "export_step",
    "fit",
    "layers",
    "linear_scan",
    "lm_step",
    "load_model",
    "load_train_state",
    "load_variables",
    "losses",
    "make_sampling_table",
    "metrics",
    "ngram_sequences",
    "pad_sequences",
    "predict",
    "recurrence",
    "save_model",
    "sampling",
    "saving",
    "skipgrams",
    "GRUCell",
    "LRUCell",
    "LSTMCell",
    "MinGRUCell",
    "MinLSTMCell",
    "RGLRUCell",
    "SimpleRNNCell",
    "Tokenizer",
    "bidirectional",
    "from_flax",
    "from_keras",
    "from_keras_model",
    "from_torch",
    "stack",
    "stack_bidirectional",
    "training",
    "timeseries_dataset_from_array",
    "to_categorical",
    "unroll",
]


def __getattr__(name):
    # `jrnn.interop` imports Flax (and Equinox on use): loaded on first use, so that
    # `import jrnn` does not pay for it.
    if name == "interop":
        import importlib

        return importlib.import_module("jrnn.interop")
    raise AttributeError(f"module 'jrnn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | {"interop"})
