"""The contract suite: every cell in the registry through the same checks.

Shapes, jit == eager, unroll == a Python loop over the step, vmap over a batch and over
parameters, lengths, masks on either side, reverse, unroll=k, time-major, bf16, config
round trip; tests/test_contract_gradients.py: fast path == plain autodiff (values and
gradients) in every padding, direction and remat mode. (Two files, so that `make test`'s
two workers, which take whole files, share the suite.)
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cells_registry import CELLS

import jrnn

B, T, I = 3, 7, 4
LENGTHS = np.array([7, 3, 0], np.int32)
ids = list(CELLS)


def osize(cell):
    """Output width; user cells need only `units`."""
    return getattr(cell, "output_size", cell.units)


def leaves(tree):
    """float64 copies; a complex leaf (the LRU's state) as its real and imaginary parts."""
    out = []
    for x in jax.tree.leaves(tree):
        x = np.asarray(x)
        out.append(np.stack([x.real, x.imag]) if np.iscomplexobj(x) else x.astype(np.float64))
    return out


def assert_trees_close(a, b, rtol=1e-5, atol=1e-6):
    la, lb = leaves(a), leaves(b)
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(la, lb):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


def setup(name, seed=0, batch=B):
    cell = CELLS[name]
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    params = cell.init(k1, I)
    xs = jax.random.normal(k2, (batch, T, I))
    carry = jax.tree.map(
        lambda z: 0.5 * jax.random.normal(k3, z.shape, z.dtype), cell.initial_carry(batch)
    )
    return cell, params, xs, carry


def loop_reference(cell, params, xs, carry, valid, reverse=False):
    """Each sequence alone, stepping the unbatched cell over its valid steps only."""
    step = jax.jit(lambda p, c, x: cell(p, c, x))
    ys, finals = np.zeros(xs.shape[:2] + (osize(cell),)), []
    for b in range(xs.shape[0]):
        c = jax.tree.map(lambda a, b=b: a[b], carry)
        order = [t for t in range(xs.shape[1]) if valid[b, t]]
        for t in reversed(order) if reverse else order:
            c, y = step(params, c, xs[b, t])
            ys[b, t] = np.asarray(y)
        finals.append(c)
    return jax.tree.map(lambda *a: jnp.stack(a), *finals), ys


@pytest.mark.parametrize("name", ids)
def test_shapes_and_step(name):
    cell, params, xs, carry = setup(name)
    new, y = cell(params, carry, xs[:, 0])
    assert y.shape == (B, osize(cell))
    assert jax.tree.map(jnp.shape, new) == jax.tree.map(jnp.shape, carry)
    carry2, ys = jrnn.unroll(cell, params, xs)
    assert ys.shape == (B, T, osize(cell))
    assert jax.tree.map(jnp.shape, carry2) == jax.tree.map(jnp.shape, carry)


@pytest.mark.parametrize("name", ids)
@pytest.mark.parametrize(
    "padding,reverse",
    [("none", False), ("right", False), ("right", True), ("left", True), ("left", False)],
)
def test_unroll_equals_python_loop(name, padding, reverse):
    cell, params, xs, carry = setup(name)
    t = np.arange(T)[None]
    valid = {
        "none": np.ones((B, T), bool),
        "right": t < LENGTHS[:, None],
        "left": t >= (T - LENGTHS)[:, None],
    }[padding]
    kw = {"lengths": LENGTHS} if padding == "right" else {"mask": valid}
    got_carry, got_ys = jrnn.unroll(cell, params, xs, carry=carry, reverse=reverse, **kw)
    want_carry, want_ys = loop_reference(cell, params, xs, carry, valid, reverse)
    assert_trees_close(got_carry, want_carry)
    np.testing.assert_allclose(got_ys, want_ys, rtol=1e-5, atol=1e-6)
    # masked steps output exactly zero; a zero-length sequence keeps its initial carry
    assert np.all(np.asarray(got_ys)[~valid] == 0)
    if padding != "none":
        assert_trees_close(
            jax.tree.map(lambda a: a[2], got_carry),
            jax.tree.map(lambda a: a[2], carry),
            rtol=0,
            atol=0,
        )


@pytest.mark.parametrize("name", ids)
def test_jit_equals_eager(name):
    cell, params, xs, carry = setup(name)
    eager = jrnn.unroll(cell, params, xs, carry=carry, lengths=LENGTHS)
    jitted = jax.jit(lambda p, x, c, n: jrnn.unroll(cell, p, x, carry=c, lengths=n))(
        params, xs, carry, LENGTHS
    )
    assert_trees_close(eager, jitted)


@pytest.mark.parametrize("name", ids)
def test_time_major_and_unroll_k(name):
    cell, params, xs, carry = setup(name)
    c1, y1 = jrnn.unroll(cell, params, xs, carry=carry, lengths=LENGTHS)
    c2, y2 = jrnn.unroll(
        cell,
        params,
        jnp.swapaxes(xs, 0, 1),
        carry=carry,
        lengths=LENGTHS,
        time_major=True,
        unroll=4,
    )
    assert_trees_close(c1, c2)
    np.testing.assert_allclose(y1, jnp.swapaxes(y2, 0, 1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ids)
def test_vmap_over_batch(name):
    """Unbatched unroll (T, I) vmapped over B == batched unroll."""
    cell, params, xs, carry = setup(name)
    one = lambda p, x, c, n: jrnn.unroll(cell, p, x, carry=c, lengths=n)
    batched = lambda p: jrnn.unroll(cell, p, xs, carry=carry, lengths=LENGTHS)
    mapped = lambda p: jax.vmap(one, (None, 0, 0, 0))(p, xs, carry, LENGTHS)
    # compiled: vmap is the subject here (test_jit_equals_eager covers eager calls)
    assert_trees_close(jax.jit(mapped)(params), jax.jit(batched)(params))
    # ... and its gradient, which goes through the fused backward under vmap.
    grad = lambda f: jax.jit(jax.grad(lambda p: jnp.sum(f(p)[1] ** 2)))(params)
    assert_trees_close(grad(mapped), grad(batched), atol=1e-5)


@pytest.mark.parametrize("name", ids)
def test_vmap_over_params_ensemble(name):
    cell, _, xs, _ = setup(name)
    keys = jax.random.split(jax.random.key(3), 3)
    ens = jax.vmap(lambda k: cell.init(k, I))(keys)
    run = lambda p: jrnn.unroll(cell, p, xs, lengths=LENGTHS)
    got = jax.jit(jax.vmap(run))(ens)
    for m in range(3):
        p = jax.tree.map(lambda a, m=m: a[m], ens)
        want = jax.jit(run)(p)
        assert_trees_close(jax.tree.map(lambda a, m=m: a[m], got), want)


@pytest.mark.parametrize("name", ids)
def test_stateful_chunks_equal_whole(name):
    cell, params, xs, carry = setup(name)
    whole_c, whole_y = jrnn.unroll(cell, params, xs, carry=carry)
    c, ys = carry, []
    for lo, hi in [(0, 2), (2, 5), (5, T)]:
        c, y = jrnn.unroll(cell, params, xs[:, lo:hi], carry=c)
        ys.append(y)
    assert_trees_close(c, whole_c)
    np.testing.assert_allclose(jnp.concatenate(ys, 1), whole_y, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["lstm", "gru", "stack_lstm_gru", "mingru", "rglru"])
def test_encoder_decoder_carry_handoff(name):
    """An encoder's final carry starts a decoder: equal to one loop over both."""
    cell, params, xs, _ = setup(name)
    dec_params = cell.init(jax.random.key(9), I)
    enc_c, _ = jrnn.unroll(cell, params, xs, lengths=LENGTHS)
    dec_x = jax.random.normal(jax.random.key(5), (B, 4, I))
    c, ys = jrnn.unroll(cell, dec_params, dec_x, carry=enc_c)
    # reference: step by step through encoder (valid steps) then decoder
    want_c, _ = loop_reference(
        cell, params, xs, cell.initial_carry(B), np.arange(T)[None] < LENGTHS[:, None]
    )
    want_c, want_y = loop_reference(cell, dec_params, dec_x, want_c, np.ones((B, 4), bool))
    assert_trees_close(c, want_c)
    np.testing.assert_allclose(ys, want_y, rtol=1e-5, atol=1e-6)
    # and gradients flow from the decoder's loss into the encoder's params
    g = jax.grad(
        lambda p: jnp.sum(
            jrnn.unroll(
                cell, dec_params, dec_x, carry=jrnn.unroll(cell, p, xs, lengths=LENGTHS)[0]
            )[1]
        )
    )(params)
    assert all(np.any(np.asarray(x) != 0) for x in jax.tree.leaves(g))


@pytest.mark.parametrize("name", [n for n in ids if n != "user_indrnn"])
def test_bf16_compute(name):
    """dtype=bfloat16: params stay float32, carry float32 (complex64 for the LRU),
    outputs bf16, close to f32."""
    cell, params, xs, carry = setup(name)
    bf = _with_dtype(cell, "bfloat16")
    run = jax.jit(lambda c, p, h: jrnn.unroll(c, p, xs, carry=h, lengths=LENGTHS), static_argnums=0)
    c16, y16 = run(bf, params, carry)
    c32, y32 = run(cell, params, carry)
    assert y16.dtype == jnp.bfloat16
    assert all(leaf.dtype in (jnp.float32, jnp.complex64) for leaf in jax.tree.leaves(c16))
    np.testing.assert_allclose(np.asarray(y16, np.float32), y32, atol=0.06)
    g = jax.jit(
        jax.grad(
            lambda p: jnp.sum(jrnn.unroll(bf, p, xs, lengths=LENGTHS)[1].astype(jnp.float32) ** 2)
        )
    )(params)
    assert all(
        leaf.dtype == jnp.float32 and np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(g)
    )


def _with_dtype(cell, dtype):
    if isinstance(cell, jrnn.cells.StackedCell):
        return jrnn.stack([_with_dtype(c, dtype) for c in cell.cells])
    return type(cell).from_config({**cell.get_config(), "dtype": dtype})


@pytest.mark.parametrize("name", [n for n in ids if n != "user_indrnn"])
def test_config_round_trip(name):
    cell = CELLS[name]
    again = type(cell).from_config(cell.get_config())
    assert again == cell and hash(again) == hash(cell)


@pytest.mark.parametrize("name", ids)
def test_cell_protocol(name):
    """Every cell follows `RecurrentCell`; the engine's questions are answered by the
    cells package (fast path: built-in cells but GRU reset_before; input size: the
    kernel rows, unknown for a user cell; linear recurrences by linear_scan)."""
    cell, params, xs, _ = setup(name)
    assert isinstance(cell, jrnn.cells.RecurrentCell) and jrnn.cells.is_cell(cell)
    builtin = isinstance(cell, (jrnn.cells.Cell, jrnn.cells.StackedCell))
    fusable = isinstance(cell, jrnn.cells.FusedCell) and not (
        isinstance(cell, jrnn.GRUCell) and not cell.reset_after
    )
    assert jrnn.cells.is_fusable(cell) == fusable
    assert jrnn.cells.is_linear(cell) == isinstance(cell, jrnn.cells.LinearCell)
    assert jrnn.cells.expected_input_size(cell, params) == (I if builtin else None)
    y0 = jrnn.cells.output_of_carry(cell, cell.initial_carry(B))
    assert y0.shape == (B, osize(cell))


def test_fused_cell_contract_is_abstract():
    """A FusedCell subclass must implement the fused-cell methods; a plain object with
    only some of the three cell methods is not a cell."""

    class Half(jrnn.cells.FusedCell):
        num_gates = 1

        def init(self, key, input_size):
            return {}

    with pytest.raises(TypeError, match="abstract"):
        Half()
    assert not jrnn.cells.is_cell(object())
    assert not jrnn.cells.is_cell(jrnn.bidirectional(jrnn.LSTMCell(2), jrnn.LSTMCell(2)))
