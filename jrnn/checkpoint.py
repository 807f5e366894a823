"""Atomic checkpoints of any JAX/NumPy pytree: `save`, `restore`, `latest_step`, `all_steps`.

    save("ckpts", 100, state, metadata={"history": {"loss": [0.7, 0.5]}}, max_to_keep=3)
    state, meta = restore("ckpts", state)  # latest step; `state` gives structure and dtypes

The implementation lives in `jrnn.saving` (see `jrnn/saving/_checkpoint.py` for the
format); this module keeps the names `fit`, its callbacks and users call.
"""

from jrnn.saving import all_steps, latest_step
from jrnn.saving import restore_checkpoint as restore
from jrnn.saving import save_checkpoint as save

__all__ = ["all_steps", "latest_step", "restore", "save"]
