"""`unroll`: the one engine that runs any cell over time, and `bidirectional_unroll`, the
one core of every bidirectional RNN (`jrnn.bidirectional` and `jrnn.layers.Bidirectional`);
`linear_scan` (from `jrnn._linear_scan`), the one primitive for linear recurrences.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from jax.export import is_symbolic_dim

from jrnn._checks import check_choice, check_int, check_lengths, shape_error
from jrnn._fused import fused_unroll
from jrnn._linear_scan import linear_scan as linear_scan  # re-exported: the engine's API
from jrnn._linear_unroll import linear_unroll
from jrnn._ops import to_varying, tree_where, varying_axes, zero_where_masked
from jrnn.cells import (
    MERGE_MODES,
    BidirectionalCells,
    Cell,
    StackedBidirectional,
    StackedCell,
    expected_input_size,
    is_fusable,
    is_linear,
    merge,
)
from jrnn.cells.stacked import check_per_layer, output_size_of


def unroll(
    cell,
    params,
    xs,
    *,
    carry=None,
    lengths=None,
    mask=None,
    reverse=False,
    time_major=False,
    unroll=None,
    remat=False,
    fast=True,
):
    """Run `cell` over the time axis of `xs` with `lax.scan`.

    Args:
      cell: a cell (`jrnn.cells.RecurrentCell`: `init`, `initial_carry(batch_size)`,
        `__call__(params, carry, x_t) -> (carry, y_t)`); `FusedCell`s (LSTM, GRU,
        SimpleRNN) take the fused fast path, `LinearCell`s (MinGRU, MinLSTM, LRU,
        RG-LRU) one input GEMM over many steps and `linear_scan` (on CPU in time
        blocks for long sequences; see `jrnn._linear_unroll`), a `StackedCell` runs
        layer by layer. Also a `jrnn.bidirectional(...)` or
        `jrnn.stack_bidirectional(...)` pair of cells (carry (forward, backward); ys
        merged, see `bidirectional_unroll`).
      params: the cell's parameters.
      xs: (B, T, I), or (T, B, I) with `time_major=True`, or (T, I) unbatched;
        floating. A built-in cell casts them to its `input_dtype` (its compute dtype,
        else its state's: float32, or float64 for a float64 cell), as Keras layers do.
      carry: initial carry (default `cell.initial_carry(B)`, zeros). Given in another
        floating dtype than the cell's state (e.g. bfloat16), it is cast to the state's
        dtype, and the final carry comes back in the dtype given.
      lengths: (B,) int (a scalar for unbatched xs), valid steps per sequence (right
        padding), 0 <= lengths <= T. Checked on the host when concrete; under `jit` the
        values cannot be read, and out-of-range ones act as 0 or T.
      mask: (B, T) bool ((T, B) when `time_major`, (T,) unbatched), True at valid steps;
        may pad on either side. Give `lengths` or `mask`, not both.
      reverse: process each sequence's valid steps last to first. Outputs stay aligned
        with their input positions (with right padding this is `tf.reverse_sequence`,
        run, reverse back), unlike Keras `go_backwards` and Flax `nn.RNN(reverse=True)`,
        which return them in processing order.
      time_major: layout of `xs`, `mask` and the returned `ys`.
      unroll: time steps per scan iteration (same result for any value); True unrolls
        every step (no loop: long compiles for long sequences) and False is 1, as for
        `lax.scan`. None picks
        by backend: 1 on CPU, where XLA:CPU runs loop bodies op by op and a longer body
        only costs more; 8 on GPU/TPU, where it halves the per-step loop overhead
        (H100, LSTM train step: B=16 T=1024 H=64 25.0 -> 10.9 ms; B=64 T=128 H=256
        4.0 -> 2.3 ms). A symbolic number of steps (`jrnn.export`) runs with 1.
      remat: for long sequences: the backward pass keeps only the carries (T, B, H)
        and recomputes each step's gates from them, instead of keeping per-step gate
        buffers (T, B, G*H). At B=8 T=10,000 I=H=32 this takes XLA's temporary memory
        for an LSTM's gradient from 127 to 39 MiB; the train step is slower (see the
        README's benchmark section).
      fast: use the engine's fast paths for built-in cells (fused and linear cells:
        hand-written backward passes); False runs the plain `lax.scan` over the cell's
        step, differentiated by JAX (the same values). Every JAX transformation works
        on both: `grad`/`vjp` (on the fast path it runs the hand-written backward, also
        under `jit`, `vmap`, `checkpoint` and `shard_map`), forward mode (`jvp`,
        `jacfwd`, `linearize`: the fast path's tangent is its backward pass
        transposed), and their compositions: Hessians (`jax.hessian`, forward over
        reverse), Hessian-vector products and grad of grad. Only first-order reverse
        mode is tuned for speed: a `jvp` on the fast path runs the forward pass and the
        transposed backward, ~1.5x the plain path's `jvp` (LSTM, B=32 T=100 H=128,
        CPU), so `fast=False` suits code that is mostly forward mode.

    Inside `jax.shard_map` (default `check_vma=True`) the carry and params are cast to
    vary over the mesh axes that xs (or mask, lengths, params, carry) vary over, so a
    replicated `P()` params tree and zero carry work as they are; the gradient of a
    replicated param is then summed over the devices (`psum`), as JAX's own autodiff
    does, so `grad` of a `psum`'d loss inside shard_map and `grad` of a shard_map'd
    function equal the unsharded gradient.

    Returns:
      (carry, ys): the final carry (the state after each sequence's last valid step;
      the initial carry where a sequence has no valid step) and the outputs ys
      (B, T, H) (time-major if asked), zero at masked steps (Keras's
      `zero_output_for_mask=True`; TF `dynamic_rnn`).

    Example:
      cell = jrnn.LSTMCell(64)
      params = cell.init(jax.random.key(0), 16)
      (h, c), ys = jrnn.unroll(cell, params, xs, lengths=lengths)   # xs: (8, 20, 16)
    """
    _check_runnable("cell", cell)
    return _unroll_checked(
        cell,
        params,
        xs,
        carry,
        lengths=lengths,
        mask=mask,
        reverse=reverse,
        time_major=time_major,
        unroll=unroll,
        remat=remat,
        fast=fast,
    )


def bidirectional_unroll(
    forward,
    backward,
    params,
    xs,
    *,
    carry=None,
    lengths=None,
    mask=None,
    merge_mode="concat",
    reverse=False,
    time_major=False,
    unroll=None,
    remat=False,
    fast=True,
):
    """Run `forward` over each sequence in order and `backward` over its valid steps in
    reverse, and merge the outputs (both aligned with the input positions).

    The one core of bidirectional RNNs: `jrnn.unroll` runs `jrnn.bidirectional(...)`
    pairs with it, and the layer `jrnn.layers.Bidirectional` calls it.

    Args:
      forward, backward: cells.
      params: {"forward": forward params, "backward": backward params}.
      xs: (B, T, I) as for `unroll`, or a pair (xs_forward, xs_backward) when the two
        directions read different inputs (e.g. each with its own dropout mask).
      carry: (forward carry, backward carry); default zeros.
      lengths, mask, time_major, unroll, remat, fast: as for `unroll`, for both.
      merge_mode: "concat", "sum", "mul", "ave", or None for the pair (y_fw, y_bw).
      reverse: swap the directions: `forward` runs reversed and `backward` in order.

    Returns:
      ((forward carry, backward carry), ys): ys (B, T, merged width) (time-major if
      asked), zero at masked steps. The backward carry is its state after each
      sequence's first valid step.
    """
    _check_runnable("forward", forward)
    _check_runnable("backward", backward)
    check_choice("merge_mode", merge_mode, MERGE_MODES)
    _check_bidirectional_params("params", params)
    xs_fw, xs_bw = xs if isinstance(xs, (tuple, list)) else (xs, xs)
    if carry is not None and not (isinstance(carry, (tuple, list)) and len(carry) == 2):
        raise TypeError(
            f"carry: got {type(carry).__name__}, expected a pair (forward carry, backward carry)"
        )
    c_fw, c_bw = (None, None) if carry is None else carry
    shared = dict(
        lengths=lengths, mask=mask, time_major=time_major, unroll=unroll, remat=remat, fast=fast
    )
    c_fw, y_fw = _unroll_checked(forward, params["forward"], xs_fw, c_fw, reverse=reverse, **shared)
    c_bw, y_bw = _unroll_checked(
        backward, params["backward"], xs_bw, c_bw, reverse=not reverse, **shared
    )
    return (c_fw, c_bw), merge(merge_mode, y_fw, y_bw)


def _unroll_checked(
    cell, params, xs, carry, *, lengths, mask, reverse, time_major, unroll, remat, fast
):
    """`unroll` itself, callable from functions whose `unroll=` keyword hides it."""
    xs = jnp.asarray(xs)
    if xs.ndim not in (2, 3):
        layout = "(T, B, I)" if time_major else "(B, T, I)"
        raise shape_error("xs", xs.shape, f"{layout}, or (T, I) for one unbatched sequence")
    if not jnp.issubdtype(xs.dtype, jnp.floating):
        raise TypeError(f"xs: got dtype {xs.dtype}, expected a floating-point array")
    batch_major = xs.ndim == 3 and not time_major
    xs_tm = jnp.swapaxes(xs, 0, 1) if batch_major else xs
    steps, batch_shape = xs_tm.shape[0], xs_tm.shape[1:-1]
    if isinstance(unroll, bool):  # lax.scan's meaning: True unrolls every step, False none
        unroll = steps if unroll and not is_symbolic_dim(steps) and steps > 0 else 1
    unroll = check_int("unroll", unroll, minimum=1, allow_none=True)
    if unroll is None:
        unroll = default_unroll(jax.default_backend())
    if is_symbolic_dim(steps):
        # A symbolic length (jax.export's time axis): lax.scan cannot split a loop of
        # unknown length into unrolled blocks; one step per iteration is the same result.
        unroll = 1

    mask_tm = _time_major_mask(lengths, mask, steps, batch_shape, batch_major)
    _check_params(cell, params, "params", xs_tm.shape[-1])
    given = None
    if carry is None:
        carry = cell.initial_carry(batch_shape[0] if batch_shape else None)
    else:
        given, carry = carry, _check_carry(cell, carry, batch_shape)

    carry, ys = _run(cell, params, xs_tm, carry, mask_tm, reverse, int(unroll), remat, fast)
    if given is not None:  # the final carry in the dtypes the caller's carry had
        carry = jax.tree.map(lambda c, g: c.astype(jnp.result_type(g)), carry, given)
    if batch_major:
        ys = jax.tree.map(lambda y: jnp.swapaxes(y, 0, 1), ys)  # a pair with merge_mode None
    return carry, ys


def default_unroll(backend: str) -> int:
    """Scan steps per loop iteration when the caller does not choose (see `unroll`):
    1 for "cpu", 8 for an accelerator backend ("gpu", "cuda", "rocm", "tpu", "METAL",
    or a plugin's name, as `jax.default_backend()` gives them)."""
    if not isinstance(backend, str):
        raise TypeError(
            f"backend: got {backend!r} of type {type(backend).__name__}, expected a platform "
            f"name such as jax.default_backend()"
        )
    return 1 if backend == "cpu" else 8


def _run(cell, params, xs, carry, mask, reverse, unroll, remat, fast):
    """Dispatch on the cell: stacks layer by layer, bidirectional pairs through
    `bidirectional_unroll`, linear-recurrence cells by `linear_scan`, fused cells fast,
    others by scan."""
    if isinstance(cell, (StackedCell, StackedBidirectional)):
        # Layer k+1 at step t needs only layer k's output at t, so running whole layers
        # in turn is the same computation and lets every layer use its fast path.
        layers = cell.cells if isinstance(cell, StackedCell) else cell.layers
        new = []
        for layer, p, k in zip(layers, params, carry):
            k, xs = _run(layer, p, xs, k, mask, reverse, unroll, remat, fast)
            new.append(k)
        return tuple(new), xs
    if isinstance(cell, BidirectionalCells):
        # Already validated and time-major: the core re-checks cheaply.
        return bidirectional_unroll(
            cell.forward,
            cell.backward,
            params,
            xs,
            carry=carry,
            mask=mask,
            merge_mode=cell.merge_mode,
            reverse=reverse,
            time_major=True,
            unroll=unroll,
            remat=remat,
            fast=fast,
        )
    if isinstance(cell, Cell):  # Keras casts a layer's inputs to its compute dtype
        xs = xs.astype(cell.input_dtype)
    if fast and is_linear(cell):
        return linear_unroll(cell, params, xs, carry, mask, reverse=reverse, remat=remat)
    if fast and is_fusable(cell):
        return fused_unroll(
            cell, params, xs, carry, mask, reverse=reverse, unroll=unroll, remat=remat
        )
    return scan_unroll(cell, params, xs, carry, mask, reverse=reverse, unroll=unroll, remat=remat)


def scan_unroll(cell, params, xs, carry, mask, *, reverse=False, unroll=1, remat=False):
    """Reference path: `lax.scan` over the cell's step, differentiated by autodiff.

    xs (T, *B, I), mask (T, *B) or None. Used for user cells, and by the tests as the
    plain reference for the fast path.
    """
    unroll = check_int("unroll", unroll, minimum=1)
    # Inside shard_map: the carry must vary over the mesh axes the step's output does.
    params, carry = to_varying((params, carry), varying_axes(params, xs, carry, mask))

    def step(carry, inp):
        x_t, m_t = inp
        new, y = cell(params, carry, x_t)
        if m_t is not None:
            new, y = tree_where(m_t, new, carry), zero_where_masked(m_t, y)
        return new, y

    if remat:
        step = jax.checkpoint(step)
    return lax.scan(step, carry, (xs, mask), reverse=reverse, unroll=unroll)


def _time_major_mask(lengths, mask, steps, batch_shape, batch_major):
    if lengths is not None and mask is not None:
        raise ValueError("lengths, mask: got both, expected at most one of them")
    if lengths is not None:
        lengths = check_lengths("lengths", lengths, batch_shape, steps, "the number of time steps")
        t = jnp.arange(steps).reshape((steps,) + (1,) * len(batch_shape))
        return t < lengths[None]
    if mask is not None:
        mask = jnp.asarray(mask)
        if not (mask.dtype == jnp.bool_ or jnp.issubdtype(mask.dtype, jnp.integer)):
            raise TypeError(f"mask: got dtype {mask.dtype}, expected bool (or integer 0/1)")
        expected = batch_shape + (steps,) if batch_major else (steps,) + batch_shape
        if mask.shape != expected:
            names = "(B, T)" if batch_major else "(T, B)" if batch_shape else "(T,)"
            raise shape_error("mask", mask.shape, f"{expected} = {names} to match xs")
        mask = mask.astype(bool)
        return jnp.swapaxes(mask, 0, 1) if batch_major else mask
    return None


def _check_runnable(name: str, cell) -> None:
    """What the engine calls: a cell (any callable step with `initial_carry`, such as the
    layers' dropout wrapper) or a pair of cells from `jrnn.bidirectional`."""
    if not (callable(cell) or isinstance(cell, (BidirectionalCells, StackedBidirectional))):
        raise TypeError(
            f"{name}: got {cell!r} of type {type(cell).__name__}, expected a cell such as "
            f"jrnn.LSTMCell(32) (or jrnn.bidirectional/stack of cells)"
        )


def _check_bidirectional_params(name: str, params) -> None:
    if not isinstance(params, dict) or set(params) != {"forward", "backward"}:
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise TypeError(
            f"{name}: got {got}, expected a dict with keys 'forward' and 'backward' (as "
            f"from the bidirectional cells' init)"
        )


def _check_params(cell, params, name, size, reads_xs=True):
    """params of `cell`'s structure (one entry per layer of a stack, a forward/backward
    dict for a pair), each layer's kernel made for inputs of width `size` (what the layer
    below gives): a stack given too few params would otherwise run fewer layers."""
    if isinstance(cell, (StackedCell, StackedBidirectional)):
        layers = cell.cells if isinstance(cell, StackedCell) else cell.layers
        check_per_layer(name, params, len(layers))
        for k, (layer, p) in enumerate(zip(layers, params)):
            _check_params(layer, p, f"{name}[{k}]", size, reads_xs and k == 0)
            size = output_size_of(layer, p, size)
        return
    if isinstance(cell, BidirectionalCells):
        _check_bidirectional_params(name, params)
        _check_params(cell.forward, params["forward"], f"{name}['forward']", size, reads_xs)
        _check_params(cell.backward, params["backward"], f"{name}['backward']", size, reads_xs)
        return
    if isinstance(cell, Cell) and not (isinstance(params, dict) and cell.input_kernel in params):
        raise TypeError(
            f"{name}: got {type(params).__name__}, expected the dict of arrays from "
            f"{type(cell).__name__}.init"
        )
    expected = expected_input_size(cell, params)
    if expected is not None and expected != size:
        if reads_xs:
            raise ValueError(
                f"xs: got input size {size} (last axis), expected {expected} to match the "
                f"cell's params (kernel rows)"
            )
        raise ValueError(
            f"{name}['kernel']: got {expected} rows, expected {size}, the output size of the "
            f"layer below"
        )


def _check_carry(cell, carry, batch_shape):
    if isinstance(cell, (StackedCell, StackedBidirectional)):
        layers = cell.cells if isinstance(cell, StackedCell) else cell.layers
        check_per_layer("carry", carry, len(layers))
    want = jax.eval_shape(lambda: cell.initial_carry(batch_shape[0] if batch_shape else None))
    got_tree = jax.tree.structure(carry)
    if got_tree != jax.tree.structure(want):
        raise TypeError(
            f"carry: got structure {got_tree}, expected {jax.tree.structure(want)} "
            f"(as from cell.initial_carry)"
        )
    for g, w in zip(jax.tree.leaves(carry), jax.tree.leaves(want)):
        if jnp.shape(g) != w.shape:
            raise shape_error("carry", jnp.shape(g), f"{w.shape} for batch shape {batch_shape}")
        got = jnp.result_type(g)
        complex_ = jnp.issubdtype(w.dtype, jnp.complexfloating)
        if not (
            jnp.issubdtype(got, jnp.inexact)
            and jnp.issubdtype(got, jnp.complexfloating) == complex_
        ):
            kind = "complex" if complex_ else "floating-point"
            raise TypeError(
                f"carry: got dtype {got}, expected a {kind} carry ({w.dtype}, as from "
                f"cell.initial_carry)"
            )
    # The state runs in the cell's own dtype (float32 for a bfloat16 cell): a carry
    # given in another floating dtype is cast on the way in, and back on the way out.
    return jax.tree.map(lambda g, w: jnp.asarray(g).astype(w.dtype), carry, want)
