"""Layers (`jrnn.layers`): parity with Keras 3 given the same weights, dropout, errors.

Keras layers are built, given random uniform(-0.5, 0.5) weights (biases included), and
their `get_weights()` copied into jrnn params (Keras names: kernel, recurrent_kernel,
bias, embeddings; Bidirectional {"forward", "backward"}).

Keras's JAX backend has two RNN loops: `unroll=True` (eager ops, fast here) repeats the
previous output at masked steps starting from zeros and ignores `zero_output_for_mask`;
the default `lax.scan` path repeats `states[0]` (h0 before the first valid step) or
writes zeros with `zero_output_for_mask=True`. Tests use the unrolled path where the two
agree (zero initial state, no zero_output_for_mask) and the scan path otherwise.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from peers import keras, needs_keras  # noqa: E402

import jrnn  # noqa: E402
from jrnn import layers as L  # noqa: E402
from jrnn.models import Sequential  # noqa: E402

KL = None if keras is None else keras.layers

pytestmark = [
    pytest.mark.filterwarnings(
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    ),
]

ATOL = 1e-5
B, T, F, H = 4, 6, 3, 5
V = 11  # vocabulary of the embedding tests

MASKS = {
    # lengths 6, 4, 1, 0 (the last row has no valid step)
    "right": np.arange(T)[None, :] < np.array([T, 4, 1, 0])[:, None],
    # pre-padding, and a row with holes
    "left": np.array(
        [[0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 0, 1], [1, 1, 1, 1, 1, 1], [0, 1, 1, 0, 1, 0]],
        dtype=bool,
    ),
}
# Cheap Keras build-time initializers (no QR); every weight is then randomized.
Z = dict(kernel_initializer="zeros", recurrent_initializer="zeros")
# Keras's class by name: looked up only in the tests that compare with Keras.
RNN_KINDS = {
    "lstm": ("LSTM", L.LSTM),
    "gru": ("GRU", L.GRU),
    "simple_rnn": ("SimpleRNN", L.SimpleRNN),
}


@pytest.fixture(autouse=True)
def _highest_precision():
    with jax.default_matmul_precision("highest"):
        yield


def _k(fn, *args, **kwargs):
    """Run Keras code (it relies on implicit rank promotion, which conftest forbids)."""
    with jax.numpy_rank_promotion("allow"):
        return fn(*args, **kwargs)


def _close(got, want, atol=ATOL):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=atol, rtol=1e-5)


def _close_tree(got, want, atol=ATOL):
    got, want = jax.tree.leaves(got), jax.tree.leaves(want)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        _close(g, w, atol)


def _x(seed=0, shape=(B, T, F)):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def _masked_x(pattern, seed=0):
    """Inputs whose masked steps are all zeros (what `Masking()` detects); one valid
    step has a zero feature (still valid: Masking needs all features to match)."""
    x = np.where(MASKS[pattern][..., None], _x(seed), 0.0).astype("float32")
    x[2, 2, 1] = 0.0  # row 2 is valid at every step in both patterns
    return x


def _randomize(klayer, seed=1):
    rng = np.random.default_rng(seed)
    new = [rng.uniform(-0.5, 0.5, w.shape).astype("float32") for w in klayer.get_weights()]
    _k(klayer.set_weights, new)
    return klayer


def _keras_layer(klayer, *example, seed=1, **call_kw):
    """Build a standalone Keras layer on `example` inputs and randomize its weights."""
    _k(klayer, *example, **call_kw)
    return _randomize(klayer, seed)


def _params(layer, klayer):
    """jrnn params of `layer` from the Keras layer `klayer`'s weights."""
    w = [np.asarray(a) for a in klayer.get_weights()]
    if isinstance(layer, L.Bidirectional):
        n = len(w) // 2
        return {
            "forward": jrnn.from_keras(layer.forward.cell, w[:n]),
            "backward": jrnn.from_keras(layer.backward.cell, w[n:]),
        }
    if isinstance(layer, L.RNN):
        return jrnn.from_keras(layer.cell, w)
    if isinstance(layer, L.Embedding):
        return {"embeddings": jnp.asarray(w[0])}
    if isinstance(layer, L.TimeDistributed):
        return _params(layer.layer, klayer.layer)
    return dict(zip(["kernel", "bias"], map(jnp.asarray, w)))


