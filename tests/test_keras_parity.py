"""Parity with Keras 3 (JAX backend): same weights, same outputs and final states.

Keras layers are built, given random weights (including non-zero biases), and their
`get_weights()` are loaded into jrnn with `jrnn.from_keras`. Keras returns the sequence of
a `go_backwards` layer in processing (reversed) order, so it is compared with our
`reverse=True` output flipped on the time axis. Masked runs use `zero_output_for_mask=True`
so Keras, like jrnn, outputs zeros at masked steps.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import jrnn  # noqa: E402

keras = pytest.importorskip("keras")

if keras.backend.backend() != "jax":  # KERAS_BACKEND was set before this module ran
    pytest.skip("Keras parity tests need the JAX backend", allow_module_level=True)

ATOL = 1e-5
B, T, F, H = 4, 6, 3, 5

# name -> (Keras layer class, Keras kwargs, jrnn cell)
KINDS = {
    "lstm": (keras.layers.LSTM, {}, jrnn.LSTMCell(H)),
    "gru": (keras.layers.GRU, {"reset_after": True}, jrnn.GRUCell(H, reset_after=True)),
    "gru_reset_before": (
        keras.layers.GRU,
        {"reset_after": False},
        jrnn.GRUCell(H, reset_after=False),
    ),
    "simple_rnn": (keras.layers.SimpleRNN, {}, jrnn.SimpleRNNCell(H)),
}

MASKS = {
    # right padding, lengths 6, 4, 1, 0 (the last row has no valid step)
    "right": np.arange(T)[None, :] < np.array([T, 4, 1, 0])[:, None],
    # left (pre) padding as keras.utils.pad_sequences makes by default, and one row
    # with holes (Keras's generic path and jrnn accept a mask of any pattern)
    "left": np.array(
        [
            [0, 0, 1, 1, 1, 1],
            [0, 0, 0, 0, 0, 1],
            [1, 1, 1, 1, 1, 1],
            [0, 1, 1, 0, 1, 0],
        ],
        dtype=bool,
    ),
}

pytestmark = pytest.mark.filterwarnings(
    # Keras's Variable.__array__ under NumPy 2 (in get_weights); not ours.
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


@pytest.fixture(autouse=True)
def _highest_precision():
    with jax.default_matmul_precision("highest"):
        yield


def _keras(fn, *args, **kwargs):
    """Run a Keras call. Keras's own JAX code relies on implicit rank promotion, which
    tests/conftest.py turns into an error; jrnn calls stay under the strict setting."""
    with jax.numpy_rank_promotion("allow"):
        return fn(*args, **kwargs)


def _close(got, want, atol=ATOL):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=atol, rtol=1e-5)


def _inputs(seed=0, batch=B, steps=T, size=F):
    return np.random.default_rng(seed).standard_normal((batch, steps, size)).astype("float32")


def _randomize(layer, seed=1):
    """Replace a built layer's weights by uniform(-0.5, 0.5) ones (biases included)."""
    rng = np.random.default_rng(seed)
    new = [rng.uniform(-0.5, 0.5, w.shape).astype("float32") for w in layer.get_weights()]
    _keras(layer.set_weights, new)
    return layer


def _keras_rnn(kind, x, seed=1, **kw):
    cls, extra, _ = KINDS[kind]
    layer = cls(H, return_sequences=True, return_state=True, **extra, **kw)
    _keras(layer.build, x.shape)
    return _randomize(layer, seed)


def _carry_to_list(carry):
    """Our carry -> Keras's state list ([h, c] for LSTM, [h] otherwise)."""
    return list(carry) if isinstance(carry, tuple) else [carry]


def _check_states(keras_states, carry):
    ours = _carry_to_list(carry)
    assert len(keras_states) == len(ours)
    for k, o in zip(keras_states, ours):
        _close(o, k)


