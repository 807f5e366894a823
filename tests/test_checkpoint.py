"""Checkpoints round-trip bit-exactly, are atomic, and fail loudly on mismatch."""

import os

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import optax
import pytest

from jrnn import checkpoint as ckpt


def _state(seed=0):
    params = {"kernel": jax.random.normal(jax.random.key(seed), (3, 4)), "bias": jnp.zeros(4)}
    opt_state = optax.adam(1e-3).init(params)
    # One real update so the Adam moments and the int32 count are not all zeros.
    grads = jax.tree.map(jnp.ones_like, params)
    _, opt_state = optax.adam(1e-3).update(grads, opt_state, params)
    return {
        "params": params,
        "opt_state": opt_state,
        "model_state": (jnp.arange(3, dtype=jnp.int32), [jnp.array([True, False])]),
        "bf16": jnp.array([1.1, -2.3, 3.7], jnp.bfloat16),
        "f8": np.array([0.5, -1.5], ml_dtypes.float8_e4m3fn),
        "key": jax.random.split(jax.random.key(seed + 1), 2),
        "rbg_key": jax.random.key(7, impl="rbg"),
        "step": 12,
        "epoch": np.int64(3),
        "empty": (None, ()),
    }


def _assert_same(a, b):
    la, ta = jax.tree.flatten(a)
    lb, tb = jax.tree.flatten(b)
    assert ta == tb
    for x, y in zip(la, lb):
        assert type(x) is type(y) or isinstance(x, jax.Array) and isinstance(y, jax.Array)
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            assert x.dtype == y.dtype
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes()


def test_round_trip_bit_exact_with_metadata(tmp_path):
    state = _state()
    meta = {"history": {"loss": [0.7, np.float32(0.5)], "val_loss": [float("nan")]}, "epoch": 3}
    path = ckpt.save(tmp_path / "run", 12, state, metadata=meta)
    assert path == tmp_path / "run" / "ckpt_00000012.npz"
    restored, got_meta = ckpt.restore(path, _state(seed=5))
    _assert_same(restored, state)
    assert restored["step"] == 12 and type(restored["step"]) is int
    assert isinstance(restored["opt_state"][0], optax.ScaleByAdamState)
    assert got_meta["history"]["loss"] == [0.7, 0.5] and np.isnan(got_meta["history"]["val_loss"])
    # Restored keys work as keys.
    jax.random.normal(restored["key"][0], (2,))
    # Plain NumPy reads it without pickle.
    with np.load(path, allow_pickle=False) as npz:
        assert "__manifest__" in npz.files


