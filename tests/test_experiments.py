"""Every experiment's `main()` on a tiny slice for a handful of steps, so none can rot.

One test function per experiment in `experiments/`; each runs into `tmp_path` and checks
the files the experiment promises under `runs/<name>/`.
"""

import datetime
import json
import math

import jax
import numpy as np
import pytest
from experiment_runs import PNG, load_experiment, read_csv

import jrnn


def test_demo_runs(tmp_path):
    demo = load_experiment("demo")
    tiny = [
        "--steps-per-epoch", "2", "--max-chars", "6000", "--seq-len", "16", "--batch", "8",
        "--embed", "8", "--units", "16", "--sample-chars", "20", "--prompt", "The ",
        "--top-k", "5", "--verbose", "0", "--out", str(tmp_path),
    ]  # fmt: skip
    m = demo.main(["--epochs", "1", *tiny])
    assert math.isfinite(m["val_bits_per_char"]) and m["val_bits_per_char"] > 0
    assert (m["epochs"], m["steps"], m["resumed_from_epoch"]) == (1, 2, 0)
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk["val_bits_per_char"] == m["val_bits_per_char"]
    rows = read_csv(tmp_path / "history.csv")
    assert len(rows) == 1 and math.isclose(
        float(rows[0]["val_loss"]) / math.log(2), m["val_bits_per_char"], rel_tol=1e-6
    )
    assert (tmp_path / "curves.png").read_bytes()[:8] == PNG
    assert jrnn.checkpoint.latest_step(tmp_path / "checkpoints") == 1
    assert jrnn.Tokenizer.load(tmp_path / "tokenizer.json").char_level
    samples = (tmp_path / "samples.txt").read_text()
    assert samples.startswith("The ") and len(m["samples"][0]) == len("The ") + 20

    # Re-running with more epochs resumes: the history grows, the first epoch is kept.
    m2 = demo.main(["--epochs", "2", *tiny])
    assert (m2["epochs"], m2["steps"], m2["resumed_from_epoch"]) == (2, 4, 1)
    rows2 = read_csv(tmp_path / "history.csv")
    assert len(rows2) == 2 and rows2[0] == rows[0]
    assert jrnn.checkpoint.latest_step(tmp_path / "checkpoints") == 2
    # The same --epochs again: nothing left to train, the same history, samples again.
    m2b = demo.main(["--epochs", "2", *tiny])
    assert (m2b["epochs"], m2b["epochs_this_run"]) == (2, 0)
    assert read_csv(tmp_path / "history.csv") == rows2
    # --sample-only: the saved model (jrnn.save_model) samples what the run sampled.
    assert demo.main(["--sample-only", *tiny])["samples"] == m2b["samples"]

    # --fresh starts again from epoch 0 (the same seed: the same first epoch).
    m3 = demo.main(["--epochs", "1", "--fresh", *tiny])
    assert (m3["epochs"], m3["resumed_from_epoch"]) == (1, 0)
    assert read_csv(tmp_path / "history.csv") == rows


def test_demo_trains_a_linear_recurrence_stack(tmp_path):
    """--cell rglru --layers 2: a Dense to the RG-LRU's width, two RG-LRU layers, saved
    and loaded as such."""
    demo = load_experiment("demo")
    tiny = [
        "--steps-per-epoch", "2", "--max-chars", "6000", "--seq-len", "16", "--batch", "8",
        "--embed", "8", "--units", "16", "--sample-chars", "10", "--cell", "rglru",
        "--layers", "2", "--verbose", "0", "--out", str(tmp_path),
    ]  # fmt: skip
    m = demo.main(["--epochs", "1", *tiny])
    assert math.isfinite(m["val_bits_per_char"])
    model, _ = jrnn.load_model(tmp_path / "model.npz")
    assert [type(layer).__name__ for layer in model.layers] == [
        "Embedding", "Dense", "RGLRU", "RGLRU", "Dense"
    ]  # fmt: skip


