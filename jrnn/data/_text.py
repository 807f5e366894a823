"""Text on the host (Python/NumPy): a Keras `Tokenizer`, the next-word n-gram training set,
and word2vec `skipgrams` with `make_sampling_table`.

`Tokenizer` reproduces `keras_preprocessing.text.Tokenizer` (what `tf.keras.preprocessing.
text.Tokenizer` was) index for index, reads and writes the same JSON, and refuses to be
used before it is fit. `skipgrams` draws the same couples as `keras_preprocessing.sequence.
skipgrams` for the same seed (see its docstring), but from its own generator, never from
Python's global `random` state.

    tok = Tokenizer(oov_token="<unk>")
    tok.fit_on_texts(["the cat sat", "the dog sat down"])
    seqs = tok.texts_to_sequences(["the cat sat down"])  # [[2, 4, 3, 6]]
    x, y = ngram_sequences(seqs)                          # x (3, 3), y (3,)
    tok.save("runs/lm/tokenizer.json")                    # next to the model's checkpoint
"""

from __future__ import annotations

import itertools
import json
import math
import pathlib
import random
from collections import OrderedDict, defaultdict
from collections.abc import Iterable

import numpy as np

from jrnn._atomic import atomic_write_text
from jrnn._checks import check_bool, check_int, check_path, check_positive_int

DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


# ----------------------------------------------------------------------------- checks


