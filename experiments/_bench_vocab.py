"""The benchmark's `vocab` rows: how a word-level LM's train step grows with the vocabulary,
for the full softmax and the heads that avoid it.

`python experiments/benchmark.py --rows vocab` (wired in benchmark.py). For each
vocabulary size V of `--vocab-sizes` (default 10k, 50k, 200k), the model

    Embedding(V, H) -> LSTM(H, return_sequences=True) -> head

on a batch of B rows of T tokens (`--vocab-shape` BxTxH, default 32x35x256: the classic
Penn Treebank recipe's T = 35) trains one step (value_and_grad and Adam(1e-3)) with each
head (timed like the linear rows, with their `--repeats`, `--warmup`, `--linear-budget`):

    full       Dense(V), softmax cross-entropy over every class (the baseline);
    sampled    Dense(V) trained with `jrnn.losses.SampledSoftmaxLoss(--num-sampled)`
               (log-uniform samples, unique, log Q subtracted);
    adaptive   `jrnn.layers.AdaptiveSoftmax(V, cutoffs=[V/20, V/5], div_value=4)` with
               `jrnn.losses.AdaptiveSoftmaxLoss()`.

jrnn's rows time the compiled step `fit` itself runs (`make_train_step`). PyTorch's rows
(when torch imports) time the same model with `nn.Linear` + `cross_entropy` and with
`nn.AdaptiveLogSoftmaxWithLoss` (same cutoffs); PyTorch has no sampled softmax. Timing is
interleaved as the linear rows (`_bench_linear.time_interleaved`): each framework's rows of
one V in a new order each round, median ms. Ratios: `full/this` (the speed-up over the
full softmax in the same framework) and `torch/jrnn` (same head).

Results: runs/bench/vocab.csv, vocab.json (with machine info) and vocab.md.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _bench_linear import time_interleaved

import jrnn
from jrnn.layers import LSTM, AdaptiveSoftmax, Dense, Embedding
from jrnn.training._objective import build_objective
from jrnn.training._steps import make_train_step

DEFAULT_VOCABS = [10_000, 50_000, 200_000]
QUICK_VOCABS = [300, 600]
DEFAULT_SHAPE = "32x35x256"
QUICK_SHAPE = "2x5x16"
HEADS = ("full", "sampled", "adaptive")


def cutoffs(v: int) -> list[int]:
    """The adaptive softmax's clusters: the 5% most frequent words in the head, the next
    15% in one tail cluster, the rest (80%) in the other."""
    return [max(1, v // 20), max(2, v // 5)]


def _data(v, b, t):
    """Zipf-distributed token ids (rank 0 most frequent), as a word corpus's are."""
    rng = np.random.default_rng(0)
    ranks = np.minimum(rng.zipf(1.1, size=(b, t + 1)) - 1, v - 1).astype(np.int32)
    return ranks[:, :-1], ranks[:, 1:]


def jrnn_call(head, v, b, t, h, num_sampled):
    """A no-argument call running one of fit's compiled train steps to completion."""
    layer, loss = {
        "full": (Dense(v), jrnn.losses.SparseCategoricalCrossentropy(from_logits=True)),
        "sampled": (Dense(v), jrnn.losses.SampledSoftmaxLoss(num_sampled)),
        "adaptive": (AdaptiveSoftmax(v, cutoffs(v)), jrnn.losses.AdaptiveSoftmaxLoss()),
    }[head]
    model = jrnn.Sequential([Embedding(v, h), LSTM(h, return_sequences=True), layer])
    x, y = _data(v, b, t)
    variables = model.init(jax.random.key(0), x)
    optimizer = optax.adam(1e-3)
    state = jrnn.training.create_train_state(variables, optimizer)
    step = make_train_step(model, build_objective(model, loss), optimizer)
    batch = {"x": jnp.asarray(x), "y": jnp.asarray(y), "valid": jnp.ones(b, bool)}
    return lambda: jax.block_until_ready(step(state, batch))


