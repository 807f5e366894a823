"""`fit`, `evaluate` and `predict`: orchestration of the pieces (objective, compiled
steps, epoch iterator, callback list, resume), nothing more."""

from __future__ import annotations

import functools
import itertools
import math
import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from jrnn._checks import check_int, check_positive_int
from jrnn._distributed import host_copy, is_primary
from jrnn.metrics import ExpOfMean
from jrnn.models import Model
from jrnn.training import _resume
from jrnn.training._batches import (
    Batches,
    EpochIterator,
    as_arrays,
    check_state_rows,
    num_rows,
)
from jrnn.training._callbacks import (
    CallbackList,
    History,
    ProgressBar,
    check_verbose,
    learning_rate,
    nonfinite_message,
)
from jrnn.training._objective import build_objective, host_checks, warn_if_logits
from jrnn.training._optimizers import get_optimizer
from jrnn.training._sharding import (
    batch_multiple,
    data_mesh,
    replicate,
    shard_batch,
    shard_rows,
)
from jrnn.training._state import TrainState, as_variables, create_train_state
from jrnn.training._steps import make_eval_step, make_predict_step, make_train_step


def fit(
    model,
    variables,
    data,
    *,
    loss,
    optimizer=None,
    metrics=(),
    loss_weights=None,
    class_weight=None,
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
    """Train `model` from `variables` for `epochs` epochs; returns (TrainState, History).

    Args:
      model: a `jrnn.Sequential` or `jrnn.Model`.
      variables: `model.init(...)`'s dict, or the TrainState a previous `fit` returned:
        training then continues it (optimizer state, step, dropout key and epoch count
        carry on, the next epoch is shuffled as an uninterrupted run would shuffle it,
        and the compiled steps are reused), so `fit(epochs=1)` n times equals
        `fit(epochs=n)` bitwise. As in Keras, each call trains `epochs` more epochs.
      data: (x, y) or (x, y, sample_weight) arrays (x a list or dict for several
        inputs; y and sample_weight a list, or a dict by output name, for several
        outputs), or an iterable of such batches (a `jrnn.Dataset`). On several
        processes (`jrnn.distributed`) arrays are the global data, the same on every
        process, while an iterable holds this process's own batches (e.g.
        `ds.shard(jax.process_count(), jax.process_index()).batch(b)`, b rows each:
        global batches of b times the process count).
      loss: a name ("sparse_categorical_crossentropy", "mse", ...), a `jrnn.losses`
        instance, or `fn(y_true, y_pred) -> per-example loss`; for several outputs one
        loss for all, a list, or a dict by output name (None: that output is not
        trained). The training loss is `Σ_k loss_weights[k] · loss_k`.
      optimizer: an Optax GradientTransformation (default `optax.adam(1e-3)`), or
        "adam", "adamw", "rmsprop", "sgd" with Keras's defaults. Learning-rate schedules
        are Optax schedules (logged as "learning_rate" with `optax.inject_hyperparams`).
      metrics: names or `jrnn.metrics` objects ("accuracy" resolved by the loss); for
        several outputs a dict by output name or one list per output.
      loss_weights: None (all 1), or a list or dict by output name.
      class_weight: {class id: weight} (Keras): the training loss of each label is
        weighted by its class's weight (classes not listed weigh 1); one output only.
      batch_size: rows per step (None is 32, as Keras); a short last batch is padded
        and its padding rows weigh nothing. Not used with an iterable of batches.
      epochs: epochs to train (>= 1), counted from the state given.
      steps_per_epoch: None (an epoch is one pass over `data`), or the number of batches
        each epoch takes from one stream over the data, passes after passes (arrays
        reshuffled per pass; an endless `Dataset.repeat()` or generator can be trained
        on; a one-shot iterator that runs out ends training with a warning).
      validation_data: evaluated after every epoch (logged with a "val_" prefix): the
        same forms as `data`.
      validation_split: a fraction in [0, 1) of the rows of array `data`, the last ones
        before shuffling, held out as validation data (as Keras; ignored when
        `validation_data` is given).
      validation_steps: None (all of `validation_data`), or at most this many of its
        batches per evaluation (the next ones of a one-shot iterator).
      shuffle: reshuffle array rows every epoch (from `seed` and the epoch number).
      callbacks: `jrnn.callbacks` objects (EarlyStopping, ModelCheckpoint, CSVLogger, ...).
      seed: drives the shuffles and, for new variables, the dropout key.
      verbose: 0 silent; 1 (or "auto") a progress bar on a terminal, elsewhere a line
        every 10 s and one per epoch (see `jrnn.callbacks.ProgressBar`); 2 one line
        per epoch.
      checkpoint_dir: save the TrainState after every epoch (atomically) and, with
        `resume`, continue from the latest checkpoint there: the run then ends at the
        same epoch as without the interruption (`epochs` counts from the state given,
        not from the checkpoint).
      resume: continue from `checkpoint_dir`'s latest checkpoint when there is one
        (False: start from `variables`, refusing a directory that holds checkpoints).
      max_to_keep: checkpoints kept in `checkpoint_dir` (None: all).
      reset_state: zero stateful RNN carries at the start of every epoch.
      devices: the devices to split each batch over (default all).

    Returns:
      (state, history): the TrainState after the last epoch (pass it back as
      `variables` to train on, or to `evaluate` / `predict`), and the `History` of
      every epoch's logs (with the restored epochs' when resumed).

    Warns when a probability loss (`from_logits=False`) gets predictions in the first
    batch that are not probabilities (logits), and when the loss goes non-finite (then
    training stops with the state before that step).
    """
    _check_model(model)
    optimizer = get_optimizer(optimizer)
    batch_size = _batch_size(batch_size)
    epochs = check_positive_int("epochs", epochs)
    steps_per_epoch = check_int("steps_per_epoch", steps_per_epoch, minimum=1, allow_none=True)
    validation_steps = check_int("validation_steps", validation_steps, minimum=1, allow_none=True)
    seed = _check_seed(seed)
    verbose = check_verbose(verbose)
    max_to_keep = check_int("max_to_keep", max_to_keep, minimum=1, allow_none=True)
    objective = build_objective(model, loss, metrics, loss_weights, class_weight)
    check = host_checks(model, as_variables(variables)["params"], objective)
    train, val = _fit_data(
        check, data, validation_data, validation_split, epochs, steps_per_epoch, validation_steps
    )
    rows = len(train) if train.arrays is not None else None
    batching = _resume.batching_signature(batch_size, steps_per_epoch, shuffle, rows)
    state, history, end = _start(variables, optimizer, epochs, seed, checkpoint_dir, resume,
                                 batching, verbose)  # fmt: skip
    mesh = data_mesh(devices)
    _check_stateful(state.model_state, train, val, batch_size, batch_multiple(mesh), shuffle)
    start = int(state.epoch)
    batches = EpochIterator(train, batch_size, batch_multiple(mesh), shuffle=shuffle, seed=seed,
                            steps_per_epoch=steps_per_epoch, start_epoch=start)  # fmt: skip
    loop = CallbackList(callbacks, model=model, state=_placed(state, mesh), history=history,
                        epochs=end, initial_epoch=start)  # fmt: skip
    if verbose and is_primary():  # one progress bar for a multi-process run
        loop.append(ProgressBar(batches.steps, verbose))
    train_step = make_train_step(model, objective, optimizer)
    validate = None
    if val is not None:
        eval_step = make_eval_step(model, objective.for_evaluation())
        validate = functools.partial(_evaluate, eval_step, data=val, batch_size=batch_size,
                                     mesh=mesh, prefix="val_",
                                     max_steps=validation_steps)  # fmt: skip

    loop.on_train_begin({})
    logs = {}
    for epoch in range(start, end):
        if loop.stop_training:  # e.g. a resumed run whose EarlyStopping had already stopped
            break
        probe_for = objective if epoch == start else None  # warn once per fit, at batch 0
        epoch_logs = _epoch(loop, epoch, batches, train_step, validate, mesh, reset_state,
                            verbose, probe_for)  # fmt: skip
        if epoch_logs is None:  # on_train_end gets the last finished epoch's logs
            break
        logs = epoch_logs
        if checkpoint_dir is not None:
            _resume.save(checkpoint_dir, loop.state, history, seed=seed, batching=batching,
                         max_to_keep=max_to_keep)  # fmt: skip
    loop.on_train_end(dict(logs))
    return loop.state, history


def _check_stateful(model_state, train, val, batch_size, multiple, shuffle):
    """Stateful carries need batches of their row count, and rows that follow each other
    from batch to batch (Keras: `shuffle=False`)."""
    if any(d is not None and d.arrays is not None for d in (train, val)):
        check_state_rows(model_state, batch_size, multiple)
    if shuffle and train.arrays is not None and jax.tree.leaves(model_state):
        warnings.warn(
            "shuffle: got True for a model with stateful layers; each batch's rows then "
            "continue the carries of other rows. Pass shuffle=False so row i of every batch "
            "continues row i of the batch before",
            stacklevel=3,
        )


def _start(variables, optimizer, epochs, seed, checkpoint_dir, resume, batching, verbose):
    """The state to train from, the history so far and the epoch to end at: a new
    TrainState from variables, or the one given, then the latest checkpoint of
    `checkpoint_dir` if any (the run still ends `epochs` after the state given)."""
    _resume.check_directory(checkpoint_dir, resume)
    state = _as_train_state(variables, optimizer, seed)
    end = int(state.epoch) + epochs
    restored = (
        _resume.restore(checkpoint_dir, state, seed=seed, batching=batching) if resume else None
    )
    if restored is None:
        return state, History(), end
    if verbose and is_primary():
        print(f"fit: resumed from epoch {int(restored[0].epoch)} of {checkpoint_dir}")
    return restored[0], History.from_dict(restored[1]), end


def _epoch(loop, epoch, batches, train_step, validate, mesh, reset_state, verbose, probe_for):
    """Train one epoch and run its hooks: the epoch's logs, or None when training ends
    without finishing it (a non-finite loss, or a stream that had run out). With
    `probe_for` (the objective), the first batch's predictions are checked for logits
    given to a probability loss."""
    if reset_state:  # before on_epoch_begin, which sees (and may change) the start state
        loop.state = loop.state._replace(model_state=_zeros(loop.state.model_state, mesh))
    loop.on_epoch_begin(epoch, {})
    sums = _train_epoch(loop, train_step, batches.epoch(epoch), mesh, epoch, probe_for,
                        local=batches.data.local)  # fmt: skip
    if sums is None:  # a stream that ran out exactly at the previous epoch's end
        _warn_ran_out(f"before epoch {epoch + 1}", f"training stops after epoch {epoch}",
                      batches.steps_per_epoch)  # fmt: skip
        return None
    if loop.nonfinite is not None:
        _warn_nonfinite(loop.nonfinite, verbose)
        return None
    loop.state = loop.state._replace(epoch=replicate(np.int32(epoch + 1), mesh))
    logs = _means(sums)
    if validate is not None:
        logs.update(validate(variables=loop.state.variables))
    lr = learning_rate(loop.state.opt_state)
    if lr is not None:
        logs["learning_rate"] = lr
    if batches.ended:  # Keras's "Your input ran out of data": no more epochs
        _warn_ran_out(f"after batch {batches.taken} of epoch {epoch + 1}",
                      "training stops after this epoch", batches.steps_per_epoch)  # fmt: skip
        loop.stop_training = True
    loop.on_epoch_end(epoch, logs)
    return logs


def _fit_data(
    check, data, validation_data, validation_split, epochs, steps_per_epoch, validation_steps
):
    """The training and validation Batches; refuses a one-shot iterator that more than
    one epoch would read again."""
    train = Batches(data, "data", check)
    if validation_split and validation_data is None:  # Keras: validation_data wins
        validation_data = train.split(validation_split)
    val = None
    if validation_data is not None:
        val = Batches(validation_data, "validation_data", check)
    for d, reads_on in ((train, steps_per_epoch), (val, validation_steps)):
        if d is not None and reads_on is None and d.one_shot and epochs > 1:
            raise ValueError(
                f"{d.name}: got a one-shot iterator ({type(d.iterable).__name__}), which is "
                f"empty after the first epoch; pass a re-iterable (a list of batches, a "
                f"jrnn Dataset) or arrays, or epochs=1"
            )
    return train, val


def _train_epoch(loop, train_step, batches, mesh, epoch, probe_for=None, local=False):
    """Run one epoch's steps and return the summed (total, count) logs, or None when
    there was no batch. Each step's loss is read one step behind, so the device stays
    busy; a non-finite one puts back the state before that step and sets
    `loop.nonfinite`."""
    acc = pending = None
    for index, batch in enumerate(batches):
        before = loop.state
        loop.state, sums, probe = train_step(before, shard_batch(batch, mesh, local=local))
        acc = sums if acc is None else jax.tree.map(jnp.add, acc, sums)
        if pending is not None and not _finish_batch(loop, pending, epoch, probe_for):
            return acc
        pending = (index, before, acc, probe if index == 0 else None)
    if pending is None:
        return None
    _finish_batch(loop, pending, epoch, probe_for)
    return acc


def _finish_batch(loop, pending, epoch, probe_for) -> bool:
    """Check a finished step's loss and run on_train_batch_end; False if non-finite.
    The first batch's probe comes in the same transfer as its sums."""
    index, before, acc, probe = pending
    acc, probe = jax.device_get((acc, probe))
    if probe and probe_for is not None:
        warn_if_logits(probe_for, probe, stacklevel=5)
    logs = _means(acc)  # running means through this batch, as Keras's batch logs
    finite = math.isfinite(logs["loss"])
    if not finite:
        half = any(jnp.result_type(v) == jnp.float16 for v in jax.tree.leaves(before.params))
        loop.nonfinite = {"epoch": epoch, "batch": index, "step": int(before.step), "float16": half}
        loop.state = before
        loop.stop_training = True
    loop.on_train_batch_end(index, logs)
    return finite


def _warn_nonfinite(where, verbose):
    msg = nonfinite_message(where)
    warnings.warn(msg, RuntimeWarning, stacklevel=4)
    if verbose:
        print(msg, file=sys.stderr)


def _warn_ran_out(when, then, steps_per_epoch):
    warnings.warn(
        f"data: ran out {when} (steps_per_epoch={steps_per_epoch}); {then}. A one-shot "
        f"iterator must yield steps_per_epoch * epochs batches; pass a re-iterable (a list "
        f"of batches, a jrnn Dataset) or arrays to read again",
        RuntimeWarning,
        stacklevel=4,
    )


# -- small pieces ---------------------------------------------------------------------------
def _as_train_state(variables, optimizer, seed) -> TrainState:
    if isinstance(variables, TrainState):
        return variables
    return create_train_state(as_variables(variables), optimizer, seed)


def _placed(state, mesh):
    """Replicate the state; carries are (B, ...) like the batch rows they continue, so
    split them the same way and every step sees the same input shardings (one compile)."""
    return replicate(state, mesh)._replace(model_state=shard_rows(state.model_state, mesh))


def _zeros(model_state, mesh):
    if not jax.tree.leaves(model_state):
        return model_state
    return shard_rows(jax.tree.map(jnp.zeros_like, model_state), mesh)


def _means(acc, prefix="") -> dict:
    """Means from summed (total, count) pairs, keys sorted (as Keras 3's logs); the
    exp of the mean for an `ExpOfMean` pair (perplexity)."""
    values = jax.device_get(acc)
    logs = {}
    for k in sorted(values):
        total, count = values[k]
        mean = float(total / count) if count > 0 else 0.0
        if isinstance(values[k], ExpOfMean):
            with np.errstate(over="ignore"):  # a diverged model's perplexity is inf
                mean = float(np.exp(mean))
        logs[prefix + k] = mean
    return logs


def _check_model(model) -> None:
    if not isinstance(model, Model):
        raise TypeError(
            f"model: got {type(model).__name__}, expected a jrnn Model (jrnn.Sequential or "
            f"jrnn.Model; a layer on its own runs as jrnn.Sequential([layer]))"
        )


def _batch_size(value) -> int:
    """Keras: batch_size=None means 32."""
    return 32 if value is None else check_positive_int("batch_size", value)


def _check_seed(seed) -> int:
    return check_int("seed", seed, minimum=0)


# -- evaluate / predict -------------------------------------------------------------------------
def _evaluate(eval_step, *, variables, data, batch_size, mesh, prefix="", max_steps=None,
              probe_for=None):  # fmt: skip
    """Logs of one pass over `data`, stateful carries starting at zero; with `probe_for`
    (the objective), warns when the first batch's predictions look like logits given to
    a probability loss."""
    variables = {**variables, "state": _zeros(variables.get("state", {}), mesh)}
    acc = first_probe = None
    # islice, not a counted break: a one-shot iterator must not lose the batch after.
    for batch in itertools.islice(data.one_pass(batch_size, batch_multiple(mesh)), max_steps):
        new_state, sums, probe = eval_step(variables, shard_batch(batch, mesh, local=data.local))
        variables = {**variables, "state": new_state}
        first_probe = probe if acc is None else first_probe
        acc = sums if acc is None else jax.tree.map(jnp.add, acc, sums)
    if acc is None:
        raise ValueError(f"{data.name}: got no batches, expected at least one")
    acc, first_probe = jax.device_get((acc, first_probe))
    if first_probe and probe_for is not None:
        warn_if_logits(probe_for, first_probe, stacklevel=3)
    return _means(acc, prefix)


def evaluate(
    model,
    variables,
    data,
    *,
    loss=None,
    metrics=(),
    loss_weights=None,
    batch_size: int = 32,
    devices=None,
):
    """Loss and metrics over `data`: a dict like Keras's `evaluate(return_dict=True)`,
    with `fit`'s keys ("loss", metric names; "<output>_loss" ... for several outputs).
    Stateful carries start at zero and run through the batches in order.

    Args:
      model: a `jrnn.Sequential` or `jrnn.Model`.
      variables: `model.init(...)`'s dict or a TrainState.
      data: (x, y) or (x, y, sample_weight) arrays, or an iterable of such batches
        (as `fit`'s).
      loss: as `fit`'s; None reports the metrics only.
      metrics: as `fit`'s.
      loss_weights: as `fit`'s (None: all 1).
      batch_size: rows per step (None is 32); a short last batch is padded and its
        padding rows weigh nothing.
      devices: the devices to split each batch over (default all).

    Returns:
      {log key: float}, means over all rows (and unmasked steps) of `data`.
    """
    _check_model(model)
    batch_size = _batch_size(batch_size)
    objective = build_objective(model, loss, metrics, loss_weights)
    d = Batches(data, "data", host_checks(model, as_variables(variables)["params"], objective))
    mesh = data_mesh(devices)
    v = as_variables(variables)
    if d.arrays is not None:
        check_state_rows(v.get("state", {}), batch_size, batch_multiple(mesh))
    v = replicate(v, mesh)
    return _evaluate(make_eval_step(model, objective), variables=v, data=d,
                     batch_size=batch_size, mesh=mesh, probe_for=objective)  # fmt: skip


def predict(model, variables, x, *, batch_size: int = 32, devices=None):
    """Model outputs for every row of `x`, run in batches with one compiled function.
    Stateful carries start from `variables["state"]` and run through the batches in order.

    Args:
      model: a `jrnn.Sequential` or `jrnn.Model`.
      variables: `model.init(...)`'s dict or a TrainState.
      x: (N, ...) arrays, or a list or dict of them for several inputs.
      batch_size: rows per step (None is 32); a short last batch is padded and the
        padding rows' outputs dropped.
      devices: the devices to split each batch over (default all).

    Returns:
      NumPy arrays of exactly N rows: one for one output, a list for several.
    """
    _check_model(model)
    batch_size = _batch_size(batch_size)
    x = as_arrays(x, "x")
    rows = num_rows(x, "x")
    if rows == 0:
        raise ValueError("x: got 0 rows, expected at least one row")
    v = as_variables(variables)
    # Shapes checked (abstractly) on x as given: after batching, an error would name the
    # padded batch's shape, which the caller never passed. Without the state, whose rows
    # are the batch's, not x's.
    jax.eval_shape(lambda v, x: model.apply(v, x), {**v, "state": {}}, x)
    d = Batches((x, np.zeros((rows,), np.float32)), "x", lambda x, y: model.check_inputs(x))
    mesh = data_mesh(devices)
    check_state_rows(v.get("state", {}), batch_size, batch_multiple(mesh))
    v = {**replicate(v, mesh), "state": shard_rows(v.get("state", {}), mesh)}
    step = make_predict_step(model)
    outs = []
    for batch in d.one_pass(batch_size, batch_multiple(mesh)):
        new_state, y = step(v, shard_batch(batch["x"], mesh))
        v = {**v, "state": new_state}
        n = int(batch["valid"].sum())
        outs.append(jax.tree.map(lambda a, n=n: a[:n], host_copy(y)))
    return jax.tree.map(lambda *a: np.concatenate(a), *outs)
