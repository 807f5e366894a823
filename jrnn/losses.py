"""Losses with Keras 3 semantics, built on `optax.losses`; pure and jit-able.

A loss is a frozen dataclass of hyperparameters (hashable, so it can be a static `jax.jit`
argument) with two pure methods:

- `per_example(y_true, y_pred)`: the unreduced loss (Keras `reduction=None`), shape
  `y_pred.shape[:-1]`: the mean over the last axis for binary crossentropy, MSE and MAE,
  the cross entropy over the class axis for categorical and sparse categorical.
- `__call__(y_true, y_pred, sample_weight=None, mask=None)`: a float32 scalar, Keras's
  `"sum_over_batch_size"` reduction (see `reduce_weighted`).

Everything is computed in float32, also for bf16 predictions. Probabilities are clipped to
`[1e-7, 1 - 1e-7]` like Keras; with `from_logits=True` the optax log-sigmoid/log-softmax
forms are used instead.

Example::

    loss_fn = jrnn.losses.get("sparse_categorical_crossentropy")
    loss = loss_fn(labels, probs, mask=lengths_mask)   # labels (B, T), probs (B, T, C)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jrnn._checks import check_bool
from jrnn._shapes import as_f32, broadcast_left, match_elementwise

__all__ = [
    "AdaptiveSoftmaxLoss",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "HeadLoss",
    "Loss",
    "LossFunction",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "NCELoss",
    "SampledSoftmaxLoss",
    "SparseCategoricalCrossentropy",
    "get",
    "nce_loss",
    "reduce_weighted",
    "sampled_softmax_loss",
]

EPSILON = 1e-7  # keras.backend.epsilon()


def reduce_weighted(values, sample_weight=None, mask=None) -> jnp.ndarray:
    """Keras 3 `"sum_over_batch_size"` reduction of per-example values, as float32.

    Without a mask: `sum(values * sample_weight) / values.size` (the denominator is the
    number of entries, not the sum of the weights). With a mask (Keras `apply_mask`): the
    valid entries get weight `total / valid` and the others 0, so the result is
    `sum(values * sample_weight over valid entries) / valid`: the mean over the unmasked
    entries. When every entry is masked the result is 0, not NaN.

    Args:
      values: per-example values, any shape S, e.g. (B,) or (B, T).
      sample_weight: None, a scalar, or an array whose shape matches the leading axes of
        S ((B,) weights for (B, T) values weigh every step of a row). Unlike Keras 3, whose
        right-aligned broadcast fails on (B,) weights with (B, T) losses.
      mask: None or a bool array matching the leading axes of S, e.g. (B, T) for sequence
        outputs or (B,) for padding rows. Masked entries never contribute, even when their
        value is inf or NaN.

    Returns:
      A float32 scalar.
    """
    values = as_f32(_numeric("values", values))
    shape = tuple(values.shape)
    if sample_weight is not None:
        values = values * as_f32(broadcast_left(sample_weight, shape, "sample_weight"))
    total = max(values.size, 1)  # Keras: divide_no_nan, so an empty batch gives 0
    if mask is None:
        return jnp.sum(values) / total
    valid_mask = broadcast_left(mask, shape, "mask").astype(bool)
    valid = jnp.sum(valid_mask, dtype=jnp.float32)
    mask_weight = jnp.where(valid > 0, total / jnp.maximum(valid, 1.0), 0.0)
    return jnp.sum(jnp.where(valid_mask, values * mask_weight, 0.0)) / total


def _numeric(name: str, x):
    """`x` if it is a number or an array of numbers (NumPy, JAX, traced), else TypeError
    naming `name` (JAX's own error names neither the argument nor the loss)."""
    try:
        dtype = x.dtype if isinstance(x, jax.Array) else np.asarray(x).dtype  # tracers too
    except (TypeError, ValueError):  # ragged lists
        dtype = None
    if dtype is None or not (jnp.issubdtype(dtype, jnp.number) or jnp.issubdtype(dtype, jnp.bool_)):
        raise TypeError(f"{name}: got {type(x).__name__} {x!r:.60}, expected an array of numbers")
    return x


def _check_label_smoothing(name: str, label_smoothing: float) -> None:
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{name}: got label_smoothing={label_smoothing!r}, expected [0, 1]")


class Loss:
    """Base of the losses: subclasses define `per_example`; the reduction is shared."""

    name: ClassVar[str] = "loss"

    def per_example(self, y_true, y_pred) -> jnp.ndarray:
        raise NotImplementedError

    def __call__(self, y_true, y_pred, sample_weight=None, mask=None) -> jnp.ndarray:
        """The scalar loss: `reduce_weighted(self.per_example(y_true, y_pred), ...)`."""
        return reduce_weighted(self.per_example(y_true, y_pred), sample_weight, mask)


class HeadLoss(Loss):
    """Base of the losses that train a model's output layer (its "head") without computing
    its full output: sampled softmax, NCE and the adaptive softmax.

    In training, `fit` stops the model before the head (the last layer of an output trained
    with a HeadLoss) and calls `head_per_example(y_true, features, layer, params, key)`:
    features are the head's input (..., H), `layer` the head layer (one of `head_layers`),
    `params` its parameters, `key` a PRNG key for the step. `per_example(y_true, y_pred)`,
    on the head's full output, is the loss `evaluate` (and validation) reports, as
    TensorFlow's tutorials evaluate sampled models with the full softmax.
    """

    head_layers: ClassVar[tuple[type, ...]] = ()

    def check_head(self, layer, what: str) -> None:
        """Raise a ValueError unless `layer` (the layer producing the output, None for a
        model input) is one this loss can train; `what` names the output."""
        if not isinstance(layer, self.head_layers):
            kinds = " or ".join(t.__name__ for t in self.head_layers)
            got = "a model input" if layer is None else f"a {type(layer).__name__} layer"
            raise ValueError(
                f"loss: {type(self).__name__} trains {what}'s last layer from its input, so "
                f"that output must come from a {kinds} layer; it comes from {got}"
            )

    def head_per_example(self, y_true, features, layer, params, key) -> jnp.ndarray:
        raise NotImplementedError


@dataclass(frozen=True)
class BinaryCrossentropy(Loss):
    """Binary crossentropy, averaged over the last axis (Keras `binary_crossentropy`).

    `y ← y(1 − ls) + 0.5·ls`; with probabilities `p = clip(y_pred, ε, 1 − ε)`:
    `−[y·log p + (1 − y)·log(1 − p)]`; with logits
    `−y·log σ(z) − (1 − y)·log σ(−z)` (`optax.losses.sigmoid_binary_cross_entropy`).

    Shapes: y_pred (..., K) and y_true (..., K); (B,) labels with (B, 1) predictions are
    expanded like Keras. Returns (...,).
    """

    from_logits: bool = False
    label_smoothing: float = 0.0
    name: ClassVar[str] = "binary_crossentropy"

    def __post_init__(self):
        check_bool("from_logits", self.from_logits)
        _check_label_smoothing(self.name, self.label_smoothing)

    def per_example(self, y_true, y_pred) -> jnp.ndarray:
        y_true, y_pred = match_elementwise(as_f32(y_true), as_f32(y_pred), self.name)
        if self.label_smoothing:
            y_true = y_true * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        if self.from_logits:
            ce = optax.losses.sigmoid_binary_cross_entropy(y_pred, y_true)
        else:
            p = jnp.clip(y_pred, EPSILON, 1.0 - EPSILON)
            ce = -(y_true * jnp.log(p) + (1.0 - y_true) * jnp.log(1.0 - p))
        return jnp.mean(ce, axis=-1)


@dataclass(frozen=True)
class CategoricalCrossentropy(Loss):
    """Categorical crossentropy over the last (class) axis, one-hot or soft labels.

    `y ← y(1 − ls) + ls/C`; with probabilities Keras renormalizes and clips,
    `p = clip(y_pred / Σ y_pred, ε, 1 − ε)`, `−Σ y·log p`; with logits
    `−Σ y·log_softmax(z)` (`optax.losses.softmax_cross_entropy`).

    Shapes: y_true and y_pred (..., C). Returns (...,).
    """

    from_logits: bool = False
    label_smoothing: float = 0.0
    name: ClassVar[str] = "categorical_crossentropy"

    def __post_init__(self):
        check_bool("from_logits", self.from_logits)
        _check_label_smoothing(self.name, self.label_smoothing)

    def per_example(self, y_true, y_pred) -> jnp.ndarray:
        y_true, y_pred = as_f32(y_true), as_f32(y_pred)
        if y_true.shape != y_pred.shape:
            raise ValueError(
                f"{self.name}: got y_true shape {tuple(y_true.shape)} and y_pred shape "
                f"{tuple(y_pred.shape)}, expected equal shapes (..., num_classes); for "
                "integer labels use sparse_categorical_crossentropy"
            )
        if self.label_smoothing:
            num_classes = y_pred.shape[-1]
            y_true = y_true * (1.0 - self.label_smoothing) + self.label_smoothing / num_classes
        if self.from_logits:
            return optax.losses.softmax_cross_entropy(y_pred, y_true)
        p = y_pred / jnp.sum(y_pred, axis=-1, keepdims=True)
        p = jnp.clip(p, EPSILON, 1.0 - EPSILON)
        return -jnp.sum(y_true * jnp.log(p), axis=-1)


@dataclass(frozen=True)
class SparseCategoricalCrossentropy(Loss):
    """Categorical crossentropy with integer labels.

    With logits `logsumexp(z) − z[y]` (`optax.losses.softmax_cross_entropy_with_integer_labels`);
    with probabilities `−log clip(p[y] / Σ p, ε, 1 − ε)` like Keras.

    Shapes: y_pred (..., C); y_true (...) or (..., 1), integer (floats are truncated, as in
    Keras). Returns (...,). A label ≥ C gives NaN (Keras silently gives 0) and a negative
    one wraps around; not refused here, since a masked step may hold any pad id (`fit`
    checks the labels of the steps that count on the host).
    """

    from_logits: bool = False
    name: ClassVar[str] = "sparse_categorical_crossentropy"

    def __post_init__(self):
        check_bool("from_logits", self.from_logits)

    def per_example(self, y_true, y_pred) -> jnp.ndarray:
        y_true, y_pred = jnp.asarray(y_true), as_f32(y_pred)
        if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
            y_true = y_true[..., 0]
        if y_pred.ndim < 1 or y_true.shape != y_pred.shape[:-1]:
            raise ValueError(
                f"{self.name}: got y_true shape {tuple(y_true.shape)} and y_pred shape "
                f"{tuple(y_pred.shape)}, expected y_true shape y_pred.shape[:-1] = "
                f"{tuple(y_pred.shape[:-1])} (or with a trailing 1)"
            )
        labels = y_true.astype(jnp.int32)
        if self.from_logits:
            return optax.losses.softmax_cross_entropy_with_integer_labels(y_pred, labels)
        p = y_pred / jnp.sum(y_pred, axis=-1, keepdims=True)
        log_p = jnp.log(jnp.clip(p, EPSILON, 1.0 - EPSILON))
        return -jnp.take_along_axis(log_p, labels[..., None], axis=-1)[..., 0]


@dataclass(frozen=True)
class MeanSquaredError(Loss):
    """`mean((y_pred − y_true)², axis=-1)` (`optax.losses.squared_error`).

    Shapes: y_true and y_pred (..., K) (a trailing 1 on either is matched like Keras).
    Returns (...,).
    """

    name: ClassVar[str] = "mean_squared_error"

    def per_example(self, y_true, y_pred) -> jnp.ndarray:
        y_true, y_pred = match_elementwise(as_f32(y_true), as_f32(y_pred), self.name)
        return jnp.mean(optax.losses.squared_error(y_pred, y_true), axis=-1)


@dataclass(frozen=True)
class MeanAbsoluteError(Loss):
    """`mean(|y_pred − y_true|, axis=-1)`.

    Shapes: y_true and y_pred (..., K) (a trailing 1 on either is matched like Keras).
    Returns (...,).
    """

    name: ClassVar[str] = "mean_absolute_error"

    def per_example(self, y_true, y_pred) -> jnp.ndarray:
        y_true, y_pred = match_elementwise(as_f32(y_true), as_f32(y_pred), self.name)
        return jnp.mean(jnp.abs(y_pred - y_true), axis=-1)


@dataclass(frozen=True)
class LossFunction(Loss):
    """A plain `fn(y_true, y_pred) -> per-example losses` with the Keras reduction.

    `fn` gets the arrays as given (floating predictions cast to float32); its output is
    cast to float32.
    """

    fn: Callable
    name: str = ""

    def __post_init__(self):
        if not callable(self.fn):
            raise TypeError(
                f"fn: got {type(self.fn).__name__}, expected a function "
                f"fn(y_true, y_pred) -> per-example losses"
            )
        if not isinstance(self.name, str):
            raise TypeError(f"name: got {type(self.name).__name__}, expected a string")
        if not self.name:
            object.__setattr__(self, "name", getattr(self.fn, "__name__", "loss"))

    def per_example(self, y_true, y_pred) -> jnp.ndarray:
        y_pred = jnp.asarray(y_pred)
        if jnp.issubdtype(y_pred.dtype, jnp.floating):
            y_pred = y_pred.astype(jnp.float32)
        return as_f32(_numeric(f"loss {self.name!r}'s result", self.fn(y_true, y_pred)))


_BY_NAME: dict[str, type[Loss]] = {
    "binary_crossentropy": BinaryCrossentropy,
    "BinaryCrossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "CategoricalCrossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "SparseCategoricalCrossentropy": SparseCategoricalCrossentropy,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "MeanSquaredError": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "MeanAbsoluteError": MeanAbsoluteError,
}


def get(identifier) -> Loss:
    """Resolve a loss: a Keras name, a `Loss` instance or class, or a per-example callable.

    Example::

        get("mse")                           # MeanSquaredError()
        get(BinaryCrossentropy(from_logits=True))   # returned as is
        get(lambda y, p: jnp.mean(jnp.abs(y - p) ** 3, axis=-1))   # LossFunction

    Raises:
      ValueError: for an unknown name. TypeError: for anything else that is not callable.
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, str):
        try:
            return _BY_NAME[identifier]()
        except KeyError:
            raise ValueError(
                f"loss: got {identifier!r}, expected one of {sorted(_BY_NAME)}, a "
                "jrnn.losses.Loss or a callable fn(y_true, y_pred) -> per-example losses"
            ) from None
    if callable(identifier):
        return LossFunction(identifier)
    raise TypeError(
        f"loss: got {identifier!r} of type {type(identifier).__name__}, expected a name "
        f"(one of {sorted(_BY_NAME)}), a jrnn.losses.Loss or a callable"
    )


# The losses that train an output layer from its input (HeadLoss). Imported last: they
# import HeadLoss from here, and the layers they train.
from jrnn._head_losses import AdaptiveSoftmaxLoss, NCELoss, SampledSoftmaxLoss  # noqa: E402
from jrnn._sampled_softmax import nce_loss, sampled_softmax_loss  # noqa: E402
