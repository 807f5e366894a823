"""A jrnn layer or model as a Flax NNX module: `NNXLayer`."""

from __future__ import annotations

import jax
from flax import nnx

from jrnn._checks import check_key
from jrnn.layers import Layer
from jrnn.models import Model


class LayerState(nnx.Variable):
    """A jrnn layer's state (a stateful RNN's carries): not a parameter, so
    `nnx.Optimizer(..., wrt=nnx.Param)` leaves it alone; `NNXLayer` updates it."""


def _is_variable(v) -> bool:
    return isinstance(v, nnx.Variable)


def _values(tree):
    return jax.tree.map(lambda v: v[...], tree, is_leaf=_is_variable)


class NNXLayer(nnx.Module):
    """A jrnn layer (or model) as an `nnx.Module` whose weights are `nnx.Param`s, so
    `nnx.Optimizer`, `nnx.grad` and `nnx.jit` train it inside a Flax NNX program.

      rnn = NNXLayer(jrnn.layers.LSTM(32, return_sequences=True), x, rngs=nnx.Rngs(0))
      y = rnn(x)                                  # x (B, T, I) -> y (B, T, 32)
      optimizer = nnx.Optimizer(rnn, optax.adam(1e-3), wrt=nnx.Param)

    Args:
      layer: a `jrnn.layers.Layer` or a `jrnn.Model` (`Sequential` or functional).
      x: an example input (an array or `jax.ShapeDtypeStruct`; only its shape and dtype
        are read), as for `layer.init(key, x)`; for a model, None when its inputs say.
      rngs: `nnx.Rngs`; the weights are drawn with `rngs.params()`.

    Attributes: `layer` (the jrnn layer, static), `params` (its params as a pytree of
    `nnx.Param`), `state` (a stateful layer's state as `LayerState` variables, or None).
    `jrnn_params()` returns the plain arrays, e.g. to save them or run the layer
    outside NNX (`layer.apply(rnn.jrnn_params(), x)`).
    """

    def __init__(self, layer, x=None, *, rngs: nnx.Rngs):
        if not isinstance(layer, (Layer, Model)):
            raise TypeError(
                f"layer: got {type(layer).__name__}, expected a jrnn layer (e.g. "
                f"jrnn.layers.LSTM(32)) or a jrnn Model"
            )
        if not isinstance(rngs, nnx.Rngs):
            raise TypeError(f"rngs: got {type(rngs).__name__}, expected flax.nnx.Rngs")
        if x is None and isinstance(layer, Layer):
            raise ValueError("x: got None, expected an example input for layer.init(key, x)")
        key = check_key("rngs.params()", rngs.params())
        self.layer = layer
        if isinstance(layer, Model):
            variables = layer.init(key, x)
            params, state = variables.get("params", {}), variables.get("state")
        else:
            params, state = layer.init(key, x), layer.init_state(x)
        self.params = nnx.data(jax.tree.map(nnx.Param, params))
        self.state = nnx.data(None if state is None else jax.tree.map(LayerState, state))

    def jrnn_params(self):
        """The layer's params as plain arrays (what `layer.apply` takes)."""
        return _values(self.params)

    def __call__(self, x, *, mask=None, training: bool = False, key=None):
        """The layer's output for x (a model's outputs). `mask` (B, T) bool is passed to
        a layer (a model reads its own masks); `training` and `key` (a PRNG key, needed
        for dropout while training) as in jrnn. A stateful layer's state is updated."""
        params = self.jrnn_params()
        state = None if self.state is None else _values(self.state)
        if isinstance(self.layer, Model):
            if mask is not None:
                raise ValueError(
                    "mask: got a mask for a jrnn Model, expected None (a model makes its "
                    "masks from its inputs, e.g. Embedding(mask_zero=True))"
                )
            variables = {"params": params, "state": {} if state is None else state}
            y, new_state = self.layer.apply(variables, x, training=training, key=key)
        else:
            self.layer.check_inputs(x)
            y, new_state = self.layer.call(
                params, x, state=state, mask=mask, training=training, key=key
            )
        if self.state is not None and new_state is not None:
            jax.tree.map(lambda v, a: v.set_value(a), self.state, new_state, is_leaf=_is_variable)
        return y
