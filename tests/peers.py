"""Shared test helpers: Keras 3 (JAX backend) as an optional peer, and bitwise
comparison of pytrees.

Only the comparisons with Keras are skipped when it is missing (`@needs_keras`); every
other test runs."""

import jax
import numpy as np
import pytest

try:
    import keras
except ImportError:  # only the comparisons with Keras are skipped
    keras = None

needs_keras = pytest.mark.skipif(
    keras is None or keras.backend.backend() != "jax", reason="compares with Keras 3 (JAX backend)"
)


def np_leaves(tree) -> list:
    """The leaves as NumPy arrays, PRNG keys as their key data."""
    out = []
    for leaf in jax.tree.leaves(tree):
        if hasattr(leaf, "dtype") and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        out.append(np.asarray(leaf))
    return out


def bitwise_equal(a, b) -> bool:
    """Same tree structure, dtypes and bits."""
    la, lb = np_leaves(a), np_leaves(b)
    assert jax.tree.structure(a) == jax.tree.structure(b)
    assert len(la) == len(lb)
    return all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(la, lb))
