"""Bidirectional LSTMs, stacked or behind a convolution, compared on real text: which
Python documentation topic a 33-word passage comes from.

Two models of the Keras/TensorFlow tutorials on Embedding(120, 42) over length-33 input,
with unit counts solved so that their summaries give the totals asked for (checked on
every run):

    bilstm       Embedding(120, 42) -> Bidirectional(LSTM(56, return_sequences=True))
                 -> Bidirectional(LSTM(12)) -> Dense(8)                        61,592
    conv_bilstm  Embedding(120, 42) -> Conv1D(56, 5, relu) -> MaxPooling1D(4)
                 -> Bidirectional(LSTM(12)) -> Dense(8)                        23,680

    5,040 (embedding) + 2 * 4 * 56 * (42 + 56 + 1) + 2 * 4 * 12 * (112 + 12 + 1)
      + (24 + 1) * 8 = 61,592;
    5,040 + (5 * 42 + 1) * 56 + 2 * 4 * 12 * (56 + 12 + 1) + (24 + 1) * 8 = 23,680.
    (The only solution shared by both totals with one unit count per LSTM layer size,
    the same output size, and Conv1D filters equal to the first LSTM's units.)

The data is the documentation that ships inside CPython (`pydoc_data.topics`), so
nothing is downloaded. Topics whose text is mostly a copy of a larger topic's are left
out; the 8 largest remaining topics are the 8 classes. Each topic's words are cut into
blocks of `--block` words, and each topic's blocks are shuffled once (seeded) and dealt
to training, validation and test (70/15/15), so held-out passages come from text never
trained on. The vocabulary is the 119 most frequent training words (id 1 = any other
word, as Keras's `Tokenizer(num_words=120, oov_token=...)`); a passage is 33
consecutive words of one block, one every `--stride` words. Reported next to both
models: the majority class and multinomial naive Bayes on the same token ids, and the
time per epoch of each model.

    make exp-bidirectional                                      # ~2 min on 2 CPU cores
    make exp-bidirectional BIDIRECTIONAL_ARGS="--epochs 16"     # resume for 6 more epochs
    make exp-bidirectional BIDIRECTIONAL_ARGS="--fresh --models conv_bilstm"

Resuming: each model continues from its latest checkpoint in `--out` unless `--fresh`;
`--epochs` is the total. The data settings must match the checkpointed run's.

Writes to `--out` (default runs/bidirectional/): config.json, tokenizer.json,
summaries.txt, metrics.json, curves.png (validation accuracy of both models) and per
model <model>/checkpoints/, <model>/history.csv and <model>/curves.png.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import jax
import numpy as np
import optax

import jrnn
from jrnn.layers import LSTM, Bidirectional, Conv1D, Dense, Embedding

RUN_DIR = Path(__file__).resolve().parent.parent / "runs" / "bidirectional"
VOCAB, EMBED, LENGTH, CLASSES = 120, 42, 33, 8
EXPECTED_PARAMS = {"bilstm": 61_592, "conv_bilstm": 23_680}
MODELS = tuple(EXPECTED_PARAMS)


# -- data -------------------------------------------------------------------------------------
def pick_topics(n: int) -> list[str]:
    """The n largest pydoc topics that are not mostly a copy of a larger one: a topic is
    left out when over half of its lines (of more than 40 characters) are in a larger
    topic's text."""
    from pydoc_data.topics import topics

    lines = {
        k: {s.strip() for s in v.splitlines() if len(s.strip()) > 40} for k, v in topics.items()
    }
    by_size = sorted(topics, key=lambda k: (-len(topics[k]), k))
    kept = []
    for i, name in enumerate(by_size):
        mine = lines[name]
        if not any(len(mine & lines[big]) > len(mine) / 2 for big in by_size[:i]):
            kept.append(name)
    if len(kept) < n:
        raise ValueError(f"topics: got {n}, expected at most {len(kept)} distinct topics")
    return kept[:n]