def test_seq2seq_runs(tmp_path):
    s2s = load_experiment("seq2seq")
    # The data: 20 distinct renderings of a date, ordinals, disjoint date splits, and
    # targets shifted right behind <start> for teacher forcing.
    d = datetime.date(1979, 5, 3)
    texts = [s2s.render(d, f) for f in range(len(s2s.FORMATS))]
    assert {"3 May 1979", "05/03/79", "Thursday, May 3rd 1979", "1979-05-03"} <= set(texts)
    assert len(set(texts)) == len(texts) and max(map(len, texts)) <= s2s.source_length()
    assert [s2s.ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "31st"
    ]  # fmt: skip
    train, val, test = s2s.split_dates(0, 50, 100)
    assert len(set(train) | set(val) | set(test)) == len(train) + len(val) + len(test)
    dec_in, y = s2s.encode_targets(["1979-05-03"])
    assert s2s.decode_targets(y) == ["1979-05-03"] and dec_in[0, 0] == s2s.START
    assert (dec_in[0, 1:] == y[0, :-1]).all()

    tiny = [
        "--train-size", "200", "--val-size", "50", "--test-size", "100", "--embed", "8",
        "--units", "16", "--batch-size", "32", "--beam-width", "3", "--verbose", "0",
        "--out", str(tmp_path),
    ]  # fmt: skip
    # The plain model and one with attention (Bahdanau: the key projection, the step
    # function's carried encoder states and mask); resuming and --fresh on the plain one.
    both = s2s.main(["--epochs", "1", "--models", "plain,bahdanau", *tiny])
    assert list(both["models"]) == ["plain", "bahdanau"]
    for m in both["models"].values():
        for key in ("greedy_exact_match", "beam_exact_match", "beam_outputs_valid_dates"):
            assert 0.0 <= m[key] <= 1.0
        assert (m["epochs"], m["steps"], m["resumed_from_epoch"]) == (1, 7, 0)
        assert m["beam_width"] == 3
        # The step function built from the decoder's parameters gives the model's logits.
        assert m["step_fn_vs_model_max_abs_diff"] < 1e-4
        assert sum(v["n"] for v in m["per_format"].values()) == 100
    assert both["models"]["bahdanau"]["params"] > both["models"]["plain"]["params"]
    assert both["data"]["test_dates"] == 100
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk["models"] == json.loads(json.dumps(both["models"]))
    run = tmp_path / "plain"
    m = both["models"]["plain"]
    rows = read_csv(run / "history.csv")
    assert len(rows) == 1 and math.isfinite(float(rows[0]["val_loss"]))
    assert (run / "curves.png").read_bytes()[:8] == PNG
    assert jrnn.checkpoint.latest_step(run / "checkpoints") == 1
    assert jrnn.Tokenizer.load(tmp_path / "tokenizer.json").char_level
    assert "held-out dates with a wrong translation" in (run / "samples.txt").read_text()

    # Re-running with more epochs resumes from the checkpoint.
    m2 = s2s.main(["--epochs", "2", "--models", "plain", *tiny])["models"]["plain"]
    assert (m2["epochs"], m2["steps"], m2["resumed_from_epoch"]) == (2, 14, 1)
    assert read_csv(run / "history.csv")[0] == rows[0]
    # Other data settings against the checkpointed run are an error; --fresh starts over.
    with pytest.raises(ValueError, match="--units"):
        s2s.main(["--epochs", "2", "--models", "plain", *tiny, "--units", "8"])
    m3 = s2s.main(["--epochs", "1", "--models", "plain", "--fresh", *tiny])["models"]["plain"]
    assert (m3["epochs"], m3["resumed_from_epoch"]) == (1, 0)
    assert m3["val_accuracy"] == m["val_accuracy"]  # same seed, same run
    with pytest.raises(SystemExit):
        s2s.main(["--models", "plain,attention", *tiny])