# ------------------------------------------------------------------ single layers ----
@pytest.mark.parametrize("kind", list(KINDS))
def test_sequence_and_final_state(kind):
    x = _inputs()
    layer = _keras_rnn(kind, x)
    out, *states = _keras(layer, x)
    cell = KINDS[kind][2]
    carry, ys = jrnn.unroll(cell, jrnn.from_keras(cell, layer.get_weights()), x)
    assert ys.shape == (B, T, H)
    _close(ys, out)
    _check_states(states, carry)


@pytest.mark.parametrize("kind", list(KINDS))
def test_go_backwards(kind):
    x = _inputs(2)
    layer = _keras_rnn(kind, x, go_backwards=True)
    out, *states = _keras(layer, x)
    cell = KINDS[kind][2]
    carry, ys = jrnn.unroll(cell, jrnn.from_keras(cell, layer.get_weights()), x, reverse=True)
    _close(ys[:, ::-1], out)  # Keras returns the sequence in processing order
    _check_states(states, carry)


@pytest.mark.parametrize("padding", list(MASKS))
@pytest.mark.parametrize("kind", list(KINDS))
def test_mask(kind, padding):
    x = _inputs(3)
    mask = MASKS[padding]
    layer = _keras_rnn(kind, x, zero_output_for_mask=True)
    out, *states = _keras(layer, x, mask=mask)
    cell = KINDS[kind][2]
    params = jrnn.from_keras(cell, layer.get_weights())
    carry, ys = jrnn.unroll(cell, params, x, mask=mask)
    _close(ys, out)
    _check_states(states, carry)
    assert not np.any(np.asarray(ys)[~mask])
    if padding == "right":  # lengths= is the same as a right-padding mask
        carry2, ys2 = jrnn.unroll(cell, params, x, lengths=mask.sum(1).astype(np.int32))
        _close(ys2, out)
        _check_states(states, carry2)


@pytest.mark.parametrize(
    "kind, padding", [("lstm", "right"), ("lstm", "left"), ("gru", "left"), ("simple_rnn", "left")]
)
def test_go_backwards_with_mask(kind, padding):
    x = _inputs(5)
    mask = MASKS[padding]
    layer = _keras_rnn(kind, x, go_backwards=True, zero_output_for_mask=True)
    out, *states = _keras(layer, x, mask=mask)
    cell = KINDS[kind][2]
    params = jrnn.from_keras(cell, layer.get_weights())
    carry, ys = jrnn.unroll(cell, params, x, mask=mask, reverse=True)
    _close(ys[:, ::-1], out)
    _check_states(states, carry)


@pytest.mark.parametrize("kind", list(KINDS))
def test_initial_state(kind):
    """Initial state with a right-padding mask: row 0 is unmasked, row 3 has no valid
    step and must keep its initial state."""
    x = _inputs(6)
    mask = MASKS["right"]
    layer = _keras_rnn(kind, x, zero_output_for_mask=True)
    rng = np.random.default_rng(7)
    n_states = 2 if kind == "lstm" else 1
    init = [rng.standard_normal((B, H)).astype("float32") for _ in range(n_states)]
    out, *states = _keras(layer, x, initial_state=init, mask=mask)
    cell = KINDS[kind][2]
    carry0 = tuple(jnp.asarray(s) for s in init) if kind == "lstm" else jnp.asarray(init[0])
    params = jrnn.from_keras(cell, layer.get_weights())
    carry, ys = jrnn.unroll(cell, params, x, carry=carry0, mask=mask)
    _close(ys, out)
    _check_states(states, carry)
    _check_states([s[3] for s in init], jax.tree.map(lambda a: a[3], carry))


def test_time_major_and_unroll_match_keras():
    x = _inputs(8)
    layer = _keras_rnn("lstm", x)
    out, h, c = _keras(layer, x)
    cell = jrnn.LSTMCell(H)
    params = jrnn.from_keras(cell, layer.get_weights())
    (h2, c2), ys = jrnn.unroll(cell, params, np.swapaxes(x, 0, 1), time_major=True, unroll=4)
    _close(np.swapaxes(np.asarray(ys), 0, 1), out)
    _close(h2, h)
    _close(c2, c)


