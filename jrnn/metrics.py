"""Functional streaming metrics with Keras 3 semantics, for fit/evaluate.

A metric is a frozen dataclass (hashable, a valid static `jax.jit` argument) with a `name`
(the Keras history key) and a pure `update(y_true, y_pred, sample_weight=None, mask=None)
-> (total, count)`: two float32 scalars that the training loop sums over batches; the
metric's value is `result(total, count) = total / count`. This is the `keras.metrics.Mean`
bookkeeping of Keras's metric wrappers:

- each sample's value is the mean over its non-batch axes (for a sequence output, the
  mean over its time steps);
- `total += Σ_b w_b·value_b`, `count += Σ_b w_b` (w = 1 without sample weights), so the
  result is the sample-weighted mean over every sample seen;
- with a (B, T) mask, every sample counts its valid fraction of steps, so the result is the
  mean over the unmasked time steps of a batch (Keras: the mask becomes the sample weight).

Example::

    metric = jrnn.metrics.get("accuracy", loss="sparse_categorical_crossentropy")
    total, count = 0.0, 0.0
    for y, p in batches:
        t, c = metric.update(y, p)
        total, count = total + t, count + c
    history[metric.name] = float(jrnn.metrics.result(total, count))
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import jax.numpy as jnp
import numpy as np

from jrnn import losses as _losses
from jrnn._shapes import as_f32, broadcast_left, match_elementwise

__all__ = [
    "AutoAccuracy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "Metric",
    "MetricFunction",
    "SparseCategoricalAccuracy",
    "get",
    "result",
    "weighted_total_and_count",
]


def _numbers(name: str, x):
    """`x` as float32, refusing what is not numbers (a str would fail inside JAX)."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        dtype = np.asarray(x).dtype
    if not (jnp.issubdtype(dtype, jnp.number) or jnp.issubdtype(dtype, jnp.bool_)):
        raise TypeError(f"{name}: got {x!r} of dtype {dtype}, expected numbers")
    return as_f32(x)


def _check_name(name) -> None:
    if not isinstance(name, str):
        raise TypeError(f"name: got {name!r} of type {type(name).__name__}, expected a str")
    if not name:
        raise ValueError("name: got '', expected a non-empty str (the history key)")


def result(total, count) -> jnp.ndarray:
    """`total / count` as float32, 0 when `count` is 0 (Keras `divide_no_nan`); `total`
    and `count` have one shape (scalars, as `update` returns them)."""
    total, count = _numbers("total", total), _numbers("count", count)
    if total.shape != count.shape:
        raise ValueError(f"count: got shape {count.shape}, expected {total.shape} like total")
    return jnp.where(count != 0, total / jnp.where(count != 0, count, 1.0), 0.0)


def weighted_total_and_count(values, sample_weight=None, mask=None):
    """Keras `Mean.update_state` on per-example values: `(total, count)` float32 scalars.

    Args:
      values: per-example values, shape S = (B, ...) (a scalar counts as one sample).
      sample_weight: None, a scalar, or an array matching the leading axes of S: (B,)
        weighs each sample; (B, T) weighs each step.
      mask: None or a bool array matching the leading axes of S, e.g. (B, T); it is merged
        into the weights (broadcast to S), as Keras does with a Keras mask.

    Returns:
      `(total, count)`: with weights w of rank k, values are averaged over the axes past
      k, multiplied by w, and both are averaged over axes 1..k-1 and summed over the batch.
    """
    values = _numbers("values", values)
    shape = tuple(values.shape)
    if mask is not None:
        weight = broadcast_left(mask, shape, "mask").astype(jnp.float32)
        if sample_weight is not None:
            weight = weight * as_f32(broadcast_left(sample_weight, shape, "sample_weight"))
    elif sample_weight is not None:
        weight = as_f32(sample_weight)
        if weight.ndim == values.ndim + 1 and weight.shape[-1] == 1:
            weight = weight[..., 0]
        if weight.ndim > values.ndim or any(a not in (1, b) for a, b in zip(weight.shape, shape)):
            raise ValueError(
                f"sample_weight: got shape {tuple(weight.shape)}, expected a shape that "
                f"matches the leading axes of the per-example values {shape}"
            )
    else:
        if values.ndim == 0:
            return values, jnp.float32(1.0)
        per_sample = jnp.mean(values, axis=tuple(range(1, values.ndim)))
        return jnp.sum(per_sample), jnp.float32(shape[0])
    k = weight.ndim
    if values.ndim > k:
        values = jnp.mean(values, axis=tuple(range(k, values.ndim)))
    weight = jnp.broadcast_to(weight, values.shape)
    values = values * weight
    if k > 1:
        axes = tuple(range(1, k))
        values, weight = jnp.mean(values, axis=axes), jnp.mean(weight, axis=axes)
    return jnp.sum(values), jnp.sum(weight)


