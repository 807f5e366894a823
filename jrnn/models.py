"""Models: `Sequential` and the functional `Model` (several inputs and outputs), pure
`init`/`apply`, and a Keras-style `summary`.

  model = jrnn.Sequential([jrnn.layers.Embedding(1000, 64), jrnn.layers.LSTM(128),
                           jrnn.layers.Dense(10)])
  variables = model.init(jax.random.key(0), jnp.zeros((2, 7), jnp.int32))
  y, new_state = model.apply(variables, x, training=False)
  model.summary(variables)

`variables = {"params": {layer name: params}, "state": {layer name: state}}`; state holds
the carries of stateful RNN layers (and is empty otherwise). `apply` returns the new
state instead of storing it; `reset_states` gives zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jrnn._checks import check_key, check_positive_int
from jrnn._model_config import (
    graph_config,
    graph_from_config,
    input_from_config,
    layer_from_config,
    named_layer_config,
    spec_config,
)
from jrnn._serialize import register_builtin
from jrnn.layers.base import CallNode, InputSpec, Layer, Node, shape_dtype


class Head(NamedTuple):
    """The last layer call of a model output: its input `features`, the `layer`, and
    the layer's `params` (see `Model.apply_with_heads`)."""

    features: Any
    layer: Layer
    params: Any


def _is_node(v) -> bool:
    return isinstance(v, Node)


def _map_nodes(fn, tree):
    return jax.tree.map(lambda v: fn(v) if _is_node(v) else v, tree, is_leaf=_is_node)


