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
random initialisation with each seed. Time per epoch is each epoch's own (start to end;
the checkpoint jrnn writes after an epoch is not counted, and Keras writes none), the
median over the epochs after the first. Printed and written next to the accuracies:
published test accuracies on the same train/test split (PUBLISHED below, with sources).

    make exp-classify                                   # jrnn and Keras, 3 seeds each
    make exp-classify CLASSIFY_ARGS="--epochs 60"       # jrnn resumes for 20 more epochs
    make exp-classify CLASSIFY_ARGS="--fresh --no-keras --epochs 5"

Resuming: each jrnn run (one per seed) continues from its latest checkpoint in
`--out`/jrnn/seed<k>/ unless `--fresh`; `--epochs` is the total, and `--dataset` and
`--units` must match the checkpointed runs'. More `--seeds` add runs. The Keras runs are
the reference and are not checkpointed: each invocation trains them again, from scratch,
for `--epochs` (`--no-keras` skips them).

Writes to `--out` (default runs/classify/): config.json, metrics.json, history.csv and
curves.png (jrnn, seed 0) and per seed jrnn/seed<k>/checkpoints/, history.csv,
curves.png and epoch_times.json.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
from pathlib import Path

import numpy as np
from _peers import keras_run, keras_timed_fit, summarise_peers
from _runs import at_least, checked_config, clear_run, train_classifier

RUN_DIR = Path(__file__).resolve().parent.parent / "runs" / "classify"
# Settings that fix what a checkpoint means: a resumed run must use the same ones.
FIXED = ("dataset", "units")

# Published test accuracies on the data set's default train/test split (fractions), by
# source. Only figures read in the source itself are here.
# - Fawaz, Forestier, Weber, Idoumghar, Muller (2019), "Deep learning for time series
#   classification: a review", Data Mining and Knowledge Discovery 33(4): the MTS-archive
#   results (Baydogan's archive, whose JapaneseVowels has the same 270/370 split), mean
#   over their runs, as published in the paper's companion repository
#   (github.com/hfawaz/dl-4-tsc, results/results-mts-avg-std.csv, row JapaneseVowels;
#   MCNN 0.092 and t-LeNet 0.238, which did not learn there, are left out).
# - Toth, Oberhauser, Szabo (2023), "Random Fourier Signature Features", arXiv:2311.12214:
#   its table of UEA data sets with N <= 1000, as reproduced in the README of
#   github.com/tgcsaba/KSig ("Results on Multivariate UEA Datasets"), SVMs on signature
#   kernels (KSig, KSigPDE), the global alignment kernel (GAK), an RBF kernel and random
#   warping series (RWS, random DTW features).
# Not found with a per-data-set figure: Bagnall et al. (2018), "The UEA multivariate time
# series classification archive, 2018" (ED, DTW_I, DTW_D; its table could not be read in
# the stored copies), and Ruiz et al. (2021), "The great multivariate time series
# classification bake off", which evaluates only the 26 equal-length problems
# (JapaneseVowels has 7-29 frames).
PUBLISHED = {
    "JapaneseVowels": {
        "Fawaz et al. 2019 (DMKD; dl-4-tsc results-mts-avg-std.csv)": {
            "FCN": 0.993,
            "ResNet": 0.992,
            "MLP": 0.976,
            "Encoder": 0.976,
            "TWIESN (echo state network)": 0.965,
            "Time-CNN": 0.956,
            "MCDCNN": 0.944,
        },
        "Toth et al. 2023 (arXiv:2311.12214; KSig README)": {
            "KSig (signature kernel SVM)": 0.986,
            "KSigPDE": 0.986,
            "GAK (global alignment kernel SVM)": 0.981,
            "RBF SVM": 0.981,
            "RWS (random warping series)": 0.955,
        },
    },
}


def load(name: str):
    """(x_train, y_train, x_test, y_test, class names): x (N, T_max, C) float32 zero-
    padded at the end after per-channel standardisation; y int32."""
    xtr, ytr = _load_split(name, "train")
    xte, yte = _load_split(name, "test")
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


@functools.cache
def _load_split(name: str, split: str):
    """aeon's (series, labels) of one split, parsed once per process (about half a second
    a split; main() may run several times in one, as in the tests). Not modified: load()
    builds new arrays from them."""
    from aeon.datasets import load_classification

    return load_classification(name, split=split)


