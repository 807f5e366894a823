"""Flax cells as jrnn cells: `FlaxCell` (linen) and `NNXCell` (NNX).

Flax is a dependency of jrnn, so it is imported here at the top; `jrnn.interop` itself
is imported only when used, which keeps `import jrnn` from paying for Flax.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import nnx

from jrnn._checks import check_key, check_positive_int
from jrnn.cells.base import static_pytree
from jrnn.interop._common import (
    check_carry_structure,
    check_params_structure,
    check_step_input,
    describe,
    swap_pair,
    zeros_like_carry,
)

# The Flax cells whose carry is (c, h): the adapters show it as jrnn's (h, c).
_LINEN_LSTMS = (nn.LSTMCell, nn.OptimizedLSTMCell)
_NNX_LSTMS = (nnx.LSTMCell, nnx.OptimizedLSTMCell)
# The input-side Dense of Flax's linen cells: its kernel's rows are the input size I.
_LINEN_INPUT_DENSE = (
    (_LINEN_LSTMS, "ii"),
    (nn.GRUCell, "ir"),
    (nn.SimpleCell, "i"),
    (nn.MGUCell, "if"),
)


def _feature_axes(module) -> int:
    try:
        return module.num_feature_axes
    except NotImplementedError:  # a user RNNCellBase that does not say: vectors
        return 1


def _check_vector_cell(name, module, kind) -> None:
    axes = _feature_axes(module)
    if axes != 1:
        raise ValueError(
            f"{name}: got {type(module).__name__} with num_feature_axes={axes}, expected a "
            f"cell over feature vectors (1 feature axis; jrnn.unroll reads xs (B, T, I)), "
            f"not a convolutional {kind} cell"
        )


@static_pytree
@dataclass(frozen=True)
class FlaxCell:
    """A Flax linen RNN cell (`nn.LSTMCell`, `nn.OptimizedLSTMCell`, `nn.GRUCell`,
    `nn.SimpleCell`, `nn.MGUCell` or any `nn.RNNCellBase` over feature vectors) as a
    jrnn cell, so `jrnn.unroll` runs it with lengths, masks, `reverse`, and it goes into
    `jrnn.stack`, `jrnn.bidirectional` and `jrnn.layers.RNN`.

      cell = FlaxCell(nn.LSTMCell(64))
      params = cell.init(key, 16)            # Flax's variables: {"params": {...}}
      carry = cell.initial_carry(8)          # (h, c), each (8, 64): zeros
      carry, y = cell(params, carry, x_t)    # x_t (8, 16) -> y (8, 64)

    params are the variables `module.init(key, carry, x)` returns, unchanged, so
    `module.apply(params, carry, x)` and Flax's `nn.RNN(module)` (whose variables hold
    them under `["params"]["cell"]`) read the same weights.

    Carry order: Flax's LSTM cells carry (c, h); this adapter takes and returns jrnn's
    (h, c), as `jrnn.LSTMCell` does, so a carry moves between the two cells unchanged
    and `jrnn.layers.RNN(..., return_state=True)` gives (output, h, c). Other cells'
    carries are the module's own. The initial carry is zeros (the module's `carry_init`
    is not used: pass `carry=` to `jrnn.unroll` for another start).

    Args:
      module: an unbound Flax linen RNN cell (as constructed, not inside another
        module's `setup`).
    """

    module: Any

    def __post_init__(self):
        m = self.module
        if not (isinstance(m, nn.Module) and hasattr(m, "initialize_carry")):
            raise TypeError(
                f"module: got {describe(m)}, expected a Flax linen RNN "
                f"cell (an nn.RNNCellBase such as nn.LSTMCell(64)); for NNX cells use "
                f"NNXCell, for Equinox cells EquinoxCell"
            )
        if getattr(m, "scope", None) is not None:
            raise ValueError(
                f"module: got a bound {type(m).__name__} (inside another module), expected "
                f"an unbound cell as constructed, e.g. nn.LSTMCell(64)"
            )
        _check_vector_cell("module", m, "ConvLSTM")
        try:
            hash(m)
        except TypeError as e:
            # jit treats the cell as a static argument, which must hash.
            raise TypeError(
                f"module: got a {type(m).__name__} that cannot be hashed ({e}), expected a "
                f"cell whose fields are hashable (tuples, not lists)"
            ) from None

    @property
    def _swap(self) -> bool:
        return isinstance(self.module, _LINEN_LSTMS)

    @property
    def output_size(self) -> int | None:
        """H, the module's `features` (None when it has none: found by shape)."""
        return getattr(self.module, "features", None)

    def init(self, key, input_size: int) -> dict:
        """Flax's variables for inputs of width I = `input_size`: {"params": {...}}."""
        key = check_key("key", key)
        input_size = check_positive_int("input_size", input_size)
        carry = self._flax_carry(self.initial_carry(1))
        return self.module.init(key, carry, jnp.zeros((1, input_size), jnp.float32))

    def initial_carry(self, batch_size=None, dtype=None):
        """Zeros of the module's carry for `batch_size` (an int B, a tuple of batch
        axes, or None for unbatched), each leaf (*B, H); (h, c) for the LSTM cells.
        dtype: default the module's `param_dtype` (Flax's)."""
        m = self.module
        carry = zeros_like_carry(
            lambda batch: m.initialize_carry(jax.random.key(0), batch + (1,)), batch_size, dtype
        )
        return swap_pair(carry) if self._swap else carry

    def _carry_shapes(self, batch):
        # Shapes only: a check at trace time should not put zeros into the program.
        return jax.eval_shape(lambda: self.initial_carry(batch))

    def expected_input_size(self, params) -> int | None:
        """I, the rows of the input-side kernel for Flax's own cells (else None)."""
        for classes, name in _LINEN_INPUT_DENSE:
            if isinstance(self.module, classes):
                try:
                    return jnp.shape(params["params"][name]["kernel"])[0]
                except (KeyError, TypeError, IndexError):
                    return None
        return None

    def __call__(self, params, carry, x_t):
        """One step: x_t (*B, I) -> (new carry, y_t (*B, H)), carries in jrnn's order."""
        if not (isinstance(params, Mapping) and "params" in params):
            got = sorted(params) if isinstance(params, Mapping) else type(params).__name__
            raise TypeError(
                f"params: got {got}, expected Flax's variables {{'params': ...}} as from "
                f"FlaxCell.init (or module.init)"
            )
        x_t = check_step_input(x_t, self.expected_input_size(params), "the params")
        check_carry_structure(carry, self._carry_shapes(x_t.shape[:-1]), "FlaxCell")
        new, y = self.module.apply(params, self._flax_carry(carry), x_t)
        return self._flax_carry(new), y

    def _flax_carry(self, carry):
        # The swap is its own inverse: jrnn -> Flax and Flax -> jrnn are one function.
        return swap_pair(carry) if self._swap else carry


@static_pytree
@dataclass(frozen=True, eq=False)
class NNXCell:
    """A Flax NNX RNN cell (`nnx.LSTMCell`, `nnx.OptimizedLSTMCell`, `nnx.GRUCell`,
    `nnx.SimpleCell` or any `nnx.RNNCellBase` over feature vectors) as a jrnn cell,
    for `jrnn.unroll` (lengths, masks, reverse), `jrnn.stack`, `jrnn.bidirectional` and
    `jrnn.layers.RNN`.

      cell = NNXCell(nnx.LSTMCell(16, 64, rngs=nnx.Rngs(0)))
      params = cell.init(key, 16)            # the module's nnx.State (a pytree)
      carry = cell.initial_carry(8)          # (h, c), each (8, 64): zeros
      carry, y = cell(params, carry, x_t)    # x_t (8, 16) -> y (8, 64)

    The module is split once (`nnx.split`): its graph definition is the cell's static
    part (two cells are equal when their modules' structures and settings are), and
    params are its state. Each step runs `nnx.merge(graphdef, params)(carry, x_t)`.
    An NNX module is built with its weights, so `init` returns the wrapped module's
    weights as they were when wrapped, whatever the key (`init` checks `input_size`
    against the module's `in_features`); train them as any jrnn params.

    Carry order: NNX's LSTM cells carry (c, h); this adapter takes and returns jrnn's
    (h, c), as `jrnn.LSTMCell` does. Other cells' carries are the module's own. The
    initial carry is zeros.

    Args:
      module: an NNX RNN cell, e.g. `nnx.GRUCell(16, 64, rngs=nnx.Rngs(0))`.
    """

    module: Any

    def __post_init__(self):
        m = self.module
        if not (isinstance(m, nnx.Module) and hasattr(m, "initialize_carry")):
            raise TypeError(
                f"module: got {describe(m)}, expected a Flax NNX RNN "
                f"cell (an nnx.RNNCellBase such as nnx.LSTMCell(16, 64, rngs=nnx.Rngs(0))); "
                f"for linen cells use FlaxCell, for Equinox cells EquinoxCell"
            )
        _check_vector_cell("module", m, "NNX")
        graphdef, state = nnx.split(m)
        # A copy of the state's tree: later in-place updates of the module (an
        # nnx.Optimizer) do not change what init returns.
        object.__setattr__(self, "_graphdef", graphdef)
        object.__setattr__(self, "_state", jax.tree.map(lambda a: a, state))

    def __eq__(self, other):
        return type(other) is type(self) and self._graphdef == other._graphdef

    def __hash__(self):
        return hash((type(self), self._graphdef))

    def __repr__(self):
        return f"NNXCell({type(self.module).__name__}, output_size={self.output_size})"

    @property
    def _swap(self) -> bool:
        return isinstance(self.module, _NNX_LSTMS)

    @property
    def output_size(self) -> int | None:
        """H, the module's `hidden_features` (None when it has none: found by shape)."""
        return getattr(self.module, "hidden_features", None)

    def init(self, key, input_size: int):
        """The wrapped module's state (`nnx.split`), for inputs of width `input_size`."""
        check_key("key", key)
        input_size = check_positive_int("input_size", input_size)
        want = getattr(self.module, "in_features", None)
        if want is not None and input_size != want:
            raise ValueError(
                f"input_size: got {input_size}, expected {want}, the in_features the NNX "
                f"module was built with"
            )
        return jax.tree.map(lambda a: a, self._state)  # new Variables: the caller's own

    def initial_carry(self, batch_size=None, dtype=None):
        """Zeros of the module's carry for `batch_size` (an int B, a tuple of batch
        axes, or None for unbatched); (h, c) for the LSTM cells. dtype: default the
        module's `param_dtype`."""
        gd, state = self._graphdef, self._state

        def make(batch):
            module = nnx.merge(gd, state)
            return module.initialize_carry(batch + (1,), rngs=nnx.Rngs(0))

        carry = zeros_like_carry(make, batch_size, dtype)
        return swap_pair(carry) if self._swap else carry

    def _carry_shapes(self, batch):
        # Shapes only: a check at trace time should not put zeros into the program.
        return jax.eval_shape(lambda: self.initial_carry(batch))

    def expected_input_size(self, params=None) -> int | None:
        """I, the module's `in_features` (None when it has none)."""
        return getattr(self.module, "in_features", None)

    def __call__(self, params, carry, x_t):
        """One step: x_t (*B, I) -> (new carry, y_t (*B, H)), carries in jrnn's order."""
        check_params_structure(params, self._state, "NNXCell")
        x_t = check_step_input(x_t, self.expected_input_size(), "the module's in_features")
        check_carry_structure(carry, self._carry_shapes(x_t.shape[:-1]), "NNXCell")
        module = nnx.merge(self._graphdef, params)
        if self._swap:
            new, y = module(swap_pair(carry), x_t)
            return swap_pair(new), y
        return module(carry, x_t)