def test_textgen_runs(tmp_path):
    textgen = load_experiment("textgen")
    tiny = [
        "--max-sentences", "60", "--context", "6", "--word-embed", "8", "--word-units", "8",
        "--word-batch", "64", "--char-embed", "8", "--char-units", "8", "--char-batch", "8",
        "--seq-len", "16", "--words", "3", "--chars", "10", "--temperatures", "0.8",
        "--top-k", "3", "--verbose", "0", "--out", str(tmp_path),
    ]  # fmt: skip
    m = textgen.main(["--word-epochs", "1", "--char-epochs", "1", *tiny])
    w, c = m["word"], m["char"]
    assert math.isfinite(w["test"]["perplexity"]) and w["test"]["perplexity"] > 1
    assert 0 < c["test"]["bits_per_char"] < 20 and 0 <= c["test"]["accuracy"] <= 1
    for base in (w["baselines"], c["baselines"]):
        assert set(base) == {"unigram", "bigram"}
        assert base["bigram"]["perplexity"] <= base["unigram"]["perplexity"] * 1.5
    assert (w["epochs"], w["resumed_from_epoch"], c["epochs"], c["resumed_from_epoch"]) == (
        1, 0, 1, 0,
    )  # fmt: skip
    assert json.loads((tmp_path / "metrics.json").read_text())["word"] == w
    rows = read_csv(tmp_path / "history.csv")
    assert len(rows) == 1
    assert math.isclose(
        math.exp(float(rows[0]["val_word_loss"])), w["val_perplexity"], rel_tol=1e-6
    )
    assert math.isclose(
        float(rows[0]["val_char_loss"]) / math.log(2), c["val_bits_per_char"], rel_tol=1e-6
    )
    assert (tmp_path / "curves.png").read_bytes()[:8] == PNG
    for name in ("word", "char"):
        assert jrnn.checkpoint.latest_step(tmp_path / "checkpoints" / name) == 1
    assert jrnn.Tokenizer.load(tmp_path / "char_tokenizer.json").char_level
    assert not jrnn.Tokenizer.load(tmp_path / "word_tokenizer.json").char_level
    samples = (tmp_path / "samples.txt").read_text()
    assert samples.count("== word LSTM") == 1 and samples.count("== char GRU") == 1
    assert all(s["text"].startswith(("The ", "If the ", "A class ")) for s in m["samples"]["char"])
    assert all(len(s["text"].split()) >= 3 for s in m["samples"]["word"])

    # Resume: more word epochs train only the word model; the first epoch is kept.
    m2 = textgen.main(["--word-epochs", "2", "--char-epochs", "1", *tiny])
    assert (m2["word"]["epochs"], m2["word"]["resumed_from_epoch"]) == (2, 1)
    assert (m2["char"]["epochs"], m2["char"]["resumed_from_epoch"]) == (1, 1)
    rows2 = read_csv(tmp_path / "history.csv")
    assert len(rows2) == 2 and rows2[0] == rows[0] and rows2[1]["char_loss"] == "nan"
    assert jrnn.checkpoint.latest_step(tmp_path / "checkpoints" / "word") == 2

    with pytest.raises(ValueError, match="--word-units"):
        textgen.main(["--word-epochs", "1", "--char-epochs", "1", *tiny, "--word-units", "4"])
    m3 = textgen.main(["--word-epochs", "1", "--char-epochs", "1", "--fresh", *tiny])
    assert (m3["word"]["resumed_from_epoch"], m3["char"]["resumed_from_epoch"]) == (0, 0)
    assert read_csv(tmp_path / "history.csv") == rows


def test_textgen_count_baselines():
    textgen = load_experiment("textgen")
    prev = np.array([1, 2, 1, 2, 1, 2])
    nxt = np.array([2, 1, 2, 1, 2, 1])
    b = textgen.count_baselines(prev, nxt, prev, nxt, vocab=4)
    assert b["bigram"]["accuracy"] == 1.0 and b["unigram"]["accuracy"] == 0.5
    assert b["bigram"]["perplexity"] < b["unigram"]["perplexity"] < 3


