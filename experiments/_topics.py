"""Topic classification data from the documentation that ships inside CPython.

`pydoc_data.topics` holds the text `help("topic")` prints, so nothing is downloaded.
Topics whose text is mostly a copy of a larger topic's (e.g. "customization" is part of
"specialnames") are left out, and the n largest remaining topics are the n classes.
Each topic's words are cut into blocks; the blocks of every topic are shuffled once
(seeded) and dealt to training, validation and test (70/15/15), so held-out passages
come from text never trained on. A passage is `length` consecutive words of one block,
one every `stride` words, as token ids of a Keras-style `Tokenizer` fit on the training
blocks (id 1 = a word outside its `num_words - 1` most frequent ones).

    load_topic_passages(n_topics, block=, length=, stride=, num_words=, seed=)
        -> ({"train"|"val"|"test": (x (N, length), y (N,))}, tokenizer, topic names)
    topic_parser(...), parse_topic_args(...)
        the command line the topic experiments share (--models, --block, --epochs, ...)

Used by keras_guide.py and bidirectional.py. Experiments import this module by name
(`from _topics import load_topic_passages`): experiments/ is not a package, and a
script's own folder is on sys.path when it runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _runs import at_least

import jrnn


def pick_topics(n: int) -> list[str]:
    """The n largest pydoc topics that are not mostly a copy of a larger one: a topic is
    left out when over half of its lines (of more than 40 characters) are in a larger
    topic's text."""
    from pydoc_data.topics import topics

    lines = {
        k: {s.strip() for s in v.splitlines() if len(s.strip()) > 40} for k, v in topics.items()
    }
    by_size = sorted(topics, key=lambda k: (-len(topics[k]), k))
    kept = []
    for i, name in enumerate(by_size):
        mine = lines[name]
        if not any(len(mine & lines[big]) > len(mine) / 2 for big in by_size[:i]):
            kept.append(name)
    if len(kept) < n:
        raise ValueError(f"topics: got {n}, expected at most {len(kept)} distinct topics")
    return kept[:n]


def split_blocks(n_topics: int, block: int, min_words: int, seed: int):
    """(topic names, {"train"|"val"|"test": [(words, label), ...]}): each topic's words in
    blocks of `block` (a last block shorter than `min_words` is dropped), dealt 70/15/15
    after a seeded shuffle (at least one held-out block of each kind per topic)."""
    from pydoc_data.topics import topics

    names = pick_topics(n_topics)
    rng = np.random.default_rng(seed)
    split = {"train": [], "val": [], "test": []}
    for label, name in enumerate(names):
        words = jrnn.data.text_to_word_sequence(topics[name])
        blocks = [words[i : i + block] for i in range(0, len(words), block)]
        blocks = [b for b in blocks if len(b) >= min_words]
        if len(blocks) < 3:
            raise ValueError(
                f"--block: got {block}, which leaves topic {name!r} ({len(words)} words) "
                f"{len(blocks)} blocks, expected at least 3"
            )
        order = rng.permutation(len(blocks))
        n_held = max(1, round(0.15 * len(blocks)))
        parts = {
            "test": order[:n_held],
            "val": order[n_held : 2 * n_held],
            "train": order[2 * n_held :],
        }
        for part, idx in parts.items():
            split[part] += [(blocks[i], label) for i in sorted(idx)]
    return names, split


def passages(ids_blocks, labels, length: int, stride: int):
    """Windows of `length` ids every `stride` ids inside each block: (N, length), (N,)."""
    xs, ys = [], []
    for ids, label in zip(ids_blocks, labels):
        ids = np.asarray(ids, np.int32)
        for s in range(0, len(ids) - length + 1, stride):
            xs.append(ids[s : s + length])
            ys.append(label)
    return np.stack(xs), np.asarray(ys, np.int32)


def load_topic_passages(
    n_topics: int,
    *,
    block: int,
    length: int,
    stride: int,
    num_words: int,
    seed: int,
    max_train: int = 0,
    max_eval: int = 0,
):
    """The passages of the `n_topics` topics, as token ids.

    Returns (data, tokenizer, topic names): data[split] = (x (N, length) int32 ids <
    `num_words`, y (N,) int32 topic index) for split "train", "val" and "test"; at most
    `max_train` training and `max_eval` validation/test passages (0: all), drawn with a
    generator seeded by `seed + 1` (the blocks' shuffle uses `seed`).
    """
    names, split = split_blocks(n_topics, block, length, seed)
    tok = jrnn.Tokenizer(num_words=num_words, oov_token="<unk>")
    tok.fit_on_texts([words for words, _ in split["train"]])
    rng = np.random.default_rng(seed + 1)
    data = {}
    for part, items in split.items():
        ids = tok.texts_to_sequences([w for w, _ in items])
        x, y = passages(ids, [label for _, label in items], length, stride)
        cap = max_train if part == "train" else max_eval
        if cap and len(y) > cap:
            keep = np.sort(rng.choice(len(y), cap, replace=False))
            x, y = x[keep], y[keep]
        data[part] = (x, y)
    return data, tok, names


def topic_parser(doc: str, models, run_dir, *, block: int, stride: int, epochs: int, lr: float):
    """The command line of a topic experiment that trains some of `models` (their names):
    --models, --block, --stride, --max-train, --max-eval, --epochs, --batch-size, --lr,
    --dropout, --seed, --fresh, --verbose and --out (default `run_dir`), with the given
    defaults. Add the experiment's own flags, then call `parse_topic_args`."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument(
        "--models", default=",".join(models), help="comma-separated, of: " + ", ".join(models)
    )
    ap.add_argument("--block", type=int, default=block, help="words per block (the split unit)")
    ap.add_argument("--stride", type=int, default=stride, help="words between passages")
    ap.add_argument("--max-train", type=int, default=0, help="at most this many (0: all)")
    ap.add_argument("--max-eval", type=int, default=0, help="validation/test cap (0: all)")
    ap.add_argument("--epochs", type=int, default=epochs, help="total epochs per model")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=lr)
    ap.add_argument("--dropout", type=float, default=0.0, help="recurrent layers' input dropout")
    ap.add_argument("--seed", type=int, default=0, help="data split and initialisation")
    ap.add_argument("--fresh", action="store_true", help="discard the checkpoints in --out")
    ap.add_argument("--verbose", type=int, default=1, help="0 silent, 1 progress bar, 2 lines")
    ap.add_argument("--out", type=Path, default=run_dir)
    return ap


def parse_topic_args(ap, argv, models, passage_words, positive=()):
    """Parse `argv` with the `topic_parser` `ap` and check the values: counts >= 1 (and the
    argparse names in `positive`), caps and seed >= 0, a block of at least
    `passage_words(args)` words, dropout in [0, 1); `args.models` becomes a list."""
    args = ap.parse_args(argv)
    at_least(ap, args, (*positive, "block", "stride", "epochs", "batch_size"))
    at_least(ap, args, ("max_train", "max_eval", "seed"), low=0)
    if args.block < passage_words(args):
        ap.error(
            f"--block: got {args.block}, expected >= {passage_words(args)} (the words of a passage)"
        )
    if not 0 <= args.dropout < 1:
        ap.error(f"--dropout: got {args.dropout}, expected a fraction in [0, 1)")
    args.models = [m for m in args.models.split(",") if m]
    bad = [m for m in args.models if m not in models]
    if bad or not args.models:
        ap.error(f"--models: got {bad or 'none'}, expected some of {', '.join(models)}")
    return args
