"""Models that leave the process: export for serving with `jax.export`.

exported = jrnn.saving.export(model, variables, x_example)
step = jrnn.saving.export_step(model, variables)
"""

from jrnn.saving._export import export, export_chunk_step, export_step

__all__ = [
    "export",
    "export_chunk_step",
    "export_step",
]
