"""Weights trained elsewhere -> jrnn params that give the same outputs.

`from_keras(cell, layer.get_weights())` and `from_torch(cell, module.state_dict())` take
NumPy arrays (or anything `np.asarray` reads) and return params for `cell`: a built-in
cell, a `stack` of them, a `bidirectional` pair (`jrnn.cells.BidirectionalCells`) or a
`stack_bidirectional` (`jrnn.cells.StackedBidirectional`). `from_flax(cell, variables)`
does the same for Flax linen and NNX cells' weights.

`from_keras_model(keras_sequential)` converts a whole Keras `Sequential` of the layers jrnn
has (embedding, recurrent, dense, convolution, pooling) into a jrnn model and variables.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from jrnn import layers as L
from jrnn._checks import check_int
from jrnn.cells import (
    BidirectionalCells,
    GRUCell,
    LSTMCell,
    SimpleRNNCell,
    StackedBidirectional,
    StackedCell,
)
from jrnn.models import Sequential


def _arr(x, dtype):
    return jnp.asarray(np.asarray(x), dtype)


def _undo_forget_bias(cell, params):
    # jrnn's TF1-style `forget_bias` is added at run time; Keras and PyTorch have none,
    # so take it out of the stored bias to keep the outputs identical.
    if isinstance(cell, LSTMCell) and cell.forget_bias:
        if "bias" not in params:
            raise ValueError(
                f"cell: got forget_bias={cell.forget_bias} with use_bias=False; converted "
                f"weights would not reproduce the source model (use forget_bias=0)"
            )
        h = cell.units
        params["bias"] = params["bias"].at[h : 2 * h].add(-cell.forget_bias)
    return params


def _check(name, got, expected):
    if tuple(got.shape) != tuple(expected):
        raise ValueError(f"{name}: got shape {tuple(got.shape)}, expected {tuple(expected)}")


# ---------------------------------------------------------------------- Keras ----------
def from_keras(cell, weights):
    """Params for `cell` from a Keras layer's `get_weights()` list.

    Keras orders weights kernel, recurrent_kernel, bias per cell; `Bidirectional`
    layers list the forward layer's weights, then the backward layer's; `RNN([cells])`
    lists each cell's in turn. The layouts are jrnn's own, so arrays load unchanged.
    """
    if not isinstance(weights, (list, tuple)):
        raise TypeError(
            f"weights: got {type(weights).__name__}, expected the list of arrays a Keras "
            f"layer's get_weights() returns"
        )
    weights = list(weights)
    params = _keras_take(cell, weights)
    if weights:
        raise ValueError(f"weights: got {len(weights)} arrays more than {cell!r} uses")
    return params


def _keras_take(cell, weights):
    if isinstance(cell, StackedCell):
        return tuple(_keras_take(c, weights) for c in cell.cells)
    if isinstance(cell, StackedBidirectional):
        return tuple(_keras_take(layer, weights) for layer in cell.layers)
    if isinstance(cell, BidirectionalCells):
        return {
            "forward": _keras_take(cell.forward, weights),
            "backward": _keras_take(cell.backward, weights),
        }
    if not isinstance(cell, (LSTMCell, GRUCell, SimpleRNNCell)):
        raise TypeError(f"cell: got {type(cell).__name__}, expected a jrnn built-in cell")
    if isinstance(cell, LSTMCell) and cell.use_peephole:
        raise ValueError("cell: got use_peephole=True, which Keras LSTM weights do not have")
    names = ["kernel", "recurrent_kernel"] + (["bias"] if cell.use_bias else [])
    if len(weights) < len(names):
        raise ValueError(f"weights: got {len(weights)} arrays left, expected {names}")
    dt = jnp.dtype(cell.param_dtype)
    params = {n: _arr(weights.pop(0), dt) for n in names}
    g, h = cell.num_gates, cell.units
    i = params["kernel"].shape[0]
    _check("kernel", params["kernel"], (i, g * h))
    _check("recurrent_kernel", params["recurrent_kernel"], (h, g * h))
    if cell.use_bias:
        reset_after = isinstance(cell, GRUCell) and cell.reset_after
        _check("bias", params["bias"], (2, g * h) if reset_after else (g * h,))
    return _undo_forget_bias(cell, params)


# ---------------------------------------------------------------------- PyTorch --------
def from_torch(cell, state_dict, layer: int | None = None):
    """Params for `cell` from a PyTorch `nn.LSTM` / `nn.GRU` / `nn.RNN` (or `*Cell`)
    state dict (tensors or NumPy arrays).

    PyTorch keeps two biases and applies weights transposed; gate order LSTM i,f,g,o
    (= Keras), GRU r,z,n (Keras z,r,h). A `stack` maps to `num_layers`, a `bidirectional`
    pair to `bidirectional=True` (keys ending `_reverse`), a `StackedBidirectional` to both.
    Every entry of the state dict must be used, unless `layer=k` asks for the k-th layer
    of a multi-layer module alone.
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(
            f"state_dict: got {type(state_dict).__name__}, expected a mapping of names to "
            f"tensors (module.state_dict())"
        )
    layer = check_int("layer", layer, minimum=0, allow_none=True)
    sd = {
        k: np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v)
        for k, v in state_dict.items()
    }
    used: set[str] = set()
    if layer is not None and not isinstance(cell, (LSTMCell, GRUCell, SimpleRNNCell)):
        raise ValueError(
            f"layer: got {layer}, expected None for a {type(cell).__name__} "
            f"(it takes all of its layers from the state dict)"
        )
    if isinstance(cell, StackedCell):
        params = tuple(_torch_one(c, sd, k, "", used) for k, c in enumerate(cell.cells))
    elif isinstance(cell, BidirectionalCells):
        params = _torch_bi(cell, sd, 0, used)
    elif isinstance(cell, StackedBidirectional):
        params = tuple(_torch_bi(b, sd, k, used) for k, b in enumerate(cell.layers))
    else:
        params = _torch_one(cell, sd, layer or 0, "", used)
    unused = sorted(set(sd) - used)
    if unused and layer is None:
        raise ValueError(
            f"state_dict: got entries {unused} that {type(cell).__name__} does "
            f"not use (more layers or directions than the cell has?)"
        )
    return params


