"""MinGRU, MinLSTM, LRU and RG-LRU against the papers' equations written in NumPy, their
initialisations, the engine's linear path, and decoding through their layers.

The contract suite (tests/test_contract.py) runs them through every engine mode; here
each cell's numbers are checked against an independent statement of its equations.
"""

import math

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest

import jrnn
from jrnn import decode
from jrnn.decoding import lm_step
from jrnn.layers import LRU, Dense, Embedding, MinGRU

B, T = 3, 6
LENGTHS = np.array([6, 2, 0])


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def softplus(v):
    return np.log1p(np.exp(v))


def g(v):
    return np.where(v >= 0, v + 0.5, sigmoid(v))


def numpy_loop(step, xs, h0, lengths):
    """Each row over its first `lengths` steps: h, y = step(h, x_t); zeros after."""
    ys, finals = [], []
    for b in range(xs.shape[0]):
        h, row = h0[b], []
        for t in range(xs.shape[1]):
            if t < lengths[b]:
                h, y = step(h, xs[b, t])
                row.append(y)
            else:
                row.append(np.zeros_like(row[0] if row else step(h, xs[b, t])[1]))
        ys.append(row)
        finals.append(h)
    return np.stack(finals), np.array(ys)


def mingru_step(p):
    w, bias = np.asarray(p["kernel"], np.float64), np.asarray(p["bias"], np.float64)
    h_units = w.shape[1] // 2

    def step(h, x):
        k = x @ w + bias
        z, cand = sigmoid(k[:h_units]), g(k[h_units:])
        h = (1 - z) * h + z * cand
        return h, h

    return step


def minlstm_step(p):
    w, bias = np.asarray(p["kernel"], np.float64), np.asarray(p["bias"], np.float64)
    n = w.shape[1] // 3

    def step(h, x):
        k = x @ w + bias
        f, i, cand = sigmoid(k[:n]), sigmoid(k[n : 2 * n]), g(k[2 * n :])
        h = f / (f + i) * h + i / (f + i) * cand
        return h, h

    return step


def lru_step(p):
    q = {k: np.asarray(v, np.float64) for k, v in p.items()}
    lam = np.exp(-np.exp(q["nu_log"]) + 1j * np.exp(q["theta_log"]))
    b_mat = (q["B_re"] + 1j * q["B_im"]) * np.exp(q["gamma_log"])[None]
    c_mat = q["C_re"] + 1j * q["C_im"]

    def step(h, x):
        h = lam * h + x @ b_mat
        return h, (h @ c_mat).real + q["D"] * x

    return step


def rglru_step(p, c=8.0):
    w, bias = np.asarray(p["kernel"], np.float64), np.asarray(p["bias"], np.float64)
    lam = -np.asarray(p["a_param"], np.float64)  # a_param = -Λ
    n = w.shape[1] // 2

    def step(h, x):
        k = x @ w + bias
        r, i = sigmoid(k[:n]), sigmoid(k[n:])
        a = sigmoid(lam) ** (c * r)
        h = a * h + np.sqrt(1 - a**2) * (i * x)
        return h, h

    return step


