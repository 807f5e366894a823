"""The contract suite's gradient checks: for every cell in the registry, `unroll` (the
fused custom VJP for the built-in cells, the linear path for linear recurrences) ==
plain autodiff through the step, values and gradients w.r.t. params, inputs and the
initial carry, with lengths, masks on either side, reverse, unroll=k and remat.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_contract import LENGTHS, B, T, assert_trees_close, ids, osize, setup

import jrnn
from jrnn.recurrence import scan_unroll

MODES = {
    "plain": {},
    "lengths": {"lengths": LENGTHS},
    "lengths_reverse": {"lengths": LENGTHS, "reverse": True},
    "left_mask_reverse": {"mask": np.arange(T)[None] >= (T - LENGTHS)[:, None], "reverse": True},
    "unroll3_remat": {"lengths": LENGTHS, "unroll": 3, "remat": True},
    "remat_lengths_reverse": {"lengths": LENGTHS, "reverse": True, "remat": True},
}


@pytest.mark.parametrize("name", ids)
@pytest.mark.parametrize("mode", list(MODES))
def test_fast_path_equals_autodiff(name, mode):
    """`unroll` (fused custom VJP for built-in cells) == autodiff through the step."""
    cell, params, xs, carry = setup(name)
    kw = dict(MODES[mode])
    k = jax.random.key(7)
    out_w = jax.random.normal(k, (B, T, osize(cell)))

    def loss(fn, params, xs, carry):
        c, ys = fn(params, xs, carry)
        # real and imaginary parts both (the LRU's carry is complex)
        carry_term = sum(
            jnp.sum(jnp.sin(jnp.real(leaf)) + jnp.cos(jnp.imag(leaf)))
            for leaf in jax.tree.leaves(c)
        )
        return jnp.sum(ys * out_w) + carry_term

    def fast(params, xs, carry):
        return jrnn.unroll(cell, params, xs, carry=carry, **kw)

    def reference(params, xs, carry):
        mask = kw.get("mask")
        if "lengths" in kw:
            mask = np.arange(T)[None] < kw["lengths"][:, None]
        c, ys = scan_unroll(
            cell,
            params,
            jnp.swapaxes(xs, 0, 1),
            carry,
            None if mask is None else jnp.asarray(mask).T,
            reverse=kw.get("reverse", False),
        )
        return c, jnp.swapaxes(ys, 0, 1)

    grad = lambda fn: jax.jit(jax.value_and_grad(lambda *a: loss(fn, *a), argnums=(0, 1, 2)))
    v1, g1 = grad(fast)(params, xs, carry)
    v2, g2 = grad(reference)(params, xs, carry)
    np.testing.assert_allclose(v1, v2, rtol=1e-5)
    assert_trees_close(g1, g2, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["lstm_peephole_clip_forget", "gru", "simple_rnn"])
@pytest.mark.parametrize("mode", ["lengths_reverse", "unroll3_remat"])
def test_fast_path_large_buffer_layout(name, mode, monkeypatch):
    """Past the CPU size threshold the fast path skips hoisting and keeps per-gate
    gradient buffers; small test shapes never get there, so lower the threshold."""
    from jrnn import _fused

    monkeypatch.setattr(_fused, "CPU_HOIST_MAX_BYTES", 0)
    test_fast_path_equals_autodiff(name, mode)
