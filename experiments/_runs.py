"""What every experiment's run directory shares: its settings, checkpoints, timing and plots.

An experiment writes one run to `--out` (runs/<name>/ by default) and continues it when
run again: jrnn.fit resumes from the latest checkpoint in a checkpoint directory, and
`--epochs` is the total. The pieces here are the same for every experiment:

    at_least(ap, args, names)           argparse checks: counts >= 1
    clear_run(out, dirs, files)         --fresh: delete the checkpoints and what they explain
    run_config(out, settings, ...)      store a fresh run's settings in config.json; refuse
                                        to resume with other ones
    checked_config(args, fixed, ...)    run_config from argparse names, fresh when no
                                        checkpoint folder holds a checkpoint
    save_tokenizer(tok, path, ...)      save the vocabulary; refuse another one on resume
    resume_epoch(ckpt, epochs)          the epoch a run resumes from, said on stdout
    cosine_adam(lr, decay_steps, alpha) clipped Adam on a cosine learning-rate decay
    timed_fit(...)                      jrnn.fit plus the wall time of each epoch
    record_epoch_times(path, ...)       epoch times kept across resumed runs
    steady_seconds(times)               median time of an epoch after the first
    training_stats(...)                 epochs, steps, params, times: for metrics.json
    train_classifier(...)               all of the above for a classifier: train (resuming),
                                        history.csv, curves.png, test accuracy
    train_each(names, train_one, out)   several models one after the other; summaries.txt
    combined_history(histories)         several runs' histories as one (history.csv)
    report_models(metrics, args, t0)    metrics.json and a table of models and baselines
    checked_summary(model, ...)         summary() text, asserting a parameter total
    plot_comparison(curves, path, ...)  one validation curve per model in one PNG

Experiments import this module by name (`from _runs import checked_config`):
experiments/ is not a package, and a script's own folder is on sys.path when it runs.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import jax
import numpy as np
import optax

import jrnn


# -- command line ----------------------------------------------------------------------------
def at_least(ap, args, names: Iterable[str], low: int = 1) -> None:
    """`ap.error` (exit 2, with the usage) unless each argparse value `args.<name>` of
    `names` is >= `low`; a value None (an option not given) passes."""
    for name in names:
        value = getattr(args, name)
        if value is not None and value < low:
            ap.error(f"--{name.replace('_', '-')}: got {value}, expected >= {low}")


# -- run directory ---------------------------------------------------------------------------
def clear_run(out: Path, dirs: Iterable[str] = ("checkpoints",), files: Iterable[str] = ()):
    """Delete `out/<d>` for each of `dirs` (checkpoint folders) and `out/<f>` for each of
    `files` (what a resumed run would read back: config.json, history.csv, tokenizers)."""
    for d in dirs:
        shutil.rmtree(out / d, ignore_errors=True)
    for f in files:
        (out / f).unlink(missing_ok=True)


def run_config(out: Path, settings: dict, *, fresh: bool, ckpt, at_start: dict) -> dict:
    """The run's config: `settings | at_start` written to `out/config.json` for a fresh
    run, else the stored one after checking `settings` (argparse names) against it: a
    difference is a ValueError naming the flags (`--units 8 (checkpoint: 16)`). `ckpt`
    (the checkpoint folder) is only named in the message of a resumed run without
    config.json. Most experiments call it through `checked_config`."""
    path = out / "config.json"
    if fresh:
        config = {**settings, **at_start}
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config, indent=1))
        return config
    if not path.exists():
        raise ValueError(
            f"--out: {ckpt} holds checkpoints but {path} is missing; pass --fresh to "
            f"start a new run there, or another --out"
        )
    config = json.loads(path.read_text())
    diff = {k: (config.get(k), v) for k, v in settings.items() if config.get(k) != v}
    if diff:
        said = ", ".join(
            f"--{k.replace('_', '-')} {new} (checkpoint: {old})" for k, (old, new) in diff.items()
        )
        raise ValueError(
            f"the run in {out} was trained with other settings: got {said}; pass "
            f"--fresh to start again with these, or another --out"
        )
    return config


def checked_config(
    args, fixed: Sequence[str], *, ckpts: Iterable[Path], at_start: dict | None = None
) -> dict:
    """`run_config` for the run in `args.out`, fresh when no folder of `ckpts` holds a
    checkpoint: a fresh run stores `{name: getattr(args, name)}` for the argparse names
    in `fixed`, plus `at_start` (what it fixes now, e.g. the length of its learning-rate
    schedule); a resumed run gets the stored config back once `fixed` matches it.

        config = checked_config(args, ("units", "seed"), ckpts=[args.out / "checkpoints"],
                                at_start={"decay_steps": args.epochs * steps_per_epoch})
    """
    held = [c for c in ckpts if jrnn.checkpoint.latest_step(c) is not None]
    return run_config(
        args.out,
        {k: getattr(args, k) for k in fixed},
        fresh=not held,
        ckpt=held[0] if held else None,
        at_start=at_start or {},
    )


def save_tokenizer(tok, path: Path, *, resuming: bool) -> None:
    """Save `tok` to `path`; when resuming, first check that the vocabulary saved there by
    the checkpointed run is the same (other data would give token ids another meaning)."""
    if resuming and path.exists():
        if jrnn.Tokenizer.load(path).word_index != tok.word_index:
            raise ValueError(f"{path}: the checkpointed run has another vocabulary")
    tok.save(path)


def resume_epoch(ckpt: Path, epochs: int, *, name: str = "", flag: str = "--epochs") -> int:
    """The number of epochs already in the checkpoints of `ckpt` (0: none), said on stdout
    when a run resumes, or has nothing left to train (`flag` is the command-line name of
    `epochs`; `name` prefixes the line, for experiments that train several models)."""
    start = jrnn.checkpoint.latest_step(ckpt) or 0
    who = f"{name}: " if name else ""
    if start >= epochs:
        print(
            f"{who}the checkpoint in {ckpt} has {start} epochs ({flag} {epochs}): nothing to "
            f"train; pass a larger {flag} to continue, or --fresh"
        )
    elif start:
        print(f"{who}resuming from epoch {start} of {epochs} ({ckpt})")
    return start


# -- training and timing ---------------------------------------------------------------------
def cosine_adam(lr: float, decay_steps: int, alpha: float):
    """Adam on a cosine decay from `lr` to `alpha * lr` over `decay_steps` steps (at least
    1), after clipping the gradients to global norm 1. The learning rate is a
    hyperparameter of the optimizer state (optax.inject_hyperparams), so fit logs it and a
    resumed run continues the schedule from its step."""
    schedule = optax.cosine_decay_schedule(lr, max(decay_steps, 1), alpha=alpha)
    return optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.inject_hyperparams(optax.adam)(learning_rate=schedule),
    )


def timed_fit(model, variables, data, *, callbacks=(), **fit_kwargs):
    """`jrnn.fit(model, variables, data, **fit_kwargs)`, timed.

    Returns (state, history, seconds, epoch_seconds): the wall time of the whole call, and
    a list with the wall time of each epoch this call trained, from its start to its end
    (training steps, validation, callbacks; not the checkpoint fit writes after it, which
    a peer without checkpoints does not pay), empty when a checkpoint already had them
    all; the first one includes compilation. A RuntimeError when the history holds no
    epoch (fit stopped before the first one ended).
    """
    begins, ends = [], []
    timer = jrnn.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: begins.append(time.perf_counter()),
        on_epoch_end=lambda epoch, logs: ends.append(time.perf_counter()),
    )
    t0 = time.perf_counter()
    state, history = jrnn.fit(model, variables, data, callbacks=[*callbacks, timer], **fit_kwargs)
    seconds = time.perf_counter() - t0
    if not history.history.get("loss"):
        ckpt = fit_kwargs.get("checkpoint_dir")
        raise RuntimeError(
            "no epoch finished (see the warnings above)" + (f"; {ckpt} unchanged" if ckpt else "")
        )
    return state, history, seconds, [end - begin for begin, end in zip(begins, ends)]


def record_epoch_times(path: Path, start_epoch: int, epoch_seconds: list) -> list:
    """Wall time of every epoch so far, kept in `path` across resumed runs: [seconds,
    first] pairs, `first` when the epoch was the first of a process (it compiles).
    `epoch_seconds` are this process's epochs, which start at `start_epoch`."""
    old = json.loads(path.read_text()) if start_epoch and path.exists() else []
    times = old[:start_epoch] + [[s, i == 0] for i, s in enumerate(epoch_seconds)]
    path.write_text(json.dumps(times))
    return times


