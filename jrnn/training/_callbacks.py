"""Training callbacks with Keras's names and defaults, `History`, the progress bar, and
the `CallbackList` that dispatches the hooks and owns the stop flag.

A callback sees the running fit through `self.loop`, the fit's `CallbackList` (set
before `on_train_begin`): `loop.state` is the current `TrainState` (params, opt_state,
model state, step, key, epoch; a callback may replace it), `loop.model` the model,
`loop.history` the `History`, `loop.epochs` the epoch training ends at (exclusive),
`loop.initial_epoch` the first epoch of this call (> 0 when resumed or continued);
setting `loop.stop_training = True` ends training after the current epoch (before the
first one when set in `on_train_begin`, e.g. by an EarlyStopping whose restored run had
already stopped). Hooks receive `logs`, a dict of floats with Keras's keys ("loss",
"accuracy", "val_loss", ...).
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

import jax
import numpy as np

from jrnn import checkpoint
from jrnn._atomic import atomic_write, atomic_write_text
from jrnn._checks import check_bool, check_int, check_path
from jrnn._distributed import is_primary
from jrnn.training._resume import past_values


class Callback:
    """Base class: override the hooks you need."""

    loop = None

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch: int, logs=None): ...
    def on_epoch_end(self, epoch: int, logs=None): ...
    def on_train_batch_end(self, batch: int, logs=None): ...


class History(Callback):
    """Per-epoch logs: `history.history["loss"]` is a list with one value per epoch
    (validation keys prefixed "val_"), `history.epoch` the epoch indices."""

    def __init__(self, history: dict | None = None, epoch: list | None = None):
        history = {} if history is None else history
        if not isinstance(history, dict) or not all(
            isinstance(k, str) and isinstance(v, (list, tuple)) for k, v in history.items()
        ):
            raise TypeError(
                f"history: got {type(history).__name__} {history!r:.60}, expected a dict "
                f"{{log key: list of per-epoch values}}"
            )
        epoch = [] if epoch is None else epoch
        if not isinstance(epoch, (list, tuple)):
            raise TypeError(f"epoch: got {type(epoch).__name__}, expected a list of epoch indices")
        self.history = {k: list(v) for k, v in history.items()}
        self.epoch = [check_int(f"epoch[{i}]", e, minimum=0) for i, e in enumerate(epoch)]

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        # Keep every list aligned with `epoch`: a key that appears later (a resumed run
        # with validation data) starts with NaNs, a missing one gets a NaN.
        for k, v in logs.items():
            self.history.setdefault(k, [math.nan] * len(self.epoch)).append(float(v))
        for k, values in self.history.items():
            if k not in logs:
                values.append(math.nan)
        self.epoch.append(epoch)

    def to_dict(self) -> dict:
        return {"epoch": self.epoch, "history": self.history}

    @classmethod
    def from_dict(cls, d: dict) -> History:
        """The History `to_dict` gave: {"epoch": [...], "history": {key: [...]}}."""
        if not isinstance(d, dict) or not set(d) <= {"epoch", "history"}:
            raise TypeError(
                f"d: got {type(d).__name__} {d!r:.60}, expected History.to_dict()'s "
                f"{{'epoch': [...], 'history': {{...}}}}"
            )
        return cls(d.get("history"), d.get("epoch"))

    def to_json(self, path) -> None:
        """Write {"epoch": [...], "history": {...}} atomically."""
        path = check_path("path", path)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1))

    def to_csv(self, path, separator: str = ",") -> None:
        """One row per epoch: epoch, then each key (the format CSVLogger writes)."""
        path = check_path("path", path)
        keys = sorted(self.history)
        rows = [["epoch", *keys]]
        rows += [
            [e, *(self.history[k][i] if i < len(self.history[k]) else "NA" for k in keys)]
            for i, e in enumerate(self.epoch)
        ]
        atomic_write_text(path, "\n".join(separator.join(map(str, r)) for r in rows) + "\n")

    def plot(self, path, *, title: str | None = None) -> None:
        """Training curves to a PNG: one panel per quantity, train and validation
        together. Needs matplotlib (`pip install jrnn[extras]`)."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as e:
            raise ImportError("History.plot needs matplotlib: pip install matplotlib") from e
        names = [k for k in self.history if not k.startswith("val_")]
        fig, axes = plt.subplots(1, max(len(names), 1), figsize=(4.5 * max(len(names), 1), 3.5))
        axes = np.atleast_1d(axes)
        epochs = [e + 1 for e in self.epoch]
        for ax, name in zip(axes, names):
            ax.plot(epochs, self.history[name], "o-", label="train")
            if "val_" + name in self.history:
                ax.plot(epochs, self.history["val_" + name], "o-", label="validation")
            ax.set_xlabel("epoch")
            ax.set_ylabel(name)
            ax.grid(alpha=0.3)
            ax.legend()
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
        plt.close(fig)


