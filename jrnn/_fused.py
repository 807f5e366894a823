"""The fast path of `unroll` for cells that implement the fused-cell contract.

Forward: the input projection gx = xs @ kernel + input_bias is either hoisted out of the
loop as G per-gate (T*B, I) x (I, H) GEMMs or done per step (see `choose_hoist`); the
scan body is then one recurrent GEMM plus one fused elementwise block.

Backward (hand-written; the function is a `jax.custom_jvp` whose tangent is this
backward pass transposed, so reverse mode runs it as written and forward mode works too:
see `jrnn._ops.jvp_from_vjp`): the reverse scan carries the state cotangents (and, for
peephole LSTMs, the three peephole-weight gradients, (H,) vectors). Each
step pulls them through the cell's elementwise block, either with the cell's
hand-written backward from the gate activations the forward pass saved (built-in cells
whose activations' derivatives follow from their outputs: tanh, sigmoid, relu, linear),
or by recomputing the block from saved pre-activations under `jax.vjp` (any other
activation, peepholes, cell clipping). Then one GEMM dG @ recurrent_kernel^T. The step
emits the pre-activation cotangents dG; every weight, bias and input gradient is then
one GEMM or reduction over all T*B rows after the loop, instead of T small
accumulations inside it (which is what autodiff through `lax.scan` would give).

With `remat` the forward saves only the carries (O(T*B*H)), and the backward (see
`_remat_bwd`) recomputes each step's pre-activations inside its reverse scan and sums
the weight gradients there, so no (T, B, G*H) buffer is ever built.

Tested against plain autodiff through the cell's reference step (tests/test_contract.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.export import is_symbolic_dim

from jrnn._ops import (
    add_bias,
    jvp_from_vjp,
    matmul,
    split_gates,
    to_varying,
    tree_where,
    varying_axes,
    wide_dtype,
    zero_where_masked,
)


@dataclass(frozen=True)
class FusedConfig:
    """Static (hashable) settings of one fused unroll."""

    cell: Any
    reverse: bool
    unroll: int
    remat: bool
    # Gate buffers small enough to stay in cache (see choose_hoist): the input GEMM is
    # hoisted before the loop and the backward writes one (T, B, G*H) gradient buffer
    # per step instead of G (T, B, H) ones.
    small_buffers: bool


def choose_hoist(backend: str, gate_bytes: int) -> bool:
    """Whether to hoist the input GEMM out of the loop, for gate buffers of `gate_bytes`.

    On GPU/TPU hoisting is the cuDNN recipe: one big GEMM instead of T small ones, off
    the sequential critical path. On XLA:CPU it depends on size: the hoisted gate
    buffers (T*B*G*H floats) are written once and read back step by step, which is
    cheap while they stay in the last-level cache (32 MB here) and costs more than the
    bigger GEMM saves once they spill to DRAM; a per-step x_t @ kernel reads only x_t
    and a cached kernel. Measured on the 2-core CI machine (AMD EPYC, 32 MB L3; median
    of 3x5 interleaved calls, LSTM, ms, hoisted vs per step):
      B=32 T=64 H=128 (4 MB):    fwd 5.5 vs 6.3,   train 15.2 vs 15.6
      B=16 T=1024 H=64 (16 MB):  fwd 13.7 vs 15.3, train 71.0 vs 70.2
      B=64 T=128 H=256 (32 MB):  fwd 72.4 vs 56.8, train 205 vs 198
      B=64 T=64 H=512 (32 MB):   fwd 129 vs 115,   train 355 vs 325
    so on CPU we hoist while the buffer stays under CPU_HOIST_MAX_BYTES. The same bound
    decides whether the backward pass writes one (T, B, G*H) gradient buffer or G
    per-gate ones (FusedConfig.small_buffers). Sizes that are symbolic at trace time
    (`jrnn.export`) are not asked here: see `fused_unroll`.
    """
    return backend != "cpu" or gate_bytes < CPU_HOIST_MAX_BYTES


# Largest hoisted gate buffer (bytes) worth writing out on XLA:CPU; see choose_hoist.
CPU_HOIST_MAX_BYTES = 24 * 2**20
# The CPU layout when the buffer's size is symbolic (see fused_unroll): per step, which
# costs at most ~15% on small inputs in the measurements above and avoids the ~25% loss
# on inputs whose buffers spill.
CPU_HOIST_UNKNOWN_SIZE = False


def _unpack(p):
    return (
        p[k] for k in ("kernel", "recurrent_kernel", "input_bias", "recurrent_bias", "pointwise")
    )


def _gate_cols(w, g):
    """Column blocks of a (.., G*H) weight or (G*H,) bias: a tuple of G (.., H)."""
    return (None,) * g if w is None else split_gates(w, g)


def _project_gates(xs, w, b, g, cdt):
    """xs @ w + b as G separate contiguous (..., H) arrays, one GEMM per gate."""
    return tuple(
        add_bias(matmul(xs, wk, cdt), bk) for wk, bk in zip(_gate_cols(w, g), _gate_cols(b, g))
    )


def _forward(cfg: FusedConfig, p, xs, carry0, mask, save: bool):
    """Run the scan; with `save`, also return the residuals the backward pass needs.

    Saving, the scan emits each step's new carry (not y): y_t is a function of it, and
    the carry before step t is the carry after the previous one, so one stacked carry
    serves the outputs, the backward's recomputation and its h_{t-1} @ dG GEMM. Every
    array a step writes costs a dynamic-update-slice per step on XLA:CPU.
    """
    cell, cdt, ng = cfg.cell, cfg.cell.compute_dtype, cfg.cell.num_gates
    # Under remat the forward does not hoist either: the hoisted buffer is the
    # (T, B, G*H) array that remat exists to avoid.
    hoist = cfg.small_buffers and not (save and cfg.remat)
    w, u, bi, br, pw = _unpack(p)
    seq = _project_gates(xs, w, bi, ng, cdt) if hoist else xs

    keep_saved = save and cell.has_backward and not cfg.remat

    def step(carry, inp):
        s_t, m_t = inp
        gx = s_t if hoist else split_gates(add_bias(matmul(s_t, w, cdt), bi), ng)
        gh = split_gates(add_bias(matmul(cell.recurrent_input(carry), u, cdt), br), ng)
        if keep_saved:
            new, y, saved = cell.pointwise_saved(pw, gx, gh, carry)
        else:
            new, y = cell.pointwise(pw, gx, gh, carry)
        if m_t is not None:
            new, y = tree_where(m_t, new, carry), zero_where_masked(m_t, y)
        if not save:
            return new, y
        if cfg.remat:
            pre = ()
        elif keep_saved:
            pre = (saved,)
        elif cell.additive:
            pre = (tuple(a + b for a, b in zip(gx, gh)),)
        else:
            pre = (gh,) if hoist else (gx, gh)
        return new, (new, pre)

    carry, out = lax.scan(step, carry0, (seq, mask), reverse=cfg.reverse, unroll=cfg.unroll)
    if not save:
        return carry, out, None
    carries, pre = out
    ys = cell.output(carries)
    if mask is not None:
        ys = zero_where_masked(mask, ys)
    if hoist and not cell.additive and not cfg.remat and not keep_saved:
        pre = (seq,) + pre
    return carry, ys, (carries, pre)


def _previous(carries, carry0, reverse):
    """The carry entering each step, from the carries leaving them (time-major)."""

    def shift(post, first):
        first = first[None]
        return (
            jnp.concatenate([post, first])[1:] if reverse else jnp.concatenate([first, post])[:-1]
        )

    return jax.tree.map(shift, carries, carry0)


def _fused(cfg, p, xs, carry0, mask):
    carry, ys, _ = _forward(cfg, p, xs, carry0, mask, save=False)
    return carry, ys


# A custom JVP whose tangent is the transpose of the hand-written backward (see
# `jvp_from_vjp`): forward mode works, and reverse mode transposes it back into
# `_fused_bwd`.
_fused = jax.custom_jvp(_fused, nondiff_argnums=(0,))


def _fused_fwd(cfg, p, xs, carry0, mask):
    carry, ys, res = _forward(cfg, p, xs, carry0, mask, save=True)
    return (carry, ys), (p, xs, carry0, mask, res)


def _block_backward(cell, pw, carry_prev, carry_new, g_t, dcarry, dy, recompute_saved):
    """(dpw, dcarry_prev, [dG] or [dGx, dGh]) through the elementwise block.

    g_t: (G sums,) for additive cells, else (gx, gh); each a tuple of G (*B, H). With the
    hand-written backward, g_t is (saved activations,) unless `recompute_saved`, when it
    holds pre-activations and the activations are recomputed from them.
    """
    zeros = (0.0,) * cell.num_gates  # additive cells get gx + gh as gx and nothing as gh
    split_pre = lambda g: (g[0], zeros) if cell.additive else g
    if cell.has_backward:
        if recompute_saved:
            saved = cell.pointwise_saved(pw, *split_pre(g_t), carry_prev)[2]
        else:
            saved = g_t[0]
        dpw, dprev, dgx, dgh = cell.pointwise_backward(pw, saved, carry_prev, carry_new, dcarry, dy)
        return dpw, dprev, [dgh] if cell.additive else [dgx, dgh]
    block = lambda pw, carry, *g: cell.pointwise(pw, *split_pre(g), carry)
    _, block_vjp = jax.vjp(block, pw, carry_prev, *g_t)
    dpw, dprev, *dg = block_vjp((dcarry, dy))
    return dpw, dprev, dg


def _step_backward(cfg, pw, u, carry_prev, carry_new, g_t, dcarry, dy_t, m_t):
    """One reverse step: (dcarry_prev, dpw_t, dg, dGh) with dGh (*B, G*H) concatenated.

    Masked examples pass their carry cotangent through unchanged and get zero dG.
    """
    cell, cdt = cfg.cell, cfg.cell.compute_dtype
    if m_t is not None:
        dcarry_in = tree_where(m_t, dcarry, jax.tree.map(jnp.zeros_like, dcarry))
        dy_t = zero_where_masked(m_t, dy_t)
    else:
        dcarry_in = dcarry
    dpw_t, dprev, dg = _block_backward(
        cell, pw, carry_prev, carry_new, g_t, dcarry_in, dy_t, cfg.remat
    )
    # Through gh = h_prev @ U: the one sequential GEMM of the backward step.
    h_prev = cell.recurrent_input(carry_prev)
    dgh = jnp.concatenate(dg[-1], axis=-1)
    dh = matmul(dgh, u.T, cdt).astype(h_prev.dtype)
    _, ri_vjp = jax.vjp(cell.recurrent_input, carry_prev)
    dprev = jax.tree.map(jnp.add, dprev, ri_vjp(dh)[0])
    if m_t is not None:
        dprev = tree_where(m_t, dprev, dcarry)
    return dprev, dpw_t, dg, dgh


def _fused_bwd(cfg, saved, cts):
    if cfg.remat:
        return _remat_bwd(cfg, saved, cts)
    cell, cdt, ng = cfg.cell, cfg.cell.compute_dtype, cfg.cell.num_gates
    p, xs, carry0, mask, (carries, pre) = saved
    w, u, bi, br, pw = _unpack(p)
    dcarry_last, dys = cts
    carries_new, carries = carries, _previous(carries, carry0, cfg.reverse)

    def step(bcarry, inp):
        dcarry, dpw = bcarry
        dy_t, m_t, carry_prev, carry_new, g_t = inp
        dprev, dpw_t, dg, dgh = _step_backward(
            cfg, pw, u, carry_prev, carry_new, g_t, dcarry, dy_t, m_t
        )
        if cfg.small_buffers:
            out = (dgh,) if cell.additive else (jnp.concatenate(dg[0], axis=-1), dgh)
        else:
            out = tuple(dg)
        return (dprev, jax.tree.map(jnp.add, dpw, dpw_t)), out

    step = jax.checkpoint(step, prevent_cse=False)  # see jvp_from_vjp
    dpw0 = to_varying(jax.tree.map(jnp.zeros_like, pw), varying_axes(xs))
    (dcarry0, dpw), dgs = lax.scan(
        step,
        (dcarry_last, dpw0),
        (dys, mask, carries, carries_new, pre),
        reverse=not cfg.reverse,
        unroll=cfg.unroll,
    )
    dgx, dgh = (dgs[0], dgs[0]) if cell.additive else dgs

    # Everything that does not feed the recurrence: GEMMs and sums over all T*B rows.
    h_prev = _rows(cell.recurrent_input(carries))
    grads = {
        "kernel": _weight_grad(_rows(xs), dgx, cdt).astype(w.dtype),
        "recurrent_kernel": _weight_grad(h_prev, dgh, cdt).astype(u.dtype),
        "input_bias": _bias_grad(bi, dgx),
        "recurrent_bias": _bias_grad(br, dgh),
        "pointwise": dpw,
    }
    return grads, _input_grad(dgx, w, ng, cdt).astype(xs.dtype), dcarry0, None


def _remat_bwd(cfg, saved, cts):
    """The backward pass of `remat=True`: from the saved carries only.

    Each reverse step recomputes its own gate pre-activations gx_t = x_t W + b_x and
    gh_t = h_{t-1} U + b_h, pulls the cotangents through the block and the recurrent
    GEMM, emits dx_t = dGx_t W^T, and adds its weight gradients to sums carried by the
    loop: dW += x_t^T dGx_t, dU += h_{t-1}^T dGh_t, db_x += sum_B dGx_t,
    db_h += sum_B dGh_t. No (T, B, G*H) array exists, so beyond the inputs and
    outputs the gradient holds only the carries, O(T*B*H). The cost is T pairs of
    small GEMMs (rank B) for dW and dU instead of one pair over all T*B rows.
    """
    cell, cdt, ng = cfg.cell, cfg.cell.compute_dtype, cfg.cell.num_gates
    p, xs, carry0, mask, (carries, _) = saved
    w, u, bi, br, pw = _unpack(p)
    dcarry_last, dys = cts
    steps = xs.shape[0]
    # The carry entering step t is the one leaving the step before it in processing
    # order, read by index rather than stored shifted (that copy would be as big again).
    before = 1 if cfg.reverse else -1

    def carry_before(t):
        s = jnp.clip(t + before, 0, steps - 1)
        first = (t == steps - 1) if cfg.reverse else (t == 0)
        prev = jax.tree.map(lambda a: lax.dynamic_index_in_dim(a, s, keepdims=False), carries)
        return jax.tree.map(lambda c0, c: jnp.where(first, c0, c), carry0, prev)

    def acc(total, a, dg):
        """total + a^T dg over the batch rows, or None for an absent bias/weight."""
        return None if total is None else total + matmul(_rows(a).T, _rows(dg), cdt)

    def acc_bias(total, dg):
        return None if total is None else total + _rows(dg).sum(0).reshape(total.shape)

    def step(bcarry, inp):
        dcarry, dpw, dw, du, dbi, dbr = bcarry
        t, dy_t, m_t, x_t, carry_new = inp
        carry_prev = carry_before(t)
        h_prev = cell.recurrent_input(carry_prev)
        gx = split_gates(add_bias(matmul(x_t, w, cdt), bi), ng)
        gh = split_gates(add_bias(matmul(h_prev, u, cdt), br), ng)
        g_t = (tuple(a + b for a, b in zip(gx, gh)),) if cell.additive else (gx, gh)
        dprev, dpw_t, dg, dgh = _step_backward(
            cfg, pw, u, carry_prev, carry_new, g_t, dcarry, dy_t, m_t
        )
        dgx = dgh if cell.additive else jnp.concatenate(dg[0], axis=-1)
        dx_t = matmul(dgx, w.T, cdt).astype(xs.dtype)
        new = (
            dprev,
            jax.tree.map(jnp.add, dpw, dpw_t),
            acc(dw, x_t, dgx),
            acc(du, h_prev, dgh),
            acc_bias(dbi, dgx),
            acc_bias(dbr, dgh),
        )
        return new, dx_t

    step = jax.checkpoint(step, prevent_cse=False)  # see jvp_from_vjp
    zeros = lambda a: None if a is None else jnp.zeros(a.shape, wide_dtype(a.dtype))
    init = (
        dcarry_last,
        jax.tree.map(jnp.zeros_like, pw),
        zeros(w),
        zeros(u),
        zeros(bi),
        zeros(br),
    )
    init = to_varying(init, varying_axes(xs))  # loop carries: as the sums added to them
    (dcarry0, dpw, dw, du, dbi, dbr), dxs = lax.scan(
        step,
        init,
        (jnp.arange(steps), dys, mask, xs, carries),
        reverse=not cfg.reverse,
        unroll=cfg.unroll,
    )
    cast = lambda g, like: None if like is None else g.astype(like.dtype)
    grads = {
        "kernel": cast(dw, w),
        "recurrent_kernel": cast(du, u),
        "input_bias": cast(dbi, bi),
        "recurrent_bias": cast(dbr, br),
        "pointwise": dpw,
    }
    return grads, dxs, dcarry0, None


def _rows(a):
    return a.reshape(-1, a.shape[-1])


# The pre-activation gradients dG come as one (T, B, G*H) array or as G per-gate
# (T, B, H) arrays (see FusedConfig.small_buffers); these take either.
def _weight_grad(a, dg, cdt):
    """a (N, K) rows, dG over the same N rows -> a^T dG, (K, G*H)."""
    if isinstance(dg, tuple):
        return jnp.concatenate([matmul(a.T, _rows(d), cdt) for d in dg], axis=-1)
    return matmul(a.T, _rows(dg), cdt)


def _input_grad(dg, w, ng, cdt):
    if isinstance(dg, tuple):
        return sum(matmul(d, wk.T, cdt) for d, wk in zip(dg, _gate_cols(w, ng)))
    return matmul(dg, w.T, cdt)


def _bias_grad(b, dg):
    if b is None:
        return None
    parts = dg if isinstance(dg, tuple) else (dg,)
    total = jnp.concatenate([_rows(d).sum(0) for d in parts])
    return total.astype(b.dtype).reshape(b.shape)


def _fused_jvp(cfg, primals, tangents):
    out, res = _fused_fwd(cfg, *primals)
    # The mask (last) has no tangent and no cotangent.
    return out, jvp_from_vjp(lambda cts: _fused_bwd(cfg, res, cts)[:3], out, tangents[:3])


_fused.defjvp(_fused_jvp, symbolic_zeros=True)


def fused_unroll(cell, params, xs, carry, mask, *, reverse, unroll, remat):
    """Time-major fast path: xs (T, *B, I), mask (T, *B) or None -> (carry, ys).

    With symbolic sizes (`jax.export` with a symbolic batch or time axis) the gate
    buffer's size is unknown until the program runs, so `choose_hoist` cannot be asked.
    Both layouts are then staged out under `lax.platform_dependent`, and the platform
    the exported program is compiled for picks one: per step on CPU (an artifact that
    serves any length must not risk the cache-spilling case, which costs more than
    hoisting saves on short inputs) and hoisted elsewhere (GPU/TPU hoist at any size).
    This is also right for an artifact lowered for several platforms at once.
    """
    gate_bytes = 4 * cell.num_gates * cell.units
    for d in xs.shape[:-1]:
        gate_bytes *= d
    p = cell.fused_split(params)
    # Inside shard_map every differentiable input of the custom JVP varies over the same
    # mesh axes, so the backward's gradients (which vary with xs) match their primals.
    p, xs, carry = to_varying((p, xs, carry), varying_axes(p, xs, carry, mask))

    def run(small):
        cfg = FusedConfig(cell, bool(reverse), int(unroll), bool(remat), small)
        return lambda p, xs, carry, mask: _fused(cfg, p, xs, carry, mask)

    if is_symbolic_dim(gate_bytes):
        return lax.platform_dependent(
            p, xs, carry, mask, cpu=run(CPU_HOIST_UNKNOWN_SIZE), default=run(True)
        )
    return run(choose_hoist(jax.default_backend(), gate_bytes))(p, xs, carry, mask)
