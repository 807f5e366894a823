"""The training stack's pieces on their own (objective sums, epoch iterator, callback
list, resume replay, optimizer names) and what they add to fit: continued training,
several outputs, class weights."""

import inspect
import os
import re

os.environ.setdefault("KERAS_BACKEND", "jax")

import warnings  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import pytest  # noqa: E402
from peers import bitwise_equal  # noqa: E402

import jrnn  # noqa: E402
from jrnn import callbacks as cbs  # noqa: E402
from jrnn.layers import LSTM, Dense, Dropout, Embedding  # noqa: E402
from jrnn.training import _batches, _callbacks, _objective, _optimizers, _resume  # noqa: E402

V, T, H = 20, 5, 8
CE = jrnn.losses.SparseCategoricalCrossentropy(from_logits=True)
ONE = jax.devices()[:1]


def _tokens(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, V, (n, T)).astype(np.int32)
    return x, (x[:, -1] > V // 2).astype(np.int32)


# -- continued training ------------------------------------------------------------------------
def test_continued_fit_equals_one_run_and_compiles_nothing(compiles):
    x, y = _tokens(70)
    model = jrnn.Sequential([Embedding(V, 8), LSTM(H, dropout=0.2), Dropout(0.3), Dense(2)])
    v = model.init(jax.random.key(0), x[:2])
    kw = dict(loss=CE, optimizer="adam", metrics=["accuracy"], batch_size=16, verbose=0,
              validation_data=_tokens(20, seed=1), devices=ONE)  # fmt: skip
    straight, h2 = jrnn.fit(model, v, (x, y), epochs=2, **kw)

    state, h = jrnn.fit(model, v, (x, y), epochs=1, **kw)
    assert int(state.epoch) == 1 and h.epoch == [0]
    compiles.clear()
    state, h = jrnn.fit(model, state, (x, y), epochs=1, **kw)
    assert not compiles  # the second call traces, lowers and compiles nothing
    assert h.epoch == [1] and int(state.epoch) == 2 and int(state.step) == 10
    assert bitwise_equal(state, straight)  # shuffle of epoch 1, dropout keys, Adam's moments
    assert h.history["loss"] == h2.history["loss"][1:]
    assert h.history["val_accuracy"] == h2.history["val_accuracy"][1:]


def test_continued_fit_with_a_checkpoint_counts_epochs_from_the_state(tmp_path):
    """`epochs` counts from the state given; a checkpoint of the same run only resumes."""
    x, y = _tokens(40)
    model = jrnn.Sequential([Embedding(V, 8), LSTM(H), Dense(2)])
    v = model.init(jax.random.key(0), x[:2])
    kw = dict(loss=CE, optimizer=optax.adam(1e-2), batch_size=16, verbose=0, devices=ONE)
    straight, _ = jrnn.fit(model, v, (x, y), epochs=3, **kw)
    s1, _ = jrnn.fit(model, v, (x, y), epochs=1, checkpoint_dir=tmp_path, **kw)
    s2, _ = jrnn.fit(model, s1, (x, y), epochs=2, checkpoint_dir=tmp_path, **kw)
    assert jrnn.checkpoint.all_steps(tmp_path) == [2, 3]
    assert bitwise_equal(s2, straight)
    # Interrupted after epoch 2 and called again with the same arguments: resumes at 2.
    (tmp_path / "ckpt_00000003.npz").unlink()
    s3, h3 = jrnn.fit(model, s1, (x, y), epochs=2, checkpoint_dir=tmp_path, **kw)
    assert bitwise_equal(s3, straight) and h3.epoch == [0, 1, 2]  # the checkpointed history


# -- optimizers -------------------------------------------------------------------------------
def test_optimizer_names_have_keras_defaults():
    params = {"w": jnp.array([1.0, -2.0, 3.0])}
    grads = {"w": jnp.array([0.5, 0.25, -1.0])}
    for name, ref in {
        "adam": optax.adam(1e-3, eps=1e-7),
        "sgd": optax.sgd(0.01),
        "rmsprop": optax.rmsprop(1e-3, decay=0.9, eps=1e-7, eps_in_sqrt=False),
        "adamw": optax.adamw(1e-3, eps=1e-7, weight_decay=0.004),
    }.items():
        opt = _optimizers.get_optimizer(name)
        assert _optimizers.get_optimizer(name.upper()) is opt  # one object: one compile
        u, _ = opt.update(grads, opt.init(params), params)
        r, _ = ref.update(grads, ref.init(params), params)
        np.testing.assert_array_equal(u["w"], r["w"])
    # SGD's first step by hand: -lr * g; RMSprop's: -lr * g / (sqrt(0.1 g^2) + eps).
    g = np.array([0.5, 0.25, -1.0], np.float32)
    sgd = _optimizers.get_optimizer("sgd")
    np.testing.assert_allclose(sgd.update(grads, sgd.init(params))[0]["w"], -0.01 * g)
    rms = _optimizers.get_optimizer("rmsprop")
    want = -1e-3 * g / (np.sqrt(0.1 * g * g) + 1e-7)
    np.testing.assert_allclose(rms.update(grads, rms.init(params))[0]["w"], want, rtol=1e-6)
    assert _optimizers.get_optimizer(None) is _optimizers.get_optimizer(None)
    with pytest.raises(ValueError, match="optimizer: got 'nadamx'"):
        _optimizers.get_optimizer("nadamx")
    with pytest.raises(TypeError, match="optimizer: got dict"):
        _optimizers.get_optimizer({})


# -- several outputs ----------------------------------------------------------------------------
def _two_heads():
    inp = jrnn.Input((T,), "int32")
    h = LSTM(H)(Embedding(V, 8)(inp))
    cls = Dense(3, name="cls")(h)
    reg = Dense(1, name="reg")(h)
    return inp, cls, reg


def _two_head_data(n=36, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, V, (n, T)).astype(np.int32)
    y_cls = (x[:, 0] % 3).astype(np.int32)
    y_reg = (x.mean(axis=1, keepdims=True) / V).astype(np.float32)
    w = rng.uniform(0.5, 2.0, n).astype(np.float32)
    return x, y_cls, y_reg, w


def test_several_outputs_loss_is_the_weighted_sum_of_each_outputs_loss():
    inp, cls, reg = _two_heads()
    x, y_cls, y_reg, w = _two_head_data()
    for model, y, loss, weights, metrics in (
        (jrnn.Model(inp, [cls, reg]), [y_cls, y_reg], [CE, "mse"], [0.3, 2.0],
         [["accuracy"], None]),
        (jrnn.Model(inp, {"a": cls, "b": reg}), {"a": y_cls, "b": y_reg},
         {"a": CE, "b": "mse"}, {"a": 0.3, "b": 2.0}, {"a": "accuracy"}),
    ):  # fmt: skip
        names = model.output_names
        assert names == (["cls", "reg"] if isinstance(y, list) else ["a", "b"])
        v = model.init(jax.random.key(0), x[:2])
        logs = jrnn.evaluate(model, v, (x, y, w), loss=loss, loss_weights=weights,
                             metrics=metrics, batch_size=36, devices=ONE)  # fmt: skip
        (p_cls, p_reg), _ = (
            model.apply(v, x)
            if isinstance(y, list)
            else ((lambda out: ((out[0]["a"], out[0]["b"]), None))(model.apply(v, x)))
        )
        # By hand: Keras's sum-over-batch-size reduction with sample weights, per output.
        ce = -jax.nn.log_softmax(p_cls)[np.arange(36), y_cls]
        want_cls = 0.3 * float(np.sum(np.asarray(ce) * w) / 36)
        want_reg = 2.0 * float(np.sum(np.mean((np.asarray(p_reg) - y_reg) ** 2, -1) * w) / 36)
        acc = np.sum((np.argmax(p_cls, -1) == y_cls) * w) / np.sum(w)
        a, b = names
        assert sorted(logs) == sorted(["loss", f"{a}_loss", f"{b}_loss", f"{a}_accuracy"])
        np.testing.assert_allclose(logs[f"{a}_loss"], want_cls, rtol=1e-5)
        np.testing.assert_allclose(logs[f"{b}_loss"], want_reg, rtol=1e-5)
        np.testing.assert_allclose(logs["loss"], want_cls + want_reg, rtol=1e-5)
        np.testing.assert_allclose(logs[f"{a}_accuracy"], acc, rtol=1e-6)

        # fit trains on the same sum (SGD with lr 0: its epoch loss is evaluate's) and
        # logs Keras's keys, validation included.
        _, hist = jrnn.fit(model, v, (x, y, w), loss=loss, loss_weights=weights,
                           metrics=metrics, optimizer=optax.sgd(0.0), batch_size=12,
                           validation_data=(x, y, w), verbose=0, devices=ONE)  # fmt: skip
        assert set(hist.history) == set(logs) | {f"val_{k}" for k in logs}
        for k in logs:
            np.testing.assert_allclose(hist.history[k][0], logs[k], rtol=1e-5)
            np.testing.assert_allclose(hist.history[f"val_{k}"][0], logs[k], rtol=1e-5)


def test_several_outputs_train_and_accept_one_loss_for_all():
    inp, cls, reg = _two_heads()
    x, y_cls, y_reg, _ = _two_head_data(64)
    model = jrnn.Model(inp, [Dense(1, name="r1")(cls), reg])
    v = model.init(jax.random.key(0), x[:2])
    _, h = jrnn.fit(model, v, (x, [y_reg, y_reg]), loss="mse", epochs=8, optimizer="adam",
                    batch_size=16, verbose=0, devices=ONE)  # fmt: skip
    assert set(h.history) == {"loss", "r1_loss", "reg_loss"}
    assert h.history["loss"][-1] < h.history["loss"][0]
    # Only one output trained: the other has no loss key.
    _, h = jrnn.fit(model, v, (x, [y_reg, y_reg]), loss=[None, "mse"], verbose=0, devices=ONE)
    assert set(h.history) == {"loss", "reg_loss"}


def test_objective_rejects_mismatched_arguments():
    inp, cls, reg = _two_heads()
    model = jrnn.Model(inp, [cls, reg])
    build = _objective.build_objective
    with pytest.raises(ValueError, match=r"loss: got a list of 3.*\['cls', 'reg'\]"):
        build(model, ["mse"] * 3)
    with pytest.raises(ValueError, match=r"loss: got keys \['nope'\].*\['cls', 'reg'\]"):
        build(model, {"nope": "mse"})
    with pytest.raises(ValueError, match=r"metrics: got a list of 1, expected one entry per"):
        build(model, "mse", metrics=["accuracy"])
    with pytest.raises(ValueError, match=r"metrics: got 'accuracy' for a model with 2 outputs"):
        build(model, "mse", metrics="accuracy")
    with pytest.raises(ValueError, match=r"loss_weights\['reg'\]: got 'x'"):
        build(model, "mse", loss_weights=[1.0, "x"])
    with pytest.raises(ValueError, match="class_weight: not supported.*several outputs"):
        build(model, "mse", class_weight={0: 1.0})
    single = jrnn.Sequential([Dense(2)])
    with pytest.raises(ValueError, match=r"class_weight\[1\]: got -1"):
        build(single, "mse", class_weight={0: 1.0, 1: -1})
    with pytest.raises(TypeError, match="class_weight: got list"):
        build(single, "mse", class_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"metrics\['cls'\]: got several metrics named"):
        build(model, "mse", metrics={"cls": ["mse", "mse"]})
    obj = build(model, [CE, "mse"], metrics=[["accuracy"], []])
    y = jnp.zeros((4, 3)), jnp.zeros((4, 1))
    with pytest.raises(ValueError, match=r"y: got a dict with keys \['cls'\]"):
        obj.batch_sums({"cls": y[0]}, list(y), [None, None], jnp.ones(4, bool))


def test_objective_batch_sums_skip_padding_rows_and_masked_steps():
    """The one sums function: loss and metric totals count only valid rows and steps."""
    model = jrnn.Sequential([Dense(3)])
    obj = _objective.build_objective(model, CE, metrics=["accuracy"])
    rng = np.random.default_rng(0)
    logits = jnp.asarray(rng.standard_normal((4, 3, 3)), jnp.float32)
    labels = jnp.asarray(rng.integers(0, 3, (4, 3)))
    step_mask = jnp.asarray([[1, 1, 1], [0, 1, 1], [1, 1, 1], [1, 0, 0]], bool)
    valid = jnp.asarray([True, True, True, False])  # row 3 pads a short batch
    loss, sums = obj.batch_sums(labels, logits, step_mask, valid)
    keep = np.asarray(step_mask & valid[:, None])
    ce = -np.take_along_axis(np.asarray(jax.nn.log_softmax(logits)), labels[..., None], -1)[..., 0]
    np.testing.assert_allclose(loss, ce[keep].mean(), rtol=1e-6)
    np.testing.assert_allclose(sums["loss"], (3 * ce[keep].mean(), 3.0), rtol=1e-6)
    right = np.asarray(jnp.argmax(logits, -1) == labels)
    total, count = sums["accuracy"]
    # The mean over the valid steps of the valid rows (Keras's mask as sample weight).
    np.testing.assert_allclose(total / count, right[keep].mean(), rtol=1e-6)


# -- class weights ----------------------------------------------------------------------------
def test_class_weight_weighs_the_training_loss_by_class():
    x, y = _tokens(40)
    model = jrnn.Sequential([Embedding(V, 8), LSTM(H), Dense(2)])
    v = model.init(jax.random.key(0), x[:2])
    cw = {0: 0.25, 1: 3.0}
    kw = dict(loss=CE, optimizer=optax.sgd(0.0), batch_size=40, verbose=0, devices=ONE,
              metrics=["accuracy"], validation_data=(x, y))  # fmt: skip
    _, h = jrnn.fit(model, v, (x, y), class_weight=cw, **kw)
    _, h_sw = jrnn.fit(model, v, (x, y, np.where(y == 1, 3.0, 0.25)), **kw)
    # The same as sample weights on the training loss; validation (as Keras) and the
    # metrics are unweighted.
    np.testing.assert_allclose(h.history["loss"], h_sw.history["loss"], rtol=1e-6)
    plain = jrnn.evaluate(model, v, (x, y), loss=CE, metrics=["accuracy"], devices=ONE)
    np.testing.assert_allclose(h.history["val_loss"], plain["loss"], rtol=1e-6)
    np.testing.assert_allclose(h.history["accuracy"], plain["accuracy"], rtol=1e-6)
    assert abs(h.history["loss"][0] - plain["loss"]) > 1e-3
    # One-hot targets are weighted by their argmax; unlisted classes weigh 1.
    obj = _objective.build_objective(
        jrnn.Sequential([Dense(3)]), "categorical_crossentropy", class_weight={2: 5.0}
    )
    onehot = jnp.eye(3)[jnp.array([0, 2, 1, 2])]
    np.testing.assert_array_equal(obj._class_weights(onehot, onehot), [1, 5, 1, 5])


# -- epoch iterator ---------------------------------------------------------------------------
def _rows(batch):
    return batch["x"][batch["valid"]].tolist()


def test_epoch_iterator_pads_shuffles_by_epoch_and_streams():
    x = np.arange(10)[:, None]
    data = _batches.Batches((x, x[:, 0]), "data")
    it = _batches.EpochIterator(data, 4, 1, shuffle=True, seed=3, steps_per_epoch=None,
                                start_epoch=0)  # fmt: skip
    epoch1 = list(it.epoch(1))
    assert [b["x"].shape[0] for b in epoch1] == [4, 4, 4]  # the short last batch is padded
    assert [int(b["valid"].sum()) for b in epoch1] == [4, 4, 2]
    order = [r for b in epoch1 for r in _rows(b)]
    assert sorted(order) == [[i] for i in range(10)]
    assert order == x[np.random.default_rng([3, 1]).permutation(10)].tolist()
    assert [_rows(b) for b in it.epoch(1)] == [_rows(b) for b in epoch1]  # from (seed, epoch)

    # A stream of 3 batches per epoch over passes of 3 batches each (4+4+2 rows):
    # epoch 1 of a stream started at epoch 1 is epoch 1 of one started at 0.
    s0 = _batches.EpochIterator(data, 4, 1, shuffle=True, seed=3, steps_per_epoch=2,
                                start_epoch=0)  # fmt: skip
    from_0 = [[_rows(b) for b in s0.epoch(e)] for e in range(3)]
    s1 = _batches.EpochIterator(data, 4, 1, shuffle=True, seed=3, steps_per_epoch=2,
                                start_epoch=1)  # fmt: skip
    assert [[_rows(b) for b in s1.epoch(e)] for e in (1, 2)] == from_0[1:]

    # A one-shot iterable that runs out ends the stream; rows padded to a device multiple.
    gen = ((x[i : i + 3], x[i : i + 3, 0]) for i in range(0, 9, 3))
    s = _batches.EpochIterator(_batches.Batches(gen, "data"), 3, 2, shuffle=False, seed=0,
                               steps_per_epoch=2, start_epoch=0)  # fmt: skip
    first = list(s.epoch(0))
    assert [b["x"].shape[0] for b in first] == [4, 4] and not s.ended
    assert len(list(s.epoch(1))) == 1 and s.ended
    assert list(s.epoch(2)) == []  # ran out at the end of the last epoch: no error
    with pytest.raises(ValueError, match="data: got no batches in epoch 1"):
        list(_batches.EpochIterator(_batches.Batches([], "data"), 3, 1, shuffle=False, seed=0,
                                    steps_per_epoch=None, start_epoch=0).epoch(0))  # fmt: skip


# -- callback list ------------------------------------------------------------------------------
def test_callback_list_dispatches_in_order_and_owns_the_stop_flag():
    seen = []

    class Record(cbs.Callback):
        def __init__(self, tag):
            self.tag = tag

        def on_epoch_end(self, epoch, logs=None):
            seen.append((self.tag, epoch, dict(logs), self.loop.state))
            if self.tag == "b" and epoch == 1:
                self.loop.stop_training = True

    history = jrnn.History()
    loop = cbs.CallbackList([Record("a"), Record("b")], model=None, state="s0",
                            history=history, epochs=5, initial_epoch=1)  # fmt: skip
    assert all(cb.loop is loop for cb in loop.callbacks) and loop.callbacks[0] is history
    loop.on_train_begin()
    loop.on_epoch_end(1, {"loss": 0.5})
    assert [s[:2] for s in seen] == [("a", 1), ("b", 1)] and seen[0][3] == "s0"
    assert loop.stop_training and history.history == {"loss": [0.5]} and history.epoch == [1]
    with pytest.raises(TypeError, match=r"callbacks\[0\]: got str"):
        cbs.CallbackList(["x"], model=None, state=None, history=history, epochs=1)


def test_terminate_on_nan_acts_in_its_own_hook():
    loop = cbs.CallbackList([], model=None, state=None, history=jrnn.History(), epochs=1)
    stop = cbs.TerminateOnNaN()
    loop.append(stop)
    loop.on_train_batch_end(0, {"loss": 1.0})
    assert not loop.stop_training
    loop.on_train_batch_end(1, {"loss": float("inf")})
    assert loop.stop_training
    loop.append(cbs.TerminateOnNaN(raise_error=True))
    loop.nonfinite = {"epoch": 0, "batch": 2, "step": 7}
    with pytest.raises(FloatingPointError, match=r"epoch 1, batch 2 \(optimizer step 7\)"):
        loop.on_train_batch_end(2, {"loss": float("nan")})


# -- resume -------------------------------------------------------------------------------------
def test_resume_pieces(tmp_path):
    class Loop:
        initial_epoch = 3
        history = jrnn.History({"val_loss": [np.nan, 2.0, 1.0]}, [0, 1, 2])

    assert _resume.past_values(Loop(), "val_loss") == [(1, 2.0), (2, 1.0)]
    assert _resume.past_values(Loop(), "loss") == []
    Loop.initial_epoch = 0  # a fresh run replays nothing
    assert _resume.past_values(Loop(), "val_loss") == []

    state = jrnn.training.create_train_state({"params": {"w": jnp.ones(2)}}, optax.sgd(0.1))
    state = state._replace(epoch=jnp.int32(4))
    batching = _resume.batching_signature(32, None, True, 100)
    _resume.save(tmp_path, state, jrnn.History({"loss": [1.0]}, [3]), seed=1,
                 batching=batching, max_to_keep=None)  # fmt: skip
    assert jrnn.checkpoint.all_steps(tmp_path) == [4]
    with pytest.raises(ValueError, match="resume=False"):
        _resume.check_directory(tmp_path, resume=False)
    template = jrnn.training.create_train_state({"params": {"w": jnp.zeros(2)}}, optax.sgd(0.1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        restored, history = _resume.restore(tmp_path, template, seed=1, batching=batching)
    assert int(restored.epoch) == 4 and history == {"epoch": [3], "history": {"loss": [1.0]}}
    with pytest.warns(UserWarning, match=r"batch_size=16 \(checkpoint: 32\)"):
        _resume.restore(tmp_path, template, seed=1,
                        batching=_resume.batching_signature(16, None, True, 100))  # fmt: skip
    with pytest.warns(UserWarning, match="seed: got 2"):
        _resume.restore(tmp_path, template, seed=2, batching=batching)
    assert _resume.restore(tmp_path / "none", template, seed=1, batching=batching) is None


# -- host checks of the data --------------------------------------------------------------------
def test_class_labels_are_checked_on_the_host():
    x, _ = _tokens(16)
    model = jrnn.Sequential([Embedding(V, 4), LSTM(4), Dense(3)])
    v = model.init(jax.random.key(0), x[:2])
    kw = dict(loss=CE, verbose=0, devices=ONE)
    for y, msg in (
        (np.full(16, -1), r"y: got the label -1, expected class ids in \[0, 3\)"),
        (np.full(16, 3), r"y: got the label 3, expected class ids in \[0, 3\)"),
        (np.full(16, 1.5), r"y: got the label 1.5, expected integer class ids"),
    ):
        with pytest.raises(ValueError, match=msg):
            jrnn.fit(model, v, (x, y), **kw)
        with pytest.raises(ValueError, match=msg):
            jrnn.evaluate(model, v, (x, y), loss=CE, devices=ONE)
    ok = np.zeros(16, np.int32)
    with pytest.raises(ValueError, match=r"validation_data: batch 1: y: got the label 7"):
        jrnn.fit(model, v, (x, ok), validation_data=[(x, ok), (x, ok + 7)], **kw)
    with pytest.raises(ValueError, match=r"validation_data: got arrays of shapes .*\(15,\)"):
        jrnn.fit(model, v, (x, ok), validation_data=(x, ok[:15]), **kw)
    # Several outputs: the output is named.
    inp, cls, reg = _two_heads()
    two = jrnn.Model(inp, {"a": cls, "b": reg})
    v2 = two.init(jax.random.key(0), x[:2])
    y = {"a": np.full(16, 5), "b": np.zeros((16, 1), np.float32)}
    with pytest.raises(
        ValueError, match=r"y\['a'\]: got the label 5, expected class ids in \[0, 3\)"
    ):
        jrnn.fit(two, v2, (x, y), loss={"a": CE, "b": "mse"}, verbose=0, devices=ONE)


def test_an_unwritable_checkpoint_dir_is_refused_before_training(tmp_path):
    x, y = _tokens(16)
    model = jrnn.Sequential([Embedding(V, 4), LSTM(4), Dense(2)])
    v = model.init(jax.random.key(0), x[:2])
    file = tmp_path / "a_file"
    file.write_text("")
    seen = []
    spy = cbs.LambdaCallback(on_train_begin=lambda logs: seen.append("trained"))
    for bad, msg in ((file, "a file; expected a directory"), (file / "sub", "cannot be written")):
        with pytest.raises(ValueError, match=f"checkpoint_dir: got '{bad}'.*{msg}"):
            jrnn.fit(model, v, (x, y), loss=CE, verbose=0, checkpoint_dir=bad, callbacks=[spy])
    assert seen == []  # refused before any training
    new = tmp_path / "new" / "dir"
    jrnn.fit(model, v, (x, y), loss=CE, verbose=0, checkpoint_dir=new, devices=ONE)
    assert [p.name for p in new.iterdir()] == ["ckpt_00000001.npz"]  # no probe left


def test_reduce_lr_on_plateau(compiles):
    """Keras's rule by hand, then in a real fit: the rate drops from the next epoch on,
    and the changed hyperparameter keeps the compiled step."""
    opt = optax.inject_hyperparams(optax.sgd)(learning_rate=1.0)
    params = {"w": jnp.zeros(2)}
    state = jrnn.training.create_train_state({"params": params}, opt)
    loop = cbs.CallbackList([], model=None, history=jrnn.History(), epochs=9, state=state)
    cb = cbs.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, cooldown=1, min_lr=0.2)
    loop.append(cb)
    loop.on_train_begin()
    rates = []
    for epoch, value in enumerate([5.0, 4.0, 4.0, 4.0, 4.0, 4.0, 3.0, 3.0, 3.0, 3.0, 3.0]):
        loop.on_epoch_end(epoch, {"loss": value})
        rates.append(_callbacks.learning_rate(loop.state.opt_state))
    # 2 epochs without improvement: halve, then 1 epoch of cooldown; never below min_lr.
    want = [1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2]
    np.testing.assert_allclose(rates, want, rtol=1e-6)
    with pytest.raises(ValueError, match="inject_hyperparams"):
        bad = cbs.CallbackList([cbs.ReduceLROnPlateau()], model=None, history=jrnn.History(),
                               epochs=1, state=jrnn.training.create_train_state(
                                   {"params": params}, optax.sgd(0.1)))  # fmt: skip
        bad.on_train_begin()

    x, y = _tokens(32)
    model = jrnn.Sequential([Embedding(V, 4), LSTM(4), Dense(2)])
    v = model.init(jax.random.key(0), x[:2])
    opt = optax.inject_hyperparams(optax.adam)(learning_rate=1e-2)
    cb = cbs.ReduceLROnPlateau(monitor="loss", factor=0.1, patience=0, min_delta=10.0)
    compiles.clear()
    _, h = jrnn.fit(model, v, (x, y), loss=CE, optimizer=opt, epochs=3, batch_size=16,
                    callbacks=[cb], verbose=0, devices=ONE)  # fmt: skip
    # The first epoch sets the best; each later one misses it by min_delta and cuts the
    # rate for the epoch after it.
    np.testing.assert_allclose(h.history["learning_rate"], [1e-2, 1e-2, 1e-3], rtol=1e-6)
    assert compiles["jit(train_step)"] == 1


def test_resume_says_what_it_restored_and_stateful_shuffle_warns(tmp_path, capsys):
    x, y = _tokens(16)
    model = jrnn.Sequential([Embedding(V, 4), LSTM(4), Dense(2)])
    v = model.init(jax.random.key(0), x[:2])
    kw = dict(loss=CE, devices=ONE, checkpoint_dir=tmp_path)
    jrnn.fit(model, v, (x, y), epochs=1, verbose=0, **kw)
    jrnn.fit(model, v, (x, y), epochs=2, verbose=2, **kw)
    assert f"fit: resumed from epoch 1 of {tmp_path}" in capsys.readouterr().out

    stateful = jrnn.Sequential([Embedding(V, 4), LSTM(4, stateful=True), Dense(2)])
    vs = stateful.init(jax.random.key(0), x[:8])
    with pytest.warns(UserWarning, match="shuffle: got True for a model with stateful layers"):
        jrnn.fit(stateful, vs, (x, y), loss=CE, batch_size=8, verbose=0, devices=ONE)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jrnn.fit(stateful, vs, (x, y), loss=CE, batch_size=8, shuffle=False, verbose=0,
                 devices=ONE)  # fmt: skip


def test_train_end_gets_the_last_finished_epochs_logs_after_a_nonfinite_stop():
    x = np.random.default_rng(0).standard_normal((8, T, 2)).astype(np.float32)
    y = x[:, :, 0].mean(axis=1, keepdims=True)
    bad = x.copy()
    bad[0, 0, 0] = np.nan
    batches = [(x, y), (x, y), (bad, y)]  # epoch 2 (batches 2, 0) meets the NaN first
    model = jrnn.Sequential([LSTM(4), Dense(1)])
    v = model.init(jax.random.key(0), x[:2])
    ends = []
    spy = cbs.LambdaCallback(on_train_end=lambda logs: ends.append(logs))
    with pytest.warns(RuntimeWarning, match="non-finite loss"):
        _, h = jrnn.fit(model, v, batches, loss="mse", epochs=3, steps_per_epoch=2,
                        callbacks=[spy], verbose=0, devices=ONE)  # fmt: skip
    assert h.epoch == [0] and ends == [{"loss": h.history["loss"][0]}]


@pytest.mark.parametrize("fn", [jrnn.fit, jrnn.evaluate, jrnn.predict, jrnn.decode.sample])
def test_every_parameter_is_documented_in_args(fn):
    doc = inspect.getdoc(fn)
    args = doc.split("Args:\n", 1)[1].split("\n\n", 1)[0]
    # entries are "  name: ..." or "  name, other: ..." at the first indentation
    documented = set()
    for names in re.findall(r"^  (\w+(?:, \w+)*):", args, flags=re.M):
        documented.update(names.split(", "))
    params = set(inspect.signature(fn).parameters)
    assert params - documented == set(), f"{fn.__name__}: undocumented"
    assert documented - params == set(), f"{fn.__name__}: documents no such parameter"


def test_callback_arguments_are_checked():
    cases = [
        (lambda: cbs.EarlyStopping(patience=-1), ValueError, "patience: got -1"),
        (lambda: cbs.EarlyStopping(patience="3"), TypeError, "patience: got '3'"),
        (lambda: cbs.EarlyStopping(monitor=None), TypeError, "monitor: got None"),
        (lambda: cbs.EarlyStopping(min_delta="0.1"), TypeError, "min_delta"),
        (lambda: cbs.EarlyStopping(start_from_epoch=-2), ValueError, "start_from_epoch"),
        (lambda: cbs.ReduceLROnPlateau(cooldown=-1), ValueError, "cooldown: got -1"),
        (lambda: cbs.ReduceLROnPlateau(patience=1.5), TypeError, "patience"),
        (lambda: cbs.ReduceLROnPlateau(min_lr=-1.0), ValueError, "min_lr"),
        (lambda: cbs.ReduceLROnPlateau(factor="0.5"), TypeError, "factor"),
        (lambda: cbs.ModelCheckpoint(None), TypeError, "directory: got None"),
        (lambda: cbs.ModelCheckpoint("ckpt", max_to_keep=0), ValueError, "max_to_keep: got 0"),
        (lambda: cbs.ModelCheckpoint("ckpt", monitor=3), TypeError, "monitor: got 3"),
        (lambda: cbs.CSVLogger(None), TypeError, "filename: got None"),
        (lambda: cbs.CSVLogger("log.csv", separator=""), ValueError, "separator: got ''"),
        (lambda: cbs.CSVLogger("log.csv", separator=", "), ValueError, "separator"),
        (lambda: cbs.LambdaCallback(on_epoch_end=3), TypeError, "on_epoch_end: got int"),
        (lambda: cbs.History([1, 2]), TypeError, "history: got list"),
        (lambda: cbs.History({"loss": 0.5}), TypeError, "history: got dict"),
        (lambda: cbs.History(epoch=3), TypeError, "epoch: got int"),
        (lambda: cbs.History(epoch=[0, -1]), ValueError, r"epoch\[1\]: got -1"),
        (lambda: cbs.History.from_dict([1]), TypeError, "d: got list"),
        (lambda: cbs.History.from_dict({"loss": [1.0]}), TypeError, "d: got dict"),
    ]
    for make, error, match in cases:
        with pytest.raises(error, match=match):
            make()
    loop = jrnn.training.CallbackList([], model=None, state=None, history=cbs.History(), epochs=1)
    with pytest.raises(TypeError, match="callback: got str"):
        loop.append("cb")
    # what to_dict gives, through JSON, still loads; np integers are epochs too
    h = cbs.History.from_dict({"epoch": [np.int64(0)], "history": {"loss": [0.5]}})
    assert h.epoch == [0] and h.history == {"loss": [0.5]}


def test_fit_evaluate_predict_check_the_model_and_arguments():
    x, y = _tokens(8)
    model = jrnn.Sequential([Embedding(V, 4), Dense(2)])
    v = model.init(jax.random.key(0), x[:2])
    for call in (
        lambda: jrnn.fit(Dense(2), v, (x, y), loss=CE, verbose=0),
        lambda: jrnn.evaluate(Dense(2), v, (x, y), loss=CE),
        lambda: jrnn.predict(Dense(2), v, x),
    ):
        with pytest.raises(TypeError, match="model: got Dense, expected a jrnn Model"):
            call()
    with pytest.raises(ValueError, match="verbose: got 3"):
        jrnn.fit(model, v, (x, y), loss=CE, verbose=3)
    with pytest.raises(ValueError, match="max_to_keep: got 0"):
        jrnn.fit(model, v, (x, y), loss=CE, verbose=0, max_to_keep=0)
    # the shape named is x's (8, 5, 1), not the padded batch's (32, 5, 1)
    with pytest.raises(ValueError, match=r"got shape \(8, 5, 1\)"):
        jrnn.predict(model, v, x[..., None])
