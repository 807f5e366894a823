"""The layer protocol shared by every layer, and the symbolic tensors of the functional API.

A layer is a small object of hyperparameters with pure functions; it holds no weights
and no state:

  params = layer.init(key, x)                  # x: an array or jax.ShapeDtypeStruct
  y = layer.apply(params, x, mask=None, training=False, key=None)

Inside models every layer runs through one lower-level call that also threads state
(the carries of stateful RNN layers) and masks:

  y, new_state = layer.call(params, x, state=state, mask=mask, training=..., key=...)
  out_mask = layer.compute_mask(x, mask)

Calling a layer on a symbolic `Input` (or on the output of another such call) records
a graph node instead of computing, which is how `jrnn.Model` builds multi-input models,
as in Keras's functional API:

  x = jrnn.Input((None,), dtype="int32")
  y = jrnn.layers.Dense(10)(jrnn.layers.LSTM(32)(jrnn.layers.Embedding(100, 16)(x)))
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jrnn._checks import check_int, shape_error
from jrnn._serialize import deserialize, json_value, resolve_functions, serialize


class Layer:
    """Base class: hyperparameters plus pure `init`, `call` and `compute_mask`.

    Subclasses override `init` (when they have weights), `call`, and, when they change
    the time axis or create a mask, `compute_mask`. The defaults describe a layer with
    no weights and no state that passes the mask through unchanged.
    """

    #: how many arrays `call` returns (RNN layers with `return_state` return several)
    num_outputs = 1

    def __init_subclass__(cls, **kwargs):
        # A static pytree node (as cells are), so a layer can be an ordinary `jax.jit`
        # argument or sit in a tree beside its variables. Layers compare by identity:
        # the same layer object reuses a compiled program, another one compiles anew.
        super().__init_subclass__(**kwargs)
        jax.tree_util.register_static(cls)

    def __init__(self, *, name: str | None = None):
        if name is not None and not isinstance(name, str):
            raise TypeError(
                f"name: got {name!r} of type {type(name).__name__}, expected a non-empty "
                f"string or None"
            )
        if name == "":
            raise ValueError("name: got '', expected a non-empty string or None")
        self.name = name

    # -- pure functions ---------------------------------------------------------------
    def init(self, key, x) -> dict:
        """Parameters for input `x` (only its shape and dtype are read)."""
        del key, x
        return {}

    def init_state(self, x):
        """Initial state for input `x` (None: the layer keeps no state between calls)."""
        del x
        return None

    def call(self, params, x, *, state=None, mask=None, training=False, key=None):
        """Returns (y, new_state); `new_state` is None for layers without state."""
        raise NotImplementedError

    def compute_mask(self, x, mask):
        """The mask of the output (time steps that are padding), given the input's."""
        del x
        return mask

    def apply(self, params, x, *, mask=None, training=False, key=None, **kwargs):
        """Run the layer on its own: `y = layer.apply(params, x)`."""
        self.check_inputs(x)
        y, _ = self.call(params, x, state=None, mask=mask, training=training, key=key, **kwargs)
        return y

    def check_inputs(self, x) -> None:
        """Host-side checks of concrete input values (e.g. token ids); no-op by default."""
        del x

    # -- the layer-step protocol: one time step with an explicit carry ----------------
    # A layer that can run one time step at a time (causal recurrent layers, and layers
    # that act on each step alone) overrides `step_error` to return None and implements
    # `step` (and `step_init` when it keeps a carry). Decoding (`jrnn.lm_step`) walks a
    # model's layers through these methods only. The contract, for inputs x (B, T, ...)
    # and an optional mask (B, T):
    #
    #   carry = layer.step_init(params, B)
    #   for t in range(T):
    #       carry, y[:, t] = layer.step(params, carry, x[:, t], mask_t=mask[:, t])
    #
    # gives `layer.apply(params, x, mask=mask)` at inference (training=False) at every
    # step (for an RNN with return_sequences=False: its output is y at the last step).
    # The mask of the next layer's input is `layer.compute_mask(x[:, t], mask_t)`.

    def step_error(self) -> str | None:
        """None when the layer follows the layer-step protocol; otherwise why it cannot
        run one time step (said in errors that name the layer)."""
        return (
            "cannot run one time step (it reads the whole sequence, or has no step "
            "function): expected a causal layer that follows the layer-step protocol "
            "(Layer.step), such as Embedding, SimpleRNN, LSTM, GRU, RNN, Dropout, Dense or "
            "TimeDistributed"
        )

    def step_init(self, params, batch_size: int):
        """The carry before the first step: a pytree of arrays whose leading axis is
        `batch_size`, or None for a layer that keeps no carry between steps."""
        del params, batch_size
        return None

    def step(self, params, carry, x_t, *, mask_t=None):
        """One time step: `(carry, y_t)` from the carry and the input x_t (B, ...) at one
        step (the input without its time axis; token ids (B,) for an Embedding).

        mask_t: None or (B,) bool, False where the step is padding: a layer with a carry
        keeps it there and gives the output `apply` gives at a masked step.
        """
        raise NotImplementedError(f"{self.type_name}: {self.step_error()}")

    def step_logits(self, params, carry, x_t, *, mask_t=None):
        """`step` for the last layer of a step function that must return logits: the same
        by default; a layer whose output is a softmax returns log-probabilities instead
        (logits up to a constant per row: the same distribution, computed stably)."""
        return self.step(params, carry, x_t, mask_t=mask_t)

    def step_input_size(self, params) -> int | None:
        """The features of x_t this layer reads as a model's first layer: None for token
        ids (B,) (Embedding), else the size F of x_t (B, F) (a decoder feeds one-hot
        tokens of that size)."""
        raise ValueError(
            f"{self.type_name}: cannot read tokens as the first layer (its input size is "
            f"unknown); expected an Embedding or a layer whose parameters fix its input size"
        )

    def step_output_is_last(self) -> bool:
        """True when `apply` returns only the output at the last step (an RNN with
        return_sequences=False): stepped, its y_t is that output at the final step only,
        so no layer with a carry may follow it."""
        return False

    # -- description --------------------------------------------------------------------
    @property
    def type_name(self) -> str:
        return type(self).__name__

    @property
    def label(self) -> str:
        """How errors name this layer: its type, and its name when it has one."""
        return self.type_name if self.name is None else f"{self.type_name} {self.name!r}"

    def check_rank(self, x, ranks, expected: str, name: str = "x") -> None:
        """A ValueError naming this layer when `x` (array or spec) has a rank not in
        `ranks`."""
        shape = shape_dtype(x).shape
        if len(shape) not in ranks:
            raise shape_error(f"{self.label}: {name}", shape, expected)

    @property
    def default_name(self) -> str:
        """Keras-style snake_case name of the type: `GlobalMaxPooling1D` ->
        `global_max_pooling1d`."""
        return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", self.type_name).lower()

    def get_config(self) -> dict:
        """The constructor's arguments as plain JSON data (`json.dumps` works), so that
        `type(layer).from_config(layer.get_config())` rebuilds an equal layer. Functions
        (activations, initializers) are saved by name; nested layers and cells as
        `{"class_name", "config"}`. The default lists the public attributes, which is
        right for layers that store each argument under its own name."""
        config = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        return {k: json_value(v, k) for k, v in config.items()}

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        """The layer `get_config` described."""
        return cls(**resolve_functions(config))

    def __reduce__(self):
        # pickle and deepcopy rebuild the layer from its config: derived attributes
        # (resolved activation functions, tree definitions) are recomputed, not copied.
        return deserialize, (serialize(self),)

    def __repr__(self) -> str:
        try:
            config = self.get_config()
        except TypeError:  # an unregistered user cell: repr must still work
            config = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        args = ", ".join(f"{k}={v!r}" for k, v in config.items())
        return f"{self.type_name}({args})"

    # -- functional API -----------------------------------------------------------------
    def __call__(self, x, **kwargs):
        """Record a call on symbolic tensors (see `jrnn.Input`); returns the output node,
        or a tuple of nodes when the layer has several outputs."""
        leaves = jax.tree.leaves((x, kwargs), is_leaf=lambda v: isinstance(v, Node))
        if not any(isinstance(v, Node) for v in leaves):
            raise TypeError(
                f"{self.type_name}: called on {type(x).__name__}; call a layer on the "
                f"output of jrnn.Input(...) to build a model, or use "
                f"layer.apply(params, x) to compute"
            )
        call = CallNode(self, x, kwargs)
        call.outputs = tuple(Node(call, i) for i in range(self.num_outputs))
        return call.outputs[0] if self.num_outputs == 1 else call.outputs


