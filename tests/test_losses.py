"""Losses and metrics against Keras 3 on the same random inputs (JAX backend)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jrnn import losses, metrics

try:
    import keras
    from keras.src import backend as keras_backend
    from keras.src.losses.losses import LossFunctionWrapper
except ImportError:  # only the comparisons with Keras are skipped
    keras = None
needs_keras = pytest.mark.skipif(keras is None, reason="compares with Keras 3 (JAX backend)")

B, T, C = 6, 5, 4
ATOL = 1e-6


def _data(kind, shape, seed=0):
    """(y_true, y_pred) float32 numpy arrays of the given kind; y_pred has `shape`."""
    rng = np.random.default_rng(seed)
    lead = shape[:-1]
    if kind in ("binary_prob", "binary_logits"):
        y_true = (rng.uniform(size=shape) > 0.5).astype(np.float32)
        if kind == "binary_logits":
            y_pred = 3.0 * rng.standard_normal(shape)
        else:
            y_pred = rng.uniform(size=shape)
            y_pred.reshape(-1)[:2] = [0.0, 1.0]  # exercise the clipping
    elif kind in ("cat_prob", "cat_logits", "sparse_prob", "sparse_logits"):
        labels = rng.integers(0, shape[-1], size=lead)
        if kind.startswith("cat"):
            y_true = np.eye(shape[-1], dtype=np.float32)[labels]
        else:
            y_true = labels.astype(np.int32)
        if kind.endswith("logits"):
            y_pred = 3.0 * rng.standard_normal(shape)
        else:  # unnormalized on purpose: Keras renormalizes, then clips
            y_pred = rng.uniform(0.05, 1.0, size=shape)
            y_pred.reshape(-1)[0] = 0.0
    else:
        y_true = rng.standard_normal(shape).astype(np.float32)
        y_pred = rng.standard_normal(shape)
    return y_true, y_pred.astype(np.float32)


def _with_keras_mask(y_pred, mask):
    y_pred = jnp.asarray(y_pred)
    if mask is not None:
        keras_backend.set_keras_mask(y_pred, jnp.asarray(mask))
    return y_pred


def _keras_loss(
    make, y_true, y_pred, sample_weight=None, mask=None, reduction="sum_over_batch_size"
):
    with jax.numpy_rank_promotion("allow"):
        fn = make(reduction)
        return np.asarray(fn(y_true, _with_keras_mask(y_pred, mask), sample_weight=sample_weight))


LOSS_CASES = {
    "bce": (losses.BinaryCrossentropy(), "BinaryCrossentropy", {}, "binary_prob"),
    "bce_logits": (
        losses.BinaryCrossentropy(from_logits=True),
        "BinaryCrossentropy",
        {"from_logits": True},
        "binary_logits",
    ),
    "bce_ls": (
        losses.BinaryCrossentropy(label_smoothing=0.1),
        "BinaryCrossentropy",
        {"label_smoothing": 0.1},
        "binary_prob",
    ),
    "bce_logits_ls": (
        losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.2),
        "BinaryCrossentropy",
        {"from_logits": True, "label_smoothing": 0.2},
        "binary_logits",
    ),
    "cce": (losses.CategoricalCrossentropy(), "CategoricalCrossentropy", {}, "cat_prob"),
    "cce_logits": (
        losses.CategoricalCrossentropy(from_logits=True),
        "CategoricalCrossentropy",
        {"from_logits": True},
        "cat_logits",
    ),
    "cce_ls": (
        losses.CategoricalCrossentropy(label_smoothing=0.1),
        "CategoricalCrossentropy",
        {"label_smoothing": 0.1},
        "cat_prob",
    ),
    "cce_logits_ls": (
        losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.3),
        "CategoricalCrossentropy",
        {"from_logits": True, "label_smoothing": 0.3},
        "cat_logits",
    ),
    "scce": (
        losses.SparseCategoricalCrossentropy(),
        "SparseCategoricalCrossentropy",
        {},
        "sparse_prob",
    ),
    "scce_logits": (
        losses.SparseCategoricalCrossentropy(from_logits=True),
        "SparseCategoricalCrossentropy",
        {"from_logits": True},
        "sparse_logits",
    ),
    "mse": (losses.MeanSquaredError(), "MeanSquaredError", {}, "regression"),
    "mae": (losses.MeanAbsoluteError(), "MeanAbsoluteError", {}, "regression"),
}


def _case(name):
    ours, keras_name, kwargs, kind = LOSS_CASES[name]
    make = lambda reduction: getattr(keras.losses, keras_name)(reduction=reduction, **kwargs)
    return ours, make, kind


@needs_keras
@pytest.mark.parametrize("shape", [(B, C), (B, T, C)], ids=["2d", "seq"])
@pytest.mark.parametrize("name", list(LOSS_CASES))
def test_per_example_matches_keras(name, shape):
    ours, make, kind = _case(name)
    y_true, y_pred = _data(kind, shape)
    got = ours.per_example(y_true, y_pred)
    want = _keras_loss(make, y_true, y_pred, reduction=None)
    assert got.shape == shape[:-1] and got.dtype == jnp.float32
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=ATOL)


# (our sample_weight, Keras sample_weight, our mask, Keras mask), built from B, T.
def _weightings(seq, rng):
    sw = rng.uniform(0.0, 2.0, size=(B,)).astype(np.float32)
    keras_sw = sw[:, None] if seq else sw  # Keras 3 broadcasts weights from the right
    row_mask = np.array([True, False, True, True, False, True])
    if seq:
        step_mask = rng.uniform(size=(B, T)) > 0.4
        step_mask[1] = False  # a fully padded row
        row_as_steps = np.broadcast_to(row_mask[:, None], (B, T))
        return {
            "none": (None, None, None, None),
            "sw": (sw, keras_sw, None, None),
            "mask_bt": (None, None, step_mask, step_mask),
            "mask_b": (None, None, row_mask, row_as_steps),
            "mask_bt_sw": (sw, keras_sw, step_mask, step_mask),
            "all_masked": (sw, keras_sw, np.zeros((B, T), bool), np.zeros((B, T), bool)),
        }
    return {
        "none": (None, None, None, None),
        "sw": (sw, keras_sw, None, None),
        "mask_b": (None, None, row_mask, row_mask),
        "mask_b_sw": (sw, keras_sw, row_mask, row_mask),
        "all_masked": (None, None, np.zeros((B,), bool), np.zeros((B,), bool)),
    }


@needs_keras
@pytest.mark.parametrize("seq", [False, True], ids=["2d", "seq"])
@pytest.mark.parametrize("name", list(LOSS_CASES))
def test_reduction_matches_keras(name, seq):
    ours, make, kind = _case(name)
    shape = (B, T, C) if seq else (B, C)
    y_true, y_pred = _data(kind, shape, seed=1)
    for label, (sw, keras_sw, mask, keras_mask) in _weightings(
        seq, np.random.default_rng(2)
    ).items():
        got = ours(y_true, y_pred, sample_weight=sw, mask=mask)
        want = _keras_loss(make, y_true, y_pred, sample_weight=keras_sw, mask=keras_mask)
        assert got.shape == () and got.dtype == jnp.float32, label
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=ATOL, err_msg=label)
        if label == "all_masked":
            assert float(got) == 0.0


def test_mask_is_the_mean_over_unmasked_entries():
    y_true, y_pred = _data("sparse_logits", (B, T, C))
    mask = np.random.default_rng(3).uniform(size=(B, T)) > 0.5
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    per = np.asarray(loss.per_example(y_true, y_pred))
    np.testing.assert_allclose(loss(y_true, y_pred, mask=mask), per[mask].mean(), rtol=1e-6)
    # Masked entries never leak in, even when they are NaN (e.g. an out-of-range pad id).
    bad = y_true.copy()
    bad[~mask] = C + 7
    assert np.isnan(np.asarray(loss.per_example(bad, y_pred))[~mask]).all()
    np.testing.assert_allclose(loss(bad, y_pred, mask=mask), per[mask].mean(), rtol=1e-6)
    grads = jax.jit(jax.grad(lambda p: loss(bad, p, mask=mask)))(y_pred)
    assert np.isfinite(np.asarray(grads)).all()


def test_all_masked_gives_zero_and_finite_gradient():
    y_true, y_pred = _data("cat_prob", (B, T, C))
    loss = losses.CategoricalCrossentropy()
    mask = np.zeros((B, T), bool)
    value, grads = jax.jit(jax.value_and_grad(lambda p: loss(y_true, p, mask=mask)))(y_pred)
    assert float(value) == 0.0
    assert np.isfinite(np.asarray(grads)).all() and not np.asarray(grads).any()


@needs_keras
@pytest.mark.parametrize("logits", [False, True])
def test_sparse_labels_with_trailing_one(logits):
    kind = "sparse_logits" if logits else "sparse_prob"
    for shape in [(B, C), (B, T, C)]:
        y_true, y_pred = _data(kind, shape)
        loss = losses.SparseCategoricalCrossentropy(from_logits=logits)
        flat = loss(y_true, y_pred)
        np.testing.assert_array_equal(loss(y_true[..., None], y_pred), flat)
        np.testing.assert_array_equal(loss(y_true.astype(np.float32), y_pred), flat)
        make = lambda r: keras.losses.SparseCategoricalCrossentropy(from_logits=logits, reduction=r)
        np.testing.assert_allclose(flat, _keras_loss(make, y_true[..., None], y_pred), atol=ATOL)


@needs_keras
@pytest.mark.parametrize("name", ["bce", "bce_logits", "mse"])
def test_single_output_column(name):
    """(B, 1) predictions with (B,) or (B, 1) targets, like Keras's squeeze/expand."""
    ours, make, kind = _case(name)
    y_true, y_pred = _data(kind, (B, 1), seed=4)
    sw = np.linspace(0.0, 1.5, B).astype(np.float32)
    for targets in (y_true, y_true[:, 0]):
        assert ours.per_example(targets, y_pred).shape == (B,)
        for weights in (None, sw, sw[:, None]):
            got = ours(targets, y_pred, sample_weight=weights)
            want = _keras_loss(make, targets, y_pred, sample_weight=weights)
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=ATOL)
    # (B, T, 1) predictions with (B, T) targets: per-example (B, T), same mean as Keras.
    y_true, y_pred = _data(kind, (B, T, 1), seed=5)
    assert ours.per_example(y_true[..., 0], y_pred).shape == (B, T)
    np.testing.assert_allclose(
        ours(y_true[..., 0], y_pred), _keras_loss(make, y_true[..., 0], y_pred), atol=ATOL
    )


