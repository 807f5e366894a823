"""Data parallelism: one mesh axis "data" over the devices; batches are split along it,
parameters and optimizer state are replicated. `jax.jit` then inserts the gradient
all-reduce. The same code runs on one CPU, one GPU, several GPUs, and several hosts
after `jax.distributed.initialize()` (each process feeds its own rows of every batch).
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def data_mesh(devices=None) -> Mesh:
    """A 1-D mesh named "data" over `devices` (default: every device of every process)."""
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("devices: got an empty list, expected at least one device")
    return Mesh(np.array(devices), ("data",))


def batch_multiple(mesh: Mesh) -> int:
    """Batches must hold a multiple of this many rows (one share per device)."""
    return mesh.devices.size


def replicate(tree, mesh: Mesh):
    """Put every leaf on every device of the mesh (parameters, optimizer state).

    Works across processes when every process holds the same values (JAX's
    `device_put` then places each process's own copies); PRNG keys go through their raw
    data, which `device_put` does not do for a mesh that spans processes."""
    whole = NamedSharding(mesh, PartitionSpec())
    return jax.tree.map(lambda a: _put(a, whole), tree)


def _put(a, sharding):
    if isinstance(a, jax.Array) and jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
        data = jax.device_put(jax.random.key_data(a), sharding)
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(a))
    return jax.device_put(a, sharding)


def shard_rows(tree, mesh: Mesh):
    """Split device arrays with a row axis (stateful carries, (B, ...)) over "data", like
    the batch rows they belong to; scalars stay replicated. Unlike `shard_batch`, works
    on arrays already on the devices (a carry returned by the previous step)."""
    rows = NamedSharding(mesh, PartitionSpec("data"))
    whole = NamedSharding(mesh, PartitionSpec())
    return jax.tree.map(lambda a: _put(a, rows if np.ndim(a) else whole), tree)


def shard_batch(batch, mesh: Mesh, *, local: bool = False):
    """Split the rows of a host batch (NumPy) over the "data" axis.

    By default the batch is the global one, the same on every process (arrays given to
    `fit` on each process); each device takes its rows of it. With `local=True` each
    process holds only its own rows (a per-process `Dataset.shard`), in process order,
    and the global batch is their concatenation.
    """
    sharding = NamedSharding(mesh, PartitionSpec("data"))
    if not local or jax.process_count() == 1:
        return jax.device_put(batch, sharding)

    def from_local(v):
        v = np.asarray(v)
        shape = (v.shape[0] * jax.process_count(), *v.shape[1:])
        return jax.make_array_from_process_local_data(sharding, v, shape)

    return jax.tree.map(from_local, batch)


def to_host(tree):
    """NumPy copies of device arrays, whole on every process (arrays split over
    processes are gathered: every process must call this at the same point)."""

    def fetch(a):
        if isinstance(a, jax.Array) and not a.is_fully_addressable:
            if not a.is_fully_replicated:
                from jax.experimental import multihost_utils

                return multihost_utils.process_allgather(a, tiled=True)
            return np.asarray(a.addressable_data(0))
        return jax.device_get(a)

    return jax.tree.map(fetch, tree)
