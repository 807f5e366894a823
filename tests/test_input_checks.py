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
        (lambda: default_unroll("abacus"), ValueError, "backend: got 'abacus'"),
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
