"""Bad input gets a clear error that names the argument, what it got and what was expected."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jrnn

CELL = jrnn.LSTMCell(4)
PARAMS = CELL.init(jax.random.key(0), 3)
XS = jnp.zeros((2, 5, 3))


@pytest.mark.parametrize(
    "xs, match",
    [
        (jnp.zeros((5,)), r"xs: got shape \(5,\), expected \(B, T, I\)"),
        (jnp.zeros((2, 5, 3, 1)), r"xs: got shape \(2, 5, 3, 1\)"),
        (jnp.zeros((2, 5, 7)), r"xs: got input size 7 .*expected 3"),
    ],
)
def test_xs_rank_and_size(xs, match):
    with pytest.raises(ValueError, match=match):
        jrnn.unroll(CELL, PARAMS, xs)


def test_xs_integer_dtype():
    with pytest.raises(TypeError, match="xs: got dtype int32"):
        jrnn.unroll(CELL, PARAMS, jnp.zeros((2, 5, 3), jnp.int32))


@pytest.mark.parametrize(
    "lengths, err, match",
    [
        (
            np.array([5, 6]),
            ValueError,
            r"lengths: got \[6\] out of range, expected 0 <= length <= 5",
        ),
        (np.array([-1, 2]), ValueError, r"lengths: got \[-1\] out of range"),
        (np.array([2.0, 3.0]), TypeError, "lengths: got dtype float"),
        (np.array([2, 3, 4]), ValueError, r"lengths: got shape \(3,\), expected \(2,\)"),
    ],
)
def test_bad_lengths(lengths, err, match):
    with pytest.raises(err, match=match):
        jrnn.unroll(CELL, PARAMS, XS, lengths=lengths)


def test_bad_mask():
    with pytest.raises(ValueError, match=r"mask: got shape \(5, 2\), expected \(2, 5\)"):
        jrnn.unroll(CELL, PARAMS, XS, mask=np.ones((5, 2), bool))
    with pytest.raises(TypeError, match="mask: got dtype float32, expected bool"):
        jrnn.unroll(CELL, PARAMS, XS, mask=np.ones((2, 5), np.float32))
    with pytest.raises(ValueError, match="lengths, mask: got both"):
        jrnn.unroll(CELL, PARAMS, XS, mask=np.ones((2, 5), bool), lengths=np.array([1, 2]))


def test_bad_carry():
    h = jnp.zeros((2, 4))
    with pytest.raises(TypeError, match="carry: got structure"):
        jrnn.unroll(CELL, PARAMS, XS, carry=h)  # LSTM needs (h, c)
    with pytest.raises(ValueError, match=r"carry: got shape \(3, 4\), expected \(2, 4\)"):
        jrnn.unroll(CELL, PARAMS, XS, carry=(jnp.zeros((3, 4)), jnp.zeros((3, 4))))
    with pytest.raises(TypeError, match="carry: got dtype int32"):
        jrnn.unroll(CELL, PARAMS, XS, carry=(h.astype(jnp.int32), h))


def test_bad_unroll_and_step_input():
    with pytest.raises(ValueError, match="unroll: got 0, expected None or a positive integer"):
        jrnn.unroll(CELL, PARAMS, XS, unroll=0)
    with pytest.raises(TypeError, match="unroll: got 1.5 of type float"):
        jrnn.unroll(CELL, PARAMS, XS, unroll=1.5)
    with pytest.raises(ValueError, match="unroll: got 0, expected None or a positive integer"):
        jrnn.layers.LSTM(4, unroll=0)
    with pytest.raises(ValueError, match="merge_mode: got 'sum' with output sizes 4 and 5"):
        jrnn.layers.Bidirectional(
            jrnn.layers.LSTM(4), "sum", backward_layer=jrnn.layers.LSTM(5, go_backwards=True)
        )
    with pytest.raises(ValueError, match=r"x_t: got shape \(2, 7\)"):
        CELL(PARAMS, CELL.initial_carry(2), jnp.zeros((2, 7)))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: jrnn.LSTMCell(0), "units: got 0, expected a positive integer"),
        (lambda: jrnn.GRUCell(3, activation="nope"), "activation: got 'nope'"),
        (lambda: jrnn.LSTMCell(3, cell_clip=-1.0), "cell_clip: got -1.0"),
        (lambda: jrnn.stack([]), "cells: got an empty sequence"),
        (lambda: jrnn.bidirectional(CELL, CELL, merge_mode="max"), "merge_mode: got 'max'"),
        (
            lambda: jrnn.bidirectional(CELL, jrnn.LSTMCell(5), merge_mode="sum"),
            "merge_mode: got 'sum' with output sizes 4 and 5",
        ),
        (lambda: jrnn.stack_bidirectional([CELL], []), "backward_cells: got 0 cells"),
        (
            lambda: jrnn.stack_bidirectional([CELL, CELL], [CELL, CELL], merge_mode=None),
            "merge_mode: got None for layer 0",
        ),
    ],
)
def test_bad_hyperparameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_unknown_initializer():
    with pytest.raises(ValueError, match="initializer: got 'glorot'"):
        jrnn.LSTMCell(3, kernel_initializer="glorot").init(jax.random.key(0), 2)


def test_lengths_under_jit_are_not_checked_but_behave_as_a_mask():
    """Traced lengths cannot be read on the host; in-range values behave as documented."""
    f = jax.jit(lambda n: jrnn.unroll(CELL, PARAMS, jnp.ones((2, 5, 3)), lengths=n)[1])
    ys = f(jnp.array([5, 2]))
    assert np.all(np.asarray(ys)[1, 2:] == 0) and np.all(np.asarray(ys)[1, :2] != 0)


def test_bad_input_size_and_dtype():
    with pytest.raises(ValueError, match="input_size: got 0, expected a positive integer"):
        jrnn.GRUCell(3).init(jax.random.key(0), 0)
    with pytest.raises(ValueError, match="dtype: got 'bf16', expected a floating-point dtype"):
        jrnn.LSTMCell(3, dtype="bf16")


def test_dtype_given_as_object_round_trips():
    cell = jrnn.LSTMCell(3, dtype=jnp.bfloat16)
    assert cell.dtype == "bfloat16"
    assert jrnn.LSTMCell.from_config(cell.get_config()) == cell
    assert cell.initial_carry(np.int64(2))[0].shape == (2, 3)


def test_zero_length_sequence_axis():
    xs = jnp.zeros((2, 0, 3))
    carry, ys = jrnn.unroll(CELL, PARAMS, xs)
    assert ys.shape == (2, 0, 4)
    g = jax.grad(lambda p: jnp.sum(jrnn.unroll(CELL, p, xs, carry=carry)[0][0]))(PARAMS)
    assert all(np.all(np.asarray(v) == 0) for v in jax.tree.leaves(g))
