"""The engine's path for `LinearCell`s: all steps' coefficients at once, then the
elementwise recurrence with `linear_scan`, then all outputs at once."""

from __future__ import annotations

import functools

import jax

from jrnn._linear_scan import linear_scan
from jrnn._ops import zero_where_masked


# One compiled program when called eagerly (op by op, the coefficients, the scan and the
# readout would each compile and dispatch apart); inlined under an enclosing jit.
@functools.partial(jax.jit, static_argnames=("cell", "reverse", "remat"))
def linear_unroll(cell, params, xs, carry, mask, *, reverse=False, remat=False):
    """Run a `LinearCell` over xs (T, *B, I) (time-major; B one axis or none) from
    carry h0 (*B, S), with mask (T, *B) or None: (h_last, ys (T, *B, H)), ys zero at
    masked steps, exactly as `scan_unroll` over the cell's step.

    The (T*B, I) x (I, G*H) input GEMM and the readout run over all steps at once; the
    only sequential work is the elementwise scan. With `remat` the backward pass keeps
    only xs and h0 and recomputes the coefficients and the scan.
    """
    unbatched = xs.ndim == 2
    if unbatched:  # linear_scan wants a batch axis
        xs, carry = xs[:, None], carry[None]
        mask = None if mask is None else mask[:, None]

    def run(params, xs, h0):
        a, b = cell.coefficients(params, xs)
        h_last, hs = linear_scan(a, b, h0, mask=mask, reverse=reverse, time_major=True)
        return h_last, cell.readout(params, hs, xs)

    if remat:
        run = jax.checkpoint(run)
    h_last, ys = run(params, xs, carry)
    if mask is not None:  # the readout of a zero state is not zero (the LRU's skip term)
        ys = zero_where_masked(mask, ys)
    if unbatched:
        h_last, ys = h_last[0], ys[:, 0]
    return h_last, ys
