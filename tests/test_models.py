"""Models (`jrnn.models`): summary against Keras 3, stateful runs, the functional API,
input errors, jit and gradients."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import re  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from peers import keras, needs_keras  # noqa: E402

import jrnn  # noqa: E402
from jrnn.layers import (  # noqa: E402
    GRU,
    LSTM,
    Bidirectional,
    Concatenate,
    Dense,
    Dropout,
    Embedding,
    GlobalAveragePooling1D,
    Input,
    SimpleRNN,
    TimeDistributed,
)
from jrnn.models import Model, Sequential  # noqa: E402

KL = None if keras is None else keras.layers

pytestmark = [
    pytest.mark.filterwarnings(
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    ),
]

ATOL = 1e-5
B, T, F, H = 4, 6, 3, 5
V = 13


@pytest.fixture(autouse=True)
def _highest_precision():
    with jax.default_matmul_precision("highest"):
        yield


def _k(fn, *args, **kwargs):
    """Run Keras code (it relies on implicit rank promotion, which conftest forbids)."""
    with jax.numpy_rank_promotion("allow"):
        return fn(*args, **kwargs)


def _keras_model(fn, *args, **kwargs):
    """Build a Keras model with fresh automatic names (lstm, lstm_1, ... as jrnn's)."""
    keras.backend.clear_session()
    return _k(fn, *args, **kwargs)


def _close(got, want, atol=ATOL):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=atol, rtol=1e-5)


def _close_tree(got, want, atol=ATOL):
    got, want = jax.tree.leaves(got), jax.tree.leaves(want)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        _close(g, w, atol)


def _x(seed=0, shape=(B, T, F)):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def _ids(seed=0, shape=(B, T), pad="pre"):
    """Token ids in [1, V) with padding zeros: lengths T, 4, 2, 1."""
    ids = np.random.default_rng(seed).integers(1, V, shape)
    lengths = np.array([T, 4, 2, 1])[: shape[0], None]
    steps = np.arange(shape[1])[None, :]
    valid = steps >= shape[1] - lengths if pad == "pre" else steps < lengths
    return (ids * valid).astype(np.int32)


def _shapes(tree):
    return jax.tree.map(jnp.shape, tree)


# ------------------------------------------------------------------- summary --------
def _rows(text):
    """{"name (Type)": (output shape, param count, connected to)} from a summary table
    (jrnn's or Keras's; cells wrapped over several lines are joined)."""
    rows, cur = {}, None
    for line in text.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip().strip("│").split("│")]
            cur = cells if cur is None else [f"{a} {b}".strip() for a, b in zip(cur, cells)]
        elif line.startswith(("├", "└")) and cur is not None:
            name, shape, count, *rest = cur
            rows[name] = (shape, int(count.replace(",", "")), rest[0] if rest else None)
            cur = None
    return rows


def _totals(text):
    get = lambda what: int(re.search(rf"{what} params: ([\d,]+)", text)[1].replace(",", ""))  # noqa: E731
    return get("Total"), get("Trainable"), get("Non-trainable")


def _keras_summary(kmodel):
    """Keras's summary text, wide enough that no cell is cut (rich reads COLUMNS)."""
    out, old = [], os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "250"
    try:
        kmodel.summary(line_length=200, print_fn=lambda s, **kw: out.append(s))
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old
    return "\n".join(out)


def _summary(model, variables):
    return model.summary(variables, print_fn=None)


def test_summary_embedding_lstm_dense():
    model = Sequential([Input((None,), "int32"), Embedding(1000, 64), LSTM(128), Dense(10)])
    variables = model.init(jax.random.key(0))
    printed = []
    text = model.summary(variables, print_fn=printed.append)
    assert printed == [text]
    assert _rows(text) == {
        "embedding (Embedding)": ("(None, None, 64)", 64_000, None),
        "lstm (LSTM)": ("(None, 128)", 98_816, None),
        "dense (Dense)": ("(None, 10)", 1_290, None),
    }
    assert _totals(text) == (164_106, 164_106, 0)
    assert "Total params: 164,106 (641.04 KB)" in text
    assert text.startswith('Model: "sequential"')


