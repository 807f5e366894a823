"""Date translation with encoder-decoder LSTMs, with and without attention: human-written
dates to ISO 8601.

Real calendar dates from 1950-01-01 to 2049-12-31 (weekdays and month lengths from
Python's `datetime`) are written in 20 human formats ("3 May 1979", "05/03/79",
"Thursday, May 3rd 1979", "may 3, 1979", "03.05.1979", "the 3rd of May, 1979", ...,
with random upper/lower/title case) and translated character by character to
"1979-05-03". Conventions that make every input unambiguous: a slash is US order
(month/day), a dot European order (day.month), and a two-digit year yy is 19yy when
yy >= 50, else 20yy. The dates are split once, with a fixed seed, into training,
validation and test dates that do not overlap, so the test measures dates never seen.

Three models (`--models`, default all), built with jrnn's functional API:

    plain:    the Keras guide's encoder-decoder.
              encoder: Embedding(mask_zero) -> Bidirectional(LSTM(units, return_state=True))
                       final (h, c) of both directions concatenated -> the decoder's carry
              decoder: Embedding -> LSTM(2 * units, return_sequences=True,
                       initial_state=[h, c]) -> Dense(target vocabulary), logits
    luong:    the same, with the encoder's states kept (return_sequences=True) and each
              decoder state attending over them (Luong et al. 2015, dot score):
                       context = Attention()([decoder states, encoder states])
                       logits = Dense(V)(Dense(2 * units, tanh)([decoder state; context]))
              the source padding masked through Embedding(mask_zero)'s mask
    bahdanau: as luong with the additive score v^T tanh(W_q s + W_k h) (Bahdanau et al.
              2015): AdditiveAttention()([Dense(units)(states), encoder states,
              Dense(units)(encoder states)]), v the layer's learned scale

(the attention reads the decoder's output, Luong's arrangement, for both scores: the
decoder stays one LSTM layer). Each is trained with teacher forcing (decoder input =
<start> + target[:-1]) by `jrnn.fit`: sparse categorical cross-entropy on logits, Adam
with a cosine learning-rate decay and gradient clipping. Test dates are then translated
without teacher forcing, by `jrnn.decode.greedy_decode` and `jrnn.decode.beam_search` on
a step function of the trained decoder (`jrnn.lm_step` for the plain model; for the
attention models a step that carries the encoder's states and mask beside the LSTM
carry); the score is exact match of the whole 10-character date.

    make exp-seq2seq                                   # ~11 min on 2 CPU cores
    make exp-seq2seq SEQ2SEQ_ARGS="--epochs 16"        # resume the runs above for 4 more
    make exp-seq2seq SEQ2SEQ_ARGS="--fresh --epochs 2 --models luong"

Resuming: each model's run in `--out/<model>/` continues from its latest checkpoint
unless `--fresh` is given; `--epochs` is the total (a finished run re-run trains nothing
and decodes again). The learning-rate schedule is fixed when the run starts, and the data
and model settings (`--train-size`, `--val-size`, `--test-size`, `--embed`, `--units`,
`--seed`) must match the checkpointed run's.

Writes to `--out` (default runs/seq2seq/): tokenizer.json, metrics.json (every model
side by side) and per model <model>/: checkpoints/ (jrnn.checkpoint files), config.json,
history.csv, curves.png, samples.txt (translations of test dates, and every wrong one)
and metrics.json (exact match, per format too).
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
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
from jax.tree_util import Partial

import jrnn
from jrnn.layers import (
    LSTM,
    AdditiveAttention,
    Attention,
    Bidirectional,
    Concatenate,
    Dense,
    Embedding,
)

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
MODELS = ("plain", "luong", "bahdanau")


def build_model(src_vocab: int, embed: int, units: int, kind: str = "plain"):
    """The training model [encoder chars, decoder inputs] -> logits (B, T, V), and the
    encoder alone sharing its layers, hence its parameter names: chars -> [h, c] for the
    plain model, chars -> [states (B, S, 2 * units), h, c] for the attention models."""
    enc_in = jrnn.Input((None,), "int32", name="encoder_chars")
    dec_in = jrnn.Input((None,), "int32", name="decoder_chars")
    x = Embedding(src_vocab, embed, mask_zero=True, name="enc_embedding")(enc_in)
    attend = kind != "plain"
    rnn = LSTM(units, return_sequences=attend, return_state=True)
    states, h_fw, c_fw, h_bw, c_bw = Bidirectional(rnn, name="encoder")(x)
    h = Concatenate(name="enc_h")([h_fw, h_bw])
    c = Concatenate(name="enc_c")([c_fw, c_bw])
    y = Embedding(TARGET_VOCAB, embed, name="dec_embedding")(dec_in)
    y = LSTM(2 * units, return_sequences=True, name="decoder")(y, initial_state=[h, c])
    if attend:
        # the encoder states carry Embedding(mask_zero)'s mask: padding gets no weight
        if kind == "luong":
            context = Attention(name="attention")([y, states])
        else:
            query = Dense(units, use_bias=False, name="att_query")(y)
            keys = Dense(units, use_bias=False, name="att_key")(states)
            context = AdditiveAttention(name="attention")([query, states, keys])
        y = Dense(2 * units, "tanh", name="attentional")(
            Concatenate(name="with_context")([y, context])
        )
    logits = Dense(TARGET_VOCAB, name="logits")(y)
    model = jrnn.Model([enc_in, dec_in], logits, name=f"date_seq2seq_{kind}")
    encoder = jrnn.Model(enc_in, [states, h, c] if attend else [h, c], name="encoder")
    return model, encoder


class AttentionStep:
    """One decoder step of an attention model for `jrnn.decode`, called as
    `Partial(AttentionStep(model), params)(carry, tokens (B,)) -> (carry, logits (B, V))`.

    carry: ((h, c), states (B, S, 2 * units), keys (B, S, K), source mask (B, S)): the
    decoder LSTM's carry, then what every step attends over (the keys are the states
    for Luong, their projection W_k h for Bahdanau, computed once per sentence).
    """

    def __init__(self, model):
        get = model.get_layer
        self.embedding, self.decoder = get("dec_embedding"), get("decoder")
        self.attention, self.attentional, self.logits = (
            get("attention"),
            get("attentional"),
            get("logits"),
        )
        self.query = get("att_query") if isinstance(self.attention, AdditiveAttention) else None

    def __call__(self, params, carry, tokens):
        lstm, states, keys, mask = carry
        x = self.embedding.apply(params["dec_embedding"], tokens)
        lstm, y = self.decoder.step(params["decoder"], lstm, x)
        query = y[:, None]  # one query step: (B, 1, 2 * units)
        if self.query is not None:
            query = self.query.apply(params["att_query"], query)
        context = self.attention.apply(
            params.get("attention", {}), [query, states, keys], mask=[None, mask]
        )
        z = self.attentional.apply(
            params["attentional"], jnp.concatenate([y[:, None], context], -1)
        )
        return (lstm, states, keys, mask), self.logits.apply(params["logits"], z)[:, 0]


def decoder_step(model, variables, kind: str):
    """The step function for `jrnn.decode`: for the plain model the trained decoder's
    Embedding, LSTM cell and Dense on one token, its carry `((h, c),)`, the encoder's
    final state; for the attention models an `AttentionStep`."""
    if kind == "plain":
        step, _ = jrnn.lm_step(model, variables, layers=["dec_embedding", "decoder", "logits"])
        return step
    return Partial(AttentionStep(model), variables["params"])


def encoder_carry(model, encoder, params, x, batch_size: int, kind: str):
    """The decoder's first carry from the encoder: ((h, c),), each (N, 2 * units), one
    entry per recurrent layer the step runs (`jrnn.lm_step`), for the plain model; for
    the attention models ((h, c), states, keys, mask) (see `AttentionStep`)."""
    out = jrnn.predict(encoder, {"params": params, "state": {}}, x, batch_size=batch_size)
    if kind == "plain":
        h, c = out
        return ((jnp.asarray(h), jnp.asarray(c)),)
    states, h, c = map(jnp.asarray, out)
    keys = states
    if kind == "bahdanau":
        keys = model.get_layer("att_key").apply(params["att_key"], states)
    return (jnp.asarray(h), jnp.asarray(c)), states, keys, jnp.asarray(x) != 0


def translate(step, carry, *, beam_width: int, chunk: int = 1024):
    """Decode in chunks: (greedy ids (N, 10), beam ids (N, K, 10), beam scores (N, K))."""
    n = jax.tree.leaves(carry)[0].shape[0]
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
# Settings that fix the data, the vocabulary or the parameters' shapes: a resumed run must
# use the same ones.
FIXED = ("train_size", "val_size", "test_size", "embed", "units", "seed")


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-size", type=int, default=30000, help="training examples")
    ap.add_argument("--val-size", type=int, default=1000, help="validation dates")
    ap.add_argument("--test-size", type=int, default=3000, help="held-out test dates")
    ap.add_argument("--embed", type=int, default=32)
    ap.add_argument("--units", type=int, default=64, help="per encoder direction")
    ap.add_argument("--epochs", type=int, default=12, help="total epochs (default 12)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    ap.add_argument("--beam-width", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0, help="data split, formats, initialisation")
    ap.add_argument(
        "--models",
        type=parse_models,
        default=list(MODELS),
        help=f"comma-separated, from {','.join(MODELS)} (default all)",
    )
    ap.add_argument("--fresh", action="store_true", help="discard checkpoints in --out")
    ap.add_argument("--verbose", type=int, default=1, help="0 silent, 1 progress bar, 2 lines")
    ap.add_argument("--out", type=Path, default=RUN_DIR)
    args = ap.parse_args(argv)
    positive = "train_size val_size test_size embed units epochs batch_size beam_width"
    at_least(ap, args, positive.split())
    days = (LAST - FIRST).days + 1
    if args.val_size + args.test_size >= days:
        ap.error(
            f"--val-size + --test-size: got {args.val_size + args.test_size}, expected fewer "
            f"than the {days} dates, leaving some for training"
        )
    return args


def parse_models(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in MODELS]
    if bad or not names or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(
            f"got {text!r}, expected a comma-separated list of distinct names from "
            f"{', '.join(MODELS)}"
        )
    return names


def main(argv=None) -> dict:
    args = parse_args(argv)
    out = args.out
    if args.fresh:
        for kind in args.models:
            clear_run(out / kind, files=("history.csv", "config.json"))
        kept = [k for k in MODELS if jrnn.checkpoint.latest_step(out / k / "checkpoints")]
        if not kept:  # the vocabulary goes with the last checkpointed run
            clear_run(out, dirs=(), files=("tokenizer.json",))

    # -- data: disjoint date sets, rendered in random formats and cases
    rng = np.random.default_rng(args.seed)
    train_dates, val_dates, test_dates = split_dates(args.seed, args.val_size, args.test_size)
    train = make_examples(train_dates, args.train_size, rng)
    val = make_examples(val_dates, len(val_dates), rng, each_date_once=True)
    test = make_examples(test_dates, len(test_dates), rng, each_date_once=True)
    if {d for _, d, _ in test} & {d for _, d, _ in train + val}:
        raise AssertionError("a test date is also a training or validation date")
    tok = jrnn.Tokenizer(char_level=True, lower=False, oov_token="<unk>")
    tok.fit_on_texts([t for t, _, _ in train])
    src_vocab = len(tok.word_index) + 1  # ids start at 1; 0 is padding (masked)
    maxlen = source_length()

    def arrays(examples):
        x = encode_sources(tok, [t for t, _, _ in examples], maxlen)
        dec_in, y = encode_targets([d for _, d, _ in examples])
        return [x, dec_in], y

    data = {"train": arrays(train), "val": arrays(val), "test": arrays(test)}
    steps_per_epoch = -(-len(train) // args.batch_size)
    print(
        f"dates {FIRST}..{LAST} in {len(FORMATS)} formats: {len(train_dates)} training dates "
        f"({len(train)} examples, {steps_per_epoch} steps of {args.batch_size} per epoch), "
        f"{len(val)} validation and {len(test)} test dates; source vocabulary "
        f"{src_vocab - 1}, up to {maxlen} characters"
    )
    out.mkdir(parents=True, exist_ok=True)
    resuming = any(jrnn.checkpoint.latest_step(out / k / "checkpoints") for k in MODELS)
    save_tokenizer(tok, out / "tokenizer.json", resuming=resuming)

    results = {}
    for kind in args.models:
        results[kind] = train_and_translate(kind, args, data, test, src_vocab, steps_per_epoch)
    metrics = {
        "models": results,
        "data": {
            "train_examples": len(train),
            "train_dates": len(train_dates),
            "val_dates": len(val),
            "test_dates": len(test),
            "formats": len(FORMATS),
            "source_vocabulary": src_vocab - 1,
            "source_length": maxlen,
        },
        "config": {k: str(v) for k, v in vars(args).items()},
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    print(f"\nheld-out dates ({len(test)} never seen in training), exact match:")
    print(
        f"{'model':9s} {'params':>8s} {'greedy':>8s} {'beam-' + str(args.beam_width):>8s} "
        f"{'epochs':>6s} {'train s':>8s}"
    )
    for kind, r in results.items():
        print(
            f"{kind:9s} {r['params']:8,d} {r['greedy_exact_match']:8.2%} "
            f"{r['beam_exact_match']:8.2%} {r['epochs']:6d} {r['train_seconds']:8.0f}"
        )
    print(f"wrote {out}/")
    return metrics


def train_and_translate(kind: str, args, data, test, src_vocab: int, steps_per_epoch: int):
    """Train (or resume) one model in `args.out/kind/`, translate the test dates; its
    metrics, also written to its metrics.json."""
    out = args.out / kind
    ckpt_dir = out / "checkpoints"
    (xtr, ytr), (xval, yval), (xte, yte) = data["train"], data["val"], data["test"]
    # A fresh run fixes its learning-rate schedule now (cosine over the epochs asked for).
    config = checked_config(
        argparse.Namespace(**{**vars(args), "out": out}),
        FIXED,
        ckpts=[ckpt_dir],
        at_start={"decay_steps": args.epochs * steps_per_epoch},
    )
    start_epoch = resume_epoch(ckpt_dir, args.epochs, name=kind)
    if not start_epoch:  # no epoch to continue: a history left by a crashed run goes too
        (out / "history.csv").unlink(missing_ok=True)

    # -- model and training (teacher forcing)
    model, encoder = build_model(src_vocab, args.embed, args.units, kind)
    variables = model.init(jax.random.key(args.seed), [xtr[0][:2], xtr[1][:2]])
    if args.verbose:
        model.summary(variables)
    optimizer = cosine_adam(args.lr, config["decay_steps"], alpha=0.02)
    loss = jrnn.losses.SparseCategoricalCrossentropy(from_logits=True)
    state, history, train_seconds, epoch_seconds = timed_fit(
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
        checkpoint_dir=ckpt_dir,
        verbose=args.verbose,
        devices=jax.devices()[:1],
    )
    h = history.history
    history.to_csv(out / "history.csv")
    history.plot(out / "curves.png", title=f"dates to ISO: encoder-decoder LSTM ({kind})")
    teacher = jrnn.evaluate(model, state, (xte, yte), loss=loss, metrics=["accuracy"])

    # -- translating held-out dates: greedy and beam search from the encoder's carry
    t1 = time.perf_counter()
    carry = encoder_carry(model, encoder, state.params, xte[0], 512, kind)
    step = decoder_step(model, state.variables, kind)
    greedy, beams, scores = translate(step, carry, beam_width=args.beam_width)
    decode_seconds = time.perf_counter() - t1
    # The step function fed the teacher-forced inputs reproduces the model's logits.
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

    # -- samples: the first test dates, then every wrong one
    def line(i):
        alts = ", ".join(
            f"{s} ({v:.2f})" for s, v in zip(decode_targets(beams[i]), scores[i]) if v > -1e30
        )
        mark = "" if greedy_ok[i] and beam_ok[i] else "  <- wrong"
        return f"{test[i][0]!r:34s} {truth[i]}  {greedy_text[i]}  {alts}{mark}"

    head = f"{'input':34s} {'truth':10s}  greedy      beam search (top {args.beam_width}, log p)"
    wrong = [i for i in range(len(test)) if not (greedy_ok[i] and beam_ok[i])]
    first = [line(i) for i in range(min(20, len(test)))]
    lines = [head, *first, f"-- the {len(wrong)} held-out dates with a wrong translation --"]
    lines += [line(i) for i in wrong]
    (out / "samples.txt").write_text("\n".join(lines) + "\n")

    metrics = {
        "greedy_exact_match": float(greedy_ok.mean()),
        "beam_exact_match": float(beam_ok.mean()),
        "beam_width": args.beam_width,
        "beam_outputs_valid_dates": float(np.mean([parse_iso(b) is not None for b in beam_text])),
        "test_char_accuracy_teacher_forced": teacher["accuracy"],
        "test_loss_teacher_forced": teacher["loss"],
        "val_accuracy": h["val_accuracy"][-1],
        "decode_seconds": decode_seconds,
        "step_fn_vs_model_max_abs_diff": step_diff,
        **training_stats(history, state, start_epoch, train_seconds, epoch_seconds),
        "per_format": per_format,
        "samples": [
            {"input": test[i][0], "truth": truth[i], "greedy": greedy_text[i], "beam": beam_text[i]}
            for i in range(min(10, len(test)))
        ],
        "config": {**{k: str(v) for k, v in vars(args).items()}, "run": config},
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    print("\n".join(lines[:6]))
    print(
        f"{kind}: exact match {greedy_ok.mean():.2%} greedy, {beam_ok.mean():.2%} beam search "
        f"(width {args.beam_width}); {len(history.epoch)} epochs, {train_seconds:.0f} s of "
        f"training in this run, {decode_seconds:.1f} s decoding; wrote {out}/"
    )
    return metrics


if __name__ == "__main__":
    main()
