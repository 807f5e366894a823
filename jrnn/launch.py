"""Start a script on several local processes: `python -m jrnn.launch --nproc N script.py ...`.

For a run on one machine (several CPU processes, or one process per GPU). The launcher
picks a free port for process 0's coordinator, starts N copies of the script with the
environment `jrnn.distributed.initialize()` reads, prefixes each line of their output
with "[i] ", and returns 0 when all succeed. When one fails (a non-zero exit or a
signal), it stops the others (SIGTERM, then SIGKILL after `--grace` seconds: JAX's
preemption handler catches SIGTERM) and returns the first failure's exit code
(128 + signal number for a signal, as a shell reports it).

On a cluster use its own launcher (SLURM's srun, mpirun): `jrnn.distributed.initialize()`
lets JAX detect those.

    python -m jrnn.launch --nproc 2 experiments/demo.py --epochs 1
    python -m jrnn.launch --nproc 2 --cpu-devices 2 train.py      # 2 processes x 2 CPUs
    python -m jrnn.launch --nproc 4 --gpus-per-process 1 train.py # one GPU each
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from jrnn._distributed import (
    DEFAULT_TIMEOUT,
    ENV_COORDINATOR,
    ENV_LOCAL_DEVICE_IDS,
    ENV_NUM_PROCESSES,
    ENV_PROCESS_ID,
    ENV_TIMEOUT,
)


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _parse(argv):
    parser = argparse.ArgumentParser(
        prog="python -m jrnn.launch",
        description="Run a Python script on several local processes joined by "
        "jrnn.distributed.initialize().",
    )
    parser.add_argument("--nproc", type=int, required=True, help="number of processes")
    parser.add_argument(
        "--cpu-devices",
        type=int,
        default=None,
        help="CPU devices per process (sets JAX_NUM_CPU_DEVICES); default JAX's (one)",
    )
    parser.add_argument(
        "--gpus-per-process",
        type=int,
        default=None,
        help="give process i the local GPUs i*K .. i*K+K-1; default: JAX's choice",
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=DEFAULT_TIMEOUT,
        help=f"seconds before a silent peer counts as failed (default {DEFAULT_TIMEOUT})",
    )
    parser.add_argument(
        "--grace", type=float, default=5.0, help="seconds between SIGTERM and SIGKILL"
    )
    parser.add_argument("--port", type=int, default=None, help="coordinator port (default: free)")
    parser.add_argument("script", help="the Python script every process runs")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the script's arguments")
    opts = parser.parse_args(argv)
    for name in ("nproc", "timeout"):
        if getattr(opts, name) < 1:
            parser.error(f"--{name}: got {getattr(opts, name)}, expected at least 1")
    for name in ("cpu_devices", "gpus_per_process"):
        if getattr(opts, name) is not None and getattr(opts, name) < 1:
            flag = "--" + name.replace("_", "-")
            parser.error(f"{flag}: got {getattr(opts, name)}, expected at least 1")
    if not os.path.isfile(opts.script):
        parser.error(f"script: got {opts.script!r}, which is not a file")
    return opts


def _environment(opts, port: int, rank: int) -> dict:
    env = dict(os.environ)
    env.update(
        {
            ENV_COORDINATOR: f"127.0.0.1:{port}",
            ENV_NUM_PROCESSES: str(opts.nproc),
            ENV_PROCESS_ID: str(rank),
            ENV_TIMEOUT: str(opts.timeout),
            # Line-buffered children, so prefixed lines arrive as they are written.
            "PYTHONUNBUFFERED": "1",
        }
    )
    if opts.cpu_devices is not None:
        env["JAX_NUM_CPU_DEVICES"] = str(opts.cpu_devices)
    if opts.gpus_per_process is not None:
        k = opts.gpus_per_process
        env[ENV_LOCAL_DEVICE_IDS] = ",".join(str(rank * k + j) for j in range(k))
    return env


def _relay(rank: int, stream, out, lock) -> None:
    """Copy a child's output to ours, each line prefixed with its rank."""
    prefix = f"[{rank}] ".encode()
    for line in iter(stream.readline, b""):
        with lock:
            out.write(prefix + line)
            out.flush()
    stream.close()


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def _stop(procs, grace: float) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in procs:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _launch(opts) -> int:
    """Run the processes to the end; the launcher's exit code."""
    port = opts.port or _free_port()
    out = sys.stdout.buffer
    lock = threading.Lock()
    procs, relays = [], []
    for rank in range(opts.nproc):
        p = subprocess.Popen(
            [sys.executable, opts.script, *opts.args],
            env=_environment(opts, port, rank),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        t = threading.Thread(target=_relay, args=(rank, p.stdout, out, lock), daemon=True)
        t.start()
        procs.append(p)
        relays.append(t)
    failure = 0
    try:
        while any(p.poll() is None for p in procs):
            failed = [p for p in procs if p.poll() not in (None, 0)]
            if failed:
                failure = _exit_code(failed[0].returncode)
                rank = procs.index(failed[0])
                with lock:
                    print(
                        f"jrnn.launch: process {rank} exited with code {failure}; "
                        "stopping the others",
                        file=sys.stderr,
                        flush=True,
                    )
                _stop(procs, opts.grace)
                break
            time.sleep(0.05)
    except KeyboardInterrupt:
        _stop(procs, opts.grace)
        failure = 130
    for t in relays:
        t.join(timeout=5)
    if not failure:
        failure = next((_exit_code(p.returncode) for p in procs if p.returncode), 0)
    return failure


def main(argv=None) -> int:
    return _launch(_parse(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
