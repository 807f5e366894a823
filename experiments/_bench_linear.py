"""The benchmark's `linear` rows: the linear-recurrence cells against the classic ones.

`python experiments/benchmark.py --rows linear` (wired in benchmark.py). For each config
(B, T, I, H) of `--linear-configs` (default B=16, I=H=64, T = 1k, 4k, 16k):

* baselines (cells gru, lstm): jrnn's GRU and LSTM (`jrnn.unroll` with the built-in
  cells, exactly as the speed rows time jrnn) and PyTorch's `torch.nn.GRU` /
  `torch.nn.LSTM` (as the speed rows' torch peer: CUDA when JAX runs on a GPU, else CPU
  with every core);
* each cell of `--linear-cells` (MinGRU, MinLSTM, LRU, RG-LRU; LRU and RG-LRU only when
  I == H) in these variants of the engine's path (`jrnn._linear_unroll.linear_unroll`):
    default          `jrnn.unroll(cell, params, xs)` as a user calls it (on XLA:CPU
                     time blocks for long sequences, as `choose_block` sizes them: 128
                     steps at B=16; elsewhere all steps at once with the backend's
                     default scan method);
    blocked-128      time blocks of 128 steps, explicitly (block=128);
    all-sequential   all steps at once (one GEMM), `linear_scan` method "sequential";
    all-associative  ... method "associative";
    all-chunked      ... method "chunked" (chunks of 64 steps).
  The variants take batch-major xs and swap to time-major and back as `jrnn.unroll` does,
  so every row's apply function has the same signature and cost outside the recurrence.

Every row goes through the speed rows' `jax_calls` (jitted forward; jitted
value_and_grad of mean(ys**2) + one optax Adam(1e-3) step) or `torch_peer`. Timing is
interleaved: all rows of one config are built and called once (reported as "compile s"),
then `--warmup` untimed rounds, then timed rounds, each round calling every row once in
a shuffled order, so a drift in the machine's load hits every row alike; we report each row's median
ms. A slow row (one call > `--linear-budget` / `--repeats` seconds, e.g. the classic cells
at T=16k on a CPU) gets fewer timed calls, at least 3, so a config finishes in minutes.
Ratios are the jrnn GRU row's ms / this row's ms (> 1: faster than jrnn's GRU).

Results: runs/bench/linear.csv, linear.json (with machine info) and linear.md.
"""

from __future__ import annotations

import math
import random
import statistics
import time

import jax
import jax.numpy as jnp

import jrnn
from jrnn._linear_unroll import linear_unroll

DEFAULT_CONFIGS = "16x1024x64x64,16x4096x64x64,16x16384x64x64"
QUICK_CONFIGS = "2x16x8x8"
CELLS = {
    "mingru": jrnn.MinGRUCell,
    "minlstm": jrnn.MinLSTMCell,
    "lru": jrnn.LRUCell,
    "rglru": jrnn.RGLRUCell,
}
SQUARE_ONLY = ("lru", "rglru")  # the input width must equal the units
BLOCK = 128  # steps per time block of the explicit blocked variant
# variant -> linear_unroll's (block, method); "default" goes through jrnn.unroll.
VARIANTS = {
    "default": None,
    f"blocked-{BLOCK}": (BLOCK, None),
    "all-sequential": (None, "sequential"),
    "all-associative": (None, "associative"),
    "all-chunked": (None, "chunked"),
}
CLASSIC = ("gru", "lstm")  # baselines; the ratios need gru
ALL_CELLS = CLASSIC + tuple(CELLS)
MIN_REPEATS = 3


def linear_apply(cell, variant):
    """apply(params, xs (B, T, I)) -> ys (B, T, H) for one variant of the engine's path."""
    if VARIANTS[variant] is None:
        return lambda p, xs: jrnn.unroll(cell, p, xs)[1]
    block, method = VARIANTS[variant]

    def apply(p, xs):
        xs_tm = jnp.swapaxes(xs, 0, 1)
        carry = cell.initial_carry(xs.shape[0])
        _, ys = linear_unroll(cell, p, xs_tm, carry, None, block=block, method=method)
        return jnp.swapaxes(ys, 0, 1)

    return apply