class Model:
    """A graph of layer calls from `inputs` (`jrnn.Input` nodes) to `outputs`, as Keras's
    functional API. Example, the Keras guide's encoder-decoder:

      enc_in = jrnn.Input((None,), "int32"); dec_in = jrnn.Input((None,), "int32")
      _, h, c = LSTM(64, return_state=True)(Embedding(1000, 64)(enc_in))
      y = LSTM(64)(Embedding(2000, 64)(dec_in), initial_state=[h, c])
      model = jrnn.Model([enc_in, dec_in], Dense(10)(y))

    A layer called several times shares its parameters (one entry in params).

    Models are static pytree nodes, compared by identity, as layers are: a model can be
    an ordinary `jax.jit` argument.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        jax.tree_util.register_static(cls)

    def __init__(self, inputs, outputs, *, name: str = "functional"):
        self.name = name
        self.inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        for i, node in enumerate(self.inputs):
            if not (_is_node(node) and node.call is None):
                raise TypeError(f"inputs[{i}]: got {node!r}, expected a jrnn.Input(...)")
        self.outputs = outputs
        out_nodes = jax.tree.leaves(outputs, is_leaf=_is_node)
        if not out_nodes or not all(_is_node(n) for n in out_nodes):
            raise TypeError(f"outputs: got {outputs!r}, expected layer outputs (nodes)")
        self._calls = _topological_calls(out_nodes)
        reached = {id(n) for c in self._calls for n in c.parents() if n.call is None}
        reached |= {id(n) for n in out_nodes if n.call is None}
        missing = [n for n in reached if n not in {id(i) for i in self.inputs}]
        if missing:
            raise ValueError("outputs: depend on a jrnn.Input that is not in `inputs`")
        self.layers: list[Layer] = []
        for call in self._calls:
            if not any(call.layer is lyr for lyr in self.layers):
                self.layers.append(call.layer)
        self._names = _layer_names(self.layers)
        self._input_names = [
            n.spec.name or ("input_layer" if i == 0 else f"input_layer_{i}")
            for i, n in enumerate(self.inputs)
        ]
        self._built_specs: list[jax.ShapeDtypeStruct] | None = None
        self._checked: set = set()  # variable layouts check_variables has accepted

    # -- pure functions -------------------------------------------------------------------
    def init(self, key, x=None) -> dict:
        """Variables for inputs like `x` (arrays or ShapeDtypeStructs; a list for several
        inputs). Without `x`, the `Input` shapes with 1 for unknown sizes. `apply` then
        checks its inputs against these: the same rank, dtype kind (integers stay integers)
        and feature sizes; the batch size and the time length may differ."""
        check_key("key", key)
        specs = self._input_specs(x)
        variables = self._init_variables(key, specs)
        self._built_specs = specs
        return variables

    def _init_variables(self, key, specs) -> dict:
        params, state = {}, {}
        keys = jax.random.split(key, max(len(self.layers), 1))
        env = {id(n): (s, None) for n, s in zip(self.inputs, specs)}
        for call in self._calls:
            layer, name = call.layer, self.name_of(call.layer)
            xv, mask, kwargs = _gather(env, call)
            if name not in params:
                p = layer.init(keys[self.layers.index(layer)], xv)
                if jax.tree.leaves(p):
                    params[name] = p
                s = layer.init_state(xv)
                if s is not None:
                    state[name] = s

            # keyword arguments without layer outputs in them (flags such as Attention's
            # return_attention_scores) stay Python values, as when the model runs
            static = {
                k: v
                for k, v in kwargs.items()
                if not any(map(_is_node, jax.tree.leaves(call.kwargs[k], is_leaf=_is_node)))
            }
            traced = {k: v for k, v in kwargs.items() if k not in static}

            def out_spec(p, s, xv, mask, traced, layer=layer, static=static):
                kw = {**traced, **static}
                y, _ = layer.call(p, xv, state=s, mask=mask, training=False, key=None, **kw)
                return y, layer.compute_mask(xv, mask)

            y, m = jax.eval_shape(out_spec, params.get(name, {}), state.get(name), xv, mask, traced)
            _store(env, call, y, m)
        return {"params": params, "state": state}

    def apply(self, variables, x, *, training: bool = False, key=None):
        """Run the model: returns (outputs, new_state). Pure: `variables` is not changed.

        x: an array, or a list (or dict by input name) for several inputs.
        training: turns dropout on (then `key`, a PRNG key, is required if any layer
        drops). Stateful RNN layers start from `variables["state"]` and return their
        final carries in `new_state`.
        """
        y, _, new_state, _ = self._checked_run(variables, x, training, key)
        return y, new_state

    def apply_with_mask(self, variables, x, *, training: bool = False, key=None):
        """As `apply`, also returning the outputs' masks: (outputs, masks, new_state).
        A mask is (B, T) bool for sequence outputs of masked inputs, else None; the
        training loop uses it so sequence losses skip padding."""
        y, masks, new_state, _ = self._checked_run(variables, x, training, key)
        return y, masks, new_state

    def apply_with_heads(self, variables, x, *, training: bool = False, key=None):
        """As `apply_with_mask`, also returning each output's head: (outputs, masks,
        new_state, heads). heads: a list in output order (`jax.tree.leaves(outputs)`) of
        `Head(features, layer, params)`, the input of the layer call that produces the
        output, the layer, and its parameters (None for an output that is a model
        input). The training loop gives them to a `jrnn.losses.HeadLoss`; when the loss
        uses only the head's input, XLA drops the head's full output (a vocabulary-sized
        GEMM) from the compiled step."""
        y, masks, new_state, env = self._checked_run(variables, x, training, key)
        params = variables.get("params", {})
        heads = []
        for node in jax.tree.leaves(self.outputs, is_leaf=_is_node):
            if node.call is None:  # an output that is a model input has no layer
                heads.append(None)
                continue
            layer = node.call.layer
            features, _, _ = _gather(env, node.call)
            heads.append(Head(features, layer, params.get(self.name_of(layer), {})))
        return y, masks, new_state, heads

    def output_layers(self) -> list:
        """The layer producing each output, in output order (None for an output that is
        a model input)."""
        nodes = jax.tree.leaves(self.outputs, is_leaf=_is_node)
        return [None if n.call is None else n.call.layer for n in nodes]

    def _checked_run(self, variables, x, training, key):
        """`_run` after checking the inputs' shapes, the variables and the input values."""
        inputs = self._as_input_list(x)
        specs = [shape_dtype(v) for v in inputs]
        self._check_shapes(specs, batch=False)
        self.check_variables(variables, specs)
        self.check_inputs(inputs)
        return self._run(variables, inputs, training=training, key=key)

    def _run(self, variables, inputs, *, training, key, collect=False):
        params = variables.get("params", {})
        state = variables.get("state", {})
        env = {
            id(n): (jnp.asarray(v) if not isinstance(v, jax.ShapeDtypeStruct) else v, None)
            for n, v in zip(self.inputs, inputs)
        }
        new_state, per_call = dict(state), []
        for i, call in enumerate(self._calls):
            layer, name = call.layer, self.name_of(call.layer)
            xv, mask, kwargs = _gather(env, call)
            k = None if key is None else jax.random.fold_in(key, i)
            y, s = layer.call(
                params.get(name, {}),
                xv,
                state=state.get(name),
                mask=mask,
                training=training,
                key=k,
                **kwargs,
            )
            _store(env, call, y, layer.compute_mask(xv, mask))
            if s is not None:
                new_state[name] = s
            if collect:
                per_call.append(y)
        out = _map_nodes(lambda n: env[id(n)][0], self.outputs)
        masks = _map_nodes(lambda n: env[id(n)][1], self.outputs)
        return out, masks, new_state, per_call if collect else env

    def check_inputs(self, x) -> None:
        """Host-side checks (e.g. token ids in range) of concrete inputs; fit calls it on
        the whole data set once."""
        inputs = self._as_input_list(x)
        self._check_shapes([shape_dtype(v) for v in inputs], batch=False)
        for call in self._calls:
            for node in call.parents():
                if node.call is None:
                    i = next(j for j, n in enumerate(self.inputs) if n is node)
                    call.layer.check_inputs(inputs[i])

    def check_variables(self, variables, x=None, *, exact: bool = False) -> None:
        """Raise a ValueError naming the layer and the array when `variables` do not fit
        this model: a layer's entry or an array missing or extra, or a shape that differs
        from what `init` makes for inputs like `x` (arrays, ShapeDtypeStructs, or None for
        the model's known input shapes). `apply` calls it; it runs on the host (at trace
        time under `jit`, where shapes are static) and only once per layout: layouts that
        passed are remembered by tree structure and shapes. Without known input shapes
        only the layer names are checked. The state (stateful carries) may be left out;
        its batch axis is not checked here (the layers check it). Entries for layers not
        in this model are allowed (a sub-model, such as the encoder of an encoder-decoder,
        runs on the whole model's variables) unless `exact`."""
        if not isinstance(variables, dict) or not isinstance(variables.get("params", {}), dict):
            raise TypeError(
                f"variables: got {type(variables).__name__}, expected model.init's "
                f"{{'params', 'state'}} dict (a TrainState's is `state.variables`)"
            )
        specs = None
        if x is not None:
            specs = x if isinstance(x, list) else self._as_input_list(x)
            specs = [shape_dtype(v) for v in specs]
        elif self._known_specs() is not None:
            specs = self._known_specs()
        if specs is not None:  # the batch size never changes parameter shapes
            specs = [
                jax.ShapeDtypeStruct((1, *s.shape[1:]) if s.shape else (), s.dtype) for s in specs
            ]
        leaves, treedef = jax.tree.flatten(variables)
        layout = (treedef, tuple(np.shape(v) for v in leaves), _spec_key(specs), exact)
        if layout in self._checked:
            return
        self._check_layer_names(variables, exact)
        if specs is not None:
            try:
                want = jax.eval_shape(lambda: self._init_variables(jax.random.key(0), specs))
            except Exception:  # bad inputs: apply's own checks report them
                want = None
            if want is not None:
                _compare("params", variables.get("params", {}), want["params"], self, batch=True)
                _compare("state", variables.get("state", {}), want["state"], self, batch=False)
        if len(self._checked) > 64:  # bounded: one entry per layout and input shape
            self._checked.clear()
        self._checked.add(layout)

    def _check_layer_names(self, variables, exact: bool) -> None:
        names = [self.name_of(layer) for layer in self.layers]
        for collection in ("params", "state"):
            got = variables.get(collection, {})
            if not isinstance(got, dict):
                raise TypeError(
                    f"variables[{collection!r}]: got {type(got).__name__}, expected a dict "
                    f"keyed by layer name"
                )
            extra = [k for k in got if k not in names]
            if extra and exact:
                raise ValueError(
                    f"variables[{collection!r}]: has entries for {extra}, which are not layers "
                    f"of this model (its layers: {names}); are these another model's variables?"
                )

    def _known_specs(self):
        """The input shapes from `Input` (1 for unknown sizes) or from `init`'s example."""
        out = []
        for i, node in enumerate(self.inputs):
            if node.spec is not None and node.spec.shape is not None:
                out.append(node.spec.example(1))
            elif self._built_specs is not None:
                out.append(self._built_specs[i])
            else:
                return None
        return out

    def reset_states(self, variables, batch_size: int | None = None) -> dict:
        """Variables with every stateful layer's carry set to zeros.

        The carries keep their batch size unless `batch_size` is given: then each carry
        (B, ...) becomes zeros (batch_size, ...), e.g. to forecast one stream with a
        model trained on several (Keras needs a rebuilt model for that).
        """
        if not isinstance(variables, dict):
            raise TypeError(
                f"variables: got {type(variables).__name__}, expected model.init's "
                f"{{'params', 'state'}} dict"
            )
        state = variables.get("state", {})
        if batch_size is None:
            state = jax.tree.map(jnp.zeros_like, state)
        else:
            check_positive_int("batch_size", batch_size)
            state = jax.tree.map(
                lambda a: jnp.zeros((batch_size, *jnp.shape(a)[1:]), jnp.result_type(a)), state
            )
        return {**variables, "state": state}

    # -- config -----------------------------------------------------------------------------
    def get_config(self) -> dict:
        """The model as plain JSON data (`json.dumps` works): its layers' configs (with the
        names the model gives them, which key `variables`), its inputs and the graph of
        calls; `Model.from_config(model.get_config())` rebuilds an equal model that gives
        the same outputs with the same variables. User layers and cells must be registered
        (`jrnn.saving.register_serializable`)."""
        config = {"name": self.name}
        config.update(graph_config(self.inputs, self._calls, self.outputs, self.name_of))
        return self._with_build_shape(config)

    def _with_build_shape(self, config):
        if self._built_specs is not None:
            config["build_input_shape"] = [
                {"shape": list(s.shape), "dtype": jnp.dtype(s.dtype).name}
                for s in self._built_specs
            ]
        return config

    def _restore_build_shape(self, config) -> Model:
        built = config.get("build_input_shape")
        if built is not None:
            self._built_specs = [
                jax.ShapeDtypeStruct(tuple(b["shape"]), jnp.dtype(b["dtype"])) for b in built
            ]
        return self

    @classmethod
    def from_config(cls, config: dict) -> Model:
        """The model `get_config` described (a Sequential's config gives a Sequential)."""
        if not isinstance(config, dict):
            raise TypeError(f"config: got {type(config).__name__}, expected a dict")
        if "calls" not in config and "layers" in config:
            return Sequential.from_config(config)
        inputs, outputs = graph_from_config(config)
        model = Model(inputs, outputs, name=config.get("name", "functional"))
        return model._restore_build_shape(config)

    def __reduce__(self):
        # pickle and deepcopy go through the config: the graph's maps are keyed by the
        # identity of its layer and node objects, which a copy would not share.
        return type(self).from_config, (self.get_config(),)

    # -- description ------------------------------------------------------------------------
    def name_of(self, layer: Layer) -> str:
        """The name this model gives `layer` (its key in the variables)."""
        try:
            return self._names[id(layer)]
        except (KeyError, TypeError):
            raise ValueError(
                f"layer: got {layer!r}, which is not a layer of this model; expected one of "
                f"model.layers"
            ) from None

    def feeds(self, prev: Layer, layer: Layer) -> bool:
        """True when `layer` is called on `prev`'s (first) output somewhere in the graph."""
        return any(
            c.layer is layer
            and isinstance(c.x, Node)
            and c.x.call is not None
            and c.x.call.layer is prev
            and c.x.index == 0
            for c in self._calls
        )

    @property
    def output_names(self) -> list[str]:
        """One name per output, in the order of `jax.tree.leaves(outputs)`: the dict keys
        for dict outputs, else the name of the layer producing each output (Keras's
        `model.output_names`); a layer with several outputs numbers them `name_1`, ...
        These name the per-output losses and metrics in `fit`'s history."""
        paths = jax.tree_util.tree_flatten_with_path(self.outputs, is_leaf=_is_node)[0]
        names = []
        for path, node in paths:
            if isinstance(self.outputs, dict):
                name = str(path[0].key)
            elif node.call is None:
                name = node.spec.name or "input_layer"
            else:
                name = self.name_of(node.call.layer)
                if node.index:
                    name = f"{name}_{node.index}"
            while name in names:
                name += "_1"
            names.append(name)
        return names

    def get_layer(self, name: str) -> Layer:
        for layer in self.layers:
            if self.name_of(layer) == name:
                return layer
        raise ValueError(f"name: got {name!r}, expected one of {list(self._names.values())}")

    def summary(self, variables, *, print_fn=print) -> str:
        """Keras-style table of layers (type, output shape, parameter count) and totals.

        Output sizes that depend on the batch or on a length given as None in `Input`
        print as None. Returns the text and passes it to `print_fn` (None: don't print).
        Totals count `params` (all trainable). The carries of stateful layers are not
        parameters and are not counted, as in Keras 3, whose `rnn_state` variables are
        not weights (a stateful LSTM(8) on 5 features: 448 params, 0 non-trainable).
        """
        if not isinstance(variables, dict):
            raise TypeError(
                f"variables: got {type(variables).__name__}, expected model.init's "
                f"{{'params', 'state'}} dict"
            )
        if print_fn is not None and not callable(print_fn):
            raise TypeError(
                f"print_fn: got {print_fn!r} of type {type(print_fn).__name__}, expected a "
                f"callable (e.g. print) or None"
            )
        shapes = self._summary_shapes(variables)
        rows = []
        functional = type(self) is Model
        if functional:
            for name, node in zip(self._input_names, self.inputs):
                shape = _fmt_shape(shapes["inputs"][id(node)])
                rows.append((f"{name} (InputLayer)", shape, 0, "-"))
        seen = set()
        for call, shape in zip(self._calls, shapes["calls"]):
            layer, name = call.layer, self.name_of(call.layer)
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            count = _count(variables["params"].get(name))
            connected = ", ".join(self._node_label(n) for n in call.parents())
            rows.append((f"{name} ({layer.type_name})", _fmt_shape(shape), count, connected))
        trainable = _count(variables["params"])
        frozen = 0  # every entry of params is trained; state is not a parameter
        text = _render(self.name, rows, functional, trainable, frozen)
        if print_fn is not None:
            print_fn(text)
        return text

    def _node_label(self, node: Node) -> str:
        if node.call is None:
            return f"{self._input_names[[id(n) for n in self.inputs].index(id(node))]}[0][0]"
        layer = node.call.layer
        uses = [c for c in self._calls if c.layer is layer]
        return f"{self.name_of(layer)}[{uses.index(node.call)}][{node.index}]"

    def _summary_shapes(self, variables):
        """Output shapes per call; sizes that change with the batch or with a length
        declared None are returned as None."""
        runs = []
        for fill in (2, 3):
            specs = self._display_specs(fill)
            fresh = {**variables, "state": {}}  # stateful carries follow the batch size
            _, _, _, per_call = jax.eval_shape(
                lambda v, xs: self._run(v, xs, training=False, key=None, collect=True),
                fresh,
                specs,
            )
            runs.append((specs, per_call))
        (sa, ca), (sb, cb) = runs
        merge = lambda a, b: jax.tree.map(
            lambda u, v: tuple(p if p == q else None for p, q in zip(u.shape, v.shape)), a, b
        )
        return {
            "inputs": {id(n): merge(a, b) for n, a, b in zip(self.inputs, sa, sb)},
            "calls": [merge(a, b) for a, b in zip(ca, cb)],
        }

    def _display_specs(self, fill):
        out = []
        for i, node in enumerate(self.inputs):
            spec = node.spec
            if spec is not None and spec.shape is not None:
                s = spec.example(fill)
                if spec.batch_size is None:
                    s = jax.ShapeDtypeStruct((fill, *s.shape[1:]), s.dtype)
            elif self._built_specs is not None:
                b = self._built_specs[i]
                s = jax.ShapeDtypeStruct((fill, *b.shape[1:]), b.dtype)
            else:
                raise ValueError(
                    "summary: the input shape is unknown; call model.init(key, x) first or "
                    "start the model with jrnn.Input(shape)"
                )
            out.append(s)
        return out

    # -- inputs -----------------------------------------------------------------------------
    def _as_input_list(self, x) -> list:
        n = len(self.inputs)
        if isinstance(x, dict):
            missing = [k for k in self._input_names if k not in x]
            if missing:
                raise ValueError(f"x: missing inputs {missing}; got keys {sorted(x)}")
            return [x[k] for k in self._input_names]
        if n == 1:
            if isinstance(x, (list, tuple)):
                if len(x) == 1:
                    return list(x)
                if x and all(hasattr(v, "shape") for v in x):
                    # several arrays, not nested Python data for one array
                    raise ValueError(
                        f"x: got {len(x)} arrays, expected 1 array "
                        f"{self._input_names} (the model has one input)"
                    )
            return [x]
        if not isinstance(x, (list, tuple)) or len(x) != n:
            got = f"{len(x)} arrays" if isinstance(x, (list, tuple)) else type(x).__name__
            raise ValueError(f"x: got {got}, expected a list of {n} arrays {self._input_names}")
        return list(x)

    def _input_specs(self, x) -> list[jax.ShapeDtypeStruct]:
        if x is None:
            specs = []
            for node in self.inputs:
                if node.spec is None or node.spec.shape is None:
                    raise ValueError(
                        "x: got None, expected example inputs (the model does not start "
                        "with jrnn.Input(shape), so the input shape is unknown)"
                    )
                specs.append(node.spec.example(1))
            return specs
        specs = [shape_dtype(v) for v in self._as_input_list(x)]
        self._check_shapes(specs)
        return specs

    def _check_shapes(self, specs, batch: bool = True) -> None:
        """Each input's shape against its `Input` (None = any size), or against the
        example `init` saw when the model has no `Input`: the same rank and feature sizes
        (every axis after batch and time; the last axis of a (B, F) float input, not of
        (B, T) token ids). With `batch=False` the batch size is not checked (as Keras: a
        last, smaller batch runs; stateful layers check their own carries). An input
        declared or seen as integers (token ids) must stay integers."""
        for i, (name, node, s) in enumerate(zip(self._input_names, self.inputs, specs)):
            spec = node.spec
            if spec is not None and spec.shape is not None:
                want, dtype = (spec.batch_size if batch else None, *spec.shape), spec.dtype
            elif self._built_specs is not None:
                built = self._built_specs[i]
                want, dtype = _free_batch_and_time(built), built.dtype
            else:
                continue
            if len(s.shape) != len(want) or any(
                w is not None and w != g for w, g in zip(want, s.shape)
            ):
                raise ValueError(f"x ({name}): got shape {tuple(s.shape)}, expected {want}")
            if jnp.issubdtype(dtype, jnp.integer) and not jnp.issubdtype(s.dtype, jnp.integer):
                raise TypeError(
                    f"x ({name}): got dtype {jnp.dtype(s.dtype).name}, expected integers "
                    f"({jnp.dtype(dtype).name}, as the model's input), e.g. token ids"
                )


