"""Benchmark jrnn's recurrent layers against Flax, Keras 3 (JAX backend) and PyTorch.

Protocol (all frameworks timed in the same process, float32, identical shapes):

* Cells lstm / gru / rnn; configs (B, T, I, H); inputs xs (B, T, I) -> ys (B, T, H).
* Two modes per framework:
  - fwd:   the full output sequence (JAX: `jit` of the apply function; PyTorch: the
           module under `torch.no_grad()`).
  - train: loss = mean(ys**2), gradients w.r.t. all parameters, one Adam(1e-3) step
           (JAX: one `jit` of value_and_grad + optax.adam update + apply_updates;
           PyTorch: forward, backward, optimizer step, zero_grad).
  Keras runs through `layer.stateless_call` inside the same jitted functions as the
  other JAX peers (no `model.fit`), so it pays no trainer overhead.
* Timing: the first call is timed on its own and reported as "compile s" (for the JAX
  peers this is tracing + XLA compilation + one run; for PyTorch just the first run);
  then `--warmup` untimed calls, then `--repeats` timed calls; we report the median in
  ms. Every call ends with `block_until_ready` (JAX) or `torch.cuda.synchronize` (GPU).
* All peers of one config run back to back, so their ratios compare like with like on a
  machine whose load drifts. Ratios are peer / jrnn: > 1 means jrnn is faster.
* GEMM floor: forward FLOPs F = 2*T*B*(I+H)*G*H (G = 4, 3, 1 gates), train ~ 3F. The
  machine's float32 matmul rate is measured once at start (jitted 2048x2048 `jnp.dot`,
  median of several runs); "floor %" = (FLOPs / rate) / measured time, i.e. the
  fraction of that rate the step achieves.
* On GPU (jax.default_backend() == "gpu") PyTorch runs on CUDA when available.

Results go to runs/bench/results.csv and results.json (with versions and machine info).

Memory rows (`--rows memory`, or `--rows speed,memory` for both): jrnn's gradient
(loss = mean(ys**2), w.r.t. the parameters) at `--memory-configs` (long sequences),
for `--memory-cells`, on the fused fast path and on the plain `lax.scan` path
(`fast=False`), each without and with `remat=True`. Each row runs in a fresh
subprocess, so that its peak RSS is its own: XLA's compiled memory analysis of the
jitted gradient (temp bytes: what it needs beyond its arguments and outputs; argument
and output bytes), the peak RSS (`ru_maxrss`) after compiling and after running it,
and the median ms of `--memory-repeats` calls. Written to runs/bench/memory.csv.

Linear rows (`--rows linear`): the linear-recurrence cells (MinGRU, MinLSTM, LRU,
RG-LRU; `--linear-cells`), in each variant of the engine's path (default, time blocks,
all steps at once with each `linear_scan` method), against jrnn's and PyTorch's GRU and
LSTM at `--linear-configs` (default B=16, I=H=64, T = 1k, 4k, 16k); protocol in
experiments/_bench_linear.py. Written to runs/bench/linear.csv, .json and .md.

Vocabulary rows (`--rows vocab`): a word-level LSTM language model's train step at
`--vocab-sizes` (default 10k, 50k, 200k words) with the full softmax, the sampled softmax
(`--num-sampled`) and the adaptive softmax, beside PyTorch's full and adaptive softmax;
protocol in experiments/_bench_vocab.py. Written to runs/bench/vocab.csv, .json and .md.

    python experiments/benchmark.py --quick
    python experiments/benchmark.py --cells lstm --configs 64x128x256x256 --repeats 20
    python experiments/benchmark.py --rows memory --memory-configs 16x10000x64x64
    python experiments/benchmark.py --rows linear --repeats 5
    python experiments/benchmark.py --rows vocab --vocab-sizes 10000,50000
"""

from __future__ import annotations

import argparse
import csv
import importlib
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jrnn

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _bench_linear, run from anywhere
import _bench_linear  # noqa: E402
import _bench_vocab  # noqa: E402

os.environ["KERAS_BACKEND"] = "jax"  # read when keras is first imported (lazily, below)

