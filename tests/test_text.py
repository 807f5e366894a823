"""jrnn.data (text): Tokenizer, n-gram training set, skipgrams, sampling table.

Hand-computed expectations run everywhere; parity with keras_preprocessing (the
reference implementation of Keras's Tokenizer and skipgrams) runs when it is installed.
"""

import json
import math
import os
import random

import numpy as np
import pytest

from jrnn.data import (
    Tokenizer,
    make_sampling_table,
    ngram_sequences,
    skipgrams,
    text_to_word_sequence,
    tokenizer_from_json,
)

CORPUS = [
    "The cat sat on the mat.",
    "The dog ate my homework!",
    "Dogs and cats: living together? The END",
    "mat, MAT, mat;\tcat\nsat",
    "",
    "it's the cat's hat",
]
QUERIES = ["the cat ate the unknown hat", "Dogs, DOGS, dogs", "", "zebra"]


def _keras_text():
    return pytest.importorskip("keras_preprocessing.text")


def _keras_sequence():
    return pytest.importorskip("keras_preprocessing.sequence")


# ------------------------------------------------------------------ tokenizer, by hand


def test_text_to_word_sequence():
    assert text_to_word_sequence("The cat, the HAT.\tit's") == ["the", "cat", "the", "hat", "it's"]
    assert text_to_word_sequence("a-b c", filters="", lower=False) == ["a-b", "c"]
    assert text_to_word_sequence("A,b,,c", split=",") == ["a", "b", "c"]


def test_word_index_by_count_then_first_appearance():
    tok = Tokenizer()
    tok.fit_on_texts(["b a c", "c b d", "b"])
    # b: 3, c: 2, then a and d (1 each) in order of first appearance.
    assert tok.word_index == {"b": 1, "c": 2, "a": 3, "d": 4}
    assert tok.index_word == {1: "b", 2: "c", 3: "a", 4: "d"}
    assert dict(tok.word_counts) == {"b": 3, "a": 1, "c": 2, "d": 1}
    assert dict(tok.word_docs) == {"b": 3, "a": 1, "c": 2, "d": 1}
    assert dict(tok.index_docs) == {1: 3, 3: 1, 2: 2, 4: 1}
    assert tok.document_count == 3
    assert tok.texts_to_sequences(["d b x a"]) == [[4, 1, 3]]  # unknown x dropped
    assert tok.sequences_to_texts([[4, 1, 3, 9, 0]]) == ["d b a"]


def test_oov_token_is_index_1_and_num_words_cuts_outputs_only():
    tok = Tokenizer(num_words=3, oov_token="<unk>")
    tok.fit_on_texts(["b a c", "c b d", "b"])
    assert tok.word_index == {"<unk>": 1, "b": 2, "c": 3, "a": 4, "d": 5}  # all kept
    # ids >= num_words (c, a, d) and unknown words become <unk>.
    assert tok.texts_to_sequences(["b c a zz"]) == [[2, 1, 1, 1]]
    assert tok.sequences_to_texts([[2, 3, 4, 99]]) == ["b <unk> <unk> <unk>"]
    no_oov = Tokenizer(num_words=3)
    no_oov.fit_on_texts(["b a c", "c b d", "b"])
    assert no_oov.texts_to_sequences(["b c a zz"]) == [[1, 2]]
    assert no_oov.sequences_to_texts([[1, 2, 3, 4]]) == ["b c"]


def test_incremental_fit_adds_counts():
    tok = Tokenizer()
    tok.fit_on_texts(["a b"])
    tok.fit_on_texts(["b c", "c c"])
    assert tok.word_index == {"c": 1, "b": 2, "a": 3}
    assert tok.document_count == 3


def test_list_of_tokens_and_generator_input():
    tok = Tokenizer()
    tok.fit_on_texts(t for t in [["Hello", "world!"], ["hello"]])
    assert tok.word_index == {"hello": 1, "world!": 2}  # tokens used as given, lowered
    assert tok.texts_to_sequences([["WORLD!", "hello"]]) == [[2, 1]]


def test_char_level_round_trip():
    texts = ["Hello, World!", "low wolf"]
    tok = Tokenizer(char_level=True)
    tok.fit_on_texts(texts)
    assert tok.word_index["l"] == 1  # the most frequent character
    assert " " in tok.word_index and "," in tok.word_index  # no filters at char level
    seqs = tok.texts_to_sequences(texts)
    assert [len(s) for s in seqs] == [len(t) for t in texts]
    assert tok.sequences_to_texts(seqs) == [t.lower() for t in texts]
    cased = Tokenizer(char_level=True, lower=False)
    cased.fit_on_texts(texts)
    assert cased.sequences_to_texts(cased.texts_to_sequences(texts)) == texts


