"""`lm_step`: a step function for the decoders from a trained language model (or the
decoder of an encoder-decoder), built from its layers' one-step forms.

`lm_step(model, variables)` turns a `jrnn.Sequential` language model, or the decoder
layers of a functional encoder-decoder (`layers=[...]`), into
`step_fn(carry, tokens (B,)) -> (carry, logits (B, V))`, one token at a time with every
recurrent layer's carry explicit, so the decoders can feed a prompt, sample, or run
greedy and beam search with `lax.scan`. It knows no layer type: each layer runs through
the layer-step protocol (`Layer.step_init` / `step` / `step_logits`, see
`jrnn.layers.base`), so a layer that implements it can be decoded through.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax.tree_util import Partial

from jrnn._checks import check_positive_int
from jrnn.models import Model, Sequential


@dataclass(frozen=True)
class _LMStep:
    """`(params, carry, tokens) -> (carry, logits)` for a plan of (layer, name, has
    carry) entries, the first layer fed one-hot tokens of size `one_hot` (None: the
    ids themselves); equal plans (the same layer objects) hash equal, so `jit` reuses
    the program for the same model."""

    plan: tuple
    one_hot: int | None

    def __call__(self, params, carry, tokens):
        x = tokens
        if self.one_hot is not None:
            x = jax.nn.one_hot(tokens, self.one_hot, dtype=jnp.float32)
        mask, new_carry, k = None, [], 0
        for i, (layer, name, has_carry) in enumerate(self.plan):
            step = layer.step_logits if i == len(self.plan) - 1 else layer.step
            c, y = step(params[name], carry[k] if has_carry else None, x, mask_t=mask)
            mask = layer.compute_mask(x, mask)  # e.g. Embedding(mask_zero=True): ids != 0
            if has_carry:
                new_carry.append(c)
                k += 1
            x = y
        return tuple(new_carry), x


def lm_step(model, variables, *, layers=None):
    """A step function and an initial-carry function from a language model, or from the
    decoder of an encoder-decoder model.

    The layers stepped through map token ids (B, T) to logits (B, T, V), each through
    the layer-step protocol (`Layer.step`; a layer without it is refused, named): an
    `Embedding` (or, without one, a first layer fed one-hot tokens), recurrent layers
    (`SimpleRNN`, `LSTM`, `GRU`, `RNN`, causal: no `Bidirectional`, no `go_backwards`),
    `Dropout` (the identity here), `Dense` / `TimeDistributed`, or any layer of yours
    that implements the protocol. Every recurrent layer but the last needs
    `return_sequences=True`; the last may have False, since stepping it over a
    sequence gives its last output either way.

    One step runs each layer on one token: x_t = E[tokens], (carry_l, x_t) =
    layer_l.step(carry_l, x_t) for each layer l (a cell step for a recurrent layer),
    and the last layer gives the logits. With
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
        if not isinstance(layers, (list, tuple)):
            raise TypeError(
                f"layers: got {layers!r} of type {type(layers).__name__}, expected None or a "
                f"list of layer names"
            )
        if not layers:
            raise ValueError(f"layers: got {layers!r}, expected a non-empty list of layer names")
        names = [model.name_of(layer) for layer in model.layers]
        for i, name in enumerate(layers):
            if name not in names:
                raise ValueError(f"layers[{i}]: got {name!r}, expected one of {names}")
        chosen = [(model.get_layer(name), name) for name in layers]
        _check_chain(model, chosen)
    params = _params_of(variables)
    plan, last = [], None  # last: the latest layer with a carry
    for i, (layer, name) in enumerate(chosen):
        where = (
            f"model: layer {i} ({name}, {layer.type_name})"
            if layers is None
            else f"layers[{i}] ({name}, {layer.type_name})"
        )
        error = layer.step_error()
        if error is not None:
            raise ValueError(f"{where} {error}")
        p = params.get(name, {})
        has_carry = jax.eval_shape(lambda layer=layer, p=p: layer.step_init(p, 1)) is not None
        if has_carry and last is not None and last.step_output_is_last():
            raise ValueError(
                f"{where} follows {last.type_name} whose output is its last step only "
                f"(return_sequences=False); expected return_sequences=True on every "
                f"recurrent layer but the last"
            )
        if has_carry:
            last = layer
        plan.append((layer, name, has_carry))
    if last is None:
        raise ValueError(
            "model: has no layer with a carry (no recurrent layer); expected an RNN language model"
        )
    first, first_name, _ = plan[0]
    try:
        one_hot = first.step_input_size(params.get(first_name, {}))
    except ValueError as e:
        where = "model: layer 0" if layers is None else "layers[0]"
        raise ValueError(f"{where} ({first_name}): {e}") from None
    step_params = {n: params.get(n, {}) for _, n, _ in plan}
    step = Partial(_LMStep(tuple(plan), one_hot), step_params)
    carrying = [(layer, step_params[n]) for layer, n, has_carry in plan if has_carry]

    def initial_carry(batch_size: int):
        check_positive_int("batch_size", batch_size)
        return tuple(layer.step_init(p, batch_size) for layer, p in carrying)

    return step, initial_carry


def _params_of(variables) -> dict:
    """`variables["params"]` of `model.init`'s dict, or a TrainState's params."""
    if isinstance(variables, dict) and isinstance(variables.get("params"), dict):
        return variables["params"]
    if hasattr(variables, "opt_state") and isinstance(getattr(variables, "params", None), dict):
        return variables.params
    raise TypeError(
        f"variables: got {type(variables).__name__}, expected model.init's "
        f"{{'params', 'state'}} dict or a TrainState"
    )


def _check_chain(model, chosen) -> None:
    """Each chosen layer must read the previous one's (first) output, else stepping
    through them would silently skip what the model does in between."""
    pairs = [(i, model.feeds(chosen[i - 1][0], chosen[i][0])) for i in range(1, len(chosen))]
    for i, ok in pairs:
        if not ok:
            raise ValueError(
                f"layers[{i}]: {chosen[i][1]} does not read {chosen[i - 1][1]}'s output in "
                f"the model; expected the decoder's layers in order, each called on the "
                f"previous one's output (list every layer in between)"
            )