def test_bf16_inputs_compute_in_float32():
    y_true, y_pred = _data("cat_logits", (B, T, C))
    loss = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    low = jnp.asarray(y_pred, jnp.bfloat16)
    got = loss(jnp.asarray(y_true, jnp.bfloat16), low, sample_weight=jnp.ones((B,), jnp.bfloat16))
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(got, loss(y_true, low.astype(jnp.float32)), rtol=1e-6)
    assert loss.per_example(y_true, low).dtype == jnp.float32


@needs_keras
def test_jit_and_static_argument():
    y_true, y_pred = _data("binary_logits", (B, T, C))
    mask = np.random.default_rng(6).uniform(size=(B, T)) > 0.3
    sw = np.arange(B, dtype=np.float32)
    f = jax.jit(lambda loss, *a: loss(*a), static_argnums=0)
    for name in ["bce_logits", "cce_ls", "scce", "mae"]:
        loss, _, kind = _case(name)
        y_true, y_pred = _data(kind, (B, T, C))
        eager = loss(y_true, y_pred, sw, mask)
        np.testing.assert_allclose(f(loss, y_true, y_pred, sw, mask), eager, rtol=1e-6, atol=ATOL)
    a, b = losses.BinaryCrossentropy(from_logits=True), losses.BinaryCrossentropy(True)
    assert a == b and hash(a) == hash(b) and a != losses.BinaryCrossentropy()
    with pytest.raises(AttributeError):
        a.from_logits = False
    # Clipped probabilities keep the gradient finite at exact 0 and 1.
    y_true, y_pred = _data("binary_prob", (B, C))
    g = jax.jit(jax.grad(lambda p: losses.BinaryCrossentropy()(y_true, p)))(y_pred)
    assert np.isfinite(np.asarray(g)).all()


