"""`linear_scan`: the one primitive for linear recurrences h_t = a_t * h_{t-1} + b_t.

Three ways to run it (same values): a sequential `lax.scan`, `lax.associative_scan`
(log-depth, parallel over time), and a chunked scan (associative within chunks of
`chunk_size` steps, sequential across chunks). A hand-written backward pass runs the
adjoint recurrence with the same primitive, in the other direction (a custom JVP whose
tangent is that pass transposed, so forward mode works too: `jrnn._ops.jvp_from_vjp`).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from jrnn._checks import check_bool, check_choice, check_int, check_lengths, shape_error
from jrnn._ops import jvp_from_vjp, to_varying, varying_axes

METHODS = ("sequential", "associative", "chunked")
# Steps per chunk of the chunked method when the caller does not choose (see _choose_method).
DEFAULT_CHUNK_SIZE = 64


def linear_scan(
    a,
    b,
    h0=None,
    *,
    lengths=None,
    mask=None,
    reverse=False,
    time_major=False,
    method=None,
    chunk_size=None,
):
    """The linear recurrence h_t = a_t ⊙ h_{t-1} + b_t over the time axis.

    Args:
      a: (B, T, *F) (time_major: (T, B, *F)), float32, bfloat16, float16, float64 or
        complex; the same dtype as `b`, and the same shape or broadcastable to it with
        the same number of axes (an axis of size 1 stands for b's size, e.g. a
        (1, 1, F) decay shared over batch and time).
      b: (B, T, *F) (time_major: (T, B, *F)), the inputs.
      h0: (B, *F) initial state, b's dtype; default zeros.
      lengths: (B,) int, valid steps per sequence (right padding), 0 <= lengths <= T.
      mask: (B, T) bool ((T, B) when `time_major`), True at valid steps; may pad on
        either side. Give `lengths` or `mask`, not both.
      reverse: process each sequence's valid steps last to first (as `jrnn.unroll`):
        h_t = a_t ⊙ h_{t+1} + b_t; outputs stay aligned with their input positions.
      time_major: layout of `a`, `b`, `mask` and the returned `hs`.
      method: "sequential" (`lax.scan`), "associative" (`lax.associative_scan`,
        log2(T) parallel levels), "chunked" (associative within chunks of `chunk_size`
        steps, sequential across chunks), or None to choose by backend and size (see
        `_choose_method`: sequential on CPU, associative on GPU/TPU). All give the
        same values up to rounding.
      chunk_size: steps per chunk of the chunked method (default 64).

    A masked step is the identity step (a = 1, b = 0): the carry passes through it
    unchanged and its output is zero, so the final carry is the state after each
    sequence's last valid step (h0 where a sequence has none), exactly as `jrnn.unroll`.
    The state accumulates in a's and b's dtype, except bfloat16/float16, which
    accumulate in float32 (rounded back on output).

    The gradient is hand-written: with g_t = dL/dh_t (plus dL/dh_last at the last
    step), the adjoint λ_t = g_t + a_{t+1} ⊙ λ_{t+1} is the same recurrence run in the
    other direction, and db_t = λ_t, da_t = λ_t ⊙ h_{t-1}, dh0 = a_1 ⊙ λ_1 (JAX's
    unconjugated cotangents for complex inputs). Forward-mode autodiff (`jax.jvp`,
    `jax.jacfwd`, `jax.linearize`) runs its transpose (see `jrnn._ops.jvp_from_vjp`).

    Returns:
      (h_last, hs): h_last (B, *F), the state after each sequence's last processed
      valid step; hs (B, T, *F) (time-major if asked), h_t at valid steps and zero at
      masked ones.

    Example:
      a = jax.nn.sigmoid(jax.random.normal(key, (8, 20, 32)))   # decays in (0, 1)
      h_last, hs = jrnn.linear_scan(a, (1 - a) * xs, lengths=lengths)
    """
    a, b = jnp.asarray(a), jnp.asarray(b)
    layout = "(T, B, *F)" if time_major else "(B, T, *F)"
    time_major = check_bool("time_major", time_major)
    reverse = check_bool("reverse", reverse)
    if b.ndim < 2:
        raise shape_error("b", b.shape, f"{layout}: at least a batch and a time axis")
    if not _is_float(b.dtype):
        raise TypeError(f"b: got dtype {b.dtype}, expected a floating-point or complex array")
    if a.dtype != b.dtype:
        raise TypeError(f"a: got dtype {a.dtype}, expected b's dtype {b.dtype}")
    if a.ndim != b.ndim or any(m not in (1, n) for m, n in zip(a.shape, b.shape)):
        raise shape_error(
            "a", a.shape, f"b's shape {tuple(b.shape)} {layout}, or 1 on axes it shares"
        )
    if method is not None:
        check_choice("method", method, METHODS)
    chunk_size = check_int("chunk_size", chunk_size, minimum=1, allow_none=True)

    a = jnp.broadcast_to(a, b.shape)
    if not time_major:
        a, b = jnp.swapaxes(a, 0, 1), jnp.swapaxes(b, 0, 1)
    steps, batch, features = b.shape[0], b.shape[1], b.shape[2:]
    if h0 is None:
        h0 = jnp.zeros(b.shape[1:], b.dtype)
    else:
        h0 = jnp.asarray(h0)
        if h0.shape != b.shape[1:]:
            raise shape_error("h0", h0.shape, f"{tuple(b.shape[1:])} = (B, *F) to match b")
        if h0.dtype != b.dtype:
            raise TypeError(f"h0: got dtype {h0.dtype}, expected b's dtype {b.dtype}")

    valid = _time_major_mask(lengths, mask, steps, batch, time_major)
    if valid is not None:
        valid = valid.reshape(valid.shape + (1,) * len(features))
        a = jnp.where(valid, a, jnp.ones((), a.dtype))
        b = jnp.where(valid, b, jnp.zeros((), b.dtype))

    out_dtype = b.dtype
    if out_dtype in (jnp.bfloat16, jnp.float16):
        # Few mantissa bits: rounding every step compounds over T steps; accumulating in
        # float32 costs two casts.
        a, b, h0 = a.astype(jnp.float32), b.astype(jnp.float32), h0.astype(jnp.float32)
    # Inside shard_map: the scan's carry h0 and every primal of its custom JVP vary over
    # the same mesh axes (a zero h0 or a decay shared over the batch would not).
    a, b, h0 = to_varying((a, b, h0), varying_axes(a, b, h0))
    if method is None:
        method = _choose_method(jax.default_backend(), steps)
    if steps == 0:
        h_last, hs = h0, b
    else:
        h_last, hs = _scan(a, b, h0, reverse, method, chunk_size or DEFAULT_CHUNK_SIZE)
    if valid is not None:
        hs = jnp.where(valid, hs, jnp.zeros((), hs.dtype))
    h_last, hs = h_last.astype(out_dtype), hs.astype(out_dtype)
    return h_last, hs if time_major else jnp.swapaxes(hs, 0, 1)


def _choose_method(backend: str, steps) -> str:
    """The method `linear_scan` runs when the caller does not choose one.

    On XLA:CPU the sequential scan wins at every size measured: the associative scan does
    ~2x the multiply-adds in log2(T) levels of strided slices that each write a whole
    (T, B, F) buffer, and the 2 cores cannot run the parallel levels side by side.
    Measured on the 2-core CI machine (AMD EPYC; B=16 F=64 float32, a in (0, 1); median
    of 7 interleaved rounds of jitted calls, ms, forward / value-and-grad w.r.t. a and b):
      T     sequential    associative   chunked(64)    chunked(256)
      64    0.16 / 0.29   0.23 / 0.33
      128   0.31 / 0.50   0.45 / 0.74
      256   0.34 / 0.54   0.51 / 1.15   0.60 / 1.37    0.80 / 1.35
      512   0.69 / 1.04   1.08 / 3.12
      1024  2.67 / 4.53   3.56 / 7.75   4.41 / 10.75   4.83 / 11.19
      4096  33.7 / 40.2   40.5 / 70.5   44.8 / 79.0    49.5 / 87.4
    (Earlier non-interleaved runs, disturbed by other jobs on the machine, gave the same
    order at T >= 1024 and noise at T=256.)
    On GPU/TPU a sequential scan pays a kernel launch (several µs) per step while the
    associative scan's log2(T) levels are each one wide elementwise kernel, so the
    associative scan is chosen there; this is not measured yet (no accelerator was
    available to this work), and `steps` is where a measured size threshold would go.
    """
    del steps  # every size measured gave the same answer (see above)
    return "sequential" if backend == "cpu" else "associative"


def _is_float(dtype) -> bool:
    return jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.complexfloating)


def _time_major_mask(lengths, mask, steps, batch, time_major):
    """(T, B) bool, True at valid steps, or None when every step is valid."""
    if lengths is not None and mask is not None:
        raise ValueError("lengths, mask: got both, expected at most one of them")
    if lengths is not None:
        lengths = check_lengths("lengths", lengths, (batch,), steps, "the number of time steps")
        return jnp.arange(steps)[:, None] < lengths[None, :]
    if mask is not None:
        mask = jnp.asarray(mask)
        if not (mask.dtype == jnp.bool_ or jnp.issubdtype(mask.dtype, jnp.integer)):
            raise TypeError(f"mask: got dtype {mask.dtype}, expected bool (or integer 0/1)")
        expected = (steps, batch) if time_major else (batch, steps)
        if mask.shape != expected:
            names = "(T, B)" if time_major else "(B, T)"
            raise shape_error("mask", mask.shape, f"{expected} = {names} to match b")
        mask = mask.astype(bool)
        return mask if time_major else mask.T
    return None


# ------------------------------------------------------------------ the core, time-major
# a, b (T, *S) of one shape, h0 (*S), T >= 1; every step valid (masking is done outside,
# as identity steps, so autodiff of jnp.where gives masked steps zero gradients).


# A custom JVP whose tangent is the transpose of the hand-written backward `_scan_bwd`
# (see `jvp_from_vjp`): forward mode works and reverse mode runs `_scan_bwd`.
@functools.partial(jax.custom_jvp, nondiff_argnums=(3, 4, 5))
def _scan(a, b, h0, reverse, method, chunk_size):
    return _run(a, b, h0, reverse, method, chunk_size)


def _scan_fwd(a, b, h0, reverse, method, chunk_size):
    h_last, hs = _run(a, b, h0, reverse, method, chunk_size)
    return (h_last, hs), (a, h0, hs)


def _scan_bwd(reverse, method, chunk_size, residuals, cotangents):
    a, h0, hs = residuals
    g_last, gs = cotangents
    # In processing order, step s follows step s-1; the adjoint runs the other way:
    # λ_s = g_s + a_{s+1} λ_{s+1}, started from dL/dh_last (h_last is the last h).
    one = jnp.ones_like(a[:1])
    if reverse:  # processing order T-1, ..., 0: the step after t is t-1, before it t+1
        a_next = jnp.concatenate([one, a[:-1]])
        h_prev = jnp.concatenate([hs[1:], h0[None]])
        first = -1
    else:
        a_next = jnp.concatenate([a[1:], one])
        h_prev = jnp.concatenate([h0[None], hs[:-1]])
        first = 0
    _, lam = _scan(a_next, gs, g_last, not reverse, method, chunk_size)
    return lam * h_prev, lam, a[first] * lam[first]


def _scan_jvp(reverse, method, chunk_size, primals, tangents):
    out, res = _scan_fwd(*primals, reverse, method, chunk_size)
    bwd = lambda cts: _scan_bwd(reverse, method, chunk_size, res, cts)
    return out, jvp_from_vjp(bwd, out, tangents)


_scan.defjvp(_scan_jvp, symbolic_zeros=True)


def _run(a, b, h0, reverse, method, chunk_size):
    if method == "sequential":
        return _sequential(a, b, h0, reverse)
    if method == "associative":
        return _associative(a, b, h0, reverse)
    return _chunked(a, b, h0, reverse, chunk_size)


def _sequential(a, b, h0, reverse):
    def step(h, ab):
        a_t, b_t = ab
        h = a_t * h + b_t
        return h, h

    return lax.scan(step, h0, (a, b), reverse=reverse)


def _combine(earlier, later):
    """Composition of two affine steps h -> a h + b, `earlier` applied first."""
    a1, b1 = earlier
    a2, b2 = later
    return a2 * a1, a2 * b1 + b2


def _associative(a, b, h0, reverse):
    first, last = (-1, 0) if reverse else (0, -1)
    # Fold h0 into the first processed step, so that the scan's prefix b is h itself.
    b = b.at[first].add(a[first] * h0)
    _, hs = lax.associative_scan(_combine, (a, b), reverse=reverse, axis=0)
    return hs[last], hs


def _chunked(a, b, h0, reverse, chunk_size):
    steps, shape = a.shape[0], a.shape[1:]
    size = min(chunk_size, steps)
    chunks = -(-steps // size)
    pad = chunks * size - steps
    if pad:  # identity steps: they change no state, wherever they are processed
        fill = [(0, pad)] + [(0, 0)] * len(shape)
        a = jnp.pad(a, fill, constant_values=1)
        b = jnp.pad(b, fill)
    a = a.reshape((chunks, size) + shape)
    b = b.reshape((chunks, size) + shape)
    # Within each chunk, all chunks at once: the composed steps from the chunk's start,
    # i.e. h = prod_a * h_in + h_from_zero.
    prod_a, from_zero = lax.associative_scan(_combine, (a, b), reverse=reverse, axis=1)
    end = 0 if reverse else -1

    def across(h, ab):  # one step per chunk: the state entering it -> leaving it
        a_c, b_c = ab
        return a_c * h + b_c, h

    h_last, h_in = lax.scan(across, h0, (prod_a[:, end], from_zero[:, end]), reverse=reverse)
    hs = prod_a * h_in[:, None] + from_zero
    return h_last, hs.reshape((chunks * size,) + shape)[:steps]
