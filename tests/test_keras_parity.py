"""Parity with Keras 3 (JAX backend): same weights, same outputs and final states.

Keras layers are built, given random weights (biases included), and their `get_weights()`
are loaded into jrnn with `jrnn.from_keras`. Keras returns the sequence of a `go_backwards`
layer in processing (reversed) order, so it is compared with our `reverse=True` output
flipped on the time axis. Masked runs use `zero_output_for_mask=True` so Keras, like jrnn,
outputs zeros at masked steps.

Speed: an eager Keras call on its default `lax.scan` path compiles the scan each time
(~0.2 s), while `unroll=True` runs cached eager ops (~10 ms). Most tests therefore use
Keras's unrolled path; the tests marked `scan` use its default path (Keras's own tests
check the two give the same values). jrnn runs under `jax.jit` with the cell static so
tests with the same cell and shapes share one compilation; the golden tests and the
`lengths=` checks call `jrnn.unroll` eagerly.
"""

import functools
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import jrnn  # noqa: E402

keras = pytest.importorskip("keras")

if keras.backend.backend() != "jax":  # KERAS_BACKEND was set after Keras was imported
    pytest.skip("the Keras parity tests need the JAX backend", allow_module_level=True)

pytestmark = pytest.mark.filterwarnings(
    # Keras's Variable.__array__ under NumPy 2 (in get_weights); not ours.
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

ATOL = 1e-5
B, T, F, H = 4, 6, 3, 5  # batch, steps, input features, units

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

# Cheap build-time initializers (no QR): every weight is replaced by `_randomize`.
ZEROS = dict(kernel_initializer="zeros", recurrent_initializer="zeros")


@pytest.fixture(autouse=True)
def _highest_precision():
    with jax.default_matmul_precision("highest"):
        yield


def _keras(fn, *args, **kwargs):
    """Run a Keras call. Keras's own JAX code relies on implicit rank promotion, which
    tests/conftest.py turns into an error; jrnn calls stay under the strict setting."""
    with jax.numpy_rank_promotion("allow"):
        return fn(*args, **kwargs)


@functools.partial(jax.jit, static_argnames=("cell", "reverse", "time_major", "unroll"))
def _unroll(cell, params, xs, carry=None, mask=None, reverse=False, time_major=False, unroll=1):
    kw = dict(carry=carry, mask=mask, reverse=reverse, time_major=time_major, unroll=unroll)
    return jrnn.unroll(cell, params, xs, **kw)


@functools.partial(jax.jit, static_argnums=0)
def _bi(bi, params, xs, carry=None, mask=None, lengths=None):
    return jrnn.unroll(bi, params, xs, carry=carry, mask=mask, lengths=lengths)


def _close(got, want, atol=ATOL):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=atol, rtol=1e-5)


def _inputs(seed=0):
    return np.random.default_rng(seed).standard_normal((B, T, F)).astype("float32")


def _randomize(layer, seed=1):
    """Replace a built layer's weights by uniform(-0.5, 0.5) ones (biases included)."""
    rng = np.random.default_rng(seed)
    new = [rng.uniform(-0.5, 0.5, w.shape).astype("float32") for w in layer.get_weights()]
    _keras(layer.set_weights, new)
    return layer


def _keras_rnn(kind, seed=1, scan=False, **kw):
    cls, extra, _ = KINDS[kind]
    layer = cls(
        H, return_sequences=True, return_state=True, unroll=not scan, **ZEROS, **extra, **kw
    )
    _keras(layer.build, (B, T, F))
    return _randomize(layer, seed)


def _zeroed(out, mask, scan=False):
    """Keras's output with masked steps zeroed where Keras does not do it itself.

    Keras's JAX backend ignores `zero_output_for_mask` on its `unroll=True` path (it
    repeats the previous output at masked steps; the scan path and the TF backend zero
    them), so on that path the zeros are put in here. `mask` in Keras's output order.
    """
    out = np.asarray(out)
    if scan or mask is None:
        return out
    return np.where(mask[..., None], out, np.zeros_like(out))