@needs_keras
def test_get_losses():
    expected = {
        "binary_crossentropy": losses.BinaryCrossentropy,
        "BinaryCrossentropy": losses.BinaryCrossentropy,
        "categorical_crossentropy": losses.CategoricalCrossentropy,
        "CategoricalCrossentropy": losses.CategoricalCrossentropy,
        "sparse_categorical_crossentropy": losses.SparseCategoricalCrossentropy,
        "SparseCategoricalCrossentropy": losses.SparseCategoricalCrossentropy,
        "mse": losses.MeanSquaredError,
        "mean_squared_error": losses.MeanSquaredError,
        "MeanSquaredError": losses.MeanSquaredError,
        "mae": losses.MeanAbsoluteError,
        "mean_absolute_error": losses.MeanAbsoluteError,
        "MeanAbsoluteError": losses.MeanAbsoluteError,
    }
    for name, cls in expected.items():
        assert type(losses.get(name)) is cls and losses.get(name) == cls()
    instance = losses.BinaryCrossentropy(from_logits=True)
    assert losses.get(instance) is instance
    assert losses.get(losses.MeanAbsoluteError) == losses.MeanAbsoluteError()

    def cubic(y_true, y_pred):
        return jnp.mean(jnp.abs(y_pred - y_true) ** 3, axis=-1)

    wrapped = losses.get(cubic)
    assert isinstance(wrapped, losses.LossFunction) and wrapped.name == "cubic"
    y_true, y_pred = _data("regression", (B, T, C))
    mask = np.random.default_rng(7).uniform(size=(B, T)) > 0.5
    per = np.asarray(cubic(y_true, y_pred))
    np.testing.assert_allclose(wrapped(y_true, y_pred, mask=mask), per[mask].mean(), rtol=1e-6)
    keras_wrapped = lambda r: LossFunctionWrapper(cubic, reduction=r)
    np.testing.assert_allclose(
        wrapped(y_true, y_pred, mask=mask),
        _keras_loss(keras_wrapped, y_true, y_pred, mask=mask),
        rtol=1e-6,
    )

    with pytest.raises(ValueError, match=r"loss: got 'crossentropyy'.*'mse'"):
        losses.get("crossentropyy")
    with pytest.raises(TypeError, match="loss: got 3"):
        losses.get(3)


