"""Atomic file writes: a crash leaves the old file or the new one, never half of one.

Write to a temporary file in the same directory, flush and fsync it, `os.replace` it
onto the final name (atomic on POSIX), then fsync the directory so the rename itself
survives a power loss. The temporary name is `<name>.<pid>.<random>.tmp`, so readers
that list final names never see it and a later cleanup can find leftovers.
"""

from __future__ import annotations

import os
import pathlib
import uuid
from collections.abc import Callable


def atomic_write(path, write: Callable, *, binary: bool = True) -> pathlib.Path:
    """Create or replace `path` with what `write(file)` writes; returns the path."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb" if binary else "x", encoding=None if binary else "utf-8") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())  # the data must be on disk before the rename publishes it
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a hard crash may still leave one; readers ignore it
        raise
    if os.name != "nt":  # make the rename durable (Windows cannot open a directory)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return path


def atomic_write_text(path, text: str) -> pathlib.Path:
    """`atomic_write` for a UTF-8 string."""
    return atomic_write(path, lambda f: f.write(text), binary=False)