def _model_variables(model, kmodel, x=None):
    """Variables of jrnn `model` with weights of the Keras model `kmodel` (layers with
    weights paired in order); checks they have the shapes `model.init` gives."""
    variables = jax.eval_shape(model.init, jax.random.key(0), x)  # shapes only
    jl = [lyr for lyr in model.layers if model.name_of(lyr) in variables["params"]]
    kl = [lyr for lyr in kmodel.layers if lyr.get_weights()]
    assert len(jl) == len(kl)
    params = {model.name_of(j): _params(j, k) for j, k in zip(jl, kl)}
    shapes = lambda t: jax.tree.map(jnp.shape, t)  # noqa: E731
    assert shapes(params) == shapes(variables["params"])
    return {"params": params, "state": {}}


def _randomize_model(kmodel, seed=1):
    for i, lyr in enumerate(kmodel.layers):
        if lyr.get_weights():
            _randomize(lyr, seed + i)
    return kmodel


# ------------------------------------------------------------ feed-forward parity ----
@needs_keras
def test_dense_on_3d_input():
    x = _x(1)
    kl = _keras_layer(KL.Dense(4, activation="tanh"), x)
    layer = L.Dense(4, activation="tanh")
    params = _params(layer, kl)
    assert jax.tree.map(jnp.shape, layer.init(jax.random.key(0), x)) == {
        "kernel": (F, 4),
        "bias": (4,),
    }
    y = layer.apply(params, x)
    assert y.shape == (B, T, 4)
    _close(y, _k(kl, x))


@needs_keras
def test_time_distributed_dense():
    x = _x(2)
    kl = _keras_layer(KL.TimeDistributed(KL.Dense(4, activation="relu")), x)
    layer = L.TimeDistributed(L.Dense(4, activation="relu"))
    params = _params(layer, kl)
    assert jax.tree.map(jnp.shape, layer.init(jax.random.key(0), x)) == {
        "kernel": (F, 4),
        "bias": (4,),
    }
    _close(layer.apply(params, x), _k(kl, x))


@needs_keras
@pytest.mark.parametrize(
    "padding, strides, dilation",
    [
        ("valid", 1, 1),
        ("valid", 2, 1),
        ("valid", 1, 2),
        ("same", 1, 1),
        ("same", 2, 1),
        ("same", 3, 1),
        ("same", 1, 2),
        ("causal", 1, 1),
        ("causal", 1, 3),
    ],
)
def test_conv1d(padding, strides, dilation):
    x = _x(3, (B, 9, F))
    kw = dict(strides=strides, padding=padding, dilation_rate=dilation, activation="tanh")
    kl = _keras_layer(KL.Conv1D(4, 3, **kw), x)
    layer = L.Conv1D(4, 3, **kw)
    params = _params(layer, kl)
    assert jax.tree.map(jnp.shape, layer.init(jax.random.key(0), x)) == {
        "kernel": (3, F, 4),
        "bias": (4,),
    }
    want = np.asarray(_k(kl, x))
    got = layer.apply(params, x)
    assert got.shape == want.shape
    _close(got, want)


def test_conv1d_causal_sees_only_the_past():
    layer = L.Conv1D(2, 3, padding="causal", dilation_rate=2)
    x = _x(4, (1, 10, F))
    params = layer.init(jax.random.key(1), x)
    y = layer.apply(params, x)
    x2 = x.copy()
    x2[:, 6:] += 1.0  # change the future of step 5
    y2 = layer.apply(params, x2)
    _close(y[:, :6], y2[:, :6], atol=0)
    assert not np.allclose(y[:, 6:], y2[:, 6:])