def steady_seconds(epoch_seconds) -> float | None:
    """Median time of an epoch after the first of a process (the first compiles): from
    `record_epoch_times` pairs or from a plain list of one process's epochs; None if none."""
    rows = list(epoch_seconds)
    if rows and isinstance(rows[0], list):
        steady = [s for s, first in rows if not first]
    else:
        steady = rows[1:]
    return float(np.median(steady)) if steady else None


def training_stats(
    history, state, start_epoch: int, train_seconds: float, epoch_seconds, all_times=None
) -> dict:
    """What a run's metrics.json says of its training: epochs (in all), steps, params,
    resumed_from_epoch, epochs_this_run, train_seconds (this run) and
    seconds_per_epoch_after_first (`steady_seconds` of `all_times`, the
    `record_epoch_times` of every run, if given, else of this run's `epoch_seconds`)."""
    return {
        "epochs": len(history.epoch),
        "steps": int(state.step),
        "params": sum(int(np.size(a)) for a in jax.tree.leaves(state.params)),
        "resumed_from_epoch": start_epoch,
        "epochs_this_run": len(epoch_seconds),
        "train_seconds": train_seconds,
        "seconds_per_epoch_after_first": steady_seconds(
            epoch_seconds if all_times is None else all_times
        ),
    }


def train_classifier(
    model,
    variables,
    train,
    val,
    test,
    *,
    out: Path,
    epochs: int,
    batch_size: int,
    lr: float | None = None,
    optimizer=None,
    seed: int = 0,
    verbose: int = 1,
    title: str = "",
    name: str = "",
):
    """Train a classifier of integer labels (resuming from `out/checkpoints`) and test it.

    `train`, `val` and `test` are (x, y) pairs (x any pytree of arrays, y (N,) int); `val`
    may be None (no validation). The loss is sparse categorical cross-entropy on logits,
    the optimizer Adam(`lr`) unless `optimizer` is given, one device. Writes
    `out/history.csv`, `out/curves.png` (titled `title`) and `out/epoch_times.json`.

    Returns (metrics, state): metrics holds test_accuracy, test_loss, val_accuracy and
    best_val_accuracy (with `val`), epochs, steps, resumed_from_epoch, epochs_this_run,
    train_seconds, seconds_per_epoch_after_first (over all runs), first_epoch_seconds and
    the whole history.
    """
    ckpt = out / "checkpoints"
    loss = jrnn.losses.SparseCategoricalCrossentropy(from_logits=True)
    start_epoch = resume_epoch(ckpt, epochs, name=name)
    state, history, train_seconds, epoch_seconds = timed_fit(
        model,
        variables,
        train,
        loss=loss,
        optimizer=optimizer if optimizer is not None else optax.adam(lr),
        metrics=["accuracy"],
        batch_size=batch_size,
        epochs=epochs,
        validation_data=val,
        seed=seed,
        checkpoint_dir=ckpt,
        verbose=verbose,
        devices=jax.devices()[:1],
    )
    h = history.history
    history.to_csv(out / "history.csv")
    history.plot(out / "curves.png", title=title)
    scores = jrnn.evaluate(model, state, test, loss=loss, metrics=["accuracy"])
    times = record_epoch_times(out / "epoch_times.json", start_epoch, epoch_seconds)
    metrics = {"test_accuracy": scores["accuracy"], "test_loss": scores["loss"]}
    if val is not None:
        metrics["val_accuracy"] = h["val_accuracy"][-1]
        metrics["best_val_accuracy"] = max(h["val_accuracy"])
    metrics.update(training_stats(history, state, start_epoch, train_seconds, epoch_seconds, times))
    metrics["first_epoch_seconds"] = times[0][0] if times else None
    metrics["history"] = h
    return metrics, state


