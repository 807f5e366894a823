"""Bidirectional RNNs: a forward and a backward cell over the same padded batch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from jrnn._checks import check_choice
from jrnn.recurrence import unroll

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def merge(merge_mode, y_fw, y_bw):
    """Combine the two directions' outputs as Keras `Bidirectional(merge_mode=...)`."""
    if merge_mode == "concat":
        return jnp.concatenate([y_fw, y_bw], axis=-1)
    if merge_mode == "sum":
        return y_fw + y_bw
    if merge_mode == "mul":
        return y_fw * y_bw
    if merge_mode == "ave":
        return (y_fw + y_bw) / 2
    return y_fw, y_bw


@dataclass(frozen=True)
class Bidirectional:
    """Run `forward` over each sequence in order and `backward` over its valid steps in
    reverse, then merge the outputs, which stay aligned with the input positions.

    With `lengths` or `mask` the backward cell starts at each sequence's last valid step
    (not at the padding), so padded batches give the same result as unpadded sequences.

    params = {"forward": ..., "backward": ...}; carry = (forward_carry, backward_carry).

    Call: `carry, ys = bi(params, xs, carry=None, lengths=None, mask=None, ...)` with the
    same arguments as `jrnn.unroll`; ys (B, T, merged width), or a (fw, bw) pair of
    (B, T, H) when `merge_mode=None`. The backward carry is its state after position 0.
    """

    forward: Any
    backward: Any
    merge_mode: str | None = "concat"

    def __post_init__(self):
        check_choice("merge_mode", self.merge_mode, MERGE_MODES)
        if self.merge_mode in ("sum", "mul", "ave") and (
            self.forward.output_size != self.backward.output_size
        ):
            raise ValueError(
                f"merge_mode: got {self.merge_mode!r} with output sizes "
                f"{self.forward.output_size} and {self.backward.output_size}, expected equal "
                f"sizes (or 'concat')"
            )

    @property
    def output_size(self) -> int:
        if self.merge_mode == "concat":
            return self.forward.output_size + self.backward.output_size
        return self.forward.output_size

    def init(self, key, input_size: int) -> dict:
        kf, kb = jax.random.split(key)
        return {
            "forward": self.forward.init(kf, input_size),
            "backward": self.backward.init(kb, input_size),
        }

    def initial_carry(self, batch_size=None, dtype=jnp.float32):
        return (
            self.forward.initial_carry(batch_size, dtype),
            self.backward.initial_carry(batch_size, dtype),
        )

    def __call__(
        self,
        params,
        xs,
        carry=None,
        *,
        lengths=None,
        mask=None,
        time_major=False,
        unroll=None,
        remat=False,
    ):
        c_fw, c_bw = (None, None) if carry is None else carry
        kw = dict(lengths=lengths, mask=mask, time_major=time_major, unroll=unroll, remat=remat)
        c_fw, y_fw = _unroll(self.forward, params["forward"], xs, carry=c_fw, **kw)
        c_bw, y_bw = _unroll(self.backward, params["backward"], xs, carry=c_bw, reverse=True, **kw)
        return (c_fw, c_bw), merge(self.merge_mode, y_fw, y_bw)


_unroll = unroll  # `__call__` takes an argument named `unroll`.


@dataclass(frozen=True)
class StackedBidirectional:
    """Bidirectional layers where each layer's merged outputs feed the next (TF
    `stack_bidirectional_dynamic_rnn`). params and carry are tuples, one per layer."""

    layers: tuple

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))  # hashable: a jit static arg
        if not self.layers:
            raise ValueError("layers: got an empty sequence, expected at least one layer")
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
        params = []
        for layer, k in zip(self.layers, jax.random.split(key, len(self.layers))):
            params.append(layer.init(k, input_size))
            input_size = layer.output_size
        return tuple(params)

    def initial_carry(self, batch_size=None, dtype=jnp.float32):
        return tuple(layer.initial_carry(batch_size, dtype) for layer in self.layers)

    def __call__(self, params, xs, carry=None, **kw):
        carry = (None,) * len(self.layers) if carry is None else carry
        out = []
        for layer, p, c in zip(self.layers, params, carry):
            c, xs = layer(p, xs, c, **kw)
            out.append(c)
        return tuple(out), xs


def bidirectional(forward, backward, merge_mode="concat") -> Bidirectional:
    """A bidirectional RNN from two cells (see `Bidirectional`)."""
    return Bidirectional(forward, backward, merge_mode)


def stack_bidirectional(forward_cells, backward_cells, merge_mode="concat"):
    """Stacked bidirectional RNN: layer k runs forward_cells[k] and backward_cells[k]."""
    forward_cells, backward_cells = list(forward_cells), list(backward_cells)
    if len(forward_cells) != len(backward_cells) or not forward_cells:
        raise ValueError(
            f"backward_cells: got {len(backward_cells)} cells for {len(forward_cells)} "
            f"forward cells, expected the same non-zero number"
        )
    return StackedBidirectional(
        tuple(Bidirectional(f, b, merge_mode) for f, b in zip(forward_cells, backward_cells))
    )
