"""Training: `fit`, `evaluate`, `predict` and the `TrainState` they carry.

    state, history = jrnn.fit(model, variables, (x, y), loss="sparse_categorical_crossentropy",
                              optimizer="adam", metrics=["accuracy"], batch_size=32,
                              epochs=10, validation_data=(xv, yv), seed=0)
    state, more = jrnn.fit(model, state, (x, y), loss=..., epochs=5)   # 5 epochs more
    logs = jrnn.evaluate(model, state, (x_test, y_test), loss=..., metrics=["accuracy"])
    y = jrnn.predict(model, state, x_test)

The pieces, one private module each: `_state` (TrainState), `_objective` (losses and
metrics per output, the batch sums), `_steps` (the compiled train/eval/predict steps),
`_batches` (the epoch iterator), `_callbacks` (callbacks and the CallbackList),
`_resume` (checkpoint save/restore and history replay), `_sharding` (the data mesh),
`_optimizers` (optimizer names), `_loop` (fit/evaluate/predict).
"""

from jrnn.training._callbacks import CallbackList
from jrnn.training._loop import evaluate, fit, predict
from jrnn.training._state import TrainState, create_train_state, load_train_state

__all__ = [
    "CallbackList",
    "TrainState",
    "create_train_state",
    "evaluate",
    "fit",
    "load_train_state",
    "predict",
]
