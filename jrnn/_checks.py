"""Argument checks shared by the public functions.

Every error names the argument, what it got and what was expected, so a user can fix
the call without reading our source.
"""

from __future__ import annotations

import operator
import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from jax.export import is_symbolic_dim


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


def check_lengths(name: str, lengths, shape: tuple, maximum: int, what: str):
    """Integer `lengths` of `shape`, each in [0, maximum] (checked on the host when the
    values are concrete; `what` says what `maximum` counts); returned as int32."""
    lengths = jnp.asarray(lengths)
    if not jnp.issubdtype(lengths.dtype, jnp.integer):
        raise TypeError(f"{name}: got dtype {lengths.dtype}, expected integers")
    if lengths.shape != tuple(shape):
        raise shape_error(name, lengths.shape, f"{tuple(shape)}, one length per sequence")
    if is_concrete(lengths):
        bad = np.asarray(lengths)
        bad = bad[(bad < 0) | (bad > maximum)]
        if bad.size:
            raise ValueError(
                f"{name}: got {bad.tolist()[:5]} out of range, expected 0 <= length <= "
                f"{maximum} ({what})"
            )
    return lengths.astype(jnp.int32)


def check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name}: got {value!r}, expected one of {sorted(map(repr, choices))}")


def check_int(name: str, value, *, minimum: int | None = None, allow_none: bool = False):
    """`value` as a Python int: the one integer-argument check.

    A bool, float or other non-integer raises TypeError; a value below `minimum` raises
    ValueError; None is returned as is with `allow_none`. Messages name the argument,
    what it got and what was expected.
    """
    if value is None and allow_none:
        return None
    expected = "an integer" if minimum is None else f"an integer >= {minimum}"
    if minimum == 1:
        expected = "a positive integer"
    if allow_none:
        expected = f"None or {expected}"
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        raise TypeError(
            f"{name}: got {value!r} of type {type(value).__name__}, expected {expected}"
        ) from None
    if minimum is not None and number < minimum:
        raise ValueError(f"{name}: got {number}, expected {expected}")
    return number


def check_positive_int(name: str, value) -> int:
    """`check_int(name, value, minimum=1)`."""
    return check_int(name, value, minimum=1)


def check_rate(name: str, value) -> float:
    """A dropout fraction in [0, 1), as a float."""
    if isinstance(value, bool) or not (isinstance(value, (int, float)) and 0.0 <= value < 1.0):
        raise ValueError(f"{name}: got {value!r}, expected a number in [0, 1)")
    return float(value)


def check_key(name: str, key):
    """A PRNG key: a typed key array (`jax.random.key`) or a raw uint32 key
    (`jax.random.PRNGKey`). Anything else raises TypeError before JAX's PRNG code does."""
    if isinstance(key, (jax.Array, np.ndarray)):
        if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) or (
            key.dtype == np.uint32 and key.ndim == 1
        ):
            return key
        what = f"an array of dtype {key.dtype} and shape {tuple(key.shape)}"
    else:
        what = f"{key!r} of type {type(key).__name__}"
    raise TypeError(f"{name}: got {what}, expected a PRNG key such as jax.random.key(0)")


def check_batch_size(name: str, batch_size):
    """None (unbatched), a size >= 0, a tuple of sizes, or a symbolic size (jax.export);
    returned unchanged. A negative or non-integer size raises before `jnp.zeros` sees it."""
    if batch_size is None or is_symbolic_dim(batch_size):
        return batch_size
    if isinstance(batch_size, tuple):
        for i, b in enumerate(batch_size):
            if not is_symbolic_dim(b):
                check_int(f"{name}[{i}]", b, minimum=0)
        return batch_size
    try:
        return check_int(name, batch_size, minimum=0)
    except TypeError:
        raise TypeError(
            f"{name}: got {batch_size!r} of type {type(batch_size).__name__}, expected None, "
            f"an integer >= 0 or a tuple of them"
        ) from None


def check_config(name: str, config, keys) -> dict:
    """`config` a dict with every key in `keys` (what `from_config` reads)."""
    if not isinstance(config, dict):
        raise TypeError(f"{name}: got {type(config).__name__}, expected a dict")
    missing = [k for k in keys if k not in config]
    if missing:
        raise ValueError(
            f"{name}: got keys {sorted(config)}, expected the keys {list(keys)} "
            f"(as from get_config())"
        )
    return config


def check_path(name: str, value) -> pathlib.Path:
    """`value` (a str or os.PathLike) as a Path; anything else raises TypeError naming
    `name`, before pathlib's own message (which names no argument) could."""
    if isinstance(value, (str, os.PathLike)) and not isinstance(value, bytes):
        return pathlib.Path(value)
    raise TypeError(
        f"{name}: got {value!r} of type {type(value).__name__}, expected a path (str or "
        f"os.PathLike)"
    )


def check_bool(name: str, value) -> bool:
    """`value` must be a bool (NumPy's bool too): a truthy string such as "no" is refused."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name}: got {value!r} of type {type(value).__name__}, expected a bool")