GATES = {"lstm": 4, "gru": 3, "rnn": 1}
DEFAULT_CONFIGS = "32x64x128x128,64x128x256x256,16x1024x64x64,64x64x512x512"
QUICK_CONFIGS = "8x32x32x32"
MEMORY_CONFIGS = "8x10000x32x32,16x10000x64x64"
QUICK_MEMORY_CONFIGS = "4x500x16x16"
ROWS = ("speed", "memory", "linear", "vocab")
PEERS = ("jrnn", "flax", "keras", "torch")
OPTIONAL = {"keras": "keras", "torch": "torch"}  # peer -> module it needs
OUT_DIR = Path(__file__).resolve().parent.parent / "runs" / "bench"


# -- timing -----------------------------------------------------------------------------


def time_calls(call, warmup, repeats):
    """(first-call seconds, median ms of `repeats` calls after `warmup` calls)."""
    t0 = time.perf_counter()
    call()
    first = time.perf_counter() - t0
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return first, 1e3 * statistics.median(times)


def gemm_gflops(n=2048, repeats=10):
    """Measured float32 rate of a large jitted matmul, GFLOP/s."""
    ka, kb = jax.random.split(jax.random.key(0))
    a = jax.random.normal(ka, (n, n), jnp.float32)
    b = jax.random.normal(kb, (n, n), jnp.float32)
    dot = jax.jit(jnp.dot)
    _, ms = time_calls(lambda: dot(a, b).block_until_ready(), 2, repeats)
    return 2 * n**3 / (ms * 1e-3) / 1e9


def fwd_gflop(kind, b, t, i, h):
    return 2 * t * b * (i + h) * GATES[kind] * h / 1e9


# -- peers: each returns (fwd_call, train_call), zero-argument functions that block ------


def jax_calls(apply, params, x):
    """Jitted forward and Adam train step for any `apply(params, x) -> ys`."""
    opt = optax.adam(1e-3)
    fwd = jax.jit(apply)

    def loss_fn(p, xs):
        return jnp.mean(apply(p, xs) ** 2)

    @jax.jit
    def train(p, s, xs):
        loss, grads = jax.value_and_grad(loss_fn)(p, xs)
        updates, s = opt.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    state = [params, opt.init(params)]

    def train_call():
        state[:] = jax.block_until_ready(train(*state, x))[:2]

    return lambda: fwd(params, x).block_until_ready(), train_call


def jrnn_peer(kind, b, t, i, h, x):
    cell = {"lstm": jrnn.LSTMCell, "gru": jrnn.GRUCell, "rnn": jrnn.SimpleRNNCell}[kind](h)
    params = cell.init(jax.random.key(1), i)
    return jax_calls(lambda p, xs: jrnn.unroll(cell, p, xs)[1], params, x)


def flax_peer(kind, b, t, i, h, x):
    import flax.linen as nn

    cell = {"lstm": nn.OptimizedLSTMCell, "gru": nn.GRUCell, "rnn": nn.SimpleCell}[kind]
    model = nn.RNN(cell(features=h))
    params = model.init(jax.random.key(1), x)
    return jax_calls(model.apply, params, x)


def keras_peer(kind, b, t, i, h, x):
    import keras

    layer = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "rnn": keras.layers.SimpleRNN}
    layer = layer[kind](h, return_sequences=True)
    layer.build((b, t, i))
    non_trainable = [v.value for v in layer.non_trainable_variables]

    def apply(trainable, xs):
        return layer.stateless_call(trainable, non_trainable, xs)[0]

    return jax_calls(apply, [v.value for v in layer.trainable_variables], x)


def torch_peer(kind, b, t, i, h, x):
    import torch

    cuda = jax.default_backend() == "gpu" and torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    sync = torch.cuda.synchronize if cuda else lambda: None
    module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind]
    module = module(i, h, batch_first=True).to(device)
    xt = torch.from_numpy(np.array(x)).to(device)
    opt = torch.optim.Adam(module.parameters(), lr=1e-3)

    def fwd_call():
        with torch.no_grad():
            module(xt)
        sync()

    def train_call():
        ys, _ = module(xt)
        (ys**2).mean().backward()
        opt.step()
        opt.zero_grad()
        sync()

    return fwd_call, train_call


