"""Weights trained elsewhere -> jrnn params that give the same outputs.

`from_keras(cell, layer.get_weights())` and `from_torch(cell, module.state_dict())` take
NumPy arrays (or anything `np.asarray` reads) and return params for `cell`: a built-in
cell, a `stack` of them, a `bidirectional` pair (`jrnn.cells.BidirectionalCells`) or a
`stack_bidirectional` (`jrnn.cells.StackedBidirectional`).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jrnn.cells import (
    BidirectionalCells,
    GRUCell,
    LSTMCell,
    SimpleRNNCell,
    StackedBidirectional,
    StackedCell,
)


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