def test_sequences_accept_numpy_rows():
    tok = Tokenizer()
    tok.fit_on_texts(["a b c"])
    padded = np.array([[0, 1, 2], [0, 0, 3]], np.int32)
    assert tok.sequences_to_texts(padded) == ["a b", "c"]


def test_texts_to_matrix_modes():
    tok = Tokenizer()
    tok.fit_on_texts(["a a b", "b c"])  # a: 1, b: 2, c: 3
    texts = ["a a b zz", "c"]
    np.testing.assert_array_equal(
        tok.texts_to_matrix(texts, "binary"), [[0, 1, 1, 0], [0, 0, 0, 1]]
    )
    np.testing.assert_array_equal(tok.texts_to_matrix(texts, "count"), [[0, 2, 1, 0], [0, 0, 0, 1]])
    np.testing.assert_allclose(
        tok.texts_to_matrix(texts, "freq"), [[0, 2 / 3, 1 / 3, 0], [0, 0, 0, 1]]
    )
    # tf-idf: (1 + log c) * log(1 + docs / (1 + docs with the word)), 2 documents.
    idf = lambda d: math.log(1 + 2 / (1 + d))
    want = [[0, (1 + math.log(2)) * idf(1), idf(2), 0], [0, 0, 0, idf(1)]]
    np.testing.assert_allclose(tok.texts_to_matrix(texts, "tfidf"), want)
    assert tok.texts_to_matrix(texts).dtype == np.float64


def test_sequences_to_matrix_with_num_words_needs_no_fit():
    tok = Tokenizer(num_words=4)
    np.testing.assert_array_equal(tok.sequences_to_matrix([[1, 1, 7]], "count"), [[0, 2, 0, 0]])


# ------------------------------------------------------------------- serialization


def _fitted(**kw):
    tok = Tokenizer(**kw)
    tok.fit_on_texts(CORPUS)
    return tok


def _same(a: Tokenizer, b: Tokenizer):
    for name in ("word_index", "index_word", "word_counts", "word_docs", "index_docs"):
        assert dict(getattr(a, name)) == dict(getattr(b, name)), name
    for name in ("num_words", "filters", "lower", "split", "char_level", "oov_token"):
        assert getattr(a, name) == getattr(b, name), name
    assert a.document_count == b.document_count
    assert a.texts_to_sequences(QUERIES) == b.texts_to_sequences(QUERIES)


@pytest.mark.parametrize(
    "kw", [{}, {"num_words": 5, "oov_token": "<unk>"}, {"char_level": True, "lower": False}]
)
def test_json_round_trip(kw):
    tok = _fitted(**kw)
    back = Tokenizer.from_json(tok.to_json())
    _same(tok, back)
    assert isinstance(back.index_word[1], str) and all(isinstance(k, int) for k in back.index_word)
    # Loaded tables stay usable for further fitting (Keras loads plain dicts and then
    # fails with a KeyError on a new word).
    back.fit_on_texts(["qzx"])
    assert len(back.texts_to_sequences(["qzx"])[0]) == (3 if tok.char_level else 1)
    _same(tokenizer_from_json(tok.to_json()), tok)
    # get_config is plain JSON data, e.g. for a checkpoint's metadata.
    _same(Tokenizer.from_config(json.loads(json.dumps(tok.get_config()))), tok)


def test_save_load_atomic(tmp_path):
    path = tmp_path / "sub" / "tokenizer.json"
    tok = _fitted(oov_token="<unk>")
    assert tok.save(path) == path
    _same(Tokenizer.load(path), tok)
    tok2 = _fitted(num_words=3)
    tok2.save(path)  # replaces the existing file
    _same(Tokenizer.load(path), tok2)
    assert os.listdir(path.parent) == ["tokenizer.json"]  # no temp file left behind


def test_save_failure_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "tokenizer.json"
    tok = _fitted()
    tok.save(path)
    before = path.read_text()

    def boom(*a):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        _fitted(num_words=2).save(path)
    assert path.read_text() == before
    assert os.listdir(tmp_path) == ["tokenizer.json"]


