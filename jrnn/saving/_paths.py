"""Nested containers rebuilt from the `jax.tree_util.keystr` paths a checkpoint's manifest
records, so saved variables load without a template.

    {".params['dense']['kernel']": k, ".model_state['lstm'][0]": h}
      -> {"params": {"dense": {"kernel": k}}, "model_state": {"lstm": (h,)}}

Attribute (`.name`) and string keys (`['name']`) become dicts; integer indices
(`[0]`) become tuples (cells' stacked params and carries are tuples).
"""

from __future__ import annotations

import ast
import re

_KEY = re.compile(r"\.([A-Za-z_]\w*)|\[(-?\d+|'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\]")


def parse_path(path: str) -> list:
    """`.params['dense'][0]` -> ["params", "dense", 0]; ValueError for other forms."""
    keys, pos = [], 0
    while pos < len(path):
        m = _KEY.match(path, pos)
        if m is None:
            raise ValueError(f"leaf path {path!r}: cannot read it at position {pos}")
        keys.append(m.group(1) if m.group(1) is not None else ast.literal_eval(m.group(2)))
        pos = m.end()
    return keys


def tree_from_paths(values: dict) -> dict:
    """{path: leaf} -> nested dicts and tuples (see the module docstring)."""
    root: dict = {}
    for path, value in values.items():
        keys = parse_path(path)
        if not keys:
            raise ValueError(f"leaf path {path!r}: expected a path inside a container")
        node = root
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ValueError(f"leaf path {path!r}: conflicts with another saved leaf")
        if keys[-1] in node:
            raise ValueError(f"leaf path {path!r}: saved twice")
        node[keys[-1]] = value
    return _tuples(root)


def _tuples(node):
    if not isinstance(node, dict):
        return node
    out = {k: _tuples(v) for k, v in node.items()}
    if out and all(isinstance(k, int) for k in out):
        if sorted(out) != list(range(len(out))):
            raise ValueError(f"saved indices {sorted(out)}: expected 0..{len(out) - 1}")
        return tuple(out[i] for i in range(len(out)))
    return out