# ------------------------------------------------------------------ bidirectional ----
def _keras_bi(x, merge_mode, seed=11):
    layer = keras.layers.Bidirectional(
        keras.layers.LSTM(H, return_sequences=True, return_state=True), merge_mode=merge_mode
    )
    _keras(layer, x)  # build
    return _randomize(layer, seed)


@pytest.mark.parametrize(
    "merge_mode, padding",
    [
        ("concat", None),
        ("concat", "right"),
        ("concat", "left"),
        ("sum", "left"),
        ("ave", "right"),
        ("mul", "left"),
        (None, None),
        (None, "right"),
    ],
)
def test_bidirectional_lstm(merge_mode, padding):
    x = _inputs(9)
    mask = None if padding is None else MASKS[padding]
    layer = _keras_bi(x, merge_mode)
    res = _keras(layer, x, mask=mask)
    if merge_mode is None:
        (out_fw, out_bw), states = res[:2], res[2:]
    else:
        out, states = res[0], res[1:]
    bi = jrnn.bidirectional(jrnn.LSTMCell(H), jrnn.LSTMCell(H), merge_mode)
    params = jrnn.from_keras(bi, layer.get_weights())
    (c_fw, c_bw), ys = bi(params, x, mask=mask)
    if merge_mode is None:
        _close(ys[0], out_fw)
        _close(ys[1], out_bw)
    else:
        assert ys.shape[-1] == bi.output_size
        _close(ys, out)
    assert len(states) == 4  # h_fw, c_fw, h_bw, c_bw
    _check_states(states[:2], c_fw)
    _check_states(states[2:], c_bw)


def test_bidirectional_initial_state():
    x = _inputs(10)
    mask = MASKS["right"]
    layer = _keras_bi(x, "concat")
    rng = np.random.default_rng(12)
    init = [rng.standard_normal((B, H)).astype("float32") for _ in range(4)]
    out, *states = _keras(layer, x, initial_state=init, mask=mask)
    bi = jrnn.bidirectional(jrnn.LSTMCell(H), jrnn.LSTMCell(H))
    params = jrnn.from_keras(bi, layer.get_weights())
    carry0 = (
        (jnp.asarray(init[0]), jnp.asarray(init[1])),
        (jnp.asarray(init[2]), jnp.asarray(init[3])),
    )
    (c_fw, c_bw), ys = bi(params, x, carry0, mask=mask)
    _close(ys, out)
    _check_states(states[:2], c_fw)
    _check_states(states[2:], c_bw)


def test_bidirectional_gru_lengths():
    x = _inputs(13)
    mask = MASKS["right"]
    layer = keras.layers.Bidirectional(keras.layers.GRU(H, return_sequences=True), "sum")
    _keras(layer, x)
    _randomize(layer, 14)
    out = _keras(layer, x, mask=mask)
    bi = jrnn.bidirectional(jrnn.GRUCell(H), jrnn.GRUCell(H), "sum")
    _, ys = bi(jrnn.from_keras(bi, layer.get_weights()), x, lengths=mask.sum(1))
    _close(ys, out)


# ------------------------------------------------------------------ stacked ----------
@pytest.mark.parametrize("padding", [None, "right", "left"])
def test_stacked_lstm(padding):
    x = _inputs(15)
    mask = None if padding is None else MASKS[padding]
    layer = keras.layers.RNN(
        [keras.layers.LSTMCell(H), keras.layers.LSTMCell(H + 1)],
        return_sequences=True,
        return_state=True,
        zero_output_for_mask=True,
    )
    _keras(layer.build, x.shape)
    _randomize(layer, 16)
    out, *states = _keras(layer, x, mask=mask)
    cell = jrnn.stack([jrnn.LSTMCell(H), jrnn.LSTMCell(H + 1)])
    params = jrnn.from_keras(cell, layer.get_weights())
    carry, ys = jrnn.unroll(cell, params, x, mask=mask)
    _close(ys, out)
    flat = [a for s in states for a in (s if isinstance(s, (list, tuple)) else [s])]
    ours = [a for layer_carry in carry for a in layer_carry]
    assert len(flat) == len(ours) == 4
    for k, o in zip(flat, ours):
        _close(o, k)


