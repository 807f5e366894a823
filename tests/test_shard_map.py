"""`unroll` inside `jax.shard_map` with its default `check_vma=True` (data parallel over
4 fake CPU devices, see conftest): the forward pass, `grad` inside the shard_map and
`grad` of the shard_map'd function equal the unsharded results, on every engine path."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jax.sharding import AxisType
from jax.sharding import PartitionSpec as P

import jrnn
from jrnn import _linear_unroll

B, T, I, H = 8, 7, 4, 4
LENGTHS = np.array([7, 3, 0, 5, 7, 1, 2, 6])

CASES = {
    "lstm": (jrnn.LSTMCell(H), {}),
    "lstm_remat": (jrnn.LSTMCell(H), {"remat": True}),
    "lstm_plain": (jrnn.LSTMCell(H), {"fast": False}),
    "stack": (jrnn.stack([jrnn.LSTMCell(H), jrnn.GRUCell(H)]), {}),  # also the GRU's path
    "bidirectional": (jrnn.bidirectional(jrnn.GRUCell(H), jrnn.LSTMCell(H)), {"reverse": True}),
    "mingru": (jrnn.cells.MinGRUCell(H), {}),
    "lru_blocked": (jrnn.cells.LRUCell(H), {}),
}


@pytest.fixture(scope="module")
def mesh():
    if len(jax.devices()) < 4:
        pytest.skip("needs 4 devices (conftest sets jax_num_cpu_devices)")
    return jax.make_mesh((4,), ("data",), axis_types=(AxisType.Auto,))


def _loss(out):
    carry, ys = out
    return jnp.sum(ys**2) + sum(jnp.sum(jnp.real(jnp.sin(c))) for c in jax.tree.leaves(carry))


def _close(got, want):
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def results(mesh):
    """For every case: (sharded, unsharded) forward, grad inside shard_map, and grad
    of the shard_map'd function. One compiled program for all cases (XLA's fixed cost
    per 4-device program is most of the time)."""
    xs = jax.random.normal(jax.random.key(1), (B, T, I))
    lengths = jnp.asarray(LENGTHS)
    params = {name: cell.init(jax.random.key(0), I) for name, (cell, _) in CASES.items()}
    specs = dict(mesh=mesh, in_specs=(P(), P("data"), P("data")))

    def case(name, p, x, n):
        cell, kw = CASES[name]

        def run(p, x, n):
            return jrnn.unroll(cell, p, x, lengths=n, **kw)

        sharded = jax.shard_map(run, out_specs=P("data"), **specs)

        def grad_inside(p, x, n):  # as a user writes a data-parallel step
            return jax.grad(lambda p: lax.psum(_loss(run(p, x, n)), "data"))(p)

        got = (
            sharded(p, x, n),
            jax.shard_map(grad_inside, out_specs=P(), **specs)(p, x, n),
            jax.grad(lambda p, x: _loss(sharded(p, x, n)), argnums=(0, 1))(p, x),
        )
        grads = jax.grad(lambda p, x: _loss(run(p, x, n)), argnums=(0, 1))(p, x)
        return got, (run(p, x, n), grads[0], grads)

    @jax.jit
    def all_cases(params, x, n):
        return {name: case(name, params[name], x, n) for name in CASES}

    with pytest.MonkeyPatch.context() as mp:  # lru_blocked: time blocks of 3 steps
        mp.setattr(_linear_unroll, "BLOCK_ROWS", 3)
        mp.setattr(_linear_unroll, "MIN_BLOCK_STEPS", 3)
        return all_cases(params, xs, lengths)


@pytest.mark.parametrize("name", list(CASES))
def test_unroll_in_shard_map(name, results):
    got, want = results[name]
    for what, g, w in zip(("forward", "grad inside", "grad of shard_map"), got, want):
        try:
            _close(g, w)
        except AssertionError as e:
            raise AssertionError(f"{name}: {what}") from e


def test_given_carry_and_linear_scan_in_shard_map(mesh):
    """A replicated initial carry, and `linear_scan` with a decay shared over the batch."""
    cell = jrnn.GRUCell(H)
    params = cell.init(jax.random.key(0), I)
    xs = jax.random.normal(jax.random.key(1), (B, T, I))
    h0 = jax.random.normal(jax.random.key(2), (2, H))  # the carry of each device's batch
    a = jax.nn.sigmoid(jax.random.normal(jax.random.key(3), (1, 1, H)))

    def f(p, x, h0, a):
        _, ys = jrnn.unroll(cell, p, x, carry=h0)
        h_last, hs = jrnn.linear_scan(a, ys)
        return jnp.sum(hs**2) + jnp.sum(h_last)

    def inside(p, x, h0, a):
        return jax.grad(lambda p: lax.psum(f(p, x, h0, a), "data"))(p), f(p, x, h0, a)[None]

    @jax.jit
    def both(p, x, h0, a):
        in_specs = (P(), P("data"), P(), P())
        got = jax.shard_map(inside, mesh=mesh, in_specs=in_specs, out_specs=(P(), P("data")))
        per_device = [jax.value_and_grad(f)(p, x[k : k + 2], h0, a) for k in range(0, B, 2)]
        losses = jnp.stack([v for v, _ in per_device])
        return got(p, x, h0, a), (
            jax.tree.map(lambda *g: sum(g), *[g for _, g in per_device]),
            losses,
        )

    got, want = both(params, xs, h0, a)
    _close(got, want)


def test_no_cast_outside_shard_map():
    """Outside shard_map the engine adds nothing (no pcast/pvary in the program)."""
    xs = jnp.ones((2, 3, I))
    for cell in (jrnn.LSTMCell(H), jrnn.cells.MinGRUCell(H)):
        params = cell.init(jax.random.key(0), I)
        loss = lambda p, cell: jnp.sum(jrnn.unroll(cell, p, xs)[1])
        text = str(jax.make_jaxpr(jax.grad(loss), static_argnums=1)(params, cell))
        assert "pvary" not in text and "pcast" not in text
