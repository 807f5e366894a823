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
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from jrnn import losses as _losses
from jrnn._checks import check_bool, check_int, check_positive_int
from jrnn._shapes import as_f32, broadcast_left, match_elementwise

__all__ = [
    "AutoAccuracy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "ExpOfMean",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "Metric",
    "MetricFunction",
    "Perplexity",
    "SparseCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
    "TopKCategoricalAccuracy",
    "get",
    "in_top_k",
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
        y_true, y_pred = _sparse_labels(self.name, y_true, y_pred)
        # Compared as floats like Keras (a label 1.5 matches nothing).
        hits = as_f32(y_true) == jnp.argmax(y_pred, axis=-1).astype(jnp.float32)
        return hits.astype(jnp.float32)


def _sparse_labels(name: str, y_true, y_pred):
    """(labels (...), y_pred (..., C)) as arrays, a trailing 1 on the labels dropped;
    a ValueError naming the metric when the shapes do not pair up."""
    y_true, y_pred = jnp.asarray(y_true), jnp.asarray(y_pred)
    if y_true.ndim == y_pred.ndim and y_true.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    if y_pred.ndim < 1 or y_true.shape != y_pred.shape[:-1]:
        raise ValueError(
            f"{name}: got y_true shape {tuple(y_true.shape)} and y_pred shape "
            f"{tuple(y_pred.shape)}, expected y_true shape {tuple(y_pred.shape[:-1])} "
            "(or with a trailing 1)"
        )
    return y_true, y_pred


def in_top_k(targets, predictions, k: int) -> jnp.ndarray:
    """Whether each target class is among the `k` highest predictions (TensorFlow's
    `tf.math.in_top_k`, Keras's `ops.in_top_k`): True where fewer than k classes score
    strictly higher than the target, so ties at the k-th place count as in the top k.
    A NaN prediction for the target is never in the top k.

    Shapes: targets (...) integer class ids, predictions (..., C). Returns (...) bool.
    """
    k = check_positive_int("k", k)
    targets, predictions = _sparse_labels("in_top_k", targets, predictions)
    if not jnp.issubdtype(targets.dtype, jnp.integer):
        raise TypeError(f"targets: got dtype {targets.dtype}, expected integer class ids")
    predictions = as_f32(predictions)
    at_target = jnp.take_along_axis(predictions, targets[..., None].astype(jnp.int32), -1)
    at_target = jnp.where(jnp.isnan(at_target), -jnp.inf, at_target)
    return jnp.sum(predictions > at_target, axis=-1) < k


@dataclass(frozen=True)
class SparseTopKCategoricalAccuracy(Metric):
    """Whether the integer label is among the `k` highest predictions (Keras's
    `sparse_top_k_categorical_accuracy`; ties as `in_top_k`).

    Shapes: y_true (...) or (..., 1) integer labels, y_pred (..., C). Per example (...).
    """

    k: int = 5
    name: str = field(default="sparse_top_k_categorical_accuracy", kw_only=True)

    def __post_init__(self):
        super().__post_init__()
        check_positive_int("k", self.k)

    def per_example(self, y_true, y_pred) -> jnp.ndarray:
        y_true, y_pred = _sparse_labels(self.name, y_true, y_pred)
        return in_top_k(y_true.astype(jnp.int32), y_pred, self.k).astype(jnp.float32)


@dataclass(frozen=True)
class TopKCategoricalAccuracy(Metric):
    """Whether the one-hot label's class is among the `k` highest predictions (Keras's
    `top_k_categorical_accuracy`: `in_top_k(argmax(y_true), y_pred, k)`).

    Shapes: y_true and y_pred (..., C). Per example (...).
    """

    k: int = 5
    name: str = field(default="top_k_categorical_accuracy", kw_only=True)

    def __post_init__(self):
        super().__post_init__()
        check_positive_int("k", self.k)

    def per_example(self, y_true, y_pred) -> jnp.ndarray:
        y_true, y_pred = jnp.asarray(y_true), jnp.asarray(y_pred)
        if y_true.shape != y_pred.shape:
            raise ValueError(
                f"{self.name}: got y_true shape {tuple(y_true.shape)} and y_pred shape "
                f"{tuple(y_pred.shape)}, expected equal shapes (..., num_classes); for "
                "integer labels use sparse_top_k_categorical_accuracy"
            )
        return in_top_k(jnp.argmax(y_true, axis=-1), y_pred, self.k).astype(jnp.float32)


class ExpOfMean(NamedTuple):
    """Summed `(total, count)` of a metric whose value is `exp(total / count)` rather
    than the mean (perplexity); the training loop sums it like any other pair."""

    total: jnp.ndarray
    count: jnp.ndarray


@dataclass(frozen=True)
class Perplexity(Metric):
    """A language model's perplexity: `exp` of the mean cross-entropy per token,
    `exp(Σ w·CE / Σ w)` over every unmasked step seen (KerasNLP's `Perplexity`).

    With `from_logits=True`, y_pred are logits (or log-probabilities); otherwise
    probabilities, clipped like the sparse categorical crossentropy. `mask_token_id`:
    labels equal to it do not count (besides the model's own mask). Shapes: y_true (...)
    or (..., 1) integer labels, y_pred (..., C). `update` returns an `ExpOfMean`.
    """

    from_logits: bool = False
    mask_token_id: int | None = None
    name: str = field(default="perplexity", kw_only=True)

    def __post_init__(self):
        super().__post_init__()
        check_bool("from_logits", self.from_logits)
        if self.mask_token_id is not None:
            check_int("mask_token_id", self.mask_token_id, minimum=0)

    def per_example(self, y_true, y_pred) -> jnp.ndarray:
        y_true, y_pred = _sparse_labels(self.name, y_true, y_pred)
        loss = _losses.SparseCategoricalCrossentropy(from_logits=self.from_logits)
        return loss.per_example(y_true, y_pred)

    def update(self, y_true, y_pred, sample_weight=None, mask=None):
        if self.mask_token_id is not None:
            labels, _ = _sparse_labels(self.name, y_true, y_pred)
            keep = labels != self.mask_token_id
            mask = keep if mask is None else jnp.logical_and(mask, keep)
        return ExpOfMean(*super().update(y_true, y_pred, sample_weight, mask))


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
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "TopKCategoricalAccuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "SparseTopKCategoricalAccuracy": SparseTopKCategoricalAccuracy,
}
_ACCURACY = ("accuracy", "acc")


