"""`remat=True` on the fast path: less memory for the gradient, the same gradient.

XLA's compiled memory analysis gives the temporary bytes a program needs beyond its
arguments and outputs: the residuals the forward saves for the backward, and the
backward's buffers. Without remat the fused backward keeps per-step gate buffers
(T, B, G*H); with remat it keeps only the carries (T, B, H), so its temp bytes must be
a fraction of the others. Gradients are compared with the non-remat fast path here and
with plain autodiff in tests/test_contract.py (the remat modes).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jrnn

CELLS = {"lstm": jrnn.LSTMCell, "gru": jrnn.GRUCell}


def grad_fn(cell, remat, fast=True):
    def loss(params, xs):
        return jnp.mean(jrnn.unroll(cell, params, xs, remat=remat, fast=fast)[1] ** 2)

    return jax.jit(jax.grad(loss))


def temp_bytes(compiled):
    return compiled.memory_analysis().temp_size_in_bytes


def assert_trees_close(a, b, rtol, atol):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


@pytest.mark.parametrize("kind", list(CELLS))
def test_remat_temp_bytes_well_under_and_same_gradient(kind):
    """B=8, T=2000, I=H=32: gate buffers of 8 MB (LSTM) without remat."""
    b, t, h = 8, 2000, 32
    cell = CELLS[kind](h)
    params = cell.init(jax.random.key(0), h)
    xs = jax.random.normal(jax.random.key(1), (b, t, h))
    plain = grad_fn(cell, remat=False).lower(params, xs).compile()
    remat = grad_fn(cell, remat=True).lower(params, xs).compile()
    scan_remat = grad_fn(cell, remat=True, fast=False).lower(params, xs).compile()
    # Measured 0.25x (LSTM) and 0.19x (GRU); main's remat was 1.1x (it built the gate
    # buffers in the backward).
    assert temp_bytes(remat) < 0.5 * temp_bytes(plain)
    # ... and no more than autodiff through a checkpointed scan step (0.8x measured).
    assert temp_bytes(remat) <= temp_bytes(scan_remat)
    assert_trees_close(remat(params, xs), plain(params, xs), rtol=1e-5, atol=1e-7)


def _bidirectional_gru_lstm():
    return jrnn.bidirectional(jrnn.GRUCell(3), jrnn.LSTMCell(4, use_peephole=True))


@pytest.mark.parametrize(
    "build,batched,dtype",
    [
        (lambda: jrnn.LSTMCell(5), False, "float32"),
        (lambda: jrnn.SimpleRNNCell(4, activation="gelu"), True, "float32"),
        (lambda: jrnn.GRUCell(4, dtype="bfloat16"), True, "bfloat16"),
        (_bidirectional_gru_lstm, True, "float32"),
    ],
    ids=["lstm_unbatched", "rnn_gelu", "gru_bf16", "bidirectional"],
)
def test_remat_gradient_equals_plain(build, batched, dtype):
    """Unbatched input, an activation without a hand-written backward (jax.vjp of the
    block), bf16 compute and a bidirectional pair with a given carry: remat changes
    nothing but the memory (bf16 up to the order of its float32 sums)."""
    cell = build()
    shape = (2, 6, 3) if batched else (6, 3)
    params = cell.init(jax.random.key(2), 3)
    xs = jax.random.normal(jax.random.key(3), shape)
    carry = jax.tree.map(
        lambda z: 0.3 + jnp.zeros_like(z), cell.initial_carry(2 if batched else None)
    )
    lengths = np.array([6, 4]) if batched else None

    def grads(remat):
        def loss(p, x, c):
            c, ys = jrnn.unroll(cell, p, x, carry=c, lengths=lengths, remat=remat)
            tail = sum(jnp.sum(leaf**2) for leaf in jax.tree.leaves(c))
            return jnp.sum(jnp.sin(ys.astype(jnp.float32))) + tail

        return jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(params, xs, carry)

    tol = 2e-2 if dtype == "bfloat16" else 1e-5
    assert_trees_close(grads(True), grads(False), rtol=tol, atol=tol * 1e-1)
