"""Binary sentiment classification with stacked SimpleRNNs (the classic TF2 IMDB RNN
tutorial's model), jrnn next to Keras with the same recipe.

Model: Embedding(vocab, 64, mask_zero=True) -> SimpleRNN(64, return_sequences=True) ->
SimpleRNN(64) -> Dropout(0.5) -> Dense(1, sigmoid); both SimpleRNNs drop 30% of their
inputs (`dropout=0.3`, one mask per sequence). BinaryCrossentropy on the probabilities,
Adam(1e-3, eps=1e-7: Keras's default eps), batch 64, a fixed number of epochs (the
validation accuracy peaks after 2-3 on the snippets), each seed its own initialisation.
Sequences are zero-padded in front (Keras's `pad_sequences` default); the mask makes the
recurrent layers skip the padding.

Data (see experiments/_sentiment_data.py):
- `--imdb PATH`: Keras's imdb.npz or the aclImdb folder, if you have it (of the 25k
  training reviews 20k train and 5k validate; 25k test; `--maxlen 200` is a usual cut).
- otherwise the default, which installs from PyPI: the 10,605 Rotten Tomatoes snippets of
  Pang & Lee's sentence-polarity data (MR) as rated by 20 people each for the VADER paper,
  found in the vaderSentiment 3.3.2 source distribution; `make exp-sentiment` downloads
  that sdist with pip into .venv/data/. A seeded stratified 80/10/10 split; the label is
  the sign of the mean rating.

Reported next to the test accuracies: the majority class, multinomial naive Bayes on the
same token ids, and (for the snippets) the MR figures of Kim (2014), Table 2, which use
10-fold cross-validation on the original 10,662 labels: comparable in kind, not exactly.

    make exp-sentiment                                     # jrnn and Keras, 3 seeds each
    make exp-sentiment SENTIMENT_ARGS="--no-keras --epochs 6"     # resumes to 6 epochs
    make exp-sentiment SENTIMENT_ARGS="--imdb ~/imdb.npz --maxlen 200 --fresh"

Resuming: each jrnn seed continues from its latest checkpoint in `--out` unless `--fresh`;
`--epochs` is the total; data and model settings must match the checkpointed run's. The
Keras runs (the peer) are simply run again.

Writes to `--out` (default runs/sentiment/): config.json, tokenizer.json (when the texts
were tokenised here), metrics.json, samples.txt (test snippets with jrnn's predicted
probability), history.csv and curves.png (seed 0), and seed<N>/checkpoints/.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from _baselines import majority_class, naive_bayes
from _peers import keras_run, keras_timed_fit, summarise_peers
from _runs import (
    at_least,
    checked_config,
    clear_run,
    record_epoch_times,
    resume_epoch,
    save_tokenizer,
    timed_fit,
    training_stats,
)
from _sentiment_data import VADER_SDIST, Corpus, load_imdb, load_movie_snippets

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / "runs" / "sentiment"
DEFAULT_DATA = ROOT / ".venv" / "data" / VADER_SDIST
# Kim (2014), "Convolutional Neural Networks for Sentence Classification", EMNLP, Table 2,
# column MR (10-fold cross-validation accuracy, %): one-layer CNNs over word vectors that
# are random and trained ("rand"), word2vec and fixed ("static") or fine-tuned.
PUBLISHED_MR = {
    "CNN-rand (Kim 2014)": 76.1,
    "CNN-static (Kim 2014)": 81.0,
    "CNN-non-static (Kim 2014)": 81.5,
    "CNN-multichannel (Kim 2014)": 81.1,
}
# Settings a resumed run must share with the checkpointed one.
FIXED = (
    "source",
    "num_words",
    "maxlen",
    "embed",
    "units",
    "dropout",
    "batch_size",
    "lr",
    "max_train",
)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--imdb", help="imdb.npz or an aclImdb folder (else --data)")
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="the VADER snippets")
    ap.add_argument("--num-words", type=int, default=10_000, help="vocabulary size (ids)")
    ap.add_argument("--maxlen", type=int, default=50, help="tokens kept (the last ones)")
    ap.add_argument("--embed", type=int, default=64)
    ap.add_argument("--units", type=int, default=64)
    ap.add_argument("--dropout", type=float, default=0.3, help="SimpleRNN input dropout")
    ap.add_argument("--epochs", type=int, default=3, help="total epochs per seed")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seeds", type=int, default=3, help="runs per framework")
    ap.add_argument("--max-train", type=int, default=0, help="at most this many (0: all)")
    ap.add_argument("--no-keras", dest="keras", action="store_false", help="jrnn only")
    ap.add_argument("--fresh", action="store_true", help="discard the checkpoints in --out")
    ap.add_argument("--verbose", type=int, default=1, help="0 silent, 1 progress bar, 2 lines")
    ap.add_argument("--out", type=Path, default=RUN_DIR)
    args = ap.parse_args(argv)
    at_least(ap, args, ("maxlen", "embed", "units", "epochs", "batch_size", "seeds"))
    at_least(ap, args, ("max_train",), 0)
    if args.num_words < 4:
        ap.error(f"--num-words: got {args.num_words}, expected >= 4 (ids 0-2 are reserved)")
    if not 0 <= args.dropout < 1:
        ap.error(f"--dropout: got {args.dropout}, expected a fraction in [0, 1)")
    if not args.lr > 0:
        ap.error(f"--lr: got {args.lr}, expected > 0")
    # The file or folder read, as one absolute path: what a resumed run must read again.
    args.source = str(Path(args.imdb or args.data).expanduser().resolve())
    return args


# -- data -------------------------------------------------------------------------------------
def load_corpus(args) -> Corpus:
    if args.imdb is not None:
        return load_imdb(Path(args.source), num_words=args.num_words)
    return load_movie_snippets(Path(args.source), num_words=args.num_words)


def arrays(corpus: Corpus, args) -> dict:
    """{split: (x (N, maxlen) int32, y (N,) int32)}, the training split cut to
    `--max-train` (and validation/test to a quarter of it) when given."""
    import jrnn

    out = {}
    for split in ("train", "val", "test"):
        seqs, y = getattr(corpus, split)
        cap = args.max_train if split == "train" else max(1, args.max_train // 4)
        if args.max_train:
            seqs, y = seqs[:cap], y[:cap]
        out[split] = (jrnn.pad_sequences(seqs, maxlen=args.maxlen), np.asarray(y, np.int32))
    return out


# -- jrnn -------------------------------------------------------------------------------------
def build(vocab: int, args):
    import jrnn
    from jrnn.layers import Dense, Dropout, Embedding, SimpleRNN

    return jrnn.Sequential(
        [
            Embedding(vocab, args.embed, mask_zero=True),
            SimpleRNN(args.units, return_sequences=True, dropout=args.dropout),
            SimpleRNN(args.units, dropout=args.dropout),
            Dropout(0.5),
            Dense(1, activation="sigmoid"),
        ],
        name="sentiment",
    )


def train_jrnn(data: dict, vocab: int, args, seed: int):
    """Train (resuming from `--out`/seed<seed>/checkpoints) and test one seed; returns
    (metrics, model, TrainState, History)."""
    import jax
    import optax

    import jrnn

    (xtr, ytr), val, (xte, yte) = data["train"], data["val"], data["test"]
    out = args.out / f"seed{seed}"
    model = build(vocab, args)
    variables = model.init(jax.random.key(seed), xtr[:2])
    start_epoch = resume_epoch(out / "checkpoints", args.epochs, name=f"jrnn  seed {seed}")
    loss = jrnn.losses.BinaryCrossentropy()
    state, history, seconds, epoch_seconds = timed_fit(
        model,
        variables,
        (xtr, ytr),
        loss=loss,
        optimizer=optax.adam(args.lr, eps=1e-7),
        metrics=["accuracy"],
        batch_size=args.batch_size,
        epochs=args.epochs,
        validation_data=val,
        seed=seed,
        checkpoint_dir=out / "checkpoints",
        verbose=args.verbose,
        devices=jax.devices()[:1],
    )
    test = jrnn.evaluate(model, state, (xte, yte), loss=loss, metrics=["accuracy"])
    times = record_epoch_times(out / "epoch_times.json", start_epoch, epoch_seconds)
    result = {
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "val_accuracy": history.history["val_accuracy"][-1],
        **training_stats(history, state, start_epoch, seconds, epoch_seconds, times),
        "history": history.history,
    }
    return result, model, state, history


# -- Keras, the peer --------------------------------------------------------------------------
def train_keras(data: dict, vocab: int, args, seed: int) -> dict:
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    (xtr, ytr), val, (xte, yte) = data["train"], data["val"], data["test"]
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input(shape=(args.maxlen,), dtype="int32"),
            layers.Embedding(vocab, args.embed, mask_zero=True),
            layers.SimpleRNN(args.units, return_sequences=True, dropout=args.dropout),
            layers.SimpleRNN(args.units, dropout=args.dropout),
            layers.Dropout(0.5),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(args.lr),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=["accuracy"],
    )
    history, seconds, epoch_seconds = keras_timed_fit(
        model,
        xtr,
        ytr,
        batch_size=args.batch_size,
        epochs=args.epochs,
        validation_data=val,
        shuffle=True,
        verbose=0 if args.verbose == 0 else 2,
    )
    test = model.evaluate(xte, yte, batch_size=args.batch_size, verbose=0)
    return {
        **keras_run(history, seconds, epoch_seconds, test),
        "val_accuracy": float(history.history["val_accuracy"][-1]),
        "epochs": args.epochs,
    }


# -- the run ----------------------------------------------------------------------------------
def write_samples(path: Path, corpus: Corpus, data: dict, probs: np.ndarray, n: int = 12):
    """The first `n` test examples, their label and jrnn's P(positive)."""
    x, y = data["test"]
    lines = []
    for i in range(min(n, len(y))):
        if corpus.tokenizer is not None:
            text = corpus.tokenizer.sequences_to_texts([[t for t in x[i] if t]])[0]
        else:
            text = " ".join(str(t) for t in x[i] if t)
        mark = "ok " if (probs[i] > 0.5) == bool(y[i]) else "NO "
        lines.append(f"{mark} label {y[i]}  P(positive) {probs[i]:.2f}  {text}")
    path.write_text("\n".join(lines) + "\n")
    return lines


