"""Resuming `fit` from its checkpoints: the save after each epoch, the restore, the
batching signature a resumed run checks, and the history replay that lets callbacks
decide as the uninterrupted run would.

A fit checkpoint is the whole `TrainState` (`jrnn.checkpoint`) with metadata
{"epoch", "history", "seed", "batches"}.
"""

from __future__ import annotations

import math
import pathlib
import tempfile
import warnings

from jrnn import checkpoint


def batching_signature(batch_size, steps_per_epoch, shuffle, rows) -> dict:
    """What decides which batches an epoch takes: a resumed run checks it is unchanged."""
    return {
        "batch_size": batch_size,
        "steps_per_epoch": steps_per_epoch,
        "shuffle": bool(shuffle),
        "rows": rows,
    }


def check_directory(directory, resume: bool) -> None:
    """Before training, so no epoch's work is lost at the first save: `directory` must be
    a directory we can write (created if missing), and a fresh run must not save among an
    older run's checkpoints (it would mix the two, and a later resume could pick up the
    older run's newest epoch)."""
    if directory is None:
        return
    path = pathlib.Path(directory)
    if path.exists() and not path.is_dir():
        raise ValueError(f"checkpoint_dir: got {str(path)!r}, a file; expected a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        # A probe named like a stale temporary file: readers ignore it, saves delete it.
        tempfile.NamedTemporaryFile(dir=path, prefix="ckpt_probe_", suffix=".tmp").close()
    except OSError as e:
        raise ValueError(
            f"checkpoint_dir: got {str(path)!r}, which cannot be written ({e}); expected a "
            f"writable directory"
        ) from None
    if not resume and checkpoint.all_steps(directory):
        raise ValueError(
            f"checkpoint_dir: {directory} holds checkpoints of an earlier run (epochs "
            f"{checkpoint.all_steps(directory)}) and resume=False; use resume=True to "
            f"continue it, or an empty directory"
        )


def restore(directory, state, *, seed, batching):
    """The latest fit checkpoint in `directory` read into `state`'s structure:
    (state, history dict) or None when there is none. Warns when the seed or the batching
    differ from the checkpointed run's (the resumed epochs would then differ from an
    uninterrupted run's)."""
    if directory is None or checkpoint.latest_step(directory) is None:
        return None
    state, meta = checkpoint.restore(directory, state)
    if meta.get("seed", seed) != seed:
        warnings.warn(
            f"seed: got {seed}, but the run in {directory} was started with seed "
            f"{meta['seed']}; the resumed epochs will not repeat an uninterrupted run",
            stacklevel=4,
        )
    saved = meta.get("batches", batching)
    if saved != batching:
        said = ", ".join(
            f"{k}={batching.get(k)} (checkpoint: {saved.get(k)})"
            for k in sorted(set(batching) | set(saved))
            if batching.get(k) != saved.get(k)
        )
        warnings.warn(
            f"fit: got {said}; the resumed epochs will not take the batches an "
            f"uninterrupted run would",
            stacklevel=4,
        )
    return state, meta["history"]


def save(directory, state, history, *, seed, batching, max_to_keep) -> None:
    """Checkpoint `state` after its last epoch (`state.epoch`, the step of the file)."""
    epoch = int(state.epoch)
    checkpoint.save(
        directory,
        epoch,
        state,
        metadata={"epoch": epoch, "history": history.to_dict(), "seed": seed, "batches": batching},
        max_to_keep=max_to_keep,
    )


def past_values(loop, monitor: str) -> list:
    """(epoch, value) of `monitor` for the epochs a resumed fit restored with its history
    (none for a fresh or continued run): callbacks that track a best value replay them,
    so a resumed run decides as the uninterrupted one would. Leading NaNs are left out:
    they pad the epochs before the key first appeared (e.g. trained without validation
    data)."""
    if loop is None or getattr(loop, "initial_epoch", 0) <= 0:
        return []
    history = getattr(loop, "history", None)
    values = None if history is None else history.history.get(monitor)
    if values is None:
        return []
    pairs = list(zip(history.epoch, values))
    while pairs and math.isnan(pairs[0][1]):
        pairs.pop(0)
    return pairs