def test_stateful_runs(tmp_path):
    pytest.importorskip("aeon")  # the series ships in aeon
    stateful = load_experiment("stateful")
    # The layout: row k*B + b of the training arrays is chunk k of stream b.
    u = np.arange(20, dtype=np.float32)[:, None]
    x, y = stateful.stream_batches(u, u[:, 0] + 100, streams=2, chunk=3)
    assert x.shape == (6, 3, 1) and y.shape == (6, 3, 1)
    np.testing.assert_array_equal(x[:, :, 0], [[0, 1, 2], [9, 10, 11], [3, 4, 5], [12, 13, 14],
                                               [6, 7, 8], [15, 16, 17]])  # fmt: skip
    np.testing.assert_array_equal(y[:, :, 0], x[:, :, 0] + 100)

    tiny = [
        "--max-points", "600", "--streams", "4", "--chunk", "16", "--units", "8",
        "--ar-orders", "1", "2", "--verbose", "0", "--out", str(tmp_path),
    ]  # fmt: skip
    m = stateful.main(["--epochs", "2", *tiny])
    assert m["chunked_equals_one_pass"] and m["chunked_vs_one_pass_max_abs_diff"] <= 1e-5
    test = m["test"]
    assert test["naive_last_value"]["skill"] == 0.0
    assert math.isfinite(test["lstm"]["skill"]) and test["lstm"]["mse"] > 0
    assert test["ar"]["order"] in (1, 2)
    assert m["test_skill"] == test["lstm"]["skill"]
    assert (m["epochs"], m["resumed_from_epoch"]) == (2, 0)
    assert m["steps"] == 2 * m["data"]["chunks_per_epoch"]
    assert json.loads((tmp_path / "metrics.json").read_text())["test"] == test
    rows = read_csv(tmp_path / "history.csv")
    assert len(rows) == 2 and {"loss", "val_loss", "mae", "val_mae"} <= set(rows[0])
    assert (tmp_path / "curves.png").read_bytes()[:8] == PNG
    assert (tmp_path / "forecast.png").read_bytes()[:8] == PNG
    assert jrnn.checkpoint.latest_step(tmp_path / "checkpoints") == 2

    m2 = stateful.main(["--epochs", "3", *tiny])
    assert (m2["epochs"], m2["resumed_from_epoch"], m2["epochs_this_run"]) == (3, 2, 1)
    rows2 = read_csv(tmp_path / "history.csv")
    assert len(rows2) == 3 and rows2[:2] == rows
    with pytest.raises(ValueError, match="--units"):
        stateful.main(["--epochs", "3", *tiny, "--units", "4"])
    m3 = stateful.main(["--epochs", "2", "--fresh", *tiny])
    assert m3["resumed_from_epoch"] == 0 and read_csv(tmp_path / "history.csv") == rows