def _is_int(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _check_texts(name: str, texts):
    """Reject the classic slip of passing one string (which would iterate its characters)."""
    if isinstance(texts, (str, bytes)):
        raise TypeError(
            f"{name}: got a {type(texts).__name__} ({texts[:30]!r}...), expected a list of "
            "texts; wrap a single text in a list"
        )
    if not isinstance(texts, Iterable):
        raise TypeError(f"{name}: got {type(texts).__name__}, expected a list of strings")


def _token_ids(name: str, seq) -> list[int]:
    """One sequence of token ids as a list of Python ints >= 0 (a TypeError/ValueError
    naming `name` otherwise)."""
    if isinstance(seq, (str, bytes)) or _is_int(seq) or not isinstance(seq, Iterable):
        raise TypeError(
            f"{name}: got {type(seq).__name__} {seq!r}, expected a sequence of integer token ids"
        )
    if isinstance(seq, np.ndarray):
        if seq.ndim != 1:
            raise ValueError(f"{name}: got shape {seq.shape}, expected one 1-D sequence")
        if seq.size and seq.dtype.kind not in "iu":
            raise TypeError(f"{name}: got dtype {seq.dtype}, expected integer token ids")
        ids = seq.tolist()
    else:
        ids = list(seq)
        if not all(type(t) is int for t in ids):  # the fast path: plain ints (not bools)
            for j, t in enumerate(ids):
                if not _is_int(t):
                    raise TypeError(
                        f"{name}[{j}]: got {type(t).__name__} {t!r}, expected an integer token id"
                    )
            ids = [int(t) for t in ids]
    if ids and min(ids) < 0:
        raise ValueError(f"{name}: got token id {next(t for t in ids if t < 0)}, expected ids >= 0")
    return ids


# -------------------------------------------------------------------------- tokenizer


def _check_filters_split(filters, split) -> None:
    if not isinstance(filters, str):
        raise TypeError(f"filters: got {type(filters).__name__}, expected a str")
    if not isinstance(split, str):
        raise TypeError(f"split: got {type(split).__name__}, expected a non-empty str")
    if not split:
        raise ValueError(f"split: got {split!r}, expected a non-empty str")


def text_to_word_sequence(
    text: str, filters: str = DEFAULT_FILTERS, lower: bool = True, split: str = " "
) -> list[str]:
    """Split a text into words: lowercase, replace every character of `filters` by
    `split`, split on `split`, drop empty strings (Keras's function).

    >>> text_to_word_sequence("The cat, the HAT.")
    ['the', 'cat', 'the', 'hat']
    """
    if not isinstance(text, str):
        raise TypeError(f"text: got {type(text).__name__}, expected a str")
    _check_filters_split(filters, split)
    if check_bool("lower", lower):
        text = text.lower()
    text = text.translate(str.maketrans({c: split for c in filters}))
    return [w for w in text.split(split) if w]


class Tokenizer:
    """Map texts to sequences of integer token ids and back (Keras's `Tokenizer`).

    `fit_on_texts` counts tokens; `word_index` numbers them from 1 by count, most frequent
    first, ties in order of first appearance; `oov_token`, when given, is id 1. Id 0 is
    never a token: it is the padding value. The vocabulary is always kept whole;
    `num_words` only limits the outputs of `texts_to_sequences`, `sequences_to_texts` and
    the matrices to ids < num_words (the `num_words - 1` most frequent tokens, OOV token
    included), the others becoming `oov_token` or dropped when there is none.

    Word level (default): a text is lowercased (`lower`), each character of `filters`
    becomes `split`, and it is split on `split`. Character level (`char_level=True`):
    every character is a token (after `lower`), `filters` and `split` are not applied, and
    `sequences_to_texts` joins characters without a separator so decoding round-trips
    (keras_preprocessing joins with spaces even here; word level joins with " " as Keras).
    A text may also be a list of tokens, used as given (after `lower`).

    Args:
      num_words: None, or keep only ids < num_words in the outputs.
      filters: characters removed from texts (word level).
      lower: lowercase texts first.
      split: the word separator (word level).
      char_level: tokens are characters.
      oov_token: a token that stands for every unknown (or cut by `num_words`) token.

    Attributes (after `fit_on_texts`): `word_index` {token: id}, `index_word` {id: token},
    `word_counts` {token: count}, `word_docs` {token: number of texts holding it},
    `index_docs` {id: number of texts}, `document_count`.

    Example:
      >>> tok = Tokenizer(num_words=4, oov_token="<unk>")
      >>> tok.fit_on_texts(["the cat sat", "the cat ran", "the end"])
      >>> tok.word_index
      {'<unk>': 1, 'the': 2, 'cat': 3, 'sat': 4, 'ran': 5, 'end': 6}
      >>> tok.texts_to_sequences(["the cat ran away"])
      [[2, 3, 1, 1]]
      >>> tok.sequences_to_texts([[2, 3, 1]])
      ['the cat <unk>']

    Save it with the model: `tok.save(path)` / `Tokenizer.load(path)` (atomic JSON file,
    the format of Keras's `to_json`), or put `tok.get_config()` (plain JSON data) in a
    checkpoint's metadata and rebuild it with `Tokenizer.from_config`.
    """

    def __init__(
        self,
        num_words: int | None = None,
        filters: str = DEFAULT_FILTERS,
        lower: bool = True,
        split: str = " ",
        char_level: bool = False,
        oov_token: str | None = None,
    ):
        self.num_words = check_int("num_words", num_words, minimum=1, allow_none=True)
        _check_filters_split(filters, split)
        if oov_token is not None and not isinstance(oov_token, str):
            raise TypeError(f"oov_token: got {type(oov_token).__name__}, expected a str or None")
        self.filters = filters
        self.lower = check_bool("lower", lower)
        self.split = split
        self.char_level = check_bool("char_level", char_level)
        self.oov_token = oov_token
        self.document_count = 0
        self.word_counts: OrderedDict[str, int] = OrderedDict()
        self.word_docs: defaultdict[str, int] = defaultdict(int)
        self.index_docs: defaultdict[int, int] = defaultdict(int)
        self.word_index: dict[str, int] = {}
        self.index_word: dict[int, str] = {}

    def __repr__(self):
        return (
            f"Tokenizer(num_words={self.num_words}, char_level={self.char_level}, "
            f"oov_token={self.oov_token!r}, vocabulary={len(self.word_index)}, "
            f"documents={self.document_count})"
        )

    # -- internals

    def _check_fit(self, method: str):
        if not self.word_index and not self.document_count:
            raise ValueError(
                f"Tokenizer.{method}: the tokenizer is not fit yet (empty word_index); expected "
                "fit_on_texts(texts) first, or a fitted one from Tokenizer.load(path)"
            )

    def _tokens(self, name: str, text) -> list[str] | str:
        if isinstance(text, (list, tuple)):
            for j, t in enumerate(text):
                if not isinstance(t, str):
                    raise TypeError(
                        f"{name}[{j}]: got {type(t).__name__} {t!r}, expected a str token"
                    )
            return [t.lower() for t in text] if self.lower else list(text)
        if not isinstance(text, str):
            raise TypeError(
                f"{name}: got {type(text).__name__}, expected a str or a list of str tokens"
            )
        if self.char_level:
            return text.lower() if self.lower else text
        return text_to_word_sequence(text, self.filters, self.lower, self.split)

    # -- fitting

    def fit_on_texts(self, texts) -> None:
        """Count the tokens of `texts` (a list or generator of str, or of lists of tokens)
        and rebuild `word_index`/`index_word`. Calling it again adds to the counts."""
        _check_texts("texts", texts)
        for i, text in enumerate(texts):
            seq = self._tokens(f"texts[{i}]", text)
            self.document_count += 1
            for w in seq:
                self.word_counts[w] = self.word_counts.get(w, 0) + 1
            for w in set(seq):
                self.word_docs[w] += 1

        # A stable sort: equal counts keep their order of first appearance.
        wcounts = sorted(self.word_counts.items(), key=lambda wc: wc[1], reverse=True)
        sorted_voc = [] if self.oov_token is None else [self.oov_token]
        sorted_voc.extend(w for w, _ in wcounts)
        self.word_index = dict(zip(sorted_voc, range(1, len(sorted_voc) + 1)))
        self.index_word = {i: w for w, i in self.word_index.items()}
        for w, c in self.word_docs.items():
            self.index_docs[self.word_index[w]] = c

    def fit_on_sequences(self, sequences) -> None:
        """Count in how many documents each id occurs (for `sequences_to_matrix(mode=
        "tfidf")` when the tokenizer was never fit on texts)."""
        _check_texts("sequences", sequences)
        sequences = [_token_ids(f"sequences[{i}]", s) for i, s in enumerate(sequences)]
        self.document_count += len(sequences)
        for seq in sequences:
            for i in set(seq):
                self.index_docs[i] += 1

    # -- texts <-> sequences

    def texts_to_sequences(self, texts) -> list[list[int]]:
        """Each text as a list of ids: unknown tokens (and ids >= num_words) become the
        OOV id, or are dropped when there is no `oov_token`.

        >>> tok = Tokenizer(); tok.fit_on_texts(["a b b"])
        >>> tok.texts_to_sequences(["b a c"])
        [[1, 2]]
        """
        return list(self.texts_to_sequences_generator(texts))

    def texts_to_sequences_generator(self, texts):
        """`texts_to_sequences`, one sequence at a time."""
        self._check_fit("texts_to_sequences")
        _check_texts("texts", texts)
        num_words = self.num_words
        oov = self.word_index.get(self.oov_token)
        for i, text in enumerate(texts):
            vect = []
            for w in self._tokens(f"texts[{i}]", text):
                idx = self.word_index.get(w)
                if idx is not None and not (num_words and idx >= num_words):
                    vect.append(idx)
                elif oov is not None:
                    vect.append(oov)
            yield vect

    def sequences_to_texts(self, sequences) -> list[str]:
        """Each sequence of ids back to a text: tokens joined by " " (by "" at character
        level). Unknown ids (0 included) and ids >= num_words become `oov_token`, or are
        dropped when there is none (Keras's rule: with an `oov_token`, padding decodes
        to it too, so strip padding first).

        >>> tok = Tokenizer(char_level=True); tok.fit_on_texts(["hello"])
        >>> tok.sequences_to_texts(tok.texts_to_sequences(["hole"]))
        ['hole']
        """
        return list(self.sequences_to_texts_generator(sequences))

    def sequences_to_texts_generator(self, sequences):
        """`sequences_to_texts`, one text at a time."""
        self._check_fit("sequences_to_texts")
        _check_texts("sequences", sequences)
        num_words = self.num_words
        oov = self.word_index.get(self.oov_token)
        sep = "" if self.char_level else " "
        for i, seq in enumerate(sequences):
            vect = []
            for num in _token_ids(f"sequences[{i}]", seq):
                word = self.index_word.get(num)
                if word is not None and not (num_words and num >= num_words):
                    vect.append(word)
                elif oov is not None:
                    vect.append(self.index_word[oov])
            yield sep.join(vect)

    # -- matrices

    def texts_to_matrix(self, texts, mode: str = "binary") -> np.ndarray:
        """`sequences_to_matrix(texts_to_sequences(texts), mode)`: (len(texts), V) float64."""
        self._check_fit("texts_to_matrix")
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode=mode)

    def sequences_to_matrix(self, sequences, mode: str = "binary") -> np.ndarray:
        """A bag-of-words matrix (N, V) float64, V = num_words or len(word_index) + 1;
        ids >= V are ignored. Row i, column j for c = count of j in sequence i, n its length:

          binary: 1 if c > 0;  count: c;  freq: c / n;
          tfidf:  (1 + log c) * log(1 + document_count / (1 + index_docs[j])) if c > 0.

        >>> tok = Tokenizer(); tok.fit_on_texts(["a b b"])
        >>> tok.sequences_to_matrix([[2, 2, 1]], mode="count")
        array([[0., 1., 2.]])
        """
        modes = ("binary", "count", "tfidf", "freq")
        if mode not in modes:
            raise ValueError(f"mode: got {mode!r}, expected one of {modes}")
        if self.num_words:
            num_words = self.num_words
        elif self.word_index:
            num_words = len(self.word_index) + 1
        else:
            raise ValueError(
                "Tokenizer.sequences_to_matrix: the tokenizer is not fit yet and has no "
                "num_words; expected fit_on_texts(texts) first or Tokenizer(num_words=...)"
            )
        if mode == "tfidf" and not self.document_count:
            raise ValueError(
                "Tokenizer.sequences_to_matrix: mode='tfidf' needs document counts; expected "
                "fit_on_texts(texts) or fit_on_sequences(sequences) first"
            )
        _check_texts("sequences", sequences)
        sequences = [_token_ids(f"sequences[{i}]", s) for i, s in enumerate(sequences)]
        x = np.zeros((len(sequences), num_words))
        for i, seq in enumerate(sequences):
            counts: dict[int, int] = {}
            for j in seq:
                if j < num_words:
                    counts[j] = counts.get(j, 0) + 1
            for j, c in counts.items():
                if mode == "count":
                    x[i, j] = c
                elif mode == "freq":
                    x[i, j] = c / len(seq)
                elif mode == "binary":
                    x[i, j] = 1
                else:  # tf-idf, weighting scheme 2 of Wikipedia's tf-idf page (as Keras)
                    tf = 1 + np.log(c)
                    idf = np.log(1 + self.document_count / (1 + self.index_docs.get(j, 0)))
                    x[i, j] = tf * idf
        return x

    # -- serialization

    def get_config(self) -> dict:
        """The whole tokenizer as JSON data (Keras's layout: the dictionaries are JSON
        strings), e.g. for a checkpoint's metadata; `Tokenizer.from_config` inverts it."""
        return {
            "num_words": self.num_words,
            "filters": self.filters,
            "lower": self.lower,
            "split": self.split,
            "char_level": self.char_level,
            "oov_token": self.oov_token,
            "document_count": self.document_count,
            "word_counts": json.dumps(self.word_counts),
            "word_docs": json.dumps(self.word_docs),
            "index_docs": json.dumps(self.index_docs),
            "index_word": json.dumps(self.index_word),
            "word_index": json.dumps(self.word_index),
        }

    @classmethod
    def from_config(cls, config: dict) -> Tokenizer:
        """A tokenizer from `get_config()` output (ours or Keras's)."""
        if not isinstance(config, dict):
            raise TypeError(f"config: got {type(config).__name__}, expected a dict")
        config = dict(config)
        if config.pop("analyzer", None) is not None:  # tf.keras's custom callable
            raise ValueError("config: got a tokenizer with a custom analyzer, not supported")
        tables = ("word_counts", "word_docs", "index_docs", "index_word", "word_index")
        missing = [k for k in (*tables, "document_count") if k not in config]
        if missing:
            raise ValueError(f"config: got no {missing}, expected a Tokenizer config")
        loaded = {k: config.pop(k) for k in tables}
        loaded = {k: json.loads(v) if isinstance(v, str) else v for k, v in loaded.items()}
        document_count = config.pop("document_count")
        try:
            tok = cls(**config)
        except TypeError as e:
            raise ValueError(f"config: {e}") from None
        tok.document_count = int(document_count)
        tok.word_counts = OrderedDict(loaded["word_counts"])
        tok.word_docs = defaultdict(int, loaded["word_docs"])
        # JSON object keys are strings; ids are ints.
        tok.index_docs = defaultdict(int, {int(k): v for k, v in loaded["index_docs"].items()})
        tok.index_word = {int(k): v for k, v in loaded["index_word"].items()}
        tok.word_index = dict(loaded["word_index"])
        return tok

    def to_json(self, **kwargs) -> str:
        """The tokenizer as a JSON string, Keras's format (`{"class_name": "Tokenizer",
        "config": ...}`): readable by `keras_preprocessing.text.tokenizer_from_json`.
        `kwargs` go to `json.dumps`."""
        return json.dumps({"class_name": "Tokenizer", "config": self.get_config()}, **kwargs)

    @classmethod
    def from_json(cls, json_string: str) -> Tokenizer:
        """A tokenizer from `to_json()` output (ours or Keras's).

        >>> tok = Tokenizer(); tok.fit_on_texts(["a b b"])
        >>> Tokenizer.from_json(tok.to_json()).word_index
        {'b': 1, 'a': 2}
        """
        if not isinstance(json_string, (str, bytes)):
            raise TypeError(f"json_string: got {type(json_string).__name__}, expected a str")
        try:
            obj = json.loads(json_string)
        except json.JSONDecodeError as e:
            raise ValueError(f"json_string: got invalid JSON ({e})") from None
        if not isinstance(obj, dict) or obj.get("class_name") != "Tokenizer":
            got = obj.get("class_name") if isinstance(obj, dict) else type(obj).__name__
            raise ValueError(
                f"json_string: got class_name {got!r}, expected a 'Tokenizer' from to_json()"
            )
        return cls.from_config(obj.get("config"))

    def save(self, path) -> pathlib.Path:
        """Write `to_json()` to `path` atomically (temp file, fsync, os.replace); return
        the path. A crash leaves the previous file intact."""
        path = check_path("path", path)
        if path.is_dir():
            raise ValueError(f"path: got the directory {path}, expected a file name")
        return atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path) -> Tokenizer:
        """The tokenizer saved at `path` by `save` (or Keras's `to_json` written to a file)."""
        path = check_path("path", path)
        if not path.is_file():
            raise FileNotFoundError(f"path: got {path}, expected an existing file")
        return cls.from_json(path.read_text(encoding="utf-8"))


