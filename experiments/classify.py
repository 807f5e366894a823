"""Multivariate time-series classification on a real UEA data set, jrnn next to Keras.

The data is one of the UCR/UEA archive sets that ship inside the `aeon` package
(default JapaneseVowels: 12 cepstrum coefficients per frame, 7-29 frames per utterance,
9 speakers; 270 training and 370 test sequences), so nothing is downloaded. Sequences
are standardised per channel with training statistics and zero-padded at the end; a
`Masking` layer turns the padding into a mask, so the recurrent layers skip it.

The recipe is the same in both frameworks: Masking -> Bidirectional(GRU(units)) ->
Dense(classes), sparse categorical cross-entropy on logits, Adam(1e-3, eps=1e-7, Keras's
default eps), batch 32, shuffled, a fixed number of epochs, Glorot/orthogonal
initialisation; test accuracy after the last epoch. Each framework trains from its own
random initialisation with each seed.

    make exp-classify                                   # jrnn and Keras, 3 seeds each
    make exp-classify CLASSIFY_ARGS="--no-keras --epochs 5"
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

RUN_DIR = Path(__file__).resolve().parent.parent / "runs" / "classify"


def load(name: str):
    """(x_train, y_train, x_test, y_test, class names): x (N, T_max, C) float32 zero-
    padded at the end after per-channel standardisation; y int32."""
    from aeon.datasets import load_classification

    xtr, ytr = load_classification(name, split="train")
    xte, yte = load_classification(name, split="test")
    classes = sorted(set(ytr))
    seqs_tr = [np.asarray(s, np.float32).T for s in xtr]  # aeon: (channels, length)
    seqs_te = [np.asarray(s, np.float32).T for s in xte]
    frames = np.concatenate(seqs_tr)
    mean, std = frames.mean(0), frames.std(0) + 1e-8
    t_max = max(len(s) for s in seqs_tr + seqs_te)

    def pad(seqs):
        out = np.zeros((len(seqs), t_max, seqs[0].shape[1]), np.float32)
        for i, s in enumerate(seqs):
            out[i, : len(s)] = (s - mean) / std
        return out

    index = {c: i for i, c in enumerate(classes)}
    to_int = lambda ys: np.array([index[c] for c in ys], np.int32)
    return pad(seqs_tr), to_int(ytr), pad(seqs_te), to_int(yte), classes


def train_jrnn(data, args, seed):
    import jax
    import optax

    import jrnn
    from jrnn.layers import GRU, Bidirectional, Dense, Masking

    xtr, ytr, xte, yte, classes = data
    model = jrnn.Sequential(
        [Masking(0.0), Bidirectional(GRU(args.units)), Dense(len(classes))], name="jrnn"
    )
    variables = model.init(jax.random.key(seed), xtr[:2])
    loss = jrnn.losses.SparseCategoricalCrossentropy(from_logits=True)
    marks = []
    timer = jrnn.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: marks.append(time.perf_counter())
    )
    start = time.perf_counter()
    state, history = jrnn.fit(
        model,
        variables,
        (xtr, ytr),
        loss=loss,
        optimizer=optax.adam(1e-3, eps=1e-7),
        metrics=["accuracy"],
        batch_size=32,
        epochs=args.epochs,
        seed=seed,
        verbose=args.verbose,
        devices=jax.devices()[:1],
        callbacks=[timer],
    )
    seconds = time.perf_counter() - start
    test = jrnn.evaluate(model, state, (xte, yte), loss=loss, metrics=["accuracy"])
    return (
        {
            "test_accuracy": test["accuracy"],
            "test_loss": test["loss"],
            "train_seconds": seconds,
            "epoch_seconds": steady_epoch(marks),
            "history": history.history,
        },
        model,
        state,
        history,
    )


def steady_epoch(marks) -> float:
    """Median time of an epoch after the first (which includes compilation)."""
    return float(np.median(np.diff(marks))) if len(marks) > 2 else float("nan")


def train_keras(data, args, seed):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    xtr, ytr, xte, yte, classes = data
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input(shape=xtr.shape[1:]),
            keras.layers.Masking(0.0),
            keras.layers.Bidirectional(keras.layers.GRU(args.units)),
            keras.layers.Dense(len(classes)),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    marks = []
    timer = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: marks.append(time.perf_counter())
    )
    start = time.perf_counter()
    history = model.fit(
        xtr,
        ytr,
        batch_size=32,
        epochs=args.epochs,
        shuffle=True,
        verbose=0 if args.verbose == 0 else 2,
        callbacks=[timer],
    )
    seconds = time.perf_counter() - start
    loss, acc = model.evaluate(xte, yte, batch_size=32, verbose=0)
    return {
        "test_accuracy": float(acc),
        "test_loss": float(loss),
        "train_seconds": seconds,
        "epoch_seconds": steady_epoch(marks),
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="JapaneseVowels")
    p.add_argument("--units", type=int, default=64)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--no-keras", dest="keras", action="store_false")
    p.add_argument("--verbose", type=int, default=2)
    p.add_argument("--out", type=Path, default=RUN_DIR)
    args = p.parse_args(argv)

    data = load(args.dataset)
    xtr, _, xte, _, classes = data
    print(f"{args.dataset}: train {xtr.shape}, test {xte.shape}, {len(classes)} classes")
    args.out.mkdir(parents=True, exist_ok=True)
    runs = {"jrnn": [], "keras": []}
    for seed in range(args.seeds):
        result, model, state, history = train_jrnn(data, args, seed)
        runs["jrnn"].append(result)
        print(
            f"jrnn  seed {seed}: test accuracy {result['test_accuracy']:.4f}, "
            f"{result['train_seconds']:.1f} s"
        )
        if seed == 0:
            history.to_csv(args.out / "history.csv")
            try:
                history.plot(args.out / "curves.png", title=f"jrnn on {args.dataset}")
            except ImportError:
                pass
        if args.keras:
            result = train_keras(data, args, seed)
            runs["keras"].append(result)
            print(
                f"keras seed {seed}: test accuracy {result['test_accuracy']:.4f}, "
                f"{result['train_seconds']:.1f} s"
            )
    summary = {}
    for name, rs in runs.items():
        if rs:
            acc = np.array([r["test_accuracy"] for r in rs])
            sec = np.array([r["train_seconds"] for r in rs])
            epoch = float(np.median([r["epoch_seconds"] for r in rs]))
            summary[name] = {
                "test_accuracy_mean": float(acc.mean()),
                "test_accuracy_std": float(acc.std()),
                "train_seconds_mean": float(sec.mean()),
                "epoch_seconds_median": epoch,
                "seeds": len(rs),
            }
            print(
                f"{name:5s}: test accuracy {acc.mean():.4f} +- {acc.std():.4f} over "
                f"{len(rs)} seeds; {sec.mean():.1f} s per training run (compilation "
                f"included), {1000 * epoch:.1f} ms per epoch after the first"
            )
    if len(summary) == 2:
        ratio = summary["keras"]["epoch_seconds_median"] / summary["jrnn"]["epoch_seconds_median"]
        summary["keras_over_jrnn_epoch_time"] = ratio
        print(f"time per epoch, keras / jrnn: {ratio:.2f}x")
    metrics = {
        "dataset": args.dataset,
        "epochs": args.epochs,
        "units": args.units,
        "summary": summary,
        "runs": runs,
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics


if __name__ == "__main__":
    main()
