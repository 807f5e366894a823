"""Sampled losses with TF semantics: `tf.nn.sampled_softmax_loss` and `tf.nn.nce_loss`.

Both train an output layer of `num_classes` rows against a few sampled classes instead of
all of them. They share TF's `_compute_sampled_logits` (`_sampled_logits` here), and
differ in the loss over those logits: softmax cross-entropy, or a sigmoid cross-entropy
per logit summed over the row (NCE). Everything is float32, also for bf16 inputs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jrnn import sampling
from jrnn._checks import check_bool, check_positive_int, shape_error

__all__ = ["nce_loss", "sampled_softmax_loss"]


def _sampled_logits(
    inputs,
    labels,
    sampled_values,
    rows,
    bias_rows,
    num_true,
    remove_accidental_hits,
    subtract_log_q,
):
    """TF's `_compute_sampled_logits` on gathered rows.

    With S sampled ids s_j and N examples x_i of true ids t_ik (k < num_true)::

        true_logits[i, k]    = x_i . w[t_ik] + b[t_ik]          (N, num_true)
        sampled_logits[i, j] = x_i . w[s_j] + b[s_j]            (N, S)
                               - FLT_MAX where s_j is a true id of row i (hits)
        minus log(expected count) of each id when subtract_log_q
        out_logits = [true_logits, sampled_logits]              (N, num_true + S)
        out_labels = [1 / num_true] * num_true + [0] * S        (N, num_true + S)

    Args:
        inputs: (N, H) float.
        labels: (N, num_true) int32.
        sampled_values: a sampler's triple; held constant (stop_gradient), as TF.
        rows: ids (n,) -> (n, H) weight rows; the labels and sampled ids are gathered in
            one call, as TF's single embedding_lookup.
        bias_rows: ids (n,) -> (n,) biases, or None for no bias.
        num_true, remove_accidental_hits, subtract_log_q: Python values.

    Returns:
        `(out_logits, out_labels)`, float32.
    """
    sampled, true_expected, sampled_expected = (
        jax.lax.stop_gradient(jnp.asarray(v)) for v in sampled_values
    )
    sampled = sampled.astype(jnp.int32)
    n_labels = labels.size
    all_ids = jnp.concatenate([labels.reshape(-1), sampled])
    all_w = jnp.asarray(rows(all_ids), jnp.float32)
    inputs = jnp.asarray(inputs, jnp.float32)
    true_w = all_w[:n_labels].reshape(labels.shape + all_w.shape[1:])
    true_logits = jnp.einsum("nh,nkh->nk", inputs, true_w)
    sampled_logits = inputs @ all_w[n_labels:].T
    if bias_rows is not None:
        all_b = jnp.asarray(bias_rows(all_ids), jnp.float32)
        true_logits += all_b[:n_labels].reshape(labels.shape)
        sampled_logits += all_b[None, n_labels:]
    if remove_accidental_hits:
        sampled_logits += sampling._accidental_hit_mask(labels, sampled)
    if subtract_log_q:
        true_logits -= jnp.log(true_expected.astype(jnp.float32))
        sampled_logits -= jnp.log(sampled_expected.astype(jnp.float32))[None, :]
    out_logits = jnp.concatenate([true_logits, sampled_logits], axis=1)
    out_labels = jnp.concatenate(
        [jnp.full_like(true_logits, 1.0 / num_true), jnp.zeros_like(sampled_logits)], axis=1
    )
    return out_logits, out_labels


def _check_float(name: str, x, ndim: int, expected: str):
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{name}: got dtype {x.dtype}, expected floats")
    if x.ndim != ndim:
        raise shape_error(name, x.shape, expected)
    return x


def _check_sampled_values(sampled_values, num_sampled: int, labels_shape):
    """A sampler's triple with the shapes TF's candidate samplers return."""
    if not (isinstance(sampled_values, (tuple, list)) and len(sampled_values) == 3):
        raise TypeError(
            f"sampled_values: got {type(sampled_values).__name__}, expected None or a "
            f"(sampled_candidates, true_expected_count, sampled_expected_count) triple"
        )
    sampled, true_expected, sampled_expected = map(jnp.asarray, sampled_values)
    if not jnp.issubdtype(sampled.dtype, jnp.integer):
        raise TypeError(f"sampled_values[0]: got dtype {sampled.dtype}, expected integer ids")
    expected = {
        "sampled_values[0]": (sampled.shape, (num_sampled,)),
        "sampled_values[1]": (true_expected.shape, tuple(labels_shape)),
        "sampled_values[2]": (sampled_expected.shape, (num_sampled,)),
    }
    for name, (got, want) in expected.items():
        if got != want:
            raise shape_error(name, got, f"{want} (num_sampled={num_sampled}, labels)")
    return sampled, true_expected, sampled_expected


def _prepare(
    key,
    weights,
    biases,
    labels,
    inputs,
    num_sampled,
    num_classes,
    num_true,
    sampled_values,
    remove_accidental_hits,
    subtract_log_q,
):
    """Checks the arguments shared by both losses and returns their out_logits and
    out_labels (`_sampled_logits`), drawing the default log-uniform sample if needed."""
    num_sampled = check_positive_int("num_sampled", num_sampled)
    num_classes = check_positive_int("num_classes", num_classes)
    num_true = check_positive_int("num_true", num_true)
    remove_accidental_hits = check_bool("remove_accidental_hits", remove_accidental_hits)
    subtract_log_q = check_bool("subtract_log_q", subtract_log_q)
    weights = _check_float("weights", weights, 2, "(num_classes, dim)")
    inputs = _check_float("inputs", inputs, 2, "(batch_size, dim)")
    if weights.shape[0] != num_classes or weights.shape[1] != inputs.shape[1]:
        raise shape_error(
            "weights", weights.shape, f"(num_classes, dim) = ({num_classes}, {inputs.shape[1]})"
        )
    if biases is not None:
        biases = _check_float("biases", biases, 1, f"(num_classes,) = ({num_classes},)")
        if biases.shape != (num_classes,):
            raise shape_error("biases", biases.shape, f"(num_classes,) = ({num_classes},)")
    labels = sampling._check_classes("labels", labels, num_true, num_classes)
    if labels.shape[0] != inputs.shape[0]:
        raise shape_error("labels", labels.shape, f"({inputs.shape[0]}, {num_true}), as inputs")
    if sampled_values is None:
        sampled_values = sampling.log_uniform_candidate_sampler(
            key, labels, num_true, num_sampled, True, num_classes
        )
    else:
        sampled_values = _check_sampled_values(sampled_values, num_sampled, labels.shape)
    return _sampled_logits(
        inputs,
        labels,
        sampled_values,
        lambda ids: jnp.take(weights, ids, axis=0),
        None if biases is None else (lambda ids: jnp.take(biases, ids)),
        num_true,
        remove_accidental_hits,
        subtract_log_q,
    )


def sampled_softmax_loss(
    key,
    weights,
    biases,
    labels,
    inputs,
    num_sampled,
    num_classes,
    num_true=1,
    sampled_values=None,
    remove_accidental_hits=True,
    subtract_log_q=True,
):
    """`tf.nn.sampled_softmax_loss`: softmax cross-entropy over the true and sampled
    logits of `_sampled_logits`, per example::

        loss_i = -sum_k (1 / num_true) * log_softmax(out_logits_i)[k]   (k < num_true)

    Args:
        key: PRNG key for the default sampler; unused (may be None) when
            `sampled_values` is given.
        weights: (num_classes, dim) float, one row per class (a single array; TF's list
            of partitioned shards is not supported).
        biases: (num_classes,) float, or None for no bias.
        labels: (batch_size, num_true) integer ids in [0, num_classes).
        inputs: (batch_size, dim) float.
        num_sampled, num_classes, num_true: Python ints, as TF.
        sampled_values: None to draw `log_uniform_candidate_sampler(key, labels,
            num_true, num_sampled, unique=True, range_max=num_classes)`, or a sampler's
            triple.
        remove_accidental_hits: mask sampled classes that are a row's true class.
        subtract_log_q: subtract log(expected count) (TF always does; False gives the
            plain logits).

    Returns:
        (batch_size,) float32 losses.
    """
    logits, targets = _prepare(
        key,
        weights,
        biases,
        labels,
        inputs,
        num_sampled,
        num_classes,
        num_true,
        sampled_values,
        remove_accidental_hits,
        subtract_log_q,
    )
    return optax.losses.softmax_cross_entropy(logits, targets)


def nce_loss(
    key,
    weights,
    biases,
    labels,
    inputs,
    num_sampled,
    num_classes,
    num_true=1,
    sampled_values=None,
    remove_accidental_hits=False,
    subtract_log_q=True,
):
    """`tf.nn.nce_loss`: noise-contrastive estimation, a sigmoid cross-entropy per
    logit of `_sampled_logits`, summed over the row::

        loss_i = sum_k max(z_ik, 0) - z_ik * y_ik + log(1 + exp(-|z_ik|))

    with z = out_logits and y = out_labels (1 / num_true for each true class, 0 for the
    sampled ones). Arguments as `sampled_softmax_loss` (here remove_accidental_hits
    defaults to False, as TF).

    Returns:
        (batch_size,) float32 losses.
    """
    logits, targets = _prepare(
        key,
        weights,
        biases,
        labels,
        inputs,
        num_sampled,
        num_classes,
        num_true,
        sampled_values,
        remove_accidental_hits,
        subtract_log_q,
    )
    return jnp.sum(optax.losses.sigmoid_binary_cross_entropy(logits, targets), axis=1)
