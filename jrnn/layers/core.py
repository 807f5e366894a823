"""Feed-forward layers: Dense, Dropout, Embedding, Masking, TimeDistributed, RepeatVector,
Concatenate. Keras names, arguments and weight layouts."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jrnn import activations, initializers
from jrnn._checks import check_positive_int, check_rate, is_concrete
from jrnn._ops import add_bias
from jrnn._serialize import deserialize, serialize
from jrnn.layers.base import Layer, require_key, shape_dtype


def dropout(key, x, rate: float, noise_shape=None):
    """Inverted dropout: zero each entry with probability `rate`, scale the rest by
    1 / (1 - rate). `noise_shape` broadcasts one draw over axes of size 1."""
    if rate == 0.0:
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, noise_shape or x.shape)
    return jnp.where(keep, x / (1.0 - rate), 0.0).astype(x.dtype)


class Dense(Layer):
    """y = activation(x @ kernel + bias) over the last axis; kernel (I, units), bias
    (units,). Any leading axes (batch, time) are kept; the mask passes through."""

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
        size = shape_dtype(x).shape[-1]
        kk, kb = jax.random.split(key)
        params = {"kernel": initializers.get(self.kernel_initializer)(kk, (size, self.units))}
        if self.use_bias:
            params["bias"] = initializers.get(self.bias_initializer)(kb, (self.units,))
        return params

    def call(self, params, x, *, state=None, mask=None, training=False, key=None):
        return self._act(self._affine(params, x)), None

    def _affine(self, params, x):
        y = jnp.matmul(x, params["kernel"].astype(x.dtype))
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
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)

    def call(self, params, x, *, state=None, mask=None, training=False, key=None):
        if not training or self.rate == 0.0:
            return x, None
        require_key(key, training, True, "Dropout")
        shape = None
        if self.noise_shape is not None:
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
        init = initializers.get(self.embeddings_initializer)
        return {"embeddings": init(key, (self.input_dim, self.output_dim))}

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

    @staticmethod
    def _fold(x):
        s = shape_dtype(x)
        if len(s.shape) < 3:
            raise ValueError(f"x: got shape {s.shape}, expected (batch, time, ...)")
        return jax.ShapeDtypeStruct((s.shape[0] * s.shape[1], *s.shape[2:]), s.dtype)

    def get_config(self) -> dict:
        return {"layer": serialize(self.layer), "name": self.name}

    @classmethod
    def from_config(cls, config: dict):
        return cls(deserialize(config["layer"]), name=config.get("name"))

    def init(self, key, x):
        return self.layer.init(key, self._fold(x))

    def check_inputs(self, x) -> None:
        self.layer.check_inputs(x)  # e.g. TimeDistributed(Embedding): ids in range

    def call(self, params, x, *, state=None, mask=None, training=False, key=None):
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
        return jnp.repeat(x[:, None], self.n, axis=1), None

    def compute_mask(self, x, mask):
        return None


class Concatenate(Layer):
    """Concatenate a list of arrays along `axis` (e.g. a decoder output with attention)."""

    def __init__(self, axis: int = -1, *, name=None):
        super().__init__(name=name)
        self.axis = int(axis)

    def call(self, params, x, *, state=None, mask=None, training=False, key=None):
        if not isinstance(x, (list, tuple)) or len(x) < 2:
            raise ValueError(f"x: got {type(x).__name__}, expected a list of >= 2 arrays")
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
