"""The `fit` losses that train a large output layer without computing all of it: sampled
softmax and NCE over a `Dense` head, and the adaptive softmax (re-exported by
`jrnn.losses`; the shared mechanics are `jrnn.losses.HeadLoss`).

In training, `fit` gives these losses the features entering the model's last layer and
that layer's parameters, so the (B·T, H) × (H, V) product over the whole vocabulary is
never formed; in evaluation they see the head's full output and report the full softmax
cross-entropy, as TensorFlow's tutorials evaluate sampled models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import jax.numpy as jnp
import optax

from jrnn import sampling
from jrnn._checks import check_bool, check_positive_int, shape_error
from jrnn._labels import at_least_f32, gather_last, nan_outside, squeeze_labels
from jrnn._sampled_softmax import _sampled_logits
from jrnn.layers.adaptive_softmax import AdaptiveSoftmax
from jrnn.layers.core import Dense
from jrnn.losses import HeadLoss, SparseCategoricalCrossentropy

__all__ = ["AdaptiveSoftmaxLoss", "NCELoss", "SampledSoftmaxLoss"]

# The samplers a loss can name: TensorFlow's default for both losses is the log-uniform
# (Zipfian) one, right for vocabularies sorted by decreasing frequency.
_SAMPLERS = {
    "log_uniform": sampling.log_uniform_candidate_sampler,
    "uniform": sampling.uniform_candidate_sampler,
}


@dataclass(frozen=True)
class _SampledLoss(HeadLoss):
    """What sampled softmax and NCE share: the sample, the sampled logits over a Dense
    head (kernel (H, V), bias (V,)), and the full-softmax evaluation loss."""

    num_sampled: int
    sampler: str = "log_uniform"
    unique: bool = True
    remove_accidental_hits: bool = True
    subtract_log_q: bool = True
    head_layers: ClassVar[tuple[type, ...]] = (Dense,)

    def __post_init__(self):
        check_positive_int("num_sampled", self.num_sampled)
        if self.sampler not in _SAMPLERS:
            raise ValueError(f"sampler: got {self.sampler!r}, expected one of {sorted(_SAMPLERS)}")
        for name in ("unique", "remove_accidental_hits", "subtract_log_q"):
            check_bool(name, getattr(self, name))

    def check_head(self, layer, what: str) -> None:
        super().check_head(layer, what)
        if layer.activation not in (None, "linear"):
            raise ValueError(
                f"loss: {type(self).__name__} needs {what}'s Dense to output logits "
                f"(activation=None); it has activation={layer.activation!r}"
            )
        if self.unique and self.num_sampled > layer.units:
            raise ValueError(
                f"num_sampled: got {self.num_sampled}, expected at most the {layer.units} "
                f"classes of {what}'s Dense when unique=True"
            )

    def per_example(self, y_true, y_pred) -> jnp.ndarray:
        """The full softmax cross-entropy of the head's logits (evaluation)."""
        return SparseCategoricalCrossentropy(from_logits=True).per_example(y_true, y_pred)

    def _logits(self, y_true, features, layer, params, key):
        """(logits, labels) (N, 1 + num_sampled) of the labels' steps, N = y_true.size."""
        labels = jnp.asarray(y_true)
        if labels.ndim == features.ndim:  # (..., 1) labels
            labels = labels[..., 0]
        labels = labels.reshape(-1, 1).astype(jnp.int32)
        inputs = features.reshape(-1, features.shape[-1]).astype(jnp.float32)
        kernel, bias = params["kernel"], params.get("bias")
        sampled = _SAMPLERS[self.sampler](
            key, labels, 1, self.num_sampled, self.unique, layer.units
        )
        # Gather the kernel's columns: a (V, H) transpose of the whole kernel is not needed.
        return _sampled_logits(
            inputs,
            labels,
            sampled,
            rows=lambda ids: jnp.take(kernel, ids, axis=1).T,
            bias_rows=None if bias is None else (lambda ids: jnp.take(bias, ids)),
            num_true=1,
            remove_accidental_hits=self.remove_accidental_hits,
            subtract_log_q=self.subtract_log_q,
        )