def test_stacked_mixed_cells():
    x = _inputs(17)
    layer = keras.layers.RNN(
        [keras.layers.GRUCell(H), keras.layers.SimpleRNNCell(H), keras.layers.LSTMCell(H)],
        return_sequences=True,
    )
    _keras(layer.build, x.shape)
    _randomize(layer, 18)
    out = _keras(layer, x)
    cell = jrnn.stack([jrnn.GRUCell(H), jrnn.SimpleRNNCell(H), jrnn.LSTMCell(H)])
    _, ys = jrnn.unroll(cell, jrnn.from_keras(cell, layer.get_weights()), x)
    _close(ys, out)


# ------------------------------------------------------------------ parameter counts --
def _n_params(params):
    return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(params))


# Zeros initializers keep Keras from compiling a QR (orthogonal) just to count.
ZEROS = dict(kernel_initializer="zeros", recurrent_initializer="zeros")


@pytest.mark.parametrize(
    "keras_layer, cell, expected",
    [
        (lambda: keras.layers.LSTM(64, **ZEROS), jrnn.LSTMCell(64), 42_240),
        (lambda: keras.layers.GRU(64, **ZEROS), jrnn.GRUCell(64), 31_872),
        (
            lambda: keras.layers.GRU(64, reset_after=False, **ZEROS),
            jrnn.GRUCell(64, reset_after=False),
            31_680,
        ),
        (lambda: keras.layers.SimpleRNN(64, **ZEROS), jrnn.SimpleRNNCell(64), 10_560),
        (
            lambda: keras.layers.Bidirectional(keras.layers.LSTM(64, **ZEROS)),
            jrnn.bidirectional(jrnn.LSTMCell(64), jrnn.LSTMCell(64)),
            84_480,
        ),
    ],
    ids=["lstm", "gru", "gru_reset_before", "simple_rnn", "bidirectional_lstm"],
)
def test_parameter_counts(keras_layer, cell, expected):
    """I = 100, H = 64 (REFERENCE.md 1.5)."""
    layer = keras_layer()
    _keras(layer.build, (None, 10, 100))
    assert layer.count_params() == expected
    params = jax.eval_shape(lambda k: cell.init(k, 100), jax.random.key(0))
    assert _n_params(params) == expected
    # ... and Keras's weights load into exactly that structure.
    converted = jrnn.from_keras(cell, layer.get_weights())
    assert jax.tree.structure(converted) == jax.tree.structure(params)
    assert _n_params(converted) == expected


# ------------------------------------------------------------------ golden values ----
def _const(value):
    def init(key, shape, dtype=jnp.float32):
        return jnp.full(shape, value, dtype)

    return init


CONST = dict(
    kernel_initializer=_const(0.01),
    recurrent_initializer=_const(0.02),
    bias_initializer=_const(0.03),
)
KERAS_CONST = dict(
    kernel_initializer=keras.initializers.Constant(0.01),
    recurrent_initializer=keras.initializers.Constant(0.02),
    bias_initializer=keras.initializers.Constant(0.03),
)