@needs_keras
@pytest.mark.parametrize(
    "pool, strides, padding",
    [(2, None, "valid"), (3, 1, "valid"), (3, 2, "valid"), (2, None, "same"), (3, 2, "same")],
)
def test_max_pooling1d(pool, strides, padding):
    x = _x(5, (B, 7, F))
    kl = KL.MaxPooling1D(pool, strides=strides, padding=padding)
    want = np.asarray(_k(kl, x))
    got = L.MaxPooling1D(pool, strides=strides, padding=padding).apply({}, x)
    assert got.shape == want.shape
    _close(got, want, atol=0)


@needs_keras
def test_global_average_pooling_with_mask_matches_keras():
    x = _masked_x("left", 6)[:3]  # no all-masked row (Keras divides by zero there)
    km = _k(keras.Sequential, [keras.Input((T, F)), KL.Masking(), KL.GlobalAveragePooling1D()])
    model = Sequential([L.Masking(), L.GlobalAveragePooling1D()])
    variables = model.init(jax.random.key(0), x)
    y, _ = model.apply(variables, x)
    _close(y, _k(km, x))
    # the masked mean differs from the plain one here, so the mask was used
    assert not np.allclose(y, x.mean(1), atol=1e-3)
    _close(L.GlobalAveragePooling1D().apply({}, x), x.mean(1))
    # a row with no valid step gives zeros, not NaN
    y0 = L.GlobalAveragePooling1D().apply({}, x, mask=np.zeros((3, T), bool))
    _close(y0, np.zeros((3, F)), atol=0)


@needs_keras
def test_global_max_pooling():
    x = _x(7)
    _close(L.GlobalMaxPooling1D().apply({}, x), _k(KL.GlobalMaxPooling1D(), x), atol=0)
    y = L.GlobalMaxPooling1D(keepdims=True).apply({}, x)
    assert y.shape == (B, 1, F)
    # with a mask, the max over valid steps only
    mask = MASKS["left"]
    want = np.where(mask[..., None], x, -np.inf).max(1)
    want[~mask.any(1)] = 0
    _close(L.GlobalMaxPooling1D().apply({}, x, mask=mask), want, atol=0)


@needs_keras
def test_repeat_vector_and_concatenate():
    x = _x(8, (B, F))
    y = L.RepeatVector(3).apply({}, x)
    assert y.shape == (B, 3, F)
    _close(y, np.repeat(x[:, None], 3, axis=1), atol=0)
    a, b = _x(9), _x(10, (B, T, 2))
    _close(L.Concatenate().apply({}, [a, b]), np.concatenate([a, b], -1), atol=0)
    # masks as Keras: along features a step is valid where any input's is; along time
    # the masks are concatenated; an input without a mask counts as all valid
    m1, m2 = MASKS["left"], MASKS["right"]
    cases = [(-1, [a, b], [m1, m2]), (-1, [a, b], [None, m2]), (1, [a, a[:, :4]], [m1, m2[:, :4]])]
    for axis, xs, ms in cases:
        got = L.Concatenate(axis=axis).compute_mask(xs, ms)
        want = _k(
            KL.Concatenate(axis=axis).compute_mask,
            xs,
            [None if m is None else jnp.asarray(m) for m in ms],
        )
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(L.Concatenate().compute_mask([a, b], [m1, m2]), m1 | m2)
    np.testing.assert_array_equal(
        L.Concatenate(axis=1).compute_mask([a, a], [m1, None]), np.concatenate([m1, m1 | True], 1)
    )
    assert L.Concatenate().compute_mask([a, b], None) is None
    assert L.Concatenate().compute_mask([a, b], [None, None]) is None


