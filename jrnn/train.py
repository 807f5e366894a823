"""Training: `TrainState`, one jit-compiled train step, and Keras-style `fit`,
`evaluate` and `predict` over in-memory arrays or an iterable of batches.

    state, history = jrnn.fit(model, variables, (x, y), loss="sparse_categorical_crossentropy",
                              optimizer=optax.adam(1e-3), metrics=["accuracy"],
                              batch_size=32, epochs=10, validation_data=(xv, yv), seed=0)
    logs = jrnn.evaluate(model, state, (x_test, y_test), loss=..., metrics=["accuracy"])
    y = jrnn.predict(model, state, x_test)

How it behaves:
  - One compilation: every batch has `batch_size` rows; the last, short batch is padded
    and its padding rows are masked out of the loss and the metrics.
  - Sequence losses and metrics skip the steps the model's output mask marks as padding
    (`Embedding(mask_zero=True)`, `Masking`).
  - Same seed, same run: the shuffle of epoch e is drawn from (seed, e) and the dropout
    key of step s is `fold_in(key(seed), s)`, so a resumed run repeats exactly what an
    uninterrupted one does (bitwise on CPU).
  - `checkpoint_dir`: the whole training state (params, optimizer state, model state,
    step, PRNG key) plus epoch and history is saved atomically after every epoch, and
    `fit` resumes from the latest checkpoint there.
  - Several devices: each batch is split over a "data" mesh axis and the state is
    replicated (`jrnn.sharding`); batches are padded to a multiple of the device count.
  - A non-finite loss (or a step that makes a parameter or optimizer state non-finite)
    stops training with a warning naming the epoch and step; the state before that
    step is returned and nothing non-finite is checkpointed.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
import sys
import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jrnn import checkpoint, losses
from jrnn import metrics as metrics_lib
from jrnn.callbacks import Callback, History, ProgressBar, TerminateOnNaN
from jrnn.data._batching import epoch_order, num_rows, pad_rows, padded_batches, split_validation
from jrnn.sharding import batch_multiple, data_mesh, replicate, shard_batch, shard_rows


class TrainState(NamedTuple):
    """Everything a training run needs to continue: a pytree, checkpointed as a whole.

    params: the model's parameters; opt_state: the Optax state; model_state: the
    model's state collection (stateful RNN carries); step: int32 scalar, optimizer
    steps taken; key: the PRNG key dropout keys are folded from.
    """

    params: Any
    opt_state: Any
    model_state: Any
    step: jax.Array
    key: jax.Array

    @property
    def variables(self) -> dict:
        """`{"params", "state"}`, what `model.apply` takes."""
        return {"params": self.params, "state": self.model_state}


def create_train_state(variables, optimizer, seed: int = 0) -> TrainState:
    params = variables["params"]
    return TrainState(
        params=params,
        opt_state=optimizer.init(params),
        model_state=variables.get("state", {}),
        step=jnp.zeros((), jnp.int32),
        key=jax.random.key(seed),
    )


def _variables(v) -> dict:
    if isinstance(v, TrainState):
        return v.variables
    if isinstance(v, dict) and "params" in v:
        return v
    raise TypeError(
        f"variables: got {type(v).__name__}, expected model.init's {{'params', 'state'}} "
        f"dict or a TrainState"
    )


# -- the compiled steps -------------------------------------------------------------------
def _loss_mask(valid, y_pred, out_mask):
    """(B,) row validity combined with the output's (B, T) mask, if any."""
    per_example_rank = max(y_pred.ndim - 1, 1)
    mask = valid.reshape(valid.shape + (1,) * (per_example_rank - 1))
    if out_mask is not None:
        mask = jnp.logical_and(mask, out_mask)
    return jnp.broadcast_to(mask, y_pred.shape[:per_example_rank])


def _forward(model, loss_fn, metric_fns, variables, batch, training, key):
    y_pred, out_mask, new_state = model.apply_with_mask(
        variables, batch["x"], training=training, key=key
    )
    if isinstance(y_pred, (list, tuple)):
        raise ValueError("fit: models with several outputs are not supported by fit yet")
    mask = _loss_mask(batch["valid"], y_pred, out_mask)
    sw = batch.get("sample_weight")
    loss = loss_fn(batch["y"], y_pred, sample_weight=sw, mask=mask)
    n = jnp.sum(batch["valid"], dtype=jnp.float32)
    sums = {"loss": (loss * n, n)}
    for m in metric_fns:
        sums[m.name] = m.update(batch["y"], y_pred, sample_weight=sw, mask=mask)
    return loss, (sums, new_state)