def test_shape_and_argument_errors():
    y_true, y_pred = _data("cat_prob", (B, T, C))
    with pytest.raises(ValueError, match="categorical_crossentropy: got y_true shape"):
        losses.CategoricalCrossentropy()(y_true[..., :2], y_pred)
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy: got y_true shape"):
        losses.SparseCategoricalCrossentropy()(y_true, y_pred)
    with pytest.raises(ValueError, match="binary_crossentropy: got y_true shape"):
        losses.BinaryCrossentropy()(y_true[:, :2], y_pred)
    with pytest.raises(ValueError, match=r"sample_weight: got shape \(5,\)"):
        losses.MeanSquaredError()(y_true, y_pred, sample_weight=np.ones(5))
    with pytest.raises(ValueError, match=r"mask: got shape \(6, 4\)"):
        losses.MeanSquaredError()(y_true, y_pred, mask=np.ones((B, 4), bool))
    with pytest.raises(ValueError, match="label_smoothing=1.5"):
        losses.CategoricalCrossentropy(label_smoothing=1.5)


# ----------------------------------------------------------------------------- metrics

METRIC_CASES = {
    "binary": (metrics.BinaryAccuracy(), lambda: keras.metrics.BinaryAccuracy(), "binary_prob"),
    "binary_t0.3": (
        metrics.BinaryAccuracy(threshold=0.3),
        lambda: keras.metrics.BinaryAccuracy(threshold=0.3),
        "binary_prob",
    ),
    "categorical": (
        metrics.CategoricalAccuracy(),
        lambda: keras.metrics.CategoricalAccuracy(),
        "cat_prob",
    ),
    "sparse": (
        metrics.SparseCategoricalAccuracy(),
        lambda: keras.metrics.SparseCategoricalAccuracy(),
        "sparse_prob",
    ),
    "mse": (metrics.MeanSquaredError(), lambda: keras.metrics.MeanSquaredError(), "regression"),
    "mae": (metrics.MeanAbsoluteError(), lambda: keras.metrics.MeanAbsoluteError(), "regression"),
}


def _stream(metric, batches):
    """Accumulate (total, count) over batches of (y_true, y_pred, sample_weight, mask)."""
    total = count = 0.0
    for y_true, y_pred, sw, mask in batches:
        t, c = metric.update(y_true, y_pred, sample_weight=sw, mask=mask)
        assert t.shape == c.shape == () and t.dtype == c.dtype == jnp.float32
        total, count = total + t, count + c
    return metrics.result(total, count)