def test_summary_gru_simple_rnn():
    model = Sequential(
        [
            Input((None,), "int32"),
            Embedding(1000, 64),
            GRU(256, return_sequences=True),
            SimpleRNN(128),
            Dense(10),
        ]
    )
    variables = jax.eval_shape(model.init, jax.random.key(0))
    text = _summary(model, variables)
    assert _rows(text) == {
        "embedding (Embedding)": ("(None, None, 64)", 64_000, None),
        "gru (GRU)": ("(None, None, 256)", 247_296, None),
        "simple_rnn (SimpleRNN)": ("(None, 128)", 49_280, None),
        "dense (Dense)": ("(None, 10)", 1_290, None),
    }
    assert _totals(text) == (361_866, 361_866, 0)


def _encoder_decoder(
    lib, enc_vocab=1000, dec_vocab=2000, dim=64, units=64, length=None, mask_zero=False
):
    """The Keras guide's encoder-decoder, built with jrnn (lib="jrnn") or Keras."""
    if lib == "keras":
        I, E, R, D, M = keras.Input, KL.Embedding, KL.LSTM, KL.Dense, keras.Model
        extra = dict(kernel_initializer="zeros", recurrent_initializer="zeros")
        ez = dict(embeddings_initializer="zeros")
    else:
        I, E, R, D, M = Input, Embedding, LSTM, Dense, Model
        extra = ez = {}
    enc_in = I((length,), dtype="int32", name="encoder_tokens")
    dec_in = I((length,), dtype="int32", name="decoder_tokens")
    enc = E(enc_vocab, dim, mask_zero=mask_zero, **ez)(enc_in)
    _, h, c = R(units, return_state=True, **extra)(enc)
    dec = E(dec_vocab, dim, **ez)(dec_in)
    y = R(units, **extra)(dec, initial_state=[h, c])
    return M([enc_in, dec_in], D(10)(y))


@needs_keras
def test_summary_encoder_decoder_matches_keras():
    kmodel = _keras_model(_encoder_decoder, "keras")
    model = _encoder_decoder("jrnn")
    variables = jax.eval_shape(model.init, jax.random.key(0))
    text, ktext = _summary(model, variables), _keras_summary(kmodel)
    rows, krows = _rows(text), _rows(ktext)
    assert rows == krows  # names, output shapes, counts and connections
    assert rows["lstm_1 (LSTM)"][2] == "embedding_1[0][0], lstm[0][1], lstm[0][2]"
    assert rows["lstm (LSTM)"][0] == "[(None, 64), (None, 64), (None, 64)]"
    assert _totals(text) == _totals(ktext) == (258_698, 258_698, 0)
    assert kmodel.count_params() == 258_698
    for layer in kmodel.layers:
        name = layer.name
        want = layer.count_params()
        got = sum(int(np.prod(s.shape)) for s in jax.tree.leaves(variables["params"].get(name, {})))
        assert got == want, name


def _conv_bidirectional(lib):
    # Keras: zero initializers (no QR or random draws); only shapes matter here
    if lib == "keras":
        I, K, seq = keras.Input, KL, keras.Sequential
        z = dict(kernel_initializer="zeros")
        rz = dict(z, recurrent_initializer="zeros")
        ez = dict(embeddings_initializer="zeros")
    else:
        I, K, seq = Input, jrnn.layers, Sequential
        z = rz = ez = {}
    return seq(
        [
            I((33,), dtype="int32"),
            K.Embedding(120, 42, **ez),
            K.Bidirectional(K.LSTM(16, return_sequences=True, **rz)),
            K.Conv1D(8, 3, padding="causal", activation="relu", **z),
            K.MaxPooling1D(2),
            K.Bidirectional(K.GRU(7, return_sequences=True, **rz), merge_mode="sum"),
            K.Conv1D(4, 5, strides=2, padding="same", **z),
            K.Bidirectional(K.SimpleRNN(3, **rz), merge_mode="ave"),
            K.Dense(3, **z),
        ]
    )


