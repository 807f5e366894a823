"""Large-vocabulary training in `fit`: the head losses (sampled softmax, NCE, adaptive
softmax) train from the features entering the model's last layer, and the top-k and
perplexity metrics. The samplers and the losses' formulas are checked in test_sampling.py
and test_adaptive_softmax.py; here, what `fit` does with them."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jrnn
from jrnn.layers import LSTM, AdaptiveSoftmax, Dense, Embedding

V, H = 48, 16


def _lm(head):
    """Embedding -> head: the recurrent layers between them change nothing here, and
    leaving them out keeps each compile short."""
    return jrnn.Sequential([Embedding(V, H), head])


def _tokens(rows=32, steps=10, seed=0):
    """A learnable sequence task: each token is the previous one plus 1 (mod V)."""
    start = np.random.default_rng(seed).integers(0, V, (rows, 1))
    x = (start + np.arange(steps)) % V
    return x.astype(np.int32), ((x + 1) % V).astype(np.int32)


def _head_and_full(model, variables, loss, x, y, key):
    """(the loss's training value, its evaluation value, the head's params, features)
    on one batch, per example."""

    @jax.jit
    def run(variables, key):
        out, _, _, heads = model.apply_with_heads(variables, x)
        features, layer, params = heads[0]
        trained = loss.head_per_example(y, features, layer, params, key)
        return trained, loss.per_example(y, out), params, features

    return run(variables, key)


def test_sampled_softmax_over_every_class_is_the_full_softmax():
    # unique uniform sampling of all V classes draws each once; without log Q the
    # sampled softmax is then the full softmax (the true class's sampled copy removed)
    model = _lm(Dense(V))
    x, y = _tokens(4, 6)
    variables = model.init(jax.random.key(0), x)
    loss = jrnn.losses.SampledSoftmaxLoss(V, sampler="uniform", subtract_log_q=False)
    sampled, full, _, _ = _head_and_full(model, variables, loss, x, y, jax.random.key(1))
    np.testing.assert_allclose(sampled, full, rtol=1e-5, atol=1e-5)
    assert sampled.shape == y.shape


def test_padded_steps_do_not_count_in_a_head_loss():
    # left-padded rows (id 0, mask_zero): the sampled loss over every class, as fit's
    # train step reduces it, equals the evaluation loss over the unmasked steps only
    model = jrnn.Sequential([Embedding(V, H, mask_zero=True), Dense(V)])
    x, y = _tokens(4, 6)
    x[:, :2] = 0
    variables = model.init(jax.random.key(0), x)
    loss = jrnn.losses.SampledSoftmaxLoss(V, sampler="uniform", subtract_log_q=False)
    objective = jrnn.training._objective.build_objective(model, loss)
    valid = np.ones(4, bool)

    @jax.jit
    def losses(variables, key):
        y_pred, masks, _, heads = model.apply_with_heads(variables, x)
        trained = objective.batch_sums(y, y_pred, masks, valid, heads=heads, key=key)[0]
        evaluated = objective.batch_sums(y, y_pred, masks, valid)[0]
        return trained, evaluated, loss.per_example(y, y_pred)

    trained, evaluated, per_step = losses(variables, jax.random.key(1))
    np.testing.assert_allclose(trained, evaluated, rtol=1e-5)
    np.testing.assert_allclose(trained, np.mean(per_step[:, 2:]), rtol=1e-5)


@pytest.mark.parametrize(
    "loss, function",
    [
        (jrnn.losses.SampledSoftmaxLoss(12), jrnn.losses.sampled_softmax_loss),
        (jrnn.losses.NCELoss(12), jrnn.losses.nce_loss),
    ],
    ids=["sampled_softmax", "nce"],
)
def test_a_dense_head_loss_is_tensorflows_function_on_the_transposed_kernel(loss, function):
    # the loss gathers the kernel's columns; TensorFlow's function takes (V, H) weights
    model = _lm(Dense(V))
    x, y = _tokens(4, 6)
    variables = model.init(jax.random.key(0), x)
    key = jax.random.key(1)
    got, _, params, features = _head_and_full(model, variables, loss, x, y, key)
    want = function(key, params["kernel"].T, params["bias"], y.reshape(-1, 1),
                    features.reshape(-1, H), 12, V,
                    remove_accidental_hits=loss.remove_accidental_hits)  # fmt: skip
    np.testing.assert_allclose(got.reshape(-1), want, rtol=1e-5, atol=1e-6)


def test_adaptive_softmax_loss_trains_from_the_features_as_evaluated():
    model = _lm(AdaptiveSoftmax(V, cutoffs=[8, 24]))
    x, y = _tokens(4, 6)
    variables = model.init(jax.random.key(0), x)
    loss = jrnn.losses.AdaptiveSoftmaxLoss()
    trained, evaluated, _, _ = _head_and_full(model, variables, loss, x, y, None)
    np.testing.assert_allclose(trained, evaluated, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "head, loss",
    [
        (Dense(V), jrnn.losses.SampledSoftmaxLoss(12)),
        # the tokens are uniform: NCE's noise must be too, or its logits drift apart
        (Dense(V), jrnn.losses.NCELoss(12, sampler="uniform")),
    ],
    ids=["sampled_softmax", "nce"],
)
def test_fit_with_a_head_loss_learns_and_validates_with_the_full_softmax(head, loss):
    # (AdaptiveSoftmaxLoss trains through fit in test_experiments_long's wordlm run; here
    # its training loss equals its evaluation loss, above.)
    model = _lm(head)
    x, y = _tokens()
    variables = model.init(jax.random.key(0), x)
    state, history = jrnn.fit(model, variables, (x, y), loss=loss, optimizer=optax.adam(0.05),
                              metrics=["perplexity"], epochs=5, batch_size=8, verbose=0,
                              validation_data=(x, y))  # fmt: skip
    trained, val = history.history["loss"], history.history["val_loss"]
    assert trained[-1] < 0.6 * trained[0], trained
    if not isinstance(loss, jrnn.losses.NCELoss):
        # NCE's logits are not normalised early on: its full softmax loss first rises
        # (here for 5 epochs) before it falls; the others fall from the start
        assert val[-1] < 0.6 * val[0], val
    # validation reports the full softmax: its perplexity is exp(val_loss)
    np.testing.assert_allclose(history.history["val_perplexity"], np.exp(val), rtol=1e-5)
    out, _ = model.apply(state.variables, x)
    full = jrnn.losses.SparseCategoricalCrossentropy(from_logits=True)(y, out)
    np.testing.assert_allclose(val[-1], full, rtol=1e-5)


def _train_step_hlo(loss):
    model = _lm(Dense(V))
    x, y = _tokens(4, 6)
    variables = model.init(jax.random.key(0), x)
    objective = jrnn.training._objective.build_objective(model, loss)
    optimizer = optax.adam(1e-3)
    state = jrnn.training.create_train_state(variables, optimizer)
    step = jrnn.training._steps.make_train_step(model, objective, optimizer)
    batch = {"x": x, "y": y, "valid": np.ones(4, bool)}
    return step.lower(state, batch).compile().as_text()


def test_the_compiled_sampled_step_never_forms_the_full_logits():
    # 4 x 6 steps: the full logits would be a [24,48] or [4,6,48] array; the sampled
    # step's products are over the 12 sampled (+1 true) classes only
    full = _train_step_hlo(jrnn.losses.SparseCategoricalCrossentropy(from_logits=True))
    sampled = _train_step_hlo(jrnn.losses.SampledSoftmaxLoss(12))
    wide = ("f32[24,48]{", "f32[4,6,48]{")
    assert any(w in full for w in wide)
    assert not any(w in sampled for w in wide)


def test_head_losses_refuse_a_head_they_cannot_train():
    x, _ = _tokens(2, 3)
    cases = [
        (jrnn.Sequential([Embedding(V, 8), LSTM(H)]), "must come from a Dense"),
        (_lm(Dense(V, activation="softmax")), "activation=None"),
    ]
    for model, match in cases:
        variables = model.init(jax.random.key(0), x)
        with pytest.raises(ValueError, match=match):
            jrnn.fit(model, variables, (x, x), loss=jrnn.losses.SampledSoftmaxLoss(4), verbose=0)
    model = _lm(Dense(V))
    variables = model.init(jax.random.key(0), x)
    with pytest.raises(ValueError, match="num_sampled: got 49"):
        jrnn.fit(model, variables, (x, x), loss=jrnn.losses.NCELoss(49), verbose=0)
    with pytest.raises(ValueError, match="AdaptiveSoftmax"):
        jrnn.fit(model, variables, (x, x), loss=jrnn.losses.AdaptiveSoftmaxLoss(), verbose=0)


# ---- metrics ------------------------------------------------------------------------------
def _in_top_k_loop(targets, predictions, k):
    """TensorFlow's rule, one row at a time: fewer than k classes score strictly higher."""
    out = []
    for t, row in zip(targets, predictions):
        at = -np.inf if np.isnan(row[t]) else row[t]
        out.append(np.sum(row > at) < k)
    return np.array(out)


