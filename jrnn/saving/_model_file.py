"""`save_model` / `load_model`: a model's config and variables in one file, loadable in a
fresh process without the code that built the model.

    jrnn.save_model("model.npz", model, variables)          # or a TrainState
    model, variables = jrnn.load_model("model.npz")

The file is the checkpoint format of `jrnn.checkpoint` (one `.npz` readable with
`np.load(allow_pickle=False)`, written to a temporary file, fsynced and renamed), with
the manifest holding {"format": "jrnn-model", "format_version", "jrnn_version",
"config": {"class_name", "config"} (the model's JSON config), "contents", "metadata"}
and the arrays the tree {"params", "state"[, "optimizer": {"opt_state", "step", "key",
"epoch"}]}.

Why not Orbax: it writes a directory of many files per tree (OCDBT/Zarr), its atomic
commit is a directory rename plus a commit marker, and reading needs Orbax and
TensorStore; a served model is one small file that NumPy alone can read. The npz
format already round-trips bfloat16, float8 and typed PRNG keys bit-exactly, is atomic
through one `os.replace`, and is what `fit`'s checkpoints use, so one reader serves both
(`load_variables` reads either). Orbax would pay off for sharded multi-host arrays larger
than one host's memory, which jrnn's RNNs are not.

Loading validates everything before returning: a truncated or foreign file, a
checkpoint given for a model, a newer format version, an unregistered class in the
config, and variables that do not fit the config (a missing or extra array, a wrong
shape) each raise a ValueError naming the file and what is wrong.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp

from jrnn._checks import check_bool, check_path
from jrnn._distributed import host_copy, is_primary
from jrnn._serialize import deserialize, serialize
from jrnn._version import __version__
from jrnn.models import Model
from jrnn.saving._checkpoint import FORMAT as CHECKPOINT_FORMAT
from jrnn.saving._checkpoint import leaf_values, read_file, restore_into, write_file
from jrnn.saving._paths import tree_from_paths

FORMAT = "jrnn-model"
FORMAT_VERSION = 1  # raise when a change makes files older readers would misread


def save_model(path, model, variables, *, include_optimizer: bool = False, metadata=None):
    """Write `model`'s config and `variables` to the file `path` atomically; returns it.

    variables: `model.init`'s {"params", "state"} dict, or a `jrnn.TrainState` (its
      params and model state; the stateful layers' carries are saved as they are).
    include_optimizer: also save the TrainState's optimizer state, step, dropout key and
      epoch, for `jrnn.load_train_state(path, optimizer)` to continue training.
    metadata: a JSON-serialisable dict stored alongside (e.g. a tokenizer's config),
      returned by `jrnn.saving.load_metadata`.

    On several processes every process calls it and process 0 alone writes.
    A crash mid-save leaves the previous file at `path` intact. Every layer and cell
    must be built in or registered (`jrnn.saving.register_serializable`), and the
    variables must fit the model (`model.check_variables`): both are checked before
    anything is written. Entries for layers the model does not have are left out (a
    sub-model such as an encoder, saved with the whole model's variables).
    """
    if not isinstance(model, Model):
        raise TypeError(f"model: got {type(model).__name__}, expected a jrnn.Model or Sequential")
    path = check_path("path", path)
    if path.is_dir():
        raise ValueError(f"path: got the directory {path}, expected a file name such as 'm.npz'")
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata: got {type(metadata).__name__}, expected a dict or None")
    tree, contents = _variables_tree(variables, check_bool("include_optimizer", include_optimizer))
    model.check_variables(tree)
    # A sub-model (an encoder built from the whole model's layers) saves its own entries.
    names = {model.name_of(layer) for layer in model.layers}
    for collection in ("params", "state"):
        tree[collection] = {k: v for k, v in tree[collection].items() if k in names}
    config = serialize(model)
    try:
        json.dumps(config)
    except TypeError as e:
        raise TypeError(f"model: its config is not plain JSON data ({e})") from None
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "jrnn_version": __version__,
        "config": config,
        "contents": contents,
        "metadata": metadata or {},
    }
    # Several processes: each calls save_model; carries split over processes are gathered
    # (a collective) and process 0 alone writes.
    tree = host_copy(tree)
    if not is_primary():
        return path
    return write_file(path, tree, header)


def _variables_tree(variables, include_optimizer: bool):
    fields = getattr(variables, "_fields", ())
    if "opt_state" in fields and "model_state" in fields:  # a TrainState
        tree = {"params": variables.params, "state": variables.model_state}
        if include_optimizer:
            tree["optimizer"] = {
                "opt_state": variables.opt_state,
                "step": variables.step,
                "key": variables.key,
                "epoch": variables.epoch,
            }
            return tree, ["variables", "optimizer"]
        return tree, ["variables"]
    if not (isinstance(variables, dict) and "params" in variables):
        raise TypeError(
            f"variables: got {type(variables).__name__}, expected model.init's "
            f"{{'params', 'state'}} dict or a jrnn.TrainState"
        )
    if include_optimizer:
        raise ValueError(
            "include_optimizer: got True with a variables dict, which has no optimizer "
            "state; pass the TrainState that jrnn.fit returned"
        )
    return {"params": variables["params"], "state": variables.get("state", {})}, ["variables"]


def _read(path):
    file = check_path("path", path)
    if not file.is_file():
        raise FileNotFoundError(f"path: {file} is not a file (expected one jrnn.save_model wrote)")
    manifest, data = read_file(
        file, (FORMAT, CHECKPOINT_FORMAT), what="saved model", writer="jrnn.save_model"
    )
    if manifest["format"] == CHECKPOINT_FORMAT:
        raise ValueError(
            f"saved model {file} is a jrnn checkpoint, not a saved model (it has no config): "
            f"read its variables with jrnn.load_variables(path), or save the model with "
            f"jrnn.save_model"
        )
    version = manifest.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"saved model {file}: format_version {version!r} is not valid")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"saved model {file} has format version {version}, written by jrnn "
            f"{manifest.get('jrnn_version')}; this jrnn ({__version__}) reads versions up to "
            f"{FORMAT_VERSION}: upgrade jrnn to load it"
        )
    return file, manifest, data


def load_model(path):
    """`(model, variables)` from a file `save_model` wrote, in any process: built-in
    layers need no code of yours; for registered user classes import their module first.

    variables: {"params", "state"} as JAX arrays, bit for bit as saved (bfloat16 and
    PRNG keys included). Raises FileNotFoundError for a missing file and ValueError,
    naming the file and the problem, for a truncated or foreign file, a checkpoint, a
    newer format version, an unregistered class, or variables that do not fit the config
    (the layer and array named, with the shape got and expected).
    """
    file, manifest, data = _read(path)
    try:
        model = deserialize(manifest.get("config"))
    except (ValueError, TypeError, KeyError) as e:
        raise ValueError(f"saved model {file}: its config cannot be loaded: {e}") from e
    tree = tree_from_paths(leaf_values(manifest, data))
    unknown = sorted(set(tree) - {"params", "state", "optimizer"})
    if unknown:
        raise ValueError(f"saved model {file}: unexpected arrays under {unknown}")
    variables = {"params": tree.get("params", {}), "state": tree.get("state", {})}
    try:
        model.check_variables(variables, exact=True)
    except (ValueError, TypeError) as e:
        raise ValueError(f"saved model {file} does not match its config: {e}") from e
    return model, variables


def load_metadata(path) -> dict:
    """The `metadata` dict `save_model` stored, plus "jrnn_version" and "format_version"."""
    _, manifest, _ = _read(path)
    return {
        **manifest.get("metadata", {}),
        "jrnn_version": manifest.get("jrnn_version"),
        "format_version": manifest.get("format_version"),
    }


def load_optimizer_state(path, optimizer, params) -> dict:
    """{"opt_state", "step", "key", "epoch"} saved with `include_optimizer=True`, read
    into the structure `optimizer.init(params)` gives (an Optax GradientTransformation);
    `jrnn.load_train_state` builds a TrainState from it."""
    if not callable(getattr(optimizer, "init", None)):
        raise TypeError(
            f"optimizer: got {type(optimizer).__name__}, expected an Optax GradientTransformation"
        )
    file, manifest, data = _read(path)
    if "optimizer" not in manifest.get("contents", []):
        raise ValueError(
            f"saved model {file} holds no optimizer state (it was saved with "
            f"include_optimizer=False or from a variables dict); expected a file saved "
            f"from a TrainState with include_optimizer=True"
        )
    saved = {e["path"]: e for e in manifest["leaves"]}
    key_entry = saved.get("['optimizer']['key']", {})
    impl = key_entry.get("impl")
    state_paths = [p for p in saved if p.startswith("['state']")]
    variables = tree_from_paths(leaf_values(manifest, data))
    target = {
        "params": params,
        "state": variables.get("state", {}) if state_paths else {},
        "optimizer": {
            "opt_state": jax.eval_shape(optimizer.init, params),
            "step": jax.ShapeDtypeStruct((), jnp.int32),
            "key": jax.eval_shape(lambda: jax.random.key(0, impl=impl)),
            "epoch": jax.ShapeDtypeStruct((), jnp.int32),
        },
    }
    try:
        tree = restore_into(file, manifest, data, target)
    except ValueError as e:
        raise ValueError(
            f"saved model {file}: its optimizer state does not fit `optimizer` ({e})"
        ) from e
    return tree["optimizer"]
