"""Export for serving: a model's inference function, or one step of it, as a
`jax.export.Exported` that runs in a process that imports only `jax`.

  exported = jrnn.export(model, variables, x_example)         # x: (B, T) ids, (B, T, F)
  blob = exported.serialize()                                 # bytes (needs flatbuffers)
  y = jax.export.deserialize(blob).call(x)                    # any B, any T

The variables are constants of the exported program, so the artifact needs only the
inputs. The batch axis (and, where an input has one, the time axis) is a symbolic
dimension, so one artifact serves every batch size and sequence length. Two step forms
serve streams, carry in and carry out (carry first, as `lax.scan` and `jrnn.lm_step`):

  jrnn.export_step(model, variables)                # (carry, tokens (B,)) -> (carry, logits)
  jrnn.export_chunk_step(model, variables, x)       # (state, x (B, T, ...)) -> (state, y)

A served process makes the zero carry from the artifact's own input shapes (see
`export_step`), so it needs no jrnn code at all.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import export as jax_export

from jrnn.decoding import lm_step
from jrnn.layers.base import shape_dtype
from jrnn.models import Model

# What jax.export lowers for; "gpu" is ambiguous there (cuda or rocm).
_PLATFORMS = ("cpu", "cuda", "rocm", "tpu")


def export(
    model,
    variables,
    example_inputs,
    *,
    batch: str | None = "b",
    time="t",
    platforms: Sequence[str] | str | None = None,
    constraints: Sequence[str] = (),
) -> jax_export.Exported:
    """Export `model`'s inference function `x -> model.apply(variables, x)[0]`
    (training=False: no dropout) for serving with `jax.export`.

    The variables are baked into the program as constants: the artifact takes only the
    inputs and returns the outputs `jrnn.predict` gives, in the same pytree structure.

    Which axes are symbolic: every input's axis 0 is the batch (symbol `batch`, shared
    by all inputs). An input has a time axis, axis 1, when it is integer (or bool) of
    rank >= 2 (token ids (B, T), (B, T, K)) or floating of rank >= 3 (features
    (B, T, F)); (B,) ids and (B, F) features have none. A time axis is symbolic unless
    the model's `jrnn.Input` fixes its length. An `Input(batch_size=...)` fixes the
    batch likewise. Other axes keep the example's sizes.

    Args:
      model: a `jrnn.Sequential` or `jrnn.Model`.
      variables: its variables (`model.init` or trained). A model with stateful layers
        starts from `variables["state"]`, whose batch is fixed: export it with
        `batch=None`, or use `export_chunk_step` to pass the state in and out.
      example_inputs: an array (or `jax.ShapeDtypeStruct`) for a one-input model, or a
        list of them in the order of `model.inputs`; only shapes and dtypes are read.
      batch: the name of the batch symbol, or None for the example's batch size.
      time: the name of the time symbol, None for the example's lengths, or a list with
        one name (or None) per input. With one string and several inputs that have a
        time axis, input i gets its own symbol f"{time}{i}" (an encoder's and a
        decoder's lengths differ); give the same name twice for inputs whose lengths
        must be equal.
      platforms: None (the current backend), or platform names, e.g. ("cpu", "cuda"):
        one artifact with code for each, picked where it runs.
      constraints: `jax.export` constraints on the symbols, for layers whose output
        size is only valid for some lengths: a `Conv1D(8, 3)` with "valid" padding
        needs `constraints=("t >= 3",)` (calls with shorter inputs are then refused).

    Returns:
      a `jax.export.Exported`: `.call(x)` runs it, `.serialize()` gives bytes for
      `jax.export.deserialize`, `.in_avals` shows the symbolic shapes.

    Example:
      exported = jrnn.export(model, variables, jnp.zeros((2, 7), jnp.int32))
      blob = exported.serialize()
      # elsewhere, with only jax: jax.export.deserialize(blob).call(ids)  # ids (B, T)
    """
    _check_model(model)
    _check_variables(variables)
    examples, single = _examples(model, example_inputs)
    platforms = _check_platforms(platforms)
    if batch is not None and jax.tree.leaves(variables.get("state", {})):
        raise ValueError(
            f"batch: got {batch!r} for a model with stateful layers, whose carried state "
            f"fixes the batch size; expected batch=None (the example's batch), or export "
            f"the chunk step with jrnn.export_chunk_step to pass the state in and out"
        )
    specs = _input_specs(model, examples, batch, time, constraints)

    def predict(x):
        return model.apply(variables, x, training=False)[0]

    args = (specs[0] if single else specs,)
    concrete = (examples[0] if single else examples,)
    return _export(predict, args, concrete, platforms, batch, time)


def export_step(
    model,
    variables,
    *,
    layers=None,
    batch: str | int = "b",
    platforms: Sequence[str] | str | None = None,
) -> jax_export.Exported:
    """Export a language model's decoding step, `jrnn.lm_step`'s
    `step(carry, tokens (B,) int32) -> (carry, logits (B, V))`, for serving.

    The parameters are constants of the program; the carry (a tuple with one carry per
    recurrent layer, e.g. `((h, c),)` for one LSTM, each array (B, H)) goes in and out,
    so a server can feed a prompt and sample or search one token at a time. Its batch
    axis is the symbol `batch`. A served process builds the zero carry from the
    artifact itself, without jrnn:

      step = jax.export.deserialize(blob)
      (carry_avals, _), _ = jax.tree.unflatten(step.in_tree, step.in_avals)
      carry = jax.tree.map(lambda a: np.zeros((B, *a.shape[1:]), a.dtype), carry_avals)
      carry, logits = step.call(carry, tokens)           # tokens (B,) int32

    Args:
      model, variables, layers: as for `jrnn.lm_step` (a `jrnn.Sequential` language
        model, or a `jrnn.Model` with the names of its decoder's layers).
      batch: the name of the batch symbol, or an int for a fixed batch size.
      platforms: as for `export`.

    Returns:
      a `jax.export.Exported` of `(carry, tokens) -> (carry, logits)`.
    """
    _check_model(model)
    _check_variables(variables)
    platforms = _check_platforms(platforms)
    step, initial_carry = lm_step(model, variables, layers=layers)
    scope = jax_export.SymbolicScope()
    b = _batch_dim(batch, scope)
    carry = jax.eval_shape(lambda: initial_carry(1))
    carry_specs = jax.tree.map(lambda a: _with_batch(a, b), carry)
    tokens = jax.ShapeDtypeStruct((b,), jnp.int32)

    def decode_step(carry, tokens):
        return step(carry, tokens)

    concrete = (jax.eval_shape(lambda: initial_carry(2)), jax.ShapeDtypeStruct((2,), jnp.int32))
    return _export(decode_step, (carry_specs, tokens), concrete, platforms, batch, None)


def export_chunk_step(
    model,
    variables,
    example_inputs,
    *,
    batch: str | None = "b",
    time="t",
    platforms: Sequence[str] | str | None = None,
    constraints: Sequence[str] = (),
) -> jax_export.Exported:
    """Export a stateful model's chunk step, `(state, x) -> (new_state, outputs)`, for
    consuming a stream chunk by chunk.

    One call is `outputs, new_state = model.apply({**variables, "state": state}, x)`
    (training=False) with the parameters as constants, returned carry first like
    `export_step`. `state` is `variables["state"]`'s structure (a dict by layer name of
    the stateful layers' carries, each array (B, ...)); feeding each call's new state
    to the next equals running the whole stream at once. The chunk's batch axis and its
    time axis (see `export`) are symbolic, so chunks may have any length and the served
    model any number of streams. Zero states come from the artifact as in
    `export_step`; `variables["state"]` (e.g. saved with numpy) resumes a stream.

    Args:
      model: a model with at least one stateful layer (`stateful=True`).
      variables: its variables; `variables["state"]` gives the state's structure.
      example_inputs, batch, time, platforms, constraints: as for `export`.

    Returns:
      a `jax.export.Exported` of `(state, x) -> (new_state, outputs)`.
    """
    _check_model(model)
    _check_variables(variables)
    state = variables.get("state", {})
    if not jax.tree.leaves(state):
        raise ValueError(
            "model: has no stateful layer (variables['state'] is empty), so there is no "
            "state to carry between chunks; expected a model with stateful=True RNN "
            "layers (export a stateless model with jrnn.export, a language model's "
            "decoding step with jrnn.export_step)"
        )
    examples, single = _examples(model, example_inputs)
    platforms = _check_platforms(platforms)
    specs = _input_specs(model, examples, batch, time, constraints)
    b = specs[0].shape[0]
    state_specs = jax.tree.map(lambda a: _with_batch(shape_dtype(a), b), state)

    def chunk_step(state, x):
        y, new_state = model.apply({**variables, "state": state}, x, training=False)
        return new_state, y

    x_arg = specs[0] if single else specs
    concrete = (state, examples[0] if single else examples)
    return _export(chunk_step, (state_specs, x_arg), concrete, platforms, batch, time)


# -- helpers ------------------------------------------------------------------------------
def _export(fn, args, concrete, platforms, batch, time) -> jax_export.Exported:
    """jax.export of `fn` at the (symbolic) `args`. The function is first traced at the
    concrete example shapes, so a model error reads as it does in `model.apply`; a
    failure only at the symbolic shapes then says which symbols were in use."""
    jax.eval_shape(fn, *concrete)
    try:
        return jax_export.export(jax.jit(fn), platforms=platforms)(*args)
    except Exception as e:
        error = e
    try:  # not about the symbols if the example's fixed sizes fail as well
        jax_export.export(jax.jit(fn), platforms=platforms)(*concrete)
        symbols = True
    except Exception:
        symbols = False
    if not symbols:
        raise error
    raise ValueError(
        f"export: the model traces at the example shapes but not with symbolic "
        f"dimensions (batch={batch!r}, time={time!r}); some layer needs a concrete "
        f"size there. Pass time=None (or batch=None) to export fixed sizes; for "
        f"inputs whose lengths must be equal, one time name per input with the same "
        f"name repeated (time=['t', 't']); for a layer that needs a minimum length "
        f"(Conv1D with 'valid' padding), constraints=('t >= 3',). The error: "
        f"{type(error).__name__}: {error}"
    ) from error


def _check_model(model) -> None:
    if not isinstance(model, Model):
        raise TypeError(
            f"model: got {type(model).__name__}, expected a jrnn.Sequential or jrnn.Model"
        )


def _check_variables(variables) -> None:
    if not (isinstance(variables, dict) and "params" in variables):
        got = sorted(variables) if isinstance(variables, dict) else type(variables).__name__
        raise TypeError(
            f"variables: got {got}, expected the model's variables, a dict with 'params' "
            f"(and 'state') as model.init returns"
        )


def _examples(model, example_inputs):
    """([ShapeDtypeStruct per model input], whether the model takes a single array)."""
    n = len(model.inputs)
    single = not isinstance(example_inputs, (list, tuple))
    xs = [example_inputs] if single else list(example_inputs)
    if len(xs) != n:
        raise ValueError(
            f"example_inputs: got {len(xs)} array{'s' * (len(xs) != 1)}, expected {n} "
            f"(one per model input, a list in the order of model.inputs)"
        )
    specs = []
    for i, x in enumerate(xs):
        if isinstance(x, dict) or x is None:
            raise TypeError(
                f"example_inputs[{i}]: got {type(x).__name__}, expected an array or a "
                f"jax.ShapeDtypeStruct"
            )
        s = shape_dtype(x)
        if len(s.shape) < 1:
            raise ValueError(
                f"example_inputs[{i}]: got shape {tuple(s.shape)}, expected a batch axis "
                f"first, e.g. (B, T) token ids or (B, T, F) features"
            )
        specs.append(s)
    return specs, single and n == 1


def _check_platforms(platforms):
    if platforms is None:
        return None
    if isinstance(platforms, str):
        platforms = (platforms,)
    if not isinstance(platforms, (list, tuple)):
        raise TypeError(
            f"platforms: got {platforms!r} of type {type(platforms).__name__}, expected None, "
            f"a platform name or a list of them"
        )
    platforms = tuple(platforms)
    bad = [p for p in platforms if p not in _PLATFORMS]
    if bad or not platforms:
        raise ValueError(
            f"platforms: got {platforms!r}, expected None or names from {_PLATFORMS} "
            f"(cuda or rocm, not gpu)"
        )
    return platforms


def _time_axis(s: jax.ShapeDtypeStruct) -> int | None:
    """Axis 1 when the input has a time axis (module doc), else None."""
    floating = jnp.issubdtype(s.dtype, jnp.floating)
    return 1 if len(s.shape) >= (3 if floating else 2) else None


def _time_names(time, n: int, has_time: list[bool]) -> list[str | None]:
    if time is None or isinstance(time, str):
        if isinstance(time, str) and sum(has_time) > 1:
            return [f"{time}{i}" for i in range(n)]
        return [time] * n
    if isinstance(time, (list, tuple)) and len(time) == n:
        for i, t in enumerate(time):
            if t is not None and not isinstance(t, str):
                raise TypeError(f"time[{i}]: got {t!r}, expected a symbol name or None")
        return list(time)
    error = ValueError if isinstance(time, (list, tuple)) else TypeError
    raise error(
        f"time: got {time!r}, expected a symbol name, None, or a list of {n} names or None "
        f"(one per model input)"
    )


def _input_specs(model, examples, batch, time, constraints) -> list[jax.ShapeDtypeStruct]:
    """The example specs with the batch and time axes made symbolic (one scope)."""
    if batch is not None and not isinstance(batch, str):
        raise TypeError(f"batch: got {batch!r}, expected a symbol name (str) or None")
    has_time = [_time_axis(s) is not None for s in examples]
    names = _time_names(time, len(examples), has_time)
    if not isinstance(constraints, (list, tuple)) or not all(
        isinstance(c, str) for c in constraints
    ):
        raise TypeError(
            f"constraints: got {constraints!r}, expected a sequence of strings such as ('t >= 3',)"
        )
    try:
        scope = jax_export.SymbolicScope(tuple(constraints))
    except ValueError as e:
        raise ValueError(
            f"constraints: got {constraints!r}, which jax.export rejects: {e}"
        ) from None
    specs = []
    for i, (node, s, t) in enumerate(zip(model.inputs, examples, names)):
        spec = node.spec
        dims = [str(d) for d in s.shape]
        if batch is not None and not (spec is not None and spec.batch_size):
            dims[0] = batch
        fixed_length = spec is not None and spec.shape and spec.shape[0] is not None
        if has_time[i] and t is not None and not fixed_length:
            dims[1] = t
        try:
            shape = jax_export.symbolic_shape(", ".join(dims), scope=scope)
        except ValueError as e:
            raise ValueError(
                f"batch, time: got {batch!r}, {t!r} for input {i}, expected identifiers "
                f"such as 'b' and 't' ({e})"
            ) from None
        specs.append(jax.ShapeDtypeStruct(shape, s.dtype))
    return specs


def _batch_dim(batch, scope):
    if isinstance(batch, str):
        try:
            return jax_export.symbolic_shape(batch, scope=scope)[0]
        except ValueError:
            raise ValueError(f"batch: got {batch!r}, expected an identifier such as 'b'") from None
    if isinstance(batch, int) and not isinstance(batch, bool):
        if batch < 1:
            raise ValueError(f"batch: got {batch}, expected a symbol name (str) or a positive int")
        return batch
    raise TypeError(f"batch: got {batch!r}, expected a symbol name (str) or a positive int")


def _with_batch(a, b) -> jax.ShapeDtypeStruct:
    """`a`'s spec with its leading (batch) axis of size `b`."""
    shape = tuple(a.shape)
    return jax.ShapeDtypeStruct((b, *shape[1:]) if shape else shape, a.dtype)
