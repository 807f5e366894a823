"""Training callbacks (Keras's names): pass them to `jrnn.fit(callbacks=[...])`.

A callback subclasses `Callback` and overrides the hooks it needs; it sees the running
fit as `self.loop` (see `jrnn.training.CallbackList`).
"""

from jrnn.training._callbacks import (
    Callback,
    CallbackList,
    CSVLogger,
    EarlyStopping,
    History,
    LambdaCallback,
    ModelCheckpoint,
    ProgressBar,
    ReduceLROnPlateau,
    TerminateOnNaN,
)

__all__ = [
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "ModelCheckpoint",
    "ProgressBar",
    "ReduceLROnPlateau",
    "TerminateOnNaN",
]
