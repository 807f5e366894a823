"""What the experiment tests share: loading a script of experiments/ as a module and
reading the CSV files the experiments write."""

import csv
import importlib.util
import sys
from pathlib import Path

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"


def load_experiment(name: str):
    """experiments/<name>.py as a module (experiments/ is not a package; its shared
    helpers, like experiments/_runs.py, import as they do when a script runs)."""
    if str(EXPERIMENTS) not in sys.path:
        sys.path.insert(0, str(EXPERIMENTS))
    spec = importlib.util.spec_from_file_location(f"experiment_{name}", EXPERIMENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    # Registered first, as an import would: dataclasses resolve string annotations
    # through sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


PNG = b"\x89PNG\r\n\x1a\n"  # the first bytes of every PNG file