class Sequential(Model):
    """A plain stack of layers, each taking the previous one's output (Keras's
    `Sequential`). The first element may be a `jrnn.Input(shape)`; otherwise the input
    shape is taken from `init`'s example."""

    def __init__(self, layers: Sequence, *, name: str = "sequential"):
        if not isinstance(layers, (list, tuple)):
            raise TypeError(
                f"layers: got {type(layers).__name__}, expected a list of layers (optionally "
                f"starting with jrnn.Input)"
            )
        layers = list(layers)
        first = 0  # index of layers[0] in the list given (for error messages)
        if layers and _is_node(layers[0]) and layers[0].call is None:
            inp, layers, first = layers[0], layers[1:], 1
        else:
            inp = Node(None, 0, InputSpec(None, None, None, None))
        if not layers:
            raise ValueError("layers: got an empty list, expected at least one layer")
        node = inp
        for i, layer in enumerate(layers, start=first):
            if not isinstance(layer, Layer):
                raise TypeError(f"layers[{i}]: got {type(layer).__name__}, expected a layer")
            if layer.num_outputs != 1:
                raise ValueError(
                    f"layers[{i}]: {layer.type_name} returns {layer.num_outputs} outputs "
                    f"(return_state?); Sequential needs one output per layer, use jrnn.Model"
                )
            node = layer(node)
        super().__init__(inp, node, name=name)

    def get_config(self) -> dict:
        """{"name", "input" (the `Input` or None), "layers": [{"name", "class_name",
        "config"}, ...]} as plain JSON (see `Model.get_config`)."""
        config = {
            "name": self.name,
            "input": spec_config(self.inputs[0].spec),
            "layers": [named_layer_config(layer, self.name_of(layer)) for layer in self.layers],
        }
        return self._with_build_shape(config)

    @classmethod
    def from_config(cls, config: dict) -> Sequential:
        if not isinstance(config, dict) or "layers" not in config or "calls" in config:
            raise ValueError(
                "config: expected a Sequential's config (with 'layers' and no 'calls'); "
                "use jrnn.Model.from_config for a functional model"
            )
        if not isinstance(config["layers"], list):
            raise TypeError(
                f"config['layers']: got {type(config['layers']).__name__}, expected a list of "
                f"layer configs"
            )
        layers = [layer_from_config(entry) for entry in config["layers"]]
        if config.get("input") is not None:
            layers.insert(0, input_from_config(config["input"]))
        model = cls(layers, name=config.get("name", "sequential"))
        return model._restore_build_shape(config)


