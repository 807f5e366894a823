"""`jrnn.linear_scan`: every method == a Python loop over h = a*h + b (values and the
custom-VJP gradients == autodiff through the loop), with lengths, left-padding masks,
reverse, time-major, complex and bfloat16 inputs, under vmap and jit; and == `jrnn.unroll`
of a cell whose step is the same recurrence, so the padding semantics match the engine."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jrnn
from jrnn._linear_scan import METHODS, _choose_method

B, T, F = 3, 5, 2
LENGTHS = np.array([5, 2, 0])
# Left padding (as pad_sequences' "pre"), and a hole in the middle of the first row.
MASK = np.array([[1, 1, 0, 1, 1], [0, 0, 0, 1, 1], [0, 0, 0, 0, 0]], bool)
# chunk_size 2 over T=5: several chunks and a padded last one.
KW = {"sequential": {}, "associative": {}, "chunked": {"chunk_size": 2}}


def _inputs(dtype=jnp.float32, seed=0):
    k = jax.random.split(jax.random.key(seed), 6)
    if jnp.issubdtype(dtype, jnp.complexfloating):
        mag = jax.random.uniform(k[0], (B, T, F), minval=0.3, maxval=0.95)
        a = mag * jnp.exp(1j * jax.random.uniform(k[1], (B, T, F), maxval=3.0))
        b = jax.random.normal(k[2], (B, T, F)) + 1j * jax.random.normal(k[3], (B, T, F))
        h0 = jax.random.normal(k[4], (B, F)) - 1j * jax.random.normal(k[5], (B, F))
    else:
        a = jax.random.uniform(k[0], (B, T, F), minval=-0.95, maxval=0.95)
        b, h0 = jax.random.normal(k[2], (B, T, F)), jax.random.normal(k[4], (B, F))
    return a.astype(dtype), b.astype(dtype), h0.astype(dtype)


def _reference(a, b, h0, valid, reverse):
    """A Python loop over the steps, (B, T, F) batch-major; masked steps keep the carry
    and output zero (as `unroll`)."""
    h, hs = h0, [None] * a.shape[1]
    for t in reversed(range(a.shape[1])) if reverse else range(a.shape[1]):
        m = valid[:, t, None]
        new = a[:, t] * h + b[:, t]
        h, hs[t] = jnp.where(m, new, h), jnp.where(m, new, 0)
    return h, jnp.stack(hs, axis=1)


def _loss(fn, weights):
    """A real scalar of both outputs, with weights so that every output's cotangent
    differs (complex outputs: Re(w h), whose gradient tests the conjugate convention)."""
    w_last, w_hs = weights

    def loss(a, b, h0):
        h_last, hs = fn(a, b, h0)
        return jnp.sum(jnp.real(w_last * h_last)) + jnp.sum(jnp.real(w_hs * hs))

    return loss


def _weights(dtype):
    k1, k2 = jax.random.split(jax.random.key(9))
    w = jax.random.normal(k1, (B, F)), jax.random.normal(k2, (B, T, F))
    if jnp.issubdtype(dtype, jnp.complexfloating):
        w = tuple(x * (1 - 2j) for x in w)
    return tuple(x.astype(dtype) for x in w)


def _check(method, dtype, padding, reverse, time_major=False, tol=2e-5):
    a, b, h0 = _inputs(dtype)
    valid = {"none": np.ones((B, T), bool), "lengths": np.arange(T) < LENGTHS[:, None]}.get(
        padding, MASK
    )
    kw = {"lengths": {"lengths": LENGTHS}, "mask": {"mask": MASK}}.get(padding, {})

    def scan(a, b, h0):
        if time_major:
            tm_kw = {**kw, "mask": MASK.T} if "mask" in kw else kw  # time-major mask too
            h, hs = jrnn.linear_scan(
                a.swapaxes(0, 1), b.swapaxes(0, 1), h0, reverse=reverse, time_major=True,
                method=method, **tm_kw, **KW[method],
            )  # fmt: skip
            return h, hs.swapaxes(0, 1)
        return jrnn.linear_scan(a, b, h0, reverse=reverse, method=method, **kw, **KW[method])

    def reference(a, b, h0):
        f32 = [x.astype(jnp.promote_types(dtype, jnp.float32)) for x in (a, b, h0)]
        return _reference(*f32, valid, reverse)

    got, want = scan(a, b, h0), reference(a, b, h0)
    for g, w in zip(got, want):
        assert g.dtype == dtype
        np.testing.assert_allclose(np.asarray(g, w.dtype), w, rtol=tol, atol=tol)
    weights = _weights(dtype)
    got = jax.grad(_loss(scan, weights), (0, 1, 2))(a, b, h0)
    want = jax.grad(_loss(reference, weights), (0, 1, 2))(a, b, h0)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g, w.dtype), w, rtol=tol, atol=tol)
    if padding != "none":  # masked steps get no gradient
        da, db, _ = got
        assert not np.any(np.asarray(da, np.complex64)[~valid])
        assert not np.any(np.asarray(db, np.complex64)[~valid])


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("padding", ["none", "lengths", "mask"])
@pytest.mark.parametrize("reverse", [False, True])
def test_equals_python_loop(method, padding, reverse):
    _check(method, jnp.float32, padding, reverse)


@pytest.mark.parametrize("method", METHODS)
def test_time_major(method):
    _check(method, jnp.float32, "mask", reverse=True, time_major=True)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("reverse", [False, True])
def test_complex64(method, reverse):
    _check(method, jnp.complex64, "lengths", reverse)


@pytest.mark.parametrize("method", METHODS)
def test_bfloat16(method):
    # Inputs rounded to bf16, state kept in float32: only the outputs' rounding differs.
    _check(method, jnp.bfloat16, "mask", reverse=False, tol=2e-2)


@dataclasses.dataclass(frozen=True)
class AffineCell:
    """A user cell whose step is the linear recurrence: x_t = [a_t, b_t], h = a*h + b."""

    units: int

    def init(self, key, input_size):
        return {}

    def initial_carry(self, batch_size=None, dtype=jnp.float32):
        return jnp.zeros((batch_size, self.units), dtype)

    def __call__(self, params, carry, x_t):
        h = x_t[..., : self.units] * carry + x_t[..., self.units :]
        return h, h


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("padding", ["lengths", "mask"])
def test_equals_unroll(reverse, padding):
    """The engine's padding and reverse semantics (the same step via `jrnn.unroll`)."""
    a, b, h0 = _inputs()
    kw = {"lengths": LENGTHS} if padding == "lengths" else {"mask": MASK}
    want = jrnn.unroll(
        AffineCell(F), {}, jnp.concatenate([a, b], -1), carry=h0, reverse=reverse, **kw
    )
    for method in METHODS:
        got = jrnn.linear_scan(a, b, h0, reverse=reverse, method=method, **kw, **KW[method])
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_jit_vmap_broadcast_and_defaults():
    a, b, h0 = _inputs()
    lengths = jnp.asarray(LENGTHS)
    want = jrnn.linear_scan(a, b, h0, lengths=lengths, method="sequential")
    # jit with traced lengths; method=None picks one
    got = jax.jit(lambda a, b, h0, n: jrnn.linear_scan(a, b, h0, lengths=n))(a, b, h0, lengths)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    # vmap over an extra leading axis (an ensemble), chunked method
    stack = lambda x: jnp.stack([x, 2 * x])  # noqa: E731
    got = jax.vmap(lambda a, b, h0: jrnn.linear_scan(a, b, h0, lengths=lengths, method="chunked"))(
        stack(a), stack(b), stack(h0)
    )
    for g, w in zip(got, want):
        np.testing.assert_allclose(g[0], w, rtol=1e-5, atol=1e-6)
    # a decay shared over batch and time, broadcast against b; h0 defaults to zeros
    decay = a[:1, :1]
    got = jrnn.linear_scan(decay, b, method="associative")
    want = _reference(
        jnp.broadcast_to(decay, b.shape), b, jnp.zeros_like(h0), np.ones((B, T), bool), False
    )
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    # gradient wrt the broadcast decay: summed over the broadcast axes by autodiff
    grad = jax.grad(lambda d: jrnn.linear_scan(d, b, method="chunked", chunk_size=2)[1].sum())
    ref = jax.grad(
        lambda d: _reference(jnp.broadcast_to(d, b.shape), b, 0 * h0, np.ones((B, T), bool), 0)[
            1
        ].sum()
    )
    np.testing.assert_allclose(grad(decay), ref(decay), rtol=1e-5, atol=1e-5)


def test_no_steps_and_more_axes():
    # T = 0: h_last is h0, hs empty
    h0 = jnp.ones((2, 3))
    h, hs = jrnn.linear_scan(jnp.zeros((2, 0, 3)), jnp.zeros((2, 0, 3)), h0)
    assert hs.shape == (2, 0, 3) and np.array_equal(h, h0)
    # no feature axis (B, T) and two feature axes (B, T, 2, 2)
    for shape in [(2, 4), (2, 4, 2, 2)]:
        a = jax.random.uniform(jax.random.key(1), shape)
        b = jax.random.normal(jax.random.key(2), shape)
        want = jrnn.linear_scan(a, b, method="sequential")
        for method in ("associative", "chunked"):
            got = jrnn.linear_scan(a, b, method=method, chunk_size=3)
            for g, w in zip(got, want):
                np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_choose_method():
    assert _choose_method("cpu", 4096) == "sequential"
    assert _choose_method("gpu", 4096) == "associative"
    assert _choose_method("tpu", 16) == "associative"