# --------------------------------------------------------------- masking parity -----
@needs_keras
@pytest.mark.parametrize("return_sequences", [True, False], ids=["seq", "last"])
@pytest.mark.parametrize("padding", ["post", "pre"])
def test_embedding_mask_zero_into_lstm(padding, return_sequences):
    mask = MASKS["right" if padding == "post" else "left"]
    if padding == "pre":  # strict pre-padding: valid steps at the end
        mask = np.arange(T)[None, :] >= T - np.array([T, 4, 1, 0])[:, None]
    ids = np.random.default_rng(11).integers(1, V, (B, T)) * mask
    km = _k(
        keras.Sequential,
        [
            keras.Input((T,), dtype="int32"),
            KL.Embedding(V, F, mask_zero=True),
            KL.LSTM(H, return_sequences=return_sequences, unroll=True, **Z),
        ],
    )
    _randomize_model(km)
    model = Sequential(
        [L.Embedding(V, F, mask_zero=True), L.LSTM(H, return_sequences=return_sequences)]
    )
    variables = _model_variables(model, km, x=ids)
    y, _ = model.apply(variables, ids)
    want = np.asarray(_k(km, ids))
    assert y.shape == want.shape
    _close(y, want)


@needs_keras
@pytest.mark.parametrize("return_sequences", [True, False], ids=["seq", "last"])
@pytest.mark.parametrize("kind", list(RNN_KINDS))
def test_masking_into_rnn(kind, return_sequences):
    x = _masked_x("left", 12)
    kname, jcls = RNN_KINDS[kind]
    kcls = getattr(KL, kname)
    km = _k(
        keras.Sequential,
        [
            keras.Input((T, F)),
            KL.Masking(),
            kcls(H, return_sequences=return_sequences, unroll=True, **Z),
        ],
    )
    _randomize_model(km)
    model = Sequential([L.Masking(), jcls(H, return_sequences=return_sequences)])
    variables = _model_variables(model, km, x=x)
    y, _ = model.apply(variables, x)
    _close(y, _k(km, x))
    if return_sequences:
        # masked steps repeat the previous output (zeros before the first valid one)
        y = np.asarray(y)
        assert np.array_equal(y[1, 4], np.zeros(H))
        assert np.array_equal(y[3, 3], y[3, 2]) and np.array_equal(y[3, 5], y[3, 4])


@needs_keras
@pytest.mark.parametrize(
    "kind, pattern, return_sequences",
    [
        ("lstm", None, True),
        ("lstm", "left", True),
        ("lstm", "right", True),
        ("lstm", "left", False),
        ("gru", "left", True),
        ("simple_rnn", "right", False),
    ],
)
def test_go_backwards(kind, pattern, return_sequences):
    x = _x(13) if pattern is None else _masked_x(pattern, 13)
    mask = None if pattern is None else MASKS[pattern]
    kname, jcls = RNN_KINDS[kind]
    kcls = getattr(KL, kname)
    kw = dict(return_sequences=return_sequences, go_backwards=True)
    kl = _keras_layer(kcls(H, unroll=True, **kw, **Z), x)
    layer = jcls(H, **kw)
    y = layer.apply(_params(layer, kl), x, mask=mask)
    want = np.asarray(_k(kl, x, mask=mask))
    _close(y, want)
    if return_sequences and pattern is None:
        # processing order: the first row is the output after the last input step
        fwd = jcls(H, return_sequences=True)
        y_fwd_on_flipped = fwd.apply(_params(layer, kl), x[:, ::-1])
        _close(y, y_fwd_on_flipped)


