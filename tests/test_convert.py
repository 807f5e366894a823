"""Weight conversion: PyTorch parity (`jrnn.from_torch`), Keras weight-list round trips
(`jrnn.from_keras`), `forget_bias` handling, and the converters' error messages.

PyTorch keeps two biases and transposed weights, orders GRU gates r, z, n (Keras z, r, h),
and stacks final states in `h_n` with shape (D * L, B, H): index 2 * layer + direction,
direction 0 forward and 1 backward. A packed batch (`pack_padded_sequence`) runs each
sequence over its own valid steps only; its backward direction starts at the sequence's
last valid step, as jrnn's does with `lengths=`.

jrnn runs under `jax.jit` with the cell static so tests that share a cell and shapes
share one compilation.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jrnn

torch = pytest.importorskip("torch")
nn = torch.nn

ATOL = 1e-5
B, T, F, H = 4, 6, 3, 5  # batch, steps, input features, units
LENGTHS = np.array([6, 4, 1, 3])  # right padding; PyTorch packing needs lengths >= 1

# name -> (PyTorch module class and kwargs, jrnn cell)
KINDS = {
    "lstm": (nn.LSTM, {}, jrnn.LSTMCell(H)),
    "gru": (nn.GRU, {}, jrnn.GRUCell(H)),
    "rnn_tanh": (nn.RNN, {"nonlinearity": "tanh"}, jrnn.SimpleRNNCell(H)),
    "rnn_relu": (nn.RNN, {"nonlinearity": "relu"}, jrnn.SimpleRNNCell(H, activation="relu")),
}


@pytest.fixture(autouse=True)
def _highest_precision():
    with jax.default_matmul_precision("highest"):
        yield


@functools.partial(jax.jit, static_argnames=("cell", "reverse"))
def _unroll(cell, params, xs, carry=None, lengths=None, reverse=False):
    return jrnn.unroll(cell, params, xs, carry=carry, lengths=lengths, reverse=reverse)


@functools.partial(jax.jit, static_argnums=0)
def _bi(bi, params, xs, carry=None, lengths=None):
    return jrnn.unroll(bi, params, xs, carry=carry, lengths=lengths)


def _close(got, want, atol=ATOL):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=atol, rtol=1e-5)


def _inputs(seed=0, batch=B):
    return np.random.default_rng(seed).standard_normal((batch, T, F)).astype("float32")


def _torch_module(kind, seed=0, **kw):
    cls, extra, _ = KINDS[kind]
    torch.manual_seed(seed)
    return cls(F, H, batch_first=True, **extra, **kw).eval()


def _run_torch(module, x, lengths=None, hx=None):
    """Batch-first outputs (zeros past each length when packed) and final states as
    NumPy: h_n, or (h_n, c_n) for LSTM, each (D * L, B, H)."""
    with torch.no_grad():
        inp = torch.from_numpy(x)
        if lengths is not None:
            inp = nn.utils.rnn.pack_padded_sequence(
                inp, torch.as_tensor(lengths), batch_first=True, enforce_sorted=False
            )
        out, state = module(inp, hx)
        if lengths is not None:
            out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=T)
    state = tuple(s.numpy() for s in state) if isinstance(state, tuple) else state.numpy()
    return out.numpy(), state


def _random_params(cell, size, seed=0):
    """Params for `cell` with random values, without running its initializers (a QR
    compilation per shape for `orthogonal`)."""
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(lambda k: cell.init(k, size), jax.random.key(0))
    return jax.tree.map(
        lambda s: jnp.asarray(rng.uniform(-0.5, 0.5, s.shape).astype(s.dtype)), shapes
    )


def _check_carry(carry, torch_state, index):
    """Our carry for one layer and direction against h_n[index] (and c_n[index])."""
    if isinstance(torch_state, tuple):  # LSTM: our (h, c) against (h_n, c_n)
        assert isinstance(carry, tuple) and len(carry) == 2
        _close(carry[0], torch_state[0][index])
        _close(carry[1], torch_state[1][index])
    else:
        _close(carry, torch_state[index])


# ------------------------------------------------------------------ PyTorch parity ----
@pytest.mark.parametrize("kind", list(KINDS))
def test_single_layer(kind):
    x = _inputs()
    module = _torch_module(kind)
    out, state = _run_torch(module, x)
    cell = KINDS[kind][2]
    carry, ys = _unroll(cell, jrnn.from_torch(cell, module.state_dict()), x)
    _close(ys, out)
    _check_carry(carry, state, 0)


def test_state_dict_of_numpy_arrays_or_tensors():
    module = _torch_module("gru")
    cell = jrnn.GRUCell(H)
    a = jrnn.from_torch(cell, module.state_dict())
    b = jrnn.from_torch(cell, {k: v.numpy() for k, v in module.state_dict().items()})
    for k in a:
        _close(a[k], b[k], atol=0)
    assert a["bias"].shape == (2, 3 * H)  # GRU keeps the two PyTorch biases


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_initial_state(kind):
    x = _inputs(1)
    module = _torch_module(kind, seed=1)
    rng = np.random.default_rng(2)
    h0 = rng.standard_normal((1, B, H)).astype("float32")
    c0 = rng.standard_normal((1, B, H)).astype("float32")
    hx = (torch.from_numpy(h0), torch.from_numpy(c0)) if kind == "lstm" else torch.from_numpy(h0)
    out, state = _run_torch(module, x, hx=hx)
    cell = KINDS[kind][2]
    carry0 = (jnp.asarray(h0[0]), jnp.asarray(c0[0])) if kind == "lstm" else jnp.asarray(h0[0])
    carry, ys = _unroll(cell, jrnn.from_torch(cell, module.state_dict()), x, carry=carry0)
    _close(ys, out)
    _check_carry(carry, state, 0)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_two_layers(kind):
    x = _inputs(3)
    module = _torch_module(kind, seed=3, num_layers=2)
    out, state = _run_torch(module, x)
    cell = jrnn.stack([KINDS[kind][2], KINDS[kind][2]])
    carry, ys = _unroll(cell, jrnn.from_torch(cell, module.state_dict()), x)
    _close(ys, out)
    for layer in range(2):
        _check_carry(carry[layer], state, layer)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_relu"])
def test_bidirectional(kind):
    x = _inputs(4)
    module = _torch_module(kind, seed=4, bidirectional=True)
    out, state = _run_torch(module, x)
    bi = jrnn.bidirectional(KINDS[kind][2], KINDS[kind][2], "concat")
    (c_fw, c_bw), ys = _bi(bi, jrnn.from_torch(bi, module.state_dict()), x)
    assert ys.shape == out.shape == (B, T, 2 * H)
    _close(ys, out)
    _check_carry(c_fw, state, 0)
    _check_carry(c_bw, state, 1)


def test_two_layer_bidirectional_lstm():
    x = _inputs(5)
    module = _torch_module("lstm", seed=5, num_layers=2, bidirectional=True)
    out, state = _run_torch(module, x)
    cell = jrnn.LSTMCell(H)
    sbi = jrnn.stack_bidirectional([cell, cell], [cell, cell])
    params = jrnn.from_torch(sbi, module.state_dict())
    assert params[1]["forward"]["kernel"].shape == (2 * H, 4 * H)  # layer 1 reads 2H
    carry, ys = _bi(sbi, params, x)
    _close(ys, out)
    for layer in range(2):
        for direction in range(2):
            _check_carry(carry[layer][direction], state, 2 * layer + direction)


# ------------------------------------------------------------------ packed sequences --
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_packed_sequence(kind):
    x = _inputs(6)  # values past each length are random, and must be ignored
    module = _torch_module(kind, seed=6)
    out, state = _run_torch(module, x, lengths=LENGTHS)
    cell = KINDS[kind][2]
    carry, ys = _unroll(cell, jrnn.from_torch(cell, module.state_dict()), x, lengths=LENGTHS)
    _close(ys, out)  # zeros past each length on both sides
    _check_carry(carry, state, 0)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_packed_sequence_bidirectional(kind):
    x = _inputs(7)
    module = _torch_module(kind, seed=7, bidirectional=True)
    out, state = _run_torch(module, x, lengths=LENGTHS)
    bi = jrnn.bidirectional(KINDS[kind][2], KINDS[kind][2])
    (c_fw, c_bw), ys = _bi(bi, jrnn.from_torch(bi, module.state_dict()), x, lengths=LENGTHS)
    _close(ys, out)
    _check_carry(c_fw, state, 0)
    _check_carry(c_bw, state, 1)  # the backward state after position 0
    # Padding must not leak into the backward direction: each sequence alone, unpadded.
    for b, n in enumerate(LENGTHS):
        seq_out, _ = _run_torch(module, np.ascontiguousarray(x[b : b + 1, :n]))
        _close(ys[b, :n], seq_out[0, :n])


def test_packed_sequence_two_layer_bidirectional_gru():
    x = _inputs(8)
    module = _torch_module("gru", seed=8, num_layers=2, bidirectional=True)
    out, state = _run_torch(module, x, lengths=LENGTHS)
    cell = jrnn.GRUCell(H)
    sbi = jrnn.stack_bidirectional([cell, cell], [cell, cell])
    carry, ys = _bi(sbi, jrnn.from_torch(sbi, module.state_dict()), x, lengths=LENGTHS)
    _close(ys, out)
    for layer in range(2):
        for direction in range(2):
            _check_carry(carry[layer][direction], state, 2 * layer + direction)


# ------------------------------------------------------------------ single cells -----
@pytest.mark.parametrize(
    "torch_cls, cell",
    [
        (nn.LSTMCell, jrnn.LSTMCell(H)),
        (nn.GRUCell, jrnn.GRUCell(H)),
        (nn.RNNCell, jrnn.SimpleRNNCell(H)),
    ],
    ids=["lstm", "gru", "rnn"],
)
def test_torch_cells(torch_cls, cell):
    torch.manual_seed(9)
    module = torch_cls(F, H).eval()
    assert "weight_ih" in module.state_dict()  # no _l0 suffix on the *Cell modules
    params = jrnn.from_torch(cell, module.state_dict())
    x = _inputs(9)
    rng = np.random.default_rng(10)
    h0 = rng.standard_normal((B, H)).astype("float32")
    c0 = rng.standard_normal((B, H)).astype("float32")
    is_lstm = isinstance(cell, jrnn.LSTMCell)
    carry = (jnp.asarray(h0), jnp.asarray(c0)) if is_lstm else jnp.asarray(h0)
    state = (torch.from_numpy(h0), torch.from_numpy(c0)) if is_lstm else torch.from_numpy(h0)
    # One step with the cell itself, then a whole sequence with unroll.
    with torch.no_grad():
        step = module(torch.from_numpy(x[:, 0]), state)
    new_carry, y = cell(params, carry, jnp.asarray(x[:, 0]))
    want_h = step[0] if is_lstm else step
    _close(y, want_h.numpy())
    if is_lstm:
        _close(new_carry[1], step[1].numpy())
    ys_torch = []
    with torch.no_grad():
        for t in range(T):
            state = module(torch.from_numpy(x[:, t]), state)
            ys_torch.append((state[0] if is_lstm else state).numpy())
    final, ys = _unroll(cell, params, x, carry=carry)
    _close(ys, np.stack(ys_torch, axis=1))
    _close(final[0] if is_lstm else final, ys_torch[-1])


def test_layer_argument_picks_one_layer():
    x = _inputs(11)
    module = _torch_module("lstm", seed=11, num_layers=2)
    sd = module.state_dict()
    stacked = jrnn.from_torch(jrnn.stack([jrnn.LSTMCell(H), jrnn.LSTMCell(H)]), sd)
    cell = jrnn.LSTMCell(H)
    for layer in range(2):
        one = jrnn.from_torch(cell, sd, layer=layer)
        for k in one:
            _close(one[k], stacked[layer][k], atol=0)
    _, ys0 = _unroll(cell, jrnn.from_torch(cell, sd, layer=0), x)
    _, ys = _unroll(cell, jrnn.from_torch(cell, sd, layer=1), ys0)
    _close(ys, _run_torch(module, x)[0])


def test_no_bias():
    x = _inputs(12)
    module = _torch_module("gru", seed=12, bias=False)
    out, state = _run_torch(module, x)
    cell = jrnn.GRUCell(H, use_bias=False)
    params = jrnn.from_torch(cell, module.state_dict())
    assert "bias" not in params
    carry, ys = _unroll(cell, params, x)
    _close(ys, out)
    _check_carry(carry, state, 0)


# ------------------------------------------------------------------ forget_bias ------
def test_forget_bias_from_torch():
    """forget_bias is added at every step, so the converter takes it out of the stored
    bias: the outputs are PyTorch's."""
    x = _inputs(13)
    module = _torch_module("lstm", seed=13)
    out, state = _run_torch(module, x, lengths=LENGTHS)
    plain, shifted = jrnn.LSTMCell(H), jrnn.LSTMCell(H, forget_bias=1.0)
    p_plain = jrnn.from_torch(plain, module.state_dict())
    p_shift = jrnn.from_torch(shifted, module.state_dict())
    _close(p_shift["bias"][H : 2 * H], p_plain["bias"][H : 2 * H] - 1.0)
    _close(p_shift["bias"][:H], p_plain["bias"][:H], atol=0)
    _close(p_shift["bias"][2 * H :], p_plain["bias"][2 * H :], atol=0)
    carry, ys = _unroll(shifted, p_shift, x, lengths=LENGTHS)
    _close(ys, out)
    _check_carry(carry, state, 0)