def _torch_bi(cell, sd, layer, used):
    return {
        "forward": _torch_one(cell.forward, sd, layer, "", used),
        "backward": _torch_one(cell.backward, sd, layer, "_reverse", used),
    }


def _torch_one(cell, sd, layer, suffix, used):
    if not isinstance(cell, (LSTMCell, GRUCell, SimpleRNNCell)):
        raise TypeError(f"cell: got {type(cell).__name__}, expected a jrnn built-in cell")
    if isinstance(cell, GRUCell) and not cell.reset_after:
        raise ValueError(
            "cell: got GRUCell(reset_after=False); PyTorch's GRU is the reset_after=True formula"
        )
    if isinstance(cell, LSTMCell) and cell.use_peephole:
        raise ValueError("cell: got use_peephole=True, which PyTorch LSTM weights do not have")

    def get(name):
        for key in (f"{name}_l{layer}{suffix}", f"{name}{suffix}" if layer == 0 else None):
            if key is not None and key in sd:
                used.add(key)
                return sd[key]
        return None

    w_ih, w_hh, b_ih, b_hh = (get(n) for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
    if w_ih is None or w_hh is None:
        raise ValueError(
            f"state_dict: got keys {sorted(sd)}, expected weight_ih_l{layer}"
            f"{suffix} and weight_hh_l{layer}{suffix}"
        )
    g, h = cell.num_gates, cell.units
    name = type(cell).__name__
    if w_hh.shape != (g * h, h):
        raise ValueError(
            f"state_dict: weight_hh has shape {w_hh.shape}, expected {(g * h, h)} for {name}({h})"
        )
    if w_ih.ndim != 2 or w_ih.shape[0] != g * h:
        raise ValueError(
            f"state_dict: weight_ih has shape {w_ih.shape}, expected "
            f"({g * h}, input_size) for {name}({h})"
        )
    for bname, b in (("bias_ih", b_ih), ("bias_hh", b_hh)):
        if b is not None and b.shape != (g * h,):
            raise ValueError(
                f"state_dict: {bname} has shape {b.shape}, expected {(g * h,)} for {name}({h})"
            )
    if (b_ih is None) != (b_hh is None):
        raise ValueError(
            f"state_dict: got only one of bias_ih_l{layer}{suffix} and "
            f"bias_hh_l{layer}{suffix}, expected both or neither"
        )
    if cell.use_bias != (b_ih is not None):
        raise ValueError(
            f"state_dict: bias {'missing' if cell.use_bias else 'present'}, "
            f"but the cell has use_bias={cell.use_bias}"
        )
    if isinstance(cell, GRUCell):
        # PyTorch blocks r, z, n -> Keras z, r, h.
        perm = np.concatenate([np.arange(h, 2 * h), np.arange(h), np.arange(2 * h, 3 * h)])
        w_ih, w_hh = w_ih[perm], w_hh[perm]
        if b_ih is not None:
            b_ih, b_hh = b_ih[perm], b_hh[perm]
    dt = jnp.dtype(cell.param_dtype)
    params = {"kernel": _arr(w_ih.T, dt), "recurrent_kernel": _arr(w_hh.T, dt)}
    if b_ih is not None:
        if isinstance(cell, GRUCell):
            params["bias"] = _arr(np.stack([b_ih, b_hh]), dt)
        else:  # only the sum of the two biases matters for LSTM and SimpleRNN
            params["bias"] = _arr(b_ih + b_hh, dt)
    return _undo_forget_bias(cell, params)


# ---------------------------------------------------------------------- Flax -----------
# The weight layouts of Flax's cells (flax/linen/recurrent.py, flax/nnx/nn/recurrent.py):
# linen's LSTMCell and OptimizedLSTMCell share one layout of per-gate Dense layers (NNX's
# LSTMCell too, naming the forget block `if_`); NNX's OptimizedLSTMCell, GRUCell and
# SimpleCell keep fused `dense_i` / `dense_h` Linears instead, gates in the columns. The
# layout is told by the keys, so one converter reads linen and NNX weights alike.
_FLAX_LSTM_GATES = ("i", "f", "g", "o")  # = Keras i, f, c, o


def from_flax(cell, variables):
    """Params for `cell` (a jrnn `LSTMCell`, `GRUCell` or `SimpleRNNCell`, a `stack`
    of them, or a `bidirectional` pair) from a Flax cell's weights, giving the outputs
    Flax's `nn.RNN(flax_cell)` / `nnx.RNN(flax_cell)` gives (on jrnn's fast path).

    variables: any of
      - linen: the variables of a cell (`flax_cell.init(...)`, `{"params": {...}}`),
        of an `nn.RNN` (`{"params": {"cell": {...}}}`), or the inner params dict;
      - NNX: an NNX cell or `nnx.RNN` module, or its `nnx.State` (`nnx.state(module)`);
      - for a `stack`, a list with one entry per layer; for a `bidirectional` pair, the
        variables of Flax's `Bidirectional` (`forward_rnn`, `backward_rnn`).

    Layouts (H = cell.units; Flax's LSTM gate order i, f, g, o is Keras's i, f, c, o):
      LSTM, linen `LSTMCell` / `OptimizedLSTMCell`, NNX `LSTMCell`: per-gate Dense
        `ii, if (if_), ig, io` kernels (I, H), no bias; `hi, hf, hg, ho` kernels (H, H)
        with biases (H,) -> kernel = [ii|if|ig|io], recurrent_kernel = [hi|hf|hg|ho],
        bias = [b_hi|b_hf|b_hg|b_ho].
      LSTM, NNX `OptimizedLSTMCell`: `dense_i` kernel (I, 4H), `dense_h` kernel (H, 4H)
        and bias (4H,), already Keras's layout.
      GRU (needs `GRUCell(reset_after=True)`, the same formula
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h' = (1 - z) n + z h):
        linen `ir, iz, in` (kernel, bias), `hr, hz` (kernel), `hn` (kernel, bias) ->
        kernel = [iz|ir|in], recurrent_kernel = [hz|hr|hn], bias = [[b_iz, b_ir, b_in],
        [0, 0, b_hn]]; NNX `dense_i` (I, 3H) + bias, `dense_h` (H, 3H), blocks r, z, n,
        no b_hn -> the same with b_hn = 0.
      SimpleRNN: linen `i` (kernel, bias), `h` (kernel); NNX `dense_i`, `dense_h`.
        A `SimpleCell(residual=True)` adds h before the activation: given the NNX
        module, the identity is folded into recurrent_kernel; linen's variables do not
        say, so add `jnp.eye(H)` to recurrent_kernel yourself.

    Flax's cells carry an LSTM's state as (c, h); jrnn's is (h, c): swap a carry you
    bring over (`jrnn.interop.FlaxCell` / `NNXCell` already show jrnn's order). The
    activations are the jrnn cell's (Flax's defaults, tanh and sigmoid, are jrnn's).
    Every entry must be used; shapes are checked.

    Example:
      flax_rnn = nn.RNN(nn.LSTMCell(64))
      variables = flax_rnn.init(key, xs)                    # xs: (B, T, 16)
      params = jrnn.from_flax(jrnn.LSTMCell(64), variables)
      _, ys = jrnn.unroll(jrnn.LSTMCell(64), params, xs)  # = flax_rnn.apply(variables, xs)
    """
    if isinstance(cell, StackedCell):
        if not isinstance(variables, (list, tuple)):
            raise TypeError(
                f"variables: got {type(variables).__name__}, expected a list of "
                f"{len(cell.cells)} entries, one per layer of the stack"
            )
        if len(variables) != len(cell.cells):
            raise ValueError(
                f"variables: got {len(variables)} entries, expected {len(cell.cells)}, one "
                f"per layer of the stack"
            )
        pairs = enumerate(zip(cell.cells, variables))
        return tuple(_flax_one(c, v, f"variables[{k}]") for k, (c, v) in pairs)
    if isinstance(cell, BidirectionalCells):
        tree = _flax_tree(variables, "variables")
        if set(tree) != {"forward_rnn", "backward_rnn"}:
            raise ValueError(
                f"variables: got keys {sorted(tree)}, expected 'forward_rnn' and "
                f"'backward_rnn' (Flax's Bidirectional) for a bidirectional pair"
            )
        return {
            "forward": _flax_one(cell.forward, tree["forward_rnn"], "variables['forward_rnn']"),
            "backward": _flax_one(cell.backward, tree["backward_rnn"], "variables['backward_rnn']"),
        }
    return _flax_one(cell, variables, "variables")


def _flax_tree(variables, name):
    """Flax weights as a plain nested dict: an NNX module or State by its parameters
    (`to_pure_dict`), linen variables without the `params` collection wrapper and an
    `nn.RNN`'s `cell` level."""
    if (type(variables).__module__ or "").startswith("flax."):
        from flax import nnx  # here, not at the top: `import jrnn` does not load Flax

        if isinstance(variables, nnx.Module):
            variables = nnx.state(variables, nnx.Param)
        if isinstance(variables, nnx.State):
            # nnx.to_pure_dict is the newer spelling (State.to_pure_dict is deprecated).
            to_pure = getattr(nnx, "to_pure_dict", None)
            variables = to_pure(variables) if to_pure else variables.to_pure_dict()
    if not isinstance(variables, Mapping):
        raise TypeError(
            f"{name}: got {type(variables).__name__}, expected a Flax cell's weights: linen "
            f"variables ({{'params': ...}}), an NNX module or its nnx.State"
        )
    tree = dict(variables)
    for wrapper in ("params", "cell"):
        if set(tree) == {wrapper} and isinstance(tree[wrapper], Mapping):
            tree = dict(tree[wrapper])
    return tree


def _flax_one(cell, variables, name):
    if not isinstance(cell, (LSTMCell, GRUCell, SimpleRNNCell)):
        raise TypeError(
            f"cell: got {type(cell).__name__}, expected a jrnn LSTMCell, GRUCell or "
            f"SimpleRNNCell (or a stack / bidirectional pair of them)"
        )
    if not cell.use_bias:
        raise ValueError("cell: got use_bias=False; Flax's cells have biases (use_bias=True)")
    if isinstance(cell, LSTMCell) and cell.use_peephole:
        raise ValueError("cell: got use_peephole=True, which Flax's LSTM cells do not have")
    if isinstance(cell, GRUCell) and not cell.reset_after:
        raise ValueError(
            "cell: got GRUCell(reset_after=False); Flax's GRU is the reset_after=True formula"
        )
    # Only an NNX module says whether a SimpleCell is residual (itself, or an nnx.RNN's cell).
    residual = bool(getattr(getattr(variables, "cell", variables), "residual", False))
    tree = _flax_tree(variables, name)
    h, dt = cell.units, jnp.dtype(cell.param_dtype)
    reader = _FlaxReader(tree, name, h)
    if isinstance(cell, LSTMCell):
        if "dense_i" in tree:  # NNX OptimizedLSTMCell: fused, Keras's layout already
            reader.expect({"dense_i": ("kernel",), "dense_h": ("kernel", "bias")})
            kernel = reader.get("dense_i", "kernel", 4)
            recurrent = reader.get("dense_h", "kernel", 4, rows=h)
            bias = reader.get("dense_h", "bias", 4)
        else:
            f = "if_" if "if_" in tree else "if"
            names = ["ii", f, "ig", "io"]
            reader.expect({**{n: ("kernel",) for n in names}, **_h_side("h", "ifgo")})
            kernel = np.concatenate([reader.get(n, "kernel", 1) for n in names], axis=1)
            h_side = [f"h{g}" for g in _FLAX_LSTM_GATES]
            recurrent = np.concatenate([reader.get(n, "kernel", 1, rows=h) for n in h_side], 1)
            bias = np.concatenate([reader.get(n, "bias", 1) for n in h_side])
    elif isinstance(cell, GRUCell):
        zeros = np.zeros((h,), np.float32)
        if "dense_i" in tree:  # NNX: blocks r, z, n and no recurrent bias (b_hn = 0)
            reader.expect({"dense_i": ("kernel", "bias"), "dense_h": ("kernel",)})
            perm = np.concatenate([np.arange(h, 2 * h), np.arange(h), np.arange(2 * h, 3 * h)])
            kernel = reader.get("dense_i", "kernel", 3)[:, perm]
            recurrent = reader.get("dense_h", "kernel", 3, rows=h)[:, perm]
            bias = np.stack([reader.get("dense_i", "bias", 3)[perm], np.tile(zeros, 3)])
        else:
            reader.expect(
                {
                    "ir": ("kernel", "bias"),
                    "iz": ("kernel", "bias"),
                    "in": ("kernel", "bias"),
                    "hr": ("kernel",),
                    "hz": ("kernel",),
                    "hn": ("kernel", "bias"),
                }
            )
            # Keras's blocks z, r, h; Flax's b_ir, b_iz already hold b_hr, b_hz folded in.
            kernel = np.concatenate([reader.get(n, "kernel", 1) for n in ("iz", "ir", "in")], 1)
            recurrent = np.concatenate(
                [reader.get(n, "kernel", 1, rows=h) for n in ("hz", "hr", "hn")], 1
            )
            bias = np.stack(
                [
                    np.concatenate([reader.get(n, "bias", 1) for n in ("iz", "ir", "in")]),
                    np.concatenate([zeros, zeros, reader.get("hn", "bias", 1)]),
                ]
            )
    else:
        i_name, h_name = ("dense_i", "dense_h") if "dense_i" in tree else ("i", "h")
        reader.expect({i_name: ("kernel", "bias"), h_name: ("kernel",)})
        kernel = reader.get(i_name, "kernel", 1)
        recurrent = reader.get(h_name, "kernel", 1, rows=h)
        if residual:  # tanh(x W + b + h U + h) = tanh(x W + b + h (U + I))
            recurrent = recurrent + np.eye(h, dtype=recurrent.dtype)
        bias = reader.get(i_name, "bias", 1)
    params = {
        "kernel": _arr(kernel, dt),
        "recurrent_kernel": _arr(recurrent, dt),
        "bias": _arr(bias, dt),
    }
    return _undo_forget_bias(cell, params)


def _h_side(prefix, gates):
    return {f"{prefix}{g}": ("kernel", "bias") for g in gates}


class _FlaxReader:
    """Reads `tree[layer][entry]` as a NumPy array of the shape the layout needs, with
    errors that name the entry, the shape it has and the shape expected."""

    def __init__(self, tree, name, units):
        self.tree, self.name, self.h = tree, name, units
        self.input_size = None

    def expect(self, layout) -> None:
        """The tree holds exactly the layers and entries of `layout` (none missing, none
        left over: a weight that no jrnn parameter takes would change the outputs)."""
        want = {k: set(v) for k, v in layout.items()}
        got = {k: set(v) if isinstance(v, Mapping) else None for k, v in self.tree.items()}
        if got != want:
            shown = {k: sorted(v) for k, v in layout.items()}
            have = {
                k: sorted(v) if v is not None else type(self.tree[k]).__name__
                for k, v in got.items()
            }
            raise ValueError(f"{self.name}: got {have}, expected {shown}")

    def get(self, layer, entry, blocks, rows=None):
        a = np.asarray(self.tree[layer][entry])
        where = f"{self.name}['{layer}']['{entry}']"
        width = blocks * self.h
        if entry == "bias":
            expected = (width,)
        else:
            if rows is None:  # an input-side kernel: the first fixes I
                if a.ndim == 2 and self.input_size is None:
                    self.input_size = a.shape[0]
                rows = self.input_size if self.input_size is not None else "input_size"
            expected = (rows, width)
        if a.shape != expected:
            raise ValueError(
                f"{where}: got shape {a.shape}, expected {expected} for units={self.h}"
            )
        return a


# ------------------------------------------------------------------ Keras models -------
def from_keras_model(keras_model, *, key=None):
    """A jrnn model and its variables from a built Keras `Sequential` whose outputs they
    reproduce: `model, variables = jrnn.from_keras_model(keras_model)`.

    Supported layers: Embedding, SimpleRNN / LSTM / GRU (their arguments that change
    results: units, activations, use_bias, reset_after, return_sequences, go_backwards,
    stateful), Bidirectional of them, Dense, TimeDistributed(Dense), Conv1D
    (channels_last, groups=1), MaxPooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D,
    Dropout and Masking. Layers keep their Keras names. Keras is not imported: the
    layers are read through `get_config()` and `get_weights()`.

    The jrnn model starts with a `jrnn.Input` of the Keras input's dtype and feature
    sizes, its length free (None) on a time axis ((B, T) ids, (B, T, F) features).
    Stateful layers start from zero carries (`reset_states`), for the Keras input's
    batch size.

    Args:
      keras_model: a `keras.Sequential`, built (with `keras.Input`, or called once).
      key: PRNG key for the structure check (unused values); default key 0.

    Returns:
      (model, variables): a `jrnn.Sequential` and `{"params": ..., "state": ...}`.
    """
    if type(keras_model).__name__ != "Sequential" or not hasattr(keras_model, "layers"):
        raise TypeError(
            f"keras_model: got {type(keras_model).__name__}, expected a keras.Sequential "
            f"(functional Keras models are not converted)"
        )
    inputs = getattr(keras_model, "inputs", None)
    if not inputs:
        raise ValueError(
            "keras_model: is not built (no inputs); expected a model started with "
            "keras.Input(shape) or called once on data"
        )
    if len(inputs) != 1:
        raise ValueError(f"keras_model: got {len(inputs)} inputs, expected 1")
    shape, dtype = tuple(inputs[0].shape), np.dtype(str(inputs[0].dtype))
    time_axis = len(shape) >= (3 if np.issubdtype(dtype, np.floating) else 2)
    feature_shape = tuple(None if (i == 1 and time_axis) else d for i, d in enumerate(shape))[1:]
    stateful = any(
        getattr(lyr, "stateful", False)
        or getattr(getattr(lyr, "forward_layer", None), "stateful", False)
        for lyr in keras_model.layers
    )
    batch_size = shape[0] if stateful else None
    if stateful and batch_size is None:
        raise ValueError(
            "keras_model: has stateful layers but no fixed batch size; expected "
            "keras.Input(shape, batch_size=B)"
        )
    converted, params = [], {}
    for i, layer in enumerate(keras_model.layers):
        jl, p = _keras_layer(layer, f"keras_model.layers[{i}] ({layer.name})")
        converted.append(jl)
        if p:
            params[layer.name] = p
    model = Sequential(
        [L.Input(feature_shape, dtype, batch_size=batch_size), *converted],
        name=keras_model.name,
    )
    example = jax.ShapeDtypeStruct(
        (batch_size or 2, *(4 if d is None else d for d in feature_shape)), dtype
    )
    template = jax.eval_shape(model.init, jax.random.key(0) if key is None else key, example)
    for name, want in template["params"].items():
        got = params.get(name)
        got_shapes = jax.tree.map(np.shape, got)
        want_shapes = jax.tree.map(lambda a: a.shape, want)
        if got_shapes != want_shapes:
            raise ValueError(
                f"keras_model: layer {name}'s weights have shapes {got_shapes}, expected "
                f"{want_shapes} for the converted layer"
            )
    state = jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), template["state"])
    return model, {"params": params, "state": state}


