"""The sentiment experiment's corpus readers (experiments/_sentiment_data.py), on small
files written here in each format: Keras's imdb.npz, the aclImdb folder, and the VADER
movie-review snippets as they ship (a tar.gz inside the vaderSentiment sdist)."""

import io
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "experiments"))
import _sentiment_data as sd  # noqa: E402

SNIPPETS = [
    (2.27, "A gorgeous, moving film; the cast is wonderful."),
    (-1.9, "Dull and far too long."),
    (0.0, "It is a movie about a train."),
    (3.1, "Wonderful, funny and warm."),
    (-2.6, "A boring, dull mess."),
    (1.2, "Funny enough, and the cast is good."),
    (-0.4, "Too long by half."),
    (2.0, "Warm and moving."),
    (-3.0, "Awful: boring from start to finish."),
    (0.9, "A good film."),
]


def snippet_lines(rows=SNIPPETS) -> bytes:
    # As in the original file: id, mean rating, text; Windows-1252 bytes (here a '\x92').
    lines = [f"{i}\t{r}\t{t}" for i, (r, t) in enumerate(rows, 1)]
    return ("\n".join(lines) + "\n").encode("latin-1") + b"11\t1.5\tIt\x92s fine.\n"


def tar_gz(members: dict) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def snippet_files(tmp_path):
    """The same snippets as a plain file, as the inner tar.gz, and as the sdist."""
    txt = tmp_path / sd.SNIPPETS
    txt.write_bytes(snippet_lines())
    inner = tar_gz({f"hutto_ICWSM_2014/{sd.SNIPPETS}": snippet_lines(), "x/README": b"hi"})
    inner_path = tmp_path / sd.VADER_INNER
    inner_path.write_bytes(inner)
    sdist = tmp_path / sd.VADER_SDIST
    sdist.write_bytes(
        tar_gz(
            {
                "vaderSentiment-3.3.2/setup.py": b"",
                f"vaderSentiment-3.3.2/additional_resources/{sd.VADER_INNER}": inner,
            }
        )
    )
    return txt, inner_path, sdist


def test_snippets_read_alike_from_file_inner_tar_and_sdist(snippet_files):
    read = [sd.read_snippets(p) for p in snippet_files]
    texts, ratings = read[0]
    assert len(texts) == 11 and texts[1] == "Dull and far too long."
    assert texts[-1] == "It\x92s fine."  # latin-1: every byte decodes
    np.testing.assert_allclose(ratings[:3], [2.27, -1.9, 0.0], rtol=1e-6)
    for t, r in read[1:]:
        assert t == texts and np.array_equal(r, ratings)


def test_snippets_corpus_drops_neutral_and_splits_stratified(snippet_files):
    c = sd.load_movie_snippets(snippet_files[2], num_words=50, val=0.2, test=0.2, seed=3)
    sizes = [len(getattr(c, s)[0]) for s in ("train", "val", "test")]
    assert sum(sizes) == 10  # 11 snippets, the one rated 0 left out
    # 5 positive and 5 negative (the stray-byte one is positive: 6 vs 4): each split
    # keeps its share, rounded per class.
    labels = [getattr(c, s)[1] for s in ("train", "val", "test")]
    assert [int(y.sum()) for y in labels] == [4, 1, 1]
    assert [int((1 - y).sum()) for y in labels] == [2, 1, 1]
    # Every id is below vocab; 1 is <unk>; the tokenizer saw the training split only.
    assert c.tokenizer.word_index["<unk>"] == 1
    ids = [i for seqs, _ in (c.train, c.val, c.test) for s in seqs for i in s]
    assert min(ids) >= 1 and max(ids) < c.vocab <= 50
    train_words = set(" ".join(c.tokenizer.sequences_to_texts(c.train[0])).split())
    assert set(c.tokenizer.word_index) == train_words | {"<unk>"}
    held_out = set(" ".join(c.tokenizer.sequences_to_texts(c.test[0] + c.val[0])).split())
    assert "<unk>" in held_out  # words met only outside training are unknown
    # Same seed, same split; another seed, another split.
    again = sd.load_movie_snippets(snippet_files[0], num_words=50, val=0.2, test=0.2, seed=3)
    assert again.test[0] == c.test[0]
    other = sd.load_movie_snippets(snippet_files[0], num_words=50, val=0.2, test=0.2, seed=4)
    assert sorted(map(tuple, other.train[0])) != sorted(map(tuple, c.train[0]))


def test_split_indices_partition_and_balance():
    y = np.array([0] * 60 + [1] * 40)
    tr, va, te = sd.split_indices(y, 0.1, 0.2, seed=0)
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(100))
    assert [len(tr), len(va), len(te)] == [70, 10, 20]
    assert [int(y[s].sum()) for s in (tr, va, te)] == [28, 4, 8]


