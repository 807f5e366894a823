"""Bidirectional RNNs from cells: a forward and a backward cell over the same sequences.

These hold hyperparameters and make parameters and carries; `jrnn.unroll` runs them
(the engine, above this package, owns every loop over time):

    bi = jrnn.bidirectional(jrnn.LSTMCell(32), jrnn.LSTMCell(32))
    params = bi.init(key, 16)
    (c_fw, c_bw), ys = jrnn.unroll(bi, params, xs, lengths=lengths)   # ys (B, T, 64)

The Keras-style layer a model uses is `jrnn.layers.Bidirectional`; both run through the
one core, `jrnn.recurrence.bidirectional_unroll`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from jrnn._checks import check_choice, check_config, check_key
from jrnn._serialize import deserialize, serialize
from jrnn.cells.base import initial_carry_of, static_pytree
from jrnn.cells.stacked import _check_cell

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def merge(merge_mode, y_fw, y_bw):
    """Combine the two directions' outputs as Keras `Bidirectional(merge_mode=...)`:
    y_fw (..., H_fw), y_bw (..., H_bw) -> (..., H_fw + H_bw) for "concat", (..., H) for
    "sum"/"mul"/"ave", the pair (y_fw, y_bw) for None."""
    check_choice("merge_mode", merge_mode, MERGE_MODES)
    fw, bw = jnp.shape(y_fw), jnp.shape(y_bw)
    same = fw[:-1] == bw[:-1] if merge_mode == "concat" else fw == bw
    if merge_mode is not None and (len(fw) != len(bw) or not same):
        what = "equal shapes but the last axis" if merge_mode == "concat" else "equal shapes"
        raise ValueError(
            f"y_bw: got shape {bw} with y_fw of shape {fw}, expected {what} for "
            f"merge_mode={merge_mode!r}"
        )
    if merge_mode is not None and jnp.result_type(y_fw) != jnp.result_type(y_bw):
        # Directions of different precisions (a bfloat16 and a float32 cell) merge in
        # the wider dtype; explicit, so it also holds under strict dtype promotion.
        wide = max(jnp.result_type(y_fw), jnp.result_type(y_bw), key=lambda d: d.itemsize)
        y_fw, y_bw = y_fw.astype(wide), y_bw.astype(wide)
    if merge_mode == "concat":
        return jnp.concatenate([y_fw, y_bw], axis=-1)
    if merge_mode == "sum":
        return y_fw + y_bw
    if merge_mode == "mul":
        return y_fw * y_bw
    if merge_mode == "ave":
        return (y_fw + y_bw) / 2
    return y_fw, y_bw


def check_merge_mode(merge_mode, forward_size: int, backward_size: int) -> None:
    """A known merge mode, and equal output widths for the elementwise ones."""
    check_choice("merge_mode", merge_mode, MERGE_MODES)
    if merge_mode in ("sum", "mul", "ave") and forward_size != backward_size:
        raise ValueError(
            f"merge_mode: got {merge_mode!r} with output sizes {forward_size} and "
            f"{backward_size}, expected equal sizes (or 'concat')"
        )


@static_pytree
@dataclass(frozen=True)
class BidirectionalCells:
    """A forward and a backward cell: `jrnn.unroll` runs `forward` over each sequence in
    order and `backward` over its valid steps in reverse, then merges the outputs, which
    stay aligned with the input positions.

    With `lengths` or `mask` the backward cell starts at each sequence's last valid step
    (not at the padding), so padded batches give the same result as unpadded sequences.

    params = {"forward": ..., "backward": ...}; carry = (forward_carry, backward_carry).

    Run: `carry, ys = jrnn.unroll(bi, params, xs, carry=None, lengths=None, mask=None,
    ...)`; ys (B, T, merged width), or a (fw, bw) pair of (B, T, H) when
    `merge_mode=None`. The backward carry is its state after position 0.
    """

    forward: Any
    backward: Any
    merge_mode: str | None = "concat"

    def __post_init__(self):
        _check_cell("forward", self.forward)
        _check_cell("backward", self.backward)
        check_merge_mode(self.merge_mode, self.forward.output_size, self.backward.output_size)

    @property
    def output_size(self) -> int:
        if self.merge_mode == "concat":
            return self.forward.output_size + self.backward.output_size
        return self.forward.output_size

    def init(self, key, input_size: int) -> dict:
        """{"forward": params, "backward": params} for inputs of width `input_size`."""
        kf, kb = jax.random.split(check_key("key", key))
        return {
            "forward": self.forward.init(kf, input_size),
            "backward": self.backward.init(kb, input_size),
        }

    def initial_carry(self, batch_size=None, dtype=None):
        """(forward carry, backward carry), zeros."""
        return (
            initial_carry_of(self.forward, batch_size, dtype),
            initial_carry_of(self.backward, batch_size, dtype),
        )

    def get_config(self) -> dict:
        """Plain JSON: both cells as {"class_name", "config"} and the merge mode."""
        return {
            "forward": serialize(self.forward),
            "backward": serialize(self.backward),
            "merge_mode": self.merge_mode,
        }

    @classmethod
    def from_config(cls, config: dict):
        check_config("config", config, ("forward", "backward"))
        return cls(
            deserialize(config["forward"]),
            deserialize(config["backward"]),
            config.get("merge_mode", "concat"),
        )


@static_pytree
@dataclass(frozen=True)
class StackedBidirectional:
    """Bidirectional layers where each layer's merged outputs feed the next (TF
    `stack_bidirectional_dynamic_rnn`); run with `jrnn.unroll`. params and carry are
    tuples, one per layer."""

    layers: tuple

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))  # hashable: a jit static arg
        if not self.layers:
            raise ValueError("layers: got an empty sequence, expected at least one layer")
        for k, layer in enumerate(self.layers):
            if not isinstance(layer, BidirectionalCells):
                raise TypeError(
                    f"layers[{k}]: got {type(layer).__name__}, expected a BidirectionalCells "
                    f"(jrnn.bidirectional(forward_cell, backward_cell))"
                )
        for k, layer in enumerate(self.layers[:-1]):
            if layer.merge_mode is None:
                raise ValueError(
                    f"merge_mode: got None for layer {k}, expected a merge mode "
                    f"(only the last layer may return the two directions)"
                )

    @property
    def output_size(self) -> int:
        return self.layers[-1].output_size

    def init(self, key, input_size: int) -> tuple:
        check_key("key", key)
        params = []
        for layer, k in zip(self.layers, jax.random.split(key, len(self.layers))):
            params.append(layer.init(k, input_size))
            input_size = layer.output_size
        return tuple(params)

    def initial_carry(self, batch_size=None, dtype=None):
        return tuple(initial_carry_of(layer, batch_size, dtype) for layer in self.layers)

    def get_config(self) -> dict:
        """Plain JSON: {"layers": [BidirectionalCells configs]}."""
        return {"layers": [serialize(layer) for layer in self.layers]}

    @classmethod
    def from_config(cls, config: dict):
        layers = check_config("config", config, ("layers",))["layers"]
        if not isinstance(layers, (list, tuple)):
            raise TypeError(f"config['layers']: got {type(layers).__name__}, expected a list")
        return cls(tuple(deserialize(layer) for layer in layers))


def bidirectional(forward, backward, merge_mode="concat") -> BidirectionalCells:
    """A bidirectional RNN from two cells, run with `jrnn.unroll` (see
    `BidirectionalCells`)."""
    return BidirectionalCells(forward, backward, merge_mode)


def stack_bidirectional(forward_cells, backward_cells, merge_mode="concat"):
    """Stacked bidirectional RNN: layer k runs forward_cells[k] and backward_cells[k]
    (see `StackedBidirectional`)."""
    forward_cells, backward_cells = list(forward_cells), list(backward_cells)
    if len(forward_cells) != len(backward_cells) or not forward_cells:
        raise ValueError(
            f"backward_cells: got {len(backward_cells)} cells for {len(forward_cells)} "
            f"forward cells, expected the same non-zero number"
        )
    return StackedBidirectional(
        tuple(BidirectionalCells(f, b, merge_mode) for f, b in zip(forward_cells, backward_cells))
    )
