"""Character-level LSTM language model on real English text shipped with CPython.

The text is `pydoc_data.topics` (CPython's documentation topics, ~465 KB; nothing to
download), split 90/10 into training and held-out text. A character `jrnn.Tokenizer`
maps it to ids; the text is cut into windows of `--seq-len` characters whose targets are
the same windows shifted by one character. The model is
`Sequential([Embedding(V, 64), LSTM(256, return_sequences=True), Dense(V)])`, trained by
`jrnn.fit` with next-character cross-entropy on logits and Adam (gradients clipped to
norm 1, learning rate on a cosine decay to a tenth). It reports held-out bits per
character (val_loss / ln 2), checkpoints the whole training state after every epoch,
plots the curves and samples text from a prompt with temperature (and optional top-k).

    make demo                                  # ~4 min on 2 CPU cores; writes runs/demo/
    make demo DEMO_ARGS="--epochs 20"          # resume the run above for 5 more epochs
    make demo DEMO_ARGS="--fresh --epochs 2"   # discard the checkpoints, start again
    make demo DEMO_ARGS="--sample-only"        # sample from the saved model, no training

Resuming: the run in `--out` continues from its latest checkpoint unless `--fresh` is
given. `--epochs` is the total, as Keras's `epochs` with `initial_epoch`: a finished run
re-run with the same `--epochs` trains nothing and only samples again; a larger value
trains the missing epochs. The learning-rate schedule is fixed when the run starts
(cosine over its first `--epochs`, then constant at a tenth), so added epochs continue at
the final rate. The model and data settings (`--max-chars`, `--embed`, `--units`) must
match the checkpointed run.

Writes to `--out` (default runs/demo/): checkpoints/ (jrnn.checkpoint files),
model.npz (`jrnn.save_model`: config and weights, loadable without this code),
tokenizer.json, config.json, history.csv, curves.png, samples.txt and metrics.json.
`--sample-only` loads model.npz and tokenizer.json and samples without training.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from pydoc_data.topics import topics

import jax
import numpy as np
from _runs import (
    at_least,
    checked_config,
    clear_run,
    cosine_adam,
    resume_epoch,
    save_tokenizer,
    timed_fit,
    training_stats,
)

import jrnn
from jrnn import layers
from jrnn.layers import Dense, Embedding

RUN_DIR = Path(__file__).resolve().parent.parent / "runs" / "demo"
# Settings that fix the parameters' shapes or the data: a resumed run must use the same.
FIXED = ("max_chars", "embed", "units", "cell", "layers")
# --cell: the recurrent layer (jrnn.layers) of the model.
CELLS = {
    "lstm": "LSTM",
    "gru": "GRU",
    "mingru": "MinGRU",
    "minlstm": "MinLSTM",
    "rglru": "RGLRU",
    "lru": "LRU",
}
# Layers whose input width must equal their units (elementwise in x): a Dense projects
# the embedding to it.
SAME_WIDTH = ("rglru", "lru")


def load_text(max_chars: int | None = None) -> str:
    """All documentation topics in a fixed order, as one string (its first `max_chars`)."""
    text = "\n\n".join(topics[k] for k in sorted(topics))
    return text if max_chars is None else text[:max_chars]


def windows(ids: np.ndarray, seq_len: int, stride: int):
    """(x, y): x[j] = ids[s_j : s_j + seq_len], y[j] = ids[s_j + 1 : s_j + seq_len + 1],
    s_j = j * stride; int32 arrays (N, seq_len)."""
    if len(ids) < seq_len + 1:
        raise ValueError(
            f"seq_len: got {seq_len}, expected less than the text's {len(ids)} characters "
            f"(lower --seq-len or raise --max-chars)"
        )
    w = np.lib.stride_tricks.sliding_window_view(ids, seq_len + 1)[::stride]
    return np.ascontiguousarray(w[:, :-1]), np.ascontiguousarray(w[:, 1:])


def build_model(
    vocab: int, embed: int, units: int, cell: str = "lstm", num_layers: int = 1
) -> jrnn.Sequential:
    """Embedding -> `num_layers` recurrent layers of `cell` -> Dense over the vocabulary."""
    stack = [Embedding(vocab, embed)]
    if cell in SAME_WIDTH and embed != units:
        stack.append(Dense(units))
    layer = getattr(layers, CELLS[cell])
    stack += [layer(units, return_sequences=True) for _ in range(num_layers)]
    return jrnn.Sequential([*stack, Dense(vocab)], name=f"char_{cell}")


def bits(history: dict, key: str) -> list[float]:
    return [v / math.log(2) for v in history.get(key, [])]


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=15, help="total epochs (default 15)")
    ap.add_argument(
        "--steps-per-epoch",
        type=int,
        default=None,
        help="train on the first N x batch windows only (default: all, one pass over the text)",
    )
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=128, help="characters per window")
    ap.add_argument("--stride", type=int, default=None, help="between windows (default seq-len)")
    ap.add_argument("--max-chars", type=int, default=None, help="use the text's first N chars")
    ap.add_argument("--embed", type=int, default=64)
    ap.add_argument("--units", type=int, default=256)
    ap.add_argument(
        "--cell",
        choices=sorted(CELLS),
        default="lstm",
        help="the recurrent layer (default lstm; mingru, minlstm, rglru, lru: the linear "
        "recurrences, run with one GEMM per layer and linear_scan)",
    )
    ap.add_argument("--layers", type=int, default=1, help="recurrent layers stacked")
    ap.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prompt", default="The ")
    ap.add_argument("--sample-chars", type=int, default=400)
    ap.add_argument("--num-samples", type=int, default=2)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--top-k", type=int, default=None)
    ap.add_argument("--fresh", action="store_true", help="discard checkpoints in --out")
    ap.add_argument(
        "--sample-only",
        action="store_true",
        help="load --out's model.npz (jrnn.save_model) and sample, without training",
    )
    ap.add_argument("--verbose", type=int, default=1, help="0 silent, 1 progress bar, 2 lines")
    ap.add_argument("--out", type=Path, default=RUN_DIR)
    args = ap.parse_args(argv)
    at_least(ap, args, ("epochs", "batch", "seq_len", "embed", "units", "num_samples"))
    at_least(ap, args, ("steps_per_epoch", "stride", "max_chars", "top_k"))
    return args


def sample_text(model, variables, tok, args, seed: int) -> list[str]:
    """`--num-samples` continuations of `--prompt`, one token at a time, every layer's
    carry explicit; written to samples.txt and printed."""
    step_fn, initial_carry = jrnn.lm_step(model, variables)
    prompt = np.asarray(tok.texts_to_sequences([args.prompt])[0], np.int32)
    if len(prompt) != len(args.prompt) or not len(prompt):
        unknown = sorted(set(args.prompt) - set(tok.word_index))
        raise ValueError(
            f"--prompt: got {args.prompt!r}, expected a non-empty text of characters in the "
            f"vocabulary (unknown: {unknown})"
        )
    tokens = jrnn.decode.sample(
        step_fn,
        initial_carry(args.num_samples),
        np.tile(prompt, (args.num_samples, 1)),
        args.sample_chars,
        jax.random.key(seed),
        temperature=args.temperature,
        top_k=args.top_k,
    )
    samples = [args.prompt + s for s in tok.sequences_to_texts(np.asarray(tokens).tolist())]
    (args.out / "samples.txt").write_text("\n\n---\n\n".join(samples) + "\n")
    for s in samples:
        print(f"\nsample (temperature {args.temperature}, top-k {args.top_k}):\n{s}")
    return samples


def sample_only(args) -> dict:
    """Sample from the model a finished run saved, without its checkpoints or training."""
    path = args.out / "model.npz"
    if not path.is_file():
        raise FileNotFoundError(f"--sample-only: {path} does not exist; run `make demo` first")
    model, variables = jrnn.load_model(path)
    tok = jrnn.Tokenizer.load(args.out / "tokenizer.json")
    return {"samples": sample_text(model, variables, tok, args, args.seed), "model": str(path)}


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.sample_only:
        return sample_only(args)
    out, ckpt_dir = args.out, args.out / "checkpoints"
    if args.fresh:
        clear_run(out, files=("history.csv", "config.json", "tokenizer.json", "model.npz"))

    # -- data: characters -> ids -> (x, y) windows of next characters
    text = load_text(args.max_chars)
    tok = jrnn.Tokenizer(char_level=True, lower=False, filters="")
    tok.fit_on_texts([text])
    vocab = len(tok.word_index) + 1  # ids start at 1 (0 is Keras's padding id, unused)
    ids = np.asarray(tok.texts_to_sequences([text])[0], np.int32)
    split = int(0.9 * len(ids))
    stride = args.stride or args.seq_len
    x, y = windows(ids[:split], args.seq_len, stride)
    xv, yv = windows(ids[split:], args.seq_len, args.seq_len)
    if args.steps_per_epoch is not None:
        x, y = x[: args.steps_per_epoch * args.batch], y[: args.steps_per_epoch * args.batch]
    steps_per_epoch = -(-len(x) // args.batch)
    print(
        f"text: {len(text):,} characters, vocabulary {vocab - 1}; train {split:,} "
        f"({len(x):,} windows of {args.seq_len}, {steps_per_epoch} steps of {args.batch} per "
        f"epoch), held-out {len(ids) - split:,} ({len(xv):,} windows)"
    )

    # A fresh run fixes its learning-rate schedule now (cosine over the epochs asked for).
    config = checked_config(
        args,
        FIXED,
        ckpts=[ckpt_dir],
        at_start={"decay_steps": args.epochs * steps_per_epoch, "seed": args.seed},
    )
    start_epoch = resume_epoch(ckpt_dir, args.epochs)
    if not start_epoch:  # no epoch to continue: a history left by a crashed run goes too
        (out / "history.csv").unlink(missing_ok=True)
    save_tokenizer(tok, out / "tokenizer.json", resuming=bool(start_epoch))

    # -- model and training
    model = build_model(vocab, args.embed, args.units, args.cell, args.layers)
    variables = model.init(jax.random.key(config["seed"]), x[:2])
    model.summary(variables)
    optimizer = cosine_adam(args.lr, config["decay_steps"], alpha=0.1)
    state, history, train_seconds, epoch_seconds = timed_fit(
        model,
        variables,
        (x, y),
        loss=jrnn.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=optimizer,
        metrics=["accuracy"],
        batch_size=args.batch,
        epochs=args.epochs,
        validation_data=(xv, yv),
        seed=config["seed"],
        callbacks=[jrnn.callbacks.CSVLogger(out / "history.csv", append=True)],
        checkpoint_dir=ckpt_dir,
        verbose=args.verbose,
    )
    h = history.history
    # The whole run's history (the CSV logger appended only this invocation's epochs).
    history.to_csv(out / "history.csv")
    curves = jrnn.History(
        {
            "bits_per_char": bits(h, "loss"),
            "val_bits_per_char": bits(h, "val_loss"),
            "accuracy": h["accuracy"],
            "val_accuracy": h["val_accuracy"],
            "learning_rate": h.get("learning_rate", []),
        },
        history.epoch,
    )
    curves.plot(out / "curves.png", title=f"char-{CELLS[args.cell]} on pydoc_data.topics")

    # The trained model, loadable without this code: `--sample-only` samples from it.
    jrnn.save_model(out / "model.npz", model, state)
    samples = sample_text(model, state.variables, tok, args, config["seed"])

    epochs_done = len(history.epoch)
    val_bpc = h["val_loss"][-1] / math.log(2)
    metrics = {
        "val_bits_per_char": val_bpc,
        "train_bits_per_char": h["loss"][-1] / math.log(2),
        "val_accuracy": h["val_accuracy"][-1],
        "best_val_bits_per_char": min(h["val_loss"]) / math.log(2),
        **training_stats(history, state, start_epoch, train_seconds, epoch_seconds),
        "data": {
            "characters": len(text),
            "vocabulary": vocab - 1,
            "train_characters": split,
            "val_characters": len(ids) - split,
            "train_windows": len(x),
            "val_windows": len(xv),
        },
        "prompt": args.prompt,
        "temperature": args.temperature,
        "top_k": args.top_k,
        "samples": samples,
        "config": {**{k: str(v) for k, v in vars(args).items()}, "run": config},
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    print(
        f"\nheld-out: {val_bpc:.3f} bits per character after {epochs_done} epochs "
        f"({metrics['steps']} steps; {train_seconds:.0f} s of training in this run); "
        f"wrote {out}/"
    )
    return metrics


if __name__ == "__main__":
    main()