def train_jrnn(data, args, seed):
    """Train (resuming from `--out`/jrnn/seed<seed>/) and test the jrnn model; returns
    (metrics of `_runs.train_classifier`, the run's folder)."""
    import jax
    import optax

    import jrnn
    from jrnn.layers import GRU, Bidirectional, Dense, Masking

    xtr, ytr, xte, yte, classes = data
    model = jrnn.Sequential(
        [Masking(0.0), Bidirectional(GRU(args.units)), Dense(len(classes))], name="jrnn"
    )
    variables = model.init(jax.random.key(seed), xtr[:2])
    out = args.out / "jrnn" / f"seed{seed}"
    out.mkdir(parents=True, exist_ok=True)
    metrics, _ = train_classifier(
        model,
        variables,
        (xtr, ytr),
        None,
        (xte, yte),
        out=out,
        epochs=args.epochs,
        batch_size=32,
        optimizer=optax.adam(1e-3, eps=1e-7),
        seed=seed,
        verbose=args.verbose,
        title=f"jrnn on {args.dataset}, seed {seed}",
        name=f"jrnn seed {seed}",
    )
    return metrics, out


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
    history, seconds, epoch_seconds = keras_timed_fit(
        model,
        xtr,
        ytr,
        batch_size=32,
        epochs=args.epochs,
        shuffle=True,
        verbose=0 if args.verbose == 0 else 2,
    )
    test = model.evaluate(xte, yte, batch_size=32, verbose=0)
    return keras_run(history, seconds, epoch_seconds, test)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="JapaneseVowels", help="a UEA data set in aeon")
    p.add_argument("--units", type=int, default=64, help="GRU units per direction")
    p.add_argument("--epochs", type=int, default=40, help="total epochs per run")
    p.add_argument("--seeds", type=int, default=3, help="runs per framework (seeds 0..n-1)")
    p.add_argument("--no-keras", dest="keras", action="store_false", help="skip Keras")
    p.add_argument("--fresh", action="store_true", help="discard the checkpoints in --out")
    p.add_argument("--verbose", type=int, default=2, help="0 silent, 1 progress bar, 2 lines")
    p.add_argument("--out", type=Path, default=RUN_DIR)
    args = p.parse_args(argv)
    at_least(p, args, ("units", "epochs", "seeds"))
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.fresh:
        clear_run(args.out, dirs=("jrnn",), files=("config.json", "history.csv", "curves.png"))
    seed_dirs = sorted((args.out / "jrnn").glob("seed*"))
    checked_config(args, FIXED, ckpts=[d / "checkpoints" for d in seed_dirs])

    data = load(args.dataset)
    xtr, _, xte, _, classes = data
    print(f"{args.dataset}: train {xtr.shape}, test {xte.shape}, {len(classes)} classes")
    runs = {"jrnn": [], "keras": []}
    for seed in range(args.seeds):
        result, seed_out = train_jrnn(data, args, seed)
        runs["jrnn"].append(result)
        print(
            f"jrnn  seed {seed}: test accuracy {result['test_accuracy']:.4f} after "
            f"{result['epochs']} epochs, {result['train_seconds']:.1f} s this run"
        )
        if seed == 0:  # seed 0's history and curves also at the top of --out
            for name in ("history.csv", "curves.png"):
                shutil.copyfile(seed_out / name, args.out / name)
        if args.keras:
            result = train_keras(data, args, seed)
            runs["keras"].append(result)
            print(
                f"keras seed {seed}: test accuracy {result['test_accuracy']:.4f}, "
                f"{result['train_seconds']:.1f} s"
            )
    summary = summarise_peers(runs)
    published = PUBLISHED.get(args.dataset, {})
    if published:
        print(f"published test accuracy on {args.dataset} (the same train/test split):")
        for source, figures in published.items():
            print(f"  {source}")
            for method, acc in figures.items():
                print(f"    {method:34s} {acc:.3f}")
    else:
        print(f"no published test accuracy recorded for {args.dataset} (see PUBLISHED)")
    metrics = {
        "dataset": args.dataset,
        "epochs": args.epochs,
        "units": args.units,
        "summary": summary,
        "published_test_accuracy": published,
        "runs": runs,
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics


if __name__ == "__main__":
    main()
