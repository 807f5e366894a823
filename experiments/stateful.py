"""A stateful LSTM on one long real time series, trained with truncated backpropagation.

The series is the longest univariate real recording that ships with `aeon`:
KDD-TSAD 135 "InternalBleeding16" from the UCR anomaly archive (the SIGKDD 2021
competition), 7,501 samples of a physiological signal of a patient with internal
bleeding, smooth and quasi-periodic (aeon's `load_kdd_tsad_135`; nothing downloaded).
It is split in time: the first 70% trains, the next 15% validates, the last 15% (the
held-out tail) tests.

Truncated backpropagation through time with the carry passed between batches: the
training segment is cut into `--streams` B consecutive streams of equal length, and each
stream into chunks of `--chunk` T steps; batch k holds chunk k of every stream, so row b
of batch k + 1 continues row b of batch k. The model

    Sequential([LSTM(units, return_sequences=True, stateful=True), Dense(1)])

reads its initial carry from `variables["state"]` and returns the final one, which
`jrnn.fit` (shuffle=False) feeds to the next batch; gradients stop at chunk boundaries
(backpropagation is truncated to T steps) and `fit` resets the carries to zeros at the
start of every epoch. Input at step t: the standardised value and its change since t - 1;
target: the change to t + 1, so the forecast of x[t+1] is x[t] plus the predicted change
(MSE loss, Adam on a cosine decay, gradients clipped).

After training, one stream (batch 1) runs over the whole series two ways — one
`model.apply` over all 7,501 steps, and chunk by chunk passing `variables["state"]` —
and the outputs must agree (asserted with `np.testing.assert_allclose`). The one-step-ahead
forecasts on the held-out tail, with the carry warmed by the whole history, are scored by
MSE and MAE against the naive last-value forecast (skill = 1 - mse_model / mse_naive), a
linear autoregression AR(p) on the changes, fitted by least squares on the training
segment (p chosen on the validation segment), and the same LSTM with its carry reset to
zeros at every chunk (what the carried state is worth).

    make exp-stateful                                    # ~30 s on 2 CPU cores
    make exp-stateful STATEFUL_ARGS="--epochs 150"       # resume the run above, train more
    make exp-stateful STATEFUL_ARGS="--fresh"            # discard the checkpoints

Writes to `--out` (default runs/stateful/): checkpoints/ (jrnn.checkpoint files),
config.json, history.csv, curves.png, forecast.png (the held-out tail) and metrics.json.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from _runs import (
    at_least,
    checked_config,
    clear_run,
    cosine_adam,
    resume_epoch,
    timed_fit,
    training_stats,
)

import jrnn
from jrnn.layers import LSTM, Dense

RUN_DIR = Path(__file__).resolve().parent.parent / "runs" / "stateful"
# Settings that fix the data layout or the parameters' shapes.
FIXED = ("max_points", "streams", "chunk", "units", "seed")
SPLIT = (0.70, 0.15)  # train, validation; the rest is the held-out tail


# -- data -------------------------------------------------------------------------------------
def load_series(max_points: int | None = None) -> np.ndarray:
    """KDD-TSAD 135 (InternalBleeding16), float64 (7501,), its first `max_points` (a copy)."""
    x = _recording()
    return (x if max_points is None else x[:max_points]).copy()


@functools.cache
def _recording() -> np.ndarray:
    """The whole recording, parsed once per process (about a second; main() may run
    several times in one, as in the tests)."""
    from aeon.datasets import load_kdd_tsad_135

    x, _ = load_kdd_tsad_135(split="test")  # the whole recording; "train" is its start
    return np.asarray(x, np.float64).ravel()


def features(x: np.ndarray, n_train: int):
    """Inputs (N, 2) float32 — the standardised value and its change since the previous
    step (0 at t = 0) — and targets (N - 1,) float32, the standardised change to the next
    step; plus the scale of a change (to turn predictions back into values). Statistics
    come from the training segment only."""
    mean, std = x[:n_train].mean(), x[:n_train].std()
    d = np.diff(x, prepend=x[0])
    d_std = d[1:n_train].std()
    u = np.stack([(x - mean) / std, d / d_std], axis=1).astype(np.float32)
    return u, (d[1:] / d_std).astype(np.float32), float(d_std)


def stream_batches(u, y, streams: int, chunk: int):
    """Lay out one segment for stateful training: (x (K*B, T, F), y (K*B, T, 1)).

    The segment's first B*S steps (S = the largest multiple of T with B*S <= its length)
    are cut into B streams of S consecutive steps, each stream into K = S / T chunks; row
    k*B + b is chunk k of stream b. Batches of B rows in order therefore continue every
    stream where the previous batch left it."""
    n = min(len(u), len(y))
    s = (n // streams) // chunk * chunk
    if s == 0:
        raise ValueError(
            f"--streams {streams} x --chunk {chunk}: got a segment of {n} steps, expected "
            f"at least {streams * chunk} (fewer streams, shorter chunks or more data)"
        )
    k = s // chunk

    def lay(a):
        a = a[: streams * s].reshape(streams, k, chunk, -1)  # (B, K, T, F)
        return np.ascontiguousarray(a.transpose(1, 0, 2, 3).reshape(k * streams, chunk, -1))

    return lay(u), lay(y[:, None])


def ar_forecast(x, p: int, n_train: int, start: int, stop: int):
    """One-step forecasts of x[start:stop] by AR(p) on the changes (with an intercept),
    fitted by least squares on the changes inside x[:n_train]."""
    d = np.diff(x)  # d[t] = x[t+1] - x[t]
    rows = lambda lo, hi: np.stack([d[t - p : t] for t in range(lo, hi)])
    xa = rows(p, n_train - 1)
    coef, *_ = np.linalg.lstsq(np.c_[xa, np.ones(len(xa))], d[p : n_train - 1], rcond=None)
    # x[t] forecast = x[t-1] + predicted d[t-1] from d[t-1-p : t-1]
    xt = rows(start - 1, stop - 1)
    return x[start - 1 : stop - 1] + np.c_[xt, np.ones(len(xt))] @ coef


# -- model ------------------------------------------------------------------------------------
def build_model(units: int) -> jrnn.Sequential:
    return jrnn.Sequential(
        [LSTM(units, return_sequences=True, stateful=True), Dense(1)], name="stateful_lstm"
    )


def run_chunks(apply, variables, u, chunk: int, *, carry: bool = True):
    """The model over (1, N, F) chunk by chunk: each chunk starts from the previous
    chunk's final carry (`variables["state"]`), or from zeros with carry=False."""
    zeros = variables["state"]
    outs = []
    for s in range(0, u.shape[1], chunk):
        y, state = apply(variables, u[:, s : s + chunk])
        variables = {**variables, "state": state if carry else zeros}
        outs.append(np.asarray(y))
    return np.concatenate(outs, axis=1)


