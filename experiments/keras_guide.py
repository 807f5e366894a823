"""The Keras RNN guide's models, built with jrnn and trained on real text: which Python
documentation topic a passage comes from.

The models are those of the Keras guide "Working with RNNs", with its sizes, so their
summaries print the guide's parameter counts (checked on every run):

    lstm             Embedding(1000, 64) -> LSTM(128) -> Dense(10)              164,106
    gru_simplernn    Embedding(1000, 64) -> GRU(256, return_sequences=True)
                     -> SimpleRNN(128) -> Dense(10)                            361,866
    encoder_decoder  encoder: Embedding(1000, 64) -> LSTM(64, return_state=True)
                     decoder: Embedding(2000, 64) -> LSTM(64, initial_state=[h, c])
                     -> Dense(10); two inputs (the functional API)             258,698
    rnn_lstmcell     Embedding(1000, 64) -> RNN(LSTMCell(64)) -> Dense(10), checked to
                     give LSTM(64)'s outputs with the same weights, before and after
                     training                                                   97,674

The data is the documentation that ships inside CPython (`pydoc_data.topics`, the text
`help("topic")` prints), so nothing is downloaded. Topics whose text is mostly a copy of
a larger topic's (e.g. "customization" is part of "specialnames") are left out, and the
10 largest remaining topics are the 10 classes. Each topic's words are cut into blocks
of `--block` words; the blocks of every topic are shuffled once (seeded) and dealt to
training, validation and test (70/15/15), so held-out passages come from text never
trained on. A passage is 2 x `--seq-len` consecutive words of one block (a window every
`--stride` words). The single-input models read its first half as word ids with a
1,000-word vocabulary (the training blocks' most frequent words, id 1 = unknown); the
encoder-decoder reads the first half in its encoder and the second half, with a
2,000-word vocabulary, in its decoder, which starts from the encoder's final (h, c):
it sees twice the text. Reported next to each model's test accuracy: the majority class
and a multinomial naive Bayes classifier on the same first halves.

    make exp-keras_guide                                        # ~2-3 min on 2 CPU cores
    make exp-keras_guide KERAS_GUIDE_ARGS="--epochs 12"         # resume for 4 more epochs
    make exp-keras_guide KERAS_GUIDE_ARGS="--fresh --models lstm"

Resuming: each model continues from its latest checkpoint in `--out` unless `--fresh`;
`--epochs` is the total. The data settings must match the checkpointed run's.

Writes to `--out` (default runs/keras_guide/): config.json, tokenizer.json, summaries.txt,
metrics.json, curves.png (validation accuracy of every model) and per model
<model>/checkpoints/, <model>/history.csv and <model>/curves.png.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jrnn
from jrnn.layers import GRU, LSTM, RNN, Dense, Embedding, SimpleRNN

RUN_DIR = Path(__file__).resolve().parent.parent / "runs" / "keras_guide"
CLASSES = 10  # the guide's Dense(10)
# The guide's parameter totals: checked against summary() on every run.
EXPECTED_PARAMS = {
    "lstm": 164_106,
    "gru_simplernn": 361_866,
    "encoder_decoder": 258_698,
    "rnn_lstmcell": 97_674,
}
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
    """Token ids of the passages of each split, the tokenizer and the topic names."""
    names, split = split_blocks(CLASSES, args.block, 2 * args.seq_len, args.seed)
    tok = jrnn.Tokenizer(num_words=2000, oov_token="<unk>")
    tok.fit_on_texts([words for words, _ in split["train"]])
    rng = np.random.default_rng(args.seed + 1)
    data = {}
    for part, items in split.items():
        ids = tok.texts_to_sequences([w for w, _ in items])  # ids < 2000, 1 = unknown
        x, y = passages(ids, [label for _, label in items], 2 * args.seq_len, args.stride)
        cap = args.max_train if part == "train" else args.max_eval
        if cap and len(y) > cap:
            keep = np.sort(rng.choice(len(y), cap, replace=False))
            x, y = x[keep], y[keep]
        first = np.where(x[:, : args.seq_len] < 1000, x[:, : args.seq_len], 1)
        data[part] = {"first": first, "second": x[:, args.seq_len :], "y": y}
    return data, tok, names


def naive_bayes(train_x, train_y, test_x, vocab: int, classes: int) -> np.ndarray:
    """Class scores (N, classes) of multinomial naive Bayes (add-one smoothing) on the
    token counts of the rows of `test_x`, fit on (train_x, train_y)."""
    counts = np.ones((classes, vocab))
    for c in range(classes):
        np.add.at(counts[c], train_x[train_y == c].ravel(), 1)
    log_p = np.log(counts / counts.sum(1, keepdims=True))
    prior = np.log(np.bincount(train_y, minlength=classes) + 1.0)
    scores = prior + np.stack([log_p[:, row].sum(1) for row in test_x])
    return scores


# -- models -----------------------------------------------------------------------------------
def build(name: str, dropout: float = 0.0):
    """(model, inputs of a data split) for one of MODELS: the guide's layers and sizes.
    `dropout` is the recurrent layers' input dropout (Keras's `dropout=`; no parameters)."""
    d = {"dropout": dropout}
    ids = jrnn.Input((None,), "int32")  # any length: summaries print (None, None, 64)
    if name == "lstm":
        model = jrnn.Sequential([ids, Embedding(1000, 64), LSTM(128, **d), Dense(10)], name=name)
    elif name == "gru_simplernn":
        layers = [
            ids,
            Embedding(1000, 64),
            GRU(256, return_sequences=True, **d),
            SimpleRNN(128, **d),
            Dense(10),
        ]
        model = jrnn.Sequential(layers, name=name)
    elif name == "encoder_decoder":
        enc_in = jrnn.Input((None,), "int32", name="encoder_input")
        dec_in = jrnn.Input((None,), "int32", name="decoder_input")
        enc_emb = Embedding(1000, 64, name="encoder_embedding")(enc_in)
        _, h, c = LSTM(64, return_state=True, name="encoder", **d)(enc_emb)
        dec_emb = Embedding(2000, 64, name="decoder_embedding")(dec_in)
        y = LSTM(64, name="decoder", **d)(dec_emb, initial_state=[h, c])
        model = jrnn.Model([enc_in, dec_in], Dense(10, name="logits")(y), name=name)
        return model, lambda split: [split["first"], split["second"]]
    elif name == "rnn_lstmcell":
        model = jrnn.Sequential(
            [ids, Embedding(1000, 64), RNN(jrnn.LSTMCell(64), **d), Dense(10)], name=name
        )
    else:
        raise ValueError(f"--models: got {name!r}, expected some of {', '.join(MODELS)}")
    return model, lambda split: split["first"]


def as_lstm(variables, dropout: float = 0.0):
    """The LSTM(64) twin of rnn_lstmcell and its variables: the same weights."""
    layers = [jrnn.Input((None,), "int32"), Embedding(1000, 64), LSTM(64, dropout=dropout)]
    model = jrnn.Sequential([*layers, Dense(10)], name="lstm64")
    p = variables["params"]
    params = {"embedding": p["embedding"], "lstm": p["rnn"], "dense": p["dense"]}
    return model, {"params": params, "state": {}}


def max_diff(a, b) -> float:
    return float(jnp.max(jnp.abs(jnp.asarray(a) - jnp.asarray(b))))


# -- main -------------------------------------------------------------------------------------
# Settings that fix the data or the vocabulary: a resumed run must use the same ones.
FIXED = ("seq_len", "block", "stride", "max_train", "max_eval", "seed")


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--models", default=",".join(MODELS), help="comma-separated, of: " + ", ".join(MODELS)
    )
    ap.add_argument("--seq-len", type=int, default=32, help="words per half passage")
    ap.add_argument("--block", type=int, default=192, help="words per block (the split unit)")
    ap.add_argument("--stride", type=int, default=4, help="words between passages")
    ap.add_argument("--max-train", type=int, default=0, help="at most this many (0: all)")
    ap.add_argument("--max-eval", type=int, default=0, help="validation/test cap (0: all)")
    ap.add_argument("--epochs", type=int, default=8, help="total epochs per model")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--dropout", type=float, default=0.0, help="recurrent layers' input dropout")
    ap.add_argument("--seed", type=int, default=0, help="data split and initialisation")
    ap.add_argument("--fresh", action="store_true", help="discard the checkpoints in --out")
    ap.add_argument("--verbose", type=int, default=1, help="0 silent, 1 progress bar, 2 lines")
    ap.add_argument("--out", type=Path, default=RUN_DIR)
    args = ap.parse_args(argv)
    for name in ("seq_len", "block", "stride", "epochs", "batch_size"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')}: got {getattr(args, name)}, expected >= 1")
    for name in ("max_train", "max_eval", "seed"):
        if getattr(args, name) < 0:
            ap.error(f"--{name.replace('_', '-')}: got {getattr(args, name)}, expected >= 0")
    if not 0 <= args.dropout < 1:
        ap.error(f"--dropout: got {args.dropout}, expected a fraction in [0, 1)")
    if args.block < 2 * args.seq_len:
        ap.error(f"--block: got {args.block}, expected >= 2 * --seq-len = {2 * args.seq_len}")
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
    """Build, check, train (resuming) and test one model; returns its metrics."""
    out = args.out / name
    ckpt = out / "checkpoints"
    model, inputs = build(name, args.dropout)
    xtr, ytr = inputs(data["train"]), data["train"]["y"]
    xval, yval = inputs(data["val"]), data["val"]["y"]
    xte, yte = inputs(data["test"]), data["test"]["y"]
    sample = jax.tree.map(lambda a: a[:2], xtr)
    variables = model.init(jax.random.key(args.seed), sample)
    text = model.summary(variables)
    n_params = sum(int(np.size(a)) for a in jax.tree.leaves(variables["params"]))
    if n_params != EXPECTED_PARAMS[name] or f"Total params: {EXPECTED_PARAMS[name]:,}" not in text:
        raise AssertionError(
            f"{name}: {n_params:,} parameters, the guide has {EXPECTED_PARAMS[name]:,}"
        )
    extra = {}
    if name == "rnn_lstmcell":  # RNN(LSTMCell(64)) is LSTM(64): same weights, same outputs
        twin, twin_vars = as_lstm(variables, args.dropout)
        a = jrnn.predict(model, variables, xval, batch_size=args.batch_size)
        b = jrnn.predict(twin, twin_vars, xval, batch_size=args.batch_size)
        extra["max_abs_diff_vs_lstm_at_init"] = max_diff(a, b)

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
    history.plot(out / "curves.png", title=f"{name}: pydoc topic of a passage")
    test = jrnn.evaluate(model, state, (xte, yte), loss=loss, metrics=["accuracy"])
    if name == "rnn_lstmcell":
        twin, twin_vars = as_lstm(state.variables, args.dropout)
        a = jrnn.predict(model, state.variables, xte, batch_size=args.batch_size)
        b = jrnn.predict(twin, twin_vars, xte, batch_size=args.batch_size)
        extra["max_abs_diff_vs_lstm_trained"] = max_diff(a, b)
        worst = max(extra.values())
        if worst > 1e-5:
            raise AssertionError(f"RNN(LSTMCell(64)) and LSTM(64) differ by {worst:g}")
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
        **extra,
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
        ax.plot(range(1, len(acc) + 1), acc, marker="o", label=name)
    ax.set(xlabel="epoch", ylabel="validation accuracy", title="Keras guide models: pydoc topic")
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
    ytr, yte = data["train"]["y"], data["test"]["y"]
    counts = np.bincount(ytr, minlength=CLASSES)
    majority = int(np.argmax(counts))
    # Naive Bayes on the token ids each model reads: the first half, and both halves
    # (the encoder-decoder's two inputs, 1,000- and 2,000-word vocabularies).
    both = {k: np.concatenate([d["first"], d["second"]], 1) for k, d in data.items()}
    nb_first = naive_bayes(data["train"]["first"], ytr, data["test"]["first"], 1000, CLASSES)
    nb_both = naive_bayes(both["train"], ytr, both["test"], 2000, CLASSES)
    baselines = {
        "majority_class": float(np.mean(yte == majority)),
        "naive_bayes_first_half": float(np.mean(nb_first.argmax(1) == yte)),
        "naive_bayes_both_halves": float(np.mean(nb_both.argmax(1) == yte)),
    }
    sizes = {k: len(v["y"]) for k, v in data.items()}
    print(
        f"pydoc topics ({len(tok.word_index) - 1} distinct training words): {', '.join(topics)}\n"
        f"passages of 2 x {args.seq_len} words: {sizes['train']} training, {sizes['val']} "
        f"validation, {sizes['test']} test; test accuracy of the majority class "
        f"({topics[majority]}) {baselines['majority_class']:.3f}, naive Bayes "
        f"{baselines['naive_bayes_first_half']:.3f} (both halves "
        f"{baselines['naive_bayes_both_halves']:.3f})"
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
        "task": f"which of {CLASSES} pydoc topics a passage comes from",
        "topics": topics,
        "data": {
            **sizes,
            "words_per_input": args.seq_len,
            "test_class_counts": np.bincount(yte, minlength=CLASSES).tolist(),
            "python": sys.version.split()[0],
        },
        "baselines": baselines,
        "models": results,
        "total_seconds": time.perf_counter() - t_start,
        "config": {k: str(v) for k, v in vars(args).items()},
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    print(f"\n{'model':16s} {'params':>8s} {'test acc':>8s} {'s/epoch':>8s}")
    for name, r in results.items():
        ep = r["seconds_per_epoch_after_first"] or float("nan")
        print(f"{name:16s} {r['params']:8,d} {r['test_accuracy']:8.3f} {ep:8.2f}")
    for b, v in baselines.items():
        print(f"{b:25s} {v:8.3f}")
    print(f"wrote {args.out}/ in {metrics['total_seconds']:.0f} s")
    return metrics


if __name__ == "__main__":
    main()