@needs_keras
def test_summary_bidirectional_conv_matches_keras():
    kmodel = _keras_model(_conv_bidirectional, "keras")
    model = _conv_bidirectional("jrnn")
    variables = jax.eval_shape(model.init, jax.random.key(0))
    text, ktext = _summary(model, variables), _keras_summary(kmodel)
    assert _rows(text) == _rows(ktext)
    assert _rows(text)["bidirectional (Bidirectional)"] == ("(None, 33, 32)", 7_552, None)
    assert _totals(text) == _totals(ktext)
    assert _totals(text)[0] == kmodel.count_params()


@needs_keras
def test_summary_stateful_matches_keras():
    """Keras 3's stateful carries (`rnn_state`) are not weights: 0 non-trainable."""
    assert F == 3  # LSTM(8) on 3 features: 4 * 8 * (3 + 8) + 32 = 384 params
    kmodel = _keras_model(
        lambda: keras.Sequential(
            [
                keras.Input(batch_shape=(B, None, F)),
                KL.LSTM(8, stateful=True, return_sequences=True),
                KL.TimeDistributed(KL.Dense(2)),
            ]
        )
    )
    model = Sequential(
        [
            Input((None, F), batch_size=B),
            LSTM(8, stateful=True, return_sequences=True),
            TimeDistributed(Dense(2)),
        ]
    )
    variables = model.init(jax.random.key(0))
    assert _shapes(variables["state"]) == {"lstm": ((B, 8), (B, 8))}
    text, ktext = _summary(model, variables), _keras_summary(kmodel)
    assert _rows(text) == _rows(ktext)
    assert _rows(text)["lstm (LSTM)"] == (f"({B}, None, 8)", 384, None)
    assert _totals(text) == _totals(ktext) == (402, 402, 0)


def test_summary_shared_layer_and_input_shapes():
    a = Input((None, F), name="a")
    b = Input((T, F), name="b")
    dense = Dense(4)
    y = Concatenate(axis=1)([dense(a), dense(b)])
    model = Model([a, b], GlobalAveragePooling1D()(y))
    variables = model.init(jax.random.key(0), [_x(1, (2, 3, F)), _x(2, (2, T, F))])
    assert list(variables["params"]) == ["dense"]
    rows = _rows(_summary(model, variables))
    assert rows["a (InputLayer)"] == ("(None, None, 3)", 0, "-")
    assert rows["b (InputLayer)"] == (f"(None, {T}, 3)", 0, "-")
    assert rows["dense (Dense)"][1] == 16  # listed once
    assert rows["concatenate (Concatenate)"] == ("(None, None, 4)", 0, "dense[0][0], dense[1][0]")
    assert rows["global_average_pooling1d (GlobalAveragePooling1D)"][0] == "(None, 4)"


# -------------------------------------------------------------------- stateful ------
def test_stateful_chunks_equal_one_run():
    model = Sequential(
        [Input((None, F), batch_size=B), LSTM(H, stateful=True, return_sequences=True)]
    )
    variables = model.init(jax.random.key(1))
    assert all(not np.any(s) for s in jax.tree.leaves(variables["state"]))
    x = _x(3, (B, 9, F))
    whole, final = model.apply(variables, x)
    ys, v = [], variables
    for chunk in np.split(x, 3, axis=1):
        y, state = model.apply(v, chunk)
        ys.append(y)
        v = {**v, "state": state}
    _close(np.concatenate(ys, axis=1), whole)
    _close_tree(v["state"], final)
    assert np.any(np.asarray(final["lstm"][0]))
    # the state really is carried: a fresh start on the last chunk differs
    y_fresh, _ = model.apply(variables, np.split(x, 3, axis=1)[2])
    assert not np.allclose(y_fresh, ys[2], atol=1e-3)
    # reset_states: zeros, same structure, params untouched; variables not mutated
    reset = model.reset_states(v)
    assert _shapes(reset["state"]) == _shapes(v["state"])
    assert all(not np.any(s) for s in jax.tree.leaves(reset["state"]))
    assert reset["params"] is v["params"]
    assert np.any(np.asarray(v["state"]["lstm"][0]))
    # the carried state fixes the batch size; without state any batch runs (as Keras)
    with pytest.raises(ValueError, match=rf"x: got batch size 2, expected {B}"):
        model.apply(v, x[:2])
    assert model.apply({**v, "state": {}}, x[:2])[0].shape == (2, 9, H)
    # reset_states(batch_size=...): zeros for another batch size, e.g. one stream
    two = model.reset_states(v, batch_size=2)
    assert _shapes(two["state"]) == {"lstm": ((2, H), (2, H))}
    y2, s2 = model.apply(two, x[:2])
    _close(y2, whole[:2])
    _close_tree(s2, jax.tree.map(lambda a: a[:2], final))
    with pytest.raises(ValueError, match="batch_size: got 0"):
        model.reset_states(v, batch_size=0)
    # the layer's final state equals return_state of the same LSTM
    plain = LSTM(H, return_state=True)
    _, h, c = plain.apply(variables["params"]["lstm"], x)
    _close_tree(final["lstm"], (h, c))