def test_snippet_errors_name_the_problem(tmp_path, snippet_files):
    with pytest.raises(FileNotFoundError, match="--data: .*make exp-sentiment"):
        sd.read_snippets(tmp_path / "nope.tar.gz")
    bad = tmp_path / "other.tar.gz"
    bad.write_bytes(tar_gz({"a/b.txt": b"x"}))
    with pytest.raises(ValueError, match="holds neither"):
        sd.read_snippets(bad)
    broken = tmp_path / "broken.txt"
    broken.write_bytes(b"1\t2.0\tok\n2\tnot three fields\n")
    with pytest.raises(ValueError, match="line 2 has 2 tab-separated fields"):
        sd.read_snippets(broken)
    broken.write_bytes(b"1\t2.0\tok\n2\tgood\tA text.\n")
    with pytest.raises(ValueError, match="line 2 has the rating 'good', expected a number"):
        sd.read_snippets(broken)


def write_imdb_npz(path):
    # Reviews as word ranks (1 = most frequent), as Keras stores them.
    x_train = np.empty(3, object)
    x_train[:] = [[1, 2, 3], [7, 1], [4, 12, 5, 6]]
    x_test = np.empty(2, object)
    x_test[:] = [[2, 2], [9, 3]]
    np.savez(path, x_train=x_train, y_train=np.array([1, 0, 1]), x_test=x_test,
             y_test=np.array([0, 1]))  # fmt: skip


def test_imdb_npz_uses_keras_ids(tmp_path):
    path = tmp_path / "imdb.npz"
    write_imdb_npz(path)
    c = sd.load_imdb_npz(path, num_words=10, val=1 / 3, seed=0)
    # imdb.load_data(num_words=10): [1] + [rank + 3], ids >= 10 -> 2 (out of vocabulary).
    want_train = {(1, 4, 5, 6): 1, (1, 2, 4): 0, (1, 7, 2, 8, 9): 1}
    got = {tuple(s): int(y) for s, y in zip(c.train[0] + c.val[0], [*c.train[1], *c.val[1]])}
    assert got == want_train and len(c.val[0]) == 1
    # the test reviews shuffled (seeded), with their labels
    got_test = {tuple(s): int(y) for s, y in zip(c.test[0], c.test[1])}
    assert got_test == {(1, 5, 5): 0, (1, 2, 6): 1}
    assert c.vocab == 10 and c.tokenizer is None
    # A larger num_words: vocab covers the largest id of either split (the test's 9 + 3).
    wide = sd.load_imdb_npz(path, num_words=100, val=1 / 3, seed=0)
    assert wide.vocab == 16  # rank 12 in the training reviews: id 15
    assert max(i for s in wide.test[0] for i in s) < wide.vocab


def test_imdb_npz_missing_arrays_is_an_error(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, x_train=np.zeros(2))
    with pytest.raises(ValueError, match=r"--imdb: .*lacks \['x_test', 'y_test', 'y_train'\]"):
        sd.load_imdb(path, num_words=10)


def test_aclimdb_folder(tmp_path):
    root = tmp_path / "aclImdb"
    reviews = {
        ("train", "pos"): ["Great film.<br /><br />Loved it.", "A great, warm story."]
        + [f"Great cast number {i}." for i in range(3)],
        ("train", "neg"): ["Awful.<br/>Boring plot.", "Boring and awful acting."]
        + [f"Awful cast number {i}." for i in range(3)],
        ("test", "pos"): ["Loved the great acting."],
        ("test", "neg"): ["A zebra was boring."],
    }
    for (split, label), texts in reviews.items():
        (root / split / label).mkdir(parents=True)
        for i, t in enumerate(texts):
            (root / split / label / f"{i}_7.txt").write_text(t)
    (root / "train" / "unsup").mkdir()  # unlabelled reviews are not read
    (root / "train" / "unsup" / "0_0.txt").write_text("zebra zebra")

    texts, labels = sd.read_aclimdb(root, "train")
    assert labels.tolist() == [0] * 5 + [1] * 5
    assert texts[0] == "Awful. Boring plot." and "<br" not in " ".join(texts)
    c = sd.load_imdb(root, num_words=100)
    # 5 reviews per class: a 20% validation share is one of each.
    assert (len(c.train[0]), len(c.val[0]), len(c.test[0])) == (8, 2, 2)
    assert sorted(c.val[1].tolist()) == [0, 1] and sorted(c.test[1].tolist()) == [0, 1]
    assert "zebra" not in c.tokenizer.word_index  # only in unsup/ and test/
    decoded = dict(zip(c.test[1].tolist(), c.tokenizer.sequences_to_texts(c.test[0])))
    assert decoded[0] == "a <unk> <unk> boring" and decoded[1].startswith("loved ")

    (root / "test" / "pos" / "0_7.txt").unlink()
    (root / "test" / "pos").rmdir()
    with pytest.raises(FileNotFoundError, match="--imdb: .*test/pos is missing"):
        sd.load_imdb(root, num_words=100)
    with pytest.raises(FileNotFoundError, match="neither an imdb.npz file nor an aclImdb"):
        sd.load_imdb(tmp_path / "missing", num_words=100)
    not_npz = tmp_path / "aclImdb_v1.tar.gz"
    not_npz.write_bytes(tar_gz({"aclImdb/README": b"x"}))
    with pytest.raises(ValueError, match=r"--imdb: could not read .*\(not the \.tar\.gz\)"):
        sd.load_imdb(not_npz, num_words=100)