class Metric:
    """Base of the metrics: subclasses define `per_example`; the bookkeeping is shared."""

    name: str

    def __post_init__(self):
        _check_name(self.name)

    def per_example(self, y_true, y_pred) -> jnp.ndarray:
        raise NotImplementedError

    def update(self, y_true, y_pred, sample_weight=None, mask=None):
        """`(total, count)` of this batch, float32 scalars to sum over batches."""
        return weighted_total_and_count(self.per_example(y_true, y_pred), sample_weight, mask)


@dataclass(frozen=True)
class BinaryAccuracy(Metric):
    """Fraction of `(y_pred > threshold) == y_true`, averaged over the last axis.

    Shapes: y_pred (..., K), y_true (..., K) ((B,) labels with (B, 1) predictions are
    matched like Keras). For logits use `threshold=0.0` (what `get` does for a
    `BinaryCrossentropy(from_logits=True)` loss).
    """

    threshold: float = 0.5
    name: str = field(default="binary_accuracy", kw_only=True)

    def __post_init__(self):
        super().__post_init__()
        t = self.threshold
        if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)):
            raise TypeError(
                f"threshold: got {t!r} of type {type(t).__name__}, expected a real number"
            )
        if not math.isfinite(t):
            raise ValueError(f"threshold: got {t!r}, expected a finite number")

    def per_example(self, y_true, y_pred) -> jnp.ndarray:
        y_true, y_pred = match_elementwise(as_f32(y_true), as_f32(y_pred), self.name)
        hits = (y_pred > self.threshold).astype(jnp.float32) == y_true
        return jnp.mean(hits.astype(jnp.float32), axis=-1)


@dataclass(frozen=True)
class CategoricalAccuracy(Metric):
    """`argmax(y_true) == argmax(y_pred)` over the last axis; y_true one-hot (..., C)."""

    name: str = field(default="categorical_accuracy", kw_only=True)

    def per_example(self, y_true, y_pred) -> jnp.ndarray:
        y_true, y_pred = jnp.asarray(y_true), jnp.asarray(y_pred)
        if y_true.shape != y_pred.shape:
            raise ValueError(
                f"{self.name}: got y_true shape {tuple(y_true.shape)} and y_pred shape "
                f"{tuple(y_pred.shape)}, expected equal shapes (..., num_classes)"
            )
        hits = jnp.argmax(y_true, axis=-1) == jnp.argmax(y_pred, axis=-1)
        return hits.astype(jnp.float32)


@dataclass(frozen=True)
class SparseCategoricalAccuracy(Metric):
    """`y_true == argmax(y_pred)`; y_true (...) or (..., 1) integer labels, y_pred (..., C)."""

    name: str = field(default="sparse_categorical_accuracy", kw_only=True)

    def per_example(self, y_true, y_pred) -> jnp.ndarray:
        y_true, y_pred = jnp.asarray(y_true), jnp.asarray(y_pred)
        if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
            y_true = y_true[..., 0]
        if y_pred.ndim < 1 or y_true.shape != y_pred.shape[:-1]:
            raise ValueError(
                f"{self.name}: got y_true shape {tuple(y_true.shape)} and y_pred shape "
                f"{tuple(y_pred.shape)}, expected y_true shape {tuple(y_pred.shape[:-1])} "
                "(or with a trailing 1)"
            )
        # Compared as floats like Keras (a label 1.5 matches nothing).
        hits = as_f32(y_true) == jnp.argmax(y_pred, axis=-1).astype(jnp.float32)
        return hits.astype(jnp.float32)


@dataclass(frozen=True)
class MeanSquaredError(Metric):
    """`mean((y_pred − y_true)², axis=-1)` per example, averaged over the samples."""

    name: str = field(default="mean_squared_error", kw_only=True)

    def per_example(self, y_true, y_pred) -> jnp.ndarray:
        return _losses.MeanSquaredError().per_example(y_true, y_pred)


@dataclass(frozen=True)
class MeanAbsoluteError(Metric):
    """`mean(|y_pred − y_true|, axis=-1)` per example, averaged over the samples."""

    name: str = field(default="mean_absolute_error", kw_only=True)

    def per_example(self, y_true, y_pred) -> jnp.ndarray:
        return _losses.MeanAbsoluteError().per_example(y_true, y_pred)