def test_forget_bias_from_keras_weights():
    cell = jrnn.LSTMCell(H)
    params = _random_params(cell, F)
    weights = [np.asarray(params[k]) for k in ("kernel", "recurrent_kernel", "bias")]
    shifted = jrnn.LSTMCell(H, forget_bias=2.5)
    p_shift = jrnn.from_keras(shifted, weights)
    _close(p_shift["bias"][H : 2 * H], weights[2][H : 2 * H] - 2.5)
    x = _inputs(14)
    _, ys = _unroll(cell, params, x)
    _, ys_shift = _unroll(shifted, p_shift, x)
    _close(ys_shift, ys)


# ------------------------------------------------------------------ Keras round trip --
def _keras_weights(cell, params):
    """The `get_weights()` list a Keras layer of this structure would have."""
    if isinstance(cell, jrnn.cells.StackedCell):
        return [w for c, p in zip(cell.cells, params) for w in _keras_weights(c, p)]
    if isinstance(cell, jrnn.cells.StackedBidirectional):
        return [w for c, p in zip(cell.layers, params) for w in _keras_weights(c, p)]
    if isinstance(cell, jrnn.cells.BidirectionalCells):
        return _keras_weights(cell.forward, params["forward"]) + _keras_weights(
            cell.backward, params["backward"]
        )
    names = ("kernel", "recurrent_kernel", "bias")
    return [np.asarray(params[k]) for k in names if k in params]


