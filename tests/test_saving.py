"""Saving and loading models: configs round-trip through JSON to equal models, pickle and
deepcopy work, `save_model` files load in a fresh process bit for bit, bad files fail with
clear errors, variables that don't fit a model are named, and `load_variables` reads fit
checkpoints without a template."""

import copy
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from cells_registry import IndRNNCell

import jrnn
from jrnn import layers as L

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def _ids(shape, high, seed=0):
    return jnp.asarray(np.random.RandomState(seed).randint(1, high, shape), jnp.int32)


def _floats(shape, seed=0):
    return jax.random.normal(jax.random.key(seed), shape)


def sequential_guide():
    model = jrnn.Sequential(
        [
            L.Embedding(20, 4, mask_zero=True, name="emb"),
            L.LSTM(5, dropout=0.1, recurrent_dropout=0.2),
            L.Dropout(0.3),
            L.Dense(3, "softmax"),
        ]
    )
    x = _ids((2, 6), 20).at[1, 4:].set(0)
    return model, x


def encoder_decoder():
    enc_in, dec_in = jrnn.Input((None,), "int32"), jrnn.Input((None,), "int32", name="dec")
    _, h, c = L.LSTM(6, return_state=True, name="encoder")(L.Embedding(20, 4)(enc_in))
    y = L.LSTM(6, return_sequences=True, name="decoder")(
        L.Embedding(15, 4, name="dec_emb")(dec_in), initial_state=[h, c]
    )
    model = jrnn.Model([enc_in, dec_in], [L.Dense(15, name="logits")(y), h], name="seq2seq")
    return model, [_ids((2, 5), 20), _ids((2, 3), 15, seed=1)]


def bidirectional():
    model = jrnn.Sequential(
        [
            jrnn.Input((None, 3)),
            L.Bidirectional(L.GRU(4, return_sequences=True), "sum"),
            L.Bidirectional(L.SimpleRNN(2), backward_layer=L.SimpleRNN(3, go_backwards=True)),
            L.Dense(2),
        ]
    )
    return model, _floats((2, 5, 3))


def conv1d():
    model = jrnn.Sequential(
        [
            jrnn.Input((8, 3)),
            L.Conv1D(4, 3, padding="causal", activation=jax.nn.relu),
            L.MaxPooling1D(2),
            L.TimeDistributed(L.Dense(2, kernel_initializer="he_normal")),
            L.GlobalAveragePooling1D(),
        ]
    )
    return model, _floats((2, 8, 3))


def stateful():
    model = jrnn.Sequential(
        [
            jrnn.Input((None, 2), batch_size=2),
            L.LSTM(4, stateful=True, return_sequences=True),
            L.Bidirectional(L.GRU(3, stateful=True)),
        ]
    )
    return model, _floats((2, 4, 2))


def user_cell():
    """A registered user cell and a stack of cells, without an Input (init's example)."""
    model = jrnn.Sequential(
        [L.RNN(IndRNNCell(4), return_sequences=True), L.RNN([jrnn.GRUCell(3), jrnn.LSTMCell(2)])]
    )
    return model, _floats((2, 5, 3))


def shared_dict():
    """A layer called twice (one entry in params) and dict outputs."""
    a, b = jrnn.Input((None, 3), name="a"), jrnn.Input((None, 3), name="b")
    shared = L.LSTM(4, name="shared")
    ha, hb = shared(a), shared(b)
    out = {"sim": L.Dense(1, name="head")(L.Concatenate()([ha, hb])), "a": L.Dense(2)(ha)}
    return jrnn.Model([a, b], out), [_floats((2, 4, 3)), _floats((2, 4, 3), 1)]


MODELS = {
    f.__name__: f
    for f in (
        sequential_guide,
        encoder_decoder,
        bidirectional,
        conv1d,
        stateful,
        user_cell,
        shared_dict,
    )
}


