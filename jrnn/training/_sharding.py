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

    Across processes every process must hold the same values."""
    whole = NamedSharding(mesh, PartitionSpec())
    return jax.tree.map(lambda a: _put(a, whole), tree)


def _put(a, sharding):
    """`a` as a global array laid out by `sharding`. On several processes each process
    fills only its own devices from its copy of the whole value (no collective: JAX's
    `device_put` would first check with every process that the values agree)."""
    if jax.process_count() == 1 or (isinstance(a, jax.Array) and not a.is_fully_addressable):
        return jax.device_put(a, sharding)
    if isinstance(a, jax.Array) and jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
        data = _put(jax.random.key_data(a), sharding)
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(a))
    host = np.asarray(a)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


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
        return jax.tree.map(lambda v: _put(v, sharding), batch)

    def from_local(v):
        v = np.asarray(v)
        shape = (v.shape[0] * jax.process_count(), *v.shape[1:])
        return jax.make_array_from_process_local_data(sharding, v, shape)

    return jax.tree.map(from_local, batch)