def _keras_stream(make, batches):
    m = make()
    with jax.numpy_rank_promotion("allow"):
        for y_true, y_pred, sw, mask in batches:
            m.update_state(y_true, _with_keras_mask(y_pred, mask), sample_weight=sw)
        return np.asarray(m.result())


@needs_keras
@pytest.mark.parametrize("name", list(METRIC_CASES))
def test_metrics_match_keras(name):
    ours, make, kind = METRIC_CASES[name]
    rng = np.random.default_rng(8)
    # Two batches with (B,) sample weights.
    flat = []
    for i, b in enumerate([B, B]):
        y_true, y_pred = _data(kind, (b, C), seed=10 + i)
        flat.append((y_true, y_pred, rng.uniform(0, 2, size=(b,)).astype(np.float32), None))
    np.testing.assert_allclose(_stream(ours, flat), _keras_stream(make, flat), atol=ATOL)
    unweighted = [(yt, yp, None, None) for yt, yp, _, _ in flat]
    np.testing.assert_allclose(
        _stream(ours, unweighted), _keras_stream(make, unweighted), atol=ATOL
    )
    # Sequence outputs: (B,) weights, then (B, T) masks, with a different T per batch.
    seq, masked = [], []
    for i, t in enumerate([T, T - 2]):
        y_true, y_pred = _data(kind, (B, t, C), seed=20 + i)
        sw = rng.uniform(0, 2, size=(B,)).astype(np.float32)
        mask = rng.uniform(size=(B, t)) > 0.4
        seq.append((y_true, y_pred, sw, None))
        masked.append((y_true, y_pred, None, mask))
    np.testing.assert_allclose(_stream(ours, seq), _keras_stream(make, seq), atol=ATOL)
    np.testing.assert_allclose(_stream(ours, masked), _keras_stream(make, masked), atol=ATOL)
    # Mask and (B,) weights together: Keras needs the weights as (B, 1).
    both = [(yt, yp, sw, m) for (yt, yp, sw, _), (_, _, _, m) in zip(seq, masked)]
    keras_both = [(yt, yp, sw[:, None], m) for yt, yp, sw, m in both]
    np.testing.assert_allclose(_stream(ours, both), _keras_stream(make, keras_both), atol=ATOL)


@needs_keras
def test_metric_edge_cases():
    y_true, y_pred = _data("sparse_logits", (B, T, C))
    metric = metrics.SparseCategoricalAccuracy()
    total, count = metric.update(y_true, y_pred, mask=np.zeros((B, T), bool))
    assert float(total) == float(count) == 0.0
    assert float(metrics.result(total, count)) == 0.0
    np.testing.assert_array_equal(
        metric.update(y_true[..., None], y_pred), metric.update(y_true, y_pred)
    )
    # (B,) labels with (B, 1) binary predictions, under jit with the metric static.
    y_true, y_pred = _data("binary_prob", (B, 1))
    update = jax.jit(lambda m, *a: m.update(*a), static_argnums=0)
    got = update(metrics.BinaryAccuracy(), y_true[:, 0], y_pred, np.ones((B,), np.float32), None)
    want = _keras_stream(keras.metrics.BinaryAccuracy, [(y_true[:, 0], y_pred, None, None)])
    np.testing.assert_allclose(metrics.result(*got), want, atol=ATOL)
    with pytest.raises(ValueError, match=r"sample_weight: got shape \(3,\)"):
        metric.update(np.zeros((B,), np.int32), y_pred, sample_weight=np.ones(3))