BUILDERS = {"jrnn": jrnn_peer, "flax": flax_peer, "keras": keras_peer, "torch": torch_peer}


def available_peers(names, torch_threads=None):
    """The requested peers whose packages import; prints a note for each one skipped.
    PyTorch gets `torch_threads` intra-op threads (default: one per CPU)."""
    keep = []
    for name in names:
        module = OPTIONAL.get(name)
        try:
            if module:
                importlib.import_module(module)
        except Exception as e:  # ImportError, or a broken install (OSError, ...)
            print(f"note: cannot import {module} ({type(e).__name__}: {e}); skipping {name}")
            continue
        keep.append(name)
    if "torch" in keep:
        import torch

        torch.set_num_threads(torch_threads or os.cpu_count())
    return keep


# -- one config ---------------------------------------------------------------------------


def bench_config(kind, cfg, peers, rate, args):
    """Time every peer on one (cell, config); returns one row per peer."""
    b, t, i, h = cfg
    x = jax.random.normal(jax.random.key(0), (b, t, i), jnp.float32)
    f_fwd = fwd_gflop(kind, *cfg)
    rows = []
    for name in peers:
        fwd_call, train_call = BUILDERS[name](kind, b, t, i, h, x)
        fwd_first, fwd_ms = time_calls(fwd_call, args.warmup, args.repeats)
        train_first, train_ms = time_calls(train_call, args.warmup, args.repeats)
        rows.append(
            dict(
                cell=kind,
                B=b,
                T=t,
                I=i,
                H=h,
                framework=name,
                fwd_ms=fwd_ms,
                train_ms=train_ms,
                fwd_compile_s=fwd_first,
                train_compile_s=train_first,
                fwd_gflop=f_fwd,
                train_gflop=3 * f_fwd,
                fwd_floor=f_fwd / rate / (fwd_ms * 1e-3),
                train_floor=3 * f_fwd / rate / (train_ms * 1e-3),
            )
        )
    base = next((r for r in rows if r["framework"] == "jrnn"), None)
    for r in rows:
        r["fwd_ratio"] = r["fwd_ms"] / base["fwd_ms"] if base else float("nan")
        r["train_ratio"] = r["train_ms"] / base["train_ms"] if base else float("nan")
    return rows


def config_label(r):
    size = f"I=H={r['H']}" if r["I"] == r["H"] else f"I={r['I']} H={r['H']}"
    return f"{r['cell']} B={r['B']} T={r['T']} {size}"


def print_table(rows):
    print(f"\n{config_label(rows[0])}  (train {rows[0]['train_gflop']:.3g} GFLOP)")
    print(
        f"  {'framework':<9} {'fwd ms':>9} {'train ms':>9} {'compile s':>11} "
        f"{'fwd x':>6} {'train x':>7} {'floor% fwd':>10} {'floor% train':>12}"
    )
    for r in rows:
        compile_s = f"{r['fwd_compile_s']:.2f}/{r['train_compile_s']:.2f}"
        print(
            f"  {r['framework']:<9} {r['fwd_ms']:9.3f} {r['train_ms']:9.3f} {compile_s:>11} "
            f"{r['fwd_ratio']:6.2f} {r['train_ratio']:7.2f} "
            f"{100 * r['fwd_floor']:10.1f} {100 * r['train_floor']:12.1f}"
        )


def print_summary(groups):
    print("\nSummary: train-step time, peer / jrnn (> 1: jrnn faster)")
    for rows in groups:
        peers = [
            f"{r['framework']}/jrnn {r['train_ratio']:.2f}x"
            for r in rows
            if r["framework"] != "jrnn"
        ]
        print(f"  {config_label(rows[0])}: {', '.join(peers) or 'no peers'}")


# -- memory -------------------------------------------------------------------------------