ROUND_TRIP = {
    "stack": jrnn.stack(
        [jrnn.LSTMCell(H), jrnn.GRUCell(H + 1, reset_after=False), jrnn.SimpleRNNCell(H)]
    ),
    "stack_no_bias": jrnn.stack([jrnn.GRUCell(H, use_bias=False), jrnn.LSTMCell(H)]),
    "bidirectional": jrnn.bidirectional(jrnn.LSTMCell(H), jrnn.GRUCell(H + 2), "concat"),
    "stack_bidirectional": jrnn.stack_bidirectional(
        [jrnn.LSTMCell(H), jrnn.GRUCell(H)], [jrnn.GRUCell(H), jrnn.LSTMCell(H)]
    ),
}


@pytest.mark.parametrize("name", list(ROUND_TRIP))
def test_keras_round_trip(name):
    cell = ROUND_TRIP[name]
    params = _random_params(cell, F, seed=1)
    weights = _keras_weights(cell, params)
    back = jrnn.from_keras(cell, weights)
    assert jax.tree.structure(back) == jax.tree.structure(params)
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(params)):
        assert a.dtype == b.dtype
        _close(a, b, atol=0)


def test_torch_to_keras_list_and_back():
    """from_torch and from_keras agree: PyTorch 2-layer BiLSTM -> params -> Keras list
    -> params gives PyTorch's outputs."""
    x = _inputs(15)
    module = _torch_module("lstm", seed=15, num_layers=2, bidirectional=True)
    out, _ = _run_torch(module, x)
    cell = jrnn.LSTMCell(H)
    sbi = jrnn.stack_bidirectional([cell, cell], [cell, cell])
    params = jrnn.from_keras(sbi, _keras_weights(sbi, jrnn.from_torch(sbi, module.state_dict())))
    _, ys = _bi(sbi, params, x)
    _close(ys, out)