def test_restore_into_shape_dtype_structs_keeps_sharding(tmp_path):
    state = _state()
    mesh = jax.make_mesh((4,), ("data",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    state["sharded"] = jax.device_put(jnp.arange(8.0), sharding)
    ckpt.save(tmp_path, 1, state)
    target = jax.eval_shape(lambda: {k: v for k, v in state.items() if k not in ("f8", "epoch")})
    target["f8"], target["epoch"] = state["f8"], state["epoch"]
    target["sharded"] = jax.ShapeDtypeStruct((8,), jnp.float32, sharding=sharding)
    restored, meta = ckpt.restore(tmp_path, target)
    assert meta == {}
    assert restored["sharded"].sharding == sharding
    assert restored["step"].dtype == jnp.int32 and int(restored["step"]) == 12
    state["step"] = jnp.asarray(12, jnp.int32)
    _assert_same(restored, state)


def test_steps_ordering_replace_and_max_to_keep(tmp_path):
    assert ckpt.all_steps(tmp_path / "nope") == [] and ckpt.latest_step(tmp_path) is None
    for step in (5, 100, 20, 123456789):
        ckpt.save(tmp_path, step, {"x": jnp.float32(step)})
    assert ckpt.all_steps(tmp_path) == [5, 20, 100, 123456789]
    assert ckpt.latest_step(tmp_path) == 123456789
    restored, _ = ckpt.restore(tmp_path, {"x": jnp.float32(0)}, step=20)
    assert float(restored["x"]) == 20.0
    ckpt.save(tmp_path, 20, {"x": jnp.float32(-1)})  # same step: replaced
    assert float(ckpt.restore(tmp_path, {"x": 0.0}, step=20)[0]["x"]) == -1.0
    ckpt.save(tmp_path, 200, {"x": jnp.float32(2)}, max_to_keep=2)
    assert ckpt.all_steps(tmp_path) == [200, 123456789]
    # An older step saved under max_to_keep is kept: the newest save is never deleted.
    ckpt.save(tmp_path, 7, {"x": jnp.float32(7)}, max_to_keep=1)
    assert ckpt.all_steps(tmp_path) == [7, 123456789]
    assert sorted(os.listdir(tmp_path)) == ["ckpt_00000007.npz", "ckpt_123456789.npz"]


def test_mismatch_errors_name_the_leaf(tmp_path):
    tree = {"a": jnp.zeros((2, 3)), "b": (jnp.zeros(2, jnp.int32), 1)}
    ckpt.save(tmp_path, 0, tree)
    with pytest.raises(ValueError, match=r"in target only: \['c'\]; in checkpoint only: none"):
        ckpt.restore(tmp_path, {**tree, "c": jnp.zeros(1)})
    with pytest.raises(ValueError, match=r"saved 3 leaves, expected 2"):
        ckpt.restore(tmp_path, {"a": tree["a"], "b": (tree["b"][0],)})
    bad = {"a": jnp.zeros((3, 2)), "b": (jnp.zeros(2, jnp.float32), 1)}
    with pytest.raises(
        ValueError, match=r"\['a'\]: saved float32\[2, 3\], expected float32\[3, 2\]"
    ):
        ckpt.restore(tmp_path, bad)
    with pytest.raises(ValueError, match=r"\['b'\]\[0\]: saved int32\[2\], expected float32\[2\]"):
        ckpt.restore(tmp_path, bad)
    with pytest.raises(ValueError, match=r"\['b'\]\[1\]: saved int64\[\], expected a Python float"):
        ckpt.restore(tmp_path, {"a": tree["a"], "b": (tree["b"][0], 1.0)})
    with pytest.raises(ValueError, match=r"\['k'\]: saved key<fry>\[\], expected uint32\[2\]"):
        ckpt.save(tmp_path, 1, {"k": jax.random.key(0)})
        ckpt.restore(tmp_path, {"k": jax.random.PRNGKey(0)})
    # A Python int fits any integer target, as in JAX, unless the value overflows.
    ckpt.save(tmp_path, 3, {"n": 2**40})
    with pytest.raises(ValueError, match=r"\['n'\]: saved int64\[\] = 1099511627776 does not fit"):
        ckpt.restore(tmp_path, {"n": jax.ShapeDtypeStruct((), jnp.int32, weak_type=True)})
    assert ckpt.restore(tmp_path, {"n": np.int64(0)})[0]["n"] == 2**40
    with pytest.raises(TypeError, match=r"tree\['s'\]: got a str, expected an array"):
        ckpt.save(tmp_path, 2, {"s": "text"})
    with pytest.raises(TypeError, match="metadata: got a value of type object"):
        ckpt.save(tmp_path, 2, tree, metadata={"x": object()})
    assert ckpt.all_steps(tmp_path) == [0, 1, 3] and len(os.listdir(tmp_path)) == 3


def test_missing_and_unreadable(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        ckpt.restore(tmp_path / "nope", {})
    with pytest.raises(FileNotFoundError, match="no finalized checkpoint"):
        ckpt.restore(tmp_path, {})
    with pytest.raises(FileNotFoundError, match="ckpt_00000003.npz"):
        ckpt.restore(tmp_path / "ckpt_00000003.npz", {})
    ckpt.save(tmp_path, 1, {"x": jnp.ones(2)})
    with pytest.raises(FileNotFoundError, match=r"no checkpoint for step 2 .*\[1\]"):
        ckpt.restore(tmp_path, {"x": jnp.ones(2)}, step=2)
    good = (tmp_path / "ckpt_00000001.npz").read_bytes()
    for junk in (good[: len(good) // 2], b"not a checkpoint"):
        (tmp_path / "ckpt_00000009.npz").write_bytes(junk)
        with pytest.raises(ValueError, match="ckpt_00000009.npz is unreadable"):
            ckpt.restore(tmp_path, {"x": jnp.ones(2)})


@pytest.mark.parametrize("fail", ["replace", "fsync"])
def test_crash_during_save_keeps_previous_checkpoint(tmp_path, monkeypatch, fail):
    first = {"w": jnp.arange(4.0), "key": jax.random.key(1), "step": 1}
    ckpt.save(tmp_path, 1, first, metadata={"epoch": 1})

    def boom(*args, **kwargs):
        raise OSError("simulated crash")

    with monkeypatch.context() as m:
        m.setattr(os, fail, boom)  # the os functions the atomic write calls
        with pytest.raises(OSError, match="simulated crash"):
            ckpt.save(tmp_path, 2, {**first, "w": first["w"] + 1, "step": 2})
    assert os.listdir(tmp_path) == ["ckpt_00000001.npz"]  # the failed save cleaned up
    restored, meta = ckpt.restore(tmp_path, first)
    _assert_same(restored, first)
    assert meta == {"epoch": 1}

    # A hard kill leaves a temp file behind: it is ignored, then removed by the next save.
    stale = tmp_path / "ckpt_00000009.npz.123.deadbeef.tmp"
    stale.write_bytes((tmp_path / "ckpt_00000001.npz").read_bytes()[:100])
    assert ckpt.latest_step(tmp_path) == 1
    _assert_same(ckpt.restore(tmp_path, first)[0], first)
    ckpt.save(tmp_path, 2, {**first, "step": 2})
    assert sorted(os.listdir(tmp_path)) == ["ckpt_00000001.npz", "ckpt_00000002.npz"]


def test_save_names_a_bad_step(tmp_path):
    for bad, err in ((1.5, TypeError), ("3", TypeError), (True, TypeError), (-1, ValueError)):
        with pytest.raises(err, match=r"step: got .*expected an integer >= 0"):
            ckpt.save(tmp_path, bad, {"w": np.zeros(2)})
    assert not list(tmp_path.iterdir())