def build(name):
    model, x = MODELS[name]()
    variables = model.init(jax.random.key(0), x)
    if name == "stateful":  # non-zero carries, as after a chunk of a stream
        _, state = model.apply(variables, x)
        variables = {**variables, "state": state}
        assert all(np.any(np.asarray(a) != 0) for a in jax.tree.leaves(state))
    if name == "sequential_guide":  # bfloat16 params must round-trip bit-exactly
        variables["params"]["dense"] = jax.tree.map(
            lambda a: a.astype(jnp.bfloat16), variables["params"]["dense"]
        )
    return model, x, variables


def assert_same(a, b):
    la, ta = jax.tree.flatten(a)
    lb, tb = jax.tree.flatten(b)
    assert ta == tb
    for u, v in zip(la, lb):
        if jax.dtypes.issubdtype(u.dtype, jax.dtypes.prng_key):
            assert u.dtype == v.dtype
            u, v = jax.random.key_data(u), jax.random.key_data(v)
        u, v = np.asarray(u), np.asarray(v)
        assert u.dtype == v.dtype and u.shape == v.shape and u.tobytes() == v.tobytes()


def outputs(model, variables, x):
    y, state = model.apply(variables, x)
    return y, state


# -- configs ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(MODELS))
def test_config_round_trip(name):
    model, x, variables = build(name)
    config = model.get_config()
    rebuilt = jrnn.Model.from_config(json.loads(json.dumps(config)))
    assert type(rebuilt) is type(model)
    assert rebuilt.get_config() == config
    assert [rebuilt.name_of(layer) for layer in rebuilt.layers] == [
        model.name_of(layer) for layer in model.layers
    ]
    # the same variables (names, shapes, values from the same key) and the same outputs
    assert_same(
        rebuilt.init(jax.random.key(0), x)["params"], model.init(jax.random.key(0), x)["params"]
    )
    assert_same(outputs(rebuilt, variables, x), outputs(model, variables, x))


def test_sequential_config_names_the_layers():
    model, x, _ = build("sequential_guide")
    config = model.get_config()
    assert [e["name"] for e in config["layers"]] == ["emb", "lstm", "dropout", "dense"]
    assert config["layers"][1]["class_name"] == "LSTM"
    assert config["layers"][1]["config"]["recurrent_dropout"] == 0.2
    assert jrnn.Sequential.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="use jrnn.Model.from_config"):
        jrnn.Sequential.from_config(build("encoder_decoder")[0].get_config())


@pytest.mark.parametrize("name", ["encoder_decoder", "stateful", "user_cell", "shared_dict"])
def test_pickle_and_deepcopy_predict_the_same(name):
    model, x, variables = build(name)
    want = outputs(model, variables, x)
    for copied in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert copied.get_config() == model.get_config()
        assert_same(outputs(copied, variables, x), want)
    layer = pickle.loads(pickle.dumps(model.layers[1]))
    assert layer.get_config() == model.layers[1].get_config()


def test_cell_pairs_and_stacks_round_trip():
    cells = [
        jrnn.stack([jrnn.LSTMCell(3), IndRNNCell(2)]),
        jrnn.bidirectional(jrnn.GRUCell(3), jrnn.SimpleRNNCell(3, activation="relu"), "sum"),
        jrnn.stack_bidirectional([jrnn.LSTMCell(2)] * 2, [jrnn.GRUCell(2)] * 2),
    ]
    for cell in cells:
        spec = jrnn.saving.serialize(cell)
        again = jrnn.saving.deserialize(json.loads(json.dumps(spec)))
        assert again == cell and hash(again) == hash(cell)
    assert jrnn.saving.registered_name(IndRNNCell) == "jrnn_tests>IndRNNCell"
    with pytest.raises(ValueError, match="config: missing .layers."):
        jrnn.Model.from_config({"name": "m", "inputs": []})