@needs_keras
@pytest.mark.parametrize("go_backwards", [False, True], ids=["fwd", "bwd"])
def test_zero_output_for_mask(go_backwards):
    """Keras's scan path (the unrolled one ignores zero_output_for_mask)."""
    x = _masked_x("left", 14)
    mask = MASKS["left"]
    kw = dict(return_sequences=True, zero_output_for_mask=True, go_backwards=go_backwards)
    kl = _keras_layer(KL.LSTM(H, **kw, **Z), x)
    layer = L.LSTM(H, **kw)
    y = np.asarray(layer.apply(_params(layer, kl), x, mask=mask))
    _close(y, _k(kl, x, mask=mask))
    order = mask[:, ::-1] if go_backwards else mask
    assert not np.any(y[~order]) and np.all(np.abs(y[order]).sum(-1) > 0)


@needs_keras
@pytest.mark.parametrize("kind, go_backwards", [("lstm", False), ("lstm", True), ("gru", True)])
def test_return_state_and_initial_state(kind, go_backwards):
    """Non-zero initial state with pre-padding: masked steps before the first valid one
    output h0 (Keras's scan path)."""
    x = _masked_x("left", 15)
    mask = MASKS["left"]
    kname, jcls = RNN_KINDS[kind]
    kcls = getattr(KL, kname)
    n_states = 2 if kind == "lstm" else 1
    init = [_x(16 + i, (B, H)) for i in range(n_states)]
    kw = dict(return_sequences=True, return_state=True, go_backwards=go_backwards)
    kl = _keras_layer(kcls(H, **kw, **Z), x, initial_state=init)
    want = _k(kl, x, initial_state=init, mask=mask)
    layer = jcls(H, **kw)
    got = layer.apply(_params(layer, kl), x, mask=mask, initial_state=init)
    assert isinstance(got, tuple) and len(got) == 1 + n_states
    _close_tree(got, want)
    # a row whose first processed step is masked starts with h0
    first = 5 if go_backwards else 0
    row = 3 if go_backwards else 0  # left[3, 5] and left[0, 0] are masked
    _close(got[0][row, 0], init[0][row], atol=0)
    assert not mask[row, first]


# -------------------------------------------------------------- bidirectional -------
@needs_keras
@pytest.mark.parametrize(
    "merge_mode, return_sequences",
    [("concat", True), (None, True), ("ave", True), ("sum", False), ("mul", False), (None, False)],
)
def test_bidirectional_lstm(merge_mode, return_sequences):
    x = _masked_x("left", 17)
    mask = MASKS["left"]
    # Keras's scan path: Bidirectional sets zero_output_for_mask, which only it honours
    inner = dict(return_sequences=return_sequences, return_state=True)
    kl = KL.Bidirectional(
        KL.LSTM(H, unroll=not return_sequences, **inner, **Z), merge_mode=merge_mode
    )
    kl = _keras_layer(kl, x)
    want = _k(kl, x, mask=mask)
    layer = L.Bidirectional(L.LSTM(H, **inner), merge_mode=merge_mode)
    params = _params(layer, kl)
    assert jax.tree.map(jnp.shape, layer.init(jax.random.key(0), x)) == jax.tree.map(
        jnp.shape, params
    )
    got = layer.apply(params, x, mask=mask)
    n_out = 1 if merge_mode is not None else 2
    assert len(got) == len(want) == n_out + 4 == layer.num_outputs
    _close_tree(got, want)
    if return_sequences:
        y = np.asarray(got[0])
        assert not np.any(y[~mask])  # zeros at masked steps, both halves


@needs_keras
def test_bidirectional_initial_state_and_no_mask():
    x = _x(18)
    init = [_x(19 + i, (B, H)) for i in range(4)]  # fw h, c, bw h, c
    inner = dict(return_sequences=True, return_state=True, unroll=True)
    kl = _keras_layer(KL.Bidirectional(KL.LSTM(H, **inner, **Z)), x, initial_state=init)
    layer = L.Bidirectional(L.LSTM(H, return_sequences=True, return_state=True))
    params = _params(layer, kl)
    _close_tree(layer.apply(params, x, initial_state=init), _k(kl, x, initial_state=init))
    _close_tree(layer.apply(params, x), _k(kl, x))


