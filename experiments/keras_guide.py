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

The data (experiments/_topics.py) is the documentation that ships inside CPython
(`pydoc_data.topics`, the text `help("topic")` prints), so nothing is downloaded: the 10
largest topics that are not mostly a copy of another are the 10 classes, and each
topic's blocks of `--block` words are dealt to training, validation and test (70/15/15),
so held-out passages come from text never trained on. A passage is 2 x `--seq-len`
consecutive words of one block (a window every `--stride` words). The single-input
models read its first half as word ids with a 1,000-word vocabulary (the training
blocks' most frequent words, id 1 = unknown); the encoder-decoder reads the first half
in its encoder and the second half, with a 2,000-word vocabulary, in its decoder, which
starts from the encoder's final (h, c): it sees twice the text. Reported next to each
model's test accuracy: the majority class and a multinomial naive Bayes classifier on
the same first halves (experiments/_baselines.py).

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

import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
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
def load_data(args):
    """{split: {"first": (N, seq_len) ids < 1000, "second": (N, seq_len) ids < 2000, "y": (N,)}},
    the tokenizer and the topic names: passages of 2 x `--seq-len` words (see _topics)."""
    parts, tok, names = load_topic_passages(
        CLASSES,
        block=args.block,
        length=2 * args.seq_len,
        stride=args.stride,
        num_words=2000,  # ids < 2000, 1 = unknown
        seed=args.seed,
        max_train=args.max_train,
        max_eval=args.max_eval,
    )
    data = {}
    for part, (x, y) in parts.items():
        first = np.where(x[:, : args.seq_len] < 1000, x[:, : args.seq_len], 1)
        data[part] = {"first": first, "second": x[:, args.seq_len :], "y": y}
    return data, tok, names


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
    ap = topic_parser(__doc__, MODELS, RUN_DIR, block=192, stride=4, epochs=8, lr=2e-3)
    ap.add_argument("--seq-len", type=int, default=32, help="words per half passage")
    return parse_topic_args(ap, argv, MODELS, lambda args: 2 * args.seq_len, ("seq_len",))


def train_one(name, data, args):
    """Build, check, train (resuming) and test one model; returns its metrics and summary."""
    model, inputs = build(name, args.dropout)
    xtr, ytr = inputs(data["train"]), data["train"]["y"]
    xval, yval = inputs(data["val"]), data["val"]["y"]
    xte, yte = inputs(data["test"]), data["test"]["y"]
    sample = jax.tree.map(lambda a: a[:2], xtr)
    variables = model.init(jax.random.key(args.seed), sample)
    n_params, text = checked_summary(model, variables, EXPECTED_PARAMS[name], name)
    extra = {}
    if name == "rnn_lstmcell":  # RNN(LSTMCell(64)) is LSTM(64): same weights, same outputs
        twin, twin_vars = as_lstm(variables, args.dropout)
        a = jrnn.predict(model, variables, xval, batch_size=args.batch_size)
        b = jrnn.predict(twin, twin_vars, xval, batch_size=args.batch_size)
        extra["max_abs_diff_vs_lstm_at_init"] = max_diff(a, b)
    metrics, state = train_classifier(
        model,
        variables,
        (xtr, ytr),
        (xval, yval),
        (xte, yte),
        out=args.out / name,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        verbose=args.verbose,
        title=f"{name}: pydoc topic of a passage",
        name=name,
    )
    if name == "rnn_lstmcell":
        twin, twin_vars = as_lstm(state.variables, args.dropout)
        a = jrnn.predict(model, state.variables, xte, batch_size=args.batch_size)
        b = jrnn.predict(twin, twin_vars, xte, batch_size=args.batch_size)
        extra["max_abs_diff_vs_lstm_trained"] = max_diff(a, b)
        worst = max(extra.values())
        if worst > 1e-5:
            raise AssertionError(f"RNN(LSTMCell(64)) and LSTM(64) differ by {worst:g}")
    return {"params": n_params, **metrics, **extra}, text


def main(argv=None) -> dict:
    args = parse_args(argv)
    t_start = time.perf_counter()
    if args.fresh:
        clear_run(args.out, dirs=MODELS, files=("config.json",))
    checked_config(args, FIXED, ckpts=[args.out / m / "checkpoints" for m in MODELS])

    data, tok, topics = load_data(args)
    tok.save(args.out / "tokenizer.json")
    ytr, yte = data["train"]["y"], data["test"]["y"]
    majority, majority_accuracy = majority_class(ytr, yte, CLASSES)
    # Naive Bayes on the token ids each model reads: the first half, and both halves
    # (the encoder-decoder's two inputs, 1,000- and 2,000-word vocabularies).
    both = {k: np.concatenate([d["first"], d["second"]], 1) for k, d in data.items()}
    nb_first = naive_bayes(data["train"]["first"], ytr, data["test"]["first"], 1000, CLASSES)
    nb_both = naive_bayes(both["train"], ytr, both["test"], 2000, CLASSES)
    baselines = {
        "majority_class": majority_accuracy,
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

    results = train_each(args.models, lambda name: train_one(name, data, args), args.out)
    plot_comparison(
        {name: r["history"]["val_accuracy"] for name, r in results.items()},
        args.out / "curves.png",
        title="Keras guide models: pydoc topic",
    )

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
    }
    return report_models(metrics, args, t_start)


if __name__ == "__main__":
    main()
