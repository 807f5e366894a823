"""Feed-forward layers: Dense, Dropout, Embedding, Masking, TimeDistributed, RepeatVector,
Concatenate. Keras names, arguments and weight layouts."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jrnn import activations, initializers
from jrnn._checks import (
    check_config,
    check_int,
    check_key,
    check_positive_int,
    check_rate,
    is_concrete,
    shape_error,
)
from jrnn._ops import add_bias
from jrnn._serialize import deserialize, serialize
from jrnn.layers.base import Layer, as_float, require_key, shape_dtype


def dropout(key, x, rate: float, noise_shape=None):
    """Inverted dropout: zero each entry with probability `rate`, scale the rest by
    1 / (1 - rate). `noise_shape` broadcasts one draw over axes of size 1."""
    if rate == 0.0:
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, noise_shape or x.shape)
    return jnp.where(keep, x / (1.0 - rate), 0.0).astype(x.dtype)


class Dense(Layer):
    """y = activation(x @ kernel + bias) over the last axis; kernel (I, units), bias
    (units,). x (..., I) -> y (..., units): any leading axes (batch, time) are kept; the
    mask passes through. Bool and integer x are cast to the kernel's dtype (Keras)."""

    def __init__(
        self,
        units: int,
        activation=None,
        *,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        name=None,
    ):
        super().__init__(name=name)
        self.units = check_positive_int("units", units)
        self.activation = activation
        self._act = activations.get("linear" if activation is None else activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        initializers.get(kernel_initializer), initializers.get(bias_initializer)

    def init(self, key, x):
        self.check_rank(x, range(1, 64), "(..., features), at least one axis")
        size = shape_dtype(x).shape[-1]
        kk, kb = jax.random.split(check_key("key", key))
        params = {"kernel": initializers.get(self.kernel_initializer)(kk, (size, self.units))}
        if self.use_bias:
            params["bias"] = initializers.get(self.bias_initializer)(kb, (self.units,))
        return params

    def call(self, params, x, *, state=None, mask=None, training=False, key=None):
        return self._act(self._affine(params, x)), None

    def _affine(self, params, x):
        kernel = params["kernel"]
        x = as_float(jnp.asarray(x), kernel.dtype)
        rows = jnp.shape(kernel)[0]
        if x.ndim < 1 or x.shape[-1] != rows:
            raise shape_error(
                f"{self.label}: x", x.shape, f"(..., {rows}) to match its kernel {kernel.shape}"
            )
        y = jnp.matmul(x, kernel.astype(x.dtype))
        if self.use_bias:
            y = add_bias(y, params["bias"].astype(y.dtype))
        return y

    # the layer-step protocol (see Layer): each step on its own, no carry
    def step_error(self):
        return None

    def step(self, params, carry, x_t, *, mask_t=None):
        return None, self.call(params, x_t)[0]

    def step_logits(self, params, carry, x_t, *, mask_t=None):
        if self.activation in ("softmax", jax.nn.softmax):
            return None, jax.nn.log_softmax(self._affine(params, x_t), axis=-1)
        return self.step(params, carry, x_t, mask_t=mask_t)

    def step_input_size(self, params):
        return params["kernel"].shape[0]


class Dropout(Layer):
    """Inverted dropout while training (`training=True` with a `key`); identity otherwise.
    `noise_shape` as Keras: e.g. (None, 1, None) drops whole features for all steps."""

    def __init__(self, rate: float, noise_shape=None, *, name=None):
        super().__init__(name=name)
        self.rate = check_rate("rate", rate)
        if noise_shape is not None:
            if not isinstance(noise_shape, (tuple, list)):
                raise TypeError(
                    f"noise_shape: got {noise_shape!r}, expected None or a tuple of sizes "
                    f"(None for an axis of the input), e.g. (None, 1, None)"
                )
            noise_shape = tuple(
                None if d is None else check_int(f"noise_shape[{i}]", d, minimum=1)
                for i, d in enumerate(noise_shape)
            )
        self.noise_shape = noise_shape

    def call(self, params, x, *, state=None, mask=None, training=False, key=None):
        if not training or self.rate == 0.0:
            return x, None
        require_key(key, training, True, "Dropout")
        shape = None
        if self.noise_shape is not None:
            if len(self.noise_shape) != x.ndim:
                raise shape_error(
                    f"{self.label}: x", x.shape, f"rank {len(self.noise_shape)} like noise_shape"
                )
            shape = tuple(d if n is None else n for n, d in zip(self.noise_shape, x.shape))
        return dropout(key, x, self.rate, shape), None

    # the layer-step protocol (see Layer): decoding is inference, so the identity
    def step_error(self):
        return None

    def step(self, params, carry, x_t, *, mask_t=None):
        return None, x_t


class Embedding(Layer):
    """Token ids (..., T) int -> vectors (..., T, output_dim) from `embeddings`
    (input_dim, output_dim), initialised uniform in [-0.05, 0.05] like Keras.

    `mask_zero=True` makes id 0 padding: the mask (ids != 0) flows to the layers that
    follow, so RNN layers skip padded steps on either side. Ids outside [0, input_dim)
    raise a ValueError on the host (`check_inputs`, run by `apply`, models and `fit`);
    under `jit` they cannot be read, and the gather would clamp them silently.
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        *,
        mask_zero: bool = False,
        embeddings_initializer="random_uniform",
        name=None,
    ):
        super().__init__(name=name)
        self.input_dim = check_positive_int("input_dim", input_dim)
        self.output_dim = check_positive_int("output_dim", output_dim)
        self.mask_zero = bool(mask_zero)
        self.embeddings_initializer = embeddings_initializer
        initializers.get(embeddings_initializer)

    def init(self, key, x):
        self._check_ids_dtype(shape_dtype(x).dtype)
        init = initializers.get(self.embeddings_initializer)
        return {"embeddings": init(check_key("key", key), (self.input_dim, self.output_dim))}

    def _check_ids_dtype(self, dtype):
        if not jnp.issubdtype(dtype, jnp.integer):
            raise TypeError(f"{self.label}: x: got dtype {dtype}, expected integer token ids")

    def check_inputs(self, x) -> None:
        if not is_concrete(x):
            return
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.integer):
            raise TypeError(
                f"{self.name or 'embedding'}: got ids of dtype {x.dtype}, expected integers"
            )
        if x.size and (x.min() < 0 or x.max() >= self.input_dim):
            bad = x[(x < 0) | (x >= self.input_dim)].ravel()[0]
            raise ValueError(
                f"{self.name or 'embedding'}: got token id {bad}, expected ids in "
                f"[0, {self.input_dim}) (input_dim={self.input_dim})"
            )

    def call(self, params, x, *, state=None, mask=None, training=False, key=None):
        self._check_ids_dtype(jnp.result_type(x))
        return jnp.take(params["embeddings"], x, axis=0), None

    def compute_mask(self, x, mask):
        return jnp.not_equal(x, 0) if self.mask_zero else mask

    # the layer-step protocol (see Layer): token ids (B,) -> vectors (B, output_dim)
    def step_error(self):
        return None

    def step(self, params, carry, x_t, *, mask_t=None):
        return None, self.call(params, x_t)[0]

    def step_input_size(self, params):
        return None


class Masking(Layer):
    """Mark padding in float sequences: a step whose features all equal `mask_value` is
    masked for the layers that follow (and zeroed, as Keras does)."""

    def __init__(self, mask_value: float = 0.0, *, name=None):
        super().__init__(name=name)
        if isinstance(mask_value, bool) or not isinstance(mask_value, (int, float, np.number)):
            raise TypeError(
                f"mask_value: got {mask_value!r} of type {type(mask_value).__name__}, "
                f"expected a number"
            )
        self.mask_value = float(mask_value)

    def compute_mask(self, x, mask):
        return jnp.any(jnp.not_equal(x, self.mask_value), axis=-1)

    def call(self, params, x, *, state=None, mask=None, training=False, key=None):
        keep = self.compute_mask(x, mask)
        return x * keep[..., None].astype(x.dtype), None


class TimeDistributed(Layer):
    """Apply `layer` to every time step: (B, T, ...) -> (B, T, ...'). The inner layer
    sees (B*T, ...) and shares its weights over time; the mask passes through."""

    def __init__(self, layer: Layer, *, name=None):
        super().__init__(name=name)
        if not isinstance(layer, Layer):
            raise TypeError(f"layer: got {type(layer).__name__}, expected a jrnn layer")
        self.layer = layer

    def _fold(self, x):
        s = shape_dtype(x)
        self.check_rank(x, range(3, 64), "(batch, time, ...)")
        return jax.ShapeDtypeStruct((s.shape[0] * s.shape[1], *s.shape[2:]), s.dtype)

    def get_config(self) -> dict:
        return {"layer": serialize(self.layer), "name": self.name}

    @classmethod
    def from_config(cls, config: dict):
        check_config("config", config, ("layer",))
        return cls(deserialize(config["layer"]), name=config.get("name"))

    def init(self, key, x):
        return self.layer.init(key, self._fold(x))

    def check_inputs(self, x) -> None:
        self.layer.check_inputs(x)  # e.g. TimeDistributed(Embedding): ids in range

    def call(self, params, x, *, state=None, mask=None, training=False, key=None):
        self._fold(x)
        b, t = x.shape[:2]
        y, _ = self.layer.call(params, x.reshape(b * t, *x.shape[2:]), training=training, key=key)
        return y.reshape(b, t, *y.shape[1:]), None

    # the layer-step protocol (see Layer): the inner layer on the one step, no carry
    def step_error(self):
        return None

    def step(self, params, carry, x_t, *, mask_t=None):
        return None, self.layer.call(params, x_t)[0]

    def step_logits(self, params, carry, x_t, *, mask_t=None):
        if self.layer.step_error() is None and self.layer.step_init(params, 1) is None:
            return self.layer.step_logits(params, None, x_t)  # e.g. a softmax Dense
        return self.step(params, carry, x_t, mask_t=mask_t)

    def step_input_size(self, params):
        return self.layer.step_input_size(params)

    @property
    def type_name(self) -> str:
        return "TimeDistributed"  # as Keras's summary

    @property
    def default_name(self) -> str:
        return "time_distributed"


class RepeatVector(Layer):
    """(B, F) -> (B, n, F): repeat a vector n times (the decoder input of a seq2seq
    model without teacher forcing)."""

    def __init__(self, n: int, *, name=None):
        super().__init__(name=name)
        self.n = check_positive_int("n", n)

    def call(self, params, x, *, state=None, mask=None, training=False, key=None):
        self.check_rank(x, (2,), "(batch, features)")
        return jnp.repeat(x[:, None], self.n, axis=1), None

    def compute_mask(self, x, mask):
        return None


class Concatenate(Layer):
    """Concatenate a list of arrays along `axis` (e.g. a decoder output with attention)."""

    def __init__(self, axis: int = -1, *, name=None):
        super().__init__(name=name)
        self.axis = check_int("axis", axis)

    def call(self, params, x, *, state=None, mask=None, training=False, key=None):
        if not isinstance(x, (list, tuple)) or len(x) < 2:
            raise ValueError(f"x: got {type(x).__name__}, expected a list of >= 2 arrays")
        shapes = [tuple(jnp.shape(v)) for v in x]
        rank = len(shapes[0])
        if not -rank <= self.axis < rank:
            raise ValueError(f"axis: got {self.axis}, expected an axis of inputs of rank {rank}")
        axis = self.axis % rank
        drop = lambda s: s[:axis] + s[axis + 1 :]
        for i, shape in enumerate(shapes[1:], start=1):
            if len(shape) != rank or drop(shape) != drop(shapes[0]):
                raise shape_error(
                    f"{self.label}: x[{i}]",
                    shape,
                    f"x[0]'s shape {shapes[0]} except on axis {self.axis}",
                )
        return jnp.concatenate(list(x), axis=self.axis), None

    def compute_mask(self, x, mask):
        # As Keras: each input's mask is broadcast over its features (all True for an
        # input without a mask), the masks are concatenated like the inputs, and a
        # position is valid where any of its features is. Along the feature axis a step
        # is valid where it is valid in any input; along the time axis the masks are
        # concatenated.
        if mask is None or all(m is None for m in mask):
            return None
        masks = []
        for xi, mi in zip(x, mask):
            shape = jnp.shape(xi)
            if mi is None:
                mi = jnp.ones(shape, bool)
            elif mi.ndim < len(shape):
                mi = jnp.broadcast_to(jnp.reshape(mi, mi.shape + (1,)), shape)
            masks.append(mi)
        return jnp.any(jnp.concatenate(masks, axis=self.axis), axis=-1)