def measure_memory(kind, cfg, path, remat, repeats):
    """One memory row, measured in this process (run it in a fresh one: see memory_row).

    Compiles jit(grad(mean(ys**2))) w.r.t. the parameters, reads XLA's memory analysis,
    then runs it `repeats` + 1 times; the peak RSS is read after compiling and at the end.
    """
    b, t, i, h = cfg
    cell = {"lstm": jrnn.LSTMCell, "gru": jrnn.GRUCell, "rnn": jrnn.SimpleRNNCell}[kind](h)
    params = cell.init(jax.random.key(1), i)
    x = jax.random.normal(jax.random.key(0), (b, t, i), jnp.float32)
    fast = path == "fused"

    def loss(p, xs):
        return jnp.mean(jrnn.unroll(cell, p, xs, remat=remat, fast=fast)[1] ** 2)

    grad = jax.jit(jax.grad(loss)).lower(params, x).compile()
    mem = grad.memory_analysis()
    rss_compiled = _peak_rss_mib()
    _, ms = time_calls(lambda: jax.block_until_ready(grad(params, x)), 0, repeats)
    mib = 2.0**-20
    return dict(
        cell=kind,
        B=b,
        T=t,
        I=i,
        H=h,
        path=path,
        remat=remat,
        xla_temp_mib=mem.temp_size_in_bytes * mib,
        xla_argument_mib=mem.argument_size_in_bytes * mib,
        xla_output_mib=mem.output_size_in_bytes * mib,
        rss_compiled_mib=rss_compiled,
        peak_rss_mib=_peak_rss_mib(),
        grad_ms=ms,
    )


def _peak_rss_mib():
    """This process's peak resident set size so far (Linux reports KiB; macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def memory_row(kind, cfg, path, remat, repeats):
    """`measure_memory` in a fresh Python process, so the peak RSS is this row's alone."""
    spec = json.dumps([kind, list(cfg), path, remat, repeats])
    done = subprocess.run(
        [sys.executable, __file__, "--measure-memory", spec],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory row {spec} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_memory(args):
    """Every memory row: cells x configs x (fused, scan) x (remat off, on)."""
    rows = []
    for kind in args.memory_cells:
        for cfg in args.memory_configs:
            for path in ("fused", "scan"):
                for remat in (False, True):
                    row = memory_row(kind, cfg, path, remat, args.memory_repeats)
                    print_memory_row(row, header=not rows)
                    rows.append(row)
    return rows


def print_memory_row(r, header):
    if header:
        print(
            "\nGradient memory (MiB) and time, jit(grad(mean(ys**2))) w.r.t. the params\n"
            f"  {'config':<30} {'path':<6} {'remat':<5} {'XLA temp':>9} {'args':>7} "
            f"{'out':>6} {'RSS compiled':>12} {'peak RSS':>9} {'grad ms':>9}"
        )
    print(
        f"  {config_label(r):<30} {r['path']:<6} {'on' if r['remat'] else 'off':<5} "
        f"{r['xla_temp_mib']:9.1f} {r['xla_argument_mib']:7.1f} {r['xla_output_mib']:6.2f} "
        f"{r['rss_compiled_mib']:12.0f} {r['peak_rss_mib']:9.0f} {r['grad_ms']:9.1f}"
    )


def write_memory(rows, out_dir):
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "memory.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"\nwrote {out_dir / 'memory.csv'}")


# -- output -------------------------------------------------------------------------------


def machine_info(rate, args):
    versions = {}
    for pkg in ("jax", "jaxlib", "flax", "optax", "keras", "torch", "numpy"):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "versions": {"jrnn": jrnn.__version__, **versions},
        "backend": jax.default_backend(),
        "device": jax.devices()[0].device_kind,
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "gemm_gflops": rate,
        "args": {**vars(args), "out": str(args.out)},
    }