def test_functions_in_configs():
    assert L.Dense(3, jax.nn.relu).get_config()["activation"] == "relu"
    assert (
        L.Dense(3, kernel_initializer=jrnn.initializers.INITIALIZERS["orthogonal"]).get_config()[
            "kernel_initializer"
        ]
        == "orthogonal"
    )
    with pytest.raises(TypeError, match="activation: got .*register the function"):
        L.Dense(3, lambda v: v * 2).get_config()

    @jrnn.saving.register_serializable(package="jrnn_tests")
    def doubled(v):
        return 2 * v

    layer = L.Dense(3, doubled)
    config = layer.get_config()
    assert config["activation"] == "jrnn_tests>doubled"
    assert L.Dense.from_config(json.loads(json.dumps(config))).activation is doubled
    cell = jrnn.LSTMCell(3, activation=doubled)
    assert jrnn.LSTMCell.from_config(cell.get_config()) == cell


def test_unregistered_classes_are_named():
    class Plain:  # a cell nobody registered
        def __init__(self, units):
            self.units = units

        def init(self, key, size):
            return {"w": jnp.zeros((size, self.units))}

        def initial_carry(self, batch_size=None, dtype=jnp.float32):
            return jnp.zeros((batch_size, self.units), dtype)

        def __call__(self, params, carry, x):
            return carry, carry

    model = jrnn.Sequential([L.RNN(Plain(2))])
    with pytest.raises(
        TypeError, match=r"test_saving.*Plain, which is not registered.*register_serializable"
    ):
        model.get_config()
    with pytest.raises(TypeError, match="Plain, which is not registered"):
        pickle.dumps(model)
    config = build("user_cell")[0].get_config()
    config["layers"][0]["config"]["cell"]["class_name"] = "elsewhere>IndRNNCell"
    with pytest.raises(ValueError, match=r"'elsewhere>IndRNNCell'.*not registered.*import"):
        jrnn.Model.from_config(config)
    config["layers"][0]["config"]["cell"]["class_name"] = "IndRNNCell"
    with pytest.raises(ValueError, match=r"'IndRNNCell', which is not a jrnn layer or cell"):
        jrnn.Model.from_config(config)
    with pytest.raises(ValueError, match="package: got ''"):
        jrnn.saving.register_serializable(package="")


# -- variables that don't fit the model ------------------------------------------------------
def test_variables_that_do_not_fit_are_named():
    model, x, variables = build("sequential_guide")
    other, _, other_vars = build("bidirectional")
    with pytest.raises(
        ValueError, match=r"no entry for layer 'emb' \(Embedding\).*got entries for"
    ):
        model.apply(other_vars, x)
    stale = jax.tree.map(lambda a: a, variables)
    stale["params"]["lstm"]["kernel"] = jnp.zeros((3, 20))
    with pytest.raises(
        ValueError,
        match=r"\['params'\]\['lstm'\]\['kernel'\]: got shape \(3, 20\), expected \(4, 20\)",
    ):
        model.apply(stale, x)
    with pytest.raises(ValueError, match=r"\['kernel'\]: got shape"):
        jax.jit(model.apply)(stale, x)
    del stale["params"]["lstm"]["bias"]
    with pytest.raises(ValueError, match=r"'lstm' \(LSTM\): missing \['bias'\]"):
        model.apply(stale, x)
    del stale["params"]["lstm"]
    with pytest.raises(ValueError, match=r"no entry for layer 'lstm' \(LSTM\)"):
        model.apply(stale, x)
    with pytest.raises(TypeError, match="variables: got TrainState"):
        model.apply(jrnn.training.create_train_state(variables, optax.sgd(0.1)), x)


def test_variables_are_checked_once_per_layout(monkeypatch):
    model, x, variables = build("conv1d")
    traced = []
    real = model._init_variables
    monkeypatch.setattr(model, "_init_variables", lambda *a: traced.append(1) or real(*a))
    for _ in range(3):
        model.apply(variables, x)
    model.apply(variables, x[:1])  # another batch size: the same parameter shapes
    assert len(traced) == 1
    jax.jit(model.apply)(variables, x)
    assert len(traced) == 1  # a jit trace meets a layout already checked