def _activation(cfg, key, where):
    value = cfg.get(key, "linear")
    if not isinstance(value, str):
        raise ValueError(
            f"{where}: got {key}={value!r}, expected a built-in activation given by name"
        )
    return value


def _keras_rnn(layer, where):
    kind = type(layer).__name__
    cfg = layer.get_config()
    if cfg.get("return_state"):
        raise ValueError(f"{where}: got return_state=True, which a Sequential cannot pass on")
    cell_args = {"activation": _activation(cfg, "activation", where)}
    cell_args["use_bias"] = cfg.get("use_bias", True)
    if kind != "SimpleRNN":
        cell_args["recurrent_activation"] = _activation(cfg, "recurrent_activation", where)
    if kind == "GRU":
        cell_args["reset_after"] = cfg.get("reset_after", True)
    layer_args = {
        k: cfg[k]
        for k in ("return_sequences", "go_backwards", "stateful", "zero_output_for_mask")
        if k in cfg
    }
    cls = {"SimpleRNN": L.SimpleRNN, "LSTM": L.LSTM, "GRU": L.GRU}[kind]
    jl = cls(cfg["units"], name=layer.name, **cell_args, **layer_args)
    return jl, from_keras(jl.cell, layer.get_weights())


def _keras_layer(layer, where):
    """(jrnn layer, params) for one Keras layer."""
    kind = type(layer).__name__
    cfg = layer.get_config()
    w = [np.asarray(a, np.float32) for a in layer.get_weights()]
    name = layer.name
    if cfg.get("data_format", "channels_last") != "channels_last":
        raise ValueError(f"{where}: got data_format={cfg['data_format']!r}, expected channels_last")
    if kind in ("SimpleRNN", "LSTM", "GRU"):
        return _keras_rnn(layer, where)
    if kind == "Bidirectional":
        fw, p_fw = _keras_rnn(layer.forward_layer, where + ".forward_layer")
        bw, p_bw = _keras_rnn(layer.backward_layer, where + ".backward_layer")
        merge_mode = cfg.get("merge_mode", "concat")
        jl = L.Bidirectional(fw, merge_mode, backward_layer=bw, name=name)
        return jl, {"forward": p_fw, "backward": p_bw}
    if kind == "Embedding":
        jl = L.Embedding(cfg["input_dim"], cfg["output_dim"], mask_zero=cfg["mask_zero"], name=name)
        return jl, {"embeddings": jnp.asarray(w[0])}
    if kind == "Dense":
        jl = L.Dense(
            cfg["units"], _activation(cfg, "activation", where), use_bias=cfg["use_bias"], name=name
        )
        return jl, _kernel_bias(w, cfg["use_bias"])
    if kind == "TimeDistributed":
        inner, p = _keras_layer(layer.layer, where + ".layer")
        return L.TimeDistributed(inner, name=name), p
    if kind == "Conv1D":
        if cfg.get("groups", 1) != 1:
            raise ValueError(f"{where}: got groups={cfg['groups']}, expected 1")
        jl = L.Conv1D(
            cfg["filters"],
            cfg["kernel_size"],
            cfg["strides"],
            cfg["padding"],
            dilation_rate=cfg["dilation_rate"],
            activation=_activation(cfg, "activation", where),
            use_bias=cfg["use_bias"],
            name=name,
        )
        return jl, _kernel_bias(w, cfg["use_bias"])
    if kind == "MaxPooling1D":
        return L.MaxPooling1D(cfg["pool_size"], cfg["strides"], cfg["padding"], name=name), {}
    if kind in ("GlobalAveragePooling1D", "GlobalMaxPooling1D"):
        return getattr(L, kind)(keepdims=cfg.get("keepdims", False), name=name), {}
    if kind == "Dropout":
        return L.Dropout(cfg["rate"], cfg.get("noise_shape"), name=name), {}
    if kind == "Masking":
        return L.Masking(cfg["mask_value"], name=name), {}
    raise ValueError(
        f"{where}: got a Keras {kind} layer, expected one of Embedding, SimpleRNN, LSTM, GRU, "
        f"Bidirectional, Dense, TimeDistributed, Conv1D, MaxPooling1D, "
        f"GlobalAveragePooling1D, GlobalMaxPooling1D, Dropout, Masking"
    )


def _kernel_bias(w, use_bias):
    params = {"kernel": jnp.asarray(w[0])}
    if use_bias:
        params["bias"] = jnp.asarray(w[1])
    return params
