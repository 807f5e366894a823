"""The demo's character-level LSTM trained on several processes, as one program.

    make exp-distributed NPROC=2        # python -m jrnn.launch --nproc 2 experiments/distributed.py
    make exp-distributed NPROC=1        # the same run on one process, to compare with

Every process runs this script. `jrnn.distributed.initialize()` joins them through JAX's
distributed runtime (gloo collectives on CPU, NCCL on GPU; a no-op on one process);
`jrnn.fit` then splits each global batch of `--batch` windows over every device of every
process, and the result is the one-process result for the same global batches (the
gradient all-reduce adds the rows in another order, so to float rounding, not bitwise).
Process 0 alone writes files: checkpoints, history.csv, params.npz and metrics.json in
`--out` (default runs/distributed/n<processes>/). When runs with other process counts
sit beside it (runs/distributed/n*/), it prints how far their final parameters and
losses are from this run's.

Data and model are the demo's (`pydoc_data.topics`, Embedding -> LSTM -> Dense over the
characters), on a smaller budget by default: its first `--max-chars` characters, windows
of `--seq-len`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np
import optax
from _runs import at_least, clear_run
from demo import build_model, load_text, windows

import jrnn

RUN_ROOT = Path(__file__).resolve().parent.parent / "runs" / "distributed"


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32, help="the global batch, over all processes")
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--max-chars", type=int, default=100_000)
    ap.add_argument("--embed", type=int, default=32)
    ap.add_argument("--units", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fresh", action="store_true", help="discard the checkpoints in --out")
    ap.add_argument("--verbose", type=int, default=2, help="0 silent, 1 progress bar, 2 lines")
    ap.add_argument("--out", type=Path, default=None, help="default runs/distributed/n<procs>")
    args = ap.parse_args(argv)
    at_least(ap, args, ("epochs", "batch", "seq_len", "max_chars", "embed", "units"))
    return args


def main(argv=None) -> dict:
    jrnn.distributed.initialize()  # before any other JAX call; a no-op on one process
    args = parse_args(argv)
    procs, primary = jax.process_count(), jrnn.distributed.is_primary()
    out = args.out or RUN_ROOT / f"n{procs}"
    if primary:
        out.mkdir(parents=True, exist_ok=True)
        if args.fresh:
            clear_run(out, files=("history.csv", "params.npz", "metrics.json"))
    jrnn.distributed.barrier("experiments/distributed: --out ready")

    text = load_text(args.max_chars)
    tok = jrnn.Tokenizer(char_level=True, lower=False, filters="")
    tok.fit_on_texts([text])
    vocab = len(tok.word_index) + 1
    ids = np.asarray(tok.texts_to_sequences([text])[0], np.int32)
    split = int(0.9 * len(ids))
    x, y = windows(ids[:split], args.seq_len, args.seq_len)
    xv, yv = windows(ids[split:], args.seq_len, args.seq_len)
    if primary:
        print(
            f"{procs} process(es), {jax.device_count()} device(s) in all: {len(x)} windows "
            f"of {args.seq_len} characters, global batch {args.batch}"
        )

    model = build_model(vocab, args.embed, args.units)
    variables = model.init(jax.random.key(args.seed), x[:2])
    t0 = time.perf_counter()
    state, history = jrnn.fit(
        model,
        variables,
        (x, y),
        loss=jrnn.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=optax.adam(args.lr),
        metrics=["accuracy"],
        batch_size=args.batch,
        epochs=args.epochs,
        validation_data=(xv, yv),
        seed=args.seed,
        callbacks=[jrnn.callbacks.CSVLogger(out / "history.csv", append=True)],
        checkpoint_dir=out / "checkpoints",
        verbose=args.verbose,
    )
    seconds = time.perf_counter() - t0
    params = {jax.tree_util.keystr(p): np.asarray(v)
              for p, v in jax.tree_util.tree_leaves_with_path(state.params)}  # fmt: skip
    metrics = {
        "processes": procs,
        "devices": jax.device_count(),
        "global_batch": args.batch,
        "epochs": len(history.epoch),
        "seconds": seconds,
        "history": history.history,
    }
    if primary:
        np.savez(out / "params.npz", **params)
        metrics["compared"] = compare(out, params, history.history)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
        print(f"{procs} process(es): {seconds:.1f} s; val_loss {history.history['val_loss']}")
    return metrics


def compare(out: Path, params: dict, history: dict) -> dict:
    """Largest parameter and loss differences to the runs beside `out` (n*/)."""
    found = {}
    for other in sorted(out.parent.glob("n*")):
        if other == out or not (other / "params.npz").is_file():
            continue
        with np.load(other / "params.npz") as f:
            if sorted(f) != sorted(params):
                continue
            dp = max(float(np.max(np.abs(f[k] - params[k]))) for k in params)
        theirs = json.loads((other / "metrics.json").read_text())["history"]
        dl = max(abs(a - b) for a, b in zip(theirs["val_loss"], history["val_loss"]))
        found[other.name] = {"max_abs_param_diff": dp, "max_abs_val_loss_diff": dl}
        print(f"vs {other.name}: parameters within {dp:.2e}, val_loss within {dl:.2e}")
    return found


if __name__ == "__main__":
    main()