@needs_keras
def test_bidirectional_gru_last_output():
    x = _masked_x("right", 20)
    mask = MASKS["right"]
    kl = _keras_layer(KL.Bidirectional(KL.GRU(H, unroll=True, **Z)), x)
    layer = L.Bidirectional(L.GRU(H))
    y = layer.apply(_params(layer, kl), x, mask=mask)
    assert y.shape == (B, 2 * H)
    _close(y, _k(kl, x, mask=mask))


@needs_keras
def test_stacked_cells(return_sequences=True):
    x = _masked_x("left", 21)
    mask = MASKS["left"]
    kw = dict(return_sequences=return_sequences, return_state=True)
    kl = KL.RNN([KL.LSTMCell(H, **Z), KL.GRUCell(4, **Z)], unroll=True, **kw)
    kl = _keras_layer(kl, x)
    layer = L.RNN([jrnn.LSTMCell(H), jrnn.GRUCell(4)], **kw)
    got = layer.apply(_params(layer, kl), x, mask=mask)
    want = _k(kl, x, mask=mask)
    assert len(got) == 4  # output, (h, c) of the LSTM, h of the GRU
    _close_tree(got, want)
    assert layer.units == 4


# -------------------------------------------------------------------- dropout -------
def test_dropout_layer():
    layer = L.Dropout(0.3)
    x = jnp.ones((200, 500))
    np.testing.assert_array_equal(layer.apply({}, x), x)
    np.testing.assert_array_equal(layer.apply({}, x, training=False, key=jax.random.key(0)), x)
    with pytest.raises(ValueError, match="key"):
        layer.apply({}, x, training=True)
    y = np.asarray(layer.apply({}, x, training=True, key=jax.random.key(1)))
    assert abs((y == 0).mean() - 0.3) < 0.01
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.7], rtol=1e-6)
    y2 = np.asarray(layer.apply({}, x, training=True, key=jax.random.key(2)))
    assert not np.array_equal(y, y2)
    # noise_shape: one draw per (batch, feature) shared over time
    z = np.asarray(
        L.Dropout(0.5, noise_shape=(None, 1, None)).apply(
            {}, jnp.ones((8, 5, 40)), training=True, key=jax.random.key(3)
        )
    )
    assert np.all(z == z[:, :1]) and 0 < (z == 0).mean() < 1
    assert L.Dropout(0.0).apply({}, x, training=True) is x  # rate 0: no key needed


def _keep(key, rate, shape):
    return np.asarray(jnp.where(jax.random.bernoulli(key, 1.0 - rate, shape), 1 / (1 - rate), 0.0))


@needs_keras
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_rnn_input_dropout_one_mask_for_all_steps(kind):
    """`dropout` alone: one (B, I) mask for every step and gate (Keras implementation 2),
    built from the first half of `jax.random.split(key)`."""
    x = _x(22)
    kname, jcls = RNN_KINDS[kind]
    kcls = getattr(KL, kname)
    kl = _keras_layer(kcls(H, dropout=0.4, return_sequences=True, unroll=True, **Z), x)
    layer = jcls(H, dropout=0.4, return_sequences=True)
    plain = jcls(H, return_sequences=True)
    params = _params(layer, kl)
    key = jax.random.key(5)
    y_eval = layer.apply(params, x)
    _close(y_eval, plain.apply(params, x), atol=0)
    y = layer.apply(params, x, training=True, key=key)
    keep = _keep(jax.random.split(key)[0], 0.4, (B, 1, F))
    assert 0 < (keep == 0).sum() < keep.size
    _close(y, plain.apply(params, x * keep))
    assert not np.allclose(y, y_eval, atol=1e-3)
    # Keras with the same mask injected
    kl.cell._dropout_mask = jnp.asarray(keep[:, 0])
    _close(y, _k(kl, x, training=True))
    with pytest.raises(ValueError, match="key"):
        layer.apply(params, x, training=True)