def test_keras_guide_runs(tmp_path):
    kg = load_experiment("keras_guide")
    # The guide's four models print the guide's totals (shapes only: nothing compiles).
    ids = np.ones((2, 5), np.int32)
    for name, want in kg.EXPECTED_PARAMS.items():
        model, inputs = kg.build(name)
        variables = jax.eval_shape(
            model.init, jax.random.key(0), inputs({"first": ids, "second": ids})
        )
        assert f"Total params: {want:,}" in model.summary(variables, print_fn=None)
    assert list(kg.EXPECTED_PARAMS.values())[:3] == [164_106, 361_866, 258_698]

    names = ("rnn_lstmcell",)  # the smallest; its main() also checks it equals LSTM(64)
    tiny = [
        "--models", ",".join(names), "--seq-len", "4", "--block", "8", "--max-train", "64",
        "--max-eval", "32", "--batch-size", "32", "--verbose", "0", "--out", str(tmp_path),
    ]  # fmt: skip
    m = kg.main(["--epochs", "1", *tiny])
    assert set(m["models"]) == set(names) and len(m["topics"]) == 10
    assert 0 < m["baselines"]["majority_class"] < 1
    assert (m["data"]["train"], m["data"]["test"]) == (64, 32)
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    first_rows = {}
    for name in names:
        r = m["models"][name]
        assert r["params"] == kg.EXPECTED_PARAMS[name]
        assert (r["epochs"], r["steps"], r["resumed_from_epoch"]) == (1, 2, 0)
        assert 0 <= r["test_accuracy"] <= 1 and math.isfinite(r["test_loss"])
        assert on_disk["models"][name]["test_accuracy"] == r["test_accuracy"]
        rows = read_csv(tmp_path / name / "history.csv")
        assert len(rows) == 1 and float(rows[0]["val_accuracy"]) == r["val_accuracy"]
        assert (tmp_path / name / "curves.png").read_bytes()[:8] == PNG
        assert jrnn.checkpoint.latest_step(tmp_path / name / "checkpoints") == 1
        first_rows[name] = rows
    # RNN(LSTMCell(64)) and LSTM(64) with the same weights give the same outputs.
    assert m["models"]["rnn_lstmcell"]["max_abs_diff_vs_lstm_at_init"] <= 1e-5
    assert m["models"]["rnn_lstmcell"]["max_abs_diff_vs_lstm_trained"] <= 1e-5
    assert (tmp_path / "curves.png").read_bytes()[:8] == PNG
    assert "97,674" in (tmp_path / "summaries.txt").read_text()
    assert jrnn.Tokenizer.load(tmp_path / "tokenizer.json").num_words == 2000

    m2 = kg.main(["--epochs", "2", *tiny])
    for name in names:
        r = m2["models"][name]
        assert (r["epochs"], r["steps"], r["resumed_from_epoch"]) == (2, 4, 1)
        rows = read_csv(tmp_path / name / "history.csv")
        assert len(rows) == 2 and rows[0] == first_rows[name][0]
        assert jrnn.checkpoint.latest_step(tmp_path / name / "checkpoints") == 2
    with pytest.raises(ValueError, match="--stride 2"):
        kg.main(["--epochs", "2", *tiny, "--stride", "2"])
    m3 = kg.main(["--epochs", "1", "--fresh", *tiny])
    assert all(r["resumed_from_epoch"] == 0 for r in m3["models"].values())
    assert read_csv(tmp_path / "rnn_lstmcell" / "history.csv") == first_rows["rnn_lstmcell"]