CASES = {
    "mingru": (jrnn.MinGRUCell(5), 3, mingru_step),
    "minlstm": (jrnn.MinLSTMCell(5), 3, minlstm_step),
    "lru": (jrnn.LRUCell(4, state_units=7, r_min=0.4, r_max=0.95), 4, lru_step),
    "rglru": (jrnn.RGLRUCell(4), 4, rglru_step),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("reverse", [False, True])
def test_unroll_equals_the_papers_equations(name, reverse):
    cell, size, make_step = CASES[name]
    params = cell.init(jax.random.key(1), size)
    # biases away from zero, so every gate term matters
    params = {k: v + 0.3 if k == "bias" else v for k, v in params.items()}
    xs = np.asarray(jax.random.normal(jax.random.key(2), (B, T, size)))
    h0 = np.asarray(jax.random.normal(jax.random.key(3), (B, cell.state_size)))
    carry = jnp.asarray(h0).astype(cell.initial_carry(B).dtype)
    run = jax.jit(
        lambda p, x, c: jrnn.unroll(cell, p, x, carry=c, lengths=LENGTHS, reverse=reverse)
    )
    got_h, got_y = run(params, xs, carry)
    xs_ref = xs
    if reverse:  # each row's valid steps in reverse order, outputs back in place
        xs_ref = np.stack([np.concatenate([x[:n][::-1], x[n:]]) for x, n in zip(xs, LENGTHS)])
    want_h, want_y = numpy_loop(make_step(params), xs_ref, h0, LENGTHS)
    if reverse:
        want_y = np.stack([np.concatenate([y[:n][::-1], y[n:]]) for y, n in zip(want_y, LENGTHS)])
    np.testing.assert_allclose(np.asarray(got_h), want_h, rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(np.asarray(got_y), want_y, rtol=2e-5, atol=2e-5)


def test_mingru_has_half_a_grus_input_weights_and_no_recurrent_kernel():
    params = jrnn.MinGRUCell(64).init(jax.random.key(0), 100)
    assert {k: v.shape for k, v in params.items()} == {"kernel": (100, 128), "bias": (128,)}
    assert sum(v.size for v in params.values()) == 12_928


def test_minlstm_stays_finite_where_both_gates_underflow():
    """f and i both below float32's range: f / (f + i) is 0/0, the log-space form is not."""
    cell = jrnn.MinLSTMCell(2)
    params = {"kernel": jnp.zeros((1, 6)), "bias": jnp.array([-200.0, -200, -210, -190, 1, 1])}
    h, y = cell(params, jnp.ones((1, 2)), jnp.ones((1, 1)))
    # f' = sigmoid(log f - log i) = sigmoid(+-10) (per unit)
    np.testing.assert_allclose(h[0, 0], sigmoid(10.0) + sigmoid(-10.0) * 1.5, rtol=1e-6)
    np.testing.assert_allclose(h[0, 1], sigmoid(-10.0) + sigmoid(10.0) * 1.5, rtol=1e-6)


def test_lru_initialisation_follows_the_paper():
    cell = jrnn.LRUCell(16, state_units=4096, r_min=0.5, r_max=0.9, max_phase=math.pi)
    p = jax.jit(cell.init, static_argnums=1)(jax.random.key(0), 16)
    radius = np.exp(-np.exp(np.asarray(p["nu_log"], np.float64)))
    phase = np.exp(np.asarray(p["theta_log"], np.float64))
    assert radius.min() >= 0.5 - 1e-6 and radius.max() <= 0.9 + 1e-6
    assert phase.min() >= 0 and phase.max() <= math.pi
    # uniform on the ring by area: radius^2 uniform on [0.25, 0.81], mean 0.53
    assert abs(np.mean(radius**2) - 0.53) < 0.01
    np.testing.assert_allclose(np.exp(p["gamma_log"]), np.sqrt(1 - radius**2), rtol=1e-5)
    assert abs(np.std(p["B_re"]) - 1 / math.sqrt(32)) < 0.01
    assert abs(np.std(p["C_im"]) - 1 / 64) < 0.001


def test_rglru_initialisation_and_bounded_gradient():
    cell = jrnn.RGLRUCell(1024)
    a_param = jax.jit(cell.init, static_argnums=1)(jax.random.key(0), 1024)["a_param"]
    radius = np.exp(-softplus(np.asarray(a_param, np.float64)))  # sigmoid(Λ)
    assert radius.min() >= 0.9 - 1e-6 and radius.max() <= 0.999 + 1e-6
    # a -> 1 (a recurrence gate of 0): sqrt(1 - a^2) has an infinite slope there; the
    # gradient is bounded (recurrentgemma's 1000) instead of inf or nan.
    small = jrnn.RGLRUCell(2)
    params = {
        "kernel": jnp.zeros((2, 4)),
        "bias": jnp.array([-100.0, -100, 0, 0]),
        "a_param": jnp.zeros(2),
    }
    grads = jax.grad(lambda p: small(p, jnp.zeros((1, 2)), jnp.ones((1, 2)))[1].sum())(params)
    assert all(np.all(np.isfinite(v)) for v in jax.tree.leaves(grads))


def test_the_engine_runs_no_matmul_inside_the_time_loop():
    """The linear path: one GEMM over all steps outside the loop, only elementwise work
    in it (the plain path multiplies in every step)."""
    cell = jrnn.MinGRUCell(8)
    params = cell.init(jax.random.key(0), 4)
    xs = jnp.zeros((2, 16, 4))

    def loops_with_dots(fast):
        jaxpr = jax.make_jaxpr(lambda p: jrnn.unroll(cell, p, xs, fast=fast))(params)
        found = []

        def walk(jp, in_loop):
            for eqn in jp.eqns:
                if eqn.primitive.name == "dot_general" and in_loop:
                    found.append(eqn)
                for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                    walk(sub, in_loop or eqn.primitive.name in ("scan", "while"))

        walk(jaxpr.jaxpr, False)
        return len(found)

    assert loops_with_dots(fast=True) == 0
    assert loops_with_dots(fast=False) > 0


@pytest.mark.parametrize("layer", [MinGRU, LRU])
def test_lm_step_decodes_a_language_model_of_each_layer(layer):
    """One token at a time through the layer's step == the whole sequence at once (a real
    carry and a complex one with a readout; tests/test_layer_step.py steps all four)."""
    v = 7
    model = jrnn.Sequential(
        [
            Embedding(v, 6),
            layer(6, return_sequences=True),
            layer(6, return_sequences=True),
            Dense(v),
        ]
    )
    x = np.array([[1, 2, 3, 4, 5], [6, 5, 1, 2, 0]])
    variables = jax.jit(model.init)(jax.random.key(0), x)
    want = jax.jit(model.apply)(variables, x)[0]
    step, init = lm_step(model, variables)
    carry, got, step_jit = init(2), [], jax.jit(step)
    for t in range(x.shape[1]):
        carry, logits = step_jit(carry, x[:, t])
        got.append(logits)
    np.testing.assert_allclose(np.stack(got, 1), want, atol=2e-5)
    _, last = decode.feed(step, init(2), x)
    np.testing.assert_allclose(last, want[:, -1], atol=2e-5)


@pytest.mark.parametrize("name", list(CASES))
def test_time_blocks_equal_all_steps_at_once(name, monkeypatch):
    """The CPU layout for long sequences (blocks of steps, a hand-written backward that
    recomputes each block) == all steps at once with autodiff: outputs, final carry and
    gradients w.r.t. params, inputs and the initial carry, with masked steps (either
    side and inside) and in reverse. Blocks of 3 rows-worth of steps on T = 10 (not a
    multiple: the last block is padded)."""
    from jrnn import _linear_unroll

    cell, size, _ = CASES[name]
    params = cell.init(jax.random.key(1), size)
    xs = jax.random.normal(jax.random.key(2), (B, 10, size))
    h0 = jax.random.normal(jax.random.key(3), (B, cell.state_size))
    h0 = h0.astype(cell.initial_carry(B).dtype)
    mask = jnp.asarray(np.random.default_rng(0).random((B, 10)) > 0.3)
    w = jax.random.normal(jax.random.key(4), (B, 10, cell.units))

    def loss(p, x, c, reverse):
        h, ys = jrnn.unroll(cell, p, x, carry=c, mask=mask, reverse=reverse)
        return jnp.sum(ys * w) + jnp.sum(jnp.sin(jnp.real(h)) + jnp.cos(jnp.imag(h)))

    grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)), static_argnums=3)
    want = [grad(params, xs, h0, r) for r in (False, True)]
    assert _linear_unroll.choose_block("cpu", 10, B) is None  # all at once, above
    monkeypatch.setattr(_linear_unroll, "BLOCK_ROWS", 3 * B)
    monkeypatch.setattr(_linear_unroll, "MIN_BLOCK_STEPS", 3)
    assert _linear_unroll.choose_block("cpu", 10, B) == 3
    grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)), static_argnums=3)
    for reverse, (v_want, g_want) in zip((False, True), want):
        v, g = grad(params, xs, h0, reverse)
        np.testing.assert_allclose(v, v_want, rtol=1e-5)
        for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g_want)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