def write_results(rows, info, out_dir, stem="results", table=None):
    """rows to <stem>.csv, with `info` to <stem>.json, and `table` (default: the speed
    rows' markdown_table) to <stem>.md."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / f"{stem}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open(out_dir / f"{stem}.json", "w") as f:
        json.dump({"meta": info, "results": rows}, f, indent=1)
    (out_dir / f"{stem}.md").write_text((table or markdown_table)(rows, info))
    print(f"\nwrote {out_dir / (stem + '.csv')}, {stem}.json and {stem}.md")


def markdown_table(rows, info):
    """Train-step times as a Markdown table: jrnn's ms and each peer's time / jrnn's."""
    peers = [p for p in PEERS if p != "jrnn" and any(r["framework"] == p for r in rows)]
    head = ["cell", "B", "T", "I=H", "jrnn fwd ms", "jrnn train ms", "floor %"]
    head += [f"{p}/jrnn" for p in peers]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if r["framework"] != "jrnn":
            continue
        same = {
            q["framework"]: q
            for q in rows
            if q["cell"] == r["cell"]
            and (q["B"], q["T"], q["I"], q["H"]) == (r["B"], r["T"], r["I"], r["H"])
        }
        cells = [
            r["cell"],
            r["B"],
            r["T"],
            r["H"],
            f"{r['fwd_ms']:.2f}",
            f"{r['train_ms']:.2f}",
            f"{100 * r['train_floor']:.0f}",
        ]
        cells += [f"{same[p]['train_ratio']:.2f}x" if p in same else "-" for p in peers]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    v = info["versions"]
    note = (
        f"\n{info['device']} ({info['backend']}, {info['cpu_count']} CPUs), "
        f"jax {v['jax']}, flax {v['flax']}, keras {v['keras']}, torch {v['torch']}; "
        f"GEMM rate {info['gemm_gflops']:.0f} GFLOP/s. Ratios > 1: jrnn faster.\n"
    )
    return "\n".join(lines) + "\n" + note


# -- main ---------------------------------------------------------------------------------


def parse_configs(text):
    """ "32x64x128x128,..." -> [(B, T, I, H), ...]."""
    try:
        configs = [tuple(int(v) for v in c.split("x")) for c in text.split(",") if c]
    except ValueError:
        configs = []
    if not configs or any(len(c) != 4 for c in configs):
        raise argparse.ArgumentTypeError(f"got {text!r}, expected BxTxIxH[,BxTxIxH...]")
    return configs


def parse_vocab_shape(text):
    """ "32x35x256" -> (B, T, H)."""
    try:
        shape = tuple(int(v) for v in text.split("x"))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"got {text!r}, expected BxTxH, e.g. 32x35x256")
    return shape


