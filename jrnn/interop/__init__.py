"""Other JAX libraries' recurrent cells in jrnn, and jrnn layers in Flax NNX.

- `FlaxCell(linen_cell)`, `NNXCell(nnx_cell)`, `EquinoxCell(eqx_cell)`: a Flax linen,
  Flax NNX or Equinox cell as a jrnn cell (`init`, `initial_carry`, `__call__`), so
  `jrnn.unroll` runs it with lengths, masks and `reverse`, and `jrnn.stack`,
  `jrnn.bidirectional` and `jrnn.layers.RNN` take it. LSTM carries are jrnn's (h, c)
  in all three (Flax's own order is (c, h)).
- `NNXLayer(layer, x, rngs=...)`: a jrnn layer as an `nnx.Module`, its weights
  `nnx.Param`s, for `nnx.Optimizer` and `nnx.grad`.

To load Flax weights into jrnn's own cells instead (their fast path), see
`jrnn.from_flax`. Importing this module imports Flax; Equinox is imported only when an
`EquinoxCell` is built.
"""

from jrnn.interop._equinox import EquinoxCell
from jrnn.interop._flax import FlaxCell, NNXCell
from jrnn.interop._nnx_layer import NNXLayer

__all__ = ["EquinoxCell", "FlaxCell", "NNXCell", "NNXLayer"]