def check_verbose(verbose) -> int:
    """fit's `verbose`: 0, 1, 2 or "auto" (Keras: 1)."""
    if verbose == "auto":
        return 1
    verbose = check_int("verbose", verbose)
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose: got {verbose}, expected 0 (silent), 1 (bar) or 2 (lines)")
    return verbose


class ProgressBar(Callback):
    """Progress within each epoch with the running loss and metrics, and a line per epoch.

    verbose=1 on a terminal: a tqdm bar when tqdm is installed, else a Keras-style bar
    redrawn in place ("\\r"); the metrics are shortened to fit the terminal's width.
    verbose=1 elsewhere (a log file, a notebook's captured output): a line every
    `interval` seconds that is also at least a tenth of the epoch on, then the epoch's
    line. verbose=2: only the epoch's line, as Keras.

    Args:
      steps: batches per epoch, or None when unknown (an iterable without a length).
      verbose: 0 (nothing), 1 or 2, as `fit`'s.
      stream: where to write (default sys.stdout); a terminal if `stream.isatty()`.
      interval: seconds between the periodic lines off a terminal (default 10).
    """

    _clock = staticmethod(time.monotonic)  # tests replace it
    _redraw = 0.1  # seconds between redraws of the in-place bar

    def __init__(self, steps: int | None, verbose: int = 1, stream=None, interval: float = 10.0):
        self.steps = check_int("steps", steps, minimum=1, allow_none=True)
        self.verbose = check_verbose(verbose)
        if stream is not None and not callable(getattr(stream, "write", None)):
            raise TypeError(f"stream: got {type(stream).__name__}, expected a text stream")
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval < 0:
            raise ValueError(f"interval: got {interval!r}, expected seconds >= 0")
        self.stream, self.interval = stream or sys.stdout, float(interval)
        self._bar = self._mode = None
        self._open = False  # the in-place bar's line awaits its newline

    def _choose_mode(self) -> str | None:
        if self.verbose != 1:
            return None
        if not getattr(self.stream, "isatty", lambda: False)():
            return "lines"
        try:
            import tqdm  # noqa: F401
        except ImportError:
            return "plain"
        return "tqdm"

    def _epochs(self):
        return self.loop.epochs if self.loop is not None else "?"

    def on_epoch_begin(self, epoch, logs=None):
        self._start = self._last_line = self._last_draw = self._clock()
        self._epoch, self._done, self._last_batch, self._drawn = epoch, 0, 0, 0
        self._mode = self._choose_mode()
        if self._mode == "tqdm":
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=self.steps,
                desc=f"Epoch {epoch + 1}/{self._epochs()}",
                file=self.stream,
                dynamic_ncols=True,
                leave=True,
                unit="step",
            )
        elif self._mode == "plain":
            self._write(f"Epoch {epoch + 1}/{self._epochs()}\n")

    def on_train_batch_end(self, batch, logs=None):
        logs, now, self._done = logs or {}, self._clock(), batch + 1
        if self._mode == "tqdm":
            self._bar.update(1)
            # tqdm shrinks its bar for a long postfix but cuts the line at the width: keep
            # the metrics within what the description and counters leave.
            room = _width() - len(self._bar.desc) - _TQDM_COUNTERS
            self._bar.set_postfix_str(_metrics_text(logs, room, "="), refresh=False)
        elif self._mode == "plain":
            last = self.steps is not None and batch + 1 >= self.steps
            if last or now - self._last_draw >= self._redraw:
                self._last_draw = now
                self._draw(batch + 1, now, logs)
        elif self._mode == "lines":
            tenth = 0 if self.steps is None else self.steps / 10
            if now - self._last_line >= self.interval and batch + 1 - self._last_batch >= tenth:
                self._last_line, self._last_batch = now, batch + 1
                of = "" if self.steps is None else f"/{self.steps}"
                text = _metrics_text(logs, None, ": ")
                self._write(
                    f"Epoch {self._epoch + 1}/{self._epochs()} - batch {batch + 1}{of} - "
                    f"{now - self._start:.0f}s - {text}\n"
                )

    def _draw(self, done: int, now: float, logs: dict, end: str = "") -> None:
        """One redraw of the in-place bar: "12/50 [=====>.......] - 3s - loss: 0.6931"."""
        if self.steps is None:
            head = f"{done}/Unknown"
        else:
            filled = min(done * _BAR_WIDTH // self.steps, _BAR_WIDTH)
            arrow = ">" if filled < _BAR_WIDTH else ""
            bar = ("=" * filled + arrow).ljust(_BAR_WIDTH, ".")[:_BAR_WIDTH]
            head = f"{done:>{len(str(self.steps))}}/{self.steps} [{bar}]"
        head += f" - {now - self._start:.0f}s"
        text = _metrics_text(logs, _width() - 1 - len(head) - 3, ": ")
        line = f"{head} - {text}" if text else head
        pad = max(self._drawn - len(line), 0)  # blank what a longer previous line left
        self._drawn = len(line)
        self._write("\r" + line + " " * pad + end)
        self._open = not end

    def on_train_end(self, logs=None):
        # An epoch cut short (a non-finite loss) has no on_epoch_end: end its bar here.
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._mode == "plain" and self._open:
            self._write("\n")
            self._open = False

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def on_epoch_end(self, epoch, logs=None):
        seconds = self._clock() - self._start
        logs = logs or {}
        text = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())
        if self._mode == "tqdm":
            room = _width() - len(self._bar.desc) - _TQDM_COUNTERS
            self._bar.set_postfix_str(_metrics_text(logs, room, "="))
            self._bar.close()
            self._bar = None
        elif self._mode == "plain":
            self._draw(self._done, self._clock(), logs, end="\n")
        elif self.verbose:
            self._write(f"Epoch {epoch + 1}/{self._epochs()} - {seconds:.1f}s - {text}\n")


