"""Atomic checkpoints of any JAX/NumPy pytree: `save`, `restore`, `latest_step`, `all_steps`
(public as `jrnn.checkpoint`), and the file format `jrnn.save_model` shares.

A checkpoint is one `np.savez` file, `<directory>/ckpt_<step:08d>.npz`, readable with
`np.load(allow_pickle=False)`: `leaf_<i>` holds each leaf's raw bytes (uint8), which keeps
bfloat16, float8 and PRNG keys bit-exact, and `__manifest__` holds UTF-8 JSON (format,
step, each leaf's `keystr` path, dtype and shape, the key impl, and the user's metadata).

Saving follows Orbax's protocol on a local filesystem: write a unique `*.tmp` in the same
directory, flush + fsync, `os.replace` it onto the final name, fsync the directory. A crash
leaves the previous checkpoint intact plus at most a stale `*.tmp`, which readers ignore
and the next successful save deletes. On several processes every process calls `save`;
process 0 alone writes, and all return once the file is in place.

    save("ckpts", 100, state, metadata={"history": {"loss": [0.7, 0.5]}}, max_to_keep=3)
    state, meta = restore("ckpts", state)  # latest step; `state` gives structure and dtypes
"""

from __future__ import annotations

import json
import pathlib
import re
import zipfile

import jax
import jax.numpy as jnp
import numpy as np

from jrnn._atomic import atomic_write
from jrnn._checks import check_int, check_path
from jrnn._distributed import barrier, host_copy, is_primary

FORMAT = "jrnn-checkpoint-v1"
_FINAL = re.compile(r"ckpt_(\d+)\.npz")
_PY = {bool: "b", int: "i", float: "f", complex: "c"}  # Python number -> dtype kind


def _kind(name):
    if name.startswith("key<"):
        return name
    kinds = (("b", jnp.bool_), ("i", jnp.integer), ("f", jnp.floating), ("c", jnp.complexfloating))
    return next((k for k, base in kinds if jnp.issubdtype(jnp.dtype(name), base)), name)


def _encode(path, x):
    """One leaf -> (manifest entry, uint8 bytes)."""
    # Python numbers (and weak-typed arrays) fit any target dtype of their kind, as in JAX.
    weak = isinstance(x, tuple(_PY)) and not isinstance(x, np.generic)
    weak = weak or getattr(x, "weak_type", False)
    entry = {"path": path, "dtype": None, "shape": list(np.shape(x)), "weak": bool(weak)}
    if hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        entry.update(dtype=str(x.dtype), impl=str(jax.random.key_impl(x)))
        x = jax.random.key_data(x)
    arr = np.asarray(x)
    if arr.dtype.kind in "OUSM":
        raise TypeError(f"tree{path}: got a {type(x).__name__}, expected an array or number")
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    entry["dtype"] = entry["dtype"] or str(arr.dtype)
    entry["data_dtype"], entry["data_shape"] = str(arr.dtype), list(arr.shape)
    return entry, np.ascontiguousarray(arr).reshape(-1).view(np.uint8)


def _json_default(o):
    # Histories often hold NumPy/JAX scalars; store them as plain numbers, not an error.
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"metadata: got a value of type {type(o).__name__}, expected JSON data")


