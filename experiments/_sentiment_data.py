"""Labelled sentiment corpora for experiments/sentiment.py, read from local files only.

Three sources, one result: `Corpus` with the train/validation/test texts as token-id
sequences (id 0 is padding, never a token) and labels 1 = positive, 0 = negative.

- `load_imdb_npz`: the Keras `imdb.npz` file (`keras.datasets.imdb`), 25,000 training and
  25,000 test reviews already as word ranks; read with Keras's conventions (start token
  1, out-of-vocabulary token 2, ranks shifted by 3) so ids match `imdb.load_data`.
- `load_aclimdb`: the original Large Movie Review Dataset folder (Maas et al. 2011):
  `aclImdb/{train,test}/{pos,neg}/*.txt`; tokenised with `jrnn.Tokenizer` fitted on the
  training texts.
- `load_movie_snippets` (the default, since IMDB cannot be downloaded here): the 10,605
  Rotten Tomatoes snippets of Pang & Lee's sentence-polarity data ("MR", 2005), each
  re-rated from -4 to +4 by 20 people for the VADER paper (Hutto & Gilbert, ICWSM 2014).
  The file ships inside the vaderSentiment source distribution on PyPI
  (additional_resources/hutto_ICWSM_2014.tar.gz, movieReviewSnippets_GroundTruth.txt);
  `make exp-sentiment` fetches that sdist with pip. The label is the sign of the mean
  rating; the 37 snippets rated exactly 0 are left out. It has no official split, so a
  seeded stratified one is made.
"""

from __future__ import annotations

import io
import re
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import jrnn

SNIPPETS = "movieReviewSnippets_GroundTruth.txt"
VADER_SDIST = "vaderSentiment-3.3.2.tar.gz"
VADER_INNER = "hutto_ICWSM_2014.tar.gz"
# Keras imdb.load_data's defaults: ids 0 (padding), 1 (start), 2 (out of vocabulary).
START, OOV, INDEX_FROM = 1, 2, 3


@dataclass
class Corpus:
    """Token-id sequences (lists of ints > 0) and 0/1 labels per split; `vocab` is the
    number of ids an Embedding needs (max id + 1); `tokenizer` when texts were tokenised
    here (None for imdb.npz, which is already ids)."""

    name: str
    train: tuple[list, np.ndarray]
    val: tuple[list, np.ndarray]
    test: tuple[list, np.ndarray]
    vocab: int
    tokenizer: jrnn.Tokenizer | None = None


# -- the VADER movie-review snippets ---------------------------------------------------------
def read_snippets(path: Path) -> tuple[list[str], np.ndarray]:
    """Texts and mean ratings from `path`: the vaderSentiment sdist (.tar.gz), the
    hutto_ICWSM_2014.tar.gz inside it, or the extracted movieReviewSnippets_GroundTruth.txt
    (lines `id<TAB>mean rating<TAB>text`)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"--data: {path} does not exist; `make exp-sentiment` fetches it with "
            f"`pip download --no-deps --no-binary :all: vaderSentiment==3.3.2`, or pass "
            f"--imdb with an imdb.npz file or an aclImdb folder"
        )
    if path.name.endswith((".tar.gz", ".tgz")):
        raw = _member(path.read_bytes(), path)
    else:
        raw = path.read_bytes()
    texts, ratings = [], []
    # The file is Windows-1252 with a few stray bytes; latin-1 decodes every byte.
    for n, line in enumerate(raw.decode("latin-1").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise ValueError(f"{path}: line {n} has {len(parts)} tab-separated fields, expected 3")
        try:
            ratings.append(float(parts[1]))
        except ValueError:
            raise ValueError(
                f"{path}: line {n} has the rating {parts[1]!r}, expected a number"
            ) from None
        texts.append(parts[2].strip())
    if not texts:
        raise ValueError(f"{path}: no snippets")
    return texts, np.asarray(ratings, np.float32)


def _member(data: bytes, where) -> bytes:
    """The snippets file from a tar.gz, looking one level into a nested tar.gz."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for m in tar.getmembers():
            if m.isfile() and m.name.endswith(SNIPPETS):
                return tar.extractfile(m).read()
        for m in tar.getmembers():
            if m.isfile() and m.name.endswith(VADER_INNER):
                return _member(tar.extractfile(m).read(), f"{where}:{m.name}")
    raise ValueError(f"--data: {where} holds neither {SNIPPETS} nor {VADER_INNER}")


def split_indices(labels: np.ndarray, val: float, test: float, seed: int):
    """Stratified train/validation/test index arrays: each class is shuffled (seeded) and
    cut in the same proportions, so every split keeps the class balance. Each split comes
    in a seeded random order (the files group the classes: a first slice of a split in
    file order would be nearly one class)."""
    rng = np.random.default_rng(seed)
    parts = ([], [], [])
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test, n_val = round(len(idx) * test), round(len(idx) * val)
        parts[2].append(idx[:n_test])
        parts[1].append(idx[n_test : n_test + n_val])
        parts[0].append(idx[n_test + n_val :])
    return tuple(rng.permutation(np.concatenate(p)) for p in parts)