# -- save_model / load_model ---------------------------------------------------------------
LOAD_SCRIPT = """
import sys, json
import numpy as np, jax
import jrnn
import cells_registry  # registers the user cell, as a user imports their module
folder = sys.argv[1]
for name in json.loads(sys.argv[2]):
    model, variables = jrnn.load_model(f"{folder}/{name}.npz")
    want = np.load(f"{folder}/{name}.expected.npz")
    x = [want[k] for k in sorted(want.files) if k.startswith("x")]
    y, state = model.apply(variables, x if len(x) > 1 else x[0])
    got = jax.tree.leaves((y, state)) + jax.tree.leaves(variables)
    dtypes = json.loads(open(f"{folder}/{name}.dtypes.json").read())
    assert [str(g.dtype) for g in got] == dtypes, name
    for i, g in enumerate(got):
        w, g = want[f"out{i:03d}"], np.asarray(g)
        assert g.shape == w.shape and g.tobytes() == w.tobytes(), (name, i)
    print("loaded", name, type(model).__name__, len(got))
"""


def test_save_then_load_in_a_fresh_process_bit_for_bit(tmp_path):
    for name in MODELS:
        model, x, variables = build(name)
        path = jrnn.save_model(tmp_path / f"{name}.npz", model, variables)
        assert path == tmp_path / f"{name}.npz"
        y, state = outputs(model, variables, x)
        leaves = jax.tree.leaves((y, state)) + jax.tree.leaves(variables)
        xs = x if isinstance(x, list) else [x]
        (tmp_path / f"{name}.dtypes.json").write_text(json.dumps([str(v.dtype) for v in leaves]))
        np.savez(
            tmp_path / f"{name}.expected.npz",
            **{f"x{i}": np.asarray(v) for i, v in enumerate(xs)},
            **{f"out{i:03d}": np.asarray(v) for i, v in enumerate(leaves)},
        )
        model2, variables2 = jrnn.load_model(path)  # and here, bit for bit
        assert model2.get_config() == model.get_config()
        assert_same(variables2, variables)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)])}
    run = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, str(tmp_path), json.dumps(list(MODELS))],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("loaded ") == len(MODELS)


def test_save_and_load_the_training_state(tmp_path):
    model, x, variables = build("conv1d")
    y = np.asarray(_floats((2, 2), 5))
    state, _ = jrnn.fit(
        model,
        variables,
        (x, y),
        loss="mse",
        optimizer="adam",
        epochs=1,
        batch_size=2,
        verbose=0,
        seed=3,
    )
    path = jrnn.save_model(
        tmp_path / "t.npz", model, state, include_optimizer=True, metadata={"note": "run 1"}
    )
    model2, state2 = jrnn.load_train_state(path, "adam")
    assert_same(state2, state._replace(epoch=jnp.asarray(state.epoch, jnp.int32)))
    assert jrnn.saving.load_metadata(path)["note"] == "run 1"
    _, variables2 = jrnn.load_model(path)
    assert_same(variables2, state.variables)
    plain = jrnn.save_model(tmp_path / "p.npz", model, state)  # without the optimizer
    with pytest.raises(ValueError, match="holds no optimizer state"):
        jrnn.load_train_state(plain, "adam")
    with pytest.raises(ValueError, match="include_optimizer: got True with a variables dict"):
        jrnn.save_model(tmp_path / "q.npz", model, variables, include_optimizer=True)