def test_bidirectional_runs(tmp_path):
    bd = load_experiment("bidirectional")
    ids = np.ones((2, 33), np.int32)
    for name, want in (("bilstm", 61_592), ("conv_bilstm", 23_680)):
        model = bd.build(name, 0.0)
        variables = jax.eval_shape(model.init, jax.random.key(0), ids)
        assert f"Total params: {want:,}" in model.summary(variables, print_fn=None)

    tiny = [
        "--models", "conv_bilstm", "--block", "33", "--stride", "8", "--max-train", "64",
        "--max-eval", "32", "--batch-size", "32", "--verbose", "0", "--out", str(tmp_path),
    ]  # fmt: skip
    m = bd.main(["--epochs", "1", *tiny])
    assert m["data"]["vocabulary"] == 120 and m["data"]["length"] == 33
    assert len(m["topics"]) == 8 and 0 < m["baselines"]["majority_class"] < 1
    assert (m["data"]["train"], m["data"]["test"]) == (64, 32)
    r = m["models"]["conv_bilstm"]
    assert r["params"] == 23_680
    assert "Total params: 23,680" in (tmp_path / "summaries.txt").read_text()
    assert (r["epochs"], r["steps"], r["resumed_from_epoch"]) == (1, 2, 0)
    assert 0 <= r["test_accuracy"] <= 1 and r["first_epoch_seconds"] > 0
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk["models"]["conv_bilstm"]["test_accuracy"] == r["test_accuracy"]
    rows = read_csv(tmp_path / "conv_bilstm" / "history.csv")
    assert len(rows) == 1 and float(rows[0]["val_accuracy"]) == r["val_accuracy"]
    for png in (tmp_path / "conv_bilstm" / "curves.png", tmp_path / "curves.png"):
        assert png.read_bytes()[:8] == PNG
    assert jrnn.checkpoint.latest_step(tmp_path / "conv_bilstm" / "checkpoints") == 1
    assert jrnn.Tokenizer.load(tmp_path / "tokenizer.json").num_words == 120

    m2 = bd.main(["--epochs", "2", *tiny])
    r2 = m2["models"]["conv_bilstm"]
    assert (r2["epochs"], r2["steps"], r2["resumed_from_epoch"]) == (2, 4, 1)
    assert r2["first_epoch_seconds"] == r["first_epoch_seconds"]
    rows2 = read_csv(tmp_path / "conv_bilstm" / "history.csv")
    assert len(rows2) == 2 and rows2[0] == rows[0]
    with pytest.raises(ValueError, match="--stride 4"):
        bd.main(["--epochs", "2", *tiny, "--stride", "4"])
    m3 = bd.main(["--epochs", "1", "--fresh", *tiny])
    assert m3["models"]["conv_bilstm"]["resumed_from_epoch"] == 0
    assert read_csv(tmp_path / "conv_bilstm" / "history.csv") == rows


def test_classify_runs(tmp_path):
    pytest.importorskip("aeon")  # the UEA data set ships in aeon
    classify = load_experiment("classify")
    tiny = ["--seeds", "1", "--units", "4", "--no-keras", "--verbose", "0", "--out", str(tmp_path)]
    m = classify.main(["--epochs", "1", *tiny])
    s = m["summary"]["jrnn"]
    assert 0 <= s["test_accuracy_mean"] <= 1 and s["seeds"] == 1 and "keras" not in m["summary"]
    r = m["runs"]["jrnn"][0]
    assert (r["epochs"], r["steps"], r["resumed_from_epoch"]) == (1, 9, 0)  # 270 / 32
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk["summary"]["jrnn"]["test_accuracy_mean"] == s["test_accuracy_mean"]
    # Published figures for JapaneseVowels, with their sources, next to jrnn's.
    published = on_disk["published_test_accuracy"]
    assert published == classify.PUBLISHED["JapaneseVowels"] and len(published) >= 2
    assert all(0.9 < a <= 1 for figures in published.values() for a in figures.values())
    seed0 = tmp_path / "jrnn" / "seed0"
    assert jrnn.checkpoint.latest_step(seed0 / "checkpoints") == 1
    rows = read_csv(tmp_path / "history.csv")
    assert len(rows) == 1 and rows == read_csv(seed0 / "history.csv")
    assert (tmp_path / "curves.png").read_bytes()[:8] == PNG

    # Re-running with more epochs resumes the jrnn run; the first epoch is kept.
    m2 = classify.main(["--epochs", "2", *tiny])
    r2 = m2["runs"]["jrnn"][0]
    assert (r2["epochs"], r2["steps"], r2["resumed_from_epoch"], r2["epochs_this_run"]) == (
        2, 18, 1, 1,
    )  # fmt: skip
    rows2 = read_csv(tmp_path / "history.csv")
    assert len(rows2) == 2 and rows2[0] == rows[0]
    # Other settings against the checkpointed runs are an error; --fresh starts over.
    with pytest.raises(ValueError, match="--units 8"):
        classify.main(["--epochs", "2", *tiny, "--units", "8"])
    m3 = classify.main(["--epochs", "1", "--fresh", *tiny])
    r3 = m3["runs"]["jrnn"][0]
    assert (r3["epochs"], r3["resumed_from_epoch"]) == (1, 0)
    assert r3["test_accuracy"] == r["test_accuracy"]  # same seed, same run
    assert jrnn.checkpoint.latest_step(seed0 / "checkpoints") == 1