def parse_list(allowed):
    def parse(text):
        names = [n for n in text.split(",") if n]
        bad = [n for n in names if n not in allowed]
        if bad or not names:
            raise argparse.ArgumentTypeError(f"got {text!r}, expected some of {allowed}")
        return names

    return parse


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", type=parse_list(tuple(GATES)), default=list(GATES))
    p.add_argument(
        "--configs",
        type=parse_configs,
        default=parse_configs(DEFAULT_CONFIGS),
        help=f"BxTxIxH, comma separated (default {DEFAULT_CONFIGS})",
    )
    p.add_argument("--repeats", type=int, default=10, help="timed calls (median reported)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls after the first")
    p.add_argument("--peers", type=parse_list(PEERS), default=list(PEERS))
    p.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="PyTorch's intra-op threads (default: one per CPU; on a machine where "
        "another job holds a core, 1 avoids OpenMP workers waiting on a descheduled one)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke test: config {QUICK_CONFIGS} (linear rows "
        f"{_bench_linear.QUICK_CONFIGS}), 2 repeats, 1 warm-up",
    )
    p.add_argument(
        "--rows",
        type=parse_list(ROWS),
        default=["speed"],
        help="speed (the peers' timings), memory (jrnn's gradient memory), linear (the "
        "linear-recurrence cells vs GRU/LSTM), vocab (a word LM's train step vs the "
        "vocabulary size: full, sampled and adaptive softmax), comma separated",
    )
    p.add_argument(
        "--memory-configs",
        type=parse_configs,
        default=parse_configs(MEMORY_CONFIGS),
        help=f"BxTxIxH of the memory rows (default {MEMORY_CONFIGS})",
    )
    p.add_argument("--memory-cells", type=parse_list(tuple(GATES)), default=["lstm", "gru"])
    p.add_argument("--memory-repeats", type=int, default=3, help="timed gradient calls")
    p.add_argument(
        "--linear-configs",
        type=parse_configs,
        default=parse_configs(_bench_linear.DEFAULT_CONFIGS),
        help=f"BxTxIxH of the linear rows (default {_bench_linear.DEFAULT_CONFIGS})",
    )
    p.add_argument(
        "--linear-cells",
        type=parse_list(_bench_linear.ALL_CELLS),
        default=list(_bench_linear.ALL_CELLS),
        help="linear rows: the baselines (gru, lstm: jrnn's and PyTorch's) and the "
        "linear-recurrence cells, each in every variant; gru gives the ratios",
    )
    p.add_argument(
        "--linear-budget",
        type=float,
        default=20.0,
        help="linear rows: about this many seconds of timed calls per row and mode at "
        "most (a slow row gets fewer than --repeats calls, at least 3)",
    )
    p.add_argument(
        "--vocab-sizes",
        type=lambda text: [int(v) for v in text.split(",")],
        default=None,
        help=f"vocab rows: vocabulary sizes (default {_bench_vocab.DEFAULT_VOCABS})",
    )
    p.add_argument(
        "--vocab-shape",
        type=parse_vocab_shape,
        default=parse_vocab_shape(_bench_vocab.DEFAULT_SHAPE),
        help=f"vocab rows: BxTxH (default {_bench_vocab.DEFAULT_SHAPE})",
    )
    p.add_argument("--num-sampled", type=int, default=4096, help="vocab rows: sampled classes")
    # Internal: one memory row in this (fresh) process, printed as JSON; see memory_row.
    p.add_argument("--measure-memory", help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=OUT_DIR, help="results folder")
    args = p.parse_args(argv)
    if args.quick:
        args.configs, args.repeats, args.warmup = parse_configs(QUICK_CONFIGS), 2, 1
        args.memory_configs, args.memory_repeats = parse_configs(QUICK_MEMORY_CONFIGS), 1
        args.linear_configs = parse_configs(_bench_linear.QUICK_CONFIGS)
        args.vocab_shape = parse_vocab_shape(_bench_vocab.QUICK_SHAPE)
        args.vocab_sizes = args.vocab_sizes or _bench_vocab.QUICK_VOCABS
        args.num_sampled = 64
    args.vocab_sizes = args.vocab_sizes or _bench_vocab.DEFAULT_VOCABS
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.measure_memory:
        kind, cfg, path, remat, repeats = json.loads(args.measure_memory)
        print(json.dumps(measure_memory(kind, tuple(cfg), path, remat, repeats)))
        return
    if "speed" in args.rows:
        bench_speed(args)
    if "memory" in args.rows:
        write_memory(bench_memory(args), args.out)
    if "linear" in args.rows:
        _bench_linear.bench_linear(
            args,
            peers=available_peers(
                [p for p in args.peers if p in ("jrnn", "torch")], args.torch_threads
            ),
            jax_calls=jax_calls,
            classic_peers={"jrnn": jrnn_peer, "torch": torch_peer},
            machine_info=lambda: machine_info(None, args),
            write_results=write_results,
        )
    if "vocab" in args.rows:
        _bench_vocab.bench_vocab(
            args,
            peers=available_peers(
                [p for p in args.peers if p in ("jrnn", "torch")], args.torch_threads
            ),  # fmt: skip
            machine_info=lambda: machine_info(None, args),
            write_results=write_results,
        )


def bench_speed(args):
    peers = available_peers(args.peers, args.torch_threads)
    rate = gemm_gflops()
    print(
        f"backend {jax.default_backend()} ({jax.devices()[0].device_kind}), "
        f"{os.cpu_count()} CPUs; float32 2048^3 matmul: {rate:.1f} GFLOP/s"
    )
    groups = []
    for kind in args.cells:
        for cfg in args.configs:
            rows = bench_config(kind, cfg, peers, rate, args)
            print_table(rows)
            groups.append(rows)
    print_summary(groups)
    write_results([r for rows in groups for r in rows], machine_info(rate, args), args.out)


if __name__ == "__main__":
    main()