class CallNode:
    """One call of a layer in a functional graph: its inputs and keyword arguments are
    pytrees whose leaves may be `Node`s. `order` counts calls in creation order, which is
    a valid evaluation order (a call's inputs exist before it) and Keras's layer order."""

    _counter = itertools.count()

    def __init__(self, layer: Layer, x, kwargs: dict):
        self.layer, self.x, self.kwargs = layer, x, kwargs
        self.outputs: tuple[Node, ...] = ()
        self.order = next(CallNode._counter)

    def parents(self) -> list[Node]:
        leaves = jax.tree.leaves((self.x, self.kwargs), is_leaf=lambda v: isinstance(v, Node))
        return [v for v in leaves if isinstance(v, Node)]


class Node:
    """A symbolic tensor: output `index` of a `CallNode`, or a model input."""

    def __init__(self, call: CallNode | None, index: int = 0, spec: InputSpec | None = None):
        self.call, self.index, self.spec = call, index, spec

    def __repr__(self) -> str:
        if self.spec is not None:
            return f"Input({self.spec})"
        return f"<output {self.index} of {self.call.layer.type_name}>"


class InputSpec:
    """Shape (without the batch axis; None = any size), dtype and name of a model input."""

    def __init__(self, shape, dtype, name, batch_size):
        self.shape, self.dtype, self.name, self.batch_size = shape, dtype, name, batch_size

    def example(self, fill: int = 1) -> jax.ShapeDtypeStruct:
        """A concrete spec with `fill` for every unknown size."""
        batch = self.batch_size or fill
        return jax.ShapeDtypeStruct(
            (batch, *(fill if d is None else d for d in self.shape)), self.dtype
        )

    def __repr__(self) -> str:
        return (
            f"shape={(self.batch_size, *self.shape)}, dtype={self.dtype.name}, name={self.name!r}"
        )