# ------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "call, method",
    [
        (lambda t: t.texts_to_sequences(["a"]), "texts_to_sequences"),
        (lambda t: list(t.texts_to_sequences_generator(["a"])), "texts_to_sequences"),
        (lambda t: t.sequences_to_texts([[1]]), "sequences_to_texts"),
        (lambda t: t.texts_to_matrix(["a"]), "texts_to_matrix"),
        (lambda t: t.sequences_to_matrix([[1]]), "sequences_to_matrix"),
    ],
)
def test_used_before_fit(call, method):
    with pytest.raises(ValueError, match=rf"Tokenizer\.{method}: the tokenizer is not fit yet"):
        call(Tokenizer())


def test_tfidf_needs_document_counts():
    with pytest.raises(ValueError, match="tfidf.*fit_on_texts"):
        Tokenizer(num_words=3).sequences_to_matrix([[1]], mode="tfidf")


@pytest.mark.parametrize(
    "call, err, match",
    [
        (lambda t: t.fit_on_texts("one text"), TypeError, "texts: got a str"),
        (lambda t: t.texts_to_sequences("a b"), TypeError, "texts: got a str"),
        (lambda t: t.fit_on_texts([1, 2]), TypeError, r"texts\[0\]: got int"),
        (lambda t: t.fit_on_texts([["a", 3]]), TypeError, r"texts\[0\]\[1\]: got int"),
        (lambda t: t.sequences_to_texts([1, 2]), TypeError, r"sequences\[0\]: got int"),
        (lambda t: t.sequences_to_texts([[1.0]]), TypeError, r"sequences\[0\]\[0\]: got float"),
        (lambda t: t.sequences_to_texts([[1, -1]]), ValueError, r"sequences\[0\]: got token id -1"),
        (lambda t: t.sequences_to_texts(np.ones((1, 2, 2), int)), ValueError, r"shape \(2, 2\)"),
        (lambda t: t.texts_to_matrix(["a"], mode="tf"), ValueError, "mode: got 'tf'"),
    ],
)
def test_bad_input(call, err, match):
    tok = Tokenizer()
    tok.fit_on_texts(["a b"])
    with pytest.raises(err, match=match):
        call(tok)


def test_bad_constructor_and_json():
    with pytest.raises(ValueError, match="num_words: got 0, expected None or a positive"):
        Tokenizer(num_words=0)
    with pytest.raises(ValueError, match="split: got ''"):
        Tokenizer(split="")
    with pytest.raises(TypeError, match="oov_token: got int"):
        Tokenizer(oov_token=1)
    with pytest.raises(ValueError, match="json_string: got class_name 'Model'"):
        Tokenizer.from_json('{"class_name": "Model", "config": {}}')
    with pytest.raises(ValueError, match="json_string: got invalid JSON"):
        Tokenizer.from_json("{")
    with pytest.raises(ValueError, match="config: got no"):
        Tokenizer.from_json('{"class_name": "Tokenizer", "config": {"num_words": 3}}')


# ------------------------------------------------------- tokenizer, keras parity


KERAS_CONFIGS = [
    {},
    {"oov_token": "<OOV>"},
    {"num_words": 6},
    {"num_words": 6, "oov_token": "<OOV>"},
    {"lower": False, "filters": ".,", "split": " "},
    {"filters": "", "split": "a"},
    {"char_level": True},
    {"char_level": True, "oov_token": "~", "num_words": 8},
]


@pytest.mark.parametrize("kw", KERAS_CONFIGS)
def test_tokenizer_matches_keras_preprocessing(kw):
    kt = _keras_text()
    ours, ref = Tokenizer(**kw), kt.Tokenizer(**kw)
    for corpus in (CORPUS[:3], CORPUS[3:]):  # incremental fitting too
        ours.fit_on_texts(corpus)
        ref.fit_on_texts(corpus)
    assert list(ours.word_index.items()) == list(ref.word_index.items())
    assert ours.index_word == ref.index_word
    assert list(ours.word_counts.items()) == list(ref.word_counts.items())
    assert dict(ours.word_docs) == dict(ref.word_docs)
    assert dict(ours.index_docs) == dict(ref.index_docs)
    assert ours.document_count == ref.document_count
    texts = CORPUS + QUERIES + [["The", "zebra"]]
    seqs = ours.texts_to_sequences(texts)
    assert seqs == ref.texts_to_sequences(texts)
    probe = seqs + [[0, 1, 2, 3, 50, 7]]
    if kw.get("char_level"):
        # keras_preprocessing joins characters with spaces; we join with nothing.
        want = [s.replace(" ", "") for s in ref.sequences_to_texts(probe)]
        assert [s.replace(" ", "") for s in ours.sequences_to_texts(probe)] == want
    else:
        assert ours.sequences_to_texts(probe) == ref.sequences_to_texts(probe)
    for mode in ("binary", "count", "freq", "tfidf"):
        np.testing.assert_allclose(
            ours.texts_to_matrix(texts, mode), ref.texts_to_matrix(texts, mode), rtol=1e-15
        )