def test_in_top_k_counts_ties_as_in_and_nan_as_out():
    rng = np.random.default_rng(0)
    predictions = rng.integers(0, 4, (200, 7)).astype(np.float32)  # many ties
    predictions[::17, 2] = np.nan
    targets = rng.integers(0, 7, 200)
    for k in (1, 2, 5):
        got = jrnn.metrics.in_top_k(jnp.asarray(targets), jnp.asarray(predictions), k)
        np.testing.assert_array_equal(got, _in_top_k_loop(targets, predictions, k))


def test_top_k_accuracies_match_keras():
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(1)
    y_pred = rng.normal(size=(6, 5, 11)).astype(np.float32)
    labels = rng.integers(0, 11, (6, 5))
    onehot = np.eye(11, dtype=np.float32)[labels]
    for k in (1, 3):
        want = keras.metrics.sparse_top_k_categorical_accuracy(labels, y_pred, k=k)
        got = jrnn.metrics.SparseTopKCategoricalAccuracy(k).per_example(labels, y_pred)
        np.testing.assert_array_equal(got, np.asarray(want))
        want = keras.metrics.top_k_categorical_accuracy(onehot, y_pred, k=k)
        got = jrnn.metrics.TopKCategoricalAccuracy(k).per_example(onehot, y_pred)
        np.testing.assert_array_equal(got, np.asarray(want))
    assert jrnn.metrics.get("sparse_top_k_categorical_accuracy").k == 5


def test_perplexity_is_exp_of_the_mean_token_crossentropy():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(3, 4, 9)).astype(np.float32)
    labels = rng.integers(0, 9, (3, 4))
    labels[0, 2:] = 0  # padding id
    log_p = jax.nn.log_softmax(logits)
    ce = -np.take_along_axis(np.asarray(log_p), labels[..., None], -1)[..., 0]
    metric = jrnn.metrics.Perplexity(from_logits=True, mask_token_id=0)
    total, count = metric.update(labels, logits)
    keep = labels != 0
    np.testing.assert_allclose(np.exp(total / count), np.exp(ce[keep].mean()), rtol=1e-5)
    probs = jrnn.metrics.Perplexity().update(labels, np.asarray(jax.nn.softmax(logits)))
    np.testing.assert_allclose(probs.total / probs.count, ce.mean(), rtol=1e-5)
    # "perplexity" takes from_logits from the loss, as "accuracy" takes its kind
    get = jrnn.metrics.get
    assert get("perplexity", jrnn.losses.SparseCategoricalCrossentropy(True)).from_logits
    assert not get("perplexity", "sparse_categorical_crossentropy").from_logits
    assert get("perplexity", jrnn.losses.SampledSoftmaxLoss(8)).from_logits
