"""The program every process runs in tests/test_distributed.py; the test also imports its
functions to compute the one-process result the same way.

    python -m jrnn.launch --nproc 2 tests/distributed_worker.py SCENARIO OUT_DIR [EPOCHS]

Each process writes what it computed to OUT_DIR/<scenario>.<process index>.npz.
"""

import itertools
import os
import sys

import jax
import numpy as np
import optax
from jax.experimental import multihost_utils

import jrnn
from jrnn.layers import LSTM, Dense, Embedding

V, T, H = 20, 6, 8


def data(n=48, seed=0):
    """Left-padded token ids with a learnable label."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, V, (n, T)).astype(np.int32)
    lengths = rng.integers(2, T + 1, n)
    x[np.arange(T)[None, :] < (T - lengths)[:, None]] = 0
    y = (x[:, -1] > V // 2).astype(np.int32)
    return x, y


def classifier(ckpt=None, epochs=2, devices=None, verbose=0):
    """Masking (mask_zero) and dropout, shuffled batches, a validation set: fit, then
    evaluate and predict. Returns a dict of NumPy results."""
    model = jrnn.Sequential(
        [Embedding(V, 8, mask_zero=True), LSTM(H, dropout=0.25, recurrent_dropout=0.25), Dense(2)]
    )
    x, y = data()
    variables = model.init(jax.random.key(0), x[:2])
    loss = jrnn.losses.SparseCategoricalCrossentropy(from_logits=True)
    state, hist = jrnn.fit(
        model,
        variables,
        (x, y),
        loss=loss,
        metrics=["accuracy"],
        optimizer=optax.adam(1e-2),
        batch_size=8,
        epochs=epochs,
        validation_data=data(16, seed=1),
        verbose=verbose,
        checkpoint_dir=ckpt,
        devices=devices,
    )
    ev = jrnn.evaluate(model, state, data(16, seed=2), loss=loss, batch_size=8, devices=devices)
    pred = jrnn.predict(model, state, data(16, seed=3)[0], batch_size=8, devices=devices)
    return _flat(state.params, history=hist.history, evaluate=ev, predict=pred)


def stateful(devices=None):
    """A stateful LSTM over consecutive chunks (shuffle=False): each process keeps the
    carries of its own rows."""
    B = 8
    rng = np.random.default_rng(4)
    long = rng.standard_normal((B, 2 * T, 3)).astype(np.float32)
    chunks = np.concatenate([long[:, :T], long[:, T:]])
    y = rng.standard_normal((2 * B, 1)).astype(np.float32)
    model = jrnn.Sequential([LSTM(H, stateful=True), Dense(1)])
    variables = model.init(jax.random.key(0), chunks[:B])
    state, hist = jrnn.fit(
        model, variables, (chunks, y), loss="mse", batch_size=B, epochs=2, shuffle=False,
        reset_state=False, verbose=0, devices=devices,
    )  # fmt: skip
    pred = jrnn.predict(model, state, chunks, batch_size=B, devices=devices)
    # The carries stay split over the processes (each keeps its rows): gather them.
    carry = multihost_utils.process_allgather(state.model_state, tiled=True)
    return _flat(state.params, history=hist.history, predict=pred, carry=carry)


def sharded(processes=None, devices=None):
    """Each process passes its own shard of a Dataset (batches of 4 rows; 49 rows, so
    one shard runs out a batch before the other). With `processes=n` on one process:
    the global batches that n processes' shards make together."""
    x, y = data(49, seed=5)
    model = jrnn.Sequential([Embedding(V, 8, mask_zero=True), LSTM(H), Dense(2)])
    variables = model.init(jax.random.key(0), x[:2])
    ds = jrnn.Dataset.from_tensor_slices((x, y))
    if processes is None:
        train = ds.shard(jax.process_count(), jax.process_index()).batch(4)
    else:  # round k: batch k of every shard, in process order
        shards = [list(ds.shard(processes, i).batch(4)) for i in range(processes)]
        rounds = itertools.zip_longest(*shards)
        train = [tuple(np.concatenate(parts) for parts in zip(*filter(None, r))) for r in rounds]
    loss = jrnn.losses.SparseCategoricalCrossentropy(from_logits=True)
    state, hist = jrnn.fit(model, variables, train, loss=loss, optimizer=optax.adam(1e-2),
                           epochs=2, verbose=0, devices=devices)  # fmt: skip
    return {f"sharded/{k}": v for k, v in _flat(state.params, history=hist.history).items()}


def _flat(params, **extra):
    out = {f"param/{jax.tree_util.keystr(p)}": np.asarray(v)
           for p, v in jax.tree_util.tree_leaves_with_path(params)}  # fmt: skip
    for name, value in extra.items():
        if isinstance(value, dict) and name == "history":
            out.update({f"history/{k}": np.asarray(v) for k, v in value.items()})
        elif isinstance(value, dict) and name == "evaluate":
            out.update({f"evaluate/{k}": np.asarray(v) for k, v in value.items()})
        else:
            out.update({f"{name}/{jax.tree_util.keystr(p)}": np.asarray(v)
                        for p, v in jax.tree_util.tree_leaves_with_path(value)})  # fmt: skip
    return out


def die(after_epochs):
    """Process 1 dies (os._exit) during epoch `after_epochs`; process 0 trains on."""

    class Die(jrnn.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if jax.process_index() == 1 and batch == 2:
                os._exit(7)

    model = jrnn.Sequential([LSTM(H), Dense(1)])
    x = np.random.default_rng(0).standard_normal((64, T, 3)).astype(np.float32)
    variables = model.init(jax.random.key(0), x[:2])
    jrnn.fit(model, variables, (x, x[:, -1, :1]), loss="mse", batch_size=8, epochs=50,
             callbacks=[Die()], verbose=0)  # fmt: skip


def main(scenario, out_dir, epochs="2"):
    jrnn.distributed.initialize()
    if scenario == "classifier":
        result = classifier(ckpt=os.path.join(out_dir, "ckpt"), epochs=int(epochs), verbose=2)
    elif scenario == "stateful":
        result = {**stateful(), **sharded()}
    elif scenario == "die":
        die(1)
        return
    else:
        raise SystemExit(f"unknown scenario {scenario!r}")
    np.savez(os.path.join(out_dir, f"{scenario}.{jax.process_index()}.npz"), **result)


if __name__ == "__main__":
    main(*sys.argv[1:])