def test_a_sub_model_runs_and_saves_with_the_whole_models_variables(tmp_path):
    model, (src, tgt), variables = build("encoder_decoder")
    encoder = jrnn.Model(model.inputs[0], model.outputs[1])  # the encoder's final h
    h = encoder.apply(variables, src)[0]
    np.testing.assert_array_equal(h, model.apply(variables, [src, tgt])[0][1])
    path = jrnn.save_model(tmp_path / "encoder.npz", encoder, variables)
    encoder2, variables2 = jrnn.load_model(path)
    assert sorted(variables2["params"]) == ["embedding", "encoder"]
    np.testing.assert_array_equal(encoder2.apply(variables2, src)[0], h)


def test_crash_during_save_keeps_the_previous_file(tmp_path, monkeypatch):
    model, x, variables = build("bidirectional")
    path = jrnn.save_model(tmp_path / "m.npz", model, variables)
    newer = jax.tree.map(lambda a: a + 1, variables)

    def boom(*args, **kwargs):
        raise OSError("simulated crash")

    with monkeypatch.context() as m:
        m.setattr(os, "replace", boom)
        with pytest.raises(OSError, match="simulated crash"):
            jrnn.save_model(path, model, newer)
    assert os.listdir(tmp_path) == ["m.npz"]
    assert_same(jrnn.load_model(path)[1], variables)


def _rewrite(src, dst, change):
    """Copy a saved model, letting `change(manifest, arrays)` edit it (a damaged file)."""
    with np.load(src) as npz:
        arrays = {k: npz[k] for k in npz.files}
    manifest = json.loads(bytes(arrays["__manifest__"]).decode())
    change(manifest, arrays)
    arrays["__manifest__"] = np.frombuffer(json.dumps(manifest).encode(), np.uint8)
    np.savez(dst, **arrays)
    return dst


def test_bad_files_fail_with_clear_errors(tmp_path):
    model, x, variables = build("sequential_guide")
    good = jrnn.save_model(tmp_path / "good.npz", model, variables)
    data = good.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"saved model .*cut.npz is unreadable.*jrnn.save_model"):
        jrnn.load_model(tmp_path / "cut.npz")
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ValueError, match=r"notes.txt is unreadable"):
        jrnn.load_model(tmp_path / "notes.txt")
    np.savez(tmp_path / "foreign.npz", w=np.ones(3))
    with pytest.raises(ValueError, match=r"foreign.npz is unreadable"):
        jrnn.load_model(tmp_path / "foreign.npz")
    ckpt = jrnn.checkpoint.save(tmp_path / "ckpts", 1, variables)
    with pytest.raises(ValueError, match="is a jrnn checkpoint, not a saved model"):
        jrnn.load_model(ckpt)
    with pytest.raises(FileNotFoundError, match="missing.npz is not a file"):
        jrnn.load_model(tmp_path / "missing.npz")

    def newer(manifest, arrays):
        manifest["format_version"] = 99

    with pytest.raises(ValueError, match=r"format version 99.*reads versions up to 1: upgrade"):
        jrnn.load_model(_rewrite(good, tmp_path / "v99.npz", newer))

    def wider(manifest, arrays):  # the config says 4 units, the weights have 3
        manifest["config"]["config"]["layers"][3]["config"]["units"] = 4

    with pytest.raises(
        ValueError,
        match=r"does not match its config: .*\['dense'\]\['bias'\]: got shape \(3,\), "
        r"expected \(4,\) for layer 'dense' \(Dense\)",
    ):
        jrnn.load_model(_rewrite(good, tmp_path / "wide.npz", wider))

    def drop(manifest, arrays):  # the last leaf (['params']['lstm']['recurrent_kernel'])
        n = len(manifest["leaves"]) - 1
        assert manifest["leaves"][n]["path"] == "['params']['lstm']['recurrent_kernel']"
        manifest["leaves"].pop()
        del arrays[f"leaf_{n}"]

    with pytest.raises(ValueError, match=r"'lstm' \(LSTM\): missing \['recurrent_kernel'\]"):
        jrnn.load_model(_rewrite(good, tmp_path / "drop.npz", drop))

    def extra(manifest, arrays):
        n = len(manifest["leaves"])
        manifest["leaves"].append({**manifest["leaves"][0], "path": "['params']['emb']['more']"})
        arrays[f"leaf_{n}"] = arrays["leaf_0"]

    with pytest.raises(
        ValueError, match=r"'emb' \(Embedding\): missing none; unexpected \['more'\]"
    ):
        jrnn.load_model(_rewrite(good, tmp_path / "extra.npz", extra))

    def extra_layer(manifest, arrays):
        n = len(manifest["leaves"])
        manifest["leaves"].append({**manifest["leaves"][0], "path": "['params']['ghost']['w']"})
        arrays[f"leaf_{n}"] = arrays["leaf_0"]

    with pytest.raises(ValueError, match=r"has entries for \['ghost'\], which are not layers"):
        jrnn.load_model(_rewrite(good, tmp_path / "ghost.npz", extra_layer))

    def unregistered(manifest, arrays):
        manifest["config"]["config"]["layers"][1]["class_name"] = "mine>LSTM"

    with pytest.raises(ValueError, match=r"config cannot be loaded: .*'mine>LSTM'.*not registered"):
        jrnn.load_model(_rewrite(good, tmp_path / "unreg.npz", unregistered))


