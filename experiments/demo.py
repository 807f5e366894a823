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

Resuming: the run in `--out` continues from its latest checkpoint unless `--fresh` is
given. `--epochs` is the total, as Keras's `epochs` with `initial_epoch`: a finished run
re-run with the same `--epochs` trains nothing and only samples again; a larger value
trains the missing epochs. The learning-rate schedule is fixed when the run starts
(cosine over its first `--epochs`, then constant at a tenth), so added epochs continue at
the final rate. The model and data settings (`--max-chars`, `--embed`, `--units`) must
match the checkpointed run.

Writes to `--out` (default runs/demo/): checkpoints/ (jrnn.checkpoint files),
tokenizer.json, config.json, history.csv, curves.png, samples.txt and metrics.json.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from pathlib import Path
from pydoc_data.topics import topics

import jax
import numpy as np
import optax
from _runs import run_config as _run_config

import jrnn
from jrnn.layers import LSTM, Dense, Embedding

RUN_DIR = Path(__file__).resolve().parent.parent / "runs" / "demo"
# Settings that fix the parameters' shapes or the data: a resumed run must use the same.
FIXED = ("max_chars", "embed", "units")


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


def build_model(vocab: int, embed: int, units: int) -> jrnn.Sequential:
    return jrnn.Sequential(
        [Embedding(vocab, embed), LSTM(units, return_sequences=True), Dense(vocab)],
        name="char_lstm",
    )


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
    ap.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prompt", default="The ")
    ap.add_argument("--sample-chars", type=int, default=400)
    ap.add_argument("--num-samples", type=int, default=2)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--top-k", type=int, default=None)
    ap.add_argument("--fresh", action="store_true", help="discard checkpoints in --out")
    ap.add_argument("--verbose", type=int, default=1, help="0 silent, 1 progress bar, 2 lines")
    ap.add_argument("--out", type=Path, default=RUN_DIR)
    args = ap.parse_args(argv)
    for name in ("epochs", "batch", "seq_len", "embed", "units", "num_samples"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')}: got {getattr(args, name)}, expected >= 1")
    for name in ("steps_per_epoch", "stride", "max_chars", "top_k"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')}: got {getattr(args, name)}, expected >= 1")
    return args


def run_config(args, ckpt_dir: Path, steps_per_epoch: int) -> dict:
    """The settings of the run in `args.out`; a fresh run fixes its learning-rate
    schedule now (cosine over the epochs asked for)."""
    return _run_config(
        args.out,
        {k: getattr(args, k) for k in FIXED},
        fresh=jrnn.checkpoint.latest_step(ckpt_dir) is None,
        ckpt=ckpt_dir,
        at_start={"decay_steps": args.epochs * steps_per_epoch, "seed": args.seed},
    )


def main(argv=None) -> dict:
    args = parse_args(argv)
    out, ckpt_dir = args.out, args.out / "checkpoints"
    if args.fresh:
        shutil.rmtree(ckpt_dir, ignore_errors=True)
        for name in ("history.csv", "config.json", "tokenizer.json"):
            (out / name).unlink(missing_ok=True)

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

    config = run_config(args, ckpt_dir, steps_per_epoch)
    start_epoch = jrnn.checkpoint.latest_step(ckpt_dir) or 0
    saved_tok = out / "tokenizer.json"
    if start_epoch and saved_tok.exists():
        if jrnn.Tokenizer.load(saved_tok).word_index != tok.word_index:
            raise ValueError(f"{saved_tok}: the checkpointed run has another vocabulary")
    if not start_epoch:  # no epoch to continue: a history left by a crashed run goes too
        (out / "history.csv").unlink(missing_ok=True)
    tok.save(saved_tok)

    # -- model and training
    model = build_model(vocab, args.embed, args.units)
    variables = model.init(jax.random.key(config["seed"]), x[:2])
    model.summary(variables)
    schedule = optax.cosine_decay_schedule(args.lr, max(config["decay_steps"], 1), alpha=0.1)
    optimizer = optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.inject_hyperparams(optax.adam)(learning_rate=schedule),
    )
    if start_epoch >= args.epochs:
        print(
            f"the checkpoint in {ckpt_dir} has {start_epoch} epochs (--epochs {args.epochs}): "
            f"nothing to train; pass a larger --epochs to continue, or --fresh"
        )
    elif start_epoch:
        print(f"resuming from epoch {start_epoch} of {args.epochs} ({ckpt_dir})")
    marks = []
    timer = jrnn.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: marks.append(time.perf_counter())
    )
    t0 = time.perf_counter()
    state, history = jrnn.fit(
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
        callbacks=[jrnn.callbacks.CSVLogger(out / "history.csv", append=True), timer],
        checkpoint_dir=ckpt_dir,
        verbose=args.verbose,
    )
    train_seconds = time.perf_counter() - t0
    h = history.history
    if not h.get("val_loss"):
        raise RuntimeError(f"no epoch finished (see the warnings above); {ckpt_dir} unchanged")
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
    curves.plot(out / "curves.png", title="char-LSTM on pydoc_data.topics")

    # -- sampling: one token at a time, every layer's carry explicit
    step_fn, initial_carry = jrnn.lm_step(model, state.variables)
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
        jax.random.key(config["seed"]),
        temperature=args.temperature,
        top_k=args.top_k,
    )
    samples = [args.prompt + s for s in tok.sequences_to_texts(np.asarray(tokens).tolist())]
    (out / "samples.txt").write_text("\n\n---\n\n".join(samples) + "\n")

    epochs_done = len(history.epoch)
    val_bpc = h["val_loss"][-1] / math.log(2)
    per_epoch = np.diff([t0, *marks])
    metrics = {
        "val_bits_per_char": val_bpc,
        "train_bits_per_char": h["loss"][-1] / math.log(2),
        "val_accuracy": h["val_accuracy"][-1],
        "best_val_bits_per_char": min(h["val_loss"]) / math.log(2),
        "epochs": epochs_done,
        "steps": int(state.step),
        "epochs_this_run": len(marks),
        "resumed_from_epoch": start_epoch,
        "train_seconds": train_seconds,
        "seconds_per_epoch_after_first": (
            float(np.median(per_epoch[1:])) if len(per_epoch) > 1 else None
        ),
        "params": sum(int(np.size(a)) for a in jax.tree.leaves(state.params)),
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
    for s in samples:
        print(f"\nsample (temperature {args.temperature}, top-k {args.top_k}):\n{s}")
    return metrics


if __name__ == "__main__":
    main()
