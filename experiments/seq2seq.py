"""Date translation with an encoder-decoder LSTM: human-written dates to ISO 8601.

Real calendar dates from 1950-01-01 to 2049-12-31 (weekdays and month lengths from
Python's `datetime`) are written in 20 human formats ("3 May 1979", "05/03/79",
"Thursday, May 3rd 1979", "may 3, 1979", "03.05.1979", "the 3rd of May, 1979", ...,
with random upper/lower/title case) and translated character by character to
"1979-05-03". Conventions that make every input unambiguous: a slash is US order
(month/day), a dot European order (day.month), and a two-digit year yy is 19yy when
yy >= 50, else 20yy. The dates are split once, with a fixed seed, into training,
validation and test dates that do not overlap, so the test measures dates never seen.

The model is the Keras guide's encoder-decoder, built with jrnn's functional API:

    encoder: Embedding(mask_zero) -> Bidirectional(LSTM(units, return_state=True))
             final (h, c) of both directions concatenated -> the decoder's first carry
    decoder: Embedding -> LSTM(2 * units, return_sequences=True, initial_state=[h, c])
             -> Dense(target vocabulary), logits

trained with teacher forcing (decoder input = <start> + target[:-1]) by `jrnn.fit`:
sparse categorical cross-entropy on logits, Adam with a cosine learning-rate decay and
gradient clipping. Test dates are then translated without teacher forcing, by
`jrnn.decode.greedy_decode` and `jrnn.decode.beam_search` on a step function built from
the trained decoder's parameters, started from the encoder's final carry; the score is
exact match of the whole 10-character date.

    make exp-seq2seq                                       # defaults, a few minutes
    make exp-seq2seq SEQ2SEQ_ARGS="--epochs 2 --fresh"

Writes runs/seq2seq/: metrics.json, history.csv, curves.png, samples.txt, the
tokenizer, and checkpoint/ (re-running resumes from it; `--fresh` starts over).
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.tree_util import Partial

import jrnn
from jrnn.layers import LSTM, Bidirectional, Concatenate, Dense, Embedding

RUN_DIR = Path(__file__).resolve().parent.parent / "runs" / "seq2seq"

# -- data -------------------------------------------------------------------------------------
# English names written out (calendar.month_name follows the locale).
MONTHS = (
    "January February March April May June July August September October November December"
).split()
DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
FIRST, LAST = datetime.date(1950, 1, 1), datetime.date(2049, 12, 31)


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, ..., 21st, 22nd, 23rd, ..., 31st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _fields(d: datetime.date) -> dict:
    month, day = MONTHS[d.month - 1], DAYS[d.weekday()]
    return {
        "d": d.day,
        "dd": f"{d.day:02d}",
        "dth": ordinal(d.day),
        "m": d.month,
        "mm": f"{d.month:02d}",
        "MMMM": month,
        "MMM": month[:3],
        "EEEE": day,
        "EEE": day[:3],
        "yyyy": d.year,
        "yy": f"{d.year % 100:02d}",
    }


# Each format is a str.format template over _fields; slash = US (month first), dot =
# European (day first), a two-digit year pivots at 50.
FORMATS = (
    "{d} {MMMM} {yyyy}",  # 3 May 1979
    "{mm}/{dd}/{yy}",  # 05/03/79
    "{EEEE}, {MMMM} {dth} {yyyy}",  # Thursday, May 3rd 1979
    "{MMMM} {d}, {yyyy}",  # May 3, 1979
    "{yyyy}-{mm}-{dd}",  # 1979-05-03
    "{dd}.{mm}.{yyyy}",  # 03.05.1979
    "{d} {MMM} {yy}",  # 3 May 79
    "{MMM} {dd} {yyyy}",  # May 03 1979
    "{EEE} {d} {MMM} {yyyy}",  # Thu 3 May 1979
    "the {dth} of {MMMM}, {yyyy}",  # the 3rd of May, 1979
    "{MMMM} {dth}, {yyyy}",  # May 3rd, 1979
    "{d}-{MMM}-{yyyy}",  # 3-May-1979
    "{yyyy}{mm}{dd}",  # 19790503
    "{EEEE} {dd} {MMMM} {yyyy}",  # Thursday 03 May 1979
    "{m}/{d}/{yyyy}",  # 5/3/1979
    "{EEEE}, {d} {MMMM} {yyyy}",  # Thursday, 3 May 1979
    "{yyyy}/{mm}/{dd}",  # 1979/05/03
    "{MMM}. {d}, {yyyy}",  # May. 3, 1979
    "{dth} {MMMM} {yyyy}",  # 3rd May 1979
    "{EEE}, {MMM} {d}, {yy}",  # Thu, May 3, 79
)
CASES = ("title", "lower", "upper")


def render(d: datetime.date, fmt: int, case: str = "title") -> str:
    text = FORMATS[fmt].format(**_fields(d))
    return {"title": text, "lower": text.lower(), "upper": text.upper()}[case]


def parse_iso(text: str):
    """The ISO string back to a date, or None (to check the data's ground truth)."""
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        return None


def source_length() -> int:
    """The longest rendering of any date in any format (a full year covers every
    weekday and month name; years always have four digits)."""
    year = [datetime.date(2000, 1, 1) + datetime.timedelta(days=i) for i in range(366)]
    return max(len(render(d, f)) for f in range(len(FORMATS)) for d in year)


def split_dates(seed: int, n_val: int, n_test: int):
    """Every date in [FIRST, LAST], shuffled once: (train, val, test) date lists with
    no date in two of them."""
    days = (LAST - FIRST).days + 1
    order = np.random.default_rng(seed).permutation(days)
    dates = [FIRST + datetime.timedelta(days=int(i)) for i in order]
    return dates[n_val + n_test :], dates[:n_val], dates[n_val : n_val + n_test]


def make_examples(dates, n: int, rng, *, each_date_once: bool = False):
    """n (human text, ISO text, format id) triples: random dates from `dates` (or each
    date once, in order), each in a random format and case."""
    if each_date_once:
        picks = dates[:n]
    else:
        picks = [dates[i] for i in rng.integers(0, len(dates), n)]
    fmts = rng.integers(0, len(FORMATS), len(picks))
    cases = rng.integers(0, len(CASES), len(picks))
    return [
        (render(d, int(f), CASES[c]), d.isoformat(), int(f)) for d, f, c in zip(picks, fmts, cases)
    ]


# Target side: a fixed vocabulary; 0 is never produced (padding), 1 starts decoding.
TARGET_CHARS = "0123456789-"
START = 1
TARGET_INDEX = {c: i + 2 for i, c in enumerate(TARGET_CHARS)}
TARGET_VOCAB = len(TARGET_CHARS) + 2
TARGET_LEN = 10  # YYYY-MM-DD


def encode_targets(isos):
    """ISO strings -> (decoder inputs, targets), both (N, 10) int32: the decoder reads
    <start> followed by the target shifted right (teacher forcing)."""
    y = np.array([[TARGET_INDEX[c] for c in s] for s in isos], np.int32).reshape(-1, TARGET_LEN)
    dec_in = np.concatenate([np.full((len(y), 1), START, np.int32), y[:, :-1]], axis=1)
    return dec_in, y


def decode_targets(ids) -> list[str]:
    chars = {i: c for c, i in TARGET_INDEX.items()}
    return ["".join(chars.get(int(i), "?") for i in row) for row in np.asarray(ids)]


def encode_sources(tokenizer, texts, maxlen: int):
    seqs = tokenizer.texts_to_sequences(texts)
    return jrnn.pad_sequences(seqs, maxlen=maxlen, padding="post", truncating="post")


# -- model ------------------------------------------------------------------------------------
def build_model(src_vocab: int, embed: int, units: int):
    """The training model [encoder chars, decoder inputs] -> logits (B, T, V), and the
    encoder alone (chars -> [h, c]) sharing its layers, hence its parameter names."""
    enc_in = jrnn.Input((None,), "int32", name="encoder_chars")
    dec_in = jrnn.Input((None,), "int32", name="decoder_chars")
    x = Embedding(src_vocab, embed, mask_zero=True, name="enc_embedding")(enc_in)
    _, h_fw, c_fw, h_bw, c_bw = Bidirectional(LSTM(units, return_state=True), name="encoder")(x)
    h = Concatenate(name="enc_h")([h_fw, h_bw])
    c = Concatenate(name="enc_c")([c_fw, c_bw])
    y = Embedding(TARGET_VOCAB, embed, name="dec_embedding")(dec_in)
    y = LSTM(2 * units, return_sequences=True, name="decoder")(y, initial_state=[h, c])
    logits = Dense(TARGET_VOCAB, name="logits")(y)
    model = jrnn.Model([enc_in, dec_in], logits, name="date_seq2seq")
    encoder = jrnn.Model(enc_in, [h, c], name="encoder")
    return model, encoder


@dataclass(frozen=True)
class DecoderStep:
    """One decoder step, `(params, carry, tokens (B,)) -> (carry, logits (B, V))`: the
    decoder's Embedding, LSTM cell and Dense on one token. Hashable (the cell and the
    layers are fixed), so `Partial(DecoderStep(...), params)` compiles once."""

    cell: object
    dense: object

    def __call__(self, params, carry, tokens):
        x = jnp.take(params["dec_embedding"]["embeddings"], tokens, axis=0)
        carry, h = self.cell(params["decoder"], carry, x)
        logits, _ = self.dense.call(params["logits"], h)
        return carry, logits


def decoder_step(model, params):
    """The step function for `jrnn.decode`, holding the trained decoder's parameters."""
    fn = DecoderStep(model.get_layer("decoder").cell, model.get_layer("logits"))
    names = ("dec_embedding", "decoder", "logits")
    return Partial(fn, {n: params[n] for n in names})


def encoder_carry(encoder, params, x, batch_size: int):
    """The decoder's first carry (h, c), each (N, 2 * units), from the encoder."""
    h, c = jrnn.predict(encoder, {"params": params, "state": {}}, x, batch_size=batch_size)
    return (jnp.asarray(h), jnp.asarray(c))


def translate(step, carry, *, beam_width: int, chunk: int = 1024):
    """Decode in chunks: (greedy ids (N, 10), beam ids (N, K, 10), beam scores (N, K))."""
    n = carry[0].shape[0]
    greedy, beams, scores = [], [], []
    for s in range(0, n, chunk):
        part = jax.tree.map(lambda a, s=s: a[s : s + chunk], carry)
        seqs, _, _ = jrnn.decode.greedy_decode(step, part, START, TARGET_LEN)
        greedy.append(np.asarray(seqs[:, 0]))
        seqs, sc, _ = jrnn.decode.beam_search(step, part, START, beam_width, TARGET_LEN)
        beams.append(np.asarray(seqs))
        scores.append(np.asarray(sc))
    return np.concatenate(greedy), np.concatenate(beams), np.concatenate(scores)


# -- main -------------------------------------------------------------------------------------
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train-size", type=int, default=30000, help="training examples")
    p.add_argument("--val-size", type=int, default=1000, help="validation dates")
    p.add_argument("--test-size", type=int, default=3000, help="held-out test dates")
    p.add_argument("--embed", type=int, default=32)
    p.add_argument("--units", type=int, default=64, help="per encoder direction")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--beam-width", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", type=int, default=1)
    p.add_argument("--fresh", action="store_true", help="delete the checkpoint, start over")
    p.add_argument("--out", type=Path, default=RUN_DIR)
    args = p.parse_args(argv)

    # Data: disjoint date sets, rendered in random formats.
    rng = np.random.default_rng(args.seed)
    train_dates, val_dates, test_dates = split_dates(args.seed, args.val_size, args.test_size)
    train = make_examples(train_dates, args.train_size, rng)
    val = make_examples(val_dates, len(val_dates), rng, each_date_once=True)
    test = make_examples(test_dates, len(test_dates), rng, each_date_once=True)
    assert not {d for _, d, _ in test} & {d for _, d, _ in train}, "test dates leaked"
    tokenizer = jrnn.Tokenizer(char_level=True, lower=False, oov_token="<unk>")
    tokenizer.fit_on_texts([t for t, _, _ in train])
    src_vocab = len(tokenizer.word_index) + 1
    maxlen = source_length()

    def arrays(examples):
        x = encode_sources(tokenizer, [t for t, _, _ in examples], maxlen)
        dec_in, y = encode_targets([d for _, d, _ in examples])
        return [x, dec_in], y

    xtr, ytr = arrays(train)
    xval, yval = arrays(val)
    xte, yte = arrays(test)
    print(
        f"dates {FIRST}..{LAST}: {len(train_dates)} training dates ({len(train)} examples), "
        f"{len(val)} validation and {len(test)} test dates; {len(FORMATS)} formats; "
        f"source vocabulary {src_vocab}, source length {maxlen}"
    )

    # Model and training.
    model, encoder = build_model(src_vocab, args.embed, args.units)
    variables = model.init(jax.random.key(args.seed), [xtr[0][:2], xtr[1][:2]])
    model.summary(variables)
    steps = args.epochs * -(-len(train) // args.batch_size)
    schedule = optax.cosine_decay_schedule(args.lr, steps, alpha=0.02)
    optimizer = optax.chain(
        optax.clip_by_global_norm(1.0), optax.inject_hyperparams(optax.adam)(schedule)
    )
    loss = jrnn.losses.SparseCategoricalCrossentropy(from_logits=True)
    ckpt = args.out / "checkpoint"
    if args.fresh and ckpt.exists():
        shutil.rmtree(ckpt)
    resumed_from = (jrnn.checkpoint.latest_step(ckpt) or 0) if ckpt.exists() else 0
    if resumed_from:
        print(f"resuming from the checkpoint of epoch {resumed_from} in {ckpt} (--fresh: anew)")
    args.out.mkdir(parents=True, exist_ok=True)
    tokenizer.save(args.out / "tokenizer.json")
    start = time.perf_counter()
    state, history = jrnn.fit(
        model,
        variables,
        (xtr, ytr),
        loss=loss,
        optimizer=optimizer,
        metrics=["accuracy"],
        batch_size=args.batch_size,
        epochs=args.epochs,
        validation_data=(xval, yval),
        seed=args.seed,
        verbose=args.verbose,
        checkpoint_dir=ckpt,
        devices=jax.devices()[:1],
    )
    train_seconds = time.perf_counter() - start
    history.to_csv(args.out / "history.csv")
    try:
        history.plot(args.out / "curves.png", title="date translation: encoder-decoder LSTM")
    except ImportError:
        print("matplotlib is not installed: no curves.png")
    tf = jrnn.evaluate(model, state, (xte, yte), loss=loss, metrics=["accuracy"])

    # Decoding held-out dates: greedy and beam search from the encoder's final carry.
    start = time.perf_counter()
    carry = encoder_carry(encoder, state.params, xte[0], 512)
    step = decoder_step(model, state.params)
    greedy, beams, scores = translate(step, carry, beam_width=args.beam_width)
    decode_seconds = time.perf_counter() - start
    # The step function fed the teacher-forced inputs gives the model's own logits.
    rows = slice(0, min(64, len(test)))
    _, last = jrnn.decode.feed(step, jax.tree.map(lambda a: a[rows], carry), xte[1][rows])
    full, _ = model.apply(state.variables, [xte[0][rows], xte[1][rows]])
    step_diff = float(jnp.max(jnp.abs(last - full[:, -1])))
    truth = [d for _, d, _ in test]
    greedy_text = decode_targets(greedy)
    beam_text = decode_targets(beams[:, 0])
    greedy_ok = np.array([g == t for g, t in zip(greedy_text, truth)])
    beam_ok = np.array([b == t for b, t in zip(beam_text, truth)])
    fmts = np.array([f for _, _, f in test])
    per_format = {
        FORMATS[f]: {
            "n": int((fmts == f).sum()),
            "greedy": float(greedy_ok[fmts == f].mean()),
            "beam": float(beam_ok[fmts == f].mean()),
        }
        for f in range(len(FORMATS))
        if (fmts == f).any()
    }
    valid_dates = float(np.mean([parse_iso(b) is not None for b in beam_text]))

    metrics = {
        "greedy_exact_match": float(greedy_ok.mean()),
        "beam_exact_match": float(beam_ok.mean()),
        "beam_width": args.beam_width,
        "beam_outputs_valid_dates": valid_dates,
        "test_char_accuracy_teacher_forced": tf["accuracy"],
        "test_loss": tf["loss"],
        "train_seconds": train_seconds,
        "resumed_from_epoch": resumed_from,
        "step_fn_vs_model_max_abs_diff": step_diff,
        "decode_seconds": decode_seconds,
        "epochs_run": len(history.epoch),
        "params": int(sum(np.size(a) for a in jax.tree.leaves(state.params))),
        "train_examples": len(train),
        "train_dates": len(train_dates),
        "val_dates": len(val),
        "test_dates": len(test),
        "formats": len(FORMATS),
        "per_format": per_format,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "final": {k: v[-1] for k, v in history.history.items() if v},
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=1))

    # Samples: the first test dates, and every error.
    lines = [f"{'input':34s} {'truth':10s}  greedy      beam (top {args.beam_width}, log p)"]
    wrong = [i for i in range(len(test)) if not (greedy_ok[i] and beam_ok[i])]
    for i in list(range(min(20, len(test)))) + wrong:
        alts = ", ".join(
            f"{s} ({v:.2f})" for s, v in zip(decode_targets(beams[i]), scores[i]) if v > -1e30
        )
        mark = "" if greedy_ok[i] and beam_ok[i] else "  <- wrong"
        lines.append(f"{test[i][0]!r:34s} {truth[i]}  {greedy_text[i]}  {alts}{mark}")
        if i == min(20, len(test)) - 1 and wrong:
            lines.append(f"-- the {len(wrong)} test dates with a wrong translation --")
    (args.out / "samples.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:12]))
    print(
        f"held-out dates: exact match greedy {greedy_ok.mean():.4f}, beam({args.beam_width}) "
        f"{beam_ok.mean():.4f} on {len(test)} dates; training {train_seconds:.1f} s "
        f"({len(history.epoch)} epochs), decoding {decode_seconds:.1f} s"
    )
    return metrics


if __name__ == "__main__":
    main()
