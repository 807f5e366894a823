"""What every experiment's run directory shares: the settings of the run in it.

A fresh run (no checkpoint in `out`) stores its settings in `out/config.json`, plus what
it fixes at the start (e.g. the length of its learning-rate schedule). A resumed run reads
them back and refuses command-line settings that differ from the checkpointed run's.
"""

from __future__ import annotations

import json
from pathlib import Path


def run_config(out: Path, settings: dict, *, fresh: bool, ckpt: Path, at_start: dict) -> dict:
    """The run's config: `settings | at_start` written for a fresh run, else the stored
    one after checking `settings` (argparse names) against it."""
    path = out / "config.json"
    if fresh:
        config = {**settings, **at_start}
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config, indent=1))
        return config
    if not path.exists():
        raise ValueError(
            f"--out: {ckpt} holds checkpoints but {path} is missing; pass --fresh to "
            f"start a new run there, or another --out"
        )
    config = json.loads(path.read_text())
    diff = {k: (config.get(k), v) for k, v in settings.items() if config.get(k) != v}
    if diff:
        said = ", ".join(
            f"--{k.replace('_', '-')} {new} (checkpoint: {old})" for k, (old, new) in diff.items()
        )
        raise ValueError(
            f"the run in {out} was trained with other settings: got {said}; pass "
            f"--fresh to start again with these, or another --out"
        )
    return config