def test_naive_bayes_baseline():
    load_experiment("classify")  # puts experiments/ on sys.path
    from _baselines import majority_class, naive_bayes

    # Class 0 writes ids 2 and 3, class 1 ids 4 and 5; rows end in padding (id 0).
    x = np.array([[2, 3, 2, 0], [3, 2, 0, 0], [4, 5, 4, 0], [5, 5, 4, 4]])
    y = np.array([0, 0, 1, 1])
    test = np.array([[2, 2, 0, 0], [5, 4, 0, 0], [3, 0, 0, 0]])
    scores = naive_bayes(x, y, test, vocab=6, classes=2, pad=0)
    assert scores.shape == (3, 2) and scores.argmax(1).tolist() == [0, 1, 0]
    # By hand: add-one counts of ids 1..5 (the padding id has none), prior log(n_c + 1).
    counts0 = np.array([0, 1, 4, 3, 1, 1.0])
    want = np.log(3) + 2 * np.log(counts0[2] / counts0.sum())
    np.testing.assert_allclose(scores[0, 0], want, rtol=1e-12)
    # With pad=0, padding adds nothing: the scores do not depend on the rows' lengths.
    np.testing.assert_array_equal(naive_bayes(x, y, test[:, :2], 6, 2, pad=0)[:2], scores[:2])
    # The default counts every id, 0 included (the topic experiments have no padding).
    assert not np.allclose(naive_bayes(x, y, test, 6, 2), scores)
    assert majority_class(y, np.array([1, 1, 0]), classes=2) == (0, 1 / 3)


def write_snippets(path, n=96):
    """A small file in the VADER snippets' format (id, mean rating, text): sentences
    built from a few words whose rating follows their sign, a few rated exactly 0."""
    rng = np.random.default_rng(0)
    good, bad = ["warm", "funny", "moving", "great"], ["dull", "boring", "awful", "long"]
    filler = ["the", "film", "is", "a", "plot", "and", "cast", "story"]
    lines = []
    for i in range(n):
        rating = 0.0 if i % 16 == 0 else float(rng.choice([-1, 1]) * rng.uniform(0.5, 3))
        words = list(rng.choice(filler, 5)) + list(rng.choice(good if rating > 0 else bad, 2))
        rng.shuffle(words)
        lines.append(f"{i + 1}\t{rating:.3f}\t{' '.join(words).capitalize()}.")
    path.write_text("\n".join(lines) + "\n")