def _logits_bce(loss) -> bool:
    return isinstance(loss, _losses.BinaryCrossentropy) and loss.from_logits


def get(identifier, loss=None) -> Metric:
    """Resolve a metric the way `keras.Model.compile(metrics=[...])` does.

    A string's metric is named by the string, as in Keras's history (`"mse"` → `"mse"`).
    `"perplexity"` takes `from_logits` from the loss (a logits crossentropy or a
    `HeadLoss`: True). `"accuracy"`/`"acc"` is resolved by the loss (any
    `jrnn.losses.get` identifier): binary crossentropy → `BinaryAccuracy`, categorical →
    `CategoricalAccuracy`, sparse categorical → `SparseCategoricalAccuracy`, any other
    loss → `AutoAccuracy` (Keras 3's rule by shapes). Keras 3 decides by shapes only,
    which also differs for multi-label binary crossentropy (K > 1 outputs), where it
    picks categorical accuracy.

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
        if identifier in ("perplexity", "Perplexity"):
            # from the loss: a logits crossentropy, or a HeadLoss (logits when evaluated)
            logits = getattr(loss, "from_logits", False) or isinstance(loss, _losses.HeadLoss)
            return Perplexity(from_logits=logits, name=identifier)
        if identifier not in _BY_NAME:
            raise ValueError(
                f"metrics: got {identifier!r}, expected one of "
                f"{sorted([*_ACCURACY, 'perplexity', *_BY_NAME])}, a jrnn.metrics.Metric or "
                "a callable fn(y_true, y_pred) -> per-example values"
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
