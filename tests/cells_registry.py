"""Every cell the contract suite runs, built-in variants and a user-defined cell."""

from dataclasses import dataclass

import jax
import jax.numpy as jnp

import jrnn


@jrnn.saving.register_serializable(package="jrnn_tests")
@dataclass(frozen=True)
class IndRNNCell:
    """A user cell (not built in): h_t = relu(x_t @ W + u * h_{t-1} + b).

    It has only the three methods of the cell protocol, so `unroll` must take the
    generic scan path with plain autodiff. Registered (without get_config: its dataclass
    fields are its config), so layers and models that use it can be saved.
    """

    units: int

    def init(self, key, input_size):
        k1, k2 = jax.random.split(key)
        return {
            "w": jax.random.normal(k1, (input_size, self.units)) / jnp.sqrt(input_size),
            "u": jax.random.uniform(k2, (self.units,), minval=-0.9, maxval=0.9),
            "b": jnp.zeros((self.units,)),
        }

    def initial_carry(self, batch_size=None, dtype=jnp.float32):
        shape = (
            ()
            if batch_size is None
            else (batch_size,)
            if isinstance(batch_size, int)
            else tuple(batch_size)
        )
        return jnp.zeros(shape + (self.units,), dtype)

    def __call__(self, params, carry, x_t):
        u = jnp.broadcast_to(params["u"], carry.shape)
        b = jnp.broadcast_to(params["b"], carry.shape)
        h = jax.nn.relu(x_t @ params["w"] + u * carry + b)
        return h, h


CELLS = {
    "lstm": jrnn.LSTMCell(6),
    "lstm_peephole_clip_forget": jrnn.LSTMCell(
        6, use_peephole=True, cell_clip=0.6, forget_bias=1.0, unit_forget_bias=False
    ),
    "lstm_no_bias_hard_sigmoid": jrnn.LSTMCell(
        5, use_bias=False, recurrent_activation="hard_sigmoid"
    ),
    "gru": jrnn.GRUCell(6),
    "gru_reset_before": jrnn.GRUCell(6, reset_after=False),
    "gru_no_bias": jrnn.GRUCell(4, use_bias=False),
    "simple_rnn": jrnn.SimpleRNNCell(6),
    "simple_rnn_relu": jrnn.SimpleRNNCell(5, activation="relu"),
    "stack_lstm_gru": jrnn.stack([jrnn.LSTMCell(5), jrnn.GRUCell(6)]),
    "user_indrnn": IndRNNCell(6),
    # Linear recurrences (jrnn.cells.LinearCell): the engine runs them with linear_scan.
    # LRU and RG-LRU need input width == units (the contract suite's I is 4). MinLSTM
    # shares all but its gates with MinGRU; tests/test_linear_cells.py checks it.
    "mingru": jrnn.MinGRUCell(6),
    "lru": jrnn.LRUCell(4, state_units=6, r_min=0.5, max_phase=3.0),
    "rglru": jrnn.RGLRUCell(4),
}