@dataclass(frozen=True)
class AutoAccuracy(Metric):
    """Keras 3's compile-time `"accuracy"`, picked from the (static) shapes at each call.

    Binary (threshold 0.5) when `y_pred.shape[-1] == 1`; sparse categorical when y_true
    has fewer axes than y_pred or a trailing 1 while y_pred has more than one class;
    categorical otherwise. `get("accuracy", loss)` uses it only when the loss says nothing
    (not a crossentropy). Not `keras.metrics.Accuracy` (exact equality).
    """

    name: str = field(default="accuracy", kw_only=True)

    def per_example(self, y_true, y_pred) -> jnp.ndarray:
        y_true, y_pred = jnp.asarray(y_true), jnp.asarray(y_pred)
        if y_pred.shape[-1] == 1:
            return BinaryAccuracy().per_example(y_true, y_pred)
        if y_true.ndim < y_pred.ndim or y_true.shape[-1] == 1:
            return SparseCategoricalAccuracy().per_example(y_true, y_pred)
        return CategoricalAccuracy().per_example(y_true, y_pred)


@dataclass(frozen=True)
class MetricFunction(Metric):
    """A plain `fn(y_true, y_pred) -> per-example values` with the Keras `Mean` bookkeeping."""

    fn: Callable
    name: str = ""

    def __post_init__(self):
        if not callable(self.fn):
            raise TypeError(
                f"fn: got {type(self.fn).__name__}, expected a callable "
                f"fn(y_true, y_pred) -> per-example values"
            )
        if isinstance(self.name, str) and not self.name:
            object.__setattr__(self, "name", getattr(self.fn, "__name__", "metric"))
        _check_name(self.name)

    def per_example(self, y_true, y_pred) -> jnp.ndarray:
        return as_f32(self.fn(y_true, y_pred))


_BY_NAME: dict[str, type[Metric]] = {
    "binary_accuracy": BinaryAccuracy,
    "BinaryAccuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "CategoricalAccuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "SparseCategoricalAccuracy": SparseCategoricalAccuracy,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "MeanSquaredError": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "MeanAbsoluteError": MeanAbsoluteError,
}
_ACCURACY = ("accuracy", "acc")


def _logits_bce(loss) -> bool:
    return isinstance(loss, _losses.BinaryCrossentropy) and loss.from_logits


def get(identifier, loss=None) -> Metric:
    """Resolve a metric the way `keras.Model.compile(metrics=[...])` does.

    A string's metric is named by the string, as in Keras's history (`"mse"` → `"mse"`).
    `"accuracy"`/`"acc"` is resolved by the loss (any `jrnn.losses.get` identifier):
    binary crossentropy → `BinaryAccuracy`, categorical → `CategoricalAccuracy`, sparse
    categorical → `SparseCategoricalAccuracy`, any other loss → `AutoAccuracy` (Keras 3's
    rule by shapes). Keras 3 decides by shapes only, which also differs for multi-label
    binary crossentropy (K > 1 outputs), where it picks categorical accuracy.

    Pitfall fixed on purpose: with `BinaryCrossentropy(from_logits=True)`, `"accuracy"`
    and `"binary_accuracy"` threshold the logits at 0.0 (probability 0.5). Keras keeps
    threshold 0.5 on the logits, a silently wrong accuracy. An explicit `BinaryAccuracy`
    instance is returned as is.

    Also accepted: a `Metric` instance (as is) or class, a `jrnn.losses.Loss` (its
    per-example loss, averaged), or a callable `fn(y_true, y_pred) -> per-example values`.

    Raises:
      ValueError: for an unknown name. TypeError: for anything else that is not callable.
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str):
        loss = None if loss is None else _losses.get(loss)
        if identifier in _ACCURACY:
            if isinstance(loss, _losses.BinaryCrossentropy):
                return BinaryAccuracy(threshold=0.0 if loss.from_logits else 0.5, name=identifier)
            if isinstance(loss, _losses.CategoricalCrossentropy):
                return CategoricalAccuracy(name=identifier)
            if isinstance(loss, _losses.SparseCategoricalCrossentropy):
                return SparseCategoricalAccuracy(name=identifier)
            return AutoAccuracy(name=identifier)
        if identifier not in _BY_NAME:
            raise ValueError(
                f"metrics: got {identifier!r}, expected one of "
                f"{sorted([*_ACCURACY, *_BY_NAME])}, a jrnn.metrics.Metric or a callable "
                "fn(y_true, y_pred) -> per-example values"
            )
        cls = _BY_NAME[identifier]
        if cls is BinaryAccuracy and _logits_bce(loss):
            return BinaryAccuracy(threshold=0.0, name=identifier)
        return cls(name=identifier)
    if isinstance(identifier, _losses.Loss):
        return MetricFunction(identifier.per_example, name=identifier.name)
    if callable(identifier):
        return MetricFunction(identifier)
    raise TypeError(
        f"metrics: got {identifier!r} of type {type(identifier).__name__}, expected a name, "
        "a jrnn.metrics.Metric or a callable"
    )
