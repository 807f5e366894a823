"""Every layer the layer contract suite runs: a constructor, an example input, and what
the layer documents about its output shape and its mask.

Each `Case` says:
  make: builds the layer (a fresh one per call).
  x: the example input (an array, or a list for Concatenate).
  out_shape: the documented output shape, or a tuple of shapes for several outputs.
  mask_out: (x, mask) -> the mask the layer passes on (`compute_mask`), given the
    input's (B, T) mask: THROUGH (unchanged), NONE (consumed or dropped), or a function
    of x for layers that create one (Embedding(mask_zero), Masking).
  uses_mask: the layer reads the mask: with right padding a row's valid steps give the
    same outputs as the row cut to its length.
  stochastic: the output depends on a PRNG key with training=True (dropout).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from cells_registry import IndRNNCell

import jrnn
from jrnn import layers as L
from jrnn.saving import register_serializable

B, T, F, V = 2, 5, 3, 7


def THROUGH(x, mask):
    return mask


def NONE(x, mask):
    return None


def _floats(shape, seed=0):
    return jax.random.normal(jax.random.key(seed), shape)


def _ids():
    return jnp.asarray(np.array([[1, 2, 3, 4, 5], [6, 1, 2, 0, 0]], np.int32))


def _seq():
    return _floats((B, T, F))


@register_serializable(package="tests")
def scaled_tanh(x, factor=1.0):
    """A module-level registered function, so a Lambda of it can be saved."""
    return factor * jnp.tanh(x)


@dataclass(frozen=True)
class Case:
    make: Callable[[], L.Layer]
    x: Callable[[], Any] = _seq
    out_shape: tuple = (B, T, F)
    mask_out: Callable = THROUGH
    uses_mask: bool = False
    stochastic: bool = False


LAYERS = {
    "dense": Case(lambda: L.Dense(4, "tanh"), out_shape=(B, T, 4)),
    "dense_no_bias": Case(lambda: L.Dense(2, use_bias=False), out_shape=(B, T, 2)),
    "dropout": Case(lambda: L.Dropout(0.5), stochastic=True),
    "dropout_noise_shape": Case(
        lambda: L.Dropout(0.3, noise_shape=(None, 1, None)), stochastic=True
    ),
    "embedding": Case(lambda: L.Embedding(V, 4), x=_ids, out_shape=(B, T, 4)),
    "embedding_mask_zero": Case(
        lambda: L.Embedding(V, 4, mask_zero=True),
        x=_ids,
        out_shape=(B, T, 4),
        mask_out=lambda x, mask: x != 0,
    ),
    "masking": Case(
        lambda: L.Masking(0.0),
        x=lambda: _seq().at[1, 3:].set(0.0),
        mask_out=lambda x, mask: jnp.any(x != 0.0, axis=-1),
    ),
    "time_distributed": Case(lambda: L.TimeDistributed(L.Dense(4)), out_shape=(B, T, 4)),
    "repeat_vector": Case(
        lambda: L.RepeatVector(3), x=lambda: _floats((B, F)), out_shape=(B, 3, F), mask_out=NONE
    ),
    "concatenate": Case(
        lambda: L.Concatenate(),
        x=lambda: [_seq(), _floats((B, T, 2), 1)],
        out_shape=(B, T, F + 2),
        mask_out=NONE,  # no input masks -> None (masked inputs: tests/test_models.py)
    ),
    "conv1d_causal": Case(
        lambda: L.Conv1D(4, 2, padding="causal"), out_shape=(B, T, 4), mask_out=NONE
    ),
    "conv1d_valid_strided": Case(
        lambda: L.Conv1D(4, 2, strides=2, activation="relu"), out_shape=(B, 2, 4), mask_out=NONE
    ),
    "max_pooling1d": Case(lambda: L.MaxPooling1D(2), out_shape=(B, 2, F), mask_out=NONE),
    "global_average_pooling1d": Case(
        lambda: L.GlobalAveragePooling1D(), out_shape=(B, F), mask_out=NONE, uses_mask=True
    ),
    "global_max_pooling1d": Case(
        lambda: L.GlobalMaxPooling1D(keepdims=True),
        out_shape=(B, 1, F),
        mask_out=NONE,
        uses_mask=True,
    ),
    "simple_rnn": Case(lambda: L.SimpleRNN(4), out_shape=(B, 4), mask_out=NONE, uses_mask=True),
    "lstm_sequences": Case(
        lambda: L.LSTM(4, return_sequences=True, zero_output_for_mask=True),
        out_shape=(B, T, 4),
        uses_mask=True,
    ),
    "lstm_state": Case(
        lambda: L.LSTM(4, return_sequences=True, return_state=True),
        out_shape=((B, T, 4), (B, 4), (B, 4)),
        mask_out=lambda x, mask: (mask, None, None),
        uses_mask=True,
    ),
    "gru_dropout": Case(
        lambda: L.GRU(4, dropout=0.2, recurrent_dropout=0.3),
        out_shape=(B, 4),
        mask_out=NONE,
        uses_mask=True,
        stochastic=True,
    ),
    "rnn_stack": Case(
        lambda: L.RNN([jrnn.LSTMCell(4), jrnn.GRUCell(3)]),
        out_shape=(B, 3),
        mask_out=NONE,
        uses_mask=True,
    ),
    "rnn_user_cell": Case(
        lambda: L.RNN(IndRNNCell(4), return_sequences=True, go_backwards=True),
        out_shape=(B, T, 4),
    ),
    "bidirectional_sequences": Case(
        lambda: L.Bidirectional(L.LSTM(4, return_sequences=True)),
        out_shape=(B, T, 8),
        uses_mask=True,
    ),
    "bidirectional_last_sum": Case(
        lambda: L.Bidirectional(L.GRU(4), "sum", backward_layer=L.GRU(4, go_backwards=True)),
        out_shape=(B, 4),
        mask_out=NONE,
        uses_mask=True,
    ),
    "bidirectional_state_pair": Case(
        lambda: L.Bidirectional(L.SimpleRNN(3, return_state=True), None),
        out_shape=((B, 3), (B, 3), (B, 3), (B, 3)),
        mask_out=lambda x, mask: (None, None, None, None),
        uses_mask=True,
    ),
    # Linear recurrences (jrnn.cells.LinearCell); LRU and RGLRU need width F == units.
    "mingru_sequences_dropout": Case(
        lambda: L.MinGRU(4, return_sequences=True, dropout=0.3),
        out_shape=(B, T, 4),
        uses_mask=True,
        stochastic=True,
    ),
    "minlstm_backwards": Case(
        lambda: L.MinLSTM(4, go_backwards=True), out_shape=(B, 4), mask_out=NONE, uses_mask=True
    ),
    "lru_state": Case(
        lambda: L.LRU(F, state_units=6, return_sequences=True, return_state=True),
        out_shape=((B, T, F), (B, 6)),
        mask_out=lambda x, mask: (mask, None),
        uses_mask=True,
    ),
    "rglru_stateful": Case(
        lambda: L.RGLRU(F, stateful=True), out_shape=(B, F), mask_out=NONE, uses_mask=True
    ),
    "bidirectional_mingru": Case(
        lambda: L.Bidirectional(L.MinGRU(4, return_sequences=True)),
        out_shape=(B, T, 8),
        uses_mask=True,
    ),
    "rnn_stack_mingru_lru": Case(
        lambda: L.RNN([jrnn.MinGRUCell(3), jrnn.LRUCell(3)], return_sequences=True),
        out_shape=(B, T, 3),
        uses_mask=True,
    ),
    "griffin_block": Case(lambda: L.GriffinBlock(F, rnn_width=4, mlp_expansion=2), uses_mask=True),
    # F = 3 features: div_value 1.5 gives tail widths 3 // 1.5 = 2 and 3 // 2.25 = 1
    "adaptive_softmax": Case(
        lambda: L.AdaptiveSoftmax(6, [2, 4], div_value=1.5), out_shape=(B, T, 6)
    ),
    "adaptive_softmax_head_bias": Case(
        lambda: L.AdaptiveSoftmax(V, [3], head_bias=True, div_value=1.0), out_shape=(B, T, V)
    ),
    "layer_normalization": Case(lambda: L.LayerNormalization()),
    "layer_normalization_time_and_features": Case(
        lambda: L.LayerNormalization(axis=[1, -1], epsilon=1e-5, center=False)
    ),
    "flatten": Case(lambda: L.Flatten(), out_shape=(B, T * F), mask_out=NONE),
    "activation": Case(lambda: L.Activation("softmax")),
    "lambda": Case(
        lambda: L.Lambda(scaled_tanh, output_shape=(None, F), arguments={"factor": 2.0}),
        mask_out=NONE,
    ),
    "add": Case(lambda: L.Add(), x=lambda: [_seq(), _floats((B, T, F), 1)], mask_out=NONE),
    "multiply_broadcast": Case(
        lambda: L.Multiply(), x=lambda: [_seq(), _floats((B, 1, F), 1)], mask_out=NONE
    ),
    "average": Case(
        lambda: L.Average(),
        x=lambda: [_seq(), _floats((B, T, F), 1), _floats((B, T, F), 2)],
        mask_out=NONE,
    ),
    "attention_dot_scaled": Case(
        lambda: L.Attention(use_scale=True),
        x=lambda: [_seq(), _floats((B, 4, F), 1)],
        mask_out=NONE,  # no input masks -> None (the query's mask: tests/test_layers_keras.py)
    ),
    "attention_concat_dropout": Case(
        lambda: L.Attention(score_mode="concat", dropout=0.5),
        x=lambda: [_seq(), _floats((B, 4, F), 1)],
        mask_out=NONE,
        stochastic=True,
    ),
    "additive_attention_with_key": Case(
        lambda: L.AdditiveAttention(),
        x=lambda: [_seq(), _floats((B, 4, 2), 1), _floats((B, 4, F), 2)],
        out_shape=(B, T, 2),
        mask_out=NONE,
    ),
}
