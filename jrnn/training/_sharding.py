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
    """Put every leaf on every device of the mesh (parameters, optimizer state)."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def shard_rows(tree, mesh: Mesh):
    """Split device arrays with a row axis (stateful carries, (B, ...)) over "data", like
    the batch rows they belong to; scalars stay replicated. Unlike `shard_batch`, works
    on arrays already on the devices (a carry returned by the previous step)."""
    rows = NamedSharding(mesh, PartitionSpec("data"))
    whole = NamedSharding(mesh, PartitionSpec())
    return jax.tree.map(lambda a: jax.device_put(a, rows if np.ndim(a) else whole), tree)


def shard_batch(batch, mesh: Mesh):
    """Split the rows of a host batch (NumPy) over the "data" axis.

    With several processes every process holds the same global batch (same data, same
    seed) and contributes the rows of its own devices.
    """
    sharding = NamedSharding(mesh, PartitionSpec("data"))
    if jax.process_count() == 1:
        return jax.device_put(batch, sharding)

    def local(v):
        v = np.asarray(v)
        per = v.shape[0] // jax.process_count()
        rows = v[jax.process_index() * per : (jax.process_index() + 1) * per]
        return jax.make_array_from_process_local_data(sharding, rows, v.shape)

    return jax.tree.map(local, batch)
