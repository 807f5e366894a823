"""Several processes: start JAX's distributed runtime, and the helpers `fit` uses on it.

jrnn writes no transport of its own. `initialize` hands its arguments to
`jax.distributed.initialize` (gloo collectives on CPU, NCCL on GPU), reading them from
the environment that `python -m jrnn.launch` sets, or letting JAX detect SLURM, Open MPI
or a TPU pod. It is a no-op on one process.

Failure in bounded time. JAX's coordination service ends a process whose peer stopped
sending heartbeats within `timeout` seconds. What it cannot see is a peer that raised a
Python exception: that peer waits in JAX's shutdown barrier while the others wait in the
next collective, and both hang (measured here: 5 minutes, until killed). So on several
processes `initialize` installs an exception hook that prints the traceback and ends
the process at once (`os._exit(1)`); the peers' next collective then fails
("connection closed by peer") or their heartbeat check ends them, within `timeout`.
"""

from __future__ import annotations

import os
import sys
import traceback

import jax
import numpy as np

from jrnn._checks import check_int

# What `python -m jrnn.launch` sets in each process's environment.
ENV_COORDINATOR = "JRNN_COORDINATOR_ADDRESS"
ENV_NUM_PROCESSES = "JRNN_NUM_PROCESSES"
ENV_PROCESS_ID = "JRNN_PROCESS_ID"
ENV_LOCAL_DEVICE_IDS = "JRNN_LOCAL_DEVICE_IDS"
ENV_TIMEOUT = "JRNN_DISTRIBUTED_TIMEOUT"

DEFAULT_TIMEOUT = 60

# Environments in which JAX finds the processes by itself (its cluster detection), with
# the variable that counts them.
_CLUSTER_SIZES = ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE")

_state = {"initialized": False, "timeout": None}


def _env_int(name: str):
    value = os.environ.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name}: got {value!r} in the environment, expected an integer") from None


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    local_device_ids=None,
    timeout: int | None = None,
) -> bool:
    """Join this process to a multi-process run; a no-op when there is only one process.

    Call it once at the start of the script, before any other JAX call; every process
    runs the same script. Arguments not given are read from the environment that
    `python -m jrnn.launch` sets (`JRNN_COORDINATOR_ADDRESS`, `JRNN_NUM_PROCESSES`,
    `JRNN_PROCESS_ID`, `JRNN_LOCAL_DEVICE_IDS`, `JRNN_DISTRIBUTED_TIMEOUT`); failing
    those, under SLURM, Open MPI or on a TPU pod JAX detects them itself.

    Args:
      coordinator_address: "host:port" of process 0's coordination service.
      num_processes: how many processes take part.
      process_id: this process's index, 0 <= process_id < num_processes.
      local_device_ids: the local devices this process uses (an int or a list of
        ints); default all (under SLURM / Open MPI on GPUs, JAX gives one each).
      timeout: seconds (default 60) after which a process that has stopped answering
        counts as failed; its peers then end with an error. It also bounds start-up
        (connecting to the coordinator) and the wait for the others at exit.

    Returns:
      True when this process is part of a multi-process run, False when alone.
    """
    coordinator_address = coordinator_address or os.environ.get(ENV_COORDINATOR)
    if num_processes is None:
        num_processes = _env_int(ENV_NUM_PROCESSES)
    if process_id is None:
        process_id = _env_int(ENV_PROCESS_ID)
    if local_device_ids is None and os.environ.get(ENV_LOCAL_DEVICE_IDS):
        local_device_ids = [int(i) for i in os.environ[ENV_LOCAL_DEVICE_IDS].split(",")]
    if timeout is None:
        timeout = _env_int(ENV_TIMEOUT) or DEFAULT_TIMEOUT
    timeout = check_int("timeout", timeout, minimum=1)
    if num_processes is not None:
        num_processes = check_int("num_processes", num_processes, minimum=1)
    if process_id is not None:
        process_id = check_int("process_id", process_id, minimum=0)
        if num_processes is not None and process_id >= num_processes:
            raise ValueError(
                f"process_id: got {process_id}, expected 0 <= process_id < num_processes "
                f"({num_processes})"
            )
    if coordinator_address is not None and not isinstance(coordinator_address, str):
        raise TypeError(
            f"coordinator_address: got {type(coordinator_address).__name__}, expected a "
            "'host:port' string"
        )

    if _state["initialized"]:  # a second call (the arguments are checked all the same)
        return jax.process_count() > 1
    explicit = coordinator_address is not None or num_processes not in (None, 1)
    in_cluster = any((_env_int(v) or 1) > 1 for v in _CLUSTER_SIZES) or "," in os.environ.get(
        "TPU_WORKER_HOSTNAMES", ""
    )
    if num_processes == 1 or not (explicit or in_cluster):
        _state["initialized"] = True
        return False
    if explicit and (coordinator_address is None or num_processes is None or process_id is None):
        raise ValueError(
            "coordinator_address, num_processes and process_id: got "
            f"{coordinator_address!r}, {num_processes!r}, {process_id!r}; expected all "
            "three (or none, to let JAX detect SLURM / Open MPI / TPU pods)"
        )
    # CPU collectives across processes go through gloo (JAX's default since 0.5.1; set
    # here so an older default or a user's environment cannot leave them off).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
        local_device_ids=local_device_ids,
        initialization_timeout=max(timeout, 30),
        heartbeat_timeout_seconds=timeout,
        shutdown_timeout_seconds=timeout,
    )
    _state.update(initialized=True, timeout=timeout)
    if jax.process_count() > 1:
        sys.excepthook = _exit_at_once
    return jax.process_count() > 1


def _exit_at_once(kind, value, tb):
    """An uncaught exception on one of several processes: report it and leave without
    JAX's shutdown barrier, so the peers notice at once instead of hanging."""
    traceback.print_exception(kind, value, tb)
    print(
        f"jrnn.distributed: process {jax.process_index()} of {jax.process_count()} failed; "
        "ending it now so that its peers stop too",
        file=sys.stderr,
        flush=True,
    )
    sys.stdout.flush()
    os._exit(1)


def is_primary() -> bool:
    """True on the process that writes files (checkpoints, logs, saved models): process 0."""
    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Wait until every process reaches the barrier `name` (a no-op on one process)."""
    if not isinstance(name, str):
        raise TypeError(f"name: got {type(name).__name__}, expected a str naming the barrier")
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def host_copy(tree):
    """NumPy copies of the leaves, whole on every process. Arrays split over processes
    (stateful carries, predictions) are gathered, a collective: on several processes
    every process must call this at the same point."""

    def fetch(a):
        if not isinstance(a, jax.Array):
            return a
        if not a.is_fully_addressable:
            if not a.is_fully_replicated:
                from jax.experimental import multihost_utils

                return multihost_utils.process_allgather(a, tiled=True)
            a = a.addressable_data(0)  # every process already holds all of it
        # Typed PRNG keys stay JAX arrays: NumPy has no dtype for them.
        return a if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key) else np.asarray(a)

    return jax.tree.map(fetch, tree)