@needs_keras
def test_get_metrics():
    for name, cls in [
        ("binary_accuracy", metrics.BinaryAccuracy),
        ("BinaryAccuracy", metrics.BinaryAccuracy),
        ("categorical_accuracy", metrics.CategoricalAccuracy),
        ("CategoricalAccuracy", metrics.CategoricalAccuracy),
        ("sparse_categorical_accuracy", metrics.SparseCategoricalAccuracy),
        ("SparseCategoricalAccuracy", metrics.SparseCategoricalAccuracy),
        ("mse", metrics.MeanSquaredError),
        ("mean_squared_error", metrics.MeanSquaredError),
        ("MeanSquaredError", metrics.MeanSquaredError),
        ("mae", metrics.MeanAbsoluteError),
        ("mean_absolute_error", metrics.MeanAbsoluteError),
        ("MeanAbsoluteError", metrics.MeanAbsoluteError),
    ]:
        m = metrics.get(name)
        assert type(m) is cls and m.name == name  # Keras's history key is the string

    by_loss = {
        "binary_crossentropy": metrics.BinaryAccuracy(name="accuracy"),
        losses.BinaryCrossentropy(from_logits=True): metrics.BinaryAccuracy(0.0, name="accuracy"),
        "categorical_crossentropy": metrics.CategoricalAccuracy(name="accuracy"),
        losses.CategoricalCrossentropy(True): metrics.CategoricalAccuracy(name="accuracy"),
        "sparse_categorical_crossentropy": metrics.SparseCategoricalAccuracy(name="accuracy"),
        "mse": metrics.AutoAccuracy(),
        None: metrics.AutoAccuracy(),
    }
    for loss, want in by_loss.items():
        assert metrics.get("accuracy", loss=loss) == want
    assert metrics.get("acc", loss="binary_crossentropy") == metrics.BinaryAccuracy(name="acc")
    logits_bce = losses.BinaryCrossentropy(from_logits=True)
    assert metrics.get("binary_accuracy", loss=logits_bce).threshold == 0.0
    explicit = metrics.BinaryAccuracy()
    assert metrics.get(explicit, loss=logits_bce) is explicit

    # Threshold 0 on logits == Keras's 0.5 on the probabilities.
    y_true, logits = _data("binary_logits", (B, 1))
    got = metrics.result(*metrics.get("accuracy", loss=logits_bce).update(y_true, logits))
    want = _keras_stream(
        keras.metrics.BinaryAccuracy, [(y_true, np.asarray(jax.nn.sigmoid(logits)), None, None)]
    )
    np.testing.assert_allclose(got, want, atol=ATOL)

    # AutoAccuracy follows Keras 3's shape rule.
    from keras.src.trainers.compile_utils import get_metric

    for kind, shape, labels_1 in [
        ("binary_prob", (B, 1), False),
        ("sparse_prob", (B, T, C), False),
        ("sparse_prob", (B, C), True),
        ("cat_prob", (B, T, C), False),
    ]:
        y_true, y_pred = _data(kind, shape)
        if labels_1:
            y_true = y_true[..., None]
        got = metrics.result(*metrics.AutoAccuracy().update(y_true, y_pred))
        make = functools.partial(get_metric, "accuracy", y_true, y_pred)
        want = _keras_stream(make, [(y_true, y_pred, None, None)])
        np.testing.assert_allclose(got, want, atol=ATOL, err_msg=f"{kind} {shape}")

    wrapped = metrics.get(losses.MeanAbsoluteError())
    assert isinstance(wrapped, metrics.MetricFunction) and wrapped.name == "mean_absolute_error"
    assert metrics.get(lambda y, p: jnp.abs(y - p)).name == "<lambda>"
    with pytest.raises(ValueError, match=r"metrics: got 'accuracyy'.*'accuracy'"):
        metrics.get("accuracyy")
    with pytest.raises(TypeError, match="metrics: got 1.5"):
        metrics.get(1.5)


def test_bad_loss_inputs_name_the_argument():
    with pytest.raises(TypeError, match="fn: got int, expected a function"):
        losses.LossFunction(3)
    with pytest.raises(TypeError, match="name: got int"):
        losses.LossFunction(abs, name=3)
    with pytest.raises(TypeError, match="loss 'words'.s result: got str"):
        losses.LossFunction(lambda y, p: "a", name="words")(np.zeros(3), np.zeros(3))
    for bad in (["a"], None, [[1], [1, 2]]):
        with pytest.raises(TypeError, match="values: got"):
            losses.reduce_weighted(bad)
    # numbers of any kind pass, traced ones too
    assert float(losses.reduce_weighted([1, 2])) == 1.5
    assert float(losses.reduce_weighted(np.array([True, False]))) == 0.5
    assert float(jax.jit(losses.reduce_weighted)(jnp.ones(3, jnp.bfloat16))) == 1.0
