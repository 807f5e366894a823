"""Recurrent layers over linear-recurrence cells (`jrnn.cells.LinearCell`): MinGRU,
MinLSTM, LRU and RGLRU, with the arguments of Keras's recurrent layers.

They take every argument of `jrnn.layers.RNN` (return_sequences, return_state,
go_backwards, stateful, dropout, masks, initial_state, ...) except recurrent_dropout
(there is no recurrent kernel); `jrnn.unroll` runs them with one input GEMM over all
steps and `jrnn.linear_scan`.
"""

from __future__ import annotations

from jrnn.cells import LRUCell, MinGRUCell, MinLSTMCell, RGLRUCell
from jrnn.layers.recurrent import _CellLayer, _split_kwargs


class MinGRU(_CellLayer):
    """minGRU (Feng et al. 2024): RNN(MinGRUCell(units, ...)) over x (B, T, I).

    Args (all but `units` by keyword): units (H); the cell's candidate_activation="g",
    use_bias, kernel_initializer, bias_initializer, dtype, param_dtype
    (`jrnn.MinGRUCell`, which gives the equations); the layer's return_sequences,
    return_state (then `(output, h)`), go_backwards, stateful, unroll, dropout,
    zero_output_for_mask, remat, name (`jrnn.layers.RNN`).

    Parameters: kernel (I, 2H) [z | h], bias (2H,).
    """

    def __init__(self, units: int, **kwargs):
        layer_args, cell_args = _split_kwargs(kwargs)
        super().__init__(MinGRUCell(units, **cell_args), **layer_args)


class MinLSTM(_CellLayer):
    """minLSTM (Feng et al. 2024): RNN(MinLSTMCell(units, ...)) over x (B, T, I).

    Args as `MinGRU` (`jrnn.MinLSTMCell` gives the equations). Parameters: kernel
    (I, 3H) [f | i | h], bias (3H,). return_state gives `(output, h)`.
    """

    def __init__(self, units: int, **kwargs):
        layer_args, cell_args = _split_kwargs(kwargs)
        super().__init__(MinLSTMCell(units, **cell_args), **layer_args)


class LRU(_CellLayer):
    """The Linear Recurrent Unit (Orvieto et al. 2023): RNN(LRUCell(units, ...)) over
    x (B, T, H); the input width must equal `units` (put a Dense(units) first).

    Args (all but `units` by keyword): units (H); the cell's state_units (N, default
    H), r_min=0.0, r_max=1.0, max_phase=2π, dtype, param_dtype (`jrnn.LRUCell`); the
    layer's arguments as `MinGRU`. return_state gives `(output, h)` with h (B, N)
    complex64. Before a sequence's first valid step the output is zeros (its output
    reads x_t as well as h).
    """

    def __init__(self, units: int, **kwargs):
        layer_args, cell_args = _split_kwargs(kwargs)
        super().__init__(LRUCell(units, **cell_args), **layer_args)


class RGLRU(_CellLayer):
    """Griffin's Real-Gated LRU (De et al. 2024): RNN(RGLRUCell(units, ...)) over
    x (B, T, H); the input width must equal `units`.

    Args (all but `units` by keyword): units (H); the cell's c=8.0, min_rad=0.9,
    max_rad=0.999, initializers, dtype, param_dtype (`jrnn.RGLRUCell`); the layer's
    arguments as `MinGRU`. Parameters: kernel (H, 2H) [a | x] gates, bias (2H,),
    a_param (H,). `jrnn.layers.GriffinBlock` wraps it in Griffin's residual block.
    """

    def __init__(self, units: int, **kwargs):
        layer_args, cell_args = _split_kwargs(kwargs)
        super().__init__(RGLRUCell(units, **cell_args), **layer_args)
