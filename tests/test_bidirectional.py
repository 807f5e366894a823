"""Bidirectional and stacked-bidirectional RNNs over padded batches."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jrnn

B, T, I, H = 3, 6, 4, 5
LENGTHS = np.array([6, 4, 1])


def _data(seed=0):
    return jax.random.normal(jax.random.key(seed), (B, T, I))


@pytest.mark.parametrize("cell", [jrnn.LSTMCell(H), jrnn.GRUCell(H)], ids=["lstm", "gru"])
def test_padded_batch_equals_each_sequence_alone(cell):
    """With lengths, each row equals that sequence run unpadded: the backward direction
    starts at the sequence's own last step, not at the padding."""
    bi = jrnn.bidirectional(cell, cell)
    params = bi.init(jax.random.key(1), I)
    xs = _data()
    (c_fw, c_bw), ys = jrnn.unroll(bi, params, xs, lengths=LENGTHS)
    for b, n in enumerate(LENGTHS):
        (f1, b1), y1 = jrnn.unroll(bi, params, xs[b : b + 1, :n])
        np.testing.assert_allclose(ys[b, :n], y1[0], rtol=1e-5, atol=1e-6)
        assert np.all(np.asarray(ys[b, n:]) == 0)
        for got, want in zip(jax.tree.leaves((c_fw, c_bw)), jax.tree.leaves((f1, b1))):
            np.testing.assert_allclose(got[b], want[0], rtol=1e-5, atol=1e-6)


def test_backward_direction_is_reverse_of_flipped_sequence():
    fw, bw = jrnn.SimpleRNNCell(H), jrnn.SimpleRNNCell(H)
    bi = jrnn.bidirectional(fw, bw, merge_mode=None)
    params = bi.init(jax.random.key(2), I)
    xs = _data(3)
    _, (y_fw, y_bw) = jrnn.unroll(bi, params, xs)
    _, y_flip = jrnn.unroll(bw, params["backward"], xs[:, ::-1])
    np.testing.assert_allclose(y_bw, y_flip[:, ::-1], rtol=1e-5, atol=1e-6)
    _, y_plain = jrnn.unroll(fw, params["forward"], xs)
    np.testing.assert_allclose(y_fw, y_plain, rtol=1e-6)


@pytest.mark.parametrize("mode", ["concat", "sum", "mul", "ave", None])
def test_merge_modes(mode):
    bi = jrnn.bidirectional(jrnn.GRUCell(H), jrnn.GRUCell(H), merge_mode=mode)
    params = bi.init(jax.random.key(4), I)
    _, ys = jrnn.unroll(bi, params, _data(), lengths=LENGTHS)
    pair = jrnn.bidirectional(bi.forward, bi.backward, None)
    _, (a, b) = jrnn.unroll(pair, params, _data(), lengths=LENGTHS)
    want = {
        "concat": lambda: jnp.concatenate([a, b], -1),
        "sum": lambda: a + b,
        "mul": lambda: a * b,
        "ave": lambda: (a + b) / 2,
        None: lambda: (a, b),
    }[mode]()
    for got, w in zip(jax.tree.leaves(ys), jax.tree.leaves(want)):
        np.testing.assert_allclose(got, w, rtol=1e-6)
    assert bi.output_size == (2 * H if mode == "concat" else H)


def test_per_direction_initial_carries():
    cell = jrnn.LSTMCell(H)
    bi = jrnn.bidirectional(cell, cell)
    params = bi.init(jax.random.key(5), I)
    xs = _data(6)
    k = jax.random.split(jax.random.key(7), 4)
    c0 = (
        (jax.random.normal(k[0], (B, H)), jax.random.normal(k[1], (B, H))),
        (jax.random.normal(k[2], (B, H)), jax.random.normal(k[3], (B, H))),
    )
    (c_fw, c_bw), ys = jrnn.unroll(bi, params, xs, carry=c0, lengths=LENGTHS)
    want_fw, y_fw = jrnn.unroll(cell, params["forward"], xs, carry=c0[0], lengths=LENGTHS)
    want_bw, y_bw = jrnn.unroll(
        cell, params["backward"], xs, carry=c0[1], lengths=LENGTHS, reverse=True
    )
    np.testing.assert_allclose(ys, jnp.concatenate([y_fw, y_bw], -1), rtol=1e-6)
    for g, w in zip(jax.tree.leaves((c_fw, c_bw)), jax.tree.leaves((want_fw, want_bw))):
        np.testing.assert_allclose(g, w, rtol=1e-6)