def _cached(builder):
    """Memoise a step builder on its (hashable) arguments, as Keras keeps its
    `train_function`/`predict_function`: calling `predict`, `evaluate` or `fit` again with
    the same model, loss, metrics and optimizer reuses the compiled step instead of
    tracing and compiling anew. Unhashable arguments (a user's loss object) skip the cache."""
    cached = functools.lru_cache(maxsize=32)(builder)

    @functools.wraps(builder)
    def build(*args):
        try:
            hash(args)
        except TypeError:
            return builder(*args)
        return cached(*args)

    build.cache_clear = cached.cache_clear
    return build


@_cached
def make_train_step(model, loss_fn, metric_fns: tuple, optimizer):
    """`step(state, batch) -> (state, sums)`, jitted. batch = {"x", "y", "valid"
    (B,) bool, ["sample_weight"]}; sums = {name: (total, count)} for this batch."""

    def train_step(state: TrainState, batch):
        key = jax.random.fold_in(state.key, state.step)

        def objective(params):
            v = {"params": params, "state": state.model_state}
            return _forward(model, loss_fn, metric_fns, v, batch, True, key)

        (_, (sums, new_model_state)), grads = jax.value_and_grad(objective, has_aux=True)(
            state.params
        )
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        new = TrainState(
            optax.apply_updates(state.params, updates),
            opt_state,
            new_model_state,
            state.step + 1,
            state.key,
        )
        # A finite loss can still give NaN/inf gradients (and so parameters); report such
        # a step as a non-finite loss, so fit stops before it and never checkpoints it.
        finite = jnp.all(
            jnp.stack(
                [
                    jnp.all(jnp.isfinite(a))
                    for a in jax.tree.leaves((new.params, new.opt_state))
                    if jnp.issubdtype(jnp.result_type(a), jnp.inexact)
                ]
                or [jnp.bool_(True)]
            )
        )
        total, count = sums["loss"]
        sums = {**sums, "loss": (jnp.where(finite, total, jnp.nan), count)}
        return new, sums

    return jax.jit(train_step)


@_cached
def make_eval_step(model, loss_fn, metric_fns: tuple):
    """`step(variables, batch) -> (model_state, sums, y_pred)`, jitted."""

    def eval_step(variables, batch):
        y_pred, out_mask, new_state = model.apply_with_mask(variables, batch["x"])
        sums = {}
        if loss_fn is None and not metric_fns:  # predict: any outputs, no mask needed
            return new_state, sums, y_pred
        if isinstance(y_pred, (list, tuple)):
            raise ValueError(
                "evaluate: models with several outputs are not supported with a loss or "
                "metrics yet; use predict"
            )
        mask = _loss_mask(batch["valid"], y_pred, out_mask)
        sw = batch.get("sample_weight")
        n = jnp.sum(batch["valid"], dtype=jnp.float32)
        if loss_fn is not None:
            sums["loss"] = (loss_fn(batch["y"], y_pred, sample_weight=sw, mask=mask) * n, n)
        for m in metric_fns:
            sums[m.name] = m.update(batch["y"], y_pred, sample_weight=sw, mask=mask)
        return new_state, sums, y_pred

    return jax.jit(eval_step)


def _add(acc, sums):
    if acc is None:
        return sums
    return jax.tree.map(jnp.add, acc, sums)


def _logs(acc, prefix="") -> dict:
    """Epoch means from summed (total, count) pairs, keys sorted (as Keras 3's logs)."""
    values = jax.device_get(acc)
    return {
        prefix + k: float(values[k][0] / values[k][1]) if values[k][1] > 0 else 0.0 for k in acc
    }


