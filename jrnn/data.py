"""Host-side data preparation (NumPy): padding, one-hot labels, sliding windows, batches.

- `pad_sequences`, `to_categorical`: Keras's functions, with lengths back and clear errors.
- `Dataset` (jrnn/dataset.py): tf.data-like pipelines (shuffle, batch, padded_batch,
  bucket_by_sequence_length, ...) that `jrnn.fit` iterates once per epoch.
- `timeseries_dataset_from_array`: Keras's sliding windows over a series, as a Dataset.
- Batching of in-memory arrays for `fit`/`evaluate`/`predict` (`num_rows`, `epoch_order`,
  `padded_batches`, `pad_rows`, `split_validation`): deterministic shuffling per epoch and
  fixed-size batches, so a jit-compiled step compiles once. A batch is a pytree of NumPy
  arrays whose leaves share their first (row) axis; x may itself be a list or dict of
  arrays (several model inputs).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator

import jax
import numpy as np

from jrnn.dataset import Dataset  # re-exported: jrnn.data.Dataset


def num_rows(tree) -> int:
    """The shared length of the first axis of every leaf; a ValueError when they differ."""
    leaves = jax.tree.leaves(tree)
    if not leaves:
        raise ValueError("data: got no arrays, expected (x, y) arrays with a row axis")
    sizes = {np.shape(v)[0] if np.ndim(v) else None for v in leaves}
    if None in sizes or len(sizes) != 1:
        shapes = [np.shape(v) for v in leaves]
        raise ValueError(f"data: got arrays of shapes {shapes}, expected one shared first axis")
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


# -- sequences and labels -------------------------------------------------------------------
def _check_int(value, name: str, low: int, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: got {type(value).__name__} {value!r}, expected an integer")
    if value < low:
        raise ValueError(f"{name}: got {value}, expected an integer >= {low}")
    return int(value)


def pad_sequences(
    sequences,
    maxlen: int | None = None,
    dtype="int32",
    padding: str = "pre",
    truncating: str = "pre",
    value=0.0,
    return_lengths: bool = False,
):
    """Pad (and truncate) N sequences to one length T: Keras's `pad_sequences`.

    Each sequence is (len, *feature_shape) (a list of ids, or of feature vectors); the
    result is (N, T, *feature_shape) with T = `maxlen`, or the longest length. "pre"
    padding / truncation works at the start (Keras's default), "post" at the end.

    Args:
      sequences: N sequences (lists or arrays); empty ones become all `value`.
      maxlen: T, an int >= 0 (0 gives (N, 0)), or None for the longest.
      dtype: of the result; `object` or a str dtype for strings (an unsized `str` is sized
        to the longest string, where Keras would truncate every string to 1 character).
      value: the padding value; a str needs an object or str `dtype`.
      return_lengths: also return the (N,) int32 number of kept steps of each sequence
        (min(len, T)). They are the last steps with padding="pre", the first with "post"
        (the layout `jrnn.unroll(lengths=...)` expects).

    Returns: the (N, T, *feature_shape) array, and the lengths with `return_lengths`.

    >>> pad_sequences([[1], [2, 3], [4, 5, 6]], maxlen=2)
    array([[0, 1],
           [2, 3],
           [5, 6]], dtype=int32)
    >>> pad_sequences([[1], [2, 3]], padding="post", return_lengths=True)
    (array([[1, 0],
           [2, 3]], dtype=int32), array([1, 2], dtype=int32))
    """
    if not hasattr(sequences, "__len__"):
        raise TypeError(f"sequences: got {type(sequences).__name__}, expected a list of sequences")
    for name, mode in (("padding", padding), ("truncating", truncating)):
        if mode not in ("pre", "post"):
            raise ValueError(f"{name}: got {mode!r}, expected 'pre' or 'post'")
    maxlen = _check_int(maxlen, "maxlen", 0, allow_none=True)
    kind = np.dtype(dtype).kind
    if isinstance(value, str) and kind not in "OUS":
        raise ValueError(
            f"value: got the str {value!r}, which dtype {np.dtype(dtype)} cannot hold; use "
            f"dtype=object (or a str dtype) to pad strings"
        )
    lengths, first = [], None  # `first`: the first non-empty sequence sets the step shape
    for i, s in enumerate(sequences):
        try:
            lengths.append(len(s))
        except TypeError:
            raise ValueError(
                f"sequences[{i}]: got {type(s).__name__} {s!r:.60}, expected a sequence"
            ) from None
        if first is None and len(s):
            first = (i, _steps(s, i, None).shape[1:])
    step_shape = () if first is None else first[1]
    if maxlen is None:
        maxlen = max(lengths, default=0)
    if kind in "US" and np.dtype(dtype).itemsize == 0:  # unsized str: fit the longest
        longest = [_steps(s, i, kind) for i, s in enumerate(sequences) if len(s)]
        dtype = np.result_type(np.asarray(value, dtype=kind), *longest)
    x = np.full((len(sequences), maxlen, *step_shape), value, dtype=dtype)
    kept = np.minimum(np.asarray(lengths, np.int32).reshape(-1), maxlen)
    for i, s in enumerate(sequences):
        k = int(kept[i])
        if k == 0:
            continue
        steps = _steps(s[len(s) - k :] if truncating == "pre" else s[:k], i, dtype)
        if steps.shape[1:] != step_shape:
            raise ValueError(
                f"sequences[{i}]: got steps of shape {steps.shape[1:]}, expected "
                f"{step_shape} (the step shape of sequences[{first[0]}], the first non-empty)"
            )
        if padding == "post":
            x[i, :k] = steps
        else:
            x[i, maxlen - k :] = steps
    return (x, kept) if return_lengths else x


def _steps(s, i: int, dtype) -> np.ndarray:
    try:
        return np.asarray(s, dtype=dtype)
    except ValueError as e:  # ragged steps, or strings into a numeric dtype
        raise ValueError(
            f"sequences[{i}]: could not make an array of dtype {dtype} ({e}); expected "
            f"steps of one shape"
        ) from e


def to_categorical(y, num_classes: int | None = None, dtype="float32") -> np.ndarray:
    """One-hot encode integer labels: Keras's `to_categorical`.

    y: (...) class ids in [0, num_classes) (a trailing axis of size 1 is dropped, as
    Keras); num_classes: None infers max(y) + 1. Returns (..., num_classes) of `dtype`.
    Unlike Keras, a negative, too large or non-integer label raises (Keras wraps a
    negative label around and truncates 1.5 to 1).

    >>> to_categorical([0, 2], num_classes=3)
    array([[1., 0., 0.],
           [0., 0., 1.]], dtype=float32)
    """
    labels = np.asarray(y)
    if labels.dtype.kind not in "biuf":
        raise TypeError(f"y: got an array of dtype {labels.dtype}, expected integer labels")
    if labels.dtype.kind == "f":
        bad = labels[~np.isfinite(labels) | (labels != np.round(labels))]
        if bad.size:
            raise ValueError(f"y: got the non-integer label {bad[0]}, expected class ids")
    labels = labels.astype(np.int64)
    shape = labels.shape[:-1] if labels.ndim > 1 and labels.shape[-1] == 1 else labels.shape
    labels = labels.reshape(-1)
    if num_classes is None:
        if not labels.size:
            raise ValueError("y: got no labels, so num_classes cannot be inferred; pass it")
        num_classes = int(labels.max()) + 1
    num_classes = _check_int(num_classes, "num_classes", 1)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)][0]
        raise ValueError(f"y: got the label {bad}, expected labels in [0, {num_classes})")
    out = np.zeros((labels.size, num_classes), dtype=dtype)
    out[np.arange(labels.size), labels] = 1
    return out.reshape(*shape, num_classes)


# -- windows over a series ------------------------------------------------------------------
def timeseries_dataset_from_array(
    data,
    targets,
    sequence_length: int,
    sequence_stride: int = 1,
    sampling_rate: int = 1,
    batch_size: int | None = 128,
    shuffle: bool = False,
    seed: int | None = None,
    start_index: int | None = None,
    end_index: int | None = None,
) -> Dataset:
    """Sliding windows over a series, as a Dataset: Keras's `timeseries_dataset_from_array`.

    Window j starts at s_j = start_index + j * sequence_stride and holds
    data[s_j + k * sampling_rate] for k < sequence_length; its target is targets[s_j].
    Windows use only data[start_index:end_index]; those that would run past it (or past
    the targets) are left out. Elements are (windows (B, sequence_length, ...), targets
    (B, ...)) batches, or the windows alone when `targets` is None; batch_size=None
    gives single windows. `shuffle` permutes the windows with `seed` (as Keras: a fixed
    permutation, then a buffer of 8 batches reshuffled each iteration).

    >>> ds = timeseries_dataset_from_array(np.arange(10), None, 3, sequence_stride=3)
    >>> [w.tolist() for w in ds]
    [[[0, 1, 2], [3, 4, 5], [6, 7, 8]]]
    """
    data = np.asarray(data)
    if data.ndim == 0:
        raise ValueError(f"data: got a scalar {data!r}, expected an array with a time axis")
    n = len(data)
    sequence_length = _check_int(sequence_length, "sequence_length", 1)
    batch_size = _check_int(batch_size, "batch_size", 1, allow_none=True)
    for name, v in (("sequence_stride", sequence_stride), ("sampling_rate", sampling_rate)):
        if _check_int(v, name, 1) >= n:
            raise ValueError(f"{name}: got {v}, expected less than the data's length {n}")
    start = _check_int(start_index, "start_index", 0, allow_none=True) or 0
    end = n if end_index is None else _check_int(end_index, "end_index", 1)
    if start >= n or end > n or end <= start:  # Keras rejects end_index == len(data) too
        raise ValueError(
            f"start_index, end_index: got {start_index}, {end_index}, expected "
            f"0 <= start_index < end_index <= {n} (the data's length)"
        )
    count = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        targets = np.asarray(targets)
        count = min(count, len(targets) - start)
    starts = np.arange(0, max(count, 0), sequence_stride)
    if not len(starts):
        raise ValueError(
            f"sequence_length: windows of {sequence_length} steps every {sampling_rate} do not "
            f"fit in data[{start}:{end}]"
            + ("" if targets is None else f" with {len(targets)} targets")
        )
    if shuffle:
        seed = np.random.default_rng().integers(1_000_000) if seed is None else seed
        np.random.RandomState(seed).shuffle(starts)
    offsets = np.arange(sequence_length) * sampling_rate

    def windows(p):
        p = start + np.asarray(p)
        w = data[p[..., None] + offsets]
        return w if targets is None else (w, targets[p])

    ds = Dataset.from_tensor_slices(starts)
    if shuffle:
        ds = ds.shuffle(1024 if batch_size is None else 8 * batch_size, seed=seed)
    if batch_size is not None:
        ds = ds.batch(batch_size)
    return ds.map(windows)
