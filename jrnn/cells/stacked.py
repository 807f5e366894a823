"""A stack of cells is a cell (TF `MultiRNNCell`, Keras `StackedRNNCells`)."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from jrnn._serialize import deserialize, serialize
from jrnn.cells.base import Cell


@dataclass(frozen=True)
class StackedCell:
    """Cells applied in sequence within each time step; itself a cell.

    params = tuple of each cell's params; carry = tuple of each cell's carry;
    y_t = the last cell's output. Layer k+1 takes layer k's output as its input, so
    `unroll` may run the layers one after another over the whole sequence (same
    result, and each layer keeps its own fast path).

    Example:
      cell = jrnn.stack([jrnn.LSTMCell(64), jrnn.LSTMCell(64)])
      params = cell.init(key, 100)
      carry, ys = jrnn.unroll(cell, params, xs)     # carry: ((h1, c1), (h2, c2))
    """

    cells: tuple

    def __post_init__(self):
        object.__setattr__(self, "cells", tuple(self.cells))  # hashable: a jit static arg
        if len(self.cells) == 0:
            raise ValueError("cells: got an empty sequence, expected at least one cell")

    @property
    def units(self) -> int:
        return self.cells[-1].units

    @property
    def output_size(self) -> int:
        return self.cells[-1].output_size

    def init(self, key, input_size: int, dtype=None) -> tuple:
        params, size = [], input_size
        for cell, k in zip(self.cells, jax.random.split(key, len(self.cells))):
            params.append(cell.init(k, size, dtype) if dtype else cell.init(k, size))
            size = cell.output_size
        return tuple(params)

    def initial_carry(self, batch_size=None, dtype=jnp.float32) -> tuple:
        return tuple(c.initial_carry(batch_size, dtype) for c in self.cells)

    def __call__(self, params, carry, x_t):
        new_carry = []
        for cell, p, c in zip(self.cells, params, carry):
            c, x_t = cell(p, c, x_t)
            new_carry.append(c)
        return tuple(new_carry), x_t

    def expected_input_size(self, params) -> int | None:
        """Input width of the first cell's params, or None when it does not say."""
        first = self.cells[0]
        if isinstance(first, (Cell, StackedCell)):
            return first.expected_input_size(params[0])
        return None

    def get_config(self) -> dict:
        """{"cells": [{"class_name", "config"}, ...]}: plain JSON; user cells in the stack
        must be registered (`jrnn.saving.register_serializable`)."""
        return {"cells": [serialize(c) for c in self.cells]}

    @classmethod
    def from_config(cls, config: dict):
        return cls(tuple(deserialize(c) for c in config["cells"]))


def stack(cells) -> StackedCell:
    """Stack `cells` into one cell (layer by layer within each step)."""
    return StackedCell(tuple(cells))