# -- batches --------------------------------------------------------------------------------
class _Data:
    """(x, y[, sample_weight]) arrays, or an iterable of such batches."""

    def __init__(self, data, name: str, check=None):
        self.name = name
        self.arrays = None
        self.iterable = None
        # Host-side input checks (model.check_inputs, e.g. token ids in range): run once
        # on arrays here, and on every batch of an iterable, which jit could not check.
        self.check = check
        if _is_array_tuple(data):
            x, y, *sw = data
            arrays = {"x": _as_arrays(x, f"{name} (x)"), "y": _as_arrays(y, f"{name} (y)")}
            if sw:
                arrays["sample_weight"] = _as_arrays(sw[0], f"{name} (sample_weight)")
            self.arrays = arrays
            if num_rows(self.arrays) == 0:
                raise ValueError(f"{name}: got arrays with 0 rows, expected at least one row")
            if check is not None:
                check(arrays["x"])
            return
        if (
            data is None
            or isinstance(data, (str, bytes, dict, np.ndarray, jax.Array))
            or not hasattr(data, "__iter__")
        ):
            raise TypeError(
                f"{name}: got {type(data).__name__}, expected (x, y) or (x, y, sample_weight) "
                f"arrays, or an iterable of such batches (e.g. a jrnn Dataset)"
            )
        self.iterable = data

    @property
    def one_shot(self) -> bool:
        """An iterator (e.g. a generator): it can be read only once."""
        return self.iterable is not None and iter(self.iterable) is self.iterable

    def __len__(self):
        return num_rows(self.arrays)

    def steps(self, batch_size: int, drop_remainder: bool = False) -> int | None:
        if self.arrays is None:
            try:
                return len(self.iterable)
            except TypeError:  # no length, or unknown (a Dataset after filter, repeat())
                return None
        n = len(self)
        return n // batch_size if drop_remainder else math.ceil(n / batch_size)

    def batches(self, batch_size, multiple, *, shuffle=False, seed=0, epoch=0, skip=0):
        """Yield host batches of one row count with a "valid" (B,) row mask.

        Arrays: `batch_size` rows, rounded up to a multiple of the device count, in the
        order of pass `epoch`, from its batch `skip` on.
        Iterables: every batch is padded to the first batch's row count (rounded up the
        same way), so a short last batch does not recompile.
        """
        if self.arrays is not None:
            rows = -(-batch_size // multiple) * multiple
            order = epoch_order(len(self), shuffle=shuffle, seed=seed, epoch=epoch)
            for batch, n in padded_batches(self.arrays, batch_size, order[skip * batch_size :]):
                yield _with_valid(pad_rows(batch, rows)[0], n)
            return
        rows = None
        for i, item in enumerate(self.iterable):
            if not _is_array_tuple(item):
                raise ValueError(
                    f"{self.name}: batch {i} is a {type(item).__name__}, expected a tuple "
                    f"(x, y) or (x, y, sample_weight) of arrays"
                )
            batch = {
                "x": _as_arrays(item[0], f"{self.name} (x)"),
                "y": _as_arrays(item[1], f"{self.name} (y)"),
            }
            if len(item) == 3:
                batch["sample_weight"] = _as_arrays(item[2], f"{self.name} (sample_weight)")
            if self.check is not None:
                try:
                    self.check(batch["x"])
                except (TypeError, ValueError) as e:
                    raise type(e)(f"{self.name}: batch {i}: {e}") from None
            n = num_rows(batch)
            if n == 0:
                raise ValueError(f"{self.name}: batch {i} has 0 rows, expected at least one")
            rows = rows or -(-n // multiple) * multiple
            yield _with_valid(pad_rows(batch, rows)[0], n)


class _Stream:
    """The training batches when `steps_per_epoch` is given: one stream over the data,
    passes after passes, from which each epoch takes the next `steps_per_epoch` batches.

    Arrays: pass p is the order of `epoch_order(..., epoch=p)`, so the batches of any
    epoch follow from its number alone (a resumed run sees the same batches). Iterables:
    read on from where the last epoch stopped, starting a new iteration when one ends;
    a one-shot iterator (a generator) that ends, ends the stream.
    """

    def __init__(self, data: _Data, batch_size, multiple, *, shuffle, seed, steps, start_epoch):
        self.steps = steps
        self.ended = False
        if data.arrays is not None:
            per_pass = data.steps(batch_size)
            first, skip = divmod(start_epoch * steps, per_pass)

            def passes():
                p, k = first, skip
                while True:
                    yield from data.batches(
                        batch_size, multiple, shuffle=shuffle, seed=seed, epoch=p, skip=k
                    )
                    p, k = p + 1, 0

        else:

            def passes():
                while True:
                    empty = True
                    for batch in data.batches(batch_size, multiple):
                        empty = False
                        yield batch
                    if empty or data.one_shot:
                        return

        self._it = passes()

    def epoch(self):
        """The next `steps` batches (fewer when the data has run out: `ended` is then set)."""
        taken = 0
        for batch in itertools.islice(self._it, self.steps):
            taken += 1
            yield batch
        if taken < self.steps:
            self.ended = True


def _is_array_tuple(data) -> bool:
    """(x, y) / (x, y, sample_weight), as opposed to a list of such batches.

    A tuple of 2 or 3 is always arrays (Keras's convention); a list of 2 or 3 is arrays
    unless every item is itself a (x, y[, w]) tuple, i.e. a list of batches.
    """
    if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
        return False
    if isinstance(data, tuple):
        return True
    return not all(isinstance(d, tuple) and len(d) in (2, 3) for d in data)


def _as_arrays(v, name: str):
    """An array, or a list/tuple/dict of arrays (several model inputs), as NumPy."""
    if isinstance(v, dict):
        return {k: _as_arrays(a, f"{name}[{k!r}]") for k, a in v.items()}
    if isinstance(v, (list, tuple)) and v and all(hasattr(a, "shape") for a in v):
        return [_as_arrays(a, f"{name}[{i}]") for i, a in enumerate(v)]
    try:
        arr = np.asarray(v)
    except ValueError as e:  # ragged nested lists
        raise ValueError(f"{name}: could not make an array ({e}); pad the sequences") from e
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{name}: got {type(v).__name__} of dtype {arr.dtype}, expected numbers "
            f"(a bool, integer or floating array)"
        )
    return arr


def _check_state_rows(model_state, batch_size: int, multiple: int) -> None:
    """Stateful carries are (B, ...) for the B of model.init's example: every batch must
    have exactly B rows (after rounding up to a multiple of the device count)."""
    sizes = {np.shape(a)[0] for a in jax.tree.leaves(model_state) if np.ndim(a)}
    rows = -(-batch_size // multiple) * multiple
    if sizes and sizes != {rows}:
        padded = f" ({rows} rows once padded for {multiple} devices)" if rows != batch_size else ""
        raise ValueError(
            f"batch_size: got {batch_size}{padded}, but the stateful layers' carries hold "
            f"{sorted(sizes)[0]} rows (the batch of the example given to model.init); "
            f"stateful models run on batches of exactly that many rows"
        )


def _with_valid(batch, n: int) -> dict:
    return {**batch, "valid": np.arange(num_rows(batch)) < n}


# -- fit -------------------------------------------------------------------------------------
class _Loop:
    """What callbacks see as `self.loop`; `initial_epoch` > 0 when fit resumed."""

    def __init__(self, model, state, history, epochs, initial_epoch=0):
        self.model, self.state, self.history, self.epochs = model, state, history, epochs
        self.initial_epoch = initial_epoch
        self.stop_training = False
        self.nonfinite = None


def fit(
    model,
    variables,
    data,
    *,
    loss,
    optimizer=None,
    metrics=(),
    batch_size: int = 32,
    epochs: int = 1,
    steps_per_epoch: int | None = None,
    validation_data=None,
    validation_split: float = 0.0,
    validation_steps: int | None = None,
    shuffle: bool = True,
    callbacks=(),
    seed: int = 0,
    verbose: int = 1,
    checkpoint_dir=None,
    resume: bool = True,
    max_to_keep: int | None = 2,
    reset_state: bool = True,
    devices=None,
):
    """Train `model` from `variables`; returns (TrainState, History).

    Args:
      model: a `jrnn.Sequential` or `jrnn.Model`.
      variables: `model.init(...)`'s dict, or a TrainState to continue from (its
        optimizer state is kept).
      data: (x, y) or (x, y, sample_weight) arrays (x a list or dict for several
        inputs), or an iterable of such batches.
      loss: a name ("sparse_categorical_crossentropy", "mse", ...), a `jrnn.losses`
        instance, or `fn(y_true, y_pred) -> per-example loss`.
      optimizer: an Optax GradientTransformation (default `optax.adam(1e-3)`); use Optax
        schedules for the learning rate (logged as "learning_rate" when the optimizer is
        wrapped in `optax.inject_hyperparams`).
      metrics: names or `jrnn.metrics` objects ("accuracy" resolved by the loss).
      batch_size, epochs, shuffle, validation_data, validation_split: as Keras
        (batch_size None is 32; with an iterable of batches it is not used).
      steps_per_epoch: None (an epoch is one pass over `data`), or the number of batches
        an epoch takes from one stream over the data, passes after passes: epochs then
        need not line up with passes, and an endless iterable (`Dataset.repeat()`, a
        generator) can be trained on. Arrays are reshuffled per pass and a resumed run
        takes the same batches as an uninterrupted one (if batch_size, steps_per_epoch,
        shuffle and the row count are unchanged, else a warning); an iterable starts
        again from its beginning. Unlike Keras 3, which cuts an epoch short where a
        pass of arrays ends, every epoch has `steps_per_epoch` batches; only a one-shot
        iterator (a generator) can run out: fit then warns and stops after the epoch it
        ran out in. `reset_state` zeroes stateful carries at each epoch's start, which
        is then not a pass's start.
      validation_steps: None (all of `validation_data`), or at most this many of its
        batches per evaluation: the first ones of arrays or a re-iterable, the next
        ones of a one-shot iterator (an endless validation generator needs it).
      callbacks: `jrnn.callbacks` objects (EarlyStopping, ModelCheckpoint, CSVLogger, ...).
      seed: drives the shuffles and the dropout keys (not the initial parameters; when
        `variables` is a TrainState its own key keeps driving dropout).
      verbose: 0 silent, 1 a progress bar (one line per epoch when not a terminal), 2 one
        line per epoch.
      checkpoint_dir: save the training state after every epoch and, with `resume`,
        continue from the latest checkpoint there (epochs counts the total).
      reset_state: zero stateful RNN carries at the start of every epoch.
      devices: the devices to split each batch over (default all).
    """
    optimizer = optax.adam(1e-3) if optimizer is None else optimizer
    if not (
        callable(getattr(optimizer, "init", None)) and callable(getattr(optimizer, "update", None))
    ):
        raise TypeError(
            f"optimizer: got {type(optimizer).__name__}, expected an optax "
            f"GradientTransformation (e.g. optax.adam(1e-3))"
        )
    batch_size = _batch_size(batch_size)
    epochs = _positive_int("epochs", epochs)
    if steps_per_epoch is not None:
        steps_per_epoch = _positive_int("steps_per_epoch", steps_per_epoch)
    if validation_steps is not None:
        validation_steps = _positive_int("validation_steps", validation_steps)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: got {seed!r}, expected an integer >= 0")
    loss_fn = losses.get(loss)
    metric_fns = _metric_fns(metrics, loss_fn)
    if callbacks is None:
        callbacks = ()
    callbacks = [callbacks] if isinstance(callbacks, Callback) else list(callbacks)
    for i, cb in enumerate(callbacks):
        if not isinstance(cb, Callback):
            raise TypeError(
                f"callbacks[{i}]: got {type(cb).__name__}, expected a jrnn.callbacks.Callback"
            )
    train = _Data(data, "data", model.check_inputs)
    if validation_split and validation_data is None:  # Keras: validation_data wins
        if train.arrays is None:
            raise ValueError(
                "validation_split: needs (x, y) arrays, got an iterable of batches; pass "
                "validation_data instead"
            )
        head, tail = split_validation(train.arrays, validation_split)
        train.arrays = head
        validation_data = tuple(tail[k] for k in ("x", "y", "sample_weight") if k in tail)
    val = None
    if validation_data is not None:
        val = _Data(validation_data, "validation_data", model.check_inputs)
    for d in (train, val):
        if d is train and steps_per_epoch is not None:
            continue  # the stream reads on from where the last epoch stopped
        if d is val and validation_steps is not None:
            continue  # each evaluation reads on (a one-shot iterator: one stream)
        if d is not None and d.one_shot and epochs > 1:
            raise ValueError(
                f"{d.name}: got a one-shot iterator ({type(d.iterable).__name__}), which is "
                f"empty after the first epoch; pass a re-iterable (a list of batches, a "
                f"jrnn Dataset) or arrays, or epochs=1"
            )

    # What decides which batches an epoch takes: a resumed run checks it is unchanged.
    batching = {
        "batch_size": batch_size,
        "steps_per_epoch": steps_per_epoch,
        "shuffle": bool(shuffle),
        "rows": len(train) if train.arrays is not None else None,
    }

    if isinstance(variables, TrainState):
        state = variables
    else:
        state = create_train_state(_variables(variables), optimizer, seed)
    history = History()
    start_epoch = 0
    if checkpoint_dir is not None and not resume and checkpoint.all_steps(checkpoint_dir):
        # A fresh run saving among an older run's checkpoints would mix the two (and a
        # later resume could pick up the older run's newest epoch).
        raise ValueError(
            f"checkpoint_dir: {checkpoint_dir} holds checkpoints of an earlier run (epochs "
            f"{checkpoint.all_steps(checkpoint_dir)}) and resume=False; use resume=True to "
            f"continue it, or an empty directory"
        )
    if checkpoint_dir is not None and resume and checkpoint.latest_step(checkpoint_dir) is not None:
        state, meta = checkpoint.restore(checkpoint_dir, state)
        start_epoch = int(meta["epoch"])
        history = History.from_dict(meta["history"])
        if meta.get("seed", seed) != seed:
            warnings.warn(
                f"seed: got {seed}, but the run in {checkpoint_dir} was started with seed "
                f"{meta['seed']}; the resumed epochs will not repeat an uninterrupted run",
                stacklevel=2,
            )
        if "batches" in meta and meta["batches"] != batching:
            said = ", ".join(
                f"{k}={batching.get(k)} (checkpoint: {meta['batches'].get(k)})"
                for k in sorted(set(batching) | set(meta["batches"]))
                if batching.get(k) != meta["batches"].get(k)
            )
            warnings.warn(
                f"fit: got {said}; the resumed epochs will not take the batches an "
                f"uninterrupted run would",
                stacklevel=2,
            )

    mesh = data_mesh(devices)
    multiple = batch_multiple(mesh)
    if any(d is not None and d.arrays is not None for d in (train, val)):
        _check_state_rows(state.model_state, batch_size, multiple)
    # Carries are (B, ...) like the batch rows they continue: split them the same way,
    # so every step sees the same input shardings and the step compiles once.
    state = replicate(state, mesh)._replace(model_state=shard_rows(state.model_state, mesh))
    train_step = make_train_step(model, loss_fn, tuple(metric_fns), optimizer)
    eval_step = make_eval_step(model, loss_fn, tuple(metric_fns))

    loop = _Loop(model, state, history, epochs, start_epoch)
    stream = None
    if steps_per_epoch is not None:
        stream = _Stream(
            train,
            batch_size,
            multiple,
            shuffle=shuffle,
            seed=seed,
            steps=steps_per_epoch,
            start_epoch=start_epoch,
        )
    total = steps_per_epoch if stream is not None else train.steps(batch_size)
    bar = ProgressBar(total, verbose) if verbose else None
    hooks = [history, *callbacks] + ([bar] if bar else [])
    for cb in hooks:
        cb.loop = loop
    for cb in hooks:
        cb.on_train_begin({})

    logs = {}
    for epoch in range(start_epoch, epochs):
        if loop.stop_training:  # e.g. a resumed run whose EarlyStopping had already stopped
            break
        # Reset first, so on_epoch_begin sees (and may change) the state the epoch starts from.
        if reset_state and jax.tree.leaves(loop.state.model_state):
            zeros = jax.tree.map(jnp.zeros_like, loop.state.model_state)
            loop.state = loop.state._replace(model_state=shard_rows(zeros, mesh))
        for cb in hooks:
            cb.on_epoch_begin(epoch, {})
        acc = None
        pending = None  # (batch index, state before the step, running sums through it)
        batch_index = -1
        batches = (
            stream.epoch()
            if stream is not None
            else train.batches(batch_size, multiple, shuffle=shuffle, seed=seed, epoch=epoch)
        )
        for batch_index, batch in enumerate(batches):
            before = loop.state
            loop.state, sums = train_step(before, shard_batch(batch, mesh))
            acc = _add(acc, sums)
            # Read the previous step's results while this one runs: one step behind keeps
            # the device busy and still names the step where a loss went non-finite.
            if pending is not None and not _finish_batch(loop, hooks, pending, epoch):
                break
            pending = (batch_index, before, acc)
        if batch_index < 0:
            if stream is not None and epoch > start_epoch:  # ran out at an epoch's end
                warnings.warn(
                    f"data: ran out before epoch {epoch + 1} (steps_per_epoch="
                    f"{steps_per_epoch}); training stops after epoch {epoch}. A one-shot "
                    f"iterator must yield steps_per_epoch * epochs batches",
                    RuntimeWarning,
                    stacklevel=2,
                )
                break
            raise ValueError(f"data: got no batches in epoch {epoch + 1}, expected at least one")
        if loop.nonfinite is None:
            _finish_batch(loop, hooks, pending, epoch)
        if loop.nonfinite is not None:
            _stop_on_nonfinite(loop, callbacks, verbose)
            break
        logs = _logs(acc)
        lr = _learning_rate(loop.state.opt_state)
        if val is not None:
            logs.update(
                _evaluate(
                    model,
                    eval_step,
                    loop.state.variables,
                    val,
                    batch_size,
                    multiple,
                    mesh,
                    "val_",
                    max_steps=validation_steps,
                )
            )
        if lr is not None:
            logs["learning_rate"] = lr
        if stream is not None and stream.ended:
            # Keras's "Your input ran out of data": this epoch was short; no more epochs.
            warnings.warn(
                f"data: ran out after batch {batch_index + 1} of epoch {epoch + 1} "
                f"(steps_per_epoch={steps_per_epoch}); training stops after this epoch. "
                f"A one-shot iterator must yield steps_per_epoch * epochs batches; pass a "
                f"re-iterable (a list of batches, a jrnn Dataset) or arrays to read again",
                RuntimeWarning,
                stacklevel=2,
            )
            loop.stop_training = True
        for cb in hooks:
            cb.on_epoch_end(epoch, logs)
        if checkpoint_dir is not None:
            checkpoint.save(
                checkpoint_dir,
                epoch + 1,
                loop.state,
                metadata={
                    "epoch": epoch + 1,
                    "history": history.to_dict(),
                    "seed": seed,
                    "batches": batching,
                },
                max_to_keep=max_to_keep,
            )
        if loop.stop_training:
            break
    for cb in hooks:
        cb.on_train_end(dict(logs))
    return loop.state, history


def _metric_fns(metrics, loss_fn) -> list:
    """A list of metrics; one name or metric on its own is accepted as a list of one,
    None as none (Keras's default)."""
    if metrics is None:
        metrics = ()
    if isinstance(metrics, str) or not hasattr(metrics, "__iter__"):
        metrics = [metrics]
    fns = [metrics_lib.get(m, loss_fn) for m in metrics]
    names = [m.name for m in fns]
    dupes = sorted({n for n in names if names.count(n) > 1} | ({"loss"} & set(names)))
    if dupes:
        raise ValueError(f"metrics: got several metrics named {dupes} (or one named 'loss')")
    return fns


def _batch_size(value) -> int:
    """Keras: batch_size=None means 32."""
    return 32 if value is None else _positive_int("batch_size", value)


def _positive_int(name: str, value) -> int:
    try:
        if isinstance(value, bool):
            raise TypeError
        value = operator.index(value)
    except TypeError:
        raise TypeError(
            f"{name}: got {value!r} of type {type(value).__name__}, expected a positive integer"
        ) from None
    if value < 1:
        raise ValueError(f"{name}: got {value}, expected a positive integer")
    return value


def _finish_batch(loop, hooks, pending, epoch) -> bool:
    """Check a finished step's loss and run on_train_batch_end; False if non-finite."""
    batch_index, before, acc = pending
    batch_logs = _logs(acc)  # running means through this batch, as Keras's batch logs
    if not math.isfinite(batch_logs["loss"]):
        loop.nonfinite = {"epoch": epoch, "batch": batch_index, "step": int(before.step)}
        loop.state = before
        return False
    for cb in hooks:
        cb.on_train_batch_end(batch_index, batch_logs)
    return True


def _stop_on_nonfinite(loop, callbacks, verbose):
    nf = loop.nonfinite
    msg = (
        f"non-finite loss (or parameters) at epoch {nf['epoch'] + 1}, batch {nf['batch']} "
        f"(optimizer step "
        f"{nf['step']}); training stopped with the state before that step, which is not "
        f"checkpointed"
    )
    if any(isinstance(cb, TerminateOnNaN) and cb.raise_error for cb in callbacks):
        raise FloatingPointError(msg)
    warnings.warn(msg, RuntimeWarning, stacklevel=3)
    if verbose:
        print(msg, file=sys.stderr)


def _learning_rate(opt_state):
    """The current learning rate when the optimizer exposes it (`inject_hyperparams`)."""
    for node in jax.tree.leaves(opt_state, is_leaf=lambda n: hasattr(n, "hyperparams")):
        if hasattr(node, "hyperparams") and "learning_rate" in node.hyperparams:
            return float(jax.device_get(node.hyperparams["learning_rate"]))
    return None


# -- evaluate / predict -------------------------------------------------------------------------
def _evaluate(
    model, eval_step, variables, data, batch_size, multiple, mesh, prefix="", max_steps=None
):
    zeros = jax.tree.map(jnp.zeros_like, variables.get("state", {}))
    variables = {**variables, "state": shard_rows(zeros, mesh)}
    acc = None
    for batch in itertools.islice(data.batches(batch_size, multiple), max_steps):
        new_state, sums, _ = eval_step(variables, shard_batch(batch, mesh))
        variables = {**variables, "state": new_state}
        acc = _add(acc, sums)
    if acc is None:
        raise ValueError(f"{data.name}: got no batches, expected at least one")
    return _logs(acc, prefix)


def evaluate(model, variables, data, *, loss=None, metrics=(), batch_size: int = 32, devices=None):
    """Loss and metrics over `data` ((x, y[, sample_weight]) arrays or an iterable of
    batches): a dict like Keras's `evaluate(return_dict=True)`. Stateful carries start
    at zero and run through the batches in order."""
    batch_size = _batch_size(batch_size)
    loss_fn = None if loss is None else losses.get(loss)
    metric_fns = _metric_fns(metrics, loss_fn)
    d = _Data(data, "data", model.check_inputs)
    mesh = data_mesh(devices)
    v = _variables(variables)
    if d.arrays is not None:
        _check_state_rows(v.get("state", {}), batch_size, batch_multiple(mesh))
    v = replicate(v, mesh)
    step = make_eval_step(model, loss_fn, tuple(metric_fns))
    return _evaluate(model, step, v, d, batch_size, batch_multiple(mesh), mesh)


def predict(model, variables, x, *, batch_size: int = 32, devices=None):
    """Model outputs for every row of `x` (arrays, or a list/dict of arrays for several
    inputs), run in batches with one compiled function: NumPy arrays of exactly
    `num_rows(x)` rows (a list for several outputs). Stateful carries start from
    `variables["state"]` and run through the batches in order."""
    batch_size = _batch_size(batch_size)
    x = _as_arrays(x, "x")
    if num_rows(x) == 0:
        raise ValueError("x: got 0 rows, expected at least one row")
    d = _Data((x, np.zeros((num_rows(x),), np.float32)), "x", model.check_inputs)
    mesh = data_mesh(devices)
    v = _variables(variables)
    _check_state_rows(v.get("state", {}), batch_size, batch_multiple(mesh))
    v = {**replicate(v, mesh), "state": shard_rows(v.get("state", {}), mesh)}
    step = make_eval_step(model, None, ())
    outs = []
    for batch in d.batches(batch_size, batch_multiple(mesh)):
        new_state, _, y = step(v, shard_batch(batch, mesh))
        v = {**v, "state": new_state}
        n = int(batch["valid"].sum())
        outs.append(jax.tree.map(lambda a, n=n: np.asarray(a)[:n], y))
    return jax.tree.map(lambda *a: np.concatenate(a), *outs)