def test_sentiment_runs(tmp_path):
    sentiment = load_experiment("sentiment")
    data = tmp_path / "snippets.txt"
    write_snippets(data)
    out = tmp_path / "run"
    tiny = ["--data", str(data), "--no-keras", "--seeds", "1", "--embed", "8", "--units", "8",
            "--maxlen", "12", "--batch-size", "16", "--verbose", "0",
            "--out", str(out)]  # fmt: skip
    m = sentiment.main(["--epochs", "1", *tiny])
    # 96 snippets, 6 rated 0 left out: 90, split 80/10/10 per class.
    assert (m["data"]["train"], m["data"]["val"], m["data"]["test"]) == (72, 9, 9)
    r = m["runs"]["jrnn"][0]
    assert (r["epochs"], r["resumed_from_epoch"]) == (1, 0)
    # Embedding(vocab, 8) + 2 x SimpleRNN(8) (8*8 + 8*8 + 8 each) + Dense(1) (8 + 1)
    assert r["params"] == m["data"]["vocab"] * 8 + 2 * 136 + 9
    assert 0 <= r["test_accuracy"] <= 1
    # Each snippet holds two words of its class's word list: naive Bayes gets them all.
    assert m["baselines"]["naive_bayes"] == 1.0
    assert set(m["published_accuracy_percent"]) >= {"CNN-rand (Kim 2014)"}
    assert json.loads((out / "metrics.json").read_text())["runs"]["jrnn"][0] == r
    assert len(read_csv(out / "history.csv")) == 1
    assert (out / "curves.png").read_bytes()[:8] == PNG
    samples = (out / "samples.txt").read_text().splitlines()
    assert len(samples) == 9 and "P(positive)" in samples[0]
    # Re-running resumes to the new total; other settings are refused; --fresh restarts.
    m2 = sentiment.main(["--epochs", "2", *tiny])
    r2 = m2["runs"]["jrnn"][0]
    assert (r2["epochs"], r2["resumed_from_epoch"]) == (2, 1)
    assert jrnn.checkpoint.latest_step(out / "seed0" / "checkpoints") == 2
    with pytest.raises(ValueError, match="--units 4"):
        sentiment.main(["--epochs", "2", *tiny, "--units", "4"])
    with pytest.raises(ValueError, match="--source"):  # other data: --imdb, another file
        sentiment.main(["--epochs", "2", *tiny, "--imdb", str(tmp_path / "imdb.npz")])
    m3 = sentiment.main(["--epochs", "1", "--fresh", *tiny])
    assert m3["runs"]["jrnn"][0]["test_accuracy"] == r["test_accuracy"]  # same seed


def test_sentiment_imdb_npz_and_keras(tmp_path):
    pytest.importorskip("keras")
    sentiment = load_experiment("sentiment")
    rng = np.random.default_rng(1)
    reviews = {}
    for split, n in (("train", 40), ("test", 12)):
        x = np.empty(n, object)
        x[:] = [rng.integers(1, 30, rng.integers(3, 15)).tolist() for _ in range(n)]
        reviews[f"x_{split}"], reviews[f"y_{split}"] = x, rng.integers(0, 2, n)
    np.savez(tmp_path / "imdb.npz", **reviews)
    with jax.numpy_rank_promotion("allow"):  # Keras's own code promotes ranks
        m = sentiment.main(
            ["--imdb", str(tmp_path / "imdb.npz"), "--num-words", "20", "--maxlen", "10",
             "--seeds", "1", "--epochs", "1", "--embed", "4", "--units", "4", "--verbose", "0",
             "--out", str(tmp_path / "run")]
        )  # fmt: skip
    assert m["data"]["name"] == "imdb.npz" and m["data"]["vocab"] == 20
    assert (m["data"]["train"], m["data"]["val"], m["data"]["test"]) == (32, 8, 12)
    assert m["published_accuracy_percent"] == {}  # Kim's figures are for MR only
    for name in ("jrnn", "keras"):
        assert 0 <= m["summary"][name]["test_accuracy_mean"] <= 1
    assert not (tmp_path / "run" / "tokenizer.json").exists()  # imdb.npz is already ids


def test_distributed_runs_on_one_process_and_compares(tmp_path):
    """experiments/distributed.py as `make exp-distributed NPROC=1` runs it (the
    multi-process runs are tests/test_distributed.py's); a second run beside the first
    reports how far apart they are: nothing, on one process."""
    dist = load_experiment("distributed")
    tiny = ["--max-chars", "3000", "--seq-len", "16", "--batch", "8", "--embed", "4",
            "--units", "8", "--epochs", "1", "--verbose", "0"]  # fmt: skip
    first = dist.main([*tiny, "--out", str(tmp_path / "n1")])
    assert (first["processes"], first["epochs"]) == (1, 1)
    assert (tmp_path / "n1" / "params.npz").is_file()
    assert len(read_csv(tmp_path / "n1" / "history.csv")) == 1
    again = dist.main([*tiny, "--out", str(tmp_path / "again")])
    assert again["compared"]["n1"] == {"max_abs_param_diff": 0.0, "max_abs_val_loss_diff": 0.0}