def load_movie_snippets(
    path: Path, *, num_words: int, val: float = 0.1, test: float = 0.1, seed: int = 0
) -> Corpus:
    """The VADER movie-review snippets, split and tokenised (Tokenizer fitted on the
    training split, `num_words` ids, OOV id 1)."""
    texts, ratings = read_snippets(path)
    keep = np.flatnonzero(ratings != 0)
    texts = [texts[i] for i in keep]
    labels = (ratings[keep] > 0).astype(np.int32)
    tr, va, te = split_indices(labels, val, test, seed)
    return _tokenised(
        "movie_snippets",
        [[texts[i] for i in s] for s in (tr, va, te)],
        [labels[s] for s in (tr, va, te)],
        num_words,
    )


def _tokenised(name, texts, labels, num_words) -> Corpus:
    tok = jrnn.Tokenizer(num_words=num_words, oov_token="<unk>")
    tok.fit_on_texts(texts[0])
    seqs = [tok.texts_to_sequences(t) for t in texts]
    vocab = min(num_words, len(tok.word_index) + 1)
    return Corpus(name, *zip(seqs, labels), vocab=vocab, tokenizer=tok)


# -- IMDB ------------------------------------------------------------------------------------
def load_imdb_npz(path: Path, *, num_words: int, val: float = 0.2, seed: int = 0) -> Corpus:
    """Keras's imdb.npz (`x_train`, `y_train`, `x_test`, `y_test`; reviews as lists of
    word ranks, 1 = most frequent) with `imdb.load_data`'s id scheme: a start id 1, ranks
    + 3, and ranks whose id would be >= `num_words` become id 2. A seeded shuffle of the
    training reviews gives the validation share `val` (its first reviews) and the
    training rest; the test reviews are shuffled too (the file lists them by class), as
    `imdb.load_data` does.

    The file holds Python lists, so it is read with `allow_pickle=True`, as Keras does:
    only open files you trust."""
    path = Path(path)
    # An .npz is a zip archive; anything else is refused before NumPy would try to
    # unpickle it (allow_pickle reads a plain pickle too).
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"--imdb: could not read {path} as Keras's imdb.npz (not an .npz archive); "
            f"expected that file or the extracted aclImdb/ folder (not the .tar.gz)"
        )
    with np.load(path, allow_pickle=True) as f:
        missing = {"x_train", "y_train", "x_test", "y_test"} - set(f.files)
        if missing:
            raise ValueError(f"--imdb: {path} lacks {sorted(missing)}; is it Keras's imdb.npz?")
        x_train, y_train, x_test, y_test = (
            f[k] for k in ("x_train", "y_train", "x_test", "y_test")
        )

    def ids(reviews):
        out = []
        for r in reviews:
            r = np.asarray(r, np.int64) + INDEX_FROM
            out.append([START, *np.where(r < num_words, r, OOV).tolist()])
        return out

    train, test = ids(x_train), ids(x_test)
    rng = np.random.default_rng(seed)
    order, test_order = rng.permutation(len(train)), rng.permutation(len(test))
    n_val = round(len(train) * val)
    tr, va = order[n_val:], order[:n_val]
    y_train, y_test = np.asarray(y_train, np.int32), np.asarray(y_test, np.int32)
    # Every id of either split is < vocab (test reviews may use rarer words).
    vocab = min(num_words, max(max(s) for s in train + test) + 1)
    return Corpus(
        "imdb.npz",
        ([train[i] for i in tr], y_train[tr]),
        ([train[i] for i in va], y_train[va]),
        ([test[i] for i in test_order], y_test[test_order]),
        vocab=vocab,
    )


_BREAK = re.compile(r"<br\s*/?>", re.I)


def read_aclimdb(root: Path, split: str) -> tuple[list[str], np.ndarray]:
    """Texts and labels of aclImdb/<split>/{neg,pos}/*.txt (sorted by file name);
    `<br />` tags become spaces."""
    texts, labels = [], []
    for label, sub in ((0, "neg"), (1, "pos")):
        folder = Path(root) / split / sub
        if not folder.is_dir():
            raise FileNotFoundError(
                f"--imdb: {folder} is missing; expected the aclImdb folder with "
                f"train/ and test/, each holding pos/ and neg/"
            )
        for f in sorted(folder.glob("*.txt")):
            texts.append(_BREAK.sub(" ", f.read_text(encoding="utf-8")))
            labels.append(label)
    return texts, np.asarray(labels, np.int32)


def load_aclimdb(root: Path, *, num_words: int, val: float = 0.2, seed: int = 0) -> Corpus:
    """The aclImdb folder: a stratified `val` share of train/ for validation, test/ for
    testing (in a seeded random order, as the other splits); tokenised on the training
    split."""
    texts, labels = read_aclimdb(root, "train")
    test_texts, test_labels = read_aclimdb(root, "test")
    tr, va, _ = split_indices(labels, val, 0.0, seed)
    te = np.random.default_rng(seed).permutation(len(test_labels))
    return _tokenised(
        "aclImdb",
        [[texts[i] for i in tr], [texts[i] for i in va], [test_texts[i] for i in te]],
        [labels[tr], labels[va], test_labels[te]],
        num_words,
    )


def load_imdb(path: Path, *, num_words: int, seed: int = 0) -> Corpus:
    """`load_aclimdb` for a folder, `load_imdb_npz` for a file."""
    path = Path(path)
    if path.is_dir():
        return load_aclimdb(path, num_words=num_words, seed=seed)
    if path.is_file():
        return load_imdb_npz(path, num_words=num_words, seed=seed)
    raise FileNotFoundError(f"--imdb: {path} is neither an imdb.npz file nor an aclImdb folder")
