"""Recurrent layers with Keras's arguments: RNN, SimpleRNN, LSTM, GRU, Bidirectional.

Every layer runs its cell with `jrnn.unroll`, so masks (from `Embedding(mask_zero=True)`
or `Masking`) may pad on either side, and the fast path is used whenever it can be.

Outputs follow Keras:
  - `return_sequences=False`: the last output (of the last valid step when masked).
  - `return_sequences=True`: (B, T, H), in processing order (reversed with
    `go_backwards`); at masked steps the previous output is repeated (h0 before the
    first valid step), or zeros with `zero_output_for_mask=True`. As in Keras, the
    mask passed on is the input's, not flipped with `go_backwards` (flip it yourself
    if a sequence loss follows a backwards layer).
  - `return_state=True`: `(output, *state)` with the carry's arrays flattened in order,
    e.g. LSTM `(output, h, c)`, GRU `(output, h)`; `initial_state` takes the same list.

State is explicit: with `stateful=True` the layer's final carry is returned as its new
state and used as the next call's initial carry (a model keeps it in
`variables["state"]`; zeros is a reset).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.export import is_symbolic_dim

from jrnn import recurrence
from jrnn._checks import check_config, check_int, check_key, check_rate, shape_error
from jrnn._ops import add_bias, matmul
from jrnn._serialize import deserialize, json_value, serialize
from jrnn.cells import (
    GRUCell,
    LSTMCell,
    SimpleRNNCell,
    check_merge_mode,
    expected_input_size,
    is_cell,
    is_fusable,
    merge,
    output_of_carry,
    stack,
)
from jrnn.layers.base import Layer, as_float, require_key, shape_dtype

_SEQUENCE = "(batch, time, features)"


class RNN(Layer):
    """Run `cell` (or a list of cells, stacked) over (B, T, I) inputs.

    Args:
      cell: a jrnn cell, or a list of cells (a stack; layer k+1 reads layer k's output).
      return_sequences, return_state, go_backwards, stateful: as Keras (module doc).
      unroll: steps per scan iteration: None = backend default (1 on CPU, 8 on GPU),
        an int, True = the whole sequence (Keras's `unroll=True`), False = None.
      dropout, recurrent_dropout: fractions of the inputs and of h dropped while
        training, with one mask per sequence for all time steps (Keras and Gal &
        Ghahramani 2016). With `recurrent_dropout` each gate gets its own masks (Keras's
        implementation 1) and the layer runs the plain scan; input dropout alone keeps
        the fast path. Needs a `key` when `training=True`.
      zero_output_for_mask: zeros instead of repeated outputs at masked steps.
      remat: recompute the forward pass in the backward pass (long sequences).

    Parameters: the cell's (Keras names: kernel, recurrent_kernel, bias).
    """

    def __init__(
        self,
        cell,
        *,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll=None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        zero_output_for_mask: bool = False,
        remat: bool = False,
        name=None,
    ):
        super().__init__(name=name)
        if isinstance(cell, (list, tuple)):
            cell = cell[0] if len(cell) == 1 else stack(cell)
        if not is_cell(cell):
            raise TypeError(
                f"cell: got {type(cell).__name__}, expected a jrnn cell (init, "
                f"initial_carry, __call__) or a list of cells"
            )
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        if not isinstance(unroll, bool):  # True: the whole sequence; False: None
            unroll = check_int("unroll", unroll, minimum=1, allow_none=True)
        self.unroll = unroll
        self.dropout = check_rate("dropout", dropout)
        self.recurrent_dropout = check_rate("recurrent_dropout", recurrent_dropout)
        if self.recurrent_dropout and not is_fusable(cell):
            raise ValueError(
                f"recurrent_dropout: got {recurrent_dropout} for {type(cell).__name__}, "
                f"which does not follow the fused-cell contract; supported for the "
                f"built-in LSTM, GRU (reset_after=True) and SimpleRNN cells"
            )
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.remat = bool(remat)
        self._carry_def = jax.tree.structure(cell.initial_carry(1))

    @property
    def num_outputs(self) -> int:
        return 1 + self._carry_def.num_leaves if self.return_state else 1

    def get_config(self) -> dict:
        """The layer arguments and the cell as {"class_name", "config"} (a user cell must
        be registered with `jrnn.saving.register_serializable`)."""
        args = {k: v for k, v in vars(self).items() if not k.startswith("_") and k != "cell"}
        return {"cell": serialize(self.cell), **{k: json_value(v, k) for k, v in args.items()}}

    @classmethod
    def from_config(cls, config: dict):
        if "cell" not in config:  # SimpleRNN, LSTM, GRU: flat Keras arguments
            return super().from_config(config)
        return cls(**{**config, "cell": deserialize(config["cell"])})

    @property
    def units(self) -> int:
        return self.cell.output_size

    def init(self, key, x):
        self.check_rank(x, (3,), _SEQUENCE)
        return self.cell.init(check_key("key", key), shape_dtype(x).shape[-1])

    def init_state(self, x):
        return self.cell.initial_carry(shape_dtype(x).shape[0]) if self.stateful else None

    def carry_from_list(self, initial_state, name="initial_state"):
        """A carry from Keras's flat state list (`[h, c]` for LSTM) or a carry pytree."""
        leaves = jax.tree.leaves(initial_state)
        if len(leaves) != self._carry_def.num_leaves:
            raise ValueError(
                f"{name}: got {len(leaves)} arrays, expected {self._carry_def.num_leaves} "
                f"(the flattened carry of {type(self.cell).__name__})"
            )
        return jax.tree.unflatten(self._carry_def, leaves)

    def check_carry_shapes(self, carry, x, name="initial_state") -> None:
        """Each array of `carry` shaped as the cell's zero carry for x's batch."""
        self.check_rank(x, (3,), _SEQUENCE)
        want = jax.eval_shape(lambda: self.cell.initial_carry(x.shape[0]))
        for i, (got, need) in enumerate(zip(jax.tree.leaves(carry), jax.tree.leaves(want))):
            if jnp.shape(got) != need.shape:
                raise shape_error(
                    f"{self.label}: {name}[{i}]",
                    jnp.shape(got),
                    f"{need.shape} for x's batch size {x.shape[0]} and {self.units} units",
                )

    def run(self, params, x, carry, mask, *, training, key, reverse):
        """Core: (final carry, outputs aligned with x, zero at masked steps)."""
        cell, params, x, options = self.engine_inputs(params, x, training=training, key=key)
        return recurrence.unroll(
            cell, params, x, carry=carry, mask=mask, reverse=reverse, **options
        )

    def engine_inputs(self, params, x, *, training, key):
        """What `run` hands the engine: (cell, params, x, options) with this layer's
        dropout applied (input dropout on x; recurrent dropout as a gate-masking cell)
        and options the engine's `unroll` and `remat` keywords."""
        self.check_rank(x, (3,), _SEQUENCE)
        x = as_float(jnp.asarray(x))
        need_key = training and (self.dropout > 0 or self.recurrent_dropout > 0)
        require_key(key, training, need_key, self.type_name)
        unroll = self.unroll
        if unroll is True:
            # The whole sequence; a symbolic length (jax.export) cannot be unrolled at
            # trace time, so the backend default runs it (the same results).
            unroll = None if is_symbolic_dim(x.shape[1]) else max(x.shape[1], 1)
        elif unroll is False:
            unroll = None
        options = dict(unroll=unroll, remat=self.remat)
        if not need_key:
            return self.cell, params, x, options
        kx, kh = jax.random.split(key)
        if not self.recurrent_dropout:
            # One input mask for all steps; the whole sequence is masked before the
            # engine, which keeps the fused fast path.
            keep = jax.random.bernoulli(kx, 1.0 - self.dropout, (x.shape[0], 1, x.shape[2]))
            x = jnp.where(keep, x / (1.0 - self.dropout), 0.0).astype(x.dtype)
            return self.cell, params, x, options
        g, b, h = self.cell.num_gates, x.shape[0], self.cell.units
        masks = {
            "x": _keep_mask(kx, self.dropout, (g, b, x.shape[2])),
            "h": _keep_mask(kh, self.recurrent_dropout, (g, b, h)),
        }
        # Not a FusedCell: the engine runs it on the plain scan path.
        return GateDropoutCell(self.cell), {"cell": params, "masks": masks}, x, options

    def call(
        self, params, x, *, state=None, mask=None, training=False, key=None, initial_state=None
    ):
        carry = state
        _check_state_batch(self.type_name, state, x)
        if initial_state is not None:
            carry = self.carry_from_list(initial_state)
            self.check_carry_shapes(carry, x)
        if carry is None:
            carry = self.cell.initial_carry(x.shape[0])
        final, ys = self.run(
            params, x, carry, mask, training=training, key=key, reverse=self.go_backwards
        )
        seq, last = keras_outputs(
            self.cell, ys, mask, carry, self.go_backwards, self.zero_output_for_mask
        )
        out = seq if self.return_sequences else last
        new_state = final if self.stateful else None
        if self.return_state:
            return (out, *jax.tree.leaves(final)), new_state
        return out, new_state

    def compute_mask(self, x, mask):
        out = mask if self.return_sequences else None
        if self.return_state:
            return (out,) + (None,) * self._carry_def.num_leaves
        return out

    def apply(self, params, x, *, mask=None, training=False, key=None, initial_state=None):
        return super().apply(
            params, x, mask=mask, training=training, key=key, initial_state=initial_state
        )

    def with_options(self, **changes) -> RNN:
        """A copy with some arguments changed (used by Bidirectional)."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__, **changes)
        return new

    # -- the layer-step protocol (see Layer): one step of the cell, carry explicit ------
    def step_error(self):
        if self.go_backwards:
            return "has go_backwards=True; expected a causal layer that reads steps in order"
        return None

    def step_init(self, params, batch_size):
        """The cell's zero carry (also for a stateful layer)."""
        return self.cell.initial_carry(batch_size)

    def step(self, params, carry, x_t, *, mask_t=None):
        """(carry, y_t) = cell(params, carry, x_t). At a masked step the carry is kept
        and the output repeats the previous one (zeros with zero_output_for_mask), as
        `call` does over a whole sequence."""
        new, y = self.cell(params, carry, as_float(jnp.asarray(x_t)))
        if mask_t is None:
            return new, y

        def keep(a, b):
            return jnp.where(
                jnp.reshape(mask_t, mask_t.shape + (1,) * (a.ndim - mask_t.ndim)), a, b
            )

        if self.zero_output_for_mask:
            y0 = jnp.zeros_like(y)
        else:
            y0 = initial_output(self.cell, carry).astype(y.dtype)
        return jax.tree.map(keep, new, carry), keep(y, y0)

    def step_input_size(self, params):
        size = expected_input_size(self.cell, params)
        if size is None:
            raise ValueError(
                f"{self.type_name}: its cell does not say its input size, so tokens cannot "
                f"be one-hot encoded for it; put an Embedding first"
            )
        return size

    def step_output_is_last(self):
        return not self.return_sequences

    @property
    def type_name(self) -> str:
        return "RNN" if type(self) is RNN else type(self).__name__


def _check_state_batch(layer: str, state, x) -> None:
    """A stateful layer's carried state fixes the batch size (as Keras)."""
    leaves = jax.tree.leaves(state)
    if leaves and jnp.ndim(leaves[0]) >= 1 and leaves[0].shape[0] != x.shape[0]:
        raise ValueError(
            f"x: got batch size {x.shape[0]}, expected {leaves[0].shape[0]}, the batch size "
            f"of the stateful {layer}'s carried state (a stateful layer needs the same "
            f"batch size in every call; init the model with the new batch size to change it)"
        )


def _keep_mask(key, rate, shape):
    keep = jax.random.bernoulli(key, 1.0 - rate, shape)
    return jnp.where(keep, 1.0 / (1.0 - rate), 0.0).astype(jnp.float32)


@dataclass(frozen=True)
class GateDropoutCell:
    """A fused cell with per-gate dropout masks on its input and on h (Keras's
    implementation 1): gate g sees `(x * mx[g]) @ kernel_g` and `(h * mh[g]) @
    recurrent_kernel_g`. params = {"cell": cell params, "masks": {"x": (G, B, I),
    "h": (G, B, H)}}; the masks are constants (no gradient)."""

    cell: Any

    def initial_carry(self, batch_size=None, dtype=jnp.float32):
        return self.cell.initial_carry(batch_size, dtype)

    def __call__(self, params, carry, x_t):
        cell, masks = self.cell, jax.tree.map(lax.stop_gradient, params["masks"])
        p = cell.fused_split(params["cell"])
        g, cdt = cell.num_gates, cell.compute_dtype
        h = cell.recurrent_input(carry)

        def gates(inp, m, w, b):
            blocks = jnp.split(w, g, axis=-1)
            bias = [None] * g if b is None else jnp.split(b, g, axis=-1)
            return tuple(
                add_bias(matmul(inp * m[k].astype(inp.dtype), blocks[k], cdt), bias[k])
                for k in range(g)
            )

        gx = gates(x_t, masks["x"], p["kernel"], p["input_bias"])
        gh = gates(h, masks["h"], p["recurrent_kernel"], p["recurrent_bias"])
        return cell.pointwise(p["pointwise"], gx, gh, carry)


def initial_output(cell, carry):
    """Keras's output before the first step (`states[0]`): h0 for the built-in cells."""
    if isinstance(cell, GateDropoutCell):  # a wrapper: the carry is its cell's
        cell = cell.cell
    return output_of_carry(cell, carry)


def keras_outputs(cell, ys, mask, carry0, reverse, zero_output_for_mask):
    """Keras's (sequence, last output) from the engine's aligned, zero-masked outputs.

    ys (B, T, H) aligned with the input; with `reverse` Keras returns the sequence in
    processing order, i.e. flipped. Masked steps repeat the previous output in
    processing order (h0 before the first valid step) unless `zero_output_for_mask`.
    """
    if reverse:
        ys = jnp.flip(ys, axis=1)
        mask = None if mask is None else jnp.flip(mask, axis=1)
    if mask is None:
        return ys, ys[:, -1]
    steps = jnp.arange(ys.shape[1])
    last_valid = lax.cummax(jnp.where(mask, steps, -1), axis=1)  # (B, T)
    filled = jnp.take_along_axis(ys, jnp.maximum(last_valid, 0)[..., None], axis=1)
    y0 = jnp.broadcast_to(initial_output(cell, carry0), filled[:, 0].shape).astype(ys.dtype)
    filled = jnp.where((last_valid >= 0)[..., None], filled, y0[:, None])
    return (ys if zero_output_for_mask else filled), filled[:, -1]


def _split_kwargs(kwargs: dict):
    layer_args = {
        k: kwargs.pop(k)
        for k in list(kwargs)
        if k
        in (
            "return_sequences",
            "return_state",
            "go_backwards",
            "stateful",
            "unroll",
            "dropout",
            "recurrent_dropout",
            "zero_output_for_mask",
            "remat",
            "name",
        )
    }
    return layer_args, kwargs


class _CellLayer(RNN):
    """A recurrent layer named after its cell (SimpleRNN, LSTM, GRU): its config is
    Keras's flat list of the cell's and the layer's arguments."""

    def get_config(self) -> dict:
        layer = super().get_config()
        del layer["cell"]
        return {**self.cell.get_config(), **layer}


class SimpleRNN(_CellLayer):
    """Keras `SimpleRNN(units, activation="tanh", ...)`: RNN(SimpleRNNCell(units, ...))
    over x (B, T, I).

    Args (all but `units` by keyword): units (H); the cell's activation, use_bias,
    initializers, dtype, param_dtype (`jrnn.SimpleRNNCell`); the layer's
    return_sequences, return_state (then `(output, h)`), go_backwards, stateful, unroll,
    dropout, recurrent_dropout, zero_output_for_mask, remat, name (`jrnn.layers.RNN`).
    """

    def __init__(self, units: int, **kwargs):
        layer_args, cell_args = _split_kwargs(kwargs)
        super().__init__(SimpleRNNCell(units, **cell_args), **layer_args)


class LSTM(_CellLayer):
    """Keras `LSTM(units, ...)`: RNN(LSTMCell(units, ...)) over x (B, T, I).

    Args (all but `units` by keyword):
      units: H, the size of h and c.
      activation="tanh", recurrent_activation="sigmoid", use_bias=True,
      unit_forget_bias=True, kernel_initializer="glorot_uniform",
      recurrent_initializer="orthogonal", bias_initializer="zeros", dtype=None (compute
      dtype, e.g. "bfloat16"), param_dtype="float32", forget_bias, cell_clip,
      use_peephole: the cell's (`jrnn.LSTMCell`, which gives the equations).
      return_sequences=False: the output at every step (B, T, H), else the last (B, H).
      return_state=False: also return the final state: `(output, h, c)`, h and c each
        (B, H) (`initial_state=[h, c]` takes the same list).
      go_backwards=False, stateful=False, unroll=None, dropout=0.0,
      recurrent_dropout=0.0, zero_output_for_mask=False, remat=False, name=None: as
      `jrnn.layers.RNN`.

    Parameters: kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,), gate blocks
    [i | f | c | o] (Keras's layout). Bool and integer inputs are cast to float32.

    Example:
      y = LSTM(32).apply(params, x)                               # (B, 32)
      seq, h, c = LSTM(32, return_sequences=True, return_state=True).apply(params, x)
    """

    def __init__(self, units: int, **kwargs):
        layer_args, cell_args = _split_kwargs(kwargs)
        super().__init__(LSTMCell(units, **cell_args), **layer_args)


class GRU(_CellLayer):
    """Keras `GRU(units, reset_after=True, ...)`: RNN(GRUCell(units, ...)) over x
    (B, T, I).

    Args (all but `units` by keyword): units (H); the cell's activation="tanh",
    recurrent_activation="sigmoid", use_bias=True, reset_after=True, initializers,
    dtype, param_dtype (`jrnn.GRUCell`); the layer's return_sequences, return_state
    (then `(output, h)`), go_backwards, stateful, unroll, dropout, recurrent_dropout,
    zero_output_for_mask, remat, name (`jrnn.layers.RNN`).
    """

    def __init__(self, units: int, **kwargs):
        layer_args, cell_args = _split_kwargs(kwargs)
        super().__init__(GRUCell(units, **cell_args), **layer_args)


class Bidirectional(Layer):
    """Keras `Bidirectional(layer, merge_mode="concat")`: a forward copy of the RNN layer
    and a backward one (go_backwards flipped, or `backward_layer`), outputs merged.

    Runs through `jrnn.recurrence.bidirectional_unroll`, the core `jrnn.bidirectional`
    pairs of cells share; both directions take the forward layer's `unroll` and `remat`
    (neither changes results).

    With `return_sequences` the backward outputs are aligned with the input positions
    and zero at masked steps (Keras forces `zero_output_for_mask` here). With
    `return_state` the outputs are `(merged, *forward_state, *backward_state)`, and
    `initial_state` takes the same list. merge_mode None returns the pair (fw, bw).
    Parameters {"forward": ..., "backward": ...}; state (forward carry, backward carry).
    """

    def __init__(
        self, layer: RNN, merge_mode: str | None = "concat", *, backward_layer=None, name=None
    ):
        super().__init__(name=name)
        if not isinstance(layer, RNN):
            raise TypeError(f"layer: got {type(layer).__name__}, expected a jrnn RNN layer")
        self.forward = layer
        self.backward = backward_layer or layer.with_options(go_backwards=not layer.go_backwards)
        if not isinstance(self.backward, RNN):
            raise TypeError(
                f"backward_layer: got {type(self.backward).__name__}, expected a jrnn RNN layer"
            )
        for attr in ("return_sequences", "return_state", "stateful"):
            if getattr(self.forward, attr) != getattr(self.backward, attr):
                raise ValueError(f"backward_layer: {attr} differs from the forward layer's")
        if self.forward.go_backwards == self.backward.go_backwards:
            # both would read the sequence in the same direction (Keras raises too)
            raise ValueError(
                f"backward_layer: got go_backwards={self.backward.go_backwards}, the same as "
                f"the forward layer's; expected the opposite direction"
            )
        check_merge_mode(merge_mode, self.forward.units, self.backward.units)
        self.merge_mode = merge_mode

    @property
    def return_sequences(self) -> bool:
        return self.forward.return_sequences

    def get_config(self) -> dict:
        return {
            "layer": serialize(self.forward),
            "merge_mode": self.merge_mode,
            "backward_layer": serialize(self.backward),
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict):
        config = dict(check_config("config", config, ("layer",)))
        backward = config.pop("backward_layer", None)
        return cls(
            deserialize(config.pop("layer")),
            backward_layer=None if backward is None else deserialize(backward),
            **config,
        )

    @property
    def num_outputs(self) -> int:
        n = 1 if self.merge_mode is not None else 2
        if self.forward.return_state:
            n += self.forward._carry_def.num_leaves + self.backward._carry_def.num_leaves
        return n

    @property
    def type_name(self) -> str:
        return "Bidirectional"

    def init(self, key, x):
        self.check_rank(x, (3,), _SEQUENCE)
        kf, kb = jax.random.split(check_key("key", key))
        return {"forward": self.forward.init(kf, x), "backward": self.backward.init(kb, x)}

    def init_state(self, x):
        if not self.forward.stateful:
            return None
        return (self.forward.init_state(x), self.backward.init_state(x))

    def call(
        self, params, x, *, state=None, mask=None, training=False, key=None, initial_state=None
    ):
        c_fw, c_bw = state if state is not None else (None, None)
        _check_state_batch(self.type_name, state, x)
        if initial_state is not None:
            leaves = jax.tree.leaves(initial_state)
            n_fw = self.forward._carry_def.num_leaves
            c_fw = self.forward.carry_from_list(leaves[:n_fw])
            c_bw = self.backward.carry_from_list(leaves[n_fw:])
            self.forward.check_carry_shapes(c_fw, x)
            self.backward.check_carry_shapes(c_bw, x, "initial_state (backward)")
        c_fw = self.forward.cell.initial_carry(x.shape[0]) if c_fw is None else c_fw
        c_bw = self.backward.cell.initial_carry(x.shape[0]) if c_bw is None else c_bw
        kf = kb = None
        if key is not None:
            kf, kb = jax.random.split(key)
        fw, bw = self.forward, self.backward
        cell_fw, p_fw, x_fw, options = fw.engine_inputs(
            params["forward"], x, training=training, key=kf
        )
        cell_bw, p_bw, x_bw, _ = bw.engine_inputs(params["backward"], x, training=training, key=kb)
        # Sequences come out aligned and zero at masked steps (Keras forces
        # zero_output_for_mask here), so they merge in the core; last outputs are picked
        # per direction first.
        finals, ys = recurrence.bidirectional_unroll(
            cell_fw,
            cell_bw,
            {"forward": p_fw, "backward": p_bw},
            (x_fw, x_bw),
            carry=(c_fw, c_bw),
            mask=mask,
            merge_mode=self.merge_mode if self.return_sequences else None,
            reverse=fw.go_backwards,
            **options,
        )
        if not self.return_sequences:
            y_fw = keras_outputs(fw.cell, ys[0], mask, c_fw, fw.go_backwards, True)[1]
            y_bw = keras_outputs(bw.cell, ys[1], mask, c_bw, bw.go_backwards, True)[1]
            ys = merge(self.merge_mode, y_fw, y_bw)
        out = ys if self.merge_mode is not None else tuple(ys)
        new_state = tuple(finals) if self.forward.stateful else None
        if self.forward.return_state:
            out = (out,) if self.merge_mode is not None else out
            return (*out, *jax.tree.leaves(finals[0]), *jax.tree.leaves(finals[1])), new_state
        return out, new_state

    def compute_mask(self, x, mask):
        out = mask if self.return_sequences else None
        outs = (out,) if self.merge_mode is not None else (out, out)
        if self.num_outputs == 1:
            return out
        return outs + (None,) * (self.num_outputs - len(outs))

    def apply(self, params, x, *, mask=None, training=False, key=None, initial_state=None):
        return super().apply(
            params, x, mask=mask, training=training, key=key, initial_state=initial_state
        )
