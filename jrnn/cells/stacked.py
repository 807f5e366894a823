"""A stack of cells is a cell (TF `MultiRNNCell`, Keras `StackedRNNCells`)."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from jrnn._checks import check_config, check_key
from jrnn._serialize import deserialize, serialize
from jrnn.cells.base import Cell, initial_carry_of, static_pytree


@static_pytree
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
        for i, cell in enumerate(self.cells):
            _check_cell(f"cells[{i}]", cell)

    @property
    def units(self) -> int:
        return self.cells[-1].units

    @property
    def output_size(self) -> int:
        return self.cells[-1].output_size

    def init(self, key, input_size: int, dtype=None) -> tuple:
        check_key("key", key)
        params, size = [], input_size
        for cell, k in zip(self.cells, jax.random.split(key, len(self.cells))):
            params.append(cell.init(k, size, dtype) if dtype else cell.init(k, size))
            size = output_size_of(cell, params[-1], size)
        return tuple(params)

    def initial_carry(self, batch_size=None, dtype=None) -> tuple:
        """Each layer's zero carry; `dtype` None leaves each layer its own state dtype
        (and a user cell's `initial_carry` need not take one)."""
        return tuple(initial_carry_of(c, batch_size, dtype) for c in self.cells)

    def __call__(self, params, carry, x_t):
        check_per_layer("params", params, len(self.cells))
        check_per_layer("carry", carry, len(self.cells))
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
        cells = check_config("config", config, ("cells",))["cells"]
        if not isinstance(cells, (list, tuple)):
            raise TypeError(f"config['cells']: got {type(cells).__name__}, expected a list")
        return cls(tuple(deserialize(c) for c in cells))


def output_size_of(cell, params, input_size: int) -> int:
    """The width of `cell`'s output: its `output_size`, or, for a cell that only has
    init / initial_carry / __call__, the last axis of one step's output found with
    `jax.eval_shape` (nothing runs)."""
    size = getattr(cell, "output_size", None)
    if size is not None:
        return size
    carry = cell.initial_carry(1)
    x = jax.ShapeDtypeStruct((1, input_size), jnp.float32)
    return jax.eval_shape(lambda c, x_t: cell(params, c, x_t)[1], carry, x).shape[-1]


def stack(cells) -> StackedCell:
    """Stack `cells` into one cell (layer by layer within each step)."""
    if not isinstance(cells, (list, tuple)):
        raise TypeError(f"cells: got {type(cells).__name__}, expected a list of cells")
    return StackedCell(tuple(cells))


def check_per_layer(name: str, value, count: int) -> None:
    """`value` a tuple (or list) of one entry per layer of a stack of `count`: params or
    carries of the wrong number would otherwise be zipped short, silently."""
    if not isinstance(value, (tuple, list)):
        raise TypeError(
            f"{name}: got {type(value).__name__}, expected a tuple of {count} entries, one "
            f"per layer of the stack"
        )
    if len(value) != count:
        raise ValueError(
            f"{name}: got {len(value)} entries, expected {count}, one per layer of the stack"
        )


def _check_cell(name: str, cell) -> None:
    from jrnn.cells._protocol import is_cell  # the protocol module imports this one

    if not is_cell(cell):
        raise TypeError(
            f"{name}: got {cell!r} of type {type(cell).__name__}, expected a cell (init, "
            f"initial_carry, __call__), e.g. jrnn.LSTMCell(32)"
        )