register_builtin(Model, Sequential)


def _topological_calls(out_nodes) -> list[CallNode]:
    """The calls the outputs depend on, in creation order."""
    order, seen = [], set()

    def visit(call: CallNode):
        if id(call) in seen:
            return
        seen.add(id(call))
        for parent in call.parents():
            if parent.call is not None:
                visit(parent.call)
        order.append(call)

    for node in out_nodes:
        if node.call is not None:
            visit(node.call)
    return sorted(order, key=lambda c: c.order)


def _layer_names(layers) -> dict[int, str]:
    names, counts = {}, {}
    for layer in layers:
        if layer.name is not None:
            name = layer.name
        else:
            base = layer.default_name
            k = counts.get(base, 0)
            counts[base] = k + 1
            name = base if k == 0 else f"{base}_{k}"
        if name in names.values():
            raise ValueError(f"name: two layers are called {name!r}; layer names must be unique")
        names[id(layer)] = name
    return names


def _gather(env, call):
    xv = _map_nodes(lambda n: env[id(n)][0], call.x)
    mask = _map_nodes(lambda n: env[id(n)][1], call.x)
    kwargs = _map_nodes(lambda n: env[id(n)][0], call.kwargs)
    return xv, mask, kwargs


def _store(env, call, y, mask):
    if len(call.outputs) == 1:
        env[id(call.outputs[0])] = (y, mask)
        return
    masks = mask if isinstance(mask, tuple) else (mask,) + (None,) * (len(call.outputs) - 1)
    for node, v, m in zip(call.outputs, y, masks):
        env[id(node)] = (v, m)


