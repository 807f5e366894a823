"""Step functions from trained models, for the decoders in `jrnn.decode`.

`lm_step(model, variables)` turns a `jrnn.Sequential` language model, or the decoder
layers of a functional encoder-decoder (`layers=[...]`), into
`step_fn(carry, tokens (B,)) -> (carry, logits (B, V))`, one token at a time with every
recurrent layer's carry explicit, so `jrnn.decode` can feed a prompt, sample, or run
greedy and beam search with `lax.scan`.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax.tree_util import Partial

from jrnn._checks import check_positive_int
from jrnn._fused import tree_where
from jrnn.layers.base import Node
from jrnn.layers.core import Dense, Dropout, Embedding, TimeDistributed
from jrnn.layers.recurrent import RNN, Bidirectional, initial_output
from jrnn.models import Model, Sequential


@dataclass(frozen=True)
class _LMStep:
    """`(params, carry, tokens) -> (carry, logits)` for a plan of (kind, layer, name)
    entries; equal plans (the same layer objects) hash equal, so `jit` reuses the
    program for the same model."""

    plan: tuple

    def __call__(self, params, carry, tokens):
        x, valid, new_carry, k = tokens, None, [], 0
        for kind, layer, name in self.plan:
            p = params.get(name, {})
            if kind == "embedding":
                valid = jnp.not_equal(tokens, 0) if layer.mask_zero else valid
                x = jnp.take(p["embeddings"], x, axis=0)
            elif kind == "one_hot":
                x = jax.nn.one_hot(x, layer.cell.expected_input_size(p), dtype=jnp.float32)
            elif kind == "rnn":
                old = carry[k]
                c, y = layer.cell(p, old, x)
                if valid is not None:
                    # A masked step (token 0 with mask_zero) keeps the carry, and the
                    # output repeats the previous one (zeros with zero_output_for_mask),
                    # as the layer does over a whole sequence.
                    c = tree_where(valid, c, old)
                    y0 = initial_output(layer.cell, old).astype(y.dtype)
                    if layer.zero_output_for_mask:
                        y0 = jnp.zeros_like(y)
                    y = jnp.where(valid[:, None], y, y0)
                new_carry.append(c)
                x, k = y, k + 1
            elif kind == "dense":
                x, _ = layer.call(p, x)
            elif kind == "log_softmax":  # a final Dense(V, "softmax"): log-probabilities
                x = jnp.matmul(x, p["kernel"].astype(x.dtype))
                x = x + p["bias"].astype(x.dtype)[None] if layer.use_bias else x
                x = jax.nn.log_softmax(x, axis=-1)
            # "dropout": the identity at inference
        return tuple(new_carry), x


def lm_step(model, variables, *, layers=None):
    """A step function and an initial-carry function from a language model, or from the
    decoder of an encoder-decoder model.

    The layers stepped through map token ids (B, T) to logits (B, T, V): an `Embedding`
    (or, without one, a first recurrent layer fed one-hot tokens), recurrent layers
    (`SimpleRNN`, `LSTM`, `GRU`, `RNN`, causal: no `Bidirectional`, no `go_backwards`),
    `Dropout` (the identity here) and `Dense` / `TimeDistributed(Dense)`. Every
    recurrent layer but the last needs `return_sequences=True`; the last may have
    False, since stepping it over a sequence gives its last output either way.

    One step runs each layer on one token: x_t = E[tokens], (carry_l, x_t) =
    cell_l(carry_l, x_t) for each recurrent layer l, logits = Dense(x_t). With
    `Embedding(mask_zero=True)` a token 0 is a masked step (carries unchanged), as in
    `model.apply`. A final `Dense(V, activation="softmax")` gives log-probabilities
    (logits up to a constant, the same distribution). Feeding tokens one at a time
    thus gives the logits of `model.apply` on the whole sequence (teacher forcing).

    Encoder-decoder: pass the functional `jrnn.Model` and `layers`, the names of its
    decoder's layers in order (e.g. `["dec_embedding", "decoder", "logits"]`), each
    called on the previous one's output in the model (checked, so that no layer in
    between is skipped); the
    carry is then yours to start from, e.g. the encoder's final state:
    `carry = ((h, c),)` for one decoder LSTM whose `initial_state` was `[h, c]` in
    training. The step then gives the decoder's teacher-forced logits of `model.apply`.

    Args:
      model: a `jrnn.Sequential` (all its layers), or a `jrnn.Model` with `layers`.
      variables: its variables (`model.init`); only `variables["params"]` is read (the
        initial carry is zeros, also for stateful layers).
      layers: None (every layer of a Sequential), or the names of the layers to step
        through, in order.

    Returns:
      (step_fn, initial_carry_fn): `step_fn(carry, tokens (B,)) -> (carry, logits
      (B, V))`, a `jax.tree_util.Partial` holding the parameters, and
      `initial_carry_fn(batch_size)` -> the tuple of every recurrent layer's zero carry.
    """
    if layers is None:
        if not isinstance(model, Sequential):
            raise TypeError(
                f"model: got {type(model).__name__} and layers=None; expected a "
                f"jrnn.Sequential, or a jrnn.Model with layers=[the decoder's layer names]"
            )
        chosen = [(layer, model.name_of(layer)) for layer in model.layers]
    else:
        if not isinstance(model, (Sequential, Model)):
            raise TypeError(
                f"model: got {type(model).__name__}, expected a jrnn.Sequential or jrnn.Model"
            )
        if isinstance(layers, str) or not layers:
            raise ValueError(f"layers: got {layers!r}, expected a non-empty list of layer names")
        names = [model.name_of(layer) for layer in model.layers]
        for i, name in enumerate(layers):
            if name not in names:
                raise ValueError(f"layers[{i}]: got {name!r}, expected one of {names}")
        chosen = [(model.get_layer(name), name) for name in layers]
        _check_chain(model, chosen)
    plan, rnns = [], []
    for i, (layer, name) in enumerate(chosen):
        where = (
            f"model: layer {i} ({name}, {layer.type_name})"
            if layers is None
            else f"layers[{i}] ({name}, {layer.type_name})"
        )
        if isinstance(layer, Embedding) and i == 0:
            plan.append(("embedding", layer, name))
        elif isinstance(layer, Bidirectional):
            raise ValueError(f"{where} reads the future; a language model must be causal")
        elif isinstance(layer, RNN):
            if layer.go_backwards:
                raise ValueError(f"{where} has go_backwards=True; expected a causal layer")
            if rnns and not rnns[-1].return_sequences:
                raise ValueError(
                    f"{where} follows a recurrent layer with return_sequences=False; "
                    f"expected return_sequences=True on every recurrent layer but the last"
                )
            if i == 0:
                plan.append(("one_hot", layer, name))
            plan.append(("rnn", layer, name))
            rnns.append(layer)
        elif isinstance(layer, Dropout) or (
            isinstance(layer, TimeDistributed) and isinstance(layer.layer, Dropout)
        ):
            plan.append(("dropout", layer, name))
        elif isinstance(layer, Dense):
            plan.append(("dense", layer, name))
        elif isinstance(layer, TimeDistributed) and isinstance(layer.layer, Dense):
            plan.append(("dense", layer.layer, name))
        else:
            raise ValueError(
                f"{where} is not supported; expected Embedding (first), SimpleRNN, LSTM, "
                f"GRU, RNN, Dropout, Dense or TimeDistributed(Dense)"
            )
    if not rnns:
        raise ValueError("model: has no recurrent layer; expected an RNN language model")
    kind, layer, name = plan[-1]
    if kind == "dense" and layer.activation in ("softmax", jax.nn.softmax):
        plan[-1] = ("log_softmax", layer, name)
    params = {n: variables["params"].get(n, {}) for _, _, n in plan}
    step = Partial(_LMStep(tuple(plan)), params)

    def initial_carry(batch_size: int):
        check_positive_int("batch_size", batch_size)
        return tuple(layer.cell.initial_carry(batch_size) for layer in rnns)

    return step, initial_carry


def _check_chain(model, chosen) -> None:
    """Each chosen layer must read the previous one's (first) output, else stepping
    through them would silently skip what the model does in between."""
    if isinstance(model, Sequential):
        at = [model.layers.index(layer) for layer, _ in chosen]
        pairs = [(i, a + 1 == b) for i, (a, b) in enumerate(zip(at, at[1:]), 1)]
    else:
        calls = model._calls

        def reads(layer, prev) -> bool:
            return any(
                c.layer is layer
                and isinstance(c.x, Node)
                and c.x.call is not None
                and c.x.call.layer is prev
                and c.x.index == 0
                for c in calls
            )

        pairs = [(i, reads(chosen[i][0], chosen[i - 1][0])) for i in range(1, len(chosen))]
    for i, ok in pairs:
        if not ok:
            raise ValueError(
                f"layers[{i}]: {chosen[i][1]} does not read {chosen[i - 1][1]}'s output in "
                f"the model; expected the decoder's layers in order, each called on the "
                f"previous one's output (list every layer in between)"
            )