def test_stateful_bidirectional_state():
    layer = Bidirectional(LSTM(H, stateful=True, return_sequences=True))
    model = Sequential([Input((None, F), batch_size=B), layer])
    variables = model.init(jax.random.key(2))
    assert _shapes(variables["state"]) == {"bidirectional": (((B, H), (B, H)), ((B, H), (B, H)))}
    x1, x2 = _x(4), _x(5)
    y1, s1 = model.apply(variables, x1)
    # new state = (forward final carry, backward final carry) = return_state's states
    p = variables["params"]["bidirectional"]
    ref = Bidirectional(LSTM(H, return_sequences=True, return_state=True))
    y_ref, *states = ref.apply(p, x1)
    _close(y1, y_ref)
    _close_tree(s1["bidirectional"], states)
    # the next call starts both directions from that state
    y2, _ = model.apply({**variables, "state": s1}, x2)
    with pytest.raises(ValueError, match=rf"x: got batch size 3, expected {B}"):
        model.apply({**variables, "state": s1}, x2[:3])
    _close(y2, ref.apply(p, x2, initial_state=states)[0])


# ------------------------------------------------------------------ functional ------
def _copy_keras_weights(model, kmodel, variables):
    """Params of jrnn `model` from `kmodel`'s layers of the same names."""
    params = {}
    for name, _p in variables["params"].items():
        w = [np.asarray(a) for a in kmodel.get_layer(name).get_weights()]
        layer = model.get_layer(name)
        if isinstance(layer, jrnn.layers.RNN):
            params[name] = jrnn.from_keras(layer.cell, w)
        elif isinstance(layer, Embedding):
            params[name] = {"embeddings": jnp.asarray(w[0])}
        else:
            params[name] = dict(zip(["kernel", "bias"], map(jnp.asarray, w)))
    assert _shapes(params) == _shapes(variables["params"])
    return {**variables, "params": params}


@needs_keras
def test_encoder_decoder_matches_keras_and_layer_by_layer():
    units, dim = 6, 4
    kw = dict(enc_vocab=V, dec_vocab=V + 2, dim=dim, units=units, mask_zero=True)
    kmodel = _keras_model(_encoder_decoder, "keras", **kw)
    rng = np.random.default_rng(0)
    for layer in kmodel.layers:
        w = layer.get_weights()
        _k(layer.set_weights, [rng.uniform(-0.5, 0.5, a.shape).astype("float32") for a in w])
    model = _encoder_decoder("jrnn", **kw)
    enc, dec = _ids(1, pad="pre"), _ids(2, pad="post")
    shapes = jax.eval_shape(model.init, jax.random.key(0), [enc, dec])
    variables = _copy_keras_weights(model, kmodel, shapes)
    y, state = model.apply(variables, [enc, dec])
    assert y.shape == (B, 10) and state == {}
    _close(y, _k(kmodel, [enc, dec]))
    # by hand, layer by layer
    p = variables["params"]
    emb_e, lstm_e = model.get_layer("embedding"), model.get_layer("lstm")
    emb_d, lstm_d = model.get_layer("embedding_1"), model.get_layer("lstm_1")
    e = emb_e.apply(p["embedding"], enc)
    _, h, c = lstm_e.apply(p["lstm"], e, mask=enc != 0)
    d = emb_d.apply(p["embedding_1"], dec)
    out = lstm_d.apply(p["lstm_1"], d, initial_state=[h, c])
    _close(y, model.get_layer("dense").apply(p["dense"], out))
    # the encoder mask matters (pre-padding would otherwise be read as tokens)
    _, h2, _ = lstm_e.apply(p["lstm"], e)
    assert not np.allclose(h, h2, atol=1e-3)
    # dict inputs by Input name
    y_dict, _ = model.apply(variables, {"decoder_tokens": dec, "encoder_tokens": enc})
    _close(y_dict, y, atol=0)