def _count(tree) -> int:
    return int(sum(np.prod(np.shape(v)) for v in jax.tree.leaves(tree)))


def _fmt_shape(shape) -> str:
    if isinstance(shape, tuple) and all(d is None or isinstance(d, int) for d in shape):
        return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    leaves = jax.tree.leaves(
        shape,
        is_leaf=lambda s: isinstance(s, tuple) and all(d is None or isinstance(d, int) for d in s),
    )
    return "[" + ", ".join(_fmt_shape(s) for s in leaves) + "]"


def _memory(n_params: int) -> str:
    size = n_params * 4.0  # float32 bytes, as Keras reports
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}"
        size /= 1024


def _render(name, rows, functional, trainable, frozen) -> str:
    header = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if functional else [])
    body = [[r[0], r[1], f"{r[2]:,}"] + ([r[3]] if functional else []) for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) + 2 for i, h in enumerate(header)]
    widths[0] = max(widths[0], 33)
    widths[1] = max(widths[1], 24)

    def line(cells, left, sep, right, pad=" "):
        out = []
        for i, (c, w) in enumerate(zip(cells, widths)):
            out.append((c.rjust(w - 1) + pad) if i == 2 else (pad + c.ljust(w - 1)))
        return left + sep.join(out) + right

    rule = lambda l, s, r, ch: l + s.join(ch * w for w in widths) + r
    lines = [
        f'Model: "{name}"',
        rule("┏", "┳", "┓", "━"),
        line(header, "┃", "┃", "┃"),
        rule("┡", "╇", "┩", "━"),
    ]
    for i, b in enumerate(body):
        if i:
            lines.append(rule("├", "┼", "┤", "─"))
        lines.append(line(b, "│", "│", "│"))
    lines.append(rule("└", "┴", "┘", "─"))
    total = trainable + frozen
    lines += [
        f" Total params: {total:,} ({_memory(total)})",
        f" Trainable params: {trainable:,} ({_memory(trainable)})",
        f" Non-trainable params: {frozen:,} ({_memory(frozen)})",
    ]
    return "\n".join(lines)