def test_stack_bidirectional_feeds_merged_outputs_forward():
    cells = [jrnn.LSTMCell(H), jrnn.GRUCell(3)]
    stacked = jrnn.stack_bidirectional(cells, cells)
    params = stacked.init(jax.random.key(8), I)
    assert params[1]["forward"]["kernel"].shape == (2 * H, 9)  # layer 2 sees 2H features
    xs = _data(9)
    carries, ys = jrnn.unroll(stacked, params, xs, lengths=LENGTHS)
    c1, y1 = jrnn.unroll(stacked.layers[0], params[0], xs, lengths=LENGTHS)
    c2, y2 = jrnn.unroll(stacked.layers[1], params[1], y1, lengths=LENGTHS)
    np.testing.assert_allclose(ys, y2, rtol=1e-6)
    assert ys.shape == (B, T, 6) and stacked.output_size == 6
    for g, w in zip(jax.tree.leaves(carries), jax.tree.leaves((c1, c2))):
        np.testing.assert_allclose(g, w, rtol=1e-6)


def test_bidirectional_gradients_match_autodiff_reference():
    """Through the fused backward of both directions, with padding."""
    from jrnn.recurrence import scan_unroll

    cell = jrnn.LSTMCell(H)
    bi = jrnn.bidirectional(cell, cell)
    params = bi.init(jax.random.key(10), I)
    xs = _data(11)
    mask_tm = jnp.asarray(np.arange(T)[:, None] < LENGTHS[None])

    def ref(p):
        xt = jnp.swapaxes(xs, 0, 1)
        _, a = scan_unroll(cell, p["forward"], xt, cell.initial_carry(B), mask_tm)
        _, b = scan_unroll(cell, p["backward"], xt, cell.initial_carry(B), mask_tm, reverse=True)
        return jnp.sum(jnp.tanh(jnp.concatenate([a, b], -1)))

    def fast(p):
        _, ys = jrnn.unroll(bi, p, xs, lengths=LENGTHS)
        return jnp.sum(jnp.swapaxes(jnp.tanh(ys), 0, 1))

    g1, g2 = jax.grad(fast)(params), jax.grad(ref)(params)
    for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g2)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_names_one_per_concept():
    """The functions at the top level, the classes in jrnn.cells, one `Bidirectional`
    (the layer)."""
    for name in ("stack", "bidirectional", "stack_bidirectional"):
        assert getattr(jrnn, name) is getattr(jrnn.cells, name)
    for name in ("Bidirectional", "StackedCell", "StackedBidirectional", "BidirectionalCells"):
        assert not hasattr(jrnn, name)
    bi = jrnn.bidirectional(jrnn.GRUCell(H), jrnn.GRUCell(H))
    assert isinstance(bi, jrnn.cells.BidirectionalCells)
    assert isinstance(
        jrnn.stack_bidirectional([bi.forward], [bi.backward]), jrnn.cells.StackedBidirectional
    )
    assert not jrnn.cells.is_cell(bi)  # a pair is run over sequences, it has no step


def test_reverse_swaps_the_directions():
    fw, bw = jrnn.GRUCell(H), jrnn.SimpleRNNCell(H)
    params = jrnn.bidirectional(fw, bw).init(jax.random.key(4), I)
    xs = _data(5)
    (c_fw, c_bw), ys = jrnn.unroll(
        jrnn.bidirectional(fw, bw, None), params, xs, reverse=True, lengths=LENGTHS
    )
    _, y_fw = jrnn.unroll(fw, params["forward"], xs, reverse=True, lengths=LENGTHS)
    _, y_bw = jrnn.unroll(bw, params["backward"], xs, lengths=LENGTHS)
    np.testing.assert_allclose(ys[0], y_fw, rtol=1e-6)
    np.testing.assert_allclose(ys[1], y_bw, rtol=1e-6)


def test_layer_and_cells_share_one_core():
    """jrnn.layers.Bidirectional(return_sequences) equals the pair of its cells."""
    layer = jrnn.layers.Bidirectional(jrnn.layers.LSTM(H, return_sequences=True), "ave")
    xs = _data(6)
    params = layer.init(jax.random.key(7), xs)
    mask = jnp.asarray(np.arange(T)[None] < LENGTHS[:, None])
    got = layer.apply(params, xs, mask=mask)
    bi = jrnn.bidirectional(layer.forward.cell, layer.backward.cell, "ave")
    _, want = jrnn.unroll(bi, params, xs, mask=mask)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