_BAR_WIDTH = 30  # Keras's
_TQDM_COUNTERS = 48  # " 100%|####| 1000/1000 [00:10<00:00, 99.9step/s, " with a short bar


def _width() -> int:
    return shutil.get_terminal_size((80, 24)).columns


def _metrics_text(logs: dict, room: int | None, sep: str) -> str:
    """The metrics as "loss: 0.6931 - accuracy: 0.5000", within `room` characters when
    given: 4 decimals, else 3 significant digits, else as many metrics as fit and "…"."""
    joiner = " - " if sep == ": " else ", "
    full = joiner.join(f"{k}{sep}{v:.4f}" for k, v in logs.items())
    if room is None or len(full) <= room:
        return full
    parts = [f"{k}{sep}{v:.3g}" for k, v in logs.items()]
    short = joiner.join(parts)
    if len(short) <= room:
        return short
    while parts and len(joiner.join(parts)) + len(joiner) + 1 > room:
        parts.pop()
    return joiner.join([*parts, "…"]) if room >= 1 else ""


def _better(mode: str, monitor: str):
    if mode == "auto":
        mode = "max" if any(s in monitor for s in ("acc", "auc", "precision", "recall")) else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"mode: got {mode!r}, expected 'auto', 'min' or 'max'")
    return (lambda a, b: a > b) if mode == "max" else (lambda a, b: a < b), mode


def _check_monitor(monitor) -> str:
    if not isinstance(monitor, str) or not monitor:
        raise TypeError(f"monitor: got {monitor!r}, expected a log key such as 'val_loss'")
    return monitor