def test_save_model_checks_before_writing(tmp_path):
    model, x, variables = build("sequential_guide")
    other = build("conv1d")[2]
    with pytest.raises(ValueError, match="no entry for layer 'emb'"):
        jrnn.save_model(tmp_path / "m.npz", model, other)
    with pytest.raises(TypeError, match="variables: got list"):
        jrnn.save_model(tmp_path / "m.npz", model, [variables])
    with pytest.raises(ValueError, match="path: got the directory"):
        jrnn.save_model(tmp_path, model, variables)
    assert os.listdir(tmp_path) == []


# -- checkpoints to variables ----------------------------------------------------------------
def test_load_variables_from_fit_checkpoints(tmp_path):
    model = jrnn.Sequential([L.Embedding(20, 4), L.GRU(3, stateful=True), L.Dense(2)])
    x = _ids((4, 5), 20)
    y = np.array([0, 1, 1, 0])
    variables = model.init(jax.random.key(0), x)
    callbacks = [
        jrnn.callbacks.ModelCheckpoint(
            tmp_path / "weights", monitor="loss", save_weights_only=True
        ),
        jrnn.callbacks.ModelCheckpoint(tmp_path / "whole", monitor="loss"),
    ]
    state, _ = jrnn.fit(
        model,
        variables,
        (x, y),
        loss=jrnn.losses.SparseCategoricalCrossentropy(from_logits=True),  # Dense: logits
        epochs=2,
        batch_size=4,
        shuffle=False,  # a stateful model: rows continue their carries
        verbose=0,
        checkpoint_dir=tmp_path / "run",
        callbacks=callbacks,
    )
    # fit leaves the state replicated over the test's 4 CPU devices; on one device the
    # same variables may round differently, so compare with them on one device
    want = model.apply(jax.device_get(state.variables), x)
    for source in (
        tmp_path / "run",
        tmp_path / "weights",
        tmp_path / "whole" / "ckpt_00000002.npz",
    ):
        loaded = jrnn.load_variables(source)
        assert_same(loaded, state.variables)
        assert_same(model.apply(loaded, x), want)
    first = jrnn.load_variables(tmp_path / "whole", step=1)
    assert not np.array_equal(first["params"]["dense"]["kernel"], state.params["dense"]["kernel"])
    jrnn.checkpoint.save(tmp_path / "other", 1, {"w": jnp.ones(2)})
    with pytest.raises(ValueError, match=r"holds no model variables.*\['w'\]"):
        jrnn.load_variables(tmp_path / "other")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no finalized checkpoint"):
        jrnn.load_variables(tmp_path / "empty")