@needs_keras
@pytest.mark.parametrize("kind", ["lstm", "gru", "simple_rnn"])
def test_rnn_recurrent_dropout_matches_keras_implementation_1(kind):
    """Per-gate masks on x and h (Keras implementation 1), reconstructed from the key
    (x masks from split(key)[0], h masks from split(key)[1], shape (G, B, size)), fed to
    Keras's own cell; with a mask, so frozen steps are covered too."""
    x = _masked_x("left", 23)
    mask = MASKS["left"]
    kname, jcls = RNN_KINDS[kind]
    kcls = getattr(KL, kname)
    g = {"lstm": 4, "gru": 3, "simple_rnn": 1}[kind]
    kw = dict(dropout=0.3, recurrent_dropout=0.4, return_sequences=True, return_state=True)
    kl = _keras_layer(kcls(H, unroll=True, **kw, **Z), x)
    layer = jcls(H, **kw)
    params = _params(layer, kl)
    key = jax.random.key(7)
    kx, kh = jax.random.split(key)
    mx, mh = _keep(kx, 0.3, (g, B, F)), _keep(kh, 0.4, (g, B, H))
    got = layer.apply(params, x, mask=mask, training=True, key=key)
    if kind == "simple_rnn":
        kl.cell._dropout_mask, kl.cell._recurrent_dropout_mask = (
            jnp.asarray(mx[0]),
            jnp.asarray(mh[0]),
        )
    else:
        kl.cell._dropout_mask = [jnp.asarray(m) for m in mx]
        kl.cell._recurrent_dropout_mask = [jnp.asarray(m) for m in mh]
    want = _k(kl, x, mask=mask, training=True)
    _close_tree(got, want)
    # the masks matter: different from evaluation mode
    assert not np.allclose(got[0], layer.apply(params, x, mask=mask)[0], atol=1e-3)


def test_lstm_recurrent_dropout_python_loop():
    """Keras's implementation-1 LSTM step written out in NumPy (float64)."""
    x = _x(24).astype(np.float64)
    layer = L.LSTM(H, dropout=0.25, recurrent_dropout=0.5, return_sequences=True)
    params = layer.init(jax.random.key(3), x.astype(np.float32))
    key = jax.random.key(8)
    kx, kh = jax.random.split(key)
    mx, mh = _keep(kx, 0.25, (4, B, F)), _keep(kh, 0.5, (4, B, H))
    got = layer.apply(params, x.astype(np.float32), training=True, key=key)
    W, U, b = (np.asarray(params[k], np.float64) for k in ("kernel", "recurrent_kernel", "bias"))
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    h, c, ys = np.zeros((B, H)), np.zeros((B, H)), []
    for t in range(T):
        z = [
            (x[:, t] * mx[k]) @ W[:, k * H : (k + 1) * H]
            + b[k * H : (k + 1) * H]
            + (h * mh[k]) @ U[:, k * H : (k + 1) * H]
            for k in range(4)
        ]
        i, f, o = sig(z[0]), sig(z[1]), sig(z[3])
        c = f * c + i * np.tanh(z[2])
        h = o * np.tanh(c)
        ys.append(h)
    _close(got, np.stack(ys, 1))


def test_rnn_dropout_gradients_finite():
    x = _masked_x("right", 25)
    mask = MASKS["right"]
    layer = L.LSTM(H, dropout=0.2, recurrent_dropout=0.3)
    params = layer.init(jax.random.key(0), x)

    def loss(p, key):
        return jnp.sum(layer.apply(p, x, mask=mask, training=True, key=key) ** 2)

    grads = jax.grad(loss)(params, jax.random.key(1))
    for leaf in jax.tree.leaves(grads):
        assert np.all(np.isfinite(leaf))
    assert np.abs(np.asarray(grads["recurrent_kernel"])).sum() > 0