# Last outputs from Keras's own tests (keras/src/layers/rnn/{lstm,gru,simple_rnn}_test.py),
# inputs np.arange(72).reshape((3, 6, 4)) (SimpleRNN: np.arange(24).reshape((2, 3, 4))).
GOLDEN = [
    ("lstm", keras.layers.LSTM, jrnn.LSTMCell, {}, False, 3, [0.6288687, 0.86899155, 0.9460773]),
    (
        "lstm_backwards",
        keras.layers.LSTM,
        jrnn.LSTMCell,
        {},
        True,
        3,
        [0.35622165, 0.74789524, 0.8872726],
    ),
    (
        "lstm_no_unit_forget_bias",
        keras.layers.LSTM,
        jrnn.LSTMCell,
        {"unit_forget_bias": False},
        False,
        3,
        [0.57019705, 0.8661914, 0.9459622],
    ),
    (
        "lstm_no_bias",
        keras.layers.LSTM,
        jrnn.LSTMCell,
        {"use_bias": False},
        False,
        3,
        [0.54986924, 0.86226785, 0.9443936],
    ),
    ("gru", keras.layers.GRU, jrnn.GRUCell, {}, False, 3, [0.5217289, 0.6371659, 0.39384964]),
    (
        "gru_backwards",
        keras.layers.GRU,
        jrnn.GRUCell,
        {},
        True,
        3,
        [0.24406259, 0.611516, 0.3928808],
    ),
    (
        "gru_reset_before",
        keras.layers.GRU,
        jrnn.GRUCell,
        {"reset_after": False},
        False,
        3,
        [0.51447755, 0.6426879, 0.40208298],
    ),
    (
        "simple_rnn",
        keras.layers.SimpleRNN,
        jrnn.SimpleRNNCell,
        {},
        False,
        4,
        [0.405432, 0.73605347],
    ),
    (
        "simple_rnn_backwards",
        keras.layers.SimpleRNN,
        jrnn.SimpleRNNCell,
        {},
        True,
        4,
        [0.11144729, 0.5528889],
    ),
]


@pytest.mark.parametrize("case", GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden_constant_initializers(case):
    """Both sides built independently from constant initializers (no weight transfer)."""
    _, keras_cls, cell_cls, kw, backwards, units, expected = case
    n = len(expected)  # batch 3 x 6 steps (Keras LSTM/GRU tests), or 2 x 3 (SimpleRNN)
    seq = np.arange(n * 4 * (6 if n == 3 else 3)).reshape((n, -1, 4)).astype("float32")
    cell = cell_cls(units, **CONST, **kw)
    params = cell.init(jax.random.key(0), 4)
    carry, ys = jrnn.unroll(cell, params, seq, reverse=backwards)
    last = ys[:, 0] if backwards else ys[:, -1]  # Keras's last output in processing order
    want = np.repeat(np.asarray(expected, np.float32)[:, None], units, axis=1)
    _close(last, want)
    _close(carry[0] if isinstance(carry, tuple) else carry, want)

    layer = keras_cls(units, go_backwards=backwards, return_sequences=True, **KERAS_CONST, **kw)
    out = np.asarray(_keras(layer, seq))
    _close(ys[:, ::-1] if backwards else ys, out)
    # Independently built weights are the same arrays.
    for k, a in zip(("kernel", "recurrent_kernel", "bias"), layer.get_weights()):
        _close(params[k], a, atol=0)


@pytest.mark.parametrize("kind", ["lstm", "gru", "simple_rnn"])
def test_golden_scaled_inputs_with_mask(kind):
    """Scaled arange inputs, constant weights, left padding: Keras vs jrnn, no transfer."""
    seq = (np.arange(72).reshape((3, 6, 4)) / 72).astype("float32")
    mask = np.arange(6)[None, :] >= np.array([0, 2, 4])[:, None]
    keras_cls = KINDS[kind][0]
    cell_cls = type(KINDS[kind][2])
    layer = keras_cls(4, return_sequences=True, zero_output_for_mask=True, **KERAS_CONST)
    out = _keras(layer, seq, mask=mask)
    cell = cell_cls(4, **CONST)
    _, ys = jrnn.unroll(cell, cell.init(jax.random.key(0), 4), seq, mask=mask)
    _close(ys, out)