def split_blocks(n_topics: int, block: int, min_words: int, seed: int):
    """{"train"|"val"|"test": [(words, label), ...]}: each topic's words in blocks of
    `block` (a last block shorter than `min_words` is dropped), dealt 70/15/15 after a
    seeded shuffle (at least one held-out block of each kind per topic)."""
    from pydoc_data.topics import topics

    names = pick_topics(n_topics)
    rng = np.random.default_rng(seed)
    split = {"train": [], "val": [], "test": []}
    for label, name in enumerate(names):
        words = jrnn.text.text_to_word_sequence(topics[name])
        blocks = [words[i : i + block] for i in range(0, len(words), block)]
        blocks = [b for b in blocks if len(b) >= min_words]
        if len(blocks) < 3:
            raise ValueError(
                f"--block: got {block}, which leaves topic {name!r} ({len(words)} words) "
                f"{len(blocks)} blocks, expected at least 3"
            )
        order = rng.permutation(len(blocks))
        n_held = max(1, round(0.15 * len(blocks)))
        parts = {
            "test": order[:n_held],
            "val": order[n_held : 2 * n_held],
            "train": order[2 * n_held :],
        }
        for part, idx in parts.items():
            split[part] += [(blocks[i], label) for i in sorted(idx)]
    return names, split


def passages(ids_blocks, labels, length: int, stride: int):
    """Windows of `length` ids every `stride` ids inside each block: (N, length), (N,)."""
    xs, ys = [], []
    for ids, label in zip(ids_blocks, labels):
        ids = np.asarray(ids, np.int32)
        for s in range(0, len(ids) - length + 1, stride):
            xs.append(ids[s : s + length])
            ys.append(label)
    return np.stack(xs), np.asarray(ys, np.int32)


def load_data(args):
    """{split: (x (N, 33) token ids < 120, y (N,))}, the tokenizer and the topic names."""
    names, split = split_blocks(CLASSES, args.block, LENGTH, args.seed)
    tok = jrnn.Tokenizer(num_words=VOCAB, oov_token="<unk>")
    tok.fit_on_texts([words for words, _ in split["train"]])
    rng = np.random.default_rng(args.seed + 1)
    data = {}
    for part, items in split.items():
        ids = tok.texts_to_sequences([w for w, _ in items])
        x, y = passages(ids, [label for _, label in items], LENGTH, args.stride)
        cap = args.max_train if part == "train" else args.max_eval
        if cap and len(y) > cap:
            keep = np.sort(rng.choice(len(y), cap, replace=False))
            x, y = x[keep], y[keep]
        data[part] = (x, y)
    return data, tok, names


def naive_bayes(train_x, train_y, test_x, vocab: int, classes: int) -> np.ndarray:
    """Class scores (N, classes) of multinomial naive Bayes (add-one smoothing) on the
    token counts of the rows of `test_x`, fit on (train_x, train_y)."""
    counts = np.ones((classes, vocab))
    for c in range(classes):
        np.add.at(counts[c], train_x[train_y == c].ravel(), 1)
    log_p = np.log(counts / counts.sum(1, keepdims=True))
    prior = np.log(np.bincount(train_y, minlength=classes) + 1.0)
    return prior + np.stack([log_p[:, row].sum(1) for row in test_x])


# -- models -----------------------------------------------------------------------------------
def build(name: str, dropout: float):
    """One of MODELS. `dropout` is the LSTM layers' input dropout (no parameters)."""
    ids = jrnn.Input((LENGTH,), "int32")
    if name == "bilstm":
        layers = [
            ids,
            Embedding(VOCAB, EMBED),
            Bidirectional(LSTM(56, return_sequences=True, dropout=dropout)),
            Bidirectional(LSTM(12, dropout=dropout)),
            Dense(CLASSES),
        ]
    elif name == "conv_bilstm":
        layers = [
            ids,
            Embedding(VOCAB, EMBED),
            Conv1D(56, 5, activation="relu"),
            jrnn.layers.MaxPooling1D(4),
            Bidirectional(LSTM(12, dropout=dropout)),
            Dense(CLASSES),
        ]
    else:
        raise ValueError(f"--models: got {name!r}, expected some of {', '.join(MODELS)}")
    return jrnn.Sequential(layers, name=name)