def _free_batch_and_time(spec) -> tuple:
    """The shape `apply` requires of an input like `spec` (None = any size): the batch
    axis free, and the time axis of a sequence ((B, T, ...) or (B, T) integer ids)."""
    shape = tuple(spec.shape)
    if len(shape) >= 3 or (len(shape) == 2 and jnp.issubdtype(spec.dtype, jnp.integer)):
        return (None, None, *shape[2:])
    return (None, *shape[1:])


def _spec_key(specs):
    return None if specs is None else tuple((tuple(s.shape), str(s.dtype)) for s in specs)


def _compare(collection: str, got, want, model, *, batch: bool) -> None:
    """Raise a ValueError for the first layer (in the model's order) whose arrays differ
    from `want`'s; a missing layer is reported before any shape."""
    order = [model.name_of(layer) for layer in model.layers if model.name_of(layer) in want]
    for name in order:
        if name not in got and collection == "params":  # no carry: the layer starts at zeros
            layer = model.get_layer(name)
            raise ValueError(
                f"variables['params']: no entry for layer {name!r} ({layer.type_name}), "
                f"expected arrays {_join(_path_shapes(want[name]))}; got entries for "
                f"{sorted(got)} (are these another model's, or an older version's, variables?)"
            )
    for name in order:
        if name not in got:
            continue
        have, need = _path_shapes(got[name]), _path_shapes(want[name])
        where = f"variables[{collection!r}][{name!r}]"
        layer = f"layer {name!r} ({model.get_layer(name).type_name})"
        missing = [p for p in need if p not in have]
        extra = [p for p in have if p not in need]
        if missing or extra:
            raise ValueError(
                f"{where}: the arrays do not match {layer}: missing {_join(missing)}; "
                f"unexpected {_join(extra)}; expected {_join(need)}"
            )
        for p, shape in need.items():
            ok = have[p] == shape if batch else have[p][1:] == shape[1:]
            if not ok:
                raise ValueError(
                    f"{where}{p}: got shape {have[p]}, expected {shape} for {layer} with "
                    f"these inputs"
                )


def _path_shapes(tree) -> dict:
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(p): tuple(np.shape(v)) for p, v in flat}


def _join(paths) -> str:
    return ", ".join(paths) or "none"


jax.tree_util.register_static(Model)
