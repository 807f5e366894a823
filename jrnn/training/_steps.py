"""The compiled steps: train, eval and predict, each jit-compiled once per model,
objective and optimizer and kept for the next call (as Keras keeps `train_function`).

A batch is {"x", "y", "valid" (B,) bool, ["sample_weight"]}: "valid" marks the rows that
are not padding of a short last batch. Sums are {log key: (total, count)} for one batch.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax

from jrnn.training._state import TrainState


def cached(builder):
    """Memoise a step builder on its (hashable) arguments: calling `fit`, `evaluate` or
    `predict` again with the same model, objective and optimizer reuses the compiled
    step instead of tracing and compiling anew. Unhashable arguments (a user's loss
    object) skip the cache."""
    memo = functools.lru_cache(maxsize=32)(builder)

    @functools.wraps(builder)
    def build(*args):
        try:
            hash(args)
        except TypeError:
            return builder(*args)
        return memo(*args)

    return build


_LOSS_STREAM = 2**31 - 1  # far above any model's number of layer calls


def _all_finite(tree):
    leaves = [
        jnp.all(jnp.isfinite(a))
        for a in jax.tree.leaves(tree)
        if jnp.issubdtype(jnp.result_type(a), jnp.inexact)
    ]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


@cached
def make_train_step(model, objective, optimizer):
    """`step(state, batch) -> (state, sums, probe)`, jitted (probe:
    `Objective.probability_probe`, read on the first batch only). Dropout at optimizer step s uses
    `fold_in(state.key, s)`; a step whose new parameters or optimizer state are not
    finite reports a NaN loss, so `fit` stops before it."""

    def train_step(state: TrainState, batch):
        key = jax.random.fold_in(state.key, state.step)

        def objective_fn(params):
            v = {"params": params, "state": state.model_state}
            y_pred, out_masks, new_model_state, heads = model.apply_with_heads(
                v, batch["x"], training=True, key=key
            )
            # The losses' own stream: the model's calls use fold_in(key, i) for call i.
            loss_key = jax.random.fold_in(key, _LOSS_STREAM)
            loss, sums = objective.batch_sums(
                batch["y"],
                y_pred,
                out_masks,
                batch["valid"],
                batch.get("sample_weight"),
                heads=heads,
                key=loss_key,
            )
            probe = objective.probability_probe(y_pred, out_masks, batch["valid"])
            return loss, (sums, probe, new_model_state)

        (_, (sums, probe, new_model_state)), grads = jax.value_and_grad(objective_fn, has_aux=True)(
            state.params
        )
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        new = state._replace(
            params=optax.apply_updates(state.params, updates),
            opt_state=opt_state,
            model_state=new_model_state,
            step=state.step + 1,
        )
        # A finite loss can still give NaN/inf gradients (and so parameters); report such
        # a step as a non-finite loss, so fit stops before it and never checkpoints it.
        finite = _all_finite((new.params, new.opt_state))
        total, count = sums["loss"]
        sums = {**sums, "loss": (jnp.where(finite, total, jnp.nan), count)}
        return new, sums, probe

    return jax.jit(train_step)


@cached
def make_eval_step(model, objective):
    """`step(variables, batch) -> (model_state, sums, probe)`, jitted."""

    def eval_step(variables, batch):
        y_pred, out_masks, new_state = model.apply_with_mask(variables, batch["x"])
        _, sums = objective.batch_sums(
            batch["y"], y_pred, out_masks, batch["valid"], batch.get("sample_weight")
        )
        return new_state, sums, objective.probability_probe(y_pred, out_masks, batch["valid"])

    return jax.jit(eval_step)


@cached
def make_predict_step(model):
    """`step(variables, x) -> (model_state, y_pred)`, jitted."""

    def predict_step(variables, x):
        y_pred, new_state = model.apply(variables, x)
        return new_state, y_pred

    return jax.jit(predict_step)
