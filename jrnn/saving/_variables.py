"""`load_variables`: model variables from a `fit` checkpoint or a `ModelCheckpoint` file,
without a template.

Each checkpoint's manifest records every leaf's `keystr` path, dtype and shape, so the
nested dicts of `variables` are rebuilt from the paths (`_paths`): a whole `TrainState`
has leaves `.params[...]` and `.model_state[...]`, a `save_weights_only` checkpoint
`['params'][...]` and `['state'][...]`, a `save_model` file the same.
"""

from __future__ import annotations

from jrnn.saving._checkpoint import FORMAT as CHECKPOINT_FORMAT
from jrnn.saving._checkpoint import leaf_values, read_file, resolve
from jrnn.saving._model_file import FORMAT as MODEL_FORMAT
from jrnn.saving._paths import tree_from_paths


def load_variables(path, *, step: int | None = None) -> dict:
    """`{"params", "state"}` for `model.apply` from a checkpoint, no template needed.

    path: a `fit(checkpoint_dir=...)` or `ModelCheckpoint` directory (its latest finalized
      checkpoint, or `step`'s), one checkpoint file (`ckpt_00000003.npz`, a whole
      TrainState or `save_weights_only`), or a `save_model` file.
    Arrays come back bit-exact as JAX arrays; sequences in the tree (stacked cells'
    params, LSTM carries) as tuples. Check them against a model with
    `model.check_variables(variables)` (`apply` does it too).
    """
    file = resolve(path, step, "path")
    manifest, data = read_file(file, (CHECKPOINT_FORMAT, MODEL_FORMAT))
    tree = tree_from_paths(leaf_values(manifest, data))
    if isinstance(tree, dict) and isinstance(tree.get("params"), dict):
        # a TrainState's state field is `model_state`; weights-only and model files: `state`
        state = tree.get("model_state", tree.get("state", {}))
        return {"params": tree["params"], "state": state}
    raise ValueError(
        f"checkpoint {file} holds no model variables: expected a TrainState (fit's "
        f"checkpoints, ModelCheckpoint) or {{'params', 'state'}} (save_weights_only); its "
        f"top-level entries are {sorted(tree) if isinstance(tree, dict) else type(tree)}"
    )
