"""A functional model's graph as plain JSON, and the graph rebuilt from it.

    {"layers": [{"name", "class_name", "config"}, ...],   # each layer once, in call order
     "inputs": [{"shape", "dtype", "name", "batch_size"}, ...],
     "calls": [{"layer": name, "args": tree, "kwargs": tree}, ...],   # in evaluation order
     "outputs": tree}

A tree is the call's inputs as given (a node, a list, a dict) with every symbolic tensor
written `{"__node__": ["input", i]}` (model input i) or `{"__node__": [c, k]}` (output k
of call c), and a tuple `{"__tuple__": [...]}` (lists stay lists). A layer called twice
appears once in "layers" and twice in "calls", so the rebuilt model shares its
parameters the same way. Each layer's config carries the name the model gave it, so the
rebuilt model keys `variables["params"]` identically.
"""

from __future__ import annotations

import jax.numpy as jnp

from jrnn._serialize import deserialize, serialize
from jrnn.layers.base import Input, InputSpec, Node

_NODE = "__node__"
_TUPLE = "__tuple__"


def named_layer_config(layer, name: str) -> dict:
    """{"name", "class_name", "config"} with the model's name for the layer in its config."""
    spec = serialize(layer)
    return {
        "name": name,
        "class_name": spec["class_name"],
        "config": {**spec["config"], "name": name},
    }


def layer_from_config(entry: dict):
    return deserialize({"class_name": entry["class_name"], "config": entry["config"]})


def spec_config(spec: InputSpec) -> dict | None:
    if spec is None or spec.shape is None:
        return None
    return {
        "shape": list(spec.shape),
        "dtype": jnp.dtype(spec.dtype).name,
        "name": spec.name,
        "batch_size": spec.batch_size,
    }


def input_from_config(config: dict) -> Node:
    return Input(
        tuple(config["shape"]),
        config["dtype"],
        name=config.get("name"),
        batch_size=config.get("batch_size"),
    )


def graph_config(inputs, calls, outputs, name_of) -> dict:
    """The JSON graph of a functional model (see the module docstring)."""
    refs = {id(node): ["input", i] for i, node in enumerate(inputs)}
    layers, seen, call_configs = [], set(), []
    for c, call in enumerate(calls):
        if id(call.layer) not in seen:
            seen.add(id(call.layer))
            layers.append(named_layer_config(call.layer, name_of(call.layer)))
        call_configs.append(
            {
                "layer": name_of(call.layer),
                "args": _encode(call.x, refs),
                "kwargs": _encode(call.kwargs, refs),
            }
        )
        for k, node in enumerate(call.outputs):
            refs[id(node)] = [c, k]
    return {
        "layers": layers,
        "inputs": [spec_config(node.spec) for node in inputs],
        "calls": call_configs,
        "outputs": _encode(outputs, refs),
    }


def graph_from_config(config: dict):
    """(inputs, outputs) of the graph `graph_config` wrote, with fresh layers."""
    for key in ("layers", "inputs", "calls", "outputs"):
        if key not in config:
            raise ValueError(f"config: missing {key!r}, expected a functional model's config")
    layers = {entry["name"]: layer_from_config(entry) for entry in config["layers"]}
    inputs = [input_from_config(c) for c in config["inputs"]]
    produced: list[tuple] = []
    for c, call in enumerate(config["calls"]):
        if call["layer"] not in layers:
            raise ValueError(
                f"config['calls'][{c}]: calls layer {call['layer']!r}, which is not in "
                f"config['layers'] {sorted(layers)}"
            )
        x = _decode(call["args"], inputs, produced)
        kwargs = _decode(call["kwargs"], inputs, produced)
        out = layers[call["layer"]](x, **kwargs)
        produced.append(out if isinstance(out, tuple) else (out,))
    return inputs, _decode(config["outputs"], inputs, produced)


def _encode(tree, refs):
    if isinstance(tree, Node):
        return {_NODE: refs[id(tree)]}
    if isinstance(tree, tuple):  # kept apart from lists: apply returns the same containers
        return {_TUPLE: [_encode(v, refs) for v in tree]}
    if isinstance(tree, list):
        return [_encode(v, refs) for v in tree]
    if isinstance(tree, dict):
        return {str(k): _encode(v, refs) for k, v in tree.items()}
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree
    raise TypeError(f"model graph: got a {type(tree).__name__} among a call's arguments")


def _decode(tree, inputs, produced):
    if isinstance(tree, dict) and set(tree) == {_NODE}:
        where, index = tree[_NODE]
        return inputs[index] if where == "input" else produced[where][index]
    if isinstance(tree, dict) and set(tree) == {_TUPLE}:
        return tuple(_decode(v, inputs, produced) for v in tree[_TUPLE])
    if isinstance(tree, list):
        return [_decode(v, inputs, produced) for v in tree]
    if isinstance(tree, dict):
        return {k: _decode(v, inputs, produced) for k, v in tree.items()}
    return tree
