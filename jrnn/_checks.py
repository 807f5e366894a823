"""Argument checks shared by the public functions.

Every error names the argument, what it got and what was expected, so a user can fix
the call without reading our source.
"""

from __future__ import annotations

import numpy as np


def shape_error(name: str, got, expected: str) -> ValueError:
    """A ValueError for argument `name` whose shape `got` is not `expected`."""
    return ValueError(f"{name}: got shape {tuple(got)}, expected {expected}")


def is_concrete(x) -> bool:
    """True when `x` holds values we can read on the host (not a tracer under jit)."""
    try:
        np.asarray(x)
    except Exception:  # jax raises a TracerArrayConversionError subclass under jit/grad
        return False
    return True


def check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name}: got {value!r}, expected one of {sorted(map(repr, choices))}")


def check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: got {value!r}, expected a positive integer")
    return int(value)
