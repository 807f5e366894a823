"""README.md's Python blocks are part of the product: they run as written, in order, in
one namespace (as a reader pasting them into one session would)."""

import contextlib
import pathlib
import re

import jax
import pytest

README = pathlib.Path(__file__).parent.parent / "README.md"
# optional: a block importing one runs only where it is installed
PEERS = {"keras", "torch", "equinox"}


# Keras's Variable.__array__ under NumPy 2 (in get_weights); not ours.
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept:DeprecationWarning")
def test_readme_blocks_run_in_order(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 10
    monkeypatch.chdir(tmp_path)  # the blocks write files (checkpoints, history, tokenizer)
    namespace = {"__name__": "readme"}
    for i, block in enumerate(blocks, 1):
        # Keras's own code broadcasts implicitly, which the test session forbids for ours.
        peer = "import keras" in block
        strict = jax.numpy_rank_promotion("allow") if peer else contextlib.nullcontext()
        try:
            with strict:
                exec(compile(block, f"README.md python block {i}", "exec"), namespace)
        except ModuleNotFoundError as e:
            if e.name not in PEERS:
                raise
    assert (tmp_path / "runs" / "mine").is_dir() and (tmp_path / "curves.png").is_file()