def torch_call(head, v, b, t, h):
    """The same step in PyTorch (CPU, or CUDA when JAX runs on a GPU), or None for a head
    PyTorch does not have."""
    import torch

    if head == "sampled":
        return None
    device = "cuda" if jax.default_backend() == "gpu" and torch.cuda.is_available() else "cpu"
    emb, lstm = torch.nn.Embedding(v, h), torch.nn.LSTM(h, h, batch_first=True)
    if head == "full":
        out = torch.nn.Linear(h, v)
    else:
        out = torch.nn.AdaptiveLogSoftmaxWithLoss(h, v, cutoffs(v), div_value=4.0)
    modules = torch.nn.ModuleList([emb, lstm, out]).to(device)
    opt = torch.optim.Adam(modules.parameters(), lr=1e-3)
    x, y = (torch.as_tensor(a, dtype=torch.long, device=device) for a in _data(v, b, t))

    def call():
        opt.zero_grad()
        features = lstm(emb(x))[0].reshape(b * t, h)
        if head == "full":
            loss = torch.nn.functional.cross_entropy(out(features), y.reshape(-1))
        else:
            loss = out(features, y.reshape(-1)).loss
        loss.backward()
        opt.step()
        if device == "cuda":
            torch.cuda.synchronize()

    return call


def bench_vocab(args, peers, machine_info, write_results):
    """Time every (V, framework, head) row and write runs/bench/vocab.*."""
    b, t, h = args.vocab_shape
    rows = []
    for v in args.vocab_sizes:
        built = [("jrnn", head, jrnn_call(head, v, b, t, h, min(args.num_sampled, v)))
                 for head in HEADS]  # fmt: skip
        if "torch" in peers:
            built += [("torch", head, torch_call(head, v, b, t, h)) for head in HEADS]
        built = [r for r in built if r[2] is not None]
        timed = {}
        for framework in ("jrnn", "torch"):  # one framework at a time (see _bench_linear)
            idx = [k for k, r in enumerate(built) if r[0] == framework]
            res = time_interleaved([built[k][2] for k in idx], args.warmup, args.repeats,
                                   args.linear_budget)  # fmt: skip
            timed.update(zip(idx, res))
        group = [
            dict(
                V=v,
                B=b,
                T=t,
                H=h,
                framework=fw,
                head=head,
                train_ms=timed[k][1],
                compile_s=timed[k][0],
                calls=timed[k][2],
            )  # fmt: skip
            for k, (fw, head, _) in enumerate(built)
        ]
        for r in group:
            full = next(g for g in group if (g["framework"], g["head"]) == (r["framework"], "full"))
            peer = [g for g in group if (g["framework"], g["head"]) == ("torch", r["head"])]
            r["full_over_this"] = full["train_ms"] / r["train_ms"]
            r["torch_over_jrnn"] = (
                peer[0]["train_ms"] / r["train_ms"] if peer and r["framework"] == "jrnn" else None
            )
        print_group(group)
        rows += group
    write_results(rows, machine_info(), args.out, stem="vocab", table=markdown_table)


def print_group(group):
    r0 = group[0]
    print(f"\nvocab rows V={r0['V']} B={r0['B']} T={r0['T']} H={r0['H']}")
    print(f"  {'framework':<9} {'head':<9} {'train ms':>10} {'compile s':>9} "
          f"{'full/this':>9} {'torch/jrnn':>10}")  # fmt: skip
    for r in group:
        peer = "" if r["torch_over_jrnn"] is None else f"{r['torch_over_jrnn']:.2f}"
        print(f"  {r['framework']:<9} {r['head']:<9} {r['train_ms']:10.1f} "
              f"{r['compile_s']:9.2f} {r['full_over_this']:9.2f} {peer:>10}")  # fmt: skip


def markdown_table(rows, info):
    """Train-step ms per vocabulary size: one row per (framework, head), one column per V."""
    vocabs = sorted({r["V"] for r in rows})
    r0 = rows[0]
    lines = [
        f"Word-LM train step, B={r0['B']} T={r0['T']} H={r0['H']}: ms (full softmax / this)",
        "",
        "| framework | head | " + " | ".join(f"V={v:,}" for v in vocabs) + " |",
        "|---|---|" + "---|" * len(vocabs),
    ]
    for fw, head in dict.fromkeys((r["framework"], r["head"]) for r in rows):
        cells = []
        for v in vocabs:
            r = next((r for r in rows if (r["framework"], r["head"], r["V"]) == (fw, head, v)),
                     None)  # fmt: skip
            cells.append("-" if r is None else f"{r['train_ms']:.1f} ({r['full_over_this']:.1f}x)")
        lines.append(f"| {fw} | {head} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
