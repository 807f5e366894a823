"""Every experiment's `main()` on a tiny slice for a handful of steps, so none can rot.

One test function per experiment in `experiments/`; each runs into `tmp_path` and checks
the files the experiment promises under `runs/<name>/`.
"""

import csv
import datetime
import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

import jrnn

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"


def load_experiment(name: str):
    """experiments/<name>.py as a module (experiments/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"experiment_{name}", EXPERIMENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    # Registered first, as an import would: dataclasses resolve string annotations
    # through sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


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
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
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

    # --fresh starts again from epoch 0 (the same seed: the same first epoch).
    m3 = demo.main(["--epochs", "1", "--fresh", *tiny])
    assert (m3["epochs"], m3["resumed_from_epoch"]) == (1, 0)
    assert read_csv(tmp_path / "history.csv") == rows


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
    m = s2s.main(["--epochs", "1", *tiny])
    for key in ("greedy_exact_match", "beam_exact_match", "beam_outputs_valid_dates"):
        assert 0.0 <= m[key] <= 1.0
    assert (m["epochs"], m["steps"], m["resumed_from_epoch"]) == (1, 7, 0)
    assert m["data"]["test_dates"] == 100 and m["beam_width"] == 3
    # The step function built from the decoder's parameters gives the model's logits.
    assert m["step_fn_vs_model_max_abs_diff"] < 1e-4
    assert sum(v["n"] for v in m["per_format"].values()) == 100
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk["beam_exact_match"] == m["beam_exact_match"]
    rows = read_csv(tmp_path / "history.csv")
    assert len(rows) == 1 and math.isfinite(float(rows[0]["val_loss"]))
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert jrnn.checkpoint.latest_step(tmp_path / "checkpoints") == 1
    assert jrnn.Tokenizer.load(tmp_path / "tokenizer.json").char_level
    assert "held-out dates with a wrong translation" in (tmp_path / "samples.txt").read_text()

    # Re-running with more epochs resumes from the checkpoint.
    m2 = s2s.main(["--epochs", "2", *tiny])
    assert (m2["epochs"], m2["steps"], m2["resumed_from_epoch"]) == (2, 14, 1)
    assert read_csv(tmp_path / "history.csv")[0] == rows[0]
    # Other data settings against the checkpointed run are an error; --fresh starts over.
    with pytest.raises(ValueError, match="--units"):
        s2s.main(["--epochs", "2", *tiny, "--units", "8"])
    m3 = s2s.main(["--epochs", "1", "--fresh", *tiny])
    assert (m3["epochs"], m3["resumed_from_epoch"]) == (1, 0)
    assert m3["val_accuracy"] == m["val_accuracy"]  # same seed, same run