def Input(shape, dtype: Any = "float32", *, name: str | None = None, batch_size=None) -> Node:
    """A symbolic model input, as `keras.Input`: `shape` excludes the batch axis and may
    contain None (any length), e.g. `Input((None,), dtype="int32")` for token ids."""
    try:
        dtype = jnp.dtype(dtype)
    except TypeError:
        raise TypeError(
            f"dtype: got {dtype!r}, expected a dtype such as 'float32' or 'int32'"
        ) from None
    try:
        shape = tuple(None if d is None else int(d) for d in shape)
    except TypeError:
        raise TypeError(
            f"shape: got {shape!r}, expected a tuple of ints or None without the batch axis"
        ) from None
    if any(d is not None and d < 0 for d in shape):
        raise ValueError(f"shape: got {shape}, expected sizes >= 0 or None")
    batch_size = check_int("batch_size", batch_size, minimum=1, allow_none=True)
    return Node(None, 0, InputSpec(shape, dtype, name, batch_size))


def shape_dtype(x) -> jax.ShapeDtypeStruct:
    """Shape and dtype of an array, a ShapeDtypeStruct, or anything np.asarray takes."""
    if isinstance(x, jax.ShapeDtypeStruct):
        return x
    if not hasattr(x, "shape"):
        x = np.asarray(x)
    return jax.ShapeDtypeStruct(x.shape, x.dtype)


def as_float(x, dtype=jnp.float32):
    """Bool and integer inputs cast to the float `dtype` (as Keras casts inputs to a
    layer's compute dtype: one-hot bools feed a Dense); float inputs unchanged."""
    if jnp.issubdtype(x.dtype, jnp.floating):
        return x
    return x.astype(dtype)


def require_key(key, training: bool, needed: bool, layer: str):
    """Check that a layer whose dropout is active got a PRNG key; returns `key`."""
    if training and needed and key is None:
        raise ValueError(
            f"key: got None, expected a PRNG key (jax.random.key) for {layer}'s dropout "
            f"with training=True"
        )
    return key


jax.tree_util.register_static(Layer)
