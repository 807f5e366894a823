"""ProgressBar: the in-place bar without tqdm, periodic lines off a terminal, tqdm's
postfix within the width, and its argument checks; written to fake streams with a fake
clock."""

import io
import re
import sys

import pytest

from jrnn import callbacks as cbs


class Stream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


class Clock:
    def __init__(self, step):
        self.now, self.step = 0.0, step

    def __call__(self):
        self.now += self.step
        return self.now


def run_epoch(bar, steps, logs, epoch_logs=None):
    bar.on_epoch_begin(0)
    for i in range(steps):
        bar.on_train_batch_end(i, logs)
    bar.on_epoch_end(0, epoch_logs if epoch_logs is not None else logs)
    bar.on_train_end({})


def make_bar(monkeypatch, steps, tty, step_seconds, columns=60, **kw):
    monkeypatch.setenv("COLUMNS", str(columns))
    stream = Stream(tty)
    bar = cbs.ProgressBar(steps, stream=stream, **kw)
    bar._clock = Clock(step_seconds)
    return bar, stream


def test_in_place_bar_without_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm -> ImportError
    bar, stream = make_bar(monkeypatch, 5, tty=True, step_seconds=1.0, columns=100)
    run_epoch(bar, 5, {"loss": 0.5, "accuracy": 0.25}, {"loss": 0.5, "val_loss": 0.75})
    out = stream.getvalue()
    assert out.startswith("Epoch 1/?\n") and out.endswith("\n") and out.count("\n") == 2
    draws = out[len("Epoch 1/?\n") : -1].split("\r")[1:]
    assert len(draws) == 6  # every batch (1 s apart > the redraw interval) and the end
    assert draws[1].startswith("2/5 [============>.................] - ")
    assert "loss: 0.5000 - accuracy: 0.2500" in draws[1]
    assert draws[-1].startswith("5/5 [" + "=" * 30 + "]") and "val_loss: 0.7500" in draws[-1]
    assert all(len(d) <= 99 for d in draws)


def test_in_place_bar_shortens_metrics_and_ends_a_cut_epoch(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    bar, stream = make_bar(monkeypatch, None, tty=True, step_seconds=0.01, columns=50)
    logs = {f"metric_{i}": 1 / 3 for i in range(6)}
    bar.on_epoch_begin(0)
    for i in range(30):  # 0.01 s apart: redrawn every 0.1 s only
        bar.on_train_batch_end(i, logs)
    bar.on_train_end({})  # no on_epoch_end (a non-finite loss): the line still ends
    out = stream.getvalue()
    draws = out.split("\r")[1:]
    assert 2 <= len(draws) <= 4 and out.endswith("\n")
    assert re.match(r"\d+/Unknown - 0s - metric_0: 0\.333 - .*…", draws[-1])
    assert all(len(d.rstrip("\n")) <= 49 for d in draws)


def test_lines_off_a_terminal_every_interval_and_tenth(monkeypatch):
    logs = {"loss": 0.5}
    # 1 s per batch, 100 batches: a line every 10 s (= 10 batches)
    bar, stream = make_bar(monkeypatch, 100, tty=False, step_seconds=1.0)
    run_epoch(bar, 100, logs)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 11, lines
    assert lines[0].startswith("Epoch 1/? - batch 10/100 - 10s - loss: 0.5000")
    assert lines[-1].startswith("Epoch 1/? - ") and "batch" not in lines[-1]
    # 5 s per batch: 10 s pass every 2 batches, but a tenth of the epoch takes 10
    bar, stream = make_bar(monkeypatch, 100, tty=False, step_seconds=5.0)
    run_epoch(bar, 100, logs)
    assert len(stream.getvalue().splitlines()) == 11
    # fast epochs print their epoch line only; verbose=2 never prints within an epoch
    for verbose, seconds in ((1, 0.01), (2, 5.0)):
        bar, stream = make_bar(monkeypatch, 100, tty=True, step_seconds=seconds, verbose=verbose)
        if verbose == 1:
            bar.stream.tty = False
        run_epoch(bar, 100, logs)
        assert len(stream.getvalue().splitlines()) == 1


def test_tqdm_postfix_fits_the_width(monkeypatch):
    pytest.importorskip("tqdm")
    bar, stream = make_bar(monkeypatch, 20, tty=True, step_seconds=0.5, columns=80)
    logs = {f"output_{i}_accuracy": 0.123456 for i in range(5)}
    run_epoch(bar, 20, {"loss": 0.5, **logs})
    rendered = [r for r in re.split(r"[\r\n]", stream.getvalue()) if r.strip()]
    assert rendered and all(len(r) <= 79 for r in rendered)
    # shortened by the postfix, not cut by tqdm: the closing bracket shows (tqdm pads a
    # line shorter than the one before with spaces, to clear it)
    last = rendered[-1].rstrip()
    assert last.startswith("Epoch 1/?") and last.endswith("]") and "loss=0.5" in last
    assert "…" in last


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="steps: got -1"):
        cbs.ProgressBar(-1)
    with pytest.raises(ValueError, match="verbose: got 3"):
        cbs.ProgressBar(2, verbose=3)
    with pytest.raises(TypeError, match="verbose"):
        cbs.ProgressBar(2, verbose="1")
    with pytest.raises(TypeError, match="steps"):
        cbs.ProgressBar(2.5)
    with pytest.raises(TypeError, match="stream"):
        cbs.ProgressBar(2, stream="out.txt")
    with pytest.raises(ValueError, match="interval"):
        cbs.ProgressBar(2, interval=-1)
