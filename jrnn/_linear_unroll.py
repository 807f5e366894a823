"""The engine's path for `LinearCell`s: the coefficients of many steps at once, the
elementwise recurrence h_t = a_t ⊙ h_{t-1} + b_t, then the outputs of many steps at once.

Two layouts, the same numbers (see `choose_block`):
  - all at once: one (T*B, I) x (I, G*H) GEMM, `linear_scan` over all T steps, one
    readout; autodiff through it (the scan's backward is `linear_scan`'s hand-written one).
  - time blocks (XLA:CPU, long sequences): a loop over blocks of L steps, each doing
    its GEMM, scan and readout while its buffers stay in cache; a hand-written backward
    keeps only the carry entering each block, recomputes the block's projections, gates
    and scan from it, and runs the adjoint scan and the weight and input gradients'
    GEMMs block by block. On XLA:CPU a fresh (T, B, K) buffer costs more to write
    (first-touch page faults, DRAM bandwidth) than an in-cache GEMM costs to redo: a
    (128*16, 64) x (64, 128) GEMM per block ran at ~185 GFLOP/s with its output kept in
    cache and at ~50 GFLOP/s when stacked into a (T, B, 128) buffer.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from jrnn._linear_scan import linear_scan
from jrnn._ops import jvp_from_vjp, to_varying, varying_axes, wide_dtype, zero_where_masked


def choose_block(backend: str, steps, batch: int) -> int | None:
    """Steps per time block, or None to run all steps at once.

    XLA:CPU: the all-at-once GEMM writes (T, B, G*H) gate buffers that spill out of
    cache for long sequences, and every elementwise pass then streams them through
    DRAM; blocks of BLOCK_ROWS rows (steps x batch) keep them in cache, and the backward
    recomputes a block instead of reading saved gates. Measured on the 2-core CI
    machine (`make bench BENCH_ARGS="--rows linear"`, Adam train step, B=16 I=H=64, ms,
    blocks of 128 steps / all at once with the sequential scan):
      T        MinGRU          MinLSTM         LRU             RG-LRU
      1024     21.7 / 34.5     31.4 / 42.7     28.6 / 44.4     23.0 / 33.9
      4096     101.4 / 134.6   162.2 / 202.3   167.6 / 200.2   128.4 / 136.4
      16384    402.7 / 522.1   551.5 / 778.9   518.3 / 859.8   464.5 / 576.7
    (the associative and chunked scans were slower still). Blocks of 64-256 steps at
    B=16 measured the same within noise. Rows rather than steps: at B=64 a 128-step
    block's gate buffers would not fit in cache. GPU/TPU: all at once, with the
    associative scan (one wide kernel per level; not measured yet). A number of steps
    that is symbolic (`jrnn.export`) or at most two blocks runs all at once.
    """
    if backend != "cpu" or not isinstance(steps, int):
        return None
    block = max(MIN_BLOCK_STEPS, BLOCK_ROWS // max(batch, 1))
    return block if steps > 2 * block else None


# Rows (steps x batch) per time block on XLA:CPU, and the fewest steps (see choose_block).
BLOCK_ROWS = 2048
MIN_BLOCK_STEPS = 16


def linear_unroll(
    cell, params, xs, carry, mask, *, reverse=False, remat=False, block=-1, method=None
):
    """Run a `LinearCell` over xs (T, *B, I) (time-major; B one axis or none) from
    carry h0 (*B, S), with mask (T, *B) or None: (h_last, ys (T, *B, H)), ys zero at
    masked steps, exactly as `scan_unroll` over the cell's step.

    block: steps per time block, None for all at once, -1 to ask `choose_block`;
    method: `linear_scan`'s method when all at once (None: its default). With
    `remat` (all at once) the backward keeps only xs and h0 and recomputes the rest;
    the blocked layout keeps only the block carries anyway.
    """
    if block == -1:  # decided here, not under the jit below: the block is its cache key
        batch = xs.shape[1] if xs.ndim == 3 else 1
        block = choose_block(jax.default_backend(), xs.shape[0], batch)
    return _linear_unroll(
        cell, params, xs, carry, mask, reverse=reverse, remat=remat, block=block, method=method
    )


# One compiled program when called eagerly (op by op, the coefficients, the scan and the
# readout would each compile and dispatch apart); inlined under an enclosing jit.
@functools.partial(jax.jit, static_argnames=("cell", "reverse", "remat", "block", "method"))
def _linear_unroll(cell, params, xs, carry, mask, *, reverse, remat, block, method):
    # Inside shard_map: params, xs and carry vary over the same mesh axes (a scan carry and
    # the custom JVP's primals must; see `to_varying`).
    params, xs, carry = to_varying((params, xs, carry), varying_axes(params, xs, carry, mask))
    unbatched = xs.ndim == 2
    if unbatched:  # linear_scan wants a batch axis
        xs, carry = xs[:, None], carry[None]
        mask = None if mask is None else mask[:, None]
    if block is None:
        h_last, ys = _all_at_once(cell, params, xs, carry, mask, reverse, remat, method)
    else:
        if reverse:  # masked steps are identity steps: reversed time is reversed order
            xs, mask = jnp.flip(xs, 0), None if mask is None else jnp.flip(mask, 0)
        h_last, ys = _blocked(cell, block, params, xs, carry, mask)
        if reverse:
            ys = jnp.flip(ys, 0)
    if unbatched:
        h_last, ys = h_last[0], ys[:, 0]
    return h_last, ys


def _all_at_once(cell, params, xs, h0, mask, reverse, remat, method):
    def run(params, xs, h0):
        a, b = cell.coefficients(params, xs)
        h_last, hs = linear_scan(
            a, b, h0, mask=mask, reverse=reverse, time_major=True, method=method
        )
        return h_last, cell.readout(params, hs, xs)

    if remat:
        run = jax.checkpoint(run)
    h_last, ys = run(params, xs, h0)
    if mask is not None:  # the readout of a zero state is not zero (the LRU's skip term)
        ys = zero_where_masked(mask, ys)
    return h_last, ys


# ------------------------------------------------------------------ time blocks
# xs (T, B, I), h0 (B, S), mask (T, B) or None, processed in order t = 0..T-1.


def _blocked(cell, block, params, xs, h0, mask):
    steps = xs.shape[0]
    blocks = -(-steps // block)
    pad = blocks * block - steps
    valid = jnp.ones(xs.shape[:2], bool) if mask is None else mask
    if pad:  # masked steps at the end: identity steps, zero outputs
        xs = jnp.pad(xs, [(0, pad), (0, 0), (0, 0)])
        valid = jnp.pad(valid, [(0, pad), (0, 0)])
    xs_b = xs.reshape((blocks, block) + xs.shape[1:])
    valid_b = valid.reshape((blocks, block) + valid.shape[1:])
    h_last, ys = _blocked_scan(cell, params, xs_b, h0, valid_b)
    ys = ys.reshape((blocks * block,) + ys.shape[2:])
    return h_last, ys[:steps]


def _gates(cell, params, k, xs, valid):
    """a, b of one block (L, B, S) from its projections, identity (a = 1, b = 0) at
    masked steps."""
    a, b = cell.gates(params, k, xs)
    a = jnp.broadcast_to(a, b.shape)
    m = valid[..., None]
    return jnp.where(m, a, jnp.ones((), a.dtype)), jnp.where(m, b, jnp.zeros((), b.dtype))


def _readout(cell, params, hs, xs, valid):
    return zero_where_masked(valid, cell.readout(params, hs, xs))


def _scan_block(a, b, h):
    """h_t = a_t h_{t-1} + b_t over one block: (h_last, hs)."""

    def step(h, ab):
        h = ab[0] * h + ab[1]
        return h, h

    return lax.scan(step, h, (a, b))


def _block_forward(cell, params, xs, valid, h):
    """One block: (h_last, (k, ys)) with k the block's projections."""
    k = cell.project(params, xs)
    a, b = _gates(cell, params, k, xs, valid)
    h_last, hs = _scan_block(a, b, h)
    return h_last, (k, _readout(cell, params, hs, xs, valid))


