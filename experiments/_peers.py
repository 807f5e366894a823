"""jrnn next to Keras over several seeds: what classify.py and sentiment.py share.

    keras_timed_fit(model, x, y, **kw)  Keras's fit, each epoch timed as _runs.timed_fit
                                        times jrnn's (from its start to its end)
    summarise_peers(runs)               mean and spread of test accuracy per framework,
                                        median epoch time, and Keras's time over jrnn's

A run is a dict with at least `test_accuracy`, `train_seconds` and
`seconds_per_epoch_after_first` (None when the run had fewer than two epochs); a resumed
jrnn run also `resumed_from_epoch` (its `train_seconds` cover the remaining epochs).

Experiments import this module by name (`from _peers import summarise_peers`):
experiments/ is not a package, and a script's own folder is on sys.path when it runs.
"""

from __future__ import annotations

import time

import numpy as np
from _runs import steady_seconds


def keras_timed_fit(model, x, y, **fit_kwargs):
    """`model.fit(x, y, **fit_kwargs)` for a compiled Keras model, timed.

    Returns (history, seconds, epoch_seconds): the wall time of the call and the time of
    each epoch from its start to its end (the first includes compilation).
    """
    import keras

    begins, ends = [], []
    timer = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: begins.append(time.perf_counter()),
        on_epoch_end=lambda epoch, logs: ends.append(time.perf_counter()),
    )
    callbacks = [*fit_kwargs.pop("callbacks", ()), timer]
    t0 = time.perf_counter()
    history = model.fit(x, y, callbacks=callbacks, **fit_kwargs)
    seconds = time.perf_counter() - t0
    return history, seconds, [end - begin for begin, end in zip(begins, ends)]


def keras_run(history, seconds: float, epoch_seconds: list, test: tuple) -> dict:
    """A run's dict from `keras_timed_fit`'s results and `model.evaluate`'s (loss,
    accuracy) on the test set."""
    return {
        "test_accuracy": float(test[1]),
        "test_loss": float(test[0]),
        "train_seconds": seconds,
        "seconds_per_epoch_after_first": steady_seconds(epoch_seconds),
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
    }


def summarise_peers(runs: dict) -> dict:
    """{framework: {test_accuracy_mean, test_accuracy_std (population), train_seconds_mean,
    epoch_seconds_median, seeds}} for each framework of `runs` ({name: [run, ...]}) that
    ran, plus `keras_over_jrnn_epoch_time` when both did and were timed; printed."""
    summary = {}
    for name, rs in runs.items():
        if not rs:
            continue
        acc = np.array([r["test_accuracy"] for r in rs])
        epochs = [r["seconds_per_epoch_after_first"] for r in rs]
        epochs = [e for e in epochs if e is not None]
        summary[name] = {
            "test_accuracy_mean": float(acc.mean()),
            "test_accuracy_std": float(acc.std()),
            "train_seconds_mean": float(np.mean([r["train_seconds"] for r in rs])),
            "epoch_seconds_median": float(np.median(epochs)) if epochs else None,
            "seeds": len(rs),
        }
        s = summary[name]
        timing = (
            f"; {1000 * s['epoch_seconds_median']:.1f} ms per epoch after the first"
            if epochs
            else ""
        )
        # A resumed run trained only its remaining epochs this time.
        resumed = (
            " (resumed: the remaining epochs only)"
            if any(r.get("resumed_from_epoch") for r in rs)
            else ""
        )
        print(
            f"{name:5s}: test accuracy {acc.mean():.4f} +- {acc.std():.4f} over {len(rs)} "
            f"seeds; {s['train_seconds_mean']:.1f} s per training run this time "
            f"(compilation included){resumed}{timing}"
        )
    times = [summary.get(k, {}).get("epoch_seconds_median") for k in ("keras", "jrnn")]
    if None not in times:
        summary["keras_over_jrnn_epoch_time"] = times[0] / times[1]
        print(f"time per epoch, keras / jrnn: {times[0] / times[1]:.2f}x")
    return summary
