"""Character-level LSTM language model on real English text shipped with CPython.

The text is `pydoc_data.topics` (CPython's documentation topics, ~465 KB), split 90/10
into training and held-out text. The model is Embedding -> LSTM -> Dense, written with
jrnn's cell and `unroll`; training is Adam on next-character cross-entropy. It reports
held-out bits per character, saves the parameters, and prints text sampled from a
prompt with temperature.

    make demo                         # defaults below, a few minutes on 2 CPU cores
    make demo DEMO_ARGS="--steps 50"  # a quick look
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path
from pydoc_data.topics import topics

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jrnn

RUN_DIR = Path(__file__).resolve().parent.parent / "runs" / "demo"


def load_text():
    """All documentation topics in a fixed order, as one string."""
    return "\n\n".join(topics[k] for k in sorted(topics))


def init_model(key, vocab, embed, units):
    cell = jrnn.LSTMCell(units)
    k1, k2, k3 = jax.random.split(key, 3)
    params = {
        "embedding": jax.random.uniform(k1, (vocab, embed), minval=-0.05, maxval=0.05),
        "lstm": cell.init(k2, embed),
        "dense": {
            "kernel": jax.nn.initializers.glorot_uniform()(k3, (units, vocab)),
            "bias": jnp.zeros((vocab,)),
        },
    }
    return cell, params


def logits_fn(cell, params, tokens, carry=None):
    """tokens (B, T) int -> (carry, logits (B, T, V))."""
    xs = params["embedding"][tokens]
    carry, hs = jrnn.unroll(cell, params["lstm"], xs, carry=carry)
    return carry, hs @ params["dense"]["kernel"] + params["dense"]["bias"][None, None]


def loss_fn(cell, params, batch):
    _, logits = logits_fn(cell, params, batch[:, :-1])
    return optax.softmax_cross_entropy_with_integer_labels(logits, batch[:, 1:]).mean()


def windows(ids, rng, batch, length):
    starts = rng.integers(0, len(ids) - length - 1, batch)
    return np.stack([ids[s : s + length + 1] for s in starts])


def sample(cell, params, prompt_ids, n, temperature, key):
    """Feed the prompt, then draw `n` characters with `lax.scan` (one compiled loop)."""
    carry, logits = logits_fn(cell, params, prompt_ids[None])

    def step(state, k):
        carry, last = state
        tok = jax.random.categorical(k, last / temperature)
        carry, y = cell(params["lstm"], carry, params["embedding"][tok])
        return (carry, y @ params["dense"]["kernel"] + params["dense"]["bias"][None]), tok[0]

    _, toks = jax.lax.scan(step, (carry, logits[:, -1]), jax.random.split(key, n))
    return toks


def save_params(params, path: Path):
    """Write atomically: a temporary file in the same folder, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flat = {
        jax.tree_util.keystr(k): np.asarray(v)
        for k, v in jax.tree_util.tree_flatten_with_path(params)[0]
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        np.savez(f, **flat)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--length", type=int, default=128)
    ap.add_argument("--units", type=int, default=256)
    ap.add_argument("--embed", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--eval-batches", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--prompt", default="The ")
    ap.add_argument("--out", type=Path, default=RUN_DIR)
    args = ap.parse_args(argv)

    text = load_text()
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids = np.array([index[c] for c in text], np.int32)
    split = int(0.9 * len(ids))
    train_ids, val_ids = ids[:split], ids[split:]
    print(
        f"text: {len(text):,} characters, vocabulary {len(chars)}, "
        f"train {len(train_ids):,} / held-out {len(val_ids):,}"
    )

    cell, params = init_model(jax.random.key(args.seed), len(chars), args.embed, args.units)
    schedule = optax.cosine_decay_schedule(args.lr, args.steps, alpha=0.1)
    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(schedule))
    opt_state = opt.init(params)

    @jax.jit
    def train_step(params, opt_state, batch):
        loss, grads = jax.value_and_grad(lambda p: loss_fn(cell, p, batch))(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    eval_loss = jax.jit(lambda p, b: loss_fn(cell, p, b))
    val_rng = np.random.default_rng(12345)  # the same held-out windows every evaluation
    val_batches = [
        windows(val_ids, val_rng, args.batch, args.length) for _ in range(args.eval_batches)
    ]

    def val_bpc(params):
        return float(np.mean([eval_loss(params, b) for b in val_batches])) / math.log(2)

    rng = np.random.default_rng(args.seed)
    history, t0, running = [], time.perf_counter(), []
    every = max(1, args.steps // 10)
    for step in range(1, args.steps + 1):
        params, opt_state, loss = train_step(
            params, opt_state, windows(train_ids, rng, args.batch, args.length)
        )
        running.append(loss)
        if step % every == 0 or step == args.steps:
            train_bpc = float(np.mean(running)) / math.log(2)
            running = []
            bpc = val_bpc(params)
            history.append(
                {
                    "step": step,
                    "train_bpc": train_bpc,
                    "val_bpc": bpc,
                    "seconds": time.perf_counter() - t0,
                }
            )
            print(
                f"step {step:5d}  train {train_bpc:.3f} bpc  held-out {bpc:.3f} bpc  "
                f"({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )

    save_params(params, args.out / "params.npz")
    prompt = np.array([index[c] for c in args.prompt if c in index], np.int32)
    toks = sample(
        cell, params, jnp.asarray(prompt), 400, args.temperature, jax.random.key(args.seed + 1)
    )
    generated = args.prompt + "".join(chars[int(t)] for t in toks)
    metrics = {
        "val_bpc": history[-1]["val_bpc"],
        "train_bpc": history[-1]["train_bpc"],
        "steps": args.steps,
        "seconds": history[-1]["seconds"],
        "sample": generated,
        "history": history,
        "config": {k: str(v) for k, v in vars(args).items()},
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(f"\nheld-out: {metrics['val_bpc']:.3f} bits per character; saved {args.out}/")
    print(f"\nsample (temperature {args.temperature}):\n{generated}")
    return metrics


if __name__ == "__main__":
    main()