def tokenizer_from_json(json_string: str) -> Tokenizer:
    """`Tokenizer.from_json` under Keras's name."""
    return Tokenizer.from_json(json_string)


# ------------------------------------------------------------------------- n-grams


def ngram_sequences(sequences, maxlen: int | None = None, padding: str = "pre"):
    """The next-token training set of the classic Keras text-generation recipe.

    Every prefix of length k >= 2 of every sequence gives one example: the input is the
    prefix without its last token, the label its last token. An n-gram is `maxlen` tokens
    (input + label), so inputs have width `maxlen - 1`: shorter prefixes are padded with
    0 (`padding="pre"` before, `"post"` after), longer ones keep their last `maxlen - 1`
    tokens (the most recent context). `maxlen` defaults to the longest sequence, which is
    the recipe's `max_sequence_len`; the recipe's
    `pad_sequences(prefixes, maxlen)[:, :-1]` and `[:, -1]` equal `x` and `y`.

    Args:
      sequences: a list of 1-D sequences of token ids >= 0 (e.g. from
        `Tokenizer.texts_to_sequences`); sequences shorter than 2 give no example.
      maxlen: None or an int >= 2, the n-gram length.
      padding: "pre" or "post".

    Returns:
      (x, y): x int32 (N, maxlen - 1), y int32 (N,), N = sum over sequences of
      max(len - 1, 0), in order of sequence, then prefix length.

    Example (in a corpus whose longest sentence has 5 tokens, or with maxlen=5):
      >>> x, y = ngram_sequences([[7, 3, 4, 9]], maxlen=5)
      >>> x
      array([[0, 0, 0, 7],
             [0, 0, 7, 3],
             [0, 7, 3, 4]], dtype=int32)
      >>> y
      array([3, 4, 9], dtype=int32)
    """
    _check_texts("sequences", sequences)
    seqs = [_token_ids(f"sequences[{i}]", s) for i, s in enumerate(sequences)]
    if padding not in ("pre", "post"):
        raise ValueError(f"padding: got {padding!r}, expected 'pre' or 'post'")
    maxlen = check_int("maxlen", maxlen, minimum=2, allow_none=True)
    if maxlen is None:
        maxlen = max((len(s) for s in seqs), default=0)
    n = sum(max(len(s) - 1, 0) for s in seqs)
    if n == 0:
        raise ValueError(
            f"sequences: got {len(seqs)} sequences with no 2 tokens or more, expected at "
            "least one sequence of length >= 2 (one input token and its label)"
        )
    width = maxlen - 1
    lens = np.fromiter((len(s) for s in seqs), np.int64, count=len(seqs))
    flat = np.fromiter(itertools.chain.from_iterable(seqs), np.int64, count=int(lens.sum()))
    if flat.size and flat.max() > np.iinfo(np.int32).max:
        raise ValueError(f"sequences: got token id {flat.max()}, expected ids < 2**31 (int32)")
    # Vectorized (a Python loop per row is slow): every sequence is copied into `buf`
    # after `width` zeros (and one more block of zeros ends it), so the context of a
    # row is a contiguous window of `buf`, zeros included.
    rows_per_seq = np.maximum(lens - 1, 0)
    start = np.cumsum(lens + width) - lens  # each sequence's first token in buf
    buf = np.zeros(int(start[-1] + lens[-1] + width), np.int32)
    buf[np.repeat(start - (np.cumsum(lens) - lens), lens) + np.arange(flat.size)] = flat
    seq_of_row = np.repeat(np.arange(len(seqs)), rows_per_seq)
    k = np.arange(n) - (np.cumsum(rows_per_seq) - rows_per_seq)[seq_of_row] + 1
    label = start[seq_of_row] + k  # buf index of each row's label; k tokens precede it
    windows = np.lib.stride_tricks.sliding_window_view(buf, width)
    y = buf[label]
    if padding == "pre":
        x = windows[label - width]
    else:  # the last m tokens first, then zeros
        m = np.minimum(k, width)
        x = windows[label - m]
        x[np.arange(width)[None] >= m[:, None]] = 0
    return x, y