# A custom JVP whose tangent is the transpose of the hand-written backward (see
# `jvp_from_vjp`): forward mode works and reverse mode runs `_blocked_scan_bwd`.
@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _blocked_scan(cell, params, xs_b, h0, valid_b):
    def body(h, inp):
        xs, valid = inp
        h, (_, ys) = _block_forward(cell, params, xs, valid, h)
        return h, ys

    return lax.scan(body, h0, (xs_b, valid_b))


def _blocked_scan_fwd(cell, params, xs_b, h0, valid_b):
    def body(h, inp):
        xs, valid = inp
        h_next, (_, ys) = _block_forward(cell, params, xs, valid, h)
        return h_next, (ys, h)  # keep only the carry entering each block

    h_last, (ys, h_in) = lax.scan(body, h0, (xs_b, valid_b))
    return (h_last, ys), (params, xs_b, valid_b, h_in)


def _blocked_scan_bwd(cell, residuals, cotangents):
    params, xs_b, valid_b, h_in = residuals
    g_last, g_ys = cotangents
    acc = jax.tree.map(lambda p: jnp.zeros(p.shape, wide_dtype(p.dtype)), params)
    acc = to_varying(acc, varying_axes(xs_b))  # a loop carry: as the sums added to it

    def body(carry, inp):
        dh_end, dparams = carry  # dL/d(state leaving this block), summed param grads
        xs, valid, h, g_y = inp
        k = cell.project(params, xs)  # recomputed: cheaper than a saved (T, B, K) buffer
        (a, b), gates_vjp = jax.vjp(lambda p, k, x: _gates(cell, p, k, x, valid), params, k, xs)
        _, hs = _scan_block(a, b, h)
        _, read_vjp = jax.vjp(lambda p, s, x: _readout(cell, p, s, x, valid), params, hs, xs)
        dp_read, g_hs, dx_read = read_vjp(g_y)
        # The adjoint recurrence, backwards through the block: lam_t = g_t + a_{t+1} lam_t+1,
        # started from dh_end at the block's last step.
        a_next = jnp.concatenate([a[1:], jnp.ones_like(a[:1])])
        _, lam = lax.scan(
            lambda lam, ag: (ag[0] * lam + ag[1],) * 2, dh_end, (a_next, g_hs), reverse=True
        )
        h_prev = jnp.concatenate([h[None], hs[:-1]])
        dp_gates, dk, dx_gates = gates_vjp((lam * h_prev, lam))
        # project is linear: its VJP is the two GEMMs dW = x^T dk, dx = dk W^T.
        dp_proj, dx_proj = jax.vjp(lambda p, x: cell.project(p, x), params, xs)[1](dk)
        dparams = jax.tree.map(
            lambda s, *d: s + sum(x.astype(s.dtype) for x in d),
            dparams,
            dp_read,
            dp_gates,
            dp_proj,
        )
        return (a[0] * lam[0], dparams), dx_read + dx_gates + dx_proj

    body = jax.checkpoint(body, prevent_cse=False)  # see jvp_from_vjp
    (dh0, dparams), dxs = lax.scan(body, (g_last, acc), (xs_b, valid_b, h_in, g_ys), reverse=True)
    dparams = jax.tree.map(lambda d, p: d.astype(p.dtype), dparams, params)
    return dparams, dxs, dh0, None


def _blocked_scan_jvp(cell, primals, tangents):
    out, res = _blocked_scan_fwd(cell, *primals)
    # valid_b (last) has no tangent and no cotangent.
    bwd = lambda cts: _blocked_scan_bwd(cell, res, cts)[:3]
    return out, jvp_from_vjp(bwd, out, tangents[:3])


_blocked_scan.defjvp(_blocked_scan_jvp, symbolic_zeros=True)
