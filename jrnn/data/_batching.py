"""Batching of in-memory arrays for the training loop (`fit`, `evaluate`, `predict`).

Deterministic shuffling per epoch and fixed-size batches, so a jit-compiled step compiles
once. A batch is a pytree of NumPy arrays whose leaves share their first (row) axis; x
may itself be a list or dict of arrays (several model inputs). Private: these belong to
the training stack and are re-exported by no public module.
"""

from __future__ import annotations

from collections.abc import Iterator

import jax
import numpy as np


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
