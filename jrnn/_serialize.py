"""Class names in configs: the registry of serializable classes, and plain-JSON values.

A serialized object is `{"class_name": name, "config": obj.get_config()}`. Built-in
layers and cells are named by their class name ("LSTM", "LSTMCell"); user classes are
named "package>Name" after `register_serializable` (as Keras's
`register_keras_serializable`). Lookup is explicit: a config that names a class nobody
registered is an error telling the user to register it, never a guess by import path.

This module sits below cells and layers (both serialize nested objects through it);
`jrnn.saving` re-exports the public decorator.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from jrnn import activations, initializers

_BUILTIN: dict[str, type] = {}
_CUSTOM: dict[str, object] = {}
_NAME_OF: dict[object, str] = {}  # registered class or function -> its config name


def register_builtin(*classes: type) -> None:
    """Make jrnn's own classes loadable under their plain class names."""
    for cls in classes:
        _BUILTIN[cls.__name__] = cls
        _NAME_OF[cls] = cls.__name__


def register_serializable(package: str = "Custom", name: str | None = None) -> Callable:
    """Decorator: register a user cell, layer or function so configs can name it.

        @jrnn.saving.register_serializable(package="my_project")
        @dataclasses.dataclass(frozen=True)
        class IndRNNCell: ...

    The config names it "my_project>IndRNNCell" (`name` replaces the class name). To load a
    saved model that uses it, import the module that defines it before `load_model`.
    A class's config is `get_config()` when it has one, else its dataclass fields; it is
    rebuilt with `from_config(config)` when it has one, else `cls(**config)`. A registered
    function (e.g. an activation) is saved by its registered name.
    """
    for arg, value in (("package", package), ("name", name)):
        if value is None and arg == "name":
            continue
        if not isinstance(value, str):
            raise TypeError(
                f"{arg}: got {value!r} of type {type(value).__name__}, expected a non-empty "
                f"string without '>'"
            )
        if not value or ">" in value:
            raise ValueError(f"{arg}: got {value!r}, expected a non-empty string without '>'")

    def decorate(obj):
        if not callable(obj):
            raise TypeError(
                f"register_serializable: got {type(obj).__name__}, expected a class or function"
            )
        key = f"{package}>{name or obj.__name__}"
        old = _CUSTOM.get(key)
        if old is not None and old is not obj and _qualname(old) != _qualname(obj):
            # re-running a notebook cell re-registers the same class: allowed
            raise ValueError(f"register_serializable: {key!r} is already registered to {old!r}")
        _CUSTOM[key] = obj
        _NAME_OF[obj] = key
        return obj

    return decorate


def _qualname(obj) -> str:
    return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"


def registered_name(obj_or_cls, _what: str = "obj_or_cls") -> str:
    """The config name of a built-in or registered class (or of `obj`'s class)."""
    cls = obj_or_cls if isinstance(obj_or_cls, type) else type(obj_or_cls)
    name = _NAME_OF.get(cls)
    if name is None:
        raise TypeError(
            f"{_what}: got {cls.__module__}.{cls.__qualname__}, which is not registered, so "
            f"a config cannot name it; expected a built-in class, or one decorated with "
            f"@jrnn.saving.register_serializable()"
        )
    return name


def lookup(name: str):
    """The class (or function) a config names; a clear error for an unknown name."""
    if not isinstance(name, str):
        raise ValueError(f"class_name: got {name!r}, expected a string")
    found = _CUSTOM.get(name) if ">" in name else _BUILTIN.get(name)
    if found is None:
        if ">" in name:
            raise ValueError(
                f"class_name: got {name!r}, a user class that is not registered in this "
                f"process; import the module that defines it (decorated with "
                f"@jrnn.saving.register_serializable(package={name.split('>')[0]!r})) "
                f"before loading"
            )
        raise ValueError(
            f"class_name: got {name!r}, which is not a jrnn layer or cell; a user-defined "
            f"class must be registered with @jrnn.saving.register_serializable() and saved "
            f"under its 'package>Name'"
        )
    return found


def serialize(obj) -> dict:
    """`{"class_name", "config"}` of a built-in or registered layer or cell."""
    name = registered_name(obj, "obj")
    if hasattr(obj, "get_config"):
        config = obj.get_config()
    elif dataclasses.is_dataclass(obj):
        config = {f.name: json_value(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    else:
        raise TypeError(
            f"{type(obj).__qualname__}: has no get_config() and is not a dataclass, so "
            f"its configuration is unknown; add get_config()/from_config()"
        )
    return {"class_name": name, "config": config}


def deserialize(spec):
    """The object `serialize` described (its class looked up in the registry)."""
    if not isinstance(spec, dict):
        raise TypeError(
            f"spec: got {_short(spec)} of type {type(spec).__name__}, expected a dict with "
            f"'class_name' and 'config' (as serialize returns)"
        )
    if not ("class_name" in spec and "config" in spec):
        raise ValueError(
            f"config: got {_short(spec)}, expected a dict with 'class_name' and 'config'"
        )
    cls = lookup(spec["class_name"])
    config = spec["config"]
    if not isinstance(config, dict):
        raise ValueError(f"config of {spec['class_name']}: got {_short(config)}, expected a dict")
    if hasattr(cls, "from_config"):
        return cls.from_config(config)
    return cls(**config)


def json_value(value, what: str = "value"):
    """A hyperparameter as plain JSON: names for jrnn's activations and initializers and
    for registered functions; tuples as lists; NumPy scalars as Python numbers."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [json_value(v, what) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v, what) for k, v in value.items()}
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return value.item()
    if callable(value):
        name = _function_name(value)
        if name is not None:
            return name
    raise TypeError(
        f"{what}: got {value!r}, which a config cannot hold; pass a name (such as 'tanh' or "
        f"'glorot_uniform') or register the function with "
        f"@jrnn.saving.register_serializable()"
    )


def _function_name(fn) -> str | None:
    if fn in _NAME_OF:
        return _NAME_OF[fn]
    for table in (activations.ACTIVATIONS, initializers.INITIALIZERS):
        for name, f in table.items():
            if f is fn and name is not None:
                return name
    return None


def resolve_function(value):
    """A saved function name back to the function when it is a registered user function;
    jrnn's own names stay names (layers and cells resolve them themselves)."""
    if isinstance(value, str) and ">" in value:
        return lookup(value)
    return value


def resolve_functions(config: dict) -> dict:
    """`config` with its activation and initializer entries resolved (`resolve_function`)."""
    return {
        k: resolve_function(v) if k.endswith(("activation", "initializer")) else v
        for k, v in config.items()
    }


def _short(v) -> str:
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."
