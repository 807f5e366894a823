"""Keras-style layers as pure functions: `params = layer.init(key, x)`,
`y = layer.apply(params, x, ...)`; compose them with `jrnn.Sequential` or `jrnn.Model`."""

from jrnn._serialize import register_builtin
from jrnn.layers.adaptive_softmax import AdaptiveSoftmax
from jrnn.layers.attention import AdditiveAttention, Attention
from jrnn.layers.base import Input, Layer
from jrnn.layers.conv import Conv1D, GlobalAveragePooling1D, GlobalMaxPooling1D, MaxPooling1D
from jrnn.layers.core import (
    Concatenate,
    Dense,
    Dropout,
    Embedding,
    Masking,
    RepeatVector,
    TimeDistributed,
)
from jrnn.layers.function import Activation, Lambda
from jrnn.layers.griffin import GriffinBlock
from jrnn.layers.linear_recurrent import LRU, RGLRU, MinGRU, MinLSTM
from jrnn.layers.merging import Add, Average, Multiply
from jrnn.layers.normalization import LayerNormalization
from jrnn.layers.recurrent import GRU, LSTM, RNN, Bidirectional, SimpleRNN
from jrnn.layers.reshaping import Flatten

register_builtin(
    Activation,
    AdaptiveSoftmax,
    Add,
    AdditiveAttention,
    Attention,
    Average,
    Flatten,
    GriffinBlock,
    Lambda,
    LayerNormalization,
    Multiply,
    Conv1D,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    MaxPooling1D,
    Concatenate,
    Dense,
    Dropout,
    Embedding,
    Masking,
    RepeatVector,
    TimeDistributed,
    GRU,
    LSTM,
    RNN,
    Bidirectional,
    SimpleRNN,
    MinGRU,
    MinLSTM,
    LRU,
    RGLRU,
)

__all__ = [
    "Activation",
    "AdaptiveSoftmax",
    "Add",
    "AdditiveAttention",
    "Attention",
    "Average",
    "Flatten",
    "GriffinBlock",
    "Lambda",
    "LayerNormalization",
    "Multiply",
    "GRU",
    "LRU",
    "LSTM",
    "MinGRU",
    "MinLSTM",
    "RGLRU",
    "RNN",
    "Bidirectional",
    "Concatenate",
    "Conv1D",
    "Dense",
    "Dropout",
    "Embedding",
    "GlobalAveragePooling1D",
    "GlobalMaxPooling1D",
    "Input",
    "Layer",
    "Masking",
    "MaxPooling1D",
    "RepeatVector",
    "SimpleRNN",
    "TimeDistributed",
]
