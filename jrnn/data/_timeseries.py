"""`timeseries_dataset_from_array`: Keras's sliding windows over a series, as a Dataset."""

from __future__ import annotations

import numpy as np

from jrnn._checks import check_bool, check_int
from jrnn.data._dataset import Dataset


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
    sequence_length = check_int("sequence_length", sequence_length, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1, allow_none=True)
    seed = check_int("seed", seed, minimum=0, allow_none=True)
    shuffle = check_bool("shuffle", shuffle)
    for name, v in (("sequence_stride", sequence_stride), ("sampling_rate", sampling_rate)):
        if check_int(name, v, minimum=1) >= n:
            raise ValueError(f"{name}: got {v}, expected less than the data's length {n}")
    start = check_int("start_index", start_index, minimum=0, allow_none=True) or 0
    end = n if end_index is None else check_int("end_index", end_index, minimum=1)
    if start >= n or end > n or end <= start:  # Keras rejects end_index == len(data) too
        raise ValueError(
            f"start_index, end_index: got {start_index}, {end_index}, expected "
            f"0 <= start_index < end_index <= {n} (the data's length)"
        )
    count = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        targets = np.asarray(targets)
        if targets.ndim == 0:
            raise ValueError(
                f"targets: got a scalar {targets!r}, expected None or one target per step"
            )
        count = min(count, len(targets) - start)
    starts = np.arange(0, max(count, 0), sequence_stride)
    if not len(starts):
        raise ValueError(
            f"sequence_length: windows of {sequence_length} steps every {sampling_rate} do not "
            f"fit in data[{start}:{end}]"
            + ("" if targets is None else f" with {len(targets)} targets")
            + "; expected at least one window"
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