def train_each(names, train_one, out: Path) -> dict:
    """{name: metrics} of `train_one(name) -> (metrics, summary text)` for each of `names`,
    each model's test accuracy printed as it finishes; the summaries go to
    `out/summaries.txt`."""
    results, summaries = {}, []
    for name in names:
        results[name], text = train_one(name)
        summaries.append(text)
        r = results[name]
        print(
            f"{name}: test accuracy {r['test_accuracy']:.3f} after {r['epochs']} epochs "
            f"({r['train_seconds']:.0f} s this run)"
        )
    (out / "summaries.txt").write_text("\n\n".join(summaries) + "\n")
    return results


def combined_history(histories: dict) -> jrnn.History:
    """One History of several runs, keys prefixed by run name (val_ kept first, so
    History.plot pairs them), shorter runs padded with NaN."""
    n = max(len(h.epoch) for h in histories.values())
    merged = {}
    for name, h in histories.items():
        for k, v in h.history.items():
            key = f"val_{name}_{k[4:]}" if k.startswith("val_") else f"{name}_{k}"
            merged[key] = list(v) + [math.nan] * (n - len(v))
    return jrnn.History(merged, list(range(n)))


def report_models(metrics: dict, args, t_start: float) -> dict:
    """Finish and write a multi-model run's `metrics` (with "models": {name: metrics of
    `train_classifier` plus "params"} and "baselines": {name: test accuracy}): add
    total_seconds (since `t_start`) and the command line, write `args.out/metrics.json`,
    print one row per model and baseline. Returns `metrics`."""
    metrics["total_seconds"] = time.perf_counter() - t_start
    metrics["config"] = {k: str(v) for k, v in vars(args).items()}
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    results, baselines = metrics["models"], metrics["baselines"]
    # Baseline accuracies stand under the models' (after the params column).
    w = max(5, *(len(n) for n in results), *(len(n) - 9 for n in baselines))
    print(f"\n{'model':{w}s} {'params':>8s} {'test acc':>8s} {'s/epoch':>8s} {'train s':>8s}")
    for name, r in results.items():
        ep = r["seconds_per_epoch_after_first"] or float("nan")
        print(
            f"{name:{w}s} {r['params']:8,d} {r['test_accuracy']:8.3f} {ep:8.2f} "
            f"{r['train_seconds']:8.1f}"
        )
    for name, v in baselines.items():
        print(f"{name:{w + 9}s} {v:8.3f}")
    print(f"wrote {args.out}/ in {metrics['total_seconds']:.0f} s")
    return metrics


def checked_summary(model, variables, expected: int, name: str) -> tuple[int, str]:
    """(parameter count, `model.summary` text), printed; an AssertionError unless both the
    count and the summary's total are `expected`."""
    text = model.summary(variables)
    n_params = sum(int(np.size(a)) for a in jax.tree.leaves(variables["params"]))
    if n_params != expected or f"Total params: {expected:,}" not in text:
        raise AssertionError(f"{name}: {n_params:,} parameters, expected {expected:,}")
    return n_params, text


# -- plots -----------------------------------------------------------------------------------
def plot_comparison(curves: dict, path: Path, title: str, ylabel="validation accuracy") -> None:
    """One line per entry of `curves` ({label: values per epoch}) in one PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, values in curves.items():
        ax.plot(range(1, len(values) + 1), values, marker="o", label=label)
    ax.set(xlabel="epoch", ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
