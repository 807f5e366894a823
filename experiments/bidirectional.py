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

The data (experiments/_topics.py) is the documentation that ships inside CPython
(`pydoc_data.topics`), so nothing is downloaded: the 8 largest topics that are not
mostly a copy of another are the 8 classes, and each topic's blocks of `--block` words
are dealt to training, validation and test (70/15/15), so held-out passages come from
text never trained on. The vocabulary is the 119 most frequent training words (id 1 =
any other word, as Keras's `Tokenizer(num_words=120, oov_token=...)`); a passage is 33
consecutive words of one block, one every `--stride` words. Reported next to both
models: the majority class and multinomial naive Bayes on the same token ids
(experiments/_baselines.py), and the time per epoch of each model.

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

import sys
import time
from pathlib import Path

import jax
import numpy as np
from _baselines import majority_class, naive_bayes
from _runs import (
    checked_config,
    checked_summary,
    clear_run,
    plot_comparison,
    report_models,
    train_classifier,
    train_each,
)
from _topics import load_topic_passages, parse_topic_args, topic_parser

import jrnn
from jrnn.layers import LSTM, Bidirectional, Conv1D, Dense, Embedding

RUN_DIR = Path(__file__).resolve().parent.parent / "runs" / "bidirectional"
VOCAB, EMBED, LENGTH, CLASSES = 120, 42, 33, 8
EXPECTED_PARAMS = {"bilstm": 61_592, "conv_bilstm": 23_680}
MODELS = tuple(EXPECTED_PARAMS)


# -- data -------------------------------------------------------------------------------------
def load_data(args):
    """{split: (x (N, 33) token ids < 120, y (N,))}, the tokenizer and the topic names."""
    return load_topic_passages(
        CLASSES,
        block=args.block,
        length=LENGTH,
        stride=args.stride,
        num_words=VOCAB,
        seed=args.seed,
        max_train=args.max_train,
        max_eval=args.max_eval,
    )


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
    ap = topic_parser(__doc__, MODELS, RUN_DIR, block=165, stride=3, epochs=10, lr=3e-3)
    return parse_topic_args(ap, argv, MODELS, lambda args: LENGTH)


def train_one(name, data, args):
    """Build, check, train (resuming) and test one model; returns its metrics and summary."""
    model = build(name, args.dropout)
    variables = model.init(jax.random.key(args.seed), data["train"][0][:2])
    n_params, text = checked_summary(model, variables, EXPECTED_PARAMS[name], name)
    metrics, _ = train_classifier(
        model,
        variables,
        data["train"],
        data["val"],
        data["test"],
        out=args.out / name,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        verbose=args.verbose,
        title=f"{name}: pydoc topic of 33 words",
        name=name,
    )
    return {"params": n_params, **metrics}, text


def main(argv=None) -> dict:
    args = parse_args(argv)
    t_start = time.perf_counter()
    if args.fresh:
        clear_run(args.out, dirs=MODELS, files=("config.json",))
    checked_config(args, FIXED, ckpts=[args.out / m / "checkpoints" for m in MODELS])

    data, tok, topics = load_data(args)
    tok.save(args.out / "tokenizer.json")
    (xtr, ytr), (xte, yte) = data["train"], data["test"]
    majority, majority_accuracy = majority_class(ytr, yte, CLASSES)
    scores = naive_bayes(xtr, ytr, xte, VOCAB, CLASSES)
    baselines = {
        "majority_class": majority_accuracy,
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

    results = train_each(args.models, lambda name: train_one(name, data, args), args.out)
    plot_comparison(
        {f"{name} ({r['params']:,})": r["history"]["val_accuracy"] for name, r in results.items()},
        args.out / "curves.png",
        title="pydoc topic of 33 words",
    )

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
    }
    return report_models(metrics, args, t_start)


if __name__ == "__main__":
    main()
