"""Activation and Lambda: a function applied to a layer's input, as Keras."""

from __future__ import annotations

import inspect

from jrnn import activations
from jrnn._serialize import json_value, resolve_function
from jrnn.layers.base import Layer


class Activation(Layer):
    """y = activation(x) elementwise (softmax over the last axis): any jrnn activation
    name ('relu', 'tanh', 'softmax', ...) or a function. The mask passes through, and
    the layer runs one time step at a time."""

    def __init__(self, activation, *, name=None):
        super().__init__(name=name)
        self._act = activations.get(activation)
        self.activation = activation

    def call(self, params, x, *, state=None, mask=None, training=False, key=None):
        return self._act(x), None

    # the layer-step protocol (see Layer): each step on its own, no carry
    def step_error(self):
        return None

    def step(self, params, carry, x_t, *, mask_t=None):
        return None, self._act(x_t)


def _function_config_name(function) -> str:
    try:
        return json_value(function, "function")
    except TypeError:
        what = getattr(function, "__qualname__", type(function).__name__)
        kind = "a lambda" if what.endswith("<lambda>") else "a function"
        if "<locals>" in what:
            kind += " defined inside another function"
        raise TypeError(
            f"Lambda: cannot save its function {what!r} ({kind}, not registered): a config "
            f"names functions, it cannot hold code; define the function at module level and "
            f"decorate it with @jrnn.saving.register_serializable(), then import its module "
            f"before loading"
        ) from None


class Lambda(Layer):
    """y = function(x, **arguments): wrap a function of arrays (or of a list of arrays)
    as a layer without weights, as Keras's Lambda.

    The function also receives `mask=` and `training=` when its signature names them.
    `output_shape` (without the batch axis; None for any size) is optional: the output
    shape is known by tracing; when given, outputs are checked against it.

    The output mask is None, as Keras's Lambda without `mask`: the function may change
    the time axis, so the input's mask cannot be assumed to still fit.

    Saving: a config names the function, it cannot hold code. jrnn activations
    (`jnp.tanh`, `jax.nn.relu`, ...) and functions registered with
    `@jrnn.saving.register_serializable()` are saved by name; for a lambda, a closure
    or an unregistered function `get_config` raises a TypeError saying so.
    """

    def __init__(self, function, output_shape=None, arguments=None, *, name=None):
        super().__init__(name=name)
        if not callable(function):
            raise TypeError(
                f"function: got {function!r} of type {type(function).__name__}, expected a callable"
            )
        if output_shape is not None:
            try:
                output_shape = tuple(None if d is None else int(d) for d in output_shape)
            except TypeError:
                raise TypeError(
                    f"output_shape: got {output_shape!r}, expected None or a tuple of ints "
                    f"(or None) without the batch axis"
                ) from None
        if arguments is not None and not isinstance(arguments, dict):
            raise TypeError(
                f"arguments: got {type(arguments).__name__}, expected None or a dict of "
                f"keyword arguments for the function"
            )
        self.function = function
        self.output_shape = output_shape
        self.arguments = dict(arguments or {})
        try:
            params = inspect.signature(function).parameters
        except (TypeError, ValueError):  # some builtins have no signature
            params = {}
        self._takes = {k for k in ("mask", "training") if k in params}

    def call(self, params, x, *, state=None, mask=None, training=False, key=None):
        extra = {"mask": mask, "training": training}
        y = self.function(x, **self.arguments, **{k: extra[k] for k in self._takes})
        if self.output_shape is not None:
            got = tuple(getattr(y, "shape", ()))[1:]
            if len(got) != len(self.output_shape) or any(
                w is not None and g != w for g, w in zip(got, self.output_shape)
            ):
                raise ValueError(
                    f"{self.name or 'lambda'}: the function returned shape "
                    f"{tuple(getattr(y, 'shape', ()))}, expected (batch, "
                    f"{', '.join('None' if d is None else str(d) for d in self.output_shape)})"
                    f" from output_shape={self.output_shape}"
                )
        return y, None

    def compute_mask(self, x, mask):
        return None

    def get_config(self) -> dict:
        return {
            "function": _function_config_name(self.function),
            "output_shape": json_value(self.output_shape, "output_shape"),
            "arguments": json_value(self.arguments, "arguments"),
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict) -> Lambda:
        config = dict(config)
        fn = resolve_function(config.pop("function"))
        if isinstance(fn, str):  # a jrnn activation's name
            if fn not in activations.ACTIVATIONS:
                names = sorted(k for k in activations.ACTIVATIONS if k is not None)
                raise ValueError(
                    f"function: got {fn!r}, expected a registered function's "
                    f"'package>name' or a jrnn activation name {names}"
                )
            fn = activations.ACTIVATIONS[fn]
        return cls(fn, **config)
