"""The training state: `TrainState`, creating one, and reading model variables from it."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jrnn._checks import check_int
from jrnn.saving import load_model, load_optimizer_state
from jrnn.training._optimizers import get_optimizer


class TrainState(NamedTuple):
    """Everything a training run needs to continue: a pytree, checkpointed as a whole.

    params: the model's parameters; opt_state: the Optax state; model_state: the
    model's state collection (stateful RNN carries); step: int32 scalar, optimizer
    steps taken; key: the PRNG key dropout keys are folded from (step s drops with
    `fold_in(key, s)`); epoch: int32 scalar, epochs completed. `fit(model, state, ...)`
    continues from here: the next epoch is `epoch`, shuffled as an uninterrupted run
    would shuffle it.
    """

    params: Any
    opt_state: Any
    model_state: Any
    step: jax.Array
    key: jax.Array
    epoch: Any = 0

    @property
    def variables(self) -> dict:
        """`{"params", "state"}`, what `model.apply` takes."""
        return {"params": self.params, "state": self.model_state}


def create_train_state(variables, optimizer, seed: int = 0) -> TrainState:
    """A TrainState at step 0 and epoch 0 from `model.init`'s variables; the dropout
    key is `jax.random.key(seed)`. `optimizer`: an Optax GradientTransformation or a
    name such as "adam"."""
    if not (isinstance(variables, dict) and "params" in variables):
        raise TypeError(
            f"variables: got {type(variables).__name__}, expected model.init's "
            f"{{'params', 'state'}} dict"
        )
    optimizer = get_optimizer(optimizer)
    seed = check_int("seed", seed, minimum=0)
    params = variables["params"]
    return TrainState(
        params=params,
        opt_state=optimizer.init(params),
        model_state=variables.get("state", {}),
        step=jnp.zeros((), jnp.int32),
        key=jax.random.key(seed),
        epoch=jnp.zeros((), jnp.int32),
    )


def as_variables(v) -> dict:
    """Model variables from `model.init`'s dict or a TrainState."""
    if isinstance(v, TrainState):
        return v.variables
    if isinstance(v, dict) and "params" in v:
        return v
    raise TypeError(
        f"variables: got {type(v).__name__}, expected model.init's {{'params', 'state'}} "
        f"dict or a TrainState"
    )


def load_train_state(path, optimizer):
    """`(model, TrainState)` from a file `jrnn.save_model(..., include_optimizer=True)`
    wrote, to continue training with `fit(model, state, ...)`. `optimizer` must be the
    run's optimizer (an Optax GradientTransformation or a name such as "adam"): its
    `init` gives the structure the saved optimizer state is read into."""
    model, variables = load_model(path)
    parts = load_optimizer_state(path, get_optimizer(optimizer), variables["params"])
    state = TrainState(
        params=variables["params"],
        opt_state=parts["opt_state"],
        model_state=variables["state"],
        step=parts["step"],
        key=parts["key"],
        epoch=parts["epoch"],
    )
    return model, state
