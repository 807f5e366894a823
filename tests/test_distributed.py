"""Several real processes on loopback (CPU, gloo): `fit`, `evaluate` and `predict` on 2
processes give the one-process result; checkpoints move between the two; a process that
dies ends its peer in bounded time; the launcher's exit codes.

Each launch starts fresh Python processes that import JAX and compile a small model
(a few seconds each), so the scenarios are few and share launches.
"""

import os
import subprocess
import sys
import textwrap
import time

import distributed_worker as worker
import jax
import numpy as np
import pytest

import jrnn

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "distributed_worker.py")
ONE = jax.devices()[:1]


def _launch(*args, nproc=2, timeout=240, extra=()):
    """Run `python -m jrnn.launch` and return (exit code, output, seconds)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([HERE, os.environ.get("PYTHONPATH", "")])}
    env.pop("XLA_FLAGS", None)
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "jrnn.launch", "--nproc", str(nproc), "--timeout", "10", *extra,
         *args],
        env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr, time.monotonic() - start


def _load(path):
    with np.load(path) as f:
        return dict(f)


def _assert_same(got, want, rtol=1e-5, atol=1e-6):
    assert sorted(got) == sorted(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=rtol, atol=atol, err_msg=k)


def test_two_processes_train_as_one(tmp_path):
    """An LSTM classifier with masking, dropout and shuffling: history, parameters,
    evaluate and predict on 2 processes equal the one-process run, on both processes;
    the checkpoint the 2 processes wrote restores in one process."""
    rc, out, _ = _launch(WORKER, "classifier", str(tmp_path / "two"), "2")
    assert rc == 0, out
    got = [_load(tmp_path / "two" / f"classifier.{i}.npz") for i in (0, 1)]
    want = worker.classifier(ckpt=str(tmp_path / "one"), epochs=2, devices=ONE)
    _assert_same(got[0], want)
    _assert_same(got[1], got[0], rtol=0, atol=0)  # the same on every process
    # The 2-process checkpoint (epoch 2) restores here: nothing left to train.
    restored = worker.classifier(ckpt=str(tmp_path / "two" / "ckpt"), epochs=2, devices=ONE)
    params = [k for k in want if k.startswith("param/")]
    _assert_same({k: restored[k] for k in params}, {k: got[0][k] for k in params}, 0, 0)


def test_one_process_checkpoint_resumes_on_two_processes_of_two_devices(tmp_path):
    """Epoch 1 on one process, epoch 2 resumed on 2 processes x 2 CPU devices: the
    result of 2 epochs on one process."""
    worker.classifier(ckpt=str(tmp_path / "run" / "ckpt"), epochs=1, devices=ONE)
    rc, out, _ = _launch(WORKER, "classifier", str(tmp_path / "run"), "2",
                         extra=("--cpu-devices", "2"))  # fmt: skip
    assert rc == 0, out
    assert "resumed from epoch 1" in out
    want = worker.classifier(ckpt=None, epochs=2, devices=ONE)
    got = _load(tmp_path / "run" / "classifier.0.npz")
    _assert_same({k: got[k] for k in want if not k.startswith("history/")},
                 {k: v for k, v in want.items() if not k.startswith("history/")})  # fmt: skip
    np.testing.assert_allclose(got["history/loss"][-1], want["history/loss"][-1], rtol=1e-5)


def test_stateful_model_and_per_process_shards_on_two_processes(tmp_path):
    """A stateful model: each process keeps the carries of its own rows; the gathered
    carries, the parameters and the predictions equal the one-process run. A Dataset
    that each process shards for itself (unevenly): the one-process run on the global
    batches the shards make together."""
    rc, out, _ = _launch(WORKER, "stateful", str(tmp_path))
    assert rc == 0, out
    want = {**worker.stateful(devices=ONE), **worker.sharded(processes=2, devices=ONE)}
    _assert_same(_load(tmp_path / "stateful.1.npz"), want)


def test_a_dead_process_ends_its_peer_in_bounded_time(tmp_path):
    """Process 1 dies mid-epoch (os._exit): process 0 must not hang. Started without the
    launcher (as SLURM would), so only jrnn.distributed's timeout (10 s) ends it."""
    port = str(_free_port())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([HERE, os.environ.get("PYTHONPATH", "")]),
           "JRNN_COORDINATOR_ADDRESS": f"127.0.0.1:{port}", "JRNN_NUM_PROCESSES": "2",
           "JRNN_DISTRIBUTED_TIMEOUT": "10"}  # fmt: skip
    start = time.monotonic()
    procs = [
        subprocess.Popen(
            [sys.executable, WORKER, "die", str(tmp_path)],
            env={**env, "JRNN_PROCESS_ID": str(i)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for i in (0, 1)
    ]
    try:
        outs = [p.communicate(timeout=120)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    elapsed = time.monotonic() - start
    assert procs[1].returncode == 7, outs[1]
    assert procs[0].returncode != 0, outs[0]
    assert elapsed < 90, f"took {elapsed:.0f} s"


def _free_port():
    from jrnn.launch import _free_port

    return _free_port()


def _script(tmp_path, body):
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(body))
    return str(path)


def test_launcher_prefixes_output_and_reports_success(tmp_path):
    script = _script(tmp_path, """
        import os
        print("hello from", os.environ["JRNN_PROCESS_ID"], "of", os.environ["JRNN_NUM_PROCESSES"])
    """)  # fmt: skip
    rc, out, _ = _launch(script, nproc=3)
    assert rc == 0, out
    for i in range(3):
        assert f"[{i}] hello from {i} of 3" in out


def test_launcher_stops_the_rest_when_one_fails(tmp_path):
    script = _script(tmp_path, """
        import os, sys, time
        if os.environ["JRNN_PROCESS_ID"] == "1":
            sys.exit(5)
        time.sleep(300)
    """)  # fmt: skip
    rc, out, seconds = _launch(script, "--grace", "1")
    assert rc == 5, out
    assert "process 1 exited with code 5" in out
    assert seconds < 60


def test_launcher_reports_a_signal_as_the_shell_does(tmp_path):
    script = _script(tmp_path, """
        import os, signal
        os.kill(os.getpid(), signal.SIGKILL)
    """)  # fmt: skip
    rc, out, _ = _launch(script)
    assert rc == 128 + 9, out


def test_launcher_checks_its_arguments(tmp_path):
    rc, out, _ = _launch(str(tmp_path / "missing.py"))
    assert rc == 2 and "script: got" in out
    rc, out, _ = _launch(str(tmp_path / "missing.py"), nproc=0)
    assert rc == 2 and "--nproc: got 0" in out


def test_initialize_alone_is_a_no_op(monkeypatch):
    for name in ("JRNN_COORDINATOR_ADDRESS", "JRNN_NUM_PROCESSES", "JRNN_PROCESS_ID"):
        monkeypatch.delenv(name, raising=False)
    assert jrnn.distributed.initialize() is False
    assert jrnn.distributed.is_primary()
    jrnn.distributed.barrier("alone")  # returns at once


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(coordinator_address="127.0.0.1:1", num_processes=2, process_id=2), ValueError,
         "process_id: got 2"),
        (dict(coordinator_address=5, num_processes=2, process_id=0), TypeError,
         "coordinator_address: got int"),
        (dict(num_processes=2), ValueError, "expected all three"),
        (dict(timeout=0), ValueError, "timeout"),
        (dict(num_processes=1.5), TypeError, "num_processes"),
    ],
)  # fmt: skip
def test_initialize_checks_its_arguments(kwargs, error, match, monkeypatch):
    monkeypatch.setitem(jrnn._distributed._state, "initialized", False)
    with pytest.raises(error, match=match):
        jrnn.distributed.initialize(**kwargs)