def _check_states(keras_states, carry):
    """Keras's state list ([h, c] for LSTM, [h] otherwise) against our carry."""
    ours = list(carry) if isinstance(carry, tuple) else [carry]
    assert len(keras_states) == len(ours)
    for k, o in zip(keras_states, ours):
        _close(o, k)


# ------------------------------------------------------------------ single layers ----
@pytest.mark.parametrize("scan", [True, False], ids=["scan", "unrolled"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_sequence_and_final_state(kind, scan):
    x = _inputs()
    layer = _keras_rnn(kind, scan=scan)
    out, *states = _keras(layer, x)
    cell = KINDS[kind][2]
    carry, ys = _unroll(cell, jrnn.from_keras(cell, layer.get_weights()), x)
    assert ys.shape == (B, T, H)
    _close(ys, out)
    _check_states(states, carry)


@pytest.mark.parametrize("kind", list(KINDS))
def test_go_backwards(kind):
    x = _inputs(2)
    layer = _keras_rnn(kind, go_backwards=True)
    out, *states = _keras(layer, x)
    cell = KINDS[kind][2]
    carry, ys = _unroll(cell, jrnn.from_keras(cell, layer.get_weights()), x, reverse=True)
    _close(ys[:, ::-1], out)  # Keras returns the sequence in processing order
    _check_states(states, carry)


@pytest.mark.parametrize("padding", list(MASKS))
@pytest.mark.parametrize("kind", list(KINDS))
def test_mask(kind, padding):
    x = _inputs(3)
    mask = MASKS[padding]
    layer = _keras_rnn(kind, zero_output_for_mask=True)
    out, *states = _keras(layer, x, mask=mask)
    out = _zeroed(out, mask)
    cell = KINDS[kind][2]
    params = jrnn.from_keras(cell, layer.get_weights())
    carry, ys = _unroll(cell, params, x, mask=mask)
    _close(ys, out)
    _check_states(states, carry)
    assert not np.any(np.asarray(ys)[~mask])
    if padding == "right" and kind in ("lstm", "gru_reset_before"):
        # lengths= is the same as a right-padding mask (eager call; fused and plain path)
        carry2, ys2 = jrnn.unroll(cell, params, x, lengths=mask.sum(1).astype(np.int32))
        _close(ys2, out)
        _check_states(states, carry2)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_mask_keras_scan_path(kind):
    """Keras's default path zeroes masked outputs itself; with an all-masked row.
    (Left padding on this path: test_golden_scaled_inputs_with_left_padding.)"""
    x = _inputs(4)
    mask = MASKS["right"]
    layer = _keras_rnn(kind, scan=True, zero_output_for_mask=True)
    out, *states = _keras(layer, x, mask=mask)
    cell = KINDS[kind][2]
    carry, ys = _unroll(cell, jrnn.from_keras(cell, layer.get_weights()), x, mask=mask)
    _close(ys, out)
    _check_states(states, carry)


@pytest.mark.parametrize(
    "kind, padding, scan",
    [
        ("lstm", "right", False),
        ("lstm", "left", True),
        ("gru_reset_before", "left", False),
    ],
)
def test_go_backwards_with_mask(kind, padding, scan):
    x = _inputs(5)
    mask = MASKS[padding]
    layer = _keras_rnn(kind, scan=scan, go_backwards=True, zero_output_for_mask=True)
    out, *states = _keras(layer, x, mask=mask)
    cell = KINDS[kind][2]
    params = jrnn.from_keras(cell, layer.get_weights())
    carry, ys = _unroll(cell, params, x, mask=mask, reverse=True)
    _close(ys[:, ::-1], _zeroed(out, mask[:, ::-1], scan))
    _check_states(states, carry)


@pytest.mark.parametrize("kind", list(KINDS))
def test_initial_state(kind):
    """Initial state with a right-padding mask: row 0 has no padding, and row 3 has no
    valid step, so it must keep its initial state."""
    x = _inputs(6)
    mask = MASKS["right"]
    layer = _keras_rnn(kind, zero_output_for_mask=True)
    rng = np.random.default_rng(7)
    n_states = 2 if kind == "lstm" else 1
    init = [rng.standard_normal((B, H)).astype("float32") for _ in range(n_states)]
    out, *states = _keras(layer, x, initial_state=init, mask=mask)
    cell = KINDS[kind][2]
    carry0 = tuple(jnp.asarray(s) for s in init) if kind == "lstm" else jnp.asarray(init[0])
    params = jrnn.from_keras(cell, layer.get_weights())
    carry, ys = _unroll(cell, params, x, carry=carry0, mask=mask)
    _close(ys, _zeroed(out, mask))
    _check_states(states, carry)
    _check_states([s[3] for s in init], jax.tree.map(lambda a: a[3], carry))


def test_initial_state_keras_scan_path():
    x = _inputs(7)
    mask = MASKS["right"]
    layer = _keras_rnn("lstm", scan=True, zero_output_for_mask=True)
    init = [np.full((B, H), v, np.float32) for v in (0.3, -0.2)]
    out, *states = _keras(layer, x, initial_state=init, mask=mask)
    cell = jrnn.LSTMCell(H)
    params = jrnn.from_keras(cell, layer.get_weights())
    carry0 = tuple(jnp.asarray(s) for s in init)
    carry, ys = _unroll(cell, params, x, carry=carry0, mask=mask)
    _close(ys, out)
    _check_states(states, carry)


def test_time_major_and_scan_unroll_match_keras():
    x = _inputs(8)
    layer = _keras_rnn("lstm")
    out, h, c = _keras(layer, x)
    cell = jrnn.LSTMCell(H)
    params = jrnn.from_keras(cell, layer.get_weights())
    (h2, c2), ys = _unroll(cell, params, np.swapaxes(x, 0, 1), time_major=True, unroll=4)
    _close(np.swapaxes(np.asarray(ys), 0, 1), out)
    _close(h2, h)
    _close(c2, c)


# ------------------------------------------------------------------ bidirectional ----
def _keras_bi(merge_mode, seed=11, scan=False, cls=None, return_state=True):
    cls = cls or keras.layers.LSTM
    inner = cls(H, return_sequences=True, return_state=return_state, unroll=not scan, **ZEROS)
    layer = keras.layers.Bidirectional(inner, merge_mode=merge_mode)
    _keras(layer.build, (B, T, F))
    return _randomize(layer, seed)


@pytest.mark.parametrize(
    "merge_mode, padding, scan",
    [
        ("concat", None, False),
        ("concat", "right", True),
        ("concat", "left", False),
        ("sum", "left", False),
        ("ave", "right", False),
        ("mul", "left", False),
        (None, "right", False),
    ],
)
def test_bidirectional_lstm(merge_mode, padding, scan):
    x = _inputs(9)
    mask = None if padding is None else MASKS[padding]
    layer = _keras_bi(merge_mode, scan=scan)
    res = _keras(layer, x, mask=mask)
    bi = jrnn.bidirectional(jrnn.LSTMCell(H), jrnn.LSTMCell(H), merge_mode)
    params = jrnn.from_keras(bi, layer.get_weights())
    (c_fw, c_bw), ys = _bi(bi, params, x, mask=mask)
    if merge_mode is None:  # Keras: [out_fw, out_bw, *fw_states, *bw_states]
        (out_fw, out_bw), states = res[:2], res[2:]
        _close(ys[0], _zeroed(out_fw, mask, scan))
        _close(ys[1], _zeroed(out_bw, mask, scan))
    else:
        out, states = res[0], res[1:]
        assert ys.shape == (B, T, bi.output_size)
        _close(ys, _zeroed(out, mask, scan))
    assert len(states) == 4  # h_fw, c_fw, h_bw, c_bw
    _check_states(states[:2], c_fw)
    _check_states(states[2:], c_bw)
    if mask is not None:  # Keras Bidirectional zeroes masked outputs; so do we
        for y in ys if merge_mode is None else [ys]:
            assert not np.any(np.asarray(y)[~mask])


def test_bidirectional_initial_state():
    x = _inputs(10)
    mask = MASKS["right"]
    layer = _keras_bi("concat")
    rng = np.random.default_rng(12)
    init = [rng.standard_normal((B, H)).astype("float32") for _ in range(4)]
    out, *states = _keras(layer, x, initial_state=init, mask=mask)
    bi = jrnn.bidirectional(jrnn.LSTMCell(H), jrnn.LSTMCell(H))
    params = jrnn.from_keras(bi, layer.get_weights())
    carry0 = tuple((jnp.asarray(init[k]), jnp.asarray(init[k + 1])) for k in (0, 2))
    (c_fw, c_bw), ys = _bi(bi, params, x, carry0, mask=mask)
    _close(ys, _zeroed(out, mask))
    _check_states(states[:2], c_fw)
    _check_states(states[2:], c_bw)


def test_bidirectional_gru_with_lengths():
    x = _inputs(13)
    mask = MASKS["right"]
    layer = _keras_bi("sum", seed=14, cls=keras.layers.GRU, return_state=False)
    out = _keras(layer, x, mask=mask)
    bi = jrnn.bidirectional(jrnn.GRUCell(H), jrnn.GRUCell(H), "sum")
    _, ys = _bi(bi, jrnn.from_keras(bi, layer.get_weights()), x, lengths=mask.sum(1))
    _close(ys, _zeroed(out, mask))


# ------------------------------------------------------------------ stacked ----------
@pytest.mark.parametrize("padding, scan", [(None, False), ("right", False), ("left", True)])
def test_stacked_lstm(padding, scan):
    x = _inputs(15)
    mask = None if padding is None else MASKS[padding]
    cells = [keras.layers.LSTMCell(H, **ZEROS), keras.layers.LSTMCell(H + 1, **ZEROS)]
    layer = keras.layers.RNN(
        cells, return_sequences=True, return_state=True, zero_output_for_mask=True, unroll=not scan
    )
    _keras(layer.build, (B, T, F))
    _randomize(layer, 16)
    out, *states = _keras(layer, x, mask=mask)
    cell = jrnn.stack([jrnn.LSTMCell(H), jrnn.LSTMCell(H + 1)])
    params = jrnn.from_keras(cell, layer.get_weights())
    carry, ys = _unroll(cell, params, x, mask=mask)
    _close(ys, _zeroed(out, mask, scan))
    flat = [a for s in states for a in (s if isinstance(s, (list, tuple)) else [s])]
    ours = [a for layer_carry in carry for a in layer_carry]
    assert len(flat) == len(ours) == 4  # h1, c1, h2, c2
    for k, o in zip(flat, ours):
        _close(o, k)


def test_stacked_mixed_cells():
    x = _inputs(17)
    cells = [
        keras.layers.GRUCell(H, **ZEROS),
        keras.layers.SimpleRNNCell(H, **ZEROS),
        keras.layers.LSTMCell(H, **ZEROS),
    ]
    layer = keras.layers.RNN(cells, return_sequences=True, unroll=True)
    _keras(layer.build, (B, T, F))
    _randomize(layer, 18)
    out = _keras(layer, x)
    cell = jrnn.stack([jrnn.GRUCell(H), jrnn.SimpleRNNCell(H), jrnn.LSTMCell(H)])
    _, ys = _unroll(cell, jrnn.from_keras(cell, layer.get_weights()), x)
    _close(ys, out)


# ------------------------------------------------------------------ parameter counts --
def _n_params(params):
    return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(params))


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
    """I = 100, H = 64 (REFERENCE.md section 1.5)."""
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

# Last outputs from Keras's own tests (keras/src/layers/rnn/{lstm,gru,simple_rnn}_test.py):
# name -> (layer, kwargs, go_backwards, per-sequence value repeated over the units).
# LSTM/GRU: 3 units, inputs np.arange(72).reshape((3, 6, 4));
# SimpleRNN: 4 units, inputs np.arange(24).reshape((2, 3, 4)).
GOLDEN = {
    "lstm": ("LSTM", {}, False, [0.6288687, 0.86899155, 0.9460773]),
    "lstm_backwards": ("LSTM", {}, True, [0.35622165, 0.74789524, 0.8872726]),
    "lstm_no_unit_forget_bias": (
        "LSTM",
        {"unit_forget_bias": False},
        False,
        [0.57019705, 0.8661914, 0.9459622],
    ),
    "lstm_no_bias": ("LSTM", {"use_bias": False}, False, [0.54986924, 0.86226785, 0.9443936]),
    "gru": ("GRU", {}, False, [0.5217289, 0.6371659, 0.39384964]),
    "gru_backwards": ("GRU", {}, True, [0.24406259, 0.611516, 0.3928808]),
    "gru_reset_before": ("GRU", {"reset_after": False}, False, [0.51447755, 0.6426879, 0.40208298]),
    "simple_rnn": ("SimpleRNN", {}, False, [0.405432, 0.73605347]),
    "simple_rnn_backwards": ("SimpleRNN", {}, True, [0.11144729, 0.5528889]),
}
CELL_OF = {"LSTM": jrnn.LSTMCell, "GRU": jrnn.GRUCell, "SimpleRNN": jrnn.SimpleRNNCell}


@pytest.mark.parametrize("name", list(GOLDEN))
def test_golden_constant_initializers(name):
    """Both sides built independently from constant initializers (no weight transfer),
    against Keras's published values and a live Keras layer."""
    layer_name, kw, backwards, expected = GOLDEN[name]
    units, batch, steps = (4, 2, 3) if layer_name == "SimpleRNN" else (3, 3, 6)
    seq = np.arange(batch * steps * 4).reshape((batch, steps, 4)).astype("float32")
    cell = CELL_OF[layer_name](units, **CONST, **kw)
    params = cell.init(jax.random.key(0), 4)
    carry, ys = jrnn.unroll(cell, params, seq, reverse=backwards)
    last = ys[:, 0] if backwards else ys[:, -1]  # Keras's last output, in processing order
    want = np.repeat(np.asarray(expected, np.float32)[:, None], units, axis=1)
    _close(last, want)
    _close(carry[0] if isinstance(carry, tuple) else carry, want)

    layer = getattr(keras.layers, layer_name)(
        units, go_backwards=backwards, return_sequences=True, unroll=True, **KERAS_CONST, **kw
    )
    out = _keras(layer, seq)
    _close(ys[:, ::-1] if backwards else ys, out)
    # The independently built weights are the same arrays.
    names = ("kernel", "recurrent_kernel", "bias")
    assert len(layer.get_weights()) == len(params)
    for k, a in zip(names, layer.get_weights()):
        _close(params[k], a, atol=0)


@pytest.mark.parametrize("kind", ["lstm", "gru", "gru_reset_before", "simple_rnn"])
def test_golden_scaled_inputs_with_left_padding(kind):
    """arange / 72 inputs, constant weights, pre-padding: Keras (default scan path) vs
    jrnn, each built from its own initializers, no transfer."""
    seq = (np.arange(B * T * F).reshape((B, T, F)) / 72).astype("float32")
    mask = MASKS["left"]
    keras_cls, extra, cell = KINDS[kind]
    layer = keras_cls(H, return_sequences=True, zero_output_for_mask=True, **KERAS_CONST, **extra)
    out = _keras(layer, seq, mask=mask)
    params = type(cell)(H, **CONST, **extra).init(jax.random.key(0), F)
    _, ys = _unroll(cell, params, seq, mask=mask)  # same config but the initializers
    _close(ys, out)