def test_json_interchange_with_keras_preprocessing():
    kt = _keras_text()
    ref = kt.Tokenizer(num_words=5, oov_token="<OOV>")
    ref.fit_on_texts(CORPUS)
    ours = Tokenizer.from_json(ref.to_json())
    assert ours.texts_to_sequences(QUERIES) == ref.texts_to_sequences(QUERIES)
    assert ours.word_index == ref.word_index
    back = kt.tokenizer_from_json(ours.to_json())
    assert back.texts_to_sequences(QUERIES) == ref.texts_to_sequences(QUERIES)
    assert back.index_word == ref.index_word
    assert json.loads(ours.to_json()) == json.loads(ref.to_json())


# ------------------------------------------------------------------------ n-grams


def test_ngram_issue_example():
    # The issue's example: inputs of width 4 for [7 3 4 9], so n-grams of 5 tokens, as
    # in a corpus whose longest sentence has 5 tokens.
    want_x = [[0, 0, 0, 7], [0, 0, 7, 3], [0, 7, 3, 4]]
    x, y = ngram_sequences([[7, 3, 4, 9]], maxlen=5)
    np.testing.assert_array_equal(x, want_x)
    np.testing.assert_array_equal(y, [3, 4, 9])
    assert x.dtype == y.dtype == np.int32
    x, y = ngram_sequences([[7, 3, 4, 9], [1, 2, 3, 4, 5]])  # default maxlen: longest
    np.testing.assert_array_equal(x[:3], want_x)
    np.testing.assert_array_equal(y[:3], [3, 4, 9])
    assert x.shape == (3 + 4, 4)
    # A corpus of that sentence alone: n-grams of 4 tokens, inputs of width 3.
    x, y = ngram_sequences([[7, 3, 4, 9]])
    np.testing.assert_array_equal(x, [[0, 0, 7], [0, 7, 3], [7, 3, 4]])


def _keras_recipe(sequences, maxlen=None):
    """The classic recipe: every prefix, pre-padded (and pre-truncated) to max_sequence_len,
    inputs = all columns but the last, labels = the last column."""
    prefixes = [s[: k + 1] for s in sequences for k in range(1, len(s))]
    maxlen = maxlen or max(len(s) for s in sequences)
    padded = np.zeros((len(prefixes), maxlen), np.int64)
    for r, p in enumerate(prefixes):
        p = p[-maxlen:]
        padded[r, maxlen - len(p) :] = p
    return padded[:, :-1], padded[:, -1]


@pytest.mark.parametrize("maxlen", [None, 2, 3, 8])
def test_ngram_matches_recipe(maxlen):
    rng = np.random.default_rng(0)
    seqs = [rng.integers(1, 50, size=n).tolist() for n in (5, 1, 0, 3, 7, 2)]
    x, y = ngram_sequences(seqs, maxlen=maxlen)
    want_x, want_y = _keras_recipe(seqs, maxlen)
    np.testing.assert_array_equal(x, want_x)
    np.testing.assert_array_equal(y, want_y)


def test_ngram_post_padding_and_numpy_rows():
    x, y = ngram_sequences([np.array([7, 3, 4, 9])], maxlen=5, padding="post")
    np.testing.assert_array_equal(x, [[7, 0, 0, 0], [7, 3, 0, 0], [7, 3, 4, 0]])
    np.testing.assert_array_equal(y, [3, 4, 9])
    x, y = ngram_sequences([[1, 2, 3, 4]], maxlen=3, padding="post")  # keeps the last 2
    np.testing.assert_array_equal(x, [[1, 0], [1, 2], [2, 3]])