def main(argv=None) -> dict:
    import jrnn

    args = parse_args(argv)
    t_start = time.perf_counter()
    if args.fresh:
        clear_run(args.out, [f"{d.name}/checkpoints" for d in args.out.glob("seed*")])
    ckpts = [d / "checkpoints" for d in args.out.glob("seed*")]
    resuming = any(jrnn.checkpoint.latest_step(c) is not None for c in ckpts)
    checked_config(args, FIXED, ckpts=ckpts)

    corpus = load_corpus(args)
    data = arrays(corpus, args)
    if corpus.tokenizer is not None:
        save_tokenizer(corpus.tokenizer, args.out / "tokenizer.json", resuming=resuming)
    (xtr, ytr), (xte, yte) = data["train"], data["test"]
    nb = naive_bayes(xtr, ytr, xte, corpus.vocab, 2, pad=0)
    baselines = {
        "majority_class": majority_class(ytr, yte, 2)[1],
        "naive_bayes": float(np.mean(nb.argmax(1) == yte)),
    }
    sizes = {k: len(v[1]) for k, v in data.items()}
    print(
        f"{corpus.name}: {sizes['train']} training, {sizes['val']} validation, "
        f"{sizes['test']} test examples ({ytr.mean():.1%} positive), {corpus.vocab} ids, "
        f"maxlen {args.maxlen}; test accuracy of the majority class "
        f"{baselines['majority_class']:.3f}, naive Bayes {baselines['naive_bayes']:.3f}"
    )

    runs = {"jrnn": [], "keras": []}
    for seed in range(args.seeds):
        result, model, state, history = train_jrnn(data, corpus.vocab, args, seed)
        runs["jrnn"].append(result)
        print(
            f"jrnn  seed {seed}: test accuracy {result['test_accuracy']:.4f} after "
            f"{result['epochs']} epochs, {result['train_seconds']:.1f} s this run"
        )
        if seed == 0:
            model.summary(state.variables)
            history.to_csv(args.out / "history.csv")
            history.plot(args.out / "curves.png", title=f"jrnn, stacked SimpleRNN: {corpus.name}")
            probs = jrnn.predict(model, state.variables, xte[:12])[:, 0]
            samples = write_samples(args.out / "samples.txt", corpus, data, np.asarray(probs))
        if args.keras:
            result = train_keras(data, corpus.vocab, args, seed)
            runs["keras"].append(result)
            print(
                f"keras seed {seed}: test accuracy {result['test_accuracy']:.4f}, "
                f"{result['train_seconds']:.1f} s"
            )
    print("\n".join(["", *samples[:6], ""]))
    summary = summarise_peers(runs)
    published = PUBLISHED_MR if corpus.name == "movie_snippets" else {}
    metrics = {
        "data": {"name": corpus.name, **sizes, "vocab": corpus.vocab, "maxlen": args.maxlen},
        "baselines": baselines,
        "published_accuracy_percent": published,
        "summary": summary,
        "runs": runs,
        "samples": samples,
        "total_seconds": time.perf_counter() - t_start,
        "config": {k: str(v) for k, v in vars(args).items()},
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=1))

    for b, v in baselines.items():
        print(f"{b:24s} {v:.4f}")
    for b, v in published.items():
        print(f"{b:24s} {v / 100:.3f} (published, MR, 10-fold)")
    print(f"wrote {args.out}/ in {metrics['total_seconds']:.0f} s")
    return metrics


if __name__ == "__main__":
    main()
