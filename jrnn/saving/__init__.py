"""Models that leave the process: model files, checkpoints, variables from checkpoints,
the registry that lets configs name user classes, and `jax.export` for serving.

    jrnn.save_model("model.npz", model, variables)       # config + variables, one file
    model, variables = jrnn.load_model("model.npz")      # a fresh process: no user code
    variables = jrnn.load_variables("runs/mine")         # fit's latest checkpoint

    @jrnn.saving.register_serializable(package="my_project")
    class MyCell: ...                                     # configs name it "my_project>MyCell"

    exported = jrnn.export(model, variables, x_example)  # symbolic batch and time

Modules: `_export` (export, export_step, export_chunk_step), `_model_file` (save_model,
load_model), `_variables` (load_variables), `_checkpoint` (the atomic npz format; public
as `jrnn.checkpoint`), `_paths` (trees from leaf paths). The class registry lives in
`jrnn/_serialize.py`, below cells and layers, which serialize nested objects through it.
"""

from jrnn._serialize import deserialize, register_serializable, registered_name, serialize
from jrnn.saving._checkpoint import all_steps, latest_step
from jrnn.saving._checkpoint import restore as restore_checkpoint
from jrnn.saving._checkpoint import save as save_checkpoint
from jrnn.saving._export import export, export_chunk_step, export_step
from jrnn.saving._model_file import (
    load_metadata,
    load_model,
    load_optimizer_state,
    save_model,
)
from jrnn.saving._variables import load_variables

__all__ = [
    "all_steps",
    "deserialize",
    "export",
    "export_chunk_step",
    "export_step",
    "latest_step",
    "load_metadata",
    "load_model",
    "load_optimizer_state",
    "load_variables",
    "register_serializable",
    "registered_name",
    "restore_checkpoint",
    "save_checkpoint",
    "save_model",
    "serialize",
]