def scores(pred, truth, naive) -> dict:
    mse, mae = float(np.mean((pred - truth) ** 2)), float(np.mean(np.abs(pred - truth)))
    mse_naive = float(np.mean((naive - truth) ** 2))
    mae_naive = float(np.mean(np.abs(naive - truth)))
    return {
        "mse": mse,
        "mae": mae,
        "skill": 1.0 - mse / mse_naive,
        "mae_skill": 1 - mae / mae_naive,
    }


# -- main -------------------------------------------------------------------------------------
def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-points", type=int, default=None, help="use the first N samples")
    ap.add_argument("--streams", type=int, default=8, help="parallel streams = batch size")
    ap.add_argument("--chunk", type=int, default=32, help="steps per chunk (the TBPTT length)")
    ap.add_argument("--units", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=100, help="total epochs (default 100)")
    ap.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    ap.add_argument(
        "--ar-orders",
        type=int,
        nargs="+",
        default=[1, 2, 4, 8, 16, 32, 64, 128],
        help="orders p tried for the AR baseline (the best on validation is kept)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fresh", action="store_true", help="discard checkpoints in --out")
    ap.add_argument("--verbose", type=int, default=1, help="0 silent, 1 progress bar, 2 lines")
    ap.add_argument("--out", type=Path, default=RUN_DIR)
    args = ap.parse_args(argv)
    at_least(ap, args, ("streams", "chunk", "units", "epochs"))
    if min(args.ar_orders) < 1:
        ap.error(f"--ar-orders: got {args.ar_orders}, expected orders >= 1")
    if args.max_points is not None and args.max_points < 100:
        ap.error(f"--max-points: got {args.max_points}, expected >= 100 (or none)")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    out, ckpt_dir = args.out, args.out / "checkpoints"
    if args.fresh:
        clear_run(out, files=("history.csv", "config.json"))

    # -- data: one series, split in time; training and validation laid out as B streams
    x = load_series(args.max_points)
    n = len(x)
    n_train, n_val = int(SPLIT[0] * n), int(SPLIT[1] * n)
    test_start = n_train + n_val
    u, target, d_scale = features(x, n_train)  # target[t]: change from t to t + 1
    B, T = args.streams, args.chunk
    xtr, ytr = stream_batches(u[: n_train - 1], target[: n_train - 1], B, T)
    xva, yva = stream_batches(u[n_train : test_start - 1], target[n_train : test_start - 1], B, T)
    steps = len(xtr) // B
    print(
        f"KDD-TSAD 135 InternalBleeding16: {n} samples; train {n_train} (as {B} streams of "
        f"{steps * T} steps: {steps} chunks of {T} per epoch), validation {n_val}, held-out "
        f"tail {n - test_start}"
    )
    # A fresh run fixes its learning-rate schedule now (cosine over the epochs asked for).
    config = checked_config(
        args, FIXED, ckpts=[ckpt_dir], at_start={"decay_steps": args.epochs * steps}
    )
    start_epoch = resume_epoch(ckpt_dir, args.epochs)
    if not start_epoch:
        (out / "history.csv").unlink(missing_ok=True)

    # -- training: shuffle=False keeps the streams in order; carries reset per epoch
    model = build_model(args.units)
    variables = model.init(jax.random.key(args.seed), xtr[:B])
    model.summary(variables)
    optimizer = cosine_adam(args.lr, config["decay_steps"], alpha=0.05)
    state, history, train_seconds, epoch_seconds = timed_fit(
        model,
        variables,
        (xtr, ytr),
        loss="mse",
        optimizer=optimizer,
        metrics=["mae"],
        batch_size=B,
        epochs=args.epochs,
        shuffle=False,
        reset_state=True,
        validation_data=(xva, yva),
        seed=args.seed,
        checkpoint_dir=ckpt_dir,
        verbose=args.verbose,
        devices=jax.devices()[:1],
    )
    history.to_csv(out / "history.csv")
    history.plot(out / "curves.png", title="stateful LSTM, TBPTT: MSE of the next change")

    # -- one stream over the whole series: one pass == chunk by chunk with the carry passed
    one = model.reset_states(state.variables, batch_size=1)  # trained on B streams, run on 1
    apply = jax.jit(lambda v, xs: model.apply(v, xs))
    t1 = time.perf_counter()
    whole, final = apply(one, u[None])
    whole = np.asarray(whole)
    whole_seconds = time.perf_counter() - t1
    t1 = time.perf_counter()
    chunked = run_chunks(apply, one, u[None], T)
    chunk_seconds = time.perf_counter() - t1
    np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=1e-5)
    max_diff = float(np.max(np.abs(chunked - whole)))
    reset = run_chunks(apply, one, u[None], T, carry=False)

    # -- one-step-ahead forecasts of the held-out tail x[test_start:]
    to_value = lambda out: x[test_start - 1 : n - 1] + d_scale * out[0, test_start - 1 : n - 1, 0]
    truth = x[test_start:]
    naive = x[test_start - 1 : n - 1]
    lstm = to_value(chunked)
    # AR(p): the order with the smallest validation MSE (p < the training length).
    orders = [p for p in args.ar_orders if p < n_train // 2] or [1]
    val_mse = {
        p: float(
            np.mean((ar_forecast(x, p, n_train, n_train, test_start) - x[n_train:test_start]) ** 2)
        )
        for p in orders
    }
    order = min(val_mse, key=val_mse.get)
    ar = ar_forecast(x, order, n_train, test_start, n)
    results = {
        "lstm": scores(lstm, truth, naive),
        "naive_last_value": scores(naive, truth, naive),
        "ar": {
            **scores(ar, truth, naive),
            "order": order,
            "val_mse_by_order": {str(p): v for p, v in val_mse.items()},
        },
        "lstm_carry_reset_every_chunk": scores(to_value(reset), truth, naive),
    }
    val_lo, val_hi = n_train, test_start
    val_pred = x[val_lo - 1 : val_hi - 1] + d_scale * chunked[0, val_lo - 1 : val_hi - 1, 0]
    val = scores(val_pred, x[val_lo:val_hi], x[val_lo - 1 : val_hi - 1])
    _plot_forecast(out / "forecast.png", np.arange(test_start, n), truth, lstm, naive)

    metrics = {
        "test": results,
        "test_skill": results["lstm"]["skill"],
        "val_skill_warm": val["skill"],
        "chunked_equals_one_pass": True,
        "chunked_vs_one_pass_max_abs_diff": max_diff,
        "one_pass_seconds": whole_seconds,
        "chunked_seconds": chunk_seconds,
        "final_carry_norm": float(sum(jnp.linalg.norm(a) for a in jax.tree.leaves(final))),
        **training_stats(history, state, start_epoch, train_seconds, epoch_seconds),
        "data": {
            "series": "KDD-TSAD 135 UCR_Anomaly_InternalBleeding16 (aeon)",
            "points": n,
            "train": n_train,
            "val": n_val,
            "test": n - test_start,
            "streams": B,
            "chunk": T,
            "chunks_per_epoch": steps,
            "train_steps_used": int(xtr.shape[0] * T),
        },
        "config": {**{k: str(v) for k, v in vars(args).items()}, "run": config},
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    r = results
    print(
        f"\none pass over {n} steps == {len(range(0, n, T))} chunks of {T} with the carry "
        f"passed (max |diff| {max_diff:.1e})\nheld-out tail ({n - test_start} one-step "
        f"forecasts): MSE {r['lstm']['mse']:.4f} LSTM, {r['naive_last_value']['mse']:.4f} "
        f"naive last value, {r['ar']['mse']:.4f} AR({order}), "
        f"{r['lstm_carry_reset_every_chunk']['mse']:.4f} LSTM with the carry reset every "
        f"chunk\nskill vs naive: {r['lstm']['skill']:.3f} LSTM, "
        f"{r['ar']['skill']:.3f} AR({order}), "
        f"{r['lstm_carry_reset_every_chunk']['skill']:.3f} reset; {len(history.epoch)} "
        f"epochs, {train_seconds:.0f} s of training in this run; wrote {out}/"
    )
    return metrics


def _plot_forecast(path, t, truth, lstm, naive) -> None:
    """The held-out tail and its forecasts (skipped without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, (a, b) = plt.subplots(2, 1, figsize=(10, 5), sharex=True)
    a.plot(t, truth, "k-", lw=1, label="series")
    a.plot(t, lstm, "C1-", lw=1, label="LSTM one step ahead")
    a.legend()
    b.plot(t, lstm - truth, "C1-", lw=1, label="LSTM error")
    b.plot(t, naive - truth, "C0-", lw=1, alpha=0.6, label="naive error")
    b.set_xlabel("t")
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
