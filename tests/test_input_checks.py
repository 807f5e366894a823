"""Static input checks (issue 12): bad shapes, dtypes and structures get a clear error
that names the argument, instead of a silent wrong result or an error from inside JAX.
Each case here failed (or computed garbage) before these checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jrnn
from jrnn.recurrence import bidirectional_unroll, default_unroll

KEY = jax.random.key(0)
LSTM = jrnn.LSTMCell(4)
P = LSTM.init(KEY, 3)
XS = jnp.zeros((2, 5, 3))
STACK = jrnn.stack([jrnn.LSTMCell(4), jrnn.GRUCell(4)])
SP = STACK.init(KEY, 3)
BI = jrnn.bidirectional(jrnn.LSTMCell(4), jrnn.LSTMCell(4))
BP = BI.init(KEY, 3)


def _raises(fn, err, match):
    with pytest.raises(err, match=match):
        fn()


@pytest.mark.parametrize(
    "fn, err, match",
    [
        # silent wrong results before: zip truncation ran one layer of two
        (lambda: jrnn.unroll(STACK, SP[:1], XS), ValueError, r"params: got 1 entries, expected 2"),
        (
            lambda: jrnn.unroll(STACK, SP, XS, carry=STACK.initial_carry(2)[:1]),
            ValueError,
            r"carry: got 1 entries, expected 2",
        ),
        (lambda: STACK(SP[:1], STACK.initial_carry(2), XS[:, 0]), ValueError, "params: got 1"),
        (
            lambda: jrnn.unroll(STACK, (SP[0], SP[0]), XS),
            ValueError,
            r"params\[1\]\['kernel'\]: got 3 rows, expected 4, the output size of the layer below",
        ),
        (
            lambda: jrnn.unroll(BI, {"forward": BP["forward"]}, XS),
            TypeError,
            r"params: got \['forward'\], expected a dict with keys 'forward' and 'backward'",
        ),
        (lambda: jrnn.unroll("lstm", P, XS), TypeError, "cell: got 'lstm' of type str"),
        (
            lambda: jrnn.unroll(LSTM, P, XS, carry=jnp.zeros((2, 4))),
            TypeError,
            "carry: got structure",
        ),
        (
            lambda: bidirectional_unroll(BI.forward, BI.backward, BP, XS[0], merge_mode="max"),
            ValueError,
            "merge_mode: got 'max'",
        ),
        (lambda: default_unroll(3), TypeError, "backend: got 3"),
    ],
)
def test_engine_structure(fn, err, match):
    _raises(fn, err, match)


@pytest.mark.parametrize(
    "fn, err, match",
    [
        # a bare h for an LSTM computed garbage before (h indexed as (h, c))
        (
            lambda: LSTM(P, jnp.zeros((2, 4)), XS[:, 0]),
            TypeError,
            "carry: got an array, expected a tuple of 2 arrays as from LSTMCell.initial_carry",
        ),
        (
            lambda: LSTM(P, LSTM.initial_carry(3), XS[:, 0]),
            ValueError,
            r"carry: got shape \(3, 4\), expected \(2, 4\)",
        ),
        (
            lambda: jrnn.GRUCell(4)(jrnn.GRUCell(4).init(KEY, 3), jnp.zeros((2, 4)), XS),
            ValueError,
            r"carry: got shape \(2, 4\), expected \(2, 5, 4\)",
        ),
        (
            lambda: LSTM(P, LSTM.initial_carry(2), jnp.zeros((2, 3), jnp.int32)),
            TypeError,
            "x_t: got dtype int32, expected a floating-point array",
        ),
        (lambda: LSTM(P, LSTM.initial_carry(2), XS[:, 0, :2]), ValueError, r"x_t: got shape"),
        (
            lambda: LSTM({**P, "kernel": P["kernel"][0]}, LSTM.initial_carry(2), XS[:, 0]),
            ValueError,
            r"params\['kernel'\]: got shape \(16,\)",
        ),
        (lambda: LSTM(P["kernel"], LSTM.initial_carry(2), XS[:, 0]), TypeError, "params: got"),
        (lambda: jrnn.LSTMCell(4, dtype="int32"), ValueError, "dtype: got 'int32', expected a fl"),
        (lambda: jrnn.GRUCell(4, param_dtype="int8"), ValueError, "param_dtype: got 'int8'"),
        (lambda: LSTM.initial_carry(-1), ValueError, "batch_size: got -1"),
        (lambda: LSTM.initial_carry(1.5), TypeError, "batch_size: got 1.5 of type float"),
        (lambda: LSTM.init(0, 3), TypeError, "key: got 0 of type int, expected a PRNG key"),
        (lambda: STACK.init(0, 3), TypeError, "key: got 0 of type int"),
        (lambda: BI.init(jnp.zeros(3), 3), TypeError, "key: got an array of dtype float32"),
    ],
)
def test_cell_step_and_constructor(fn, err, match):
    _raises(fn, err, match)


@pytest.mark.parametrize(
    "fn, err, match",
    [
        (lambda: jrnn.stack([LSTM, "lstm"]), TypeError, r"cells\[1\]: got 'lstm' of type str"),
        (lambda: jrnn.stack(LSTM), TypeError, "cells: got LSTMCell, expected a list"),
        (
            lambda: jrnn.cells.StackedBidirectional((LSTM,)),
            TypeError,
            r"layers\[0\]: got LSTMCell, expected a BidirectionalCells",
        ),
        (lambda: jrnn.cells.StackedCell.from_config({}), ValueError, "config: got keys"),
        (lambda: jrnn.cells.BidirectionalCells.from_config({}), ValueError, "config: got keys"),
        (lambda: jrnn.cells.StackedBidirectional.from_config({}), ValueError, "config: got"),
        (lambda: jrnn.bidirectional("lstm", LSTM), TypeError, "forward: got 'lstm'"),
        (lambda: jrnn.cells.merge("max", XS, XS), ValueError, "merge_mode: got 'max'"),
        (
            lambda: jrnn.cells.merge("sum", XS, XS[..., :2]),
            ValueError,
            r"y_bw: got shape \(2, 5, 2\) with y_fw of shape \(2, 5, 3\)",
        ),
        (lambda: jrnn.cells.output_of_carry(3, XS), TypeError, "cell: got 3 of type int"),
    ],
)
def test_cell_containers(fn, err, match):
    _raises(fn, err, match)


def test_checked_paths_still_run():
    """The checks pass what is valid: a stack, a pair, a carry given, and the step."""
    _, ys = jrnn.unroll(STACK, SP, XS, carry=STACK.initial_carry(2))
    assert ys.shape == (2, 5, 4)
    _, ys = jrnn.unroll(BI, BP, XS[0])  # unbatched (T, I)
    assert ys.shape == (5, 8)
    carry, y = LSTM(P, LSTM.initial_carry(), XS[0, 0])
    assert y.shape == (4,) and carry[1].shape == (4,)
    assert jrnn.cells.merge("concat", XS, XS[..., :2]).shape == (2, 5, 5)


def test_pad_sequences_maxlen_zero():
    with pytest.raises(ValueError, match="maxlen: got 0, expected None or a positive integer"):
        jrnn.data.pad_sequences([[1, 2], [3]], maxlen=0)
    np.testing.assert_array_equal(jrnn.data.pad_sequences([[1, 2], [3]], maxlen=1), [[2], [3]])


L = jrnn.layers
DENSE = L.Dense(2)
DP = DENSE.init(KEY, jnp.zeros((2, 3)))
RNN = L.LSTM(4)
RP = RNN.init(KEY, XS)
CONV = L.Conv1D(2, 5)
CP = CONV.init(KEY, jnp.zeros((2, 6, 3)))


@pytest.mark.parametrize(
    "fn, err, match",
    [
        # JAX's dot_general / conv / reduce_window errors (or silent results) before
        (
            lambda: DENSE.apply(DP, jnp.zeros((2, 4))),
            ValueError,
            r"Dense: x: got shape \(2, 4\), expected \(\.\.\., 3\) to match its kernel \(3, 2\)",
        ),
        (lambda: DENSE.init(KEY, jnp.zeros(())), ValueError, r"Dense: x: got shape \(\)"),
        (
            lambda: L.Dense(2, name="head").apply(DP, jnp.zeros((4,))),
            ValueError,
            r"Dense 'head': x: got shape \(4,\)",
        ),
        (
            lambda: CONV.apply(CP, jnp.zeros((2, 3, 3))),
            ValueError,
            r"Conv1D: x: got 3 time steps, expected at least 5",
        ),
        (
            lambda: L.Conv1D(2, 3, dilation_rate=2).init(KEY, jnp.zeros((1, 4, 3))),
            ValueError,
            "got 4 time steps, expected at least 5",
        ),
        (lambda: CONV.apply(CP, jnp.zeros((2, 6, 4))), ValueError, r"expected \(batch, time, 3\)"),
        (lambda: CONV.init(KEY, jnp.zeros((2, 6))), ValueError, r"Conv1D: x: got shape \(2, 6\)"),
        (lambda: RNN.init(KEY, jnp.zeros((2, 3))), ValueError, r"LSTM: x: got shape \(2, 3\)"),
        (
            lambda: L.Bidirectional(RNN).init(KEY, jnp.zeros((2, 3))),
            ValueError,
            r"Bidirectional: x: got shape \(2, 3\), expected \(batch, time, features\)",
        ),
        (lambda: RNN.apply(RP, XS[:, 0]), ValueError, r"LSTM: x: got shape \(2, 3\)"),
        (lambda: RNN.apply(RP, XS[..., :2]), ValueError, "xs: got input size 2"),
        (
            lambda: RNN.apply(RP, XS, initial_state=[jnp.zeros((3, 4)), jnp.zeros((2, 4))]),
            ValueError,
            r"LSTM: initial_state\[0\]: got shape \(3, 4\), expected \(2, 4\)",
        ),
        (
            lambda: L.MaxPooling1D().apply({}, jnp.zeros((2, 4))),
            ValueError,
            r"MaxPooling1D: x: got shape \(2, 4\)",
        ),
        (
            lambda: L.GlobalAveragePooling1D().apply({}, jnp.zeros((2, 4))),
            ValueError,
            r"GlobalAveragePooling1D: x: got shape \(2, 4\)",
        ),
        (lambda: L.RepeatVector(2).apply({}, XS), ValueError, r"RepeatVector: x: got shape"),
        (
            lambda: L.Concatenate().apply({}, [XS, jnp.zeros((3, 5, 3))]),
            ValueError,
            r"Concatenate: x\[1\]: got shape \(3, 5, 3\), expected x\[0\]'s shape",
        ),
        (
            lambda: L.TimeDistributed(DENSE).apply(DP, jnp.zeros((2, 3))),
            ValueError,
            r"TimeDistributed: x: got shape \(2, 3\), expected \(batch, time, \.\.\.\)",
        ),
        (
            lambda: L.Embedding(5, 2).apply({"embeddings": jnp.zeros((5, 2))}, XS[..., 0]),
            TypeError,
            "got ids of dtype float32, expected integers",
        ),
        (
            lambda: jax.jit(lambda x: L.Embedding(5, 2).apply({"embeddings": x}, XS[..., 0]))(
                jnp.zeros((5, 2))
            ),
            TypeError,
            "Embedding: x: got dtype float32, expected integer token ids",
        ),
        (lambda: DENSE.init(0, XS), TypeError, "key: got 0 of type int, expected a PRNG key"),
        (lambda: RNN.init(1, XS), TypeError, "key: got 1 of type int"),
        (lambda: L.Embedding(3, 2).init(None, XS[..., 0].astype(int)), TypeError, "key: got None"),
    ],
)
def test_layer_inputs(fn, err, match):
    _raises(fn, err, match)


@pytest.mark.parametrize(
    "fn, err, match",
    [
        (lambda: L.Dropout(0.5, noise_shape=3), TypeError, "noise_shape: got 3"),
        (lambda: L.Masking("x"), TypeError, "mask_value: got 'x' of type str"),
        (lambda: L.Concatenate("last"), TypeError, "axis: got 'last' of type str"),
        (lambda: L.TimeDistributed.from_config({}), ValueError, "config: got keys"),
        (lambda: L.Bidirectional.from_config({"merge_mode": "sum"}), ValueError, "config: got"),
        (lambda: jrnn.Input((3,), dtype="float33"), TypeError, "dtype: got 'float33'"),
        (lambda: jrnn.Sequential(DENSE), TypeError, "layers: got Dense, expected a list"),
        (
            lambda: jrnn.Sequential.from_config({"layers": "dense"}),
            TypeError,
            r"config\['layers'\]: got str",
        ),
        (lambda: jrnn.Sequential([L.Dense(2)]).init(0, XS), TypeError, "key: got 0 of type int"),
        (lambda: jrnn.Sequential([L.Dense(2)]).reset_states(None), TypeError, "variables: got"),
    ],
)
def test_layer_and_model_arguments(fn, err, match):
    _raises(fn, err, match)


def test_model_apply_checks_feature_sizes_against_init():
    """Without an Input, apply checks rank, feature sizes and integer ids against init's
    example; batch size and time length may change."""
    seq = jrnn.Sequential([L.LSTM(4), L.Dense(2)])
    v = seq.init(KEY, XS)
    with pytest.raises(ValueError, match=r"x \(input_layer\): got shape \(2, 5, 4\), expected"):
        seq.apply(v, jnp.zeros((2, 5, 4)))
    assert seq.apply(v, jnp.zeros((3, 7, 3)))[0].shape == (3, 2)
    dense = jrnn.Sequential([L.Dense(2)])
    dv = dense.init(KEY, jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"got shape \(2, 4\), expected \(None, 3\)"):
        dense.apply(dv, jnp.zeros((2, 4)))
    ids = jrnn.Sequential([L.Embedding(10, 3), L.GRU(2)])
    iv = ids.init(KEY, jnp.zeros((2, 5), jnp.int32))
    with pytest.raises(TypeError, match=r"got dtype float32, expected integers \(int32"):
        ids.apply(iv, jnp.zeros((2, 5)))
    assert ids.apply(iv, jnp.ones((1, 9), jnp.int32))[0].shape == (1, 2)
    inp = jrnn.Input((None,), dtype="int32")
    fn = jrnn.Model(inp, L.GRU(2)(L.Embedding(10, 3)(inp)))
    with pytest.raises(TypeError, match="got dtype float32, expected integers"):
        fn.apply(fn.init(KEY), jnp.zeros((2, 5)))


def test_bool_and_int_inputs_are_cast_like_keras():
    """keras.io's addition example feeds one-hot bools to an LSTM: bool and int inputs
    run as their float values in recurrent, Dense, Conv1D and TimeDistributed layers."""
    x = jax.random.bernoulli(jax.random.key(1), 0.5, (2, 6, 3))
    xf = x.astype(jnp.float32)
    bi = L.Bidirectional(L.GRU(2, return_sequences=True))
    td = L.TimeDistributed(DENSE)
    cases = [
        (RNN, RP),
        (bi, bi.init(KEY, xf)),
        (CONV, CP),
        (td, DP),
        (DENSE, DP),
        (jrnn.Sequential([L.LSTM(3), L.Dense(2)]), None),
    ]
    for layer, p in cases:
        if p is None:  # a model: init on float examples, apply on bools
            p = layer.init(KEY, xf)
            got, want = layer.apply(p, x)[0], layer.apply(p, xf)[0]
        else:
            got, want = layer.apply(p, x), layer.apply(p, xf)
        assert got.dtype == jnp.float32
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(RNN.apply(RP, x.astype(jnp.int32)), RNN.apply(RP, xf))
    # the unroll engine and the cells stay strict (they raise TypeError naming xs)
    with pytest.raises(TypeError, match="xs: got dtype bool"):
        jrnn.unroll(LSTM, P, x)


def test_help_lists_arguments_and_user_api_first():
    import pydoc

    text = pydoc.render_doc(jrnn.layers.LSTM, renderer=pydoc.plaintext)
    for arg in ("units", "return_sequences", "(output, h, c)", "recurrent_dropout", "dtype"):
        assert arg in text, arg
    cell = pydoc.render_doc(jrnn.LSTMCell, renderer=pydoc.plaintext)
    assert cell.index("cell.initial_carry(32)") < cell.index("fused_split")


def test_user_cell_layer_step_input_size_is_a_clear_error():
    """RNN.step_input_size asks the protocol, not a method user cells lack (it raised
    AttributeError)."""
    from cells_registry import IndRNNCell

    layer = L.RNN(IndRNNCell(3))
    with pytest.raises(ValueError, match="its cell does not say its input size"):
        layer.step_input_size(layer.init(KEY, XS))
    assert RNN.step_input_size(RP) == 3