@pytest.mark.parametrize("maxlen", [None, 2, 4, 12])
def test_ngram_post_matches_a_loop_over_prefixes(maxlen):
    # ngram_sequences is vectorized (windows over one buffer); check it row by row.
    rng = np.random.default_rng(1)
    seqs = [rng.integers(0, 50, size=n).tolist() for n in (6, 0, 1, 9, 2, 3)]
    x, y = ngram_sequences(seqs, maxlen=maxlen, padding="post")
    width = (maxlen or 9) - 1
    want_x, want_y = [], []
    for s in seqs:
        for k in range(1, len(s)):
            ctx = s[max(0, k - width) : k]
            want_x.append(ctx + [0] * (width - len(ctx)))
            want_y.append(s[k])
    np.testing.assert_array_equal(x, want_x)
    np.testing.assert_array_equal(y, want_y)
    assert x.dtype == y.dtype == np.int32


def test_ngram_ids_must_fit_int32_and_bools_are_not_ids():
    with pytest.raises(ValueError, match=r"sequences: got token id 2147483648"):
        ngram_sequences([[1, 2**31]])
    with pytest.raises(TypeError, match=r"sequences\[0\]\[1\]: got bool"):
        ngram_sequences([[1, True]])


@pytest.mark.parametrize(
    "args, kw, err, match",
    [
        (([[1, 2]],), {"maxlen": 1}, ValueError, "maxlen: got 1, expected None or an integer >= 2"),
        (([[1, 2]],), {"maxlen": -3}, ValueError, "maxlen: got -3"),
        (([[1, 2]],), {"padding": "left"}, ValueError, "padding: got 'left'"),
        (([[1], []],), {}, ValueError, "sequences: got 2 sequences with no 2 tokens"),
        (([],), {}, ValueError, "sequences: got 0 sequences"),
        (([1, 2, 3],), {}, TypeError, r"sequences\[0\]: got int"),
        (([[1, 2.5]],), {}, TypeError, r"sequences\[0\]\[1\]: got float"),
        (([[1, -2]],), {}, ValueError, r"sequences\[0\]: got token id -2"),
    ],
)
def test_ngram_bad_input(args, kw, err, match):
    with pytest.raises(err, match=match):
        ngram_sequences(*args, **kw)


# ---------------------------------------------------------------------- skip-grams


def test_skipgram_positives_by_hand():
    seq = [1, 2, 0, 3, 4]  # 0 is padding: never a word nor a context
    c, l = skipgrams(seq, 5, window_size=1, negative_samples=0, shuffle=False)
    assert c.tolist() == [[1, 2], [2, 1], [3, 4], [4, 3]]
    assert l.tolist() == [1, 1, 1, 1]
    c, l = skipgrams(seq, 5, window_size=2, negative_samples=0, shuffle=False)
    assert c.tolist() == [[1, 2], [2, 1], [2, 3], [3, 2], [3, 4], [4, 3]]
    c, _ = skipgrams(seq, 5, window_size=0, negative_samples=0.0)
    assert c.shape == (0, 2) and c.dtype == np.int32


@pytest.mark.parametrize("negative_samples", [1.0, 0.5, 2.5])
def test_skipgram_counts_labels_negatives(negative_samples):
    seq = [0, 5, 1, 7, 7, 2, 0, 9, 3]
    c_pos, _ = skipgrams(seq, 10, window_size=3, negative_samples=0, shuffle=False)
    n_pos = len(c_pos)
    c, l = skipgrams(seq, 10, window_size=3, negative_samples=negative_samples, seed=3)
    n_neg = int(n_pos * negative_samples)
    assert c.shape == (n_pos + n_neg, 2) and l.shape == (n_pos + n_neg,)
    assert (l == 1).sum() == n_pos and (l == 0).sum() == n_neg
    # Shuffled together: the positive rows are exactly the positive couples.
    assert sorted(map(tuple, c[l == 1].tolist())) == sorted(map(tuple, c_pos.tolist()))
    neg = c[l == 0]
    assert set(neg[:, 0].tolist()) <= set(c_pos[:, 0].tolist())  # words seen as targets
    assert neg[:, 1].min() >= 1 and neg[:, 1].max() <= 9  # contexts in 1 .. V - 1
    assert (c != 0).all()  # zeros never appear


def test_skipgram_seed_determinism():
    seq = list(range(1, 30))
    a = skipgrams(seq, 40, seed=7)
    b = skipgrams(seq, 40, seed=7)
    d = skipgrams(seq, 40, seed=8)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], d[0])
    state = random.getstate()
    skipgrams(seq, 40, seed=7)
    assert random.getstate() == state  # global random untouched