# ------------------------------------------------------------------ errors -----------
def _lstm_weights(units=H, size=F):
    params = _random_params(jrnn.LSTMCell(units), size)
    return [np.asarray(params[k]) for k in ("kernel", "recurrent_kernel", "bias")]


def test_keras_wrong_number_of_weights():
    w = _lstm_weights()
    with pytest.raises(ValueError, match="weights"):
        jrnn.from_keras(jrnn.LSTMCell(H), w + w[:1])  # one too many
    with pytest.raises(ValueError, match="weights"):
        jrnn.from_keras(jrnn.LSTMCell(H), w[:2])  # bias missing
    with pytest.raises(ValueError, match="weights"):
        jrnn.from_keras(jrnn.stack([jrnn.LSTMCell(H), jrnn.LSTMCell(H)]), w)
    bi = jrnn.bidirectional(jrnn.LSTMCell(H), jrnn.LSTMCell(H))
    with pytest.raises(ValueError, match="weights"):
        jrnn.from_keras(bi, w)  # the backward layer's weights are missing


def test_keras_wrong_shapes():
    w = _lstm_weights()
    with pytest.raises(ValueError, match="kernel"):
        jrnn.from_keras(jrnn.LSTMCell(H + 1), w)
    with pytest.raises(ValueError, match="recurrent_kernel"):
        jrnn.from_keras(jrnn.LSTMCell(H), [w[0], w[1][:-1], w[2]])
    with pytest.raises(ValueError, match="bias"):
        jrnn.from_keras(jrnn.LSTMCell(H), [w[0], w[1], w[2][:-1]])
    with pytest.raises(ValueError, match="kernel"):
        jrnn.from_keras(jrnn.GRUCell(H), w)  # 4H columns for a 3-gate cell
    gru = _random_params(jrnn.GRUCell(H), F)  # bias (2, 3H)
    gru_w = [np.asarray(gru[k]) for k in ("kernel", "recurrent_kernel", "bias")]
    with pytest.raises(ValueError, match="bias"):
        jrnn.from_keras(jrnn.GRUCell(H, reset_after=False), gru_w)
    with pytest.raises(ValueError, match="kernel"):
        jrnn.from_keras(jrnn.LSTMCell(H), [w[0][:, :-1], w[1], w[2]])