def test_recurrent_dropout_errors():
    with pytest.raises(ValueError, match="recurrent_dropout"):
        L.GRU(H, reset_after=False, recurrent_dropout=0.1)
    L.GRU(H, reset_after=False, dropout=0.1)  # input dropout alone is fine
    for bad in (1.0, -0.1, 1.5, "0.1"):
        with pytest.raises(ValueError, match="^rate: got"):
            L.Dropout(bad)
        with pytest.raises(ValueError, match="^dropout: got"):
            L.LSTM(H, dropout=bad)
        with pytest.raises(ValueError, match="^recurrent_dropout: got"):
            L.LSTM(H, recurrent_dropout=bad)


# -------------------------------------------------------------------- errors --------
def test_embedding_ids_out_of_range():
    layer = L.Embedding(V, 4)
    params = layer.init(jax.random.key(0), np.zeros((2, 3), np.int32))
    with pytest.raises(ValueError, match=rf"token id {V}\b.*input_dim={V}"):
        layer.apply(params, np.array([[1, 2, V]]))
    with pytest.raises(ValueError, match=r"token id -1\b.*input_dim"):
        layer.apply(params, np.array([[-1, 2, 3]]))
    with pytest.raises(TypeError, match="float"):
        layer.apply(params, np.array([[1.0, 2.0]]))
    _close(
        layer.apply(params, np.array([[0, V - 1]])),
        params["embeddings"][np.array([[0, V - 1]])],
        atol=0,
    )
    # TimeDistributed passes the check on to the layer it wraps.
    td = L.TimeDistributed(layer)
    with pytest.raises(ValueError, match=rf"token id {V}\b"):
        td.apply(params, np.array([[[1, 2], [3, V]]]))


def test_layer_argument_errors():
    with pytest.raises(ValueError, match="padding"):
        L.Conv1D(2, 3, padding="full")
    with pytest.raises(ValueError, match="padding"):
        L.MaxPooling1D(2, padding="causal")
    with pytest.raises(ValueError, match="strides"):
        L.Conv1D(2, 3, strides=2, padding="causal")
    with pytest.raises(ValueError, match="units"):
        L.Dense(0)
    with pytest.raises(ValueError, match="merge_mode"):
        L.Bidirectional(L.LSTM(2), merge_mode="max")
    with pytest.raises(TypeError, match="layer"):
        L.Bidirectional(L.Dense(2))
    with pytest.raises(ValueError, match="backward_layer: got go_backwards=False"):
        L.Bidirectional(L.LSTM(2), backward_layer=L.LSTM(2))
    with pytest.raises(ValueError, match="backward_layer: return_sequences"):
        L.Bidirectional(L.LSTM(2), backward_layer=L.LSTM(2, return_sequences=True))
    L.Bidirectional(L.LSTM(2), backward_layer=L.GRU(3, go_backwards=True))
    with pytest.raises(TypeError, match="jrnn.Input"):
        L.Dense(2)(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="x: got shape"):
        lstm = L.LSTM(2)
        lstm.apply(lstm.init(jax.random.key(0), np.zeros((2, 3, 4))), np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="initial_state"):
        lstm = L.LSTM(2)
        x = np.zeros((2, 3, 4), np.float32)
        lstm.apply(lstm.init(jax.random.key(0), x), x, initial_state=[np.zeros((2, 2))])


def test_max_pooling_gradient_under_jit():
    """jit(grad) through MaxPooling1D: the gradient flows to each window's maximum
    (an array init value once made JAX fail to linearise reduce_window)."""
    x = jnp.array([[[1.0], [3.0], [2.0], [5.0], [4.0], [0.0]]])
    layer = L.MaxPooling1D(2)
    g = jax.jit(jax.grad(lambda v: layer.apply({}, v).sum()))(x)
    np.testing.assert_array_equal(g[0, :, 0], [0, 1, 0, 1, 1, 0])
