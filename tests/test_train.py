"""fit / evaluate / predict: one compilation, determinism, bitwise resume, crash-safe
checkpoints, non-finite losses, data parallelism, padding, Keras parity, callbacks.

Models are tiny (H = 8) and data sets have ~100 rows so the whole file runs in well
under a minute and a half on two cores; most of the time is XLA compiling train steps.
"""

import csv
import json
import math
import os
import warnings

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import pytest  # noqa: E402
from peers import bitwise_equal, np_leaves  # noqa: E402

import jrnn  # noqa: E402
from jrnn import callbacks as cbs  # noqa: E402
from jrnn import checkpoint  # noqa: E402
from jrnn.layers import LSTM, Dense, Embedding, TimeDistributed  # noqa: E402
from jrnn.training import _batches, _objective  # noqa: E402

V, T, F, H = 30, 6, 3, 8  # vocabulary, steps, float features, units
CE = jrnn.losses.SparseCategoricalCrossentropy(from_logits=True)
ONE = jax.devices()[:1]

pytestmark = [
    pytest.mark.filterwarnings(
        # Keras's Variable.__array__ under NumPy 2 (in get_weights); not ours.
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    ),
]


def _tokens(n, seed=0):
    """Left-padded token ids (n, T) with lengths 2..T, and a learnable binary label."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, V, (n, T)).astype(np.int32)
    lengths = rng.integers(2, T + 1, n)
    x[np.arange(T)[None, :] < (T - lengths)[:, None]] = 0
    y = (x[:, -1] > V // 2).astype(np.int32)
    return x, y


def _floats(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, T, F)).astype(np.float32)
    y = x[:, :, 0].mean(axis=1, keepdims=True).astype(np.float32)
    return x, y


def _clf(**lstm_kw):
    return jrnn.Sequential([Embedding(V, 8, mask_zero=True), LSTM(H, **lstm_kw), Dense(2)])


def _reg(**lstm_kw):
    return jrnn.Sequential([LSTM(H, **lstm_kw), Dense(1)])


def _init(model, x, seed=0):
    return model.init(jax.random.key(seed), x[:2])


def _fit(model, variables, data, **kw):
    kw = {"loss": CE, "optimizer": optax.adam(1e-2), "verbose": 0, "batch_size": 32, **kw}
    return jrnn.fit(model, variables, data, **kw)


def _assert_state_bitwise(s1, s2):
    for field in ("params", "opt_state", "model_state", "step", "key"):
        assert bitwise_equal(getattr(s1, field), getattr(s2, field)), field


# -- 1. one compilation ----------------------------------------------------------------------
def test_one_trace_for_train_and_one_for_eval(compiles):
    traces = []

    def counting_ce(y_true, y_pred):
        traces.append(y_pred.shape)  # Python runs only while JAX traces
        return optax.losses.softmax_cross_entropy_with_integer_labels(y_pred, y_true)

    x, y = _tokens(148)  # 148 = 4 * 32 + 20: a short last batch (20 splits over 4 devices)
    model = _clf()
    state, hist = _fit(
        model,
        _init(model, x),
        (x, y),
        loss=counting_ce,
        epochs=3,
        validation_data=_tokens(52, seed=1),  # 52 rows: also a short last batch
    )
    # The train step traces the loss once (inside value_and_grad) and the eval step once;
    # a padded last batch, a second epoch or the validation pass must not add traces.
    assert traces == [(32, 2), (32, 2)]
    # ...and each compiles once: the state a step returns has the shardings it was given.
    assert compiles["jit(train_step)"] == compiles["jit(eval_step)"] == 1
    assert int(state.step) == 3 * 5
    assert len(hist.history["loss"]) == len(hist.history["val_loss"]) == 3


# -- 2. determinism -------------------------------------------------------------------------
def test_same_seed_same_run_and_other_seed_differs():
    x, y = _tokens(100)
    model = _clf(dropout=0.3, recurrent_dropout=0.3)
    v = _init(model, x)
    runs = [_fit(model, v, (x, y), epochs=2, shuffle=True, seed=s, devices=ONE) for s in (1, 1, 2)]
    (s1, h1), (s2, h2), (s3, h3) = runs
    assert h1.history == h2.history
    _assert_state_bitwise(s1, s2)
    assert h1.history["loss"] != h3.history["loss"]
    assert not bitwise_equal(s1.params, s3.params)


# -- 3./4. checkpoints and resume -------------------------------------------------------------
RESUME = {"epochs": 4, "shuffle": True, "seed": 3, "batch_size": 16}


@pytest.fixture(scope="module")
def resume_setup():
    x, y = _tokens(70)  # 70 % 16 != 0: a padded last batch every epoch
    model = _clf(dropout=0.2)
    v = _init(model, x)
    straight = _fit(model, v, (x, y), validation_data=_tokens(20, 5), **RESUME)
    return model, v, (x, y), straight


def test_resume_is_bitwise(resume_setup, tmp_path):
    model, v, data, (s_straight, h_straight) = resume_setup
    val = _tokens(20, 5)
    s_half, h_half = _fit(
        model, v, data, validation_data=val, checkpoint_dir=tmp_path, **{**RESUME, "epochs": 2}
    )
    assert checkpoint.all_steps(tmp_path) == [1, 2]
    assert int(s_half.step) == 2 * 5
    s_res, h_res = _fit(model, v, data, validation_data=val, checkpoint_dir=tmp_path, **RESUME)
    _assert_state_bitwise(s_res, s_straight)
    assert h_res.history == h_straight.history
    assert h_res.epoch == h_straight.epoch == [0, 1, 2, 3]
    # A finished run resumes to nothing and returns the saved state.
    s_again, h_again = _fit(model, v, data, validation_data=val, checkpoint_dir=tmp_path, **RESUME)
    _assert_state_bitwise(s_again, s_straight)
    assert h_again.history == h_straight.history
    with pytest.raises(ValueError, match=r"checkpoint_dir.*\[3, 4\].*resume=False"):
        _fit(model, v, data, checkpoint_dir=tmp_path, resume=False, **RESUME)
    with pytest.warns(UserWarning, match="seed: got 4.*started with seed 3"):
        _fit(model, v, data, validation_data=val, checkpoint_dir=tmp_path, **{**RESUME, "seed": 4})


def test_crash_during_save_keeps_last_checkpoint_and_resumes(resume_setup, tmp_path, monkeypatch):
    model, v, data, (s_straight, h_straight) = resume_setup
    val = _tokens(20, 5)
    real_replace = os.replace

    def failing_replace(src, dst):
        if str(dst).endswith("ckpt_00000002.npz"):
            raise OSError("disk full (simulated)")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        _fit(model, v, data, validation_data=val, checkpoint_dir=tmp_path, **RESUME)
    monkeypatch.setattr(os, "replace", real_replace)

    assert checkpoint.latest_step(tmp_path) == 1
    assert not list(tmp_path.glob("*.tmp"))
    target = jrnn.training.create_train_state(v, optax.adam(1e-2))
    restored, meta = checkpoint.restore(tmp_path, target)
    assert meta["epoch"] == 1 and int(restored.step) == 5
    assert meta["history"]["history"]["loss"] == h_straight.history["loss"][:1]

    s_res, h_res = _fit(model, v, data, validation_data=val, checkpoint_dir=tmp_path, **RESUME)
    _assert_state_bitwise(s_res, s_straight)
    assert h_res.history == h_straight.history


# -- 5. non-finite loss ------------------------------------------------------------------------
@pytest.mark.parametrize("bad_row", [70, 99])  # batch 2 of 4 (mid-epoch) and the last one
def test_nonfinite_loss_stops_with_state_before_the_bad_step(tmp_path, bad_row):
    x, y = _floats(100)
    model = _reg()
    v = _init(model, x)
    kw = dict(loss="mse", shuffle=False, devices=ONE, checkpoint_dir=tmp_path)
    s1, _ = _fit(model, v, (x, y), epochs=1, **kw)  # a clean first epoch, checkpointed
    assert checkpoint.latest_step(tmp_path) == 1

    bad_x = x.copy()
    bad_x[bad_row, 2, 1] = np.nan
    bad_batch = bad_row // 32
    with pytest.warns(RuntimeWarning, match=rf"epoch 2, batch {bad_batch}\b") as rec:
        state, hist = _fit(model, v, (bad_x, y), epochs=3, **kw)
    assert "non-finite" in str(rec[0].message)
    assert int(state.step) == 4 + bad_batch  # 4 steps per epoch, then the good ones
    assert all(np.isfinite(a).all() for a in np_leaves(state.params))
    assert all(np.isfinite(a).all() for a in np_leaves(state.opt_state))
    assert checkpoint.all_steps(tmp_path) == [1]  # nothing saved for the bad epoch
    assert len(hist.history["loss"]) == 1  # only the resumed, clean epoch

    # The returned state is exactly the one after the good steps: redo them by hand.
    ref, _ = (
        _fit(
            model,
            s1,
            (x[: 32 * bad_batch], y[: 32 * bad_batch]),
            epochs=1,
            loss="mse",
            shuffle=False,
            devices=ONE,
        )
        if bad_batch
        else (s1, None)
    )
    assert bitwise_equal(state.params, ref.params)

    with pytest.raises(FloatingPointError, match=rf"epoch 1, batch {bad_batch}\b"):
        _fit(
            model,
            v,
            (bad_x, y),
            epochs=1,
            loss="mse",
            shuffle=False,
            devices=ONE,
            callbacks=[cbs.TerminateOnNaN(raise_error=True)],
        )


def test_nonfinite_gradient_with_finite_loss_stops_before_the_step(tmp_path):
    # sqrt at 0: the loss is 0 but its gradient is NaN, which would make the parameters
    # NaN with a finite loss; the step is reported and nothing NaN is returned or saved.
    x, y = _floats(64)
    model = _reg()
    v = _init(model, x)

    def loss(y_true, y_pred):
        return jnp.sqrt(jnp.sum(y_pred * 0.0, axis=-1))

    with pytest.warns(RuntimeWarning, match=r"non-finite.*epoch 1, batch 0\b"):
        state, hist = _fit(model, v, (x, y), loss=loss, devices=ONE, checkpoint_dir=tmp_path)
    assert int(state.step) == 0
    assert bitwise_equal(state.params, v["params"])
    assert checkpoint.all_steps(tmp_path) == []
    assert hist.history == {}


# -- 6. data parallel ---------------------------------------------------------------------------
def test_four_devices_match_one_device():
    assert len(jax.devices()) == 4
    x, y = _tokens(95)
    model = _clf()
    v = _init(model, x)
    kw = dict(
        epochs=2,
        batch_size=10,
        shuffle=True,
        seed=0,
        metrics=["accuracy"],
        validation_data=_tokens(25, 1),
    )  # 10 % 4 != 0: 12-row batches, 2 padded
    s4, h4 = _fit(model, v, (x, y), **kw)
    s1, h1 = _fit(model, v, (x, y), devices=ONE, **kw)
    assert h4.history.keys() == h1.history.keys()
    for k in h1.history:
        np.testing.assert_allclose(h4.history[k], h1.history[k], rtol=1e-5, err_msg=k)
    for a, b in zip(np_leaves(s4.params), np_leaves(s1.params)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert int(s4.step) == int(s1.step) == 2 * 10
    # The state really is spread over the four devices.
    assert len(jax.tree.leaves(s4.params)[0].sharding.device_set) == 4


# -- 7. padding, sample weights, sequence masks ----------------------------------------------
def test_evaluate_with_padded_batches_equals_one_pass():
    x, y = _tokens(75)
    model = _clf()
    v = _init(model, x)
    logits, _ = model.apply(v, x)
    per = np.asarray(optax.losses.softmax_cross_entropy_with_integer_labels(logits, y))
    hits = (np.argmax(np.asarray(logits), -1) == y).astype(np.float64)
    w = np.random.default_rng(1).uniform(0, 2, 75).astype(np.float32)

    logs = jrnn.evaluate(model, v, (x, y), loss=CE, metrics=["accuracy"], batch_size=32)
    assert logs.keys() == {"loss", "accuracy"}
    np.testing.assert_allclose(logs["loss"], per.mean(), rtol=1e-5)
    np.testing.assert_allclose(logs["accuracy"], hits.mean(), rtol=1e-6)

    logs_w = jrnn.evaluate(model, v, (x, y, w), loss=CE, metrics=["accuracy"], batch_size=32)
    # Keras: loss = sum(w * l) / rows; weighted metrics = sum(w * m) / sum(w).
    np.testing.assert_allclose(logs_w["loss"], (w * per).sum() / 75, rtol=1e-5)
    np.testing.assert_allclose(logs_w["accuracy"], (w * hits).sum() / w.sum(), rtol=1e-5)
    assert not np.isclose(logs_w["loss"], logs["loss"])

    # Zero-weighting rows is the same as leaving them out.
    keep = np.arange(75) % 3 != 0
    logs_z = jrnn.evaluate(
        model, v, (x, y, keep.astype(np.float32)), metrics=["accuracy"], loss=CE, batch_size=32
    )
    np.testing.assert_allclose(logs_z["accuracy"], hits[keep].mean(), rtol=1e-6)


def test_sequence_loss_skips_masked_steps():
    rng = np.random.default_rng(2)
    x, _ = _tokens(40)
    y = rng.integers(0, 3, (40, T)).astype(np.int32)
    model = jrnn.Sequential(
        [Embedding(V, 8, mask_zero=True), LSTM(H, return_sequences=True), TimeDistributed(Dense(3))]
    )
    v = _init(model, x)
    logits, _ = model.apply(v, x)
    per = np.asarray(optax.losses.softmax_cross_entropy_with_integer_labels(logits, y))
    mask = x != 0
    hits = np.argmax(np.asarray(logits), -1) == y

    # One (padded) batch: the loss is the mean over the valid steps.
    one = jrnn.evaluate(model, v, (x, y), loss=CE, metrics=["accuracy"], batch_size=64)
    np.testing.assert_allclose(one["loss"], per[mask].mean(), rtol=1e-5)
    assert not np.isclose(one["loss"], per.mean())
    np.testing.assert_allclose(one["accuracy"], hits[mask].mean(), rtol=1e-6)

    # Several batches: Keras averages each batch's masked mean, weighted by its rows;
    # accuracy is a running mean over every valid step.
    many = jrnn.evaluate(model, v, (x, y), loss=CE, metrics=["accuracy"], batch_size=16)
    batch_means = [per[i : i + 16][mask[i : i + 16]].mean() for i in range(0, 40, 16)]
    rows = [min(16, 40 - i) for i in range(0, 40, 16)]
    np.testing.assert_allclose(many["loss"], np.dot(batch_means, rows) / 40, rtol=1e-5)
    np.testing.assert_allclose(many["accuracy"], hits[mask].mean(), rtol=1e-6)

    # And training on it runs, with the masked steps out of the gradient: changing the
    # labels at padded steps changes nothing.
    y2 = np.where(mask, y, (y + 1) % 3)
    s_a, h_a = _fit(model, v, (x, y), epochs=1, batch_size=16, shuffle=False, devices=ONE)
    s_b, h_b = _fit(model, v, (x, y2), epochs=1, batch_size=16, shuffle=False, devices=ONE)
    assert h_a.history == h_b.history
    assert bitwise_equal(s_a.params, s_b.params)


# -- 8. Keras parity ------------------------------------------------------------------------------
def test_training_matches_keras():
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "jax":
        pytest.skip("needs KERAS_BACKEND=jax")
    x, y = _tokens(70)  # batch 32: batches of 32, 32, 6
    with jax.numpy_rank_promotion("allow"), jax.default_matmul_precision("highest"):
        km = keras.Sequential(
            [
                keras.Input((T,), dtype="int32"),
                keras.layers.Embedding(V, 8, mask_zero=True),
                keras.layers.LSTM(H),
                keras.layers.Dense(2),
            ]
        )
        km.compile(
            optimizer=keras.optimizers.SGD(0.5),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        w0 = [np.asarray(w) for w in km.get_weights()]
        kh = km.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0)
        k_final = [np.asarray(w) for w in km.get_weights()]

    model = _clf()
    v = _init(model, x)
    names = [
        ("embedding", "embeddings"),
        ("lstm", "kernel"),
        ("lstm", "recurrent_kernel"),
        ("lstm", "bias"),
        ("dense", "kernel"),
        ("dense", "bias"),
    ]
    params = {layer: dict(p) for layer, p in v["params"].items()}
    for (layer, name), w in zip(names, w0):
        assert params[layer][name].shape == w.shape
        params[layer][name] = jnp.asarray(w)
    with jax.default_matmul_precision("highest"):
        state, hist = _fit(
            model,
            {**v, "params": params},
            (x, y),
            optimizer=optax.sgd(0.5),
            metrics=["accuracy"],
            epochs=3,
            shuffle=False,
            devices=ONE,
        )
    np.testing.assert_allclose(hist.history["loss"], kh.history["loss"], rtol=1e-4)
    np.testing.assert_allclose(hist.history["accuracy"], kh.history["accuracy"], atol=1e-6)
    assert hist.history["loss"][-1] < hist.history["loss"][0]  # it did learn something
    for (layer, name), w in zip(names, k_final):
        np.testing.assert_allclose(
            np.asarray(state.params[layer][name]),
            w,
            rtol=1e-4,
            atol=1e-5,
            err_msg=f"{layer}/{name}",
        )


# -- 9. callbacks ---------------------------------------------------------------------------
def test_callbacks(tmp_path):
    x, y = _tokens(64)
    model = _clf()
    v = _init(model, x)
    calls, params_at = [], []

    def on_epoch_end(epoch, logs):
        calls.append(("epoch_end", epoch, sorted(logs)))
        params_at.append(jax.device_get(lam.loop.state.params))

    lam = cbs.LambdaCallback(
        on_train_begin=lambda logs: calls.append(("train_begin",)),
        on_epoch_begin=lambda epoch, logs: calls.append(("epoch_begin", epoch)),
        on_train_batch_end=lambda batch, logs: calls.append(("batch_end", batch, sorted(logs))),
        on_epoch_end=on_epoch_end,
        on_train_end=lambda logs: calls.append(("train_end",)),
    )
    es = cbs.EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    mc = cbs.ModelCheckpoint(tmp_path / "best", monitor="val_loss", save_best_only=True)
    log = tmp_path / "log.csv"
    schedule = optax.exponential_decay(0.05, transition_steps=1, decay_rate=0.9)
    opt = optax.inject_hyperparams(optax.adam)(learning_rate=schedule)
    # Validation labels are the flipped training labels: as training improves, val_loss
    # gets worse, so early stopping must trigger and the best epoch is an early one.
    state, hist = _fit(
        model,
        v,
        (x, y),
        optimizer=opt,
        epochs=12,
        batch_size=16,
        validation_data=(x, 1 - y),
        shuffle=False,
        devices=ONE,
        callbacks=[lam, es, mc, cbs.CSVLogger(log)],
    )
    val = hist.history["val_loss"]
    n = len(val)
    assert 2 <= n < 12 and es.stopped_epoch == n - 1
    # Keras's rule: stop once `patience` epochs in a row did not improve on the best.
    best = int(np.argmin(val))
    assert n - 1 - best == 1 and all(v_ > val[best] for v_ in val[best + 1 :])
    assert bitwise_equal(state.params, params_at[best])
    assert not bitwise_equal(state.params, params_at[-1])

    # ModelCheckpoint(save_best_only): saved at exactly the improving epochs.
    improving = [e + 1 for e in range(n) if val[e] < min(val[:e], default=np.inf)]
    assert checkpoint.all_steps(tmp_path / "best") == improving
    saved, meta = checkpoint.restore(tmp_path / "best", state, step=best + 1)
    assert bitwise_equal(saved.params, params_at[best])
    assert meta["logs"]["val_loss"] == val[best]

    # learning_rate logged: the rate of each epoch's last step (4 steps per epoch).
    np.testing.assert_allclose(
        hist.history["learning_rate"],
        [float(schedule(4 * (e + 1) - 1)) for e in range(n)],
        rtol=1e-6,
    )

    # CSVLogger: a header and one row per epoch, the same numbers as the history.
    with open(log, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", *sorted(hist.history)]
    assert len(rows) == n + 1
    for e, row in enumerate(rows[1:]):
        assert int(row[0]) == e
        for k, cell in zip(rows[0][1:], row[1:]):
            assert float(cell) == pytest.approx(hist.history[k][e], rel=1e-6)

    # LambdaCallback: every hook, in order, with Keras's arguments.
    keys = sorted(hist.history)
    expected = [("train_begin",)]
    for e in range(n):
        expected.append(("epoch_begin", e))
        expected += [("batch_end", b, ["loss"]) for b in range(4)]
        expected.append(("epoch_end", e, keys))
    expected.append(("train_end",))
    assert calls == expected

    # History files.
    hist.to_json(tmp_path / "h.json")
    hist.to_csv(tmp_path / "h.csv")
    hist.plot(tmp_path / "h.png")
    assert json.loads((tmp_path / "h.json").read_text())["history"] == hist.history
    assert (tmp_path / "h.csv").read_text().splitlines()[0] == ",".join(["epoch", *keys])
    png = (tmp_path / "h.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 1000
    assert not list(tmp_path.glob("*.tmp*"))


def test_early_stopping_rules():
    """EarlyStopping on its own, driven by hand (Keras 3 semantics)."""

    class Loop:
        def __init__(self):
            self.state = jrnn.TrainState(0, None, {}, 0, None)
            self.stop_training = False

    def run(values, **kw):
        monitor = kw.pop("monitor", "val_loss")
        es = cbs.EarlyStopping(monitor=monitor, **kw)
        es.loop = Loop()
        es.on_train_begin({})
        for e, value in enumerate(values):
            es.loop.state = es.loop.state._replace(params=e)
            es.on_epoch_end(e, {monitor: value})
            if es.loop.stop_training:
                break
        es.on_train_end({})
        return e, es.loop.state.params

    assert run([5, 4, 3, 3.5, 2], patience=1) == (3, 3)  # no restore: the last params
    assert run([5, 4, 3, 3.5, 2], patience=1, restore_best_weights=True) == (3, 2)
    assert run([5, 4, 3, 3.5, 2], patience=2) == (4, 4)
    assert run([5, 4.99, 4.98], patience=1, min_delta=0.1, restore_best_weights=True) == (1, 0)
    assert run([1, 2, 3], patience=0, mode="max") == (2, 2)  # never stops: always improving
    assert run([3, 2, 1], patience=0, monitor="val_acc") == (1, 1)  # auto mode: max
    # A baseline that is never beaten: stop after `patience` epochs, restore the best.
    assert run([5, 4, 4.5, 4.2, 4.1], patience=3, baseline=1.0, restore_best_weights=True) == (2, 1)
    assert run([5, 4, 4.5], patience=3, baseline=1.0, restore_best_weights=True)[1] == 1
    with pytest.raises(ValueError, match="mode"):
        cbs.EarlyStopping(mode="up")


def test_early_stopping_and_best_checkpoint_replay_a_resumed_history(tmp_path):
    """After a resume the callbacks decide as in the uninterrupted run: EarlyStopping and
    ModelCheckpoint(save_best_only) replay the restored history."""

    class Loop:
        def __init__(self, past=()):
            self.state = jrnn.TrainState({"w": np.zeros(2)}, None, {}, 0, None)
            self.stop_training = False
            self.initial_epoch = len(past)
            self.history = jrnn.History({"val_loss": list(past)}, list(range(len(past))))

    def run(values, start=0, **kw):
        """Epochs start.. of `values` after a resume at `start`: (last epoch, params)."""
        es = cbs.EarlyStopping(**kw)
        es.loop = Loop(values[:start])
        es.on_train_begin({})
        e = start - 1
        for epoch in range(start, len(values)):
            if es.loop.stop_training:
                break
            e = epoch
            es.loop.state = es.loop.state._replace(params=e)
            es.on_epoch_end(e, {"val_loss": values[e]})
        es.on_train_end({})
        return e, es.loop.state.params

    values = [5.0, 4.0, 3.0, 3.5, 3.2, 2.0, 1.0]
    for kw in ({"patience": 2}, {"patience": 1}, {"patience": 2, "baseline": 1.0}):
        straight = run(values, **kw)
        # every resume point the straight run reaches (its checkpoints 1..stop + 1)
        for start in range(1, straight[0] + 2):
            assert run(values, start, **kw)[0] == straight[0], (kw, start)
    # A stop already due at the resume: no epoch more (the straight run stopped at epoch
    # 3; resumed from its last checkpoint, nothing trains and the parameters stay).
    e, params = run(values, 4, patience=1)
    assert e == 3 and isinstance(params, dict)
    # restore_best_weights: the best epoch after the resume is restored; one before it
    # is not in memory: a warning, the last parameters kept.
    assert run(values, 1, patience=1, restore_best_weights=True) == (3, 2)
    assert run(values, 2, patience=3, restore_best_weights=True) == (6, 6)
    with pytest.warns(RuntimeWarning, match=r"best epoch \(3, val_loss 3.0\) came before"):
        assert run(values, 3, patience=1, restore_best_weights=True) == (3, 3)

    # NaNs that pad epochs trained before the key existed (no validation data then) are
    # not epochs without improvement; a history that trained on after a stop (other
    # callbacks) does not stop the resumed run.
    for past in ([math.nan] * 3 + [0.5, 0.4], [5.0, 4.0, 3.0, 3.5, 3.2, 2.0]):
        es = cbs.EarlyStopping(patience=1)
        es.loop = Loop(past)
        es.on_train_begin({})
        assert not es.loop.stop_training and es.stopped_epoch is None, past

    mc = cbs.ModelCheckpoint(tmp_path / "best", save_best_only=True, save_weights_only=True)
    mc.loop = Loop([0.5, 0.3, 0.4])
    mc.on_train_begin({})
    mc.on_epoch_end(3, {"val_loss": 0.35})  # worse than epoch 1's 0.3: not saved
    assert checkpoint.all_steps(tmp_path / "best") == []
    mc.on_epoch_end(4, {"val_loss": 0.2})
    assert checkpoint.all_steps(tmp_path / "best") == [5]
    # The same instance in a later, fresh fit keeps its best (as Keras's).
    mc.loop = Loop()
    mc.on_train_begin({})
    mc.on_epoch_end(0, {"val_loss": 0.9})
    assert checkpoint.all_steps(tmp_path / "best") == [5] and mc.best == 0.2


def test_fit_resumed_after_early_stop_trains_no_more(tmp_path):
    x, y = _tokens(40)
    model = _clf()
    v = _init(model, x)
    # Any epoch after the first "fails to improve" by 1e9: training stops after epoch 2.
    stop = lambda: cbs.EarlyStopping(monitor="loss", min_delta=1e9, patience=0)  # noqa: E731
    kw = {"devices": ONE, "batch_size": 16}
    s1, h1 = _fit(model, v, (x, y), epochs=5, callbacks=[stop()], **kw)
    assert len(h1.epoch) == 2
    ckpt = tmp_path / "ckpt"
    _fit(model, v, (x, y), epochs=5, callbacks=[stop()], checkpoint_dir=ckpt, **kw)
    s2, h2 = _fit(model, v, (x, y), epochs=5, callbacks=[stop()], checkpoint_dir=ckpt, **kw)
    _assert_state_bitwise(s1, s2)
    assert h2.history == h1.history and checkpoint.latest_step(ckpt) == 2


def test_history_keys_stay_aligned(tmp_path):
    h = jrnn.History()
    h.on_epoch_end(0, {"loss": 1.0})
    h.on_epoch_end(1, {"loss": 0.5, "val_loss": 0.7})
    h.on_epoch_end(2, {"val_loss": 0.6})
    assert h.epoch == [0, 1, 2]
    np.testing.assert_array_equal(h.history["loss"], [1.0, 0.5, np.nan])
    np.testing.assert_array_equal(h.history["val_loss"], [np.nan, 0.7, 0.6])
    h.to_csv(tmp_path / "h.csv")
    assert (tmp_path / "h.csv").read_text().splitlines() == [
        "epoch,loss,val_loss",
        "0,1.0,nan",
        "1,0.5,0.7",
        "2,nan,0.6",
    ]
    h.plot(tmp_path / "h.png")
    again = jrnn.History.from_dict(json.loads(json.dumps(h.to_dict())))
    assert again.epoch == h.epoch
    np.testing.assert_array_equal(again.history["loss"], h.history["loss"])


# -- 10. verbosity ------------------------------------------------------------------------------
def test_verbose_lines(capsys):
    x, y = _tokens(40)
    model = _clf()
    v = _init(model, x)
    _fit(model, v, (x, y), epochs=2, verbose=1, devices=ONE, validation_data=(x, y))
    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    assert len(lines) == 2, out.out
    assert lines[0].startswith("Epoch 1/2") and lines[1].startswith("Epoch 2/2")
    assert "loss: " in lines[0] and "val_loss: " in lines[0]
    assert out.err == ""

    _fit(model, v, (x, y), epochs=2, verbose=0, devices=ONE)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


# -- 11. stateful models -----------------------------------------------------------------------
def test_stateful_fit_and_predict(compiles):
    B = 8
    rng = np.random.default_rng(4)
    long = rng.standard_normal((B, 2 * T, F)).astype(np.float32)
    # Rows 0..B-1 are the first halves, rows B..2B-1 their continuations.
    chunks = np.concatenate([long[:, :T], long[:, T:]])
    model = _reg(stateful=True)
    v = model.init(jax.random.key(0), chunks[:B])  # the carry is (B, H): batches of B rows
    plain = _reg()

    # predict carries the state across batches: the continuation rows equal one pass
    # over the whole sequences.
    got = jrnn.predict(model, v, chunks, batch_size=B)  # 4 devices, 2 rows each
    want, _ = plain.apply({"params": v["params"], "state": {}}, long)
    first, _ = plain.apply({"params": v["params"], "state": {}}, long[:, :T])
    np.testing.assert_allclose(got[B:], np.asarray(want), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[:B], np.asarray(first), rtol=1e-5, atol=1e-6)

    # fit: the carry runs through an epoch's batches and is reset at each epoch start, so
    # epoch 2 with a zero learning rate gives the same loss as epoch 1.
    y = rng.standard_normal((2 * B, 1)).astype(np.float32)
    seen = []
    lam = cbs.LambdaCallback(
        on_epoch_begin=lambda e, logs: seen.append(np_leaves(lam.loop.state.model_state))
    )
    compiles.clear()  # (predict compiled its own step above)
    state, hist = _fit(
        model,
        v,
        (chunks, y),
        loss="mse",
        optimizer=optax.sgd(0.0),
        batch_size=B,
        epochs=2,
        shuffle=False,
        callbacks=[lam],
        validation_data=(chunks, y),
    )
    # The carries are split over the 4 devices like the rows: the steps compile once.
    assert compiles["jit(train_step)"] == compiles["jit(eval_step)"] == 1
    assert hist.history["loss"][0] == hist.history["loss"][1]
    np.testing.assert_allclose(hist.history["val_loss"], hist.history["loss"], rtol=1e-6)
    want_loss = np.mean((np.concatenate([np.asarray(first), np.asarray(want)]) - y) ** 2)
    np.testing.assert_allclose(hist.history["loss"][0], want_loss, rtol=1e-5)
    assert all(not a.any() for a in seen[1])  # zeros at the start of epoch 2
    assert any(a.any() for a in np_leaves(state.model_state))  # the final carry is kept

    # Batches must match the carries' rows, also after padding for the devices.
    with pytest.raises(ValueError, match=r"batch_size: got 4.*carries hold 8 rows"):
        _fit(model, v, (chunks, y), loss="mse", batch_size=4, devices=ONE)
    with pytest.raises(ValueError, match=r"batch_size: got 10 \(12 rows.*4 devices.*8 rows"):
        jrnn.predict(model, v, chunks, batch_size=10)


# -- 12. errors -----------------------------------------------------------------------------------
def test_errors_name_the_argument():
    x, y = _tokens(20)
    model = _clf()
    v = _init(model, x)

    def fit(data=(x, y), **kw):
        return _fit(model, v, data, devices=ONE, **kw)

    with pytest.raises(ValueError, match="batch_size"):
        fit(batch_size=0)
    with pytest.raises(ValueError, match="epochs"):
        fit(epochs=0)
    with pytest.raises(TypeError, match="data"):
        fit(data=42)
    with pytest.raises(TypeError, match="data"):
        fit(data="tokens.txt")
    with pytest.raises(TypeError, match="data"):
        fit(data=x)  # x without y
    with pytest.raises(TypeError, match=r"data \(x\)"):
        fit(data=(x.astype(str), y))
    with pytest.raises(ValueError, match=r"data.*\(20, 6\).*\(19,\)"):
        fit(data=(x, y[:-1]))
    with pytest.raises(ValueError, match="data"):
        fit(data=(x[:0], y[:0]))
    with pytest.raises(ValueError, match="validation_split"):
        fit(data=[(x, y)], validation_split=0.2)
    with pytest.raises(ValueError, match="validation_split"):
        fit(validation_split=1.5)
    with pytest.raises(ValueError, match=r"monitor.*'val_acc'.*val_loss"):
        fit(validation_data=(x, y), callbacks=[cbs.EarlyStopping(monitor="val_acc")])
    with pytest.raises(ValueError, match="loss"):
        fit(loss="nope")
    with pytest.raises(TypeError, match="optimizer"):
        fit(optimizer=0.01)
    with pytest.raises(ValueError, match="optimizer: got 'adamx'"):
        fit(optimizer="adamx")
    with pytest.raises(ValueError, match="seed"):
        fit(seed=-1)
    with pytest.raises(TypeError, match=r"callbacks\[1\]"):
        fit(callbacks=[cbs.History(), print])
    with pytest.raises(ValueError, match="metrics.*accuracy"):
        fit(metrics=["accuracy", "accuracy"])
    with pytest.raises(ValueError, match="validation_data: got no batches"):
        fit(validation_data=[])
    assert jrnn.evaluate(model, v, (x, y), metrics="accuracy", devices=ONE).keys() == {"accuracy"}
    # Keras's None defaults: no metrics, no callbacks, batch size 32.
    _, h = fit(metrics=None, callbacks=None, batch_size=None)
    assert h.history.keys() == {"loss"}
    assert jrnn.evaluate(model, v, (x, y), loss=CE, metrics=None, batch_size=None, devices=ONE)
    assert jrnn.predict(model, v, x, batch_size=None, devices=ONE).shape == (20, 2)
    with pytest.raises(ValueError, match="batch_size"):
        jrnn.evaluate(model, v, (x, y), loss=CE, batch_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        jrnn.predict(model, v, x, batch_size=-1)
    with pytest.raises(ValueError, match="x"):
        jrnn.predict(model, v, x[:0])
    with pytest.raises(TypeError, match="variables"):
        jrnn.predict(model, v["params"], x)


def test_iterable_of_batches_and_validation_split():
    x, y = _tokens(50)
    model = _clf()
    v = _init(model, x)
    batches = [(x[i : i + 16], y[i : i + 16]) for i in range(0, 50, 16)]  # 16, 16, 16, 2 rows
    s_it, h_it = _fit(model, v, batches, epochs=2, devices=ONE, validation_data=batches)
    s_ar, h_ar = _fit(
        model,
        v,
        (x, y),
        epochs=2,
        batch_size=16,
        shuffle=False,
        devices=ONE,
        validation_data=(x, y),
    )
    np.testing.assert_allclose(h_it.history["loss"], h_ar.history["loss"], rtol=1e-6)
    np.testing.assert_allclose(h_it.history["val_loss"], h_ar.history["val_loss"], rtol=1e-6)
    assert bitwise_equal(s_it.params, s_ar.params)

    # Two or three batches in a list are batches, not (x, y[, sample_weight]); nested
    # Python lists are arrays.
    def ev(data, **kw):
        return jrnn.evaluate(model, s_ar, data, loss=CE, devices=ONE, **kw)

    for k in (2, 3):
        want = ev((x[: 16 * k], y[: 16 * k]), batch_size=16)
        np.testing.assert_allclose(ev(batches[:k])["loss"], want["loss"], rtol=1e-6)
    assert ev((x[:48].tolist(), y[:48].tolist()), batch_size=16) == want

    # Token ids are checked on the host in every batch of an iterable too (under jit the
    # gather would silently give NaN or clamp), naming the batch.
    bad = [(b[0].copy(), b[1]) for b in batches]
    bad[1][0][0, -1] = V
    with pytest.raises(ValueError, match=rf"data: batch 1: .*token id {V}\b"):
        _fit(model, v, bad, devices=ONE)
    with pytest.raises(ValueError, match=rf"validation_data: batch 1: .*token id {V}\b"):
        _fit(model, v, batches, devices=ONE, validation_data=bad)
    with pytest.raises(ValueError, match=rf"data: batch 1: .*token id {V}\b"):
        jrnn.evaluate(model, v, bad, loss=CE, devices=ONE)

    # A one-shot iterator cannot be read again in epoch 2: a clear error, not a silent stop.
    with pytest.raises(ValueError, match="data: got a one-shot iterator"):
        _fit(model, v, iter(batches), epochs=2, devices=ONE)
    _fit(model, v, iter(batches), epochs=1, devices=ONE)  # one epoch is fine

    # validation_split takes the last rows (before shuffling), sample weights included.
    w = np.ones(50, np.float32)
    w[40:] = 0.0
    _, h_split = _fit(model, v, (x, y, w), epochs=1, validation_split=0.2, devices=ONE)
    assert h_split.history["val_loss"] == [0.0]


# -- 13. predict -----------------------------------------------------------------------------------
def test_predict_returns_every_row():
    x, _ = _tokens(37)
    model = _clf()
    v = _init(model, x)
    want, _ = model.apply(v, x)
    for devices in (None, ONE):
        got = jrnn.predict(model, v, x, batch_size=16, devices=devices)
        assert isinstance(got, np.ndarray) and got.shape == (37, 2)
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-5, atol=1e-6)

    # Several outputs: a list of arrays, each with every row.
    inp = jrnn.Input((T,), "int32")
    h = LSTM(H)(Embedding(V, 8, mask_zero=True)(inp))
    two = jrnn.Model(inp, [Dense(2)(h), Dense(1)(h)])
    v2 = two.init(jax.random.key(1), x[:2])
    got = jrnn.predict(two, v2, x, batch_size=16)
    want, _ = two.apply(v2, x)
    assert [g.shape for g in got] == [(37, 2), (37, 1)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, np.asarray(w), rtol=1e-5, atol=1e-6)


def test_csv_logger_keeps_earlier_rows_when_fit_resumes(tmp_path):
    x, y = _tokens(64)
    model = _clf()
    v = _init(model, x)
    log = tmp_path / "log.csv"
    _fit(model, v, (x, y), epochs=1, checkpoint_dir=tmp_path / "ck", callbacks=[cbs.CSVLogger(log)])
    _fit(model, v, (x, y), epochs=2, checkpoint_dir=tmp_path / "ck", callbacks=[cbs.CSVLogger(log)])
    rows = list(csv.DictReader(open(log)))
    assert [r["epoch"] for r in rows] == ["0", "1"]
    # A fresh run (no checkpoint to resume) starts the file afresh.
    _fit(model, v, (x, y), epochs=1, callbacks=[cbs.CSVLogger(log)])
    assert [r["epoch"] for r in csv.DictReader(open(log))] == ["0"]


# -- steps_per_epoch ----------------------------------------------------------------------------
def _pass_batches(x, y, batch_size, passes, seed):
    """The batches of consecutive shuffled passes over (x, y), as fit draws them."""
    out = []
    for p in range(passes):
        order = _batches.epoch_order(len(x), shuffle=True, seed=seed, epoch=p)
        out += [(x[order[i : i + batch_size]], y[order[i : i + batch_size]])
                for i in range(0, len(x), batch_size)]  # fmt: skip
    return out


def test_steps_per_epoch_reads_on_across_passes_and_resumes(tmp_path):
    # 22 rows in batches of 4: 6 batches per pass, the last one short; 4 epochs of 5
    # steps take 20 batches, across passes 0-3, reshuffled per pass.
    x, y = _tokens(22)
    model = _clf()
    v = _init(model, x)
    kw = {"batch_size": 4, "devices": ONE, "seed": 3}
    s1, h1 = _fit(model, v, (x, y), epochs=4, steps_per_epoch=5, **kw)
    assert int(s1.step) == 20 and len(h1.epoch) == 4
    # The same 20 batches as one epoch over an explicit list: the same parameters.
    batches = _pass_batches(x, y, 4, 4, seed=3)[:20]
    s2, _ = _fit(model, v, batches, epochs=1, **kw)
    _assert_state_bitwise(s1, s2)
    # Interrupted after 2 epochs and resumed: the same batches, bitwise.
    ckpt = tmp_path / "ckpt"
    _fit(model, v, (x, y), epochs=2, steps_per_epoch=5, checkpoint_dir=ckpt, **kw)
    s3, h3 = _fit(model, v, (x, y), epochs=4, steps_per_epoch=5, checkpoint_dir=ckpt, **kw)
    _assert_state_bitwise(s1, s3)
    assert h3.history == h1.history
    # Resumed with another epoch length: told that the batches differ from the straight run.
    with pytest.warns(UserWarning, match=r"steps_per_epoch=3 \(checkpoint: 5\)"):
        _fit(model, v, (x, y), epochs=5, steps_per_epoch=3, checkpoint_dir=ckpt, **kw)


def test_steps_per_epoch_with_endless_and_one_shot_data():
    x, y = _tokens(40)
    model = _clf()
    v = _init(model, x)
    endless = jrnn.Dataset.from_tensor_slices((x, y)).shuffle(40, seed=0).batch(8).repeat()
    val = jrnn.Dataset.from_tensor_slices((x[:24], y[:24])).batch(8).repeat()
    s, h = _fit(model, v, endless, epochs=3, steps_per_epoch=4, validation_data=val,
                validation_steps=2, devices=ONE)  # fmt: skip
    assert int(s.step) == 12 and len(h.history["val_loss"]) == 3
    # validation_steps=2: the first two validation batches, i.e. the first 16 rows.
    want = jrnn.evaluate(model, s.variables, (x[:16], y[:16]), loss=CE, batch_size=8)
    np.testing.assert_allclose(h.history["val_loss"][-1], want["loss"], rtol=1e-5)

    # A generator of 10 batches for epochs of 4: the third epoch gets 2, then fit
    # warns and stops; one of exactly 8 stops before the third epoch.
    def gen(n):
        for i in range(n):
            yield x[4 * (i % 10) : 4 * (i % 10) + 4], y[4 * (i % 10) : 4 * (i % 10) + 4]

    with pytest.warns(RuntimeWarning, match=r"ran out after batch 2 of epoch 3"):
        s, h = _fit(model, v, gen(10), epochs=5, steps_per_epoch=4, devices=ONE)
    assert int(s.step) == 10 and len(h.epoch) == 3
    with pytest.warns(RuntimeWarning, match=r"ran out before epoch 3"):
        s, h = _fit(model, v, gen(8), epochs=5, steps_per_epoch=4, devices=ONE)
    assert int(s.step) == 8 and len(h.epoch) == 2

    # An endless one-shot validation generator: each evaluation reads the next 2 batches.
    def endless_val():
        while True:
            for i in range(0, 24, 8):
                yield x[i : i + 8], y[i : i + 8]

    s, h = _fit(model, v, (x, y), epochs=2, batch_size=8, validation_data=endless_val(),
                validation_steps=2, devices=ONE)  # fmt: skip
    assert len(h.history["val_loss"]) == 2
    for bad in (0, -1, 2.5):
        with pytest.raises((ValueError, TypeError), match="steps_per_epoch"):
            _fit(model, v, (x, y), steps_per_epoch=bad, devices=ONE)
    with pytest.raises(ValueError, match="validation_steps"):
        _fit(model, v, (x, y), validation_data=(x, y), validation_steps=0, devices=ONE)


# -- 12. logits given to a probability loss ------------------------------------------------------
@pytest.mark.parametrize(
    "loss, activation, units",
    [
        ("sparse_categorical_crossentropy", None, 3),
        ("binary_crossentropy", None, 1),
        ("sparse_categorical_crossentropy", "softmax", 3),
        ("binary_crossentropy", "sigmoid", 1),
    ],
)
def test_probability_loss_given_logits_warns_once(loss, activation, units, compiles):
    rng = np.random.default_rng(0)
    x = 3 * rng.standard_normal((40, F)).astype(np.float32)
    y = rng.integers(0, units if units > 1 else 2, 40).astype(np.int32)
    model = jrnn.Sequential([Dense(units, activation=activation)])
    v = model.init(jax.random.key(0), x[:2])
    kw = {"loss": loss, "batch_size": 16, "verbose": 0, "devices": ONE}
    compiles.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        state, _ = jrnn.fit(model, v, (x, y), epochs=2, validation_data=(x, y), **kw)
        jrnn.evaluate(model, state, (x, y), loss=loss, batch_size=16, devices=ONE)
    mine = [w for w in caught if "from_logits" in str(w.message)]
    if activation is not None:  # probabilities: no warning
        assert mine == []
        return
    # once for fit (not per epoch, not for its validation) and once for evaluate
    assert len(mine) == 2, [str(w.message) for w in mine]
    assert all(w.filename == __file__ for w in mine)  # points at the caller's line
    msg = str(mine[0].message)
    assert "from_logits=True" in msg and "outside [0, 1]" in msg
    # the probe rides on the steps: one train step and one eval step program
    assert compiles["jit(train_step)"] == 1 and compiles["jit(eval_step)"] == 1


def test_categorical_rows_that_do_not_sum_to_one_warn():
    # in [0, 1] but not normalised (sigmoid per class): the row sums give it away
    obj = _objective.build_objective(jrnn.Sequential([Dense(3)]), "categorical_crossentropy")
    y = jax.nn.sigmoid(jnp.asarray(np.random.default_rng(0).normal(size=(4, 3)), jnp.float32))
    valid = jnp.array([True, True, True, False])
    probe = jax.device_get(obj.probability_probe(y, None, valid))
    with pytest.warns(UserWarning, match=r"sum to 1 ± .*from_logits=True"):
        _objective.warn_if_logits(obj, probe, stacklevel=1)
    probe = jax.device_get(obj.probability_probe(jax.nn.softmax(y), None, valid))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _objective.warn_if_logits(obj, probe, stacklevel=1)
