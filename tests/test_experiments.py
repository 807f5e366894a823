"""Every experiment's `main()` on a tiny slice for a handful of steps, so none can rot.

One test function per experiment in `experiments/`; each runs into `tmp_path` and checks
the files the experiment promises under `runs/<name>/`.
"""

import csv
import importlib.util
import json
import math
from pathlib import Path

import pytest

import jrnn

# Experiments compile the same programs again on each main() call: compile once.
pytestmark = pytest.mark.usefixtures("xla_cache")

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"


def load_experiment(name: str):
    """experiments/<name>.py as a module (experiments/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"experiment_{name}", EXPERIMENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
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