# ------------------------------------------------------------------------- skip-grams


def make_sampling_table(size: int, sampling_factor: float = 1e-5) -> np.ndarray:
    """Word2vec's keep-probability of the word of each frequency rank (Keras's function).

    With word frequencies following Zipf's law, 1/frequency(rank) ~ inv(rank) =
    rank (log rank + gamma) + 1/2 - 1/(12 rank), gamma = 0.577 (rank 0 counts as 1), and

      p(rank) = min(1, sqrt(sampling_factor * inv(rank)))

    (word2vec's min(1, sqrt(f/s) / (f/s)) for f = frequency, s = sampling_factor).

    Returns: float64 (size,), entry i for the i-th most frequent word (id i of a Tokenizer).

    >>> make_sampling_table(4, sampling_factor=0.1).round(3)
    array([0.315, 0.315, 0.548, 0.742])
    """
    size = check_positive_int("size", size)
    if not isinstance(sampling_factor, (int, float, np.number)) or not (
        math.isfinite(sampling_factor) and sampling_factor > 0
    ):
        raise ValueError(f"sampling_factor: got {sampling_factor!r}, expected a float > 0")
    gamma = 0.577
    rank = np.arange(size)
    rank[0] = 1
    inv_fq = rank * (np.log(rank) + gamma) + 0.5 - 1.0 / (12.0 * rank)
    f = sampling_factor * inv_fq
    return np.minimum(1.0, f / np.sqrt(f))