# -- main -------------------------------------------------------------------------------------
# Settings that fix the data or the vocabulary: a resumed run must use the same ones.
FIXED = ("block", "stride", "max_train", "max_eval", "seed")


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--models", default=",".join(MODELS), help="comma-separated, of: " + ", ".join(MODELS)
    )
    ap.add_argument("--block", type=int, default=165, help="words per block (the split unit)")
    ap.add_argument("--stride", type=int, default=3, help="words between passages")
    ap.add_argument("--max-train", type=int, default=0, help="at most this many (0: all)")
    ap.add_argument("--max-eval", type=int, default=0, help="validation/test cap (0: all)")
    ap.add_argument("--epochs", type=int, default=10, help="total epochs per model")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--dropout", type=float, default=0.0, help="LSTM input dropout")
    ap.add_argument("--seed", type=int, default=0, help="data split and initialisation")
    ap.add_argument("--fresh", action="store_true", help="discard the checkpoints in --out")
    ap.add_argument("--verbose", type=int, default=1, help="0 silent, 1 progress bar, 2 lines")
    ap.add_argument("--out", type=Path, default=RUN_DIR)
    args = ap.parse_args(argv)
    for name in ("block", "stride", "epochs", "batch_size"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')}: got {getattr(args, name)}, expected >= 1")
    for name in ("max_train", "max_eval", "seed"):
        if getattr(args, name) < 0:
            ap.error(f"--{name.replace('_', '-')}: got {getattr(args, name)}, expected >= 0")
    if args.block < LENGTH:
        ap.error(f"--block: got {args.block}, expected >= {LENGTH} (the passage length)")
    if not 0 <= args.dropout < 1:
        ap.error(f"--dropout: got {args.dropout}, expected a fraction in [0, 1)")
    args.models = [m for m in args.models.split(",") if m]
    bad = [m for m in args.models if m not in MODELS]
    if bad or not args.models:
        ap.error(f"--models: got {bad or 'none'}, expected some of {', '.join(MODELS)}")
    return args


def check_config(args) -> None:
    """Store the data settings of a new run; refuse to resume one made with others."""
    path = args.out / "config.json"
    mine = {k: getattr(args, k) for k in FIXED}
    resuming = any(
        jrnn.checkpoint.latest_step(args.out / m / "checkpoints") is not None for m in MODELS
    )
    if resuming and path.exists():
        stored = json.loads(path.read_text())
        diff = {k: (stored.get(k), v) for k, v in mine.items() if stored.get(k) != v}
        if diff:
            said = ", ".join(
                f"--{k.replace('_', '-')} {new} (checkpoint: {old})"
                for k, (old, new) in diff.items()
            )
            raise ValueError(
                f"the run in {args.out} was trained on other data: got {said}; pass --fresh "
                f"to start again with these, or another --out"
            )
    elif resuming:
        raise ValueError(f"--out: {args.out} holds checkpoints but no config.json; pass --fresh")
    args.out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(mine, indent=1))


def train_one(name, data, args, loss):
    """Build, check, train (resuming) and test one model; returns its metrics and summary."""
    out = args.out / name
    ckpt = out / "checkpoints"
    model = build(name, args.dropout)
    (xtr, ytr), (xval, yval), (xte, yte) = data["train"], data["val"], data["test"]
    variables = model.init(jax.random.key(args.seed), xtr[:2])
    text = model.summary(variables)
    n_params = sum(int(np.size(a)) for a in jax.tree.leaves(variables["params"]))
    want = EXPECTED_PARAMS[name]
    if n_params != want or f"Total params: {want:,}" not in text:
        raise AssertionError(f"{name}: {n_params:,} parameters, expected {want:,}")

    start_epoch = jrnn.checkpoint.latest_step(ckpt) or 0
    if start_epoch >= args.epochs:
        print(f"{name}: the checkpoint has {start_epoch} epochs (--epochs {args.epochs})")
    elif start_epoch:
        print(f"{name}: resuming from epoch {start_epoch} of {args.epochs}")
    marks = []
    timer = jrnn.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: marks.append(time.perf_counter())
    )
    t0 = time.perf_counter()
    state, history = jrnn.fit(
        model,
        variables,
        (xtr, ytr),
        loss=loss,
        optimizer=optax.adam(args.lr),
        metrics=["accuracy"],
        batch_size=args.batch_size,
        epochs=args.epochs,
        validation_data=(xval, yval),
        seed=args.seed,
        callbacks=[timer],
        checkpoint_dir=ckpt,
        verbose=args.verbose,
        devices=jax.devices()[:1],
    )
    train_seconds = time.perf_counter() - t0
    h = history.history
    if not h.get("val_accuracy"):
        raise RuntimeError(f"{name}: no epoch finished (see the warnings above)")
    history.to_csv(out / "history.csv")
    history.plot(out / "curves.png", title=f"{name}: pydoc topic of 33 words")
    test = jrnn.evaluate(model, state, (xte, yte), loss=loss, metrics=["accuracy"])
    times = record_epoch_times(out / "epoch_times.json", start_epoch, t0, marks)
    steady = [sec for sec, first in times if not first]
    return {
        "params": n_params,
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "val_accuracy": h["val_accuracy"][-1],
        "best_val_accuracy": max(h["val_accuracy"]),
        "epochs": len(history.epoch),
        "steps": int(state.step),
        "resumed_from_epoch": start_epoch,
        "epochs_this_run": len(marks),
        "train_seconds": train_seconds,
        "seconds_per_epoch_after_first": float(np.median(steady)) if steady else None,
        "first_epoch_seconds": times[0][0] if times else None,
        "history": h,
    }, text