def test_skipgram_categorical():
    c, l = skipgrams([1, 2, 3], 4, window_size=1, seed=1, categorical=True)
    c2, l2 = skipgrams([1, 2, 3], 4, window_size=1, seed=1)
    np.testing.assert_array_equal(c, c2)
    np.testing.assert_array_equal(l, np.stack([1 - l2, l2], axis=-1))
    assert l.shape == (8, 2)


def test_skipgram_sampling_table():
    seq = [1, 2, 3, 1, 2, 3]
    none, _ = skipgrams(seq, 4, window_size=1, sampling_table=np.zeros(4), seed=0)
    assert none.shape == (0, 2)  # every word dropped
    keep = np.array([0.0, 1.0, 0.0, 1.0])  # only 1 and 3 kept as target words
    c, _ = skipgrams(seq, 4, window_size=1, negative_samples=0, sampling_table=keep, seed=0)
    assert set(c[:, 0].tolist()) == {1, 3} and len(c) == 6


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"window_size": 2, "negative_samples": 0.5},
        {"shuffle": False, "negative_samples": 2.0},
        {"categorical": True, "window_size": 1},
        {"sampling_table": "table"},
    ],
)
def test_skipgrams_match_keras_preprocessing(kw):
    ks = _keras_sequence()
    rng = np.random.default_rng(1)
    seq = rng.integers(0, 30, size=40).tolist()
    if kw.get("sampling_table") == "table":
        kw = {**kw, "sampling_table": make_sampling_table(30, sampling_factor=0.05)}
    state = random.getstate()
    try:
        for seed in (0, 123):
            random.seed(seed)  # Keras draws all but the shuffle from the global state
            kc, kl = ks.skipgrams(seq, 30, seed=seed, **kw)
            c, l = skipgrams(seq, 30, seed=seed, **kw)
            np.testing.assert_array_equal(c, np.asarray(kc).reshape(-1, 2))
            np.testing.assert_array_equal(l, np.asarray(kl))
    finally:
        random.setstate(state)


@pytest.mark.parametrize(
    "args, kw, err, match",
    [
        (([1, 5], 5), {}, ValueError, "sequence: got token id 5, expected ids < vocabulary_size=5"),
        (([1, -1], 5), {}, ValueError, "sequence: got token id -1"),
        (([1, 2], 0), {}, ValueError, "vocabulary_size: got 0"),
        (([1, 2], 5), {"window_size": -1}, ValueError, "window_size: got -1"),
        (([1, 2], 5), {"negative_samples": -1.0}, ValueError, "negative_samples: got -1.0"),
        (
            ([1, 2], 5),
            {"sampling_table": np.ones(3)},
            ValueError,
            r"sampling_table: got shape \(3,\)",
        ),
        (([1, 2], 5), {"seed": 1.5}, TypeError, "seed: got 1.5 of type float"),
        (("ab", 5), {}, TypeError, "sequence: got str"),
        (([0, 0], 1), {}, None, None),  # no positives: no negatives needed, no error
    ],
)
def test_skipgram_bad_input(args, kw, err, match):
    if err is None:
        c, l = skipgrams(*args, **kw)
        assert c.shape == (0, 2) and l.shape == (0,)
        return
    with pytest.raises(err, match=match):
        skipgrams(*args, **kw)


# ------------------------------------------------------------------ sampling table


def test_make_sampling_table_formula():
    s = 1e-3
    table = make_sampling_table(6, sampling_factor=s)
    for i, p in enumerate(table):
        r = max(i, 1)
        freq = 1 / (r * (math.log(r) + 0.577) + 0.5 - 1 / (12 * r))  # Zipf approximation
        assert p == pytest.approx(min(1.0, math.sqrt(freq / s) / (freq / s)), rel=1e-12)
    assert table.shape == (6,) and table.dtype == np.float64
    assert (np.diff(table[1:]) >= 0).all()  # rarer words are kept more often
    assert make_sampling_table(10**6)[-1] == 1.0


def test_make_sampling_table_matches_keras_preprocessing():
    ks = _keras_sequence()
    for size, s in [(1, 1e-5), (100, 1e-5), (1000, 1e-3)]:
        np.testing.assert_array_equal(make_sampling_table(size, s), ks.make_sampling_table(size, s))


def test_make_sampling_table_bad_input():
    with pytest.raises(ValueError, match="size: got 0, expected a positive integer"):
        make_sampling_table(0)
    with pytest.raises(ValueError, match="sampling_factor: got 0.0, expected a float > 0"):
        make_sampling_table(5, 0.0)