def skipgrams(
    sequence,
    vocabulary_size: int,
    window_size: int = 4,
    negative_samples: float = 1.0,
    shuffle: bool = True,
    categorical: bool = False,
    sampling_table=None,
    seed: int | None = None,
):
    """Word2vec skip-gram couples (word, context) with labels (Keras's function).

    Positive couples, label 1: for each position i whose id w_i is not 0 (0 is padding)
    and, given a `sampling_table`, is kept with probability sampling_table[w_i], the
    couples (w_i, w_j) for every j != i with |i - j| <= window_size and w_j != 0, in
    order of i then j. Negative couples, label 0: int(P * negative_samples) of them for
    P positives, each (a word of the positive couples, shuffled and cycled, an id drawn
    uniformly from 1 .. vocabulary_size - 1). With `shuffle`, couples and labels are
    then shuffled together.

    Randomness comes from `random.Random(seed)` (and the shuffle from a second
    `random.Random(seed)`), never from global state: the same seed gives the same
    couples; seed=None draws a fresh seed. Keras draws the same couples as this function
    when Python's global `random` is seeded with `seed` just before its call.

    Args:
      sequence: 1-D token ids in [0, vocabulary_size).
      vocabulary_size: the largest possible id + 1.
      window_size: half-width of the context window, >= 0.
      negative_samples: float >= 0, negatives per positive.
      shuffle: shuffle the couples.
      categorical: labels one-hot (N, 2), [0, 1] for positives, instead of (N,).
      sampling_table: None, or 1-D keep-probabilities indexed by id (at least
        vocabulary_size of them), e.g. `make_sampling_table(vocabulary_size)`.
      seed: None or an int.

    Returns:
      (couples, labels): couples int32 (N, 2) of (word, context); labels int32 (N,) or
      (N, 2) when `categorical`.

    Example:
      >>> couples, labels = skipgrams([1, 2, 3], 4, window_size=1, shuffle=False, seed=0)
      >>> couples[:4].tolist(), labels.tolist()
      ([[1, 2], [2, 1], [2, 3], [3, 2]], [1, 1, 1, 1, 0, 0, 0, 0])
    """
    ids = _token_ids("sequence", sequence)
    vocabulary_size = check_positive_int("vocabulary_size", vocabulary_size)
    big = [t for t in ids if t >= vocabulary_size]
    if big:
        raise ValueError(
            f"sequence: got token id {big[0]}, expected ids < vocabulary_size={vocabulary_size}"
        )
    window_size = check_int("window_size", window_size, minimum=0)
    shuffle = check_bool("shuffle", shuffle)
    categorical = check_bool("categorical", categorical)
    if (
        not isinstance(negative_samples, (int, float, np.number))
        or isinstance(negative_samples, bool)
        or not (math.isfinite(negative_samples) and negative_samples >= 0)
    ):
        raise ValueError(f"negative_samples: got {negative_samples!r}, expected a float >= 0")
    if sampling_table is not None:
        table = np.asarray(sampling_table)
        if table.ndim != 1 or table.shape[0] < vocabulary_size:
            raise ValueError(
                f"sampling_table: got shape {table.shape}, expected ({vocabulary_size},) "
                "(one probability per id, e.g. make_sampling_table(vocabulary_size))"
            )
        table = table.tolist()
    seed = check_int("seed", seed, allow_none=True)

    rng = random.Random(seed)
    couples: list[list[int]] = []
    for i, wi in enumerate(ids):
        if not wi:
            continue
        if sampling_table is not None and table[wi] < rng.random():
            continue
        for j in range(max(0, i - window_size), min(len(ids), i + window_size + 1)):
            if j != i and ids[j]:
                couples.append([wi, ids[j]])
    n_pos = len(couples)
    n_neg = int(n_pos * negative_samples) if negative_samples > 0 else 0
    if n_neg and vocabulary_size < 2:
        raise ValueError(
            f"vocabulary_size: got {vocabulary_size}, expected >= 2 to draw negative "
            "samples (ids 1 .. vocabulary_size - 1); or pass negative_samples=0"
        )
    if negative_samples > 0:
        words = [c[0] for c in couples]
        rng.shuffle(words)
        couples += [
            [words[k % len(words)], rng.randint(1, vocabulary_size - 1)] for k in range(n_neg)
        ]
    labels = [1] * n_pos + [0] * n_neg
    if shuffle:
        shuffle_seed = seed if seed is not None else rng.randint(0, 10**7)
        # Two generators in the same state apply the same permutation (as Keras).
        random.Random(shuffle_seed).shuffle(couples)
        random.Random(shuffle_seed).shuffle(labels)

    couples_arr = np.asarray(couples, np.int32).reshape(len(couples), 2)
    labels_arr = np.asarray(labels, np.int32)
    if categorical:
        labels_arr = np.stack([1 - labels_arr, labels_arr], axis=-1).reshape(-1, 2)
    return couples_arr, labels_arr