def record_epoch_times(path: Path, start_epoch: int, t0: float, marks: list) -> list:
    """Wall time of every epoch so far, kept in `path` across resumed runs: [seconds,
    first] pairs, `first` when the epoch was the first of a process (it compiles)."""
    old = json.loads(path.read_text()) if start_epoch and path.exists() else []
    new = np.diff([t0, *marks]).tolist()
    times = old[:start_epoch] + [[s, i == 0] for i, s in enumerate(new)]
    path.write_text(json.dumps(times))
    return times


def plot_comparison(results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, r in results.items():
        acc = r["history"]["val_accuracy"]
        ax.plot(range(1, len(acc) + 1), acc, marker="o", label=f"{name} ({r['params']:,})")
    ax.set(xlabel="epoch", ylabel="validation accuracy", title="pydoc topic of 33 words")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> dict:
    args = parse_args(argv)
    t_start = time.perf_counter()
    if args.fresh:
        for name in MODELS:
            shutil.rmtree(args.out / name, ignore_errors=True)
        (args.out / "config.json").unlink(missing_ok=True)
    check_config(args)

    data, tok, topics = load_data(args)
    tok.save(args.out / "tokenizer.json")
    (xtr, ytr), (xte, yte) = data["train"], data["test"]
    majority = int(np.argmax(np.bincount(ytr, minlength=CLASSES)))
    scores = naive_bayes(xtr, ytr, xte, VOCAB, CLASSES)
    baselines = {
        "majority_class": float(np.mean(yte == majority)),
        "naive_bayes": float(np.mean(scores.argmax(1) == yte)),
    }
    sizes = {k: len(v[1]) for k, v in data.items()}
    print(
        f"pydoc topics: {', '.join(topics)}\npassages of {LENGTH} words ({VOCAB - 1}-word "
        f"vocabulary, {np.mean(xte == 1):.0%} of test words unknown): {sizes['train']} "
        f"training, {sizes['val']} validation, {sizes['test']} test; test accuracy of the "
        f"majority class ({topics[majority]}) {baselines['majority_class']:.3f}, naive Bayes "
        f"{baselines['naive_bayes']:.3f}"
    )

    loss = jrnn.losses.SparseCategoricalCrossentropy(from_logits=True)
    results, summaries = {}, []
    for name in args.models:
        results[name], text = train_one(name, data, args, loss)
        summaries.append(text)
        r = results[name]
        print(
            f"{name}: test accuracy {r['test_accuracy']:.3f} after {r['epochs']} epochs "
            f"({r['train_seconds']:.0f} s this run)"
        )
    (args.out / "summaries.txt").write_text("\n\n".join(summaries) + "\n")
    plot_comparison(results, args.out / "curves.png")

    metrics = {
        "task": f"which of {CLASSES} pydoc topics a passage of {LENGTH} words comes from",
        "topics": topics,
        "data": {
            **sizes,
            "vocabulary": VOCAB,
            "length": LENGTH,
            "test_unknown_word_fraction": float(np.mean(xte == 1)),
            "test_class_counts": np.bincount(yte, minlength=CLASSES).tolist(),
            "python": sys.version.split()[0],
        },
        "baselines": baselines,
        "models": results,
        "total_seconds": time.perf_counter() - t_start,
        "config": {k: str(v) for k, v in vars(args).items()},
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    print(f"\n{'model':12s} {'params':>7s} {'test acc':>8s} {'s/epoch':>8s} {'train s':>8s}")
    for name, r in results.items():
        ep = r["seconds_per_epoch_after_first"] or float("nan")
        print(
            f"{name:12s} {r['params']:7,d} {r['test_accuracy']:8.3f} {ep:8.2f} "
            f"{r['train_seconds']:8.1f}"
        )
    for b, v in baselines.items():
        print(f"{b:21s} {v:8.3f}")
    print(f"wrote {args.out}/ in {metrics['total_seconds']:.0f} s")
    return metrics


if __name__ == "__main__":
    main()
