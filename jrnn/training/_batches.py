"""Host batches for fit, evaluate and predict: one epoch iterator over arrays, a
`jrnn.Dataset` or any iterable of (x, y[, sample_weight]) batches.

Every batch has one row count (so the compiled step compiles once): a short last batch
is padded and its "valid" (B,) row mask says which rows are real. Arrays are shuffled
per epoch from (seed, epoch) alone, so an epoch's batches follow from its number, which
is what makes resumed and continued runs repeat an uninterrupted one.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import jax
import numpy as np


class Batches:
    """(x, y[, sample_weight]) arrays, or an iterable of such batches, with `name` (the
    argument it came from) for errors. `check(x, y)` runs host-side checks (the model's
    input checks, the class labels): once on arrays, on every batch of an iterable."""

    def __init__(self, data, name: str, check=None):
        self.name = name
        self.arrays = None
        self.iterable = None
        self.check = check
        if is_array_tuple(data):
            x, y, *sw = data
            arrays = {"x": as_arrays(x, f"{name} (x)"), "y": as_arrays(y, f"{name} (y)")}
            if sw:
                arrays["sample_weight"] = as_arrays(sw[0], f"{name} (sample_weight)")
            self.arrays = arrays
            if num_rows(self.arrays, name) == 0:
                raise ValueError(f"{name}: got arrays with 0 rows, expected at least one row")
            if check is not None:
                check(arrays["x"], arrays["y"])
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
    def local(self) -> bool:
        """On several processes an iterable holds this process's own batches (each
        process passes its shard, e.g. `Dataset.shard(jax.process_count(),
        jax.process_index())`); arrays are the global data, the same everywhere."""
        return self.iterable is not None and jax.process_count() > 1

    @property
    def one_shot(self) -> bool:
        """An iterator (e.g. a generator): it can be read only once."""
        return self.iterable is not None and iter(self.iterable) is self.iterable

    def __len__(self):
        return num_rows(self.arrays)

    def steps(self, batch_size: int) -> int | None:
        """Batches in one pass, when known."""
        if self.arrays is None:
            try:
                return len(self.iterable)
            except TypeError:  # no length, or unknown (a Dataset after filter, repeat())
                return None
        return math.ceil(len(self) / batch_size)

    def split(self, fraction: float):
        """Keras's `validation_split`: keep the first rows, return the last `fraction` of
        them (before shuffling) as (x, y[, sample_weight])."""
        if self.arrays is None:
            raise ValueError(
                "validation_split: needs (x, y) arrays, got an iterable of batches; pass "
                "validation_data instead"
            )
        head, tail = split_validation(self.arrays, fraction)
        self.arrays = head
        return tuple(tail[k] for k in ("x", "y", "sample_weight") if k in tail)

    def one_pass(self, batch_size, multiple, *, shuffle=False, seed=0, epoch=0, skip=0):
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
        padded = self._padded(multiple)
        yield from (_in_rounds(padded, self.name) if self.local else padded)

    def _padded(self, multiple):
        rows = None
        for i, item in enumerate(self.iterable):
            batch = self._host_batch(i, item)
            n = num_rows(batch)
            if n == 0:
                raise ValueError(f"{self.name}: batch {i} has 0 rows, expected at least one")
            rows = rows or -(-n // multiple) * multiple
            yield _with_valid(pad_rows(batch, rows)[0], n)

    def _host_batch(self, i, item) -> dict:
        if not is_array_tuple(item):
            raise ValueError(
                f"{self.name}: batch {i} is a {type(item).__name__}, expected a tuple "
                f"(x, y) or (x, y, sample_weight) of arrays"
            )
        batch = {
            "x": as_arrays(item[0], f"{self.name} (x)"),
            "y": as_arrays(item[1], f"{self.name} (y)"),
        }
        if len(item) == 3:
            batch["sample_weight"] = as_arrays(item[2], f"{self.name} (sample_weight)")
        if self.check is not None:
            try:
                self.check(batch["x"], batch["y"])
            except (TypeError, ValueError) as e:
                raise type(e)(f"{self.name}: batch {i}: {e}") from None
        return batch


def _in_rounds(batches, name: str):
    """Per-process batches in rounds that every process takes together: each step is
    one batch from every process. A process whose shard has run out while others still
    have batches takes part with an all-padding batch (no row counts), so uneven shards
    lose no data and no process waits alone. One small all-gather per batch."""
    from jax.experimental import multihost_utils

    template = None
    for batch in itertools.chain(batches, itertools.repeat(None)):
        rows = -1 if batch is None else num_rows(batch)
        every = np.asarray(multihost_utils.process_allgather(np.int32(rows)))
        if (every < 0).all():
            return
        live = every[every >= 0]
        if (live != live[0]).any() or (batch is None and template is None):
            raise ValueError(
                f"{name}: the processes hold batches of {every.tolist()} rows (-1: none "
                f"left), expected one row count everywhere: give every process's shard "
                f"the same batch size"
            )
        if batch is None:
            batch = jax.tree.map(np.zeros_like, template)  # "valid" all False
        template = template or batch
        yield batch


class EpochIterator:
    """The batches of each training epoch.

    Without `steps_per_epoch` an epoch is one pass (arrays in the order of
    `epoch_order(seed, epoch)`). With it, one stream over the data, passes after passes,
    from which each epoch takes the next `steps_per_epoch` batches: arrays reshuffled per
    pass, the position following from the epoch number alone (a resumed or continued run
    sees the same batches); iterables read on from where the last epoch stopped,
    starting a new iteration when one ends; a one-shot iterator that ends, ends the
    stream, and `ended` is set.
    """

    def __init__(
        self, data: Batches, batch_size, multiple, *, shuffle, seed, steps_per_epoch, start_epoch
    ):
        self.data, self.batch_size, self.multiple = data, batch_size, multiple
        self.shuffle, self.seed, self.steps_per_epoch = shuffle, seed, steps_per_epoch
        self.ended = False
        self.taken = 0  # batches the current epoch has yielded so far
        self._start = start_epoch
        self._stream = None if steps_per_epoch is None else self._passes(start_epoch)

    @property
    def steps(self) -> int | None:
        """Batches per epoch, when known (for the progress bar)."""
        return self.steps_per_epoch or self.data.steps(self.batch_size)

    def epoch(self, epoch: int):
        """Yield epoch `epoch`'s batches. A stream that had run out exactly at the last
        epoch's end yields none (and sets `ended`); any other epoch without a batch is
        an error."""
        if self._stream is None:
            batches = self.data.one_pass(
                self.batch_size, self.multiple, shuffle=self.shuffle, seed=self.seed, epoch=epoch
            )
        else:
            batches = itertools.islice(self._stream, self.steps_per_epoch)
        self.taken = 0
        for batch in batches:
            self.taken += 1
            yield batch
        if self._stream is not None and self.taken < self.steps_per_epoch:
            self.ended = True
        if self.taken == 0 and not (self.ended and epoch > self._start):
            raise ValueError(f"data: got no batches in epoch {epoch + 1}, expected at least one")

    def _passes(self, start_epoch):
        data, size, multiple = self.data, self.batch_size, self.multiple
        if data.arrays is not None:
            p, k = divmod(start_epoch * self.steps_per_epoch, data.steps(size))
            while True:
                yield from data.one_pass(
                    size, multiple, shuffle=self.shuffle, seed=self.seed, epoch=p, skip=k
                )
                p, k = p + 1, 0
        while True:
            empty = True
            for batch in data.one_pass(size, multiple):
                empty = False
                yield batch
            if empty or data.one_shot:
                return


def is_array_tuple(data) -> bool:
    """(x, y) / (x, y, sample_weight), as opposed to a list of such batches.

    A tuple of 2 or 3 is always arrays (Keras's convention); a list of 2 or 3 is arrays
    unless every item is itself a (x, y[, w]) tuple, i.e. a list of batches.
    """
    if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
        return False
    if isinstance(data, tuple):
        return True
    return not all(isinstance(d, tuple) and len(d) in (2, 3) for d in data)


def as_arrays(v, name: str):
    """An array, or a list/tuple/dict of arrays (several inputs or outputs), as NumPy."""
    if isinstance(v, dict):
        return {k: as_arrays(a, f"{name}[{k!r}]") for k, a in v.items()}
    if isinstance(v, (list, tuple)) and v and all(hasattr(a, "shape") for a in v):
        return [as_arrays(a, f"{name}[{i}]") for i, a in enumerate(v)]
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


def check_state_rows(model_state, batch_size: int, multiple: int) -> None:
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


# -- arrays -> fixed-size batches ----------------------------------------------------------
def num_rows(tree, name: str = "data") -> int:
    """The shared length of the first axis of every leaf; a ValueError naming `name`
    when they differ."""
    leaves = jax.tree.leaves(tree)
    if not leaves:
        raise ValueError(f"{name}: got no arrays, expected (x, y) arrays with a row axis")
    sizes = {np.shape(v)[0] if np.ndim(v) else None for v in leaves}
    if None in sizes or len(sizes) != 1:
        shapes = [np.shape(v) for v in leaves]
        raise ValueError(f"{name}: got arrays of shapes {shapes}, expected one shared first axis")
    return sizes.pop()


def epoch_order(n: int, *, shuffle: bool, seed: int, epoch: int) -> np.ndarray:
    """Row order for `epoch`: a permutation drawn from (seed, epoch) alone, so an
    interrupted run that resumes at `epoch` sees exactly the same batches."""
    if not shuffle:
        return np.arange(n)
    return np.random.default_rng([seed, epoch]).permutation(n)


def padded_batches(
    tree, batch_size: int, order: np.ndarray, *, drop_remainder: bool = False
) -> Iterator[tuple[object, int]]:
    """Yield (batch, n_valid): batches of exactly `batch_size` rows in `order`.

    The last, short batch is padded by repeating its first row (so every id stays valid
    for an Embedding) and `n_valid` says how many rows are real; the training step
    weights the padding rows by zero. One shape means one compilation.
    """
    n = len(order)
    stop = n - n % batch_size if drop_remainder else n
    for start in range(0, stop, batch_size):
        idx = order[start : start + batch_size]
        valid = len(idx)
        if valid < batch_size:
            idx = np.concatenate([idx, np.full(batch_size - valid, idx[0])])
        yield jax.tree.map(lambda v, idx=idx: np.asarray(v)[idx], tree), valid


def pad_rows(batch, size: int):
    """Pad a batch (from a user's iterable) to `size` rows; returns (batch, n_valid)."""
    valid = num_rows(batch)
    if valid > size:
        raise ValueError(
            f"data: got a batch of {valid} rows after batches of {size}; batches after the "
            f"first may only be smaller (the last one)"
        )
    if valid == size:
        return batch, valid
    idx = np.concatenate([np.arange(valid), np.zeros(size - valid, np.int64)])
    return jax.tree.map(lambda v: np.asarray(v)[idx], batch), valid


def split_validation(tree, fraction: float):
    """Keras's `validation_split`: the last `fraction` of the rows, before shuffling."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation_split: got {fraction!r}, expected a number in (0, 1)")
    n = num_rows(tree)
    cut = n - int(n * fraction)
    if cut in (0, n):
        raise ValueError(
            f"validation_split: {fraction} of {n} rows leaves an empty training or validation set"
        )
    head = jax.tree.map(lambda v: np.asarray(v)[:cut], tree)
    tail = jax.tree.map(lambda v: np.asarray(v)[cut:], tree)
    return head, tail
