"""Several processes, one program: `initialize()` joins them (a no-op alone); `is_primary()`
says which one writes files; `barrier(name)` waits for all. Start local runs with
`python -m jrnn.launch --nproc N script.py`."""

from jrnn._distributed import barrier, initialize, is_primary

__all__ = ["barrier", "initialize", "is_primary"]