def build_rows(cfg, cells, peers, jax_calls, classic_peers):
    """[(row dict without timings, fwd_call, train_call)] for one config, baselines first."""
    b, t, i, h = cfg
    x = jax.random.normal(jax.random.key(0), (b, t, i), jnp.float32)
    base = dict(B=b, T=t, I=i, H=h)
    rows = []
    for framework in ("jrnn", "torch"):
        if framework not in peers:
            continue
        for kind in (c for c in CLASSIC if c in cells):
            calls = classic_peers[framework](kind, b, t, i, h, x)
            rows.append((dict(base, framework=framework, cell=kind, variant="-"), *calls))
    if "jrnn" not in peers:
        return rows
    for name in (c for c in cells if c in CELLS):
        if name in SQUARE_ONLY and i != h:
            print(f"note: {name} needs I == H; skipping it at {b}x{t}x{i}x{h}")
            continue
        cell = CELLS[name](h)
        params = cell.init(jax.random.key(1), i)
        for variant in VARIANTS:
            calls = jax_calls(linear_apply(cell, variant), params, x)
            rows.append((dict(base, framework="jrnn", cell=name, variant=variant), *calls))
    return rows


def _timed(call):
    t0 = time.perf_counter()
    call()
    return time.perf_counter() - t0


def time_interleaved(calls, warmup, repeats, budget):
    """Per call: (first-call s, median ms, timed calls). One first call each, `warmup`
    untimed rounds, then rounds of every call in turn, in a new order each round (a call
    right after one that freed large buffers paid ~10-50% more in a fixed order here:
    its fresh buffers' page faults, or caches the last call filled); a call whose last warm-up took
    more than budget / repeats s gets max(MIN_REPEATS, budget / that) timed calls."""
    first = [_timed(c) for c in calls]
    last = list(first)
    for _ in range(warmup):
        last = [_timed(c) for c in calls]
    want = [
        repeats
        if s * repeats <= budget
        else max(min(MIN_REPEATS, repeats), min(repeats, int(budget / s)))
        for s in last
    ]
    times = [[] for _ in calls]
    order = list(range(len(calls)))
    rng = random.Random(0)
    for r in range(max(want, default=0)):
        rng.shuffle(order)  # no row always follows the same one (see the docstring)
        for k in order:
            if r < want[k]:
                times[k].append(_timed(calls[k]))
    return [(f, 1e3 * statistics.median(ts), len(ts)) for f, ts in zip(first, times)]


def bench_config(cfg, args, peers, jax_calls, classic_peers):
    """Every row of one config, timed interleaved, with ratios to the jrnn GRU row.

    The JAX rows interleave with each other and the PyTorch rows with each other, but
    the two groups run one after the other: right after a call of the other framework,
    its thread pool still spins on the cores (XLA's and OpenMP's workers busy-wait a
    while before they sleep), which slowed a tiny call ~10-1000x in a probe here."""
    built = build_rows(cfg, args.linear_cells, peers, jax_calls, classic_peers)
    timed = {}
    for group in ("jrnn", "torch"):
        idx = [k for k, c in enumerate(built) if c[0]["framework"] == group]
        for mode, pos in (("fwd", 1), ("train", 2)):
            res = time_interleaved(
                [built[k][pos] for k in idx], args.warmup, args.repeats, args.linear_budget
            )
            for k, r in zip(idx, res):
                timed[k, mode] = r
    rows = []
    for k, (row, _, _) in enumerate(built):
        (f_first, f_ms, f_n), (t_first, t_ms, t_n) = timed[k, "fwd"], timed[k, "train"]
        row.update(
            fwd_ms=f_ms,
            train_ms=t_ms,
            fwd_compile_s=f_first,
            train_compile_s=t_first,
            fwd_calls=f_n,
            train_calls=t_n,
        )
        rows.append(row)
    gru = next(
        (r for r in rows if (r["framework"], r["cell"]) == ("jrnn", "gru")),
        None,
    )
    for r in rows:
        r["gru_fwd_x"] = gru["fwd_ms"] / r["fwd_ms"] if gru else math.nan
        r["gru_train_x"] = gru["train_ms"] / r["train_ms"] if gru else math.nan
    return rows