def test_keras_peephole_lstm_rejected():
    with pytest.raises(ValueError, match="use_peephole"):
        jrnn.from_keras(jrnn.LSTMCell(H, use_peephole=True), _lstm_weights())


def test_torch_gru_reset_before_rejected():
    sd = _torch_module("gru").state_dict()
    with pytest.raises(ValueError, match="reset_after"):
        jrnn.from_torch(jrnn.GRUCell(H, reset_after=False), sd)


def test_torch_peephole_lstm_rejected():
    sd = _torch_module("lstm").state_dict()
    with pytest.raises(ValueError, match="use_peephole"):
        jrnn.from_torch(jrnn.LSTMCell(H, use_peephole=True), sd)


def test_torch_wrong_shapes_and_keys():
    sd = _torch_module("lstm").state_dict()
    with pytest.raises(ValueError, match="weight_hh"):
        jrnn.from_torch(jrnn.LSTMCell(H + 1), sd)
    with pytest.raises(ValueError, match="weight_hh"):
        jrnn.from_torch(jrnn.GRUCell(H), sd)  # 4H rows for a 3-gate cell
    with pytest.raises(ValueError, match="weight_ih_l0_reverse"):
        jrnn.from_torch(jrnn.bidirectional(jrnn.LSTMCell(H), jrnn.LSTMCell(H)), sd)
    with pytest.raises(ValueError, match="weight_ih_l1"):
        jrnn.from_torch(jrnn.stack([jrnn.LSTMCell(H), jrnn.LSTMCell(H)]), sd)
    with pytest.raises(ValueError, match="bias"):
        jrnn.from_torch(jrnn.LSTMCell(H, use_bias=False), sd)
    no_bias = _torch_module("lstm", bias=False).state_dict()
    with pytest.raises(ValueError, match="bias"):
        jrnn.from_torch(jrnn.LSTMCell(H), no_bias)


