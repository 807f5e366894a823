"""The fast path of `unroll` for cells that implement the fused-cell contract.

Forward: the input projection gx = xs @ kernel + input_bias is either hoisted out of the
loop as one (T*B, I) x (I, G*H) GEMM or done per step (see `choose_hoist`); the scan
body is then one recurrent GEMM plus one fused elementwise block.

Backward (`jax.custom_vjp`): the reverse scan carries only the state cotangents. Each
step recomputes the cell's elementwise block from the saved pre-activations (cheap,
and it lets any activation, peephole or clip use the same code), pulls the cotangent
through it with `jax.vjp`, and does one GEMM dG @ recurrent_kernel^T. It emits the
pre-activation cotangents dG; every weight, bias and input gradient is then one GEMM
or reduction over all T*B rows after the loop, instead of T small accumulations inside
it (which is what autodiff through `lax.scan` would give).

Tested against plain autodiff through the cell's reference step (tests/test_fused.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jrnn.cells.base import add_bias, matmul


def tree_where(m, new, old):
    """Per-example select: m (*B,) bool; new/old pytrees of (*B, ...) arrays."""

    def sel(a, b):
        return jnp.where(jnp.reshape(m, m.shape + (1,) * (a.ndim - m.ndim)), a, b)

    return jax.tree.map(sel, new, old)


def zero_where_masked(m, y):
    return jnp.where(jnp.reshape(m, m.shape + (1,) * (y.ndim - m.ndim)), y, jnp.zeros_like(y))


@dataclass(frozen=True)
class FusedConfig:
    """Static (hashable) settings of one fused unroll."""

    cell: Any
    reverse: bool
    unroll: int
    remat: bool
    hoist_infer: bool
    hoist_train: bool


def choose_hoist(backend: str, batch: int, steps: int, input_size: int, units: int, gates: int):
    """Whether to hoist the input GEMM out of the loop: (for inference, for training).

    On GPU/TPU hoisting is the cuDNN recipe: one big GEMM instead of T small ones, off
    the sequential critical path. On XLA:CPU it depends on shape, since the hoisted
    (T, B, G*H) float32 buffer goes through memory while a per-step x_t @ kernel reads
    x_t from cache; measured on a 2-core x86 CPU (benchmarks/README.md):
      - training: hoisting wins (the buffer is kept for the backward pass anyway);
      - inference: hoisting wins while the buffer is small, loses once it outgrows L2.
    """
    if backend != "cpu":
        return True, True
    buffer_bytes = 4 * steps * batch * gates * units
    return buffer_bytes <= CPU_HOIST_BUFFER_BYTES, True


# Largest hoisted buffer (bytes) worth writing out on XLA:CPU for inference; measured.
CPU_HOIST_BUFFER_BYTES = 8 * 2**20


def _forward(cfg: FusedConfig, p, xs, carry0, mask, save: bool):
    """Run the scan; with `save`, also return the residuals the backward pass needs."""
    cell, cdt = cfg.cell, cfg.cell.compute_dtype
    hoist = cfg.hoist_train if save else cfg.hoist_infer
    w, u, bi, br, pw = (p[k] for k in ("kernel", "recurrent_kernel", "input_bias",
                                        "recurrent_bias", "pointwise"))
    seq = add_bias(matmul(xs, w, cdt), bi) if hoist else xs

    def step(carry, inp):
        s_t, m_t = inp
        gx = s_t if hoist else add_bias(matmul(s_t, w, cdt), bi)
        gh = add_bias(matmul(cell.recurrent_input(carry), u, cdt), br)
        new, y = cell.pointwise(pw, gx, gh, carry)
        if m_t is not None:
            new, y = tree_where(m_t, new, carry), zero_where_masked(m_t, y)
        if not save:
            res = None
        elif cfg.remat:
            res = carry
        elif cell.additive:
            res = (gx + gh, carry)
        else:
            res = (gh, carry) if hoist else (gx, gh, carry)
        return new, (y, res)

    carry, (ys, res) = lax.scan(step, carry0, (seq, mask), reverse=cfg.reverse,
                                unroll=cfg.unroll)
    if save and hoist and not cell.additive and not cfg.remat:
        res = (seq,) + res
    return carry, ys, res


def _fused(cfg, p, xs, carry0, mask):
    carry, ys, _ = _forward(cfg, p, xs, carry0, mask, save=False)
    return carry, ys


_fused = jax.custom_vjp(_fused, nondiff_argnums=(0,))


def _fused_fwd(cfg, p, xs, carry0, mask):
    carry, ys, res = _forward(cfg, p, xs, carry0, mask, save=True)
    return (carry, ys), (p, xs, mask, res)


def _fused_bwd(cfg, saved, cts):
    cell, cdt = cfg.cell, cfg.cell.compute_dtype
    p, xs, mask, res = saved
    w, u, bi, br, pw = (p[k] for k in ("kernel", "recurrent_kernel", "input_bias",
                                        "recurrent_bias", "pointwise"))
    dcarry_last, dys = cts

    # Pre-activations per step: saved, or (remat) recomputed as two big GEMMs here.
    if cfg.remat:
        carries = res
        gx_all = add_bias(matmul(xs, w, cdt), bi)
        gh_all = add_bias(matmul(cell.recurrent_input(carries), u, cdt), br)
        pre = (gx_all + gh_all,) if cell.additive else (gx_all, gh_all)
    else:
        *pre, carries = res
        pre = tuple(pre)

    def cell_block(pw, carry, *g):
        gx, gh = (g[0], 0.0) if cell.additive else g
        return cell.pointwise(pw, gx, gh, carry)

    def step(bcarry, inp):
        dcarry, dpw = bcarry
        dy_t, m_t, carry_prev, g_t = inp
        if m_t is not None:
            dcarry_in = tree_where(m_t, dcarry, jax.tree.map(jnp.zeros_like, dcarry))
            dy_t = zero_where_masked(m_t, dy_t)
        else:
            dcarry_in = dcarry
        _, block_vjp = jax.vjp(cell_block, pw, carry_prev, *g_t)
        dpw_t, dprev, *dg = block_vjp((dcarry_in, dy_t))
        # Through gh = h_prev @ U: the one sequential GEMM of the backward step.
        dh = matmul(dg[-1], u.T, cdt).astype(cell.recurrent_input(carry_prev).dtype)
        _, ri_vjp = jax.vjp(cell.recurrent_input, carry_prev)
        dprev = jax.tree.map(jnp.add, dprev, ri_vjp(dh)[0])
        if m_t is not None:
            dprev = tree_where(m_t, dprev, dcarry)
        return (dprev, jax.tree.map(jnp.add, dpw, dpw_t)), tuple(dg)

    dpw0 = jax.tree.map(jnp.zeros_like, pw)
    (dcarry0, dpw), dgs = lax.scan(step, (dcarry_last, dpw0), (dys, mask, carries, pre),
                                   reverse=not cfg.reverse, unroll=cfg.unroll)
    dgx, dgh = (dgs[0], dgs[0]) if cell.additive else dgs

    # Everything that does not feed the recurrence: GEMMs and sums over all T*B rows.
    h_prev = cell.recurrent_input(carries)
    rows = lambda a: a.reshape(-1, a.shape[-1])
    dw = matmul(rows(xs).T, rows(dgx), cdt).astype(w.dtype)
    du = matmul(rows(h_prev).T, rows(dgh), cdt).astype(u.dtype)
    dxs = matmul(dgx, w.T, cdt).astype(xs.dtype)
    grads = {
        "kernel": dw,
        "recurrent_kernel": du,
        "input_bias": None if bi is None else rows(dgx).sum(0).astype(bi.dtype),
        "recurrent_bias": None if br is None else rows(dgh).sum(0).astype(br.dtype),
        "pointwise": dpw,
    }
    return grads, dxs, dcarry0, None


_fused.defvjp(_fused_fwd, _fused_bwd)


def fused_unroll(cell, params, xs, carry, mask, *, reverse, unroll, remat):
    """Time-major fast path: xs (T, *B, I), mask (T, *B) or None -> (carry, ys)."""
    batch = 1
    for d in xs.shape[1:-1]:
        batch *= d
    hoist_infer, hoist_train = choose_hoist(
        jax.default_backend(), batch, xs.shape[0], xs.shape[-1], cell.units, cell.num_gates
    )
    cfg = FusedConfig(cell, bool(reverse), int(unroll), bool(remat), hoist_infer, hoist_train)
    return _fused(cfg, cell.fused_split(params), xs, carry, mask)
