"""Forward-mode autodiff through the engine's fast paths: `jax.jvp`, `jax.jacfwd`,
`jax.linearize`, Hessians and Hessian-vector products equal those of the plain
`lax.scan` path (`fast=False`), and `grad` still runs the hand-written backward."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jrnn
from jrnn import _fused, _linear_scan, _linear_unroll

B, T, I, H = 2, 5, 3, 3
LENGTHS = np.array([5, 2])

CASES = {
    "lstm": (jrnn.LSTMCell(H), {}),
    "gru_remat_reverse": (jrnn.GRUCell(H), {"remat": True, "reverse": True}),
    "mingru": (jrnn.cells.MinGRUCell(H), {}),
    "lru_blocked": (jrnn.cells.LRUCell(H), {}),
    "stack": (jrnn.stack([jrnn.GRUCell(H), jrnn.cells.MinGRUCell(H)]), {}),
}


def _blocks_of_two_steps(mp):
    mp.setattr(_linear_unroll, "BLOCK_ROWS", 2)
    mp.setattr(_linear_unroll, "MIN_BLOCK_STEPS", 2)


def _loss(out):
    carry, ys = out
    return jnp.sum(jnp.real(ys) ** 2) + sum(jnp.sum(jnp.real(c)) for c in jax.tree.leaves(carry))


def _close(got, want, tol=1e-5):
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", list(CASES))
def test_jvp_and_jacfwd_equal_plain_path(name, monkeypatch):
    cell, kw = CASES[name]
    if name == "lru_blocked":
        _blocks_of_two_steps(monkeypatch)
    params = cell.init(jax.random.key(0), I)
    xs = jax.random.normal(jax.random.key(1), (B, T, I))
    carry = jax.tree.map(lambda c: c + 0.5, cell.initial_carry(B))
    tangents = jax.tree.map(
        lambda a: jnp.cos(jnp.arange(a.size).reshape(a.shape)).astype(a.dtype), (params, xs, carry)
    )

    @jax.jit
    def results(params, xs, carry, tangents):
        def out(fast):
            run = lambda p, x, c: jrnn.unroll(cell, p, x, carry=c, lengths=LENGTHS, fast=fast, **kw)
            return (
                jax.jvp(run, (params, xs, carry), tangents),
                jax.jacfwd(lambda x: run(params, x, carry)[1])(xs),
            )

        return out(True), out(False)

    got, want = results(params, xs, carry, tangents)
    _close(got, want)


def test_linearize_hvp_hessian_grad_of_grad():
    """jax.linearize, jax.hessian (jacfwd of jacrev) as on the plain path; a
    Hessian-vector product (forward over reverse) and grad of grad (reverse over
    reverse) agree with that Hessian: H v, and 2 H g for the gradient of |g|^2."""
    cell = jrnn.LSTMCell(H)
    params = cell.init(jax.random.key(0), I)
    xs = jax.random.normal(jax.random.key(1), (B, T, I))
    tangent = jnp.cos(jnp.arange(xs.size)).reshape(xs.shape)

    def loss(b, x, fast):
        return _loss(jrnn.unroll(cell, dict(params, bias=b), x, lengths=LENGTHS, fast=fast))

    @jax.jit
    def results(bias, xs):
        fast = lambda b, x: loss(b, x, True)
        plain = lambda b, x: loss(b, x, False)
        grad = jax.grad(fast)
        return (
            (jax.linearize(lambda x: fast(bias, x), xs)[1](tangent), jax.hessian(fast)(bias, xs)),
            (jax.jvp(lambda x: plain(bias, x), (xs,), (tangent,))[1], jax.hessian(plain)(bias, xs)),
            grad(bias, xs),
            jax.jvp(lambda b: grad(b, xs), (bias,), (bias,))[1],
            jax.grad(lambda b: jnp.sum(grad(b, xs) ** 2))(bias),
        )

    got, want, g, hvp, grad_sq = results(params["bias"], xs)
    _close(got, want, tol=1e-4)
    hessian = want[1]
    _close(hvp, hessian @ params["bias"], tol=1e-4)
    _close(grad_sq, 2 * hessian @ g, tol=1e-4)


def test_grad_runs_the_hand_written_backward(monkeypatch):
    """Reverse mode transposes the JVP rule back into the hand-written backward passes
    (under jit and checkpoint too), rather than differentiating the forward scan."""
    calls = []
    for module, name in (
        (_fused, "_fused_bwd"),
        (_linear_scan, "_scan_bwd"),
        (_linear_unroll, "_blocked_scan_bwd"),
    ):
        bwd = getattr(module, name)
        monkeypatch.setattr(
            module, name, lambda *a, bwd=bwd, name=name: calls.append(name) or bwd(*a)
        )
    _blocks_of_two_steps(monkeypatch)
    xs = jnp.ones((B, T, I))
    cells = (jrnn.GRUCell(H), jrnn.cells.MinGRUCell(H))
    for cell, expected in zip(cells, ("_fused_bwd", "_blocked_scan_bwd")):
        params = cell.init(jax.random.key(0), I)
        loss = lambda p, cell=cell: jnp.sum(jrnn.unroll(cell, p, xs)[1])
        for wrap in (lambda f: f, jax.jit, jax.checkpoint):
            jax.clear_caches()  # the linear path's inner jit would not trace again
            calls.clear()
            jax.make_jaxpr(jax.grad(wrap(loss)))(params)
            assert calls == [expected]
    calls.clear()
    a = jnp.full((B, T, H), 0.5)
    jax.make_jaxpr(jax.grad(lambda b: jnp.sum(jrnn.linear_scan(a, b)[1])))(xs)
    assert calls == ["_scan_bwd"]