def test_unsupported_cell_type():
    class MyCell:
        units = H

    with pytest.raises(TypeError, match="cell"):
        jrnn.from_keras(MyCell(), _lstm_weights())
    with pytest.raises(TypeError, match="cell"):
        jrnn.from_torch(MyCell(), _torch_module("lstm").state_dict())


def test_unused_state_dict_entries_are_an_error():
    sd = _torch_module("lstm", seed=3, num_layers=2, bidirectional=True).state_dict()
    with pytest.raises(ValueError, match="state_dict"):
        jrnn.from_torch(jrnn.LSTMCell(H), sd)
    with pytest.raises(ValueError, match="state_dict"):
        jrnn.from_torch(jrnn.stack([jrnn.LSTMCell(H)]), sd)


def test_torch_wrong_input_weight_and_bias_shapes():
    sd = {k: v.numpy() for k, v in _torch_module("gru", seed=4).state_dict().items()}
    bad = dict(sd, weight_ih_l0=sd["weight_ih_l0"][:-1])
    with pytest.raises(ValueError, match="weight_ih"):
        jrnn.from_torch(jrnn.GRUCell(H), bad)
    bad = dict(sd, bias_hh_l0=sd["bias_hh_l0"][:-1])
    with pytest.raises(ValueError, match="bias_hh"):
        jrnn.from_torch(jrnn.GRUCell(H), bad)


def test_forget_bias_without_bias_is_an_error():
    sd = _torch_module("lstm", seed=5, bias=False).state_dict()
    with pytest.raises(ValueError, match="forget_bias"):
        jrnn.from_torch(jrnn.LSTMCell(H, use_bias=False, forget_bias=1.0), sd)


def test_layer_argument_only_for_single_cells():
    sd = _torch_module("lstm", seed=6, num_layers=2).state_dict()
    with pytest.raises(ValueError, match="layer: got 1, expected None"):
        jrnn.from_torch(jrnn.stack([jrnn.LSTMCell(H)] * 2), sd, layer=1)


def test_torch_one_bias_missing():
    sd = {k: v.numpy() for k, v in _torch_module("rnn_tanh", seed=7).state_dict().items()}
    del sd["bias_hh_l0"]
    with pytest.raises(ValueError, match="only one of bias_ih_l0 and bias_hh_l0"):
        jrnn.from_torch(jrnn.SimpleRNNCell(H), sd)
