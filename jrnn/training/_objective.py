"""What training optimises and reports: a loss per output, loss weights, metrics per output,
and the one function that turns a batch's predictions into loss and metric sums.

Both the train step and the eval step call `Objective.batch_sums`, so the loss a step
minimises and the loss `evaluate` reports are one computation.

Keras's names: one output logs "loss" and each metric's name; several outputs log "loss"
(the weighted sum), "<output>_loss" (that output's weighted loss, as Keras 3) and
"<output>_<metric>".
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from jrnn import losses as losses_lib
from jrnn import metrics as metrics_lib


@dataclass(frozen=True)
class Objective:
    """Per-output losses, weights and metrics (hashable: a static part of the compiled steps).

    names: the output names (`model.output_names`); `single` for a model with one
    output (its keys carry no output name); losses[k] None: output k is not trained;
    class_weight: ((class, weight), ...) applied to the training loss only, as Keras.
    """

    names: tuple
    single: bool
    losses: tuple
    weights: tuple
    metrics: tuple
    class_weight: tuple | None = None

    @property
    def has_loss(self) -> bool:
        return any(fn is not None for fn in self.losses)

    def for_evaluation(self) -> Objective:
        """The same objective without class weights (Keras applies them in training only)."""
        return Objective(self.names, self.single, self.losses, self.weights, self.metrics)

    def batch_sums(
        self, y_true, y_pred, out_masks, valid, sample_weight=None, heads=None, key=None
    ):
        """One batch's loss and metric sums.

        y_true, y_pred, out_masks: the model's output structure (an array for one output;
        a list, or a dict by output name, for several); out_masks holds each output's
        (B, T) mask or None. valid: (B,) bool, False for the rows that pad a short batch.
        sample_weight: None, one array for every output, or one per output.
        heads, key: in training, `Model.apply_with_heads`'s heads and the step's PRNG
        key: an output whose loss is a `HeadLoss` is then trained from its head's input
        (`head_per_example`); without them (evaluation) every loss sees y_pred.
        Returns (loss, sums): loss the scalar `Σ_k weight_k · loss_k`, and sums a dict
        {log key: (total, count)} whose ratio over batches is the epoch's value.
        """
        preds = jax.tree.leaves(y_pred)
        trues = self.per_output(y_true, "y")
        masks = jax.tree.leaves(out_masks, is_leaf=lambda m: m is None)
        weights = self.per_output(sample_weight, "sample_weight", broadcast=True)
        n = jnp.sum(valid, dtype=jnp.float32)
        total, sums = jnp.float32(0.0), {}
        for k, name in enumerate(self.names):
            y_t, y_p = trues[k], preds[k]
            mask = _row_and_step_mask(valid, y_p, masks[k] if k < len(masks) else None)
            fn = self.losses[k]
            if fn is not None:
                sw = _times(weights[k], self._class_weights(y_t, y_p))
                if heads is not None and isinstance(fn, losses_lib.HeadLoss):
                    features, layer, params = heads[k]
                    per_example = fn.head_per_example(
                        y_t, features, layer, params, jax.random.fold_in(key, k)
                    )
                    value = losses_lib.reduce_weighted(per_example, sw, mask)
                else:
                    value = fn(y_t, y_p, sample_weight=sw, mask=mask)
                value = self.weights[k] * value
                total = total + value
                if not self.single:
                    sums[f"{name}_loss"] = (value * n, n)
            for m in self.metrics[k]:
                key = m.name if self.single else f"{name}_{m.name}"
                sums[key] = m.update(y_t, y_p, sample_weight=weights[k], mask=mask)
        if self.has_loss:
            sums["loss"] = (total * n, n)
        return total, sums

    def probability_probe(self, y_pred, out_masks, valid) -> dict:
        """For each output trained with a probability loss (`from_logits=False`), float32
        (3,) [min, max, max |row sum - 1|] of its predictions over the valid rows and
        steps: what `warn_if_logits` reads to tell logits from probabilities. Returned by
        the compiled steps beside the sums, so it costs no compile of its own."""
        preds = jax.tree.leaves(y_pred)
        masks = jax.tree.leaves(out_masks, is_leaf=lambda m: m is None)
        probe = {}
        for k, name in enumerate(self.names):
            if not isinstance(self.losses[k], _PROBABILITY_LOSSES) or self.losses[k].from_logits:
                continue
            y = preds[k].astype(jnp.float32)
            mask = _row_and_step_mask(valid, y, masks[k] if k < len(masks) else None)
            entries = mask.reshape(mask.shape + (1,) * (y.ndim - mask.ndim))
            lo = jnp.min(jnp.where(entries, y, 0.5))
            hi = jnp.max(jnp.where(entries, y, 0.5))
            off = jnp.float32(0.0)
            if y.ndim >= 2 and not isinstance(self.losses[k], losses_lib.BinaryCrossentropy):
                off = jnp.max(jnp.where(mask, jnp.abs(jnp.sum(y, axis=-1) - 1.0), 0.0))
            probe[name] = jnp.stack([lo, hi, off])
        return probe

    def per_output(self, tree, what: str, broadcast: bool = False) -> list:
        """`tree` (one array, a list, or a dict by output name) as a list in output order."""
        if tree is None or (broadcast and not isinstance(tree, (list, tuple, dict))):
            return [tree] * len(self.names)
        if self.single or (len(self.names) == 1 and not isinstance(tree, (list, tuple, dict))):
            return [tree]
        if isinstance(tree, dict):
            missing = [n for n in self.names if n not in tree]
            if missing and not broadcast:
                raise ValueError(
                    f"{what}: got a dict with keys {sorted(tree)}, expected one entry per "
                    f"model output {list(self.names)}"
                )
            return [tree.get(n) for n in self.names]
        if isinstance(tree, (list, tuple)) and len(tree) == len(self.names):
            return list(tree)
        raise ValueError(
            f"{what}: got {type(tree).__name__} of {len(jax.tree.leaves(tree))} arrays, "
            f"expected {len(self.names)} (a list, or a dict keyed by {list(self.names)})"
        )

    def _class_weights(self, y_true, y_pred):
        """Per-label weights from `class_weight` (classes not listed weigh 1), or None.

        The class of a label is its argmax for one-hot targets (the same rank as y_pred
        and more than one column), else the label itself (a trailing axis of 1 dropped)."""
        if self.class_weight is None:
            return None
        y = jnp.asarray(y_true)
        if y.ndim == y_pred.ndim and y.shape[-1] > 1:
            y = jnp.argmax(y, axis=-1)
        elif y.ndim == y_pred.ndim:
            y = jnp.round(y[..., 0])
        classes = jnp.asarray([c for c, _ in self.class_weight], jnp.int32)
        table = jnp.ones((int(max(c for c, _ in self.class_weight)) + 1,), jnp.float32)
        table = table.at[classes].set(jnp.asarray([w for _, w in self.class_weight]))
        return jnp.take(table, y.astype(jnp.int32), mode="fill", fill_value=1.0)


_PROBABILITY_LOSSES = (
    losses_lib.BinaryCrossentropy,
    losses_lib.CategoricalCrossentropy,
    losses_lib.SparseCategoricalCrossentropy,
)
# Probabilities may miss [0, 1] and a unit row sum by rounding (bf16, float32 sums), not by more.
_RANGE_TOLERANCE, _SUM_TOLERANCE = 1e-3, 1e-2


def warn_if_logits(objective: Objective, probe: dict, stacklevel: int) -> None:
    """Warn (once: the caller passes the first batch's probe) when a probability loss
    gets predictions that are not probabilities: Keras's most common mistake, a model
    that outputs logits trained with `from_logits=False`. probe: host values of
    `Objective.probability_probe`."""
    for k, name in enumerate(objective.names):
        if name not in probe:
            continue
        lo, hi, off = (float(v) for v in probe[name])
        if lo < -_RANGE_TOLERANCE or hi > 1.0 + _RANGE_TOLERANCE:
            got = f"range over [{lo:.3g}, {hi:.3g}], outside [0, 1]"
        elif off > _SUM_TOLERANCE:
            got = f"have rows that sum to 1 ± {off:.3g}, not to 1"
        else:
            continue
        fn = objective.losses[k]
        what = "the predictions" if objective.single else f"the predictions of {name!r}"
        warnings.warn(
            f"loss: {fn.name} has from_logits=False, but {what} in the first batch {got}: "
            f"they look like logits. If the model has no final softmax/sigmoid, pass "
            f"from_logits=True, e.g. loss=jrnn.losses.{type(fn).__name__}(from_logits=True)",
            UserWarning,
            stacklevel=stacklevel + 1,
        )


def _row_and_step_mask(valid, y_pred, out_mask):
    """(B,) row validity combined with the output's (B, T) mask, if any."""
    per_example_rank = max(y_pred.ndim - 1, 1)
    mask = valid.reshape(valid.shape + (1,) * (per_example_rank - 1))
    if out_mask is not None:
        mask = jnp.logical_and(mask, out_mask)
    return jnp.broadcast_to(mask, y_pred.shape[:per_example_rank])


def _times(sample_weight, class_weights):
    """The product of two optional weights, (B,) broadcast over (B, T) from the left."""
    if class_weights is None:
        return sample_weight
    if sample_weight is None:
        return class_weights
    sw = jnp.asarray(sample_weight, jnp.float32)
    sw = sw.reshape(sw.shape + (1,) * (class_weights.ndim - sw.ndim))
    return jnp.broadcast_to(sw, class_weights.shape) * class_weights


# -- resolving fit's arguments ---------------------------------------------------------------
def build_objective(model, loss, metrics=None, loss_weights=None, class_weight=None) -> Objective:
    """An Objective from `fit`/`evaluate`'s `loss`, `metrics`, `loss_weights` and
    `class_weight`, checked against the model's outputs (Keras's `compile` rules)."""
    names = tuple(model.output_names)
    single = len(names) == 1 and not isinstance(model.outputs, (list, tuple, dict))
    losses = _per_output_arg("loss", loss, names, single, resolve=_loss_or_none)
    for fn, name, layer in zip(losses, names, model.output_layers()):
        if isinstance(fn, losses_lib.HeadLoss):
            fn.check_head(layer, "the output" if single else f"the output {name!r}")
    weights = _loss_weights(loss_weights, names, single)
    if single:
        metric_args = [metrics]
    elif metrics is None or (isinstance(metrics, (list, tuple)) and not metrics):
        metric_args = [None] * len(names)
    else:
        metric_args = _per_output_arg("metrics", metrics, names, single, resolve=lambda v: v)
    resolved = tuple(
        tuple(_metric_list(m, fn, "metrics" if single else f"metrics[{name!r}]"))
        for m, fn, name in zip(metric_args, losses, names)
    )
    return Objective(
        names,
        single,
        tuple(losses),
        weights,
        resolved,
        _class_weight(class_weight, single),
    )


def _loss_or_none(v):
    return None if v is None else losses_lib.get(v)


def _per_output_arg(what, value, names, single, resolve) -> list:
    """One value for every output, a list in output order, or a dict by output name."""
    if single:
        if isinstance(value, dict) and set(value) == set(names):
            value = value[names[0]]
        elif isinstance(value, (list, tuple)) and len(value) == 1 and what == "loss":
            value = value[0]
        return [resolve(value)]
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(
                f"{what}: got keys {unknown} that name no output; the model's outputs are "
                f"{list(names)}"
            )
        return [resolve(value.get(n)) for n in names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ValueError(
                f"{what}: got a list of {len(value)}, expected one entry per output "
                f"({len(names)}: {list(names)}), or a dict keyed by output name"
            )
        return [resolve(v) for v in value]
    if what == "metrics":
        raise ValueError(
            f"metrics: got {value!r} for a model with {len(names)} outputs {list(names)}; "
            f"expected a dict keyed by output name or a list with one list per output"
        )
    return [resolve(value)] * len(names)


def _loss_weights(value, names, single) -> tuple:
    if value is None:
        return (1.0,) * len(names)
    if single and not isinstance(value, (list, tuple, dict)):
        value = [value]
    values = _per_output_arg("loss_weights", value, names, False, resolve=lambda v: v)
    out = []
    for name, w in zip(names, values):
        w = 1.0 if w is None else w
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w):
            raise ValueError(f"loss_weights[{name!r}]: got {w!r}, expected a finite number")
        out.append(float(w))
    return tuple(out)


def _metric_list(metrics, loss_fn, what: str) -> list:
    """A list of metrics; one name or metric on its own is a list of one, None none."""
    if metrics is None:
        metrics = ()
    if isinstance(metrics, str) or not hasattr(metrics, "__iter__"):
        metrics = [metrics]
    fns = [metrics_lib.get(m, loss_fn) for m in metrics]
    names = [m.name for m in fns]
    dupes = sorted({n for n in names if names.count(n) > 1} | ({"loss"} & set(names)))
    if dupes:
        raise ValueError(f"{what}: got several metrics named {dupes} (or one named 'loss')")
    return fns


def _class_weight(value, single):
    """Keras's `class_weight` {class id: weight} as sorted pairs."""
    if value is None:
        return None
    if not single:
        raise ValueError(
            "class_weight: not supported for a model with several outputs (as Keras); "
            "pass sample_weight per output instead"
        )
    if not isinstance(value, dict) or not value:
        raise TypeError(
            f"class_weight: got {type(value).__name__}, expected a non-empty dict "
            f"{{class id: weight}}"
        )
    pairs = []
    for c, w in value.items():
        if isinstance(c, bool) or not hasattr(c, "__index__") or int(c) < 0:
            raise ValueError(f"class_weight: got the class {c!r}, expected integers >= 0")
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w < math.inf:
            raise ValueError(f"class_weight[{c!r}]: got {w!r}, expected a finite number >= 0")
        pairs.append((int(c), float(w)))
    return tuple(sorted(pairs))


# -- host-side checks of the data ----------------------------------------------------------
def host_checks(model, params, objective: Objective):
    """`check(x, y)` for fit and evaluate's data: the model's input checks (token ids in
    range) and the class labels of every output trained with sparse categorical
    cross-entropy or a `HeadLoss`: integers in [0, number of classes), which JAX would
    otherwise clamp or wrap silently. The class counts come from the model's output
    shapes, found once (`jax.eval_shape`) from the first x checked."""
    # A HeadLoss's labels are class ids of its head's output too.
    sparse_losses = (losses_lib.SparseCategoricalCrossentropy, losses_lib.HeadLoss)
    sparse = [isinstance(fn, sparse_losses) for fn in objective.losses]
    classes = []

    def check(x, y):
        model.check_inputs(x)
        if not any(sparse):
            return
        if not classes:
            head = jax.tree.map(lambda a: a[:1], x)
            out = jax.eval_shape(lambda p, v: model.apply({"params": p, "state": {}}, v)[0],
                                 params, head)  # fmt: skip
            classes.extend(o.shape[-1] for o in jax.tree.leaves(out))
        labels = objective.per_output(y, "y")
        for k, name in enumerate(objective.names):
            if sparse[k]:
                what = "y" if objective.single else f"y[{name!r}]"
                check_class_ids(what, labels[k], classes[k])

    return check


def check_class_ids(name: str, labels, num_classes: int) -> None:
    """Integer class ids (floats only if whole numbers) in [0, num_classes)."""
    y = np.asarray(labels)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{name}: got labels of dtype {y.dtype}, expected integer class ids")
    if y.dtype.kind == "f" and y.size:
        bad = y[~np.isfinite(y) | (y != np.round(y))]
        if bad.size:
            raise ValueError(f"{name}: got the label {bad.flat[0]}, expected integer class ids")
    out = y[(y < 0) | (y >= num_classes)]
    if out.size:
        raise ValueError(
            f"{name}: got the label {out.flat[0].item()!r}, expected class ids in "
            f"[0, {num_classes}) (the model's output has {num_classes} classes)"
        )