def write_file(file, tree, header: dict) -> pathlib.Path:
    """Write `tree` atomically to `file` as one `.npz`: each leaf's bytes, and the JSON
    manifest `{**header, "leaves": [...]}`. Everything is encoded before the disk is
    touched, so bad input leaves no file behind."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    encoded = [_encode(jax.tree_util.keystr(p), x) for p, x in leaves]
    manifest = {**header, "leaves": [e for e, _ in encoded]}
    text = json.dumps(manifest, default=_json_default).encode()
    arrays = {f"leaf_{i}": r for i, (_, r) in enumerate(encoded)}
    arrays["__manifest__"] = np.frombuffer(text, np.uint8)
    return atomic_write(file, lambda f: np.savez(f, **arrays))


def save(directory, step: int, tree, *, metadata=None, max_to_keep=None) -> pathlib.Path:
    """Write `tree` atomically to `<directory>/ckpt_<step:08d>.npz`; return that path.

    Leaves may be JAX/NumPy arrays of any dtype (bfloat16 and other ml_dtypes included),
    typed PRNG keys, or Python/NumPy numbers; all round-trip bit-exactly. `metadata` is a
    JSON-serialisable dict (NumPy/JAX numbers become JSON numbers) stored in the same file,
    so one rename commits both. An existing file for `step` is replaced atomically. After a
    successful save, stale `*.tmp` files are deleted and, with `max_to_keep=N`, finalized
    checkpoints other than the newest N steps; the file just written is never deleted.
    On any error the exception propagates and earlier checkpoints are untouched.
    """
    step = check_int("step", step, minimum=0)  # 1.5 or '3' is a bug, not step 1 or 3
    max_to_keep = check_int("max_to_keep", max_to_keep, minimum=1, allow_none=True)
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata: got {type(metadata).__name__}, expected a dict or None")
    directory = _directory("directory", directory)
    final = directory / f"ckpt_{step:08d}.npz"
    # Several processes: all gather (a collective), process 0 alone writes, and none goes
    # on before the file is there (a peer that restores next must find it).
    tree = host_copy(tree)
    if is_primary():
        _write_and_prune(directory, final, step, tree, metadata, max_to_keep)
    barrier(f"jrnn.checkpoint.save {final}")
    return final


def _write_and_prune(directory, final, step, tree, metadata, max_to_keep):
    write_file(final, tree, {"format": FORMAT, "step": step, "metadata": metadata or {}})

    for stale in directory.glob("ckpt_*.tmp"):
        stale.unlink(missing_ok=True)
    if max_to_keep is not None:
        for s in all_steps(directory)[:-max_to_keep]:
            if s != step:
                (directory / f"ckpt_{s:08d}.npz").unlink(missing_ok=True)


def _directory(name: str, directory) -> pathlib.Path:
    """`directory` as a Path that is not an existing file (a file where a checkpoint
    directory belongs is a mistake to name now, not an OSError at the first save)."""
    directory = check_path(name, directory)
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"{name}: got the file {directory}, expected a directory")
    return directory


def all_steps(directory) -> list[int]:
    """Steps of the finalized checkpoints in `directory`, ascending ([] if none or missing)."""
    directory = _directory("directory", directory)
    if not directory.is_dir():
        return []
    found = (_FINAL.fullmatch(p.name) for p in directory.iterdir())
    return sorted(int(m.group(1)) for m in found if m)


def latest_step(directory) -> int | None:
    """The newest finalized step in `directory`, or None; `*.tmp` files never count."""
    steps = all_steps(directory)
    return steps[-1] if steps else None


def resolve(path, step=None, name: str = "path") -> pathlib.Path:
    """The checkpoint file of `path` (the argument `name`): the file itself, or a
    directory's latest (or `step`'s) finalized checkpoint; FileNotFoundError when there
    is none."""
    path = check_path(name, path)
    step = check_int("step", step, minimum=0, allow_none=True)
    if path.suffix == ".npz" or path.is_file():
        if step is not None:
            raise ValueError(f"step: got {step} with a checkpoint file {path}, expected None")
        if not path.is_file():
            raise FileNotFoundError(f"{name}: got {path}, which does not exist")
        return path
    if not path.is_dir():
        raise FileNotFoundError(
            f"{name}: got {path}, which does not exist; expected a checkpoint file or directory"
        )
    steps = all_steps(path)
    if not steps or (step is not None and step not in steps):
        want = "no finalized checkpoint" if step is None else f"no checkpoint for step {step}"
        raise FileNotFoundError(f"{name}: got {path}, which has {want} (finalized steps: {steps})")
    return path / f"ckpt_{steps[-1] if step is None else step:08d}.npz"


def read_file(
    file, formats=(FORMAT,), what: str = "checkpoint", writer: str = "jrnn.checkpoint.save"
):
    """(manifest, leaf arrays as NumPy) of a file `write_file` wrote, whose manifest's
    "format" is one of `formats`; a ValueError "<what> <file> is unreadable: ... (expected
    a file <writer> wrote)" for a truncated or foreign file."""
    try:
        with np.load(file, allow_pickle=False) as npz:
            manifest = json.loads(bytes(npz["__manifest__"]).decode())
            if manifest.get("format") not in formats:
                want = " or ".join(repr(f) for f in formats)
                raise ValueError(f"format {manifest.get('format')!r}, expected {want}")
            data = [  # a wrong byte count fails the reshape
                npz[f"leaf_{i}"].view(jnp.dtype(e["data_dtype"])).reshape(e["data_shape"])
                for i, e in enumerate(manifest["leaves"])
            ]
    except (OSError, ValueError, TypeError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(
            f"{what} {file} is unreadable: {e} (expected a file {writer} wrote)"
        ) from e
    return manifest, data


def leaf_values(manifest, data) -> dict:
    """{keystr path: JAX array} of every saved leaf (PRNG keys rewrapped), bit-exact."""
    out = {}
    for entry, value in zip(manifest["leaves"], data):
        if "impl" in entry:
            value = jax.random.wrap_key_data(value, impl=entry["impl"])
        out[entry["path"]] = jnp.asarray(value)
    return out


def _leaf(path, t, entry, value):
    """Saved value -> target's dtype and kind (JAX/NumPy/Python), or an error string."""
    shape, dtype, typ = (), None, next((typ for typ in _PY if isinstance(t, typ)), None)
    if hasattr(t, "shape") and hasattr(t, "dtype"):  # arrays, ShapeDtypeStruct, NumPy scalars
        shape, dtype, typ = tuple(t.shape), str(t.dtype), None
    elif typ is None:
        raise TypeError(f"target{path}: got a {type(t).__name__}, expected an array or number")
    weak = entry["weak"] or typ is not None or getattr(t, "weak_type", False)
    kind = _PY[typ] if typ else _kind(dtype)
    got = f"saved {entry['dtype']}{entry['shape']}"
    if tuple(entry["shape"]) != shape or (
        entry["dtype"] != dtype and not (weak and _kind(entry["dtype"]) == kind)
    ):
        return f"{path}: {got}, expected {dtype or f'a Python {typ.__name__}'}{list(shape)}"
    if dtype and entry["dtype"] != dtype:  # a weak (Python) number of the same kind
        cast = value.astype(jnp.dtype(dtype))
        if kind == "i" and not np.array_equal(cast, value):  # floats may round, as in JAX
            return f"{path}: {got} = {value.tolist()} does not fit in {dtype}"
        value = cast
    if "impl" in entry:
        value = jax.random.wrap_key_data(value, impl=entry["impl"])
    elif typ is not None:
        return typ(value.item())
    elif isinstance(t, np.ndarray | np.generic):
        return value if isinstance(t, np.ndarray) else value[()]
    sharding = getattr(t, "sharding", None)  # keep the target's device placement
    return jax.device_put(value, sharding) if sharding is not None else jnp.asarray(value)


def restore(path_or_directory, target, *, step=None):
    """Read a checkpoint into `target`'s structure; return `(tree, metadata)`.

    `path_or_directory` is a `.npz` file, or a directory (then its latest finalized step, or
    `step`). `target` is a pytree of the same structure, e.g. the freshly initialised state
    or `jax.eval_shape` of it; its leaves (arrays, `jax.ShapeDtypeStruct`s, numbers) give the
    expected shapes and dtypes; a saved Python number fits any dtype of its kind (int ->
    int32), as in JAX, if it does not overflow. Leaves come back as JAX arrays (with the
    target leaf's sharding when it has one), NumPy values for NumPy targets and Python
    numbers for Python-number targets. Raises FileNotFoundError for a missing checkpoint,
    and ValueError, naming each leaf path, for an unreadable file or a structure, shape or
    dtype mismatch.
    """
    file = resolve(path_or_directory, step, "path_or_directory")
    manifest, data = read_file(file)
    return restore_into(file, manifest, data, target), manifest["metadata"]


def restore_into(file, manifest, data, target):
    """The saved leaves read into `target`'s structure (see `restore`)."""
    saved = {e["path"]: (e, x) for e, x in zip(manifest["leaves"], data)}
    flat, treedef = jax.tree_util.tree_flatten_with_path(target)
    paths = [jax.tree_util.keystr(p) for p, _ in flat]
    missing, extra = [p for p in paths if p not in saved], [p for p in saved if p not in paths]
    if missing or extra:
        raise ValueError(
            f"checkpoint {file} does not match target's structure: saved {len(saved)} leaves, "
            f"expected {len(paths)}; in target only: {', '.join(missing) or 'none'}; "
            f"in checkpoint only: {', '.join(extra) or 'none'}"
        )
    out = [_leaf(p, t, *saved[p]) for p, (_, t) in zip(paths, flat)]
    errors = [x for x in out if isinstance(x, str)]
    if errors:
        raise ValueError(f"checkpoint {file} does not match target: " + "; ".join(errors))
    return jax.tree_util.tree_unflatten(treedef, out)