def label(r):
    return r["cell"] if r["variant"] == "-" else f"{r['cell']} {r['variant']}"


def print_table(rows):
    r0 = rows[0]
    print(f"\nlinear rows B={r0['B']} T={r0['T']} I={r0['I']} H={r0['H']}")
    print(
        f"  {'framework':<9} {'cell / variant':<24} {'fwd ms':>9} {'train ms':>9} "
        f"{'compile s':>11} {'GRU/this fwd':>12} {'GRU/this train':>14}"
    )
    for r in rows:
        compile_s = f"{r['fwd_compile_s']:.2f}/{r['train_compile_s']:.2f}"
        print(
            f"  {r['framework']:<9} {label(r):<24} {r['fwd_ms']:9.2f} {r['train_ms']:9.2f} "
            f"{compile_s:>11} {r['gru_fwd_x']:12.2f} {r['gru_train_x']:14.2f}"
        )
    lin = [r for r in rows if r["variant"] != "-"]
    if lin:
        best = min(lin, key=lambda r: r["train_ms"])
        print(f"  fastest train step: {label(best)} ({best['gru_train_x']:.2f}x jrnn GRU)")


def markdown_table(rows, info):
    """One line per (framework, cell, variant); a column of train ms and GRU/this per T."""
    steps = sorted({r["T"] for r in rows})
    keys = list(dict.fromkeys((r["framework"], r["cell"], r["variant"]) for r in rows))
    by = {(r["framework"], r["cell"], r["variant"], r["T"]): r for r in rows}
    head = ["framework", "cell", "variant"]
    for t in steps:
        head += [f"T={t} fwd ms", f"T={t} train ms", f"T={t} GRU/this"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key in keys:
        cells = list(key)
        for t in steps:
            r = by.get((*key, t))
            if r is None:
                cells += ["-", "-", "-"]
            else:
                cells += [f"{r['fwd_ms']:.1f}", f"{r['train_ms']:.1f}", f"{r['gru_train_x']:.2f}x"]
        lines.append("| " + " | ".join(cells) + " |")
    sizes = sorted({(r["B"], r["I"], r["H"]) for r in rows})
    size = ", ".join(f"B={b} I={i} H={h}" for b, i, h in sizes)
    v = info["versions"]
    note = (
        f"\n{size}; {info['device']} ({info['backend']}, {info['cpu_count']} CPUs), "
        f"jax {v['jax']}, torch {v['torch']}. GRU/this: jrnn GRU's train-step ms / this "
        "row's (> 1: faster than jrnn's GRU). Medians of interleaved rounds.\n"
    )
    return "\n".join(lines) + "\n" + note


def bench_linear(args, *, peers, jax_calls, classic_peers, machine_info, write_results):
    """All linear rows (configs in order, each config's rows interleaved); writes them.

    peers: the available peer names (only "jrnn" and "torch" matter here);
    jax_calls / classic_peers: the speed rows' builders (benchmark.py), so that every row
    is timed the same way; machine_info: () -> the results' meta dict; write_results:
    benchmark.py's writer of the .csv, .json and .md files.
    """
    print(
        f"\nlinear rows on {jax.default_backend()} ({jax.devices()[0].device_kind}); "
        f"cells {', '.join(args.linear_cells)}; variants {', '.join(VARIANTS)}"
    )
    rows = []
    for cfg in args.linear_configs:
        group = bench_config(cfg, args, peers, jax_calls, classic_peers)
        print_table(group)
        rows += group
    write_results(rows, machine_info(), args.out, stem="linear", table=markdown_table)
    return rows