def _check_number(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: got {type(value).__name__} {value!r}, expected a number")
    if math.isnan(value):
        raise ValueError(f"{name}: got NaN, expected a number")
    return float(value)


def _check_path(name: str, value) -> Path:
    if not isinstance(value, (str, os.PathLike)) or str(value) == "":
        raise TypeError(f"{name}: got {value!r}, expected a path (str or pathlib.Path)")
    return Path(value)


def _monitored(logs, monitor, who):
    if monitor not in (logs or {}):
        raise ValueError(
            f"monitor: {who} watches {monitor!r}, but the logs have {sorted(logs or {})}"
            f" (validation keys need validation_data)"
        )
    return float(logs[monitor])


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved by `min_delta` for `patience` epochs (Keras
    semantics); `restore_best_weights` puts back the best epoch's parameters.

    When fit resumes from a checkpoint, the epochs before it are replayed from the
    restored history, so the counters (and a stop already due) are those of the
    uninterrupted run. The parameters of those epochs are not kept: if the best epoch
    came before the resume, `restore_best_weights` warns and keeps the last parameters.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ):
        self.monitor = _check_monitor(monitor)
        self.patience = check_int("patience", patience, minimum=0)
        self.baseline = None if baseline is None else _check_number("baseline", baseline)
        self.min_delta = abs(_check_number("min_delta", min_delta))
        self._improved, self.mode = _better(mode, monitor)
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = check_int("start_from_epoch", start_from_epoch, minimum=0)
        self.stopped_epoch = None

    def on_train_begin(self, logs=None):
        self.wait, self.best, self.best_params, self.best_epoch = 0, None, None, None
        self.stopped_epoch = None
        past = past_values(self.loop, self.monitor)
        if past:
            asked = self.loop.stop_training  # by another callback, before this one
            for epoch, value in past:
                self._update(epoch, value, None)
            # Due only if the restored run stopped at its last epoch (one that trained
            # on after a stop had other callbacks): then the uninterrupted run ends here.
            due = self.stopped_epoch == past[-1][0]
            self.loop.stop_training = asked or due
            if not due:
                self.stopped_epoch = None

    def _is_improvement(self, value, reference) -> bool:
        if reference is None:
            return True
        sign = 1 if self.mode == "max" else -1
        return self._improved(value - sign * self.min_delta, reference)

    def on_epoch_end(self, epoch, logs=None):
        value = _monitored(logs, self.monitor, "EarlyStopping")
        self._update(epoch, value, self.loop.state.params)

    def _update(self, epoch, value, params):
        # Keras 3's rule: the first monitored epoch is the first best; `wait` restarts
        # only on an epoch that beats both the best so far and the baseline, so with an
        # unbeaten baseline training stops after `patience` epochs and the best of those
        # is restored.
        # A NaN value counts as an epoch without improvement (Keras), so a diverged
        # validation loss still ends training after `patience` epochs.
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_epoch is None:
            self.best_params, self.best_epoch = params, epoch
        self.wait += 1
        if not math.isnan(value) and self._is_improvement(value, self.best):
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self.best_params = params
            if self.baseline is None or self._is_improvement(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.loop.stop_training = True

    def on_train_end(self, logs=None):
        if not self.restore_best_weights or self.best_epoch is None:
            return
        if self.best_params is None:
            warnings.warn(
                f"EarlyStopping: the best epoch ({self.best_epoch + 1}, {self.monitor} "
                f"{'NaN' if self.best is None else self.best}) came before fit resumed, "
                f"and its parameters are not kept; "
                f"the last parameters stay (restore that epoch's checkpoint, e.g. from a "
                f"ModelCheckpoint(save_best_only=True), to get them)",
                RuntimeWarning,
                stacklevel=2,
            )
            return
        self.loop.state = self.loop.state._replace(params=self.best_params)


class ReduceLROnPlateau(Callback):
    """Keras's ReduceLROnPlateau: multiply the learning rate by `factor` when `monitor`
    has not improved by `min_delta` for `patience` epochs, then wait `cooldown` epochs;
    never below `min_lr`.

    The optimizer must expose its learning rate as a hyperparameter:
    `optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)` (Optax schedules are the
    other way to change it, and cannot be combined with this callback). The new rate is
    logged as "learning_rate".
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):  # fmt: skip
        if not 0.0 < _check_number("factor", factor) < 1.0:
            raise ValueError(f"factor: got {factor!r}, expected a number in (0, 1)")
        self.monitor, self.factor = _check_monitor(monitor), float(factor)
        self.patience = check_int("patience", patience, minimum=0)
        self.min_delta = abs(_check_number("min_delta", min_delta))
        self.cooldown = check_int("cooldown", cooldown, minimum=0)
        self.min_lr = _check_number("min_lr", min_lr)
        if self.min_lr < 0:
            raise ValueError(f"min_lr: got {min_lr!r}, expected a number >= 0")
        self._improved, self.mode = _better(mode, monitor)

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.cooldown_left = None, 0, 0
        if learning_rate(self.loop.state.opt_state) is None:
            raise ValueError(
                "ReduceLROnPlateau: the optimizer has no learning_rate hyperparameter; wrap "
                "it as optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)"
            )

    def on_epoch_end(self, epoch, logs=None):
        value = _monitored(logs, self.monitor, "ReduceLROnPlateau")
        sign = 1 if self.mode == "max" else -1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.wait = 0
        if self.best is None or self._improved(value - sign * self.min_delta, self.best):
            self.best, self.wait = value, 0
            return
        if self.cooldown_left > 0:
            return
        self.wait += 1
        if self.wait < self.patience:
            return
        old = learning_rate(self.loop.state.opt_state)
        new = max(old * self.factor, self.min_lr)
        if old - new > 1e-12:
            state = self.loop.state
            # From the next epoch on; this epoch's logs keep the rate it trained with.
            self.loop.state = state._replace(opt_state=set_learning_rate(state.opt_state, new))
        self.cooldown_left, self.wait = self.cooldown, 0


def learning_rate(opt_state):
    """The current learning rate when the optimizer exposes it (`inject_hyperparams`)."""
    for node in jax.tree.leaves(opt_state, is_leaf=_has_hyperparams):
        if _has_hyperparams(node) and "learning_rate" in node.hyperparams:
            return float(jax.device_get(node.hyperparams["learning_rate"]))
    return None


def set_learning_rate(opt_state, value: float):
    """`opt_state` with every injected learning rate set to `value` (same dtype and
    placement, so the compiled step is reused)."""

    def visit(node):
        if not (_has_hyperparams(node) and "learning_rate" in node.hyperparams):
            return node
        old = node.hyperparams["learning_rate"]
        new = jax.device_put(np.asarray(value, np.asarray(old).dtype), old.sharding)
        return node._replace(hyperparams={**node.hyperparams, "learning_rate": new})

    return jax.tree.map(visit, opt_state, is_leaf=_has_hyperparams)


def _has_hyperparams(node) -> bool:
    return hasattr(node, "hyperparams") and isinstance(node.hyperparams, dict)


class ModelCheckpoint(Callback):
    """Save to `directory` (atomically, `jrnn.checkpoint`) at the end of each epoch, or
    only when `monitor` improves with `save_best_only`. Saves {"params", "state"} with
    `save_weights_only`, else the whole training state; the step is the epoch number
    (1-based, as Keras's `{epoch}`). When fit resumes, the best value so far comes from
    the restored history, so a worse epoch after the resume does not overwrite it."""

    def __init__(
        self,
        directory,
        monitor: str = "val_loss",
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        max_to_keep: int | None = None,
    ):
        self.directory = _check_path("directory", directory)
        self.monitor, self.save_best_only = _check_monitor(monitor), bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        self.max_to_keep = check_int("max_to_keep", max_to_keep, minimum=1, allow_none=True)
        self._improved, self.mode = _better(mode, monitor)
        self.best = None

    def on_train_begin(self, logs=None):
        # `best` carries over from an earlier fit with this instance (as Keras's); a
        # resumed fit also counts the epochs of its restored history.
        for _, value in past_values(self.loop, self.monitor):
            if not math.isnan(value) and (self.best is None or self._improved(value, self.best)):
                self.best = value

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            value = _monitored(logs, self.monitor, "ModelCheckpoint")
            if math.isnan(value) or (
                self.best is not None and not self._improved(value, self.best)
            ):
                return
            self.best = value
        s = self.loop.state
        tree = {"params": s.params, "state": s.model_state} if self.save_weights_only else s
        checkpoint.save(
            self.directory,
            epoch + 1,
            tree,
            metadata={"epoch": epoch + 1, "logs": dict(logs)},
            max_to_keep=self.max_to_keep,
        )


class CSVLogger(Callback):
    """Append one row per epoch (epoch, then the sorted log keys) to `filename`.

    A new run starts the file afresh unless `append`; a run that resumes from a
    checkpoint (`fit(checkpoint_dir=...)`) keeps the rows of the epochs before it."""

    def __init__(self, filename, separator: str = ",", append: bool = False):
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"separator: got {separator!r}, expected one character")
        self.filename = _check_path("filename", filename)
        self.separator, self.append = separator, bool(append)
        self._keys = None

    def on_train_begin(self, logs=None):
        resumed = self.loop is not None and getattr(self.loop, "initial_epoch", 0) > 0
        if not is_primary():  # one file for a multi-process run
            return
        if not self.append and not resumed and self.filename.exists():
            self.filename.unlink()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if not is_primary():
            return
        new_file = not self.filename.exists() or self.filename.stat().st_size == 0
        if self._keys is None:
            self._keys = sorted(logs)
        with open(self.filename, "a", newline="") as f:
            w = csv.writer(f, delimiter=self.separator)
            if new_file:
                w.writerow(["epoch", *self._keys])
            w.writerow([epoch, *(logs.get(k, "NA") for k in self._keys)])
            f.flush()


class TerminateOnNaN(Callback):
    """Keras's TerminateOnNaN: stop training at a batch whose loss is NaN or infinite;
    with `raise_error=True`, raise FloatingPointError instead. (`fit` itself always stops
    there too, with the state before that step, and never checkpoints it.)"""

    def __init__(self, raise_error: bool = False):
        self.raise_error = check_bool("raise_error", raise_error)

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(loss):
            return
        self.loop.stop_training = True
        if self.raise_error:
            nonfinite = getattr(self.loop, "nonfinite", None)
            raise FloatingPointError(
                nonfinite_message(nonfinite) if nonfinite else f"non-finite loss at batch {batch}"
            )


def nonfinite_message(where: dict) -> str:
    """What fit says when a step's loss (or parameters) went non-finite."""
    return (
        f"non-finite loss (or parameters) at epoch {where['epoch'] + 1}, batch "
        f"{where['batch']} (optimizer step {where['step']}); training stopped with the state "
        f"before that step, which is not checkpointed"
    ) + (
        # float16's smallest normal is 6e-5: Adam's eps (1e-7) and its second moments
        # underflow, and the update overflows.
        "; the model has float16 parameters, whose range Adam's updates often leave: "
        "train with param_dtype='float32' and dtype='float16' (mixed precision), or "
        "optax.adam(lr, eps=1e-4)"
        if where.get("float16")
        else ""
    )


class LambdaCallback(Callback):
    """A callback from plain functions, e.g. `LambdaCallback(on_epoch_end=lambda e, logs: ...)`."""

    def __init__(self, **hooks):
        for name, fn in hooks.items():
            if not name.startswith("on_") or not hasattr(Callback, name):
                hooks_known = sorted(k for k in vars(Callback) if k.startswith("on_"))
                raise TypeError(
                    f"{name}: got an unknown keyword argument, expected a callback hook: "
                    f"{', '.join(hooks_known)}"
                )
            if not callable(fn):
                raise TypeError(f"{name}: got {type(fn).__name__}, expected a function")
            setattr(self, name, fn)


class CallbackList:
    """The callbacks of one `fit` and the run they see (each callback's `self.loop`).

    Dispatches every hook to the callbacks in order (History first, the progress bar
    last) and holds what they share: `model`, `state` (the current TrainState),
    `history`, `epochs`, `initial_epoch`, `stop_training`, and `nonfinite` (where a loss
    went non-finite, or None).
    """

    def __init__(self, callbacks, *, model, state, history, epochs, initial_epoch=0):
        if callbacks is None:
            callbacks = ()
        callbacks = [callbacks] if isinstance(callbacks, Callback) else list(callbacks)
        for i, cb in enumerate(callbacks):
            if not isinstance(cb, Callback):
                raise TypeError(
                    f"callbacks[{i}]: got {type(cb).__name__}, expected a jrnn.callbacks.Callback"
                )
        self.callbacks = [history, *callbacks]
        self.model, self.state, self.history = model, state, history
        self.epochs = check_int("epochs", epochs, minimum=0)
        self.initial_epoch = check_int("initial_epoch", initial_epoch, minimum=0)
        self.stop_training = False
        self.nonfinite = None
        for cb in self.callbacks:
            cb.loop = self

    def append(self, callback: Callback) -> None:
        if not isinstance(callback, Callback):
            raise TypeError(
                f"callback: got {type(callback).__name__}, expected a jrnn.callbacks.Callback"
            )
        callback.loop = self
        self.callbacks.append(callback)

    def _dispatch(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(*args)

    def on_train_begin(self, logs=None):
        self._dispatch("on_train_begin", logs if logs is not None else {})

    def on_train_end(self, logs=None):
        self._dispatch("on_train_end", logs if logs is not None else {})

    def on_epoch_begin(self, epoch: int, logs=None):
        self._dispatch("on_epoch_begin", epoch, logs if logs is not None else {})

    def on_epoch_end(self, epoch: int, logs=None):
        self._dispatch("on_epoch_end", epoch, logs if logs is not None else {})

    def on_train_batch_end(self, batch: int, logs=None):
        self._dispatch("on_train_batch_end", batch, logs if logs is not None else {})