def test_shared_layer_one_params_entry():
    a, b = Input((T, F), name="a"), Input((T, F), name="b")
    lstm = LSTM(H, return_sequences=True)
    y = Concatenate()([lstm(a), lstm(b)])
    model = Model([a, b], Dense(2)(y))
    xa, xb = _x(6), _x(7)
    variables = model.init(jax.random.key(3), [xa, xb])
    assert sorted(variables["params"]) == ["dense", "lstm"]
    assert model.layers.count(lstm) == 1
    got, _ = model.apply(variables, [xa, xb])
    p = variables["params"]
    want = model.get_layer("dense").apply(
        p["dense"],
        jnp.concatenate([lstm.apply(p["lstm"], xa), lstm.apply(p["lstm"], xb)], axis=-1),
    )
    _close(got, want)


def test_input_errors():
    a, b = Input((None, F), name="a"), Input((T,), dtype="int32", name="b")
    e = Embedding(V, F)(b)
    model = Model([a, b], Dense(2)(Concatenate(axis=1)([a, e])))
    xa, xb = _x(8, (2, 3, F)), _ids(9, (2, T)) + 0
    variables = model.init(jax.random.key(0), [xa, xb])
    y, _ = model.apply(variables, [xa, xb])
    assert y.shape == (2, 3 + T, 2)
    with pytest.raises(ValueError, match=r"x: got 1 arrays, expected a list of 2"):
        model.apply(variables, [xa])
    with pytest.raises(ValueError, match=r"^x: got ndarray"):
        model.apply(variables, xa)
    with pytest.raises(ValueError, match=r"x \(a\): got shape \(2, 3, 4\)"):
        model.apply(variables, [_x(8, (2, 3, 4)), xb])
    with pytest.raises(ValueError, match=r"x \(b\): got shape \(2, 5\), expected \(None, 6\)"):
        model.apply(variables, [xa, xb[:, :5]])
    with pytest.raises(ValueError, match=r"x \(a\): got shape"):
        model.init(jax.random.key(0), [xa[0], xb])
    # Input(batch_size=...) without stateful layers: a smaller last batch runs (Keras)
    fixed = Sequential([Input((None, F), batch_size=4), Dense(2)])
    v = fixed.init(jax.random.key(0))
    assert fixed.apply(v, xa)[0].shape == (2, 3, 2)
    with pytest.raises(ValueError, match=r"x: missing inputs \['b'\]"):
        model.apply(variables, {"a": xa})
    bad = xb.copy()
    bad[1, 2] = V
    with pytest.raises(ValueError, match=rf"token id {V}\b.*input_dim={V}"):
        model.apply(variables, [xa, bad])
    bad[1, 2] = -3
    with pytest.raises(ValueError, match=r"token id -3\b"):
        model.apply(variables, [xa, bad])
    # a single-input model given two arrays
    seq = Sequential([Input((None, F)), Dense(2)])
    v = seq.init(jax.random.key(0))
    with pytest.raises(ValueError, match=r"x: got 2 arrays, expected 1"):
        seq.apply(v, [xa, xa])
    _close(seq.apply(v, [xa])[0], seq.apply(v, xa)[0], atol=0)
    # nested Python lists are one array
    ids_model = Sequential([Embedding(V, 2)])
    v = ids_model.init(jax.random.key(0), np.zeros((1, 3), np.int32))
    assert ids_model.apply(v, [[1, 2, 3], [4, 5, 6]])[0].shape == (2, 3, 2)
    with pytest.raises(ValueError, match=r"x \(input_layer\): got shape \(3,\)"):
        ids_model.apply(v, np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="x: got None"):
        Sequential([Dense(2)]).init(jax.random.key(0))