@dataclass(frozen=True)
class SampledSoftmaxLoss(_SampledLoss):
    """Sampled softmax (Jean et al. 2015; TensorFlow's `sampled_softmax_loss`) for a
    model whose output is a `Dense(V)` of logits, as a `fit` loss.

    Each training step draws one set of `num_sampled` classes for the whole batch (the
    log-uniform sampler by default, without repeats when `unique`), and each step's loss
    is the softmax cross-entropy over [its label, the sampled classes]:
    `z_j = x·W_j + b_j − log Q(j)` (`subtract_log_q`, Q the expected count), a sampled
    class equal to the label removed (`remove_accidental_hits`). `evaluate` and
    validation report the full softmax cross-entropy. Labels (B, T) or (B,) class ids.

    Example::

        model = jrnn.Sequential([Embedding(V, 256), LSTM(512, return_sequences=True), Dense(V)])
        jrnn.fit(model, variables, (x, y), loss=jrnn.losses.SampledSoftmaxLoss(4096))
    """

    name: ClassVar[str] = "sampled_softmax"

    def head_per_example(self, y_true, features, layer, params, key) -> jnp.ndarray:
        logits, labels = self._logits(y_true, features, layer, params, key)
        loss = optax.losses.softmax_cross_entropy(logits, labels)
        return loss.reshape(features.shape[:-1])


@dataclass(frozen=True)
class NCELoss(_SampledLoss):
    """Noise-contrastive estimation (Gutmann & Hyvärinen 2010; TensorFlow's `nce_loss`)
    for a model whose output is a `Dense(V)` of logits, as a `fit` loss.

    With the sampled logits of `SampledSoftmaxLoss` (TensorFlow's defaults differ:
    `remove_accidental_hits=False`), each step's loss is the sigmoid cross-entropy of its
    label's logit against 1 plus that of each sampled logit against 0, summed.
    `evaluate` and validation report the full softmax cross-entropy.
    """

    remove_accidental_hits: bool = False
    name: ClassVar[str] = "nce"

    def head_per_example(self, y_true, features, layer, params, key) -> jnp.ndarray:
        logits, labels = self._logits(y_true, features, layer, params, key)
        loss = jnp.sum(optax.losses.sigmoid_binary_cross_entropy(logits, labels), axis=-1)
        return loss.reshape(features.shape[:-1])


@dataclass(frozen=True)
class AdaptiveSoftmaxLoss(HeadLoss):
    """The negative log-likelihood of an `AdaptiveSoftmax` output layer.

    Training (`head_per_example`): the layer's `loss_per_example` on the head's input
    features (..., H), which never builds the (..., num_classes) output. Evaluation
    (`per_example`): y_pred is the layer's output, log-probabilities (..., C), and the loss
    is -y_pred[label]. Labels are integers (...) or (..., 1); one outside [0, C) gives NaN
    (not refused: masked steps may hold any pad id, and jit cannot read values).
    """

    head_layers: ClassVar[tuple[type, ...]] = (AdaptiveSoftmax,)
    name: ClassVar[str] = "adaptive_softmax"

    def per_example(self, y_true, y_pred) -> jnp.ndarray:
        y_pred = at_least_f32(jnp.asarray(y_pred))
        if y_pred.ndim < 1:
            raise shape_error(f"{self.name}: y_pred", y_pred.shape, "(..., num_classes)")
        labels = squeeze_labels(y_true, y_pred.shape[:-1], f"{self.name}: y_true")
        num_classes = y_pred.shape[-1]
        safe = jnp.clip(labels, 0, num_classes - 1)
        return nan_outside(-gather_last(y_pred, safe), labels, num_classes)

    def head_per_example(self, y_true, features, layer, params, key) -> jnp.ndarray:
        del key  # the adaptive softmax is exact: nothing is sampled
        if not isinstance(layer, self.head_layers):
            raise TypeError(
                f"{self.name}: layer: got {type(layer).__name__}, expected an "
                f"AdaptiveSoftmax output layer"
            )
        return layer.loss_per_example(params, features, y_true)
