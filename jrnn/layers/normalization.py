"""LayerNormalization, with Keras's arguments, weight names and arithmetic."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jrnn import initializers
from jrnn.layers.base import Layer, shape_dtype


def _axes(axis) -> int | list[int]:
    if isinstance(axis, bool):
        raise TypeError(f"axis: got {axis!r}, expected an int or a list of ints")
    if isinstance(axis, int):
        return axis
    if (
        isinstance(axis, (list, tuple))
        and axis
        and all(isinstance(a, int) and not isinstance(a, bool) for a in axis)
    ):
        return list(axis)
    raise TypeError(f"axis: got {axis!r}, expected an int or a non-empty list of ints")


class LayerNormalization(Layer):
    """Normalise each example over `axis` (the features by default), as Keras:

        mean, var = moments(x, axis)
        y = (x - mean) / sqrt(var + epsilon) * gamma + beta

    gamma (`scale=True`, initialised to ones) and beta (`center=True`, zeros) have the
    shape of the normalised axes of x, e.g. (F,) for x (B, T, F) and axis=-1. Statistics
    are computed in float32 (or wider) and the result is cast back to x's dtype. The mask
    passes through; with axis=-1 the layer also runs one time step at a time.

    Example:
      ln = LayerNormalization()
      params = ln.init(key, x)             # {"gamma": (F,), "beta": (F,)}
      y = ln.apply(params, x)              # x: (B, T, F) -> (B, T, F)
    """

    def __init__(
        self,
        axis=-1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        *,
        name=None,
    ):
        super().__init__(name=name)
        self.axis = _axes(axis)
        if isinstance(epsilon, bool) or not (isinstance(epsilon, (int, float)) and epsilon > 0):
            raise ValueError(f"epsilon: got {epsilon!r}, expected a number > 0")
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = beta_initializer
        self.gamma_initializer = gamma_initializer
        initializers.get(beta_initializer), initializers.get(gamma_initializer)

    def _resolved_axes(self, ndim: int) -> list[int]:
        axes = [self.axis] if isinstance(self.axis, int) else self.axis
        if any(not -ndim <= a < ndim for a in axes) or any(a % ndim == 0 for a in axes):
            raise ValueError(
                f"axis: got {self.axis!r} for an input of rank {ndim}, expected axes in "
                f"[1, {ndim}) or [-{ndim - 1}, -1] (not the batch axis)"
            )
        resolved = sorted(a % ndim for a in axes)
        if len(set(resolved)) != len(resolved):
            raise ValueError(f"axis: got {self.axis!r}, which names an axis twice")
        return resolved

    def init(self, key, x):
        s = shape_dtype(x).shape
        shape = tuple(s[a] for a in self._resolved_axes(len(s)))
        kg, kb = jax.random.split(key)
        params = {}
        if self.scale:
            params["gamma"] = initializers.get(self.gamma_initializer)(kg, shape)
        if self.center:
            params["beta"] = initializers.get(self.beta_initializer)(kb, shape)
        return params

    def call(self, params, x, *, state=None, mask=None, training=False, key=None):
        axes = self._resolved_axes(x.ndim)
        xf = x.astype(jnp.result_type(x.dtype, jnp.float32))
        # gamma and beta are laid out over the normalised axes only: broadcast them back
        shape = [x.shape[a] if a in axes else 1 for a in range(x.ndim)]
        mean = jnp.mean(xf, axis=axes, keepdims=True)
        var = jnp.var(xf, axis=axes, keepdims=True)
        # Keras's order of operations (x * inv + (beta - mean * inv)), for equal results
        inv = jax.lax.rsqrt(var + self.epsilon)
        if self.scale:
            inv = inv * params["gamma"].astype(xf.dtype).reshape(shape)
        shift = -mean * inv
        if self.center:
            shift = shift + params["beta"].astype(xf.dtype).reshape(shape)
        return (xf * inv + shift).astype(x.dtype), None

    # the layer-step protocol (see Layer): normalising the features of one step alone
    def step_error(self):
        if self.axis in (-1, [-1]):
            return None
        return (
            f"cannot run one time step with axis={self.axis!r}: only axis=-1 (the features) "
            f"normalises each step on its own"
        )

    def step(self, params, carry, x_t, *, mask_t=None):
        if self.step_error() is not None:
            raise NotImplementedError(f"{self.type_name}: {self.step_error()}")
        return None, self.call(params, x_t)[0]

    def step_input_size(self, params):
        leaf = params.get("gamma", params.get("beta"))
        if leaf is None:
            return super().step_input_size(params)
        return leaf.shape[0]