def test_construction_errors():
    with pytest.raises(ValueError, match=r"layers\[1\].*return_state"):
        Sequential([Input((T, F)), LSTM(H, return_state=True)])
    with pytest.raises(ValueError, match="layers"):
        Sequential([])
    with pytest.raises(TypeError, match=r"layers\[0\]"):
        Sequential([lambda x: x])
    a, b = Input((T, F)), Input((T, F))
    with pytest.raises(ValueError, match="not in `inputs`"):
        Model(a, Concatenate()([a, b]))
    with pytest.raises(ValueError, match="unique"):
        Sequential([Dense(2, name="d"), Dense(2, name="d")])
    model = Sequential([Input((T, F)), Dense(2)])
    assert model.get_layer("dense") is model.layers[0]
    with pytest.raises(ValueError, match="name"):
        model.get_layer("lstm")


# ------------------------------------------------------------- jit and grads --------
def test_jit_training_with_dropout():
    model = Sequential(
        [
            Input((None,), "int32"),
            Embedding(V, F, mask_zero=True),
            Dropout(0.3),
            LSTM(H, dropout=0.2, recurrent_dropout=0.2, return_sequences=True),
            Dense(2),
        ]
    )
    ids = _ids(10)
    variables = model.init(jax.random.key(0), ids)
    key = jax.random.key(4)
    apply = jax.jit(model.apply, static_argnames="training")
    y_jit, _ = apply(variables, ids, training=True, key=key)
    y_eager, _ = model.apply(variables, ids, training=True, key=key)
    _close(y_jit, y_eager)
    y_other, _ = apply(variables, ids, training=True, key=jax.random.key(5))
    assert not np.allclose(y_jit, y_other, atol=1e-3)
    with pytest.raises(ValueError, match="key"):
        model.apply(variables, ids, training=True)


def test_grads_embedding_bidirectional_dense():
    """Gradients through the layers (fused fast path) equal those of the same model
    written with `jrnn.unroll(fast=False)` (plain autodiff of the reference step)."""
    model = Sequential(
        [
            Input((None,), "int32"),
            Embedding(V, F, mask_zero=True),
            Bidirectional(LSTM(H)),
            Dense(1),
        ]
    )
    ids = _ids(11, pad="pre")
    labels = jnp.asarray(np.random.default_rng(0).standard_normal((B, 1)), jnp.float32)
    variables = model.init(jax.random.key(6), ids)

    def loss(params):
        y, _ = model.apply({**variables, "params": params}, ids)
        return jnp.mean((y - labels) ** 2)

    def reference(params):
        x = params["embedding"]["embeddings"][ids]
        mask = ids != 0
        cell = model.get_layer("bidirectional").forward.cell
        pb = params["bidirectional"]
        (h_fw, _), _ = jrnn.unroll(cell, pb["forward"], x, mask=mask, fast=False)
        (h_bw, _), _ = jrnn.unroll(cell, pb["backward"], x, mask=mask, reverse=True, fast=False)
        h = jnp.concatenate([h_fw, h_bw], axis=-1)
        y = h @ params["dense"]["kernel"] + params["dense"]["bias"][None]
        return jnp.mean((y - labels) ** 2)

    value, grads = jax.jit(jax.value_and_grad(loss))(variables["params"])
    ref_value, ref_grads = jax.jit(jax.value_and_grad(reference))(variables["params"])
    _close(value, ref_value)
    _close_tree(grads, ref_grads, atol=1e-6)
    for g in jax.tree.leaves(grads):
        assert np.all(np.isfinite(g))
    # padding rows of the embedding get no gradient from masked steps; id 0 is padding
    assert not np.any(np.asarray(grads["embedding"]["embeddings"][0]))
    assert np.any(np.asarray(grads["bidirectional"]["backward"]["recurrent_kernel"]))
