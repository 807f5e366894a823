"""Text generation: a word-level LSTM on n-gram prefixes and a character-level GRU.

The text is real English prose that ships with CPython: the sentences of the
documentation topics in `pydoc_data.topics` (paragraphs of code and grammar are left out;
a sentence has 4 to 40 words). The sentences are split once, with a fixed seed, into
training, validation and test sentences (80/10/10), so the test measures text never seen.

Word level, the classic Keras text-generation recipe: a word `jrnn.Tokenizer` (words seen
fewer than `--min-count` times in training become `<unk>`), `jrnn.ngram_sequences` turns
each sentence into its prefixes (input: the words so far, pre-padded to
`--context` words; label: the next word), and

    Sequential([Embedding(V, 64, mask_zero=True), LSTM(128, dropout=0.2), Dropout(0.5),
                Dense(V)])

is trained with next-word cross-entropy on logits. Character level: a char `Tokenizer`,
windows of `--seq-len` characters whose targets are the windows shifted by one, and

    Sequential([Embedding(V, 32), GRU(256, return_sequences=True), Dense(V)])

Both report test perplexity (exp of the mean cross-entropy; bits per character too for the
char model) and top-1 accuracy next to two count baselines fitted on the training text: a
unigram (add-one smoothed) and an interpolated bigram (Witten-Bell). Both generate text
from prompts with `jrnn.lm_step` (one token at a time, every carry explicit) and
`jrnn.decode.sample` at several temperatures, with and without top-k.

    make exp-textgen                                        # ~2-3 min on 2 CPU cores
    make exp-textgen TEXTGEN_ARGS="--word-epochs 20 --char-epochs 12"   # resume, train more
    make exp-textgen TEXTGEN_ARGS="--fresh"                 # discard the checkpoints

Resuming: each model continues from its latest checkpoint in `--out` unless `--fresh`;
`--word-epochs` / `--char-epochs` are totals. The learning-rate schedules are fixed when
the run starts; the data and model settings must match the checkpointed run's.

Writes to `--out` (default runs/textgen/): checkpoints/word/ and checkpoints/char/
(jrnn.checkpoint files), word_tokenizer.json, char_tokenizer.json, config.json,
history.csv (both models' epochs, columns prefixed word_ / char_), curves.png,
samples.txt and metrics.json.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
from pathlib import Path
from pydoc_data.topics import topics

import jax
import numpy as np
from _runs import (
    at_least,
    checked_config,
    clear_run,
    combined_history,
    cosine_adam,
    resume_epoch,
    save_tokenizer,
    steady_seconds,
    timed_fit,
)

import jrnn
from jrnn.layers import GRU, LSTM, Dense, Dropout, Embedding

RUN_DIR = Path(__file__).resolve().parent.parent / "runs" / "textgen"
# Settings that fix the data, the vocabularies or the parameters' shapes.
FIXED = (
    "max_sentences",
    "min_count",
    "context",
    "word_embed",
    "word_units",
    "char_embed",
    "char_units",
    "seed",
)
WORD_PROMPTS = ("the", "a function", "if the object", "the value of", "this is")
CHAR_PROMPTS = ("The ", "If the ", "A class ")


# -- data -------------------------------------------------------------------------------------
# A prose sentence: no grammar rules (::=), markup tables or braces.
_PROSE = re.compile(r"^[^=<>{}|\\]+$")


def load_sentences(min_words: int = 4, max_words: int = 40) -> list[str]:
    """Prose sentences of CPython's documentation topics, in a fixed order. Paragraphs
    that are indented (code, grammar) or hold an interactive session are skipped; a
    paragraph's lines are joined and split into sentences at '.', '!' or '?' followed by
    a capital letter or a quote."""
    out = []
    for name in sorted(topics):
        for para in re.split(r"\n\s*\n", topics[name]):
            lines = para.splitlines()
            if not lines or lines[0].startswith("   ") or "::=" in para or ">>>" in para:
                continue
            text = re.sub(r"\s+", " ", " ".join(line.strip() for line in lines)).lstrip("* ")
            for s in re.split(r"(?<=[.!?])\s+(?=[A-Z\"“])", text):
                n = len(s.split())
                if min_words <= n <= max_words and s[0].isupper() and s[-1] in ".?!":
                    if _PROSE.match(s):
                        out.append(s)
    return out


def split_sentences(sentences, seed: int, fractions=(0.8, 0.1)):
    """(train, val, test) lists of sentences: one shuffle with `seed`, then 80/10/10."""
    order = np.random.default_rng(seed).permutation(len(sentences))
    n_train = int(fractions[0] * len(order))
    n_val = int(fractions[1] * len(order))
    pick = lambda idx: [sentences[i] for i in sorted(idx)]  # keep document order
    return (
        pick(order[:n_train]),
        pick(order[n_train : n_train + n_val]),
        pick(order[n_train + n_val :]),
    )


def word_tokenizer(train, min_count: int) -> tuple[jrnn.Tokenizer, int]:
    """A word Tokenizer fitted on the training sentences whose outputs keep the words
    seen at least `min_count` times (the others become <unk>, id 1); returns it and the
    vocabulary size V (ids 0..V-1, 0 the padding)."""
    tok = jrnn.Tokenizer(oov_token="<unk>")
    tok.fit_on_texts(train)
    # word_index is ordered by count, so the kept words are ids 2..K+1.
    kept = sum(1 for w, c in tok.word_counts.items() if c >= min_count)
    tok.num_words = kept + 2
    return tok, kept + 2


def char_windows(ids: np.ndarray, seq_len: int):
    """(x, y) int32 (N, seq_len): non-overlapping windows and the same shifted by one."""
    if len(ids) < seq_len + 1:
        raise ValueError(
            f"seq_len: got {seq_len}, expected less than the text's {len(ids)} characters"
        )
    w = np.lib.stride_tricks.sliding_window_view(ids, seq_len + 1)[::seq_len]
    return np.ascontiguousarray(w[:, :-1]), np.ascontiguousarray(w[:, 1:])


def count_baselines(prev_train, y_train, prev_test, y_test, vocab: int) -> dict:
    """Unigram (add-one) and interpolated bigram (Witten-Bell) next-token models fitted on
    the training pairs (previous token, next token); their test perplexity and top-1
    accuracy. Token 0 (padding) is never a label and gets no probability mass."""
    labels = np.arange(1, vocab)
    counts = np.bincount(y_train, minlength=vocab)[1:].astype(np.float64)
    uni = (counts + 1.0) / (counts.sum() + len(labels))
    pair = np.zeros((vocab, vocab - 1))
    np.add.at(pair, (prev_train, y_train - 1), 1.0)
    n_prev = pair.sum(1, keepdims=True)
    types = (pair > 0).sum(1, keepdims=True)
    lam = np.where(n_prev > 0, n_prev / np.maximum(n_prev + types, 1), 0.0)
    bi = lam * pair / np.maximum(n_prev, 1) + (1.0 - lam) * uni[None]

    def score(p_rows):
        nll = -np.log(p_rows[np.arange(len(y_test)), y_test - 1])
        return {"perplexity": float(np.exp(nll.mean())), "cross_entropy": float(nll.mean())}

    unigram = score(np.broadcast_to(uni, (len(y_test), len(uni))))
    unigram["accuracy"] = float(np.mean(y_test == labels[np.argmax(uni)]))
    bigram = score(bi[prev_test])
    bigram["accuracy"] = float(np.mean(y_test == labels[np.argmax(bi[prev_test], axis=1)]))
    return {"unigram": unigram, "bigram": bigram}


# -- models -----------------------------------------------------------------------------------
def word_model(vocab: int, embed: int, units: int, dropout: float = 0.5) -> jrnn.Sequential:
    """Dropout: on the embedded words (one mask per sequence, Keras's LSTM `dropout`) and
    on the LSTM's output."""
    return jrnn.Sequential(
        [
            Embedding(vocab, embed, mask_zero=True),
            LSTM(units, dropout=dropout),
            Dropout(0.5),
            Dense(vocab),
        ],
        name="word_lstm",
    )


def char_model(vocab: int, embed: int, units: int) -> jrnn.Sequential:
    return jrnn.Sequential(
        [Embedding(vocab, embed), GRU(units, return_sequences=True), Dense(vocab)],
        name="char_gru",
    )


def train(model, x, y, xv, yv, *, epochs, batch, lr, decay_steps, seed, ckpt_dir, verbose):
    """jrnn.fit with next-token cross-entropy, Adam on a cosine decay (fixed by
    `decay_steps`, so a resumed run continues the same schedule), clipped gradients;
    resumes from `ckpt_dir`. Returns (state, history, seconds, seconds of each epoch run)."""
    variables = model.init(jax.random.key(seed), x[:2])
    model.summary(variables)
    optimizer = cosine_adam(lr, decay_steps, alpha=0.05)
    # ckpt_dir is checkpoints/word or checkpoints/char: --word-epochs, --char-epochs
    resume_epoch(ckpt_dir, epochs, name=model.name, flag=f"--{ckpt_dir.name}-epochs")
    state, history, seconds, epoch_seconds = timed_fit(
        model,
        variables,
        (x, y),
        loss=jrnn.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=optimizer,
        metrics=["accuracy"],
        batch_size=batch,
        epochs=epochs,
        validation_data=(xv, yv),
        seed=seed,
        checkpoint_dir=ckpt_dir,
        verbose=verbose,
        devices=jax.devices()[:1],
    )
    return state, history, seconds, epoch_seconds


def test_scores(model, state, x, y, batch) -> dict:
    logs = jrnn.evaluate(
        model,
        state,
        (x, y),
        loss=jrnn.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        batch_size=batch,
        devices=jax.devices()[:1],
    )
    return {
        "perplexity": math.exp(logs["loss"]),
        "cross_entropy": logs["loss"],
        "accuracy": logs["accuracy"],
    }


def generate(model, state, prompts, num_steps, key, *, temperature, top_k):
    """Token ids (B, num_steps) continuing each prompt (lists of ids of any lengths:
    left-padded and masked), sampled with `jrnn.decode.sample`."""
    step_fn, initial_carry = jrnn.lm_step(model, state.variables)
    x = jrnn.pad_sequences(prompts, padding="pre")
    return np.asarray(
        jrnn.decode.sample(
            step_fn,
            initial_carry(len(prompts)),
            x,
            num_steps,
            key,
            temperature=temperature,
            top_k=top_k,
            prompt_mask=x != 0,
        )
    )


# -- main -------------------------------------------------------------------------------------
def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-sentences", type=int, default=None, help="use the first N sentences")
    ap.add_argument("--min-count", type=int, default=2, help="rarer training words -> <unk>")
    ap.add_argument("--context", type=int, default=12, help="words of context (n-gram n - 1)")
    ap.add_argument("--word-embed", type=int, default=64)
    ap.add_argument("--word-units", type=int, default=128)
    ap.add_argument("--word-epochs", type=int, default=15, help="total epochs (default 15)")
    ap.add_argument("--word-batch", type=int, default=128)
    ap.add_argument("--word-lr", type=float, default=1e-2)
    ap.add_argument("--word-dropout", type=float, default=0.2, help="on the embedded words")
    ap.add_argument("--char-embed", type=int, default=32)
    ap.add_argument("--char-units", type=int, default=256)
    ap.add_argument("--char-epochs", type=int, default=10, help="total epochs (default 10)")
    ap.add_argument("--char-batch", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=100, help="characters per window")
    ap.add_argument("--char-lr", type=float, default=8e-3)
    ap.add_argument("--words", type=int, default=15, help="words to generate per prompt")
    ap.add_argument("--chars", type=int, default=200, help="characters to generate per prompt")
    ap.add_argument("--temperatures", type=float, nargs="+", default=[0.5, 0.8, 1.0])
    ap.add_argument(
        "--top-k",
        type=int,
        nargs="+",
        default=[0, 10],
        help="sample among the k most likely tokens, for each k given (0: all tokens)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fresh", action="store_true", help="discard checkpoints in --out")
    ap.add_argument("--verbose", type=int, default=1, help="0 silent, 1 progress bar, 2 lines")
    ap.add_argument("--out", type=Path, default=RUN_DIR)
    args = ap.parse_args(argv)
    positive = (
        "min_count word_embed word_units word_epochs word_batch char_embed char_units "
        "char_epochs char_batch seq_len words chars"
    ).split()
    at_least(ap, args, [*positive, "context"])
    if args.max_sentences is not None and args.max_sentences < 10:
        ap.error(f"--max-sentences: got {args.max_sentences}, expected >= 10 (or none)")
    if min(args.top_k) < 0:
        ap.error(f"--top-k: got {args.top_k}, expected integers >= 0 (0: all tokens)")
    if any(t <= 0 for t in args.temperatures):
        ap.error(f"--temperatures: got {args.temperatures}, expected numbers > 0")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    out, ckpt = args.out, args.out / "checkpoints"
    if args.fresh:
        files = ("history.csv", "config.json", "word_tokenizer.json", "char_tokenizer.json")
        clear_run(out, files=files)

    # -- data: sentences -> train / val / test
    sentences = load_sentences()
    if args.max_sentences is not None:
        sentences = sentences[: args.max_sentences]
    train_s, val_s, test_s = split_sentences(sentences, args.seed)

    # word level: n-gram prefixes of each sentence
    wtok, wvocab = word_tokenizer(train_s, args.min_count)
    n = args.context + 1
    wx, wy = jrnn.ngram_sequences(wtok.texts_to_sequences(train_s), maxlen=n)
    wxv, wyv = jrnn.ngram_sequences(wtok.texts_to_sequences(val_s), maxlen=n)
    wxt, wyt = jrnn.ngram_sequences(wtok.texts_to_sequences(test_s), maxlen=n)

    # char level: the sentences one per line, windows of seq_len characters
    ctok = jrnn.Tokenizer(char_level=True, lower=False, filters="", oov_token="\x00")
    ctok.fit_on_texts(["\n".join(train_s)])
    cvocab = len(ctok.word_index) + 1
    as_ids = lambda sents: np.asarray(ctok.texts_to_sequences(["\n".join(sents)])[0], np.int32)
    cx, cy = char_windows(as_ids(train_s), args.seq_len)
    cxv, cyv = char_windows(as_ids(val_s), args.seq_len)
    cxt, cyt = char_windows(as_ids(test_s), args.seq_len)

    word_steps = -(-len(wx) // args.word_batch)
    char_steps = -(-len(cx) // args.char_batch)
    test_unk = float(np.mean(wyt == 1))
    print(
        f"pydoc_data.topics: {len(sentences)} prose sentences ({len(train_s)} train, "
        f"{len(val_s)} val, {len(test_s)} test)\n"
        f"  words: vocabulary {wvocab - 2} + <unk> (training words seen >= {args.min_count} "
        f"times; <unk> is {test_unk:.1%} of the test labels); {len(wx):,} training n-grams "
        f"({word_steps} steps of {args.word_batch}), {len(wxt):,} test\n"
        f"  chars: vocabulary {cvocab - 2}; {len(cx) * args.seq_len:,} training characters "
        f"({len(cx)} windows of {args.seq_len}, {char_steps} steps of {args.char_batch}), "
        f"{len(cxt) * args.seq_len:,} test"
    )
    # Fresh when neither model has a checkpoint; then each cosine schedule spans the
    # epochs asked for at the start.
    config = checked_config(
        args,
        FIXED,
        ckpts=[ckpt / "word", ckpt / "char"],
        at_start={
            "word_decay_steps": args.word_epochs * word_steps,
            "char_decay_steps": args.char_epochs * char_steps,
        },
    )
    started = {m: jrnn.checkpoint.latest_step(ckpt / m) or 0 for m in ("word", "char")}
    for name, tok in (("word", wtok), ("char", ctok)):
        save_tokenizer(tok, out / f"{name}_tokenizer.json", resuming=bool(started[name]))
    if not any(started.values()):
        (out / "history.csv").unlink(missing_ok=True)

    # -- training
    wmodel = word_model(wvocab, args.word_embed, args.word_units, args.word_dropout)
    wstate, whist, wsec, wtimes = train(
        wmodel, wx, wy, wxv, wyv, epochs=args.word_epochs, batch=args.word_batch,
        lr=args.word_lr, decay_steps=config["word_decay_steps"], seed=args.seed,
        ckpt_dir=ckpt / "word", verbose=args.verbose,
    )  # fmt: skip
    cmodel = char_model(cvocab, args.char_embed, args.char_units)
    cstate, chist, csec, ctimes = train(
        cmodel, cx, cy, cxv, cyv, epochs=args.char_epochs, batch=args.char_batch,
        lr=args.char_lr, decay_steps=config["char_decay_steps"], seed=args.seed,
        ckpt_dir=ckpt / "char", verbose=args.verbose,
    )  # fmt: skip
    history = combined_history({"word": whist, "char": chist})
    history.to_csv(out / "history.csv")
    curves = {}
    for k, v in history.history.items():
        if k.endswith("_loss"):  # cross-entropy -> perplexity (word), bits per char (char)
            word = "word" in k
            k = k.replace("_loss", "_perplexity" if word else "_bits_per_char")
            v = [math.exp(a) if word else a / math.log(2) for a in v]
        curves[k] = v
    jrnn.History(curves, history.epoch).plot(
        out / "curves.png", title="pydoc_data prose: word-level LSTM, char-level GRU"
    )

    # -- test scores against count baselines
    word_test = test_scores(wmodel, wstate, wxt, wyt, args.word_batch)
    word_base = count_baselines(wx[:, -1], wy, wxt[:, -1], wyt, wvocab)
    char_test = test_scores(cmodel, cstate, cxt, cyt, args.char_batch)
    char_test["bits_per_char"] = char_test["cross_entropy"] / math.log(2)
    char_base = count_baselines(cx.ravel(), cy.ravel(), cxt.ravel(), cyt.ravel(), cvocab)
    for b in char_base.values():
        b["bits_per_char"] = b["cross_entropy"] / math.log(2)

    # -- generation: each prompt at each temperature, all tokens, then the top k
    key = jax.random.key(args.seed)
    wprompts = [p for p in WORD_PROMPTS if all(1 < i for i in wtok.texts_to_sequences([p])[0])]
    wprompts = wprompts or [wtok.index_word[2]]
    cprompts = [p for p in CHAR_PROMPTS if all(c in ctok.word_index for c in p)]
    cprompts = cprompts or [ctok.index_word[2]]
    wids = [wtok.texts_to_sequences([p])[0] for p in wprompts]
    cids = [ctok.texts_to_sequences([p])[0] for p in cprompts]
    lines, samples, t_gen = [], {"word": [], "char": []}, time.perf_counter()
    for top_k in [k or None for k in args.top_k]:
        for temperature in args.temperatures:
            key, kw, kc = jax.random.split(key, 3)
            head = f"temperature {temperature}, top-k {top_k or 'all'}"
            wk = None if top_k is None else min(top_k, wvocab)
            ck = None if top_k is None else min(top_k, cvocab)
            words = generate(
                wmodel, wstate, wids, args.words, kw, temperature=temperature, top_k=wk
            )
            chars = generate(
                cmodel, cstate, cids, args.chars, kc, temperature=temperature, top_k=ck
            )
            lines.append(f"== word LSTM, {head}")
            for p, ids in zip(wprompts, words):
                text = f"{p} {wtok.sequences_to_texts([ids.tolist()])[0]}"
                samples["word"].append({"temperature": temperature, "top_k": top_k, "text": text})
                lines.append(f"  {text}")
            lines.append(f"== char GRU, {head}")
            for p, ids in zip(cprompts, chars):
                text = p + ctok.sequences_to_texts([ids.tolist()])[0]
                samples["char"].append({"temperature": temperature, "top_k": top_k, "text": text})
                lines.append("  " + text.replace("\n", "\n  "))
    gen_seconds = time.perf_counter() - t_gen
    (out / "samples.txt").write_text("\n".join(lines) + "\n")

    metrics = {
        "word": {
            "test": word_test,
            "baselines": word_base,
            "perplexity_vs_unigram": word_test["perplexity"] / word_base["unigram"]["perplexity"],
            "val_perplexity": math.exp(whist.history["val_loss"][-1]),
            "test_unk_rate": test_unk,
            "epochs": len(whist.epoch),
            "steps": int(wstate.step),
            "resumed_from_epoch": started["word"],
            "train_seconds": wsec,
            "seconds_per_epoch_after_first": steady_seconds(wtimes),
            "params": sum(int(np.size(a)) for a in jax.tree.leaves(wstate.params)),
            "vocabulary": wvocab,
            "train_ngrams": len(wx),
            "test_ngrams": len(wxt),
        },
        "char": {
            "test": char_test,
            "baselines": char_base,
            "val_bits_per_char": chist.history["val_loss"][-1] / math.log(2),
            "epochs": len(chist.epoch),
            "steps": int(cstate.step),
            "resumed_from_epoch": started["char"],
            "train_seconds": csec,
            "seconds_per_epoch_after_first": steady_seconds(ctimes),
            "params": sum(int(np.size(a)) for a in jax.tree.leaves(cstate.params)),
            "vocabulary": cvocab,
            "train_chars": int(cx.size),
            "test_chars": int(cxt.size),
        },
        "generate_seconds": gen_seconds,
        "samples": samples,
        "data": {
            "sentences": len(sentences),
            "train_sentences": len(train_s),
            "val_sentences": len(val_s),
            "test_sentences": len(test_s),
        },
        "config": {**{k: str(v) for k, v in vars(args).items()}, "run": config},
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    wb, cb = word_base, char_base
    print("\n".join(lines))
    print(
        f"\ntest, word level: perplexity {word_test['perplexity']:.1f}, accuracy "
        f"{word_test['accuracy']:.1%} (unigram {wb['unigram']['perplexity']:.1f} / "
        f"{wb['unigram']['accuracy']:.1%}, bigram {wb['bigram']['perplexity']:.1f} / "
        f"{wb['bigram']['accuracy']:.1%}); {len(whist.epoch)} epochs, {wsec:.0f} s this run"
        f"\ntest, char level: {char_test['bits_per_char']:.3f} bits/char, accuracy "
        f"{char_test['accuracy']:.1%} (unigram {cb['unigram']['bits_per_char']:.3f} / "
        f"{cb['unigram']['accuracy']:.1%}, bigram {cb['bigram']['bits_per_char']:.3f} / "
        f"{cb['bigram']['accuracy']:.1%}); {len(chist.epoch)} epochs, {csec:.0f} s this run"
        f"\nwrote {out}/"
    )
    return metrics


if __name__ == "__main__":
    main()
