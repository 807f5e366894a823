"""The bad-input catalogue: every public callable, fed wrong ranks, dtypes, ranges,
structures and empty input, must raise a clear error.

Each row (`bad(raises, match, target, *args, **kwargs)`) is one call that must raise
`raises` (TypeError for a wrong type or structure, ValueError for a wrong value or shape,
FileNotFoundError for a missing file) with a message that matches `match` (the argument's
name at least) and says what it got or what was expected, raised by jrnn's own code, not
from inside JAX, NumPy or the standard library. `test_every_public_callable_has_a_row`
walks the public namespace (every package's `__all__`, the public modules' own names, and
the methods of METHOD_OWNERS) and fails for a callable with no row, unless it is EXEMPT
(with the reason) or has a known gap.

GAPS holds the calls that do not raise well yet, in files the catalogue's author does not
own, each with what happens instead (KNOWN_GAPS: the same by qualified name). Each runs as
a row marked `xfail(strict=True)`: it fails loudly the day the gap is fixed, so that the
row moves into ROWS.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import pathlib
import re
import tempfile
from collections.abc import Callable

import flax.linen as flax_nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import jrnn
import jrnn.interop

# A gap row (reduce_weighted(["a"])) makes JAX ask NumPy for the deprecated dtype "a".
pytestmark = pytest.mark.filterwarnings("ignore:Data type alias:DeprecationWarning")

JRNN_DIR = pathlib.Path(jrnn.__file__).parent
KEY = jax.random.key(0)


@dataclasses.dataclass(frozen=True)
class Row:
    """One bad call: `call()` must raise `raises` with a message matching `match`.
    `target` is the public callable the row covers."""

    target: Callable
    call: Callable
    raises: type[Exception]
    match: str
    what: str


def bad(raises, match, target, *args, via=None, **kwargs) -> Row:
    """A row: `target(*args, **kwargs)` (or `via()`, for methods and calls that need
    setting up) must raise `raises` with a message matching `match`."""
    call = via if via is not None else functools.partial(target, *args, **kwargs)
    shown = ", ".join([*map(_short, args), *(f"{k}={_short(v)}" for k, v in kwargs.items())])
    return Row(target, call, raises, match, shown if via is None else "via")


def _short(v) -> str:
    if isinstance(v, (jax.Array, np.ndarray)):
        return f"{type(v).__name__}{tuple(v.shape)}:{v.dtype}"
    text = repr(v)
    return text if len(text) <= 30 else text[:27] + "..."


# ----------------------------------------------------------------------------- fixtures
# Built on first use so that each row pays only for what it needs.

_TMP = tempfile.TemporaryDirectory(prefix="jrnn-bad-inputs-")
TMP = pathlib.Path(_TMP.name)


def tmp(name: str) -> pathlib.Path:
    return TMP / name


def a_file() -> pathlib.Path:
    """An existing plain file that is not an npz, where a directory or model is wanted."""
    path = tmp("not-a-directory.txt")
    path.write_text("hello")
    return path


def an_empty_dir() -> pathlib.Path:
    path = tmp("empty-dir")
    path.mkdir(exist_ok=True)
    return path


CELL = jrnn.LSTMCell(4)


@functools.cache
def flax_lstm_variables() -> dict:
    """A Flax linen LSTMCell(4)'s params for inputs of width 3 (CELL's layout)."""
    cell = jrnn.interop.FlaxCell(flax_nn.LSTMCell(4))
    return dict(cell.init(KEY, 3)["params"])


def _bad_hi() -> dict:
    return {"kernel": np.zeros((5, 4)), "bias": np.zeros(4)}


def flax_cell_step(x_t):
    cell = jrnn.interop.FlaxCell(flax_nn.LSTMCell(4))
    return cell({"params": flax_lstm_variables()}, cell.initial_carry(2), x_t)


@functools.cache
def nnx_cell():
    return jrnn.interop.NNXCell(nnx.GRUCell(3, 4, rngs=nnx.Rngs(0)))


@functools.cache
def cell_params():
    """Zero params of `CELL.init(KEY, 3)`'s structure (eval_shape: no compiles)."""
    shapes = jax.eval_shape(functools.partial(CELL.init, input_size=3), KEY)
    return jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)


XS = np.zeros((2, 5, 3), np.float32)


@functools.cache
def lm():
    """A tiny language model (vocabulary 5) and zero variables of init's structure (from
    `jax.eval_shape`: the rows need the structure, and tracing is much faster than init)."""
    model = jrnn.Sequential(
        [
            jrnn.layers.Embedding(5, 3),
            jrnn.layers.LSTM(4, return_sequences=True),
            jrnn.layers.Dense(5),
        ]
    )
    shapes = jax.eval_shape(model.init, KEY, np.zeros((1, 2), np.int32))
    return model, jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)


@functools.cache
def saved_model() -> pathlib.Path:
    model, variables = lm()
    return jrnn.save_model(tmp("lm.npz"), model, variables) or tmp("lm.npz")


def step_fn(carry, tokens):
    """A decoder step over a vocabulary of 5: (B, 4) carry, (B,) tokens -> (B, 5) logits."""
    return carry, jnp.zeros((tokens.shape[0], 5)) + carry[:, :1]


CARRY = jnp.zeros((2, 4))


@functools.cache
def dataset():
    return jrnn.Dataset.from_tensor_slices(np.arange(6))


@functools.cache
def tokenizer():
    tok = jrnn.Tokenizer()
    tok.fit_on_texts(["a b c", "b c d"])
    return tok


# --------------------------------------------------------------------------------- rows
D = jrnn.data

ROWS: list[Row] = [
    # ---- jrnn.data: padding
    bad(TypeError, "sequences: got int", jrnn.pad_sequences, 5),
    bad(ValueError, "padding: got 'middle'", jrnn.pad_sequences, [[1, 2]], padding="middle"),
    bad(ValueError, "truncating: got 'x'", jrnn.pad_sequences, [[1, 2]], truncating="x"),
    bad(TypeError, "maxlen: got 1.5", jrnn.pad_sequences, [[1, 2]], maxlen=1.5),
    bad(ValueError, "maxlen: got -1", jrnn.pad_sequences, [[1, 2]], maxlen=-1),
    bad(ValueError, r"sequences\[0\]: could not make", jrnn.pad_sequences, [[1, "a"]]),
    bad(ValueError, "value: got the str 'x'", jrnn.pad_sequences, [[1, 2]], value="x"),
    bad(ValueError, "y: got", jrnn.to_categorical, [0, -1]),
    bad(ValueError, "y: got", jrnn.to_categorical, [0, 3], num_classes=2),
    bad(ValueError, "y: got the non-integer label 0.5", jrnn.to_categorical, [0.5, 1.0]),
    bad(ValueError, "num_classes: got 0", jrnn.to_categorical, [0, 1], num_classes=0),
    bad(TypeError, "num_classes: got 1.5", jrnn.to_categorical, [0, 1], num_classes=1.5),
    bad(ValueError, "y: got", jrnn.to_categorical, []),
    # ---- jrnn.data: text
    bad(TypeError, "text: got int", D.text_to_word_sequence, 3),
    bad(TypeError, "filters: got int", D.text_to_word_sequence, "a b", filters=3),
    bad(ValueError, "split: got ''", D.text_to_word_sequence, "a b", split=""),
    bad(ValueError, "num_words: got 0", jrnn.Tokenizer, num_words=0),
    bad(TypeError, "num_words: got 1.5", jrnn.Tokenizer, num_words=1.5),
    bad(TypeError, "filters: got int", jrnn.Tokenizer, filters=3),
    bad(ValueError, "split: got ''", jrnn.Tokenizer, split=""),
    bad(TypeError, "oov_token: got int", jrnn.Tokenizer, oov_token=3),
    bad(TypeError, "json_string: got int", D.tokenizer_from_json, 3),
    bad(ValueError, "json_string: got invalid JSON", D.tokenizer_from_json, "{not json"),
    bad(ValueError, "json_string", D.tokenizer_from_json, "{}"),
    bad(ValueError, "json_string", D.tokenizer_from_json, "[1, 2]"),
    bad(TypeError, "sequences: got int", jrnn.ngram_sequences, 3),
    bad(ValueError, "padding: got 'mid'", jrnn.ngram_sequences, [[1, 2, 3]], padding="mid"),
    bad(ValueError, r"sequences\[0\]: got token id -2", jrnn.ngram_sequences, [[1, -2, 3]]),
    bad(TypeError, "sequences", jrnn.ngram_sequences, [[1.5, 2.0]]),
    bad(ValueError, "maxlen: got 0", jrnn.ngram_sequences, [[1, 2, 3]], maxlen=0),
    bad(ValueError, "size: got 0", jrnn.make_sampling_table, 0),
    bad(TypeError, "size: got 2.5", jrnn.make_sampling_table, 2.5),
    bad(ValueError, "sampling_factor: got 0", jrnn.make_sampling_table, 10, sampling_factor=0),
    bad(ValueError, "sampling_factor: got 'x'", jrnn.make_sampling_table, 10, sampling_factor="x"),
    bad(ValueError, "vocabulary_size: got 0", jrnn.skipgrams, [1, 2, 3], 0),
    bad(ValueError, "window_size: got -1", jrnn.skipgrams, [1, 2, 3], 5, window_size=-1),
    bad(TypeError, "window_size: got 1.5", jrnn.skipgrams, [1, 2, 3], 5, window_size=1.5),
    bad(ValueError, "negative_samples: got -1", jrnn.skipgrams, [1, 2, 3], 5, negative_samples=-1),
    bad(ValueError, "sequence", jrnn.skipgrams, [1, 2, 9], 5),
    bad(TypeError, "sequence", jrnn.skipgrams, "abc", 5),
    bad(ValueError, "sampling_table", jrnn.skipgrams, [1, 2, 3], 5, sampling_table=np.ones(2)),
    bad(TypeError, "seed: got 1.5", jrnn.skipgrams, [1, 2, 3], 5, seed=1.5),
    # ---- jrnn.data: time series
    bad(ValueError, "data: got a scalar", jrnn.timeseries_dataset_from_array, 3.0, None, 2),
    bad(
        ValueError,
        "sequence_length: got 0",
        jrnn.timeseries_dataset_from_array,
        np.zeros(10),
        None,
        0,
    ),
    bad(
        TypeError,
        "sequence_length: got 2.5",
        jrnn.timeseries_dataset_from_array,
        np.zeros(10),
        None,
        2.5,
    ),
    bad(
        ValueError,
        "sequence_length: windows of 20 steps",
        jrnn.timeseries_dataset_from_array,
        np.zeros(10),
        None,
        20,
    ),
    bad(
        ValueError,
        "sequence_stride: got 0",
        jrnn.timeseries_dataset_from_array,
        np.zeros(10),
        None,
        2,
        sequence_stride=0,
    ),
    bad(
        ValueError,
        "sampling_rate: got 0",
        jrnn.timeseries_dataset_from_array,
        np.zeros(10),
        None,
        2,
        sampling_rate=0,
    ),
    bad(
        ValueError,
        "batch_size: got 0",
        jrnn.timeseries_dataset_from_array,
        np.zeros(10),
        None,
        2,
        batch_size=0,
    ),
    bad(
        ValueError,
        "targets: got a scalar",
        jrnn.timeseries_dataset_from_array,
        np.zeros(10),
        3.0,
        2,
    ),
    bad(
        ValueError,
        "start_index, end_index: got 20, None",
        jrnn.timeseries_dataset_from_array,
        np.zeros(10),
        None,
        2,
        start_index=20,
    ),
    bad(
        ValueError,
        "start_index: got -1",
        jrnn.timeseries_dataset_from_array,
        np.zeros(10),
        None,
        2,
        start_index=-1,
    ),
    bad(
        ValueError,
        "start_index, end_index: got 6, 5",
        jrnn.timeseries_dataset_from_array,
        np.zeros(10),
        None,
        2,
        start_index=6,
        end_index=5,
    ),
    bad(
        TypeError,
        "seed: got 1.5",
        jrnn.timeseries_dataset_from_array,
        np.zeros(10),
        None,
        2,
        seed=1.5,
    ),
    # ---- jrnn.data: Dataset
    bad(TypeError, "iterate: got int", jrnn.Dataset, 3),
    bad(ValueError, "cardinality: got -5", jrnn.Dataset, lambda key: iter(()), cardinality=-5),
    # ---- jrnn.metrics
    bad(ValueError, "metrics: got 'nope'", jrnn.metrics.get, "nope"),
    bad(TypeError, "metrics: got 3 of type int", jrnn.metrics.get, 3),
    bad(TypeError, "loss: got 3 of type int", jrnn.metrics.get, "accuracy", loss=3),
    bad(TypeError, "fn: got int", jrnn.metrics.MetricFunction, 3),
    bad(TypeError, "name: got 3 of type int", jrnn.metrics.MetricFunction, len, name=3),
    bad(TypeError, "threshold: got 'x'", jrnn.metrics.BinaryAccuracy, threshold="x"),
    bad(ValueError, "threshold: got nan", jrnn.metrics.BinaryAccuracy, threshold=float("nan")),
    bad(TypeError, "name: got 3 of type int", jrnn.metrics.AutoAccuracy, name=3),
    bad(ValueError, "name: got ''", jrnn.metrics.CategoricalAccuracy, name=""),
    bad(TypeError, "name: got None", jrnn.metrics.SparseCategoricalAccuracy, name=None),
    bad(TypeError, "name: got 3 of type int", jrnn.metrics.MeanSquaredError, name=3),
    bad(TypeError, r"name: got \[\] of type list", jrnn.metrics.MeanAbsoluteError, name=[]),
    bad(
        ValueError,
        "sample_weight: got shape",
        jrnn.metrics.weighted_total_and_count,
        jnp.ones((2, 3)),
        sample_weight=jnp.ones(3),
    ),
    bad(
        ValueError,
        "mask: got shape",
        jrnn.metrics.weighted_total_and_count,
        jnp.ones((2, 3)),
        mask=jnp.ones((3, 2), bool),
    ),
    bad(TypeError, "values: got", jrnn.metrics.weighted_total_and_count, "x"),
    bad(TypeError, "total: got", jrnn.metrics.result, "x", 1.0),
    bad(ValueError, "count: got shape", jrnn.metrics.result, 1.0, jnp.ones(2)),
    # ---- jrnn.initializers, jrnn.activations
    bad(ValueError, "initializer: got 'nope'", jrnn.initializers.get, "nope"),
    bad(ValueError, "initializer: got 3", jrnn.initializers.get, 3),
    bad(ValueError, "shape: got", jrnn.initializers.vector_glorot_uniform, KEY, (3, 4)),
    bad(ValueError, "shape: got", jrnn.initializers.vector_glorot_uniform, KEY, (0,)),
    bad(ValueError, "activation: got 'nope'", jrnn.activations.get, "nope"),
    bad(ValueError, "activation: got 3", jrnn.activations.get, 3),
    bad(ValueError, "activation: got 'nope'", jrnn.activations.derivative_from_output, "nope"),
    bad(ValueError, "activation: got 3", jrnn.activations.derivative_from_output, 3),
    # ---- jrnn.checkpoint
    bad(ValueError, "step: got -1", jrnn.checkpoint.save, tmp("ck"), -1, {"a": 1}),
    bad(TypeError, "step: got 1.5", jrnn.checkpoint.save, tmp("ck"), 1.5, {"a": 1}),
    bad(
        ValueError,
        "max_to_keep: got 0",
        jrnn.checkpoint.save,
        tmp("ck"),
        1,
        {"a": 1},
        max_to_keep=0,
    ),
    bad(TypeError, "metadata: got int", jrnn.checkpoint.save, tmp("ck"), 1, {"a": 1}, metadata=3),
    bad(TypeError, r"tree\['a'\]: got a str", jrnn.checkpoint.save, tmp("ck"), 1, {"a": "text"}),
    bad(
        TypeError,
        "metadata: got a value of type object",
        jrnn.checkpoint.save,
        tmp("ck"),
        1,
        {"a": 1},
        metadata={"f": object()},
    ),
    bad(TypeError, "directory: got 3 of type int", jrnn.checkpoint.save, 3, 1, {"a": 1}),
    bad(
        ValueError,
        "directory: got the file",
        jrnn.checkpoint.save,
        via=lambda: jrnn.checkpoint.save(a_file(), 1, {"a": 1}),
    ),
    bad(FileNotFoundError, "does not exist", jrnn.checkpoint.restore, tmp("missing"), {"a": 1}),
    bad(
        FileNotFoundError,
        "finalized steps",
        jrnn.checkpoint.restore,
        via=lambda: jrnn.checkpoint.restore(an_empty_dir(), {"a": 1}),
    ),
    bad(
        ValueError,
        "is unreadable",
        jrnn.checkpoint.restore,
        via=lambda: jrnn.checkpoint.restore(a_file(), {"a": 1}),
    ),
    bad(
        ValueError,
        "does not match target",
        jrnn.checkpoint.restore,
        via=lambda: jrnn.checkpoint.restore(_one_checkpoint(), {"b": 1}),
    ),
    bad(
        ValueError,
        "step: got -1",
        jrnn.checkpoint.restore,
        via=lambda: jrnn.checkpoint.restore(_one_checkpoint().parent, {"a": 1}, step=-1),
    ),
    bad(
        TypeError,
        "step: got 1.5",
        jrnn.checkpoint.restore,
        via=lambda: jrnn.checkpoint.restore(_one_checkpoint().parent, {"a": 1}, step=1.5),
    ),
    bad(TypeError, "path_or_directory: got 3 of type int", jrnn.checkpoint.restore, 3, {"a": 1}),
    bad(TypeError, "directory: got 3 of type int", jrnn.checkpoint.all_steps, 3),
    bad(
        ValueError,
        "directory: got the file",
        jrnn.checkpoint.all_steps,
        via=lambda: jrnn.checkpoint.all_steps(a_file()),
    ),
    bad(TypeError, "directory: got None", jrnn.checkpoint.latest_step, None),
    bad(
        ValueError,
        "directory: got the file",
        jrnn.checkpoint.latest_step,
        via=lambda: jrnn.checkpoint.latest_step(a_file()),
    ),
    # ---- jrnn.saving
    bad(TypeError, "model: got Dense", jrnn.save_model, tmp("m.npz"), jrnn.layers.Dense(2), {}),
    bad(
        ValueError,
        "path: got the directory",
        jrnn.save_model,
        via=lambda: jrnn.save_model(an_empty_dir(), *lm()),
    ),
    bad(
        TypeError,
        "metadata: got int",
        jrnn.save_model,
        via=lambda: jrnn.save_model(tmp("m.npz"), *lm(), metadata=3),
    ),
    bad(
        TypeError,
        "variables: got",
        jrnn.save_model,
        via=lambda: jrnn.save_model(tmp("m.npz"), lm()[0], 3),
    ),
    bad(
        TypeError, "path: got 3 of type int", jrnn.save_model, via=lambda: jrnn.save_model(3, *lm())
    ),
    bad(
        TypeError,
        "include_optimizer: got 'yes'",
        jrnn.save_model,
        via=lambda: jrnn.save_model(tmp("m.npz"), *lm(), include_optimizer="yes"),
    ),
    bad(FileNotFoundError, "path: .* is not a file", jrnn.load_model, tmp("missing.npz")),
    bad(TypeError, "path: got 3 of type int", jrnn.load_model, 3),
    bad(
        ValueError,
        "is unreadable.*jrnn.save_model",
        jrnn.load_model,
        via=lambda: jrnn.load_model(a_file()),
    ),
    bad(FileNotFoundError, "path: .* is not a file", jrnn.saving.load_metadata, tmp("missing.npz")),
    bad(TypeError, "path: got None", jrnn.saving.load_metadata, None),
    bad(
        FileNotFoundError,
        "path: .* is not a file",
        jrnn.saving.load_optimizer_state,
        tmp("missing.npz"),
        optax.adam(1e-3),
        {},
    ),
    bad(
        ValueError,
        "holds no optimizer state",
        jrnn.saving.load_optimizer_state,
        via=lambda: jrnn.saving.load_optimizer_state(
            saved_model(), optax.adam(1e-3), lm()[1]["params"]
        ),
    ),
    bad(
        TypeError,
        "optimizer: got int",
        jrnn.saving.load_optimizer_state,
        via=lambda: jrnn.saving.load_optimizer_state(saved_model(), 3, lm()[1]["params"]),
    ),
    bad(FileNotFoundError, "missing", jrnn.load_variables, tmp("missing")),
    bad(TypeError, "path: got 3 of type int", jrnn.load_variables, 3),
    bad(
        ValueError,
        "step: got -1",
        jrnn.load_variables,
        via=lambda: jrnn.load_variables(_one_checkpoint().parent, step=-1),
    ),
    bad(
        ValueError,
        "holds no model variables",
        jrnn.load_variables,
        via=lambda: jrnn.load_variables(_one_checkpoint()),
    ),
    bad(
        FileNotFoundError,
        "path: .* is not a file",
        jrnn.load_train_state,
        tmp("missing.npz"),
        "adam",
    ),
    bad(
        ValueError,
        "optimizer: got 'adamm'",
        jrnn.load_train_state,
        via=lambda: jrnn.load_train_state(saved_model(), "adamm"),
    ),
    bad(TypeError, "model: got int", jrnn.export, 3, {}, XS),
    bad(
        TypeError,
        "variables: got int",
        jrnn.export,
        via=lambda: jrnn.export(lm()[0], 3, np.zeros((1, 2), np.int32)),
    ),
    bad(
        TypeError,
        "batch: got 3.5",
        jrnn.export,
        via=lambda: jrnn.export(*lm(), np.zeros((1, 2), np.int32), batch=3.5),
    ),
    bad(
        ValueError,
        "platforms: got",
        jrnn.export,
        via=lambda: jrnn.export(*lm(), np.zeros((1, 2), np.int32), platforms="abacus"),
    ),
    bad(
        ValueError,
        "example_inputs",
        jrnn.export,
        via=lambda: jrnn.export(*lm(), (np.zeros((1, 2), np.int32),) * 2),
    ),
    bad(TypeError, "model: got int", jrnn.export_step, 3, {}),
    bad(
        TypeError,
        "batch: got 2.5",
        jrnn.export_step,
        via=lambda: jrnn.export_step(*lm(), batch=2.5),
    ),
    bad(
        ValueError, "layers", jrnn.export_step, via=lambda: jrnn.export_step(*lm(), layers=["nope"])
    ),
    bad(TypeError, "model: got int", jrnn.export_chunk_step, 3, {}, XS),
    bad(
        ValueError,
        "model: has no stateful layer",
        jrnn.export_chunk_step,
        via=lambda: jrnn.export_chunk_step(*lm(), np.zeros((1, 2), np.int32)),
    ),
    bad(ValueError, "Nope", jrnn.saving.deserialize, {"class_name": "Nope", "config": {}}),
    bad(ValueError, "package: got 'a>b'", jrnn.saving.register_serializable, package="a>b"),
    bad(ValueError, "name: got ''", jrnn.saving.register_serializable, name=""),
    # ---- jrnn.convert
    bad(TypeError, "cell: got int", jrnn.from_keras, 3, []),
    bad(ValueError, "weights: got", jrnn.from_keras, CELL, [np.zeros((3, 16))]),
    bad(
        ValueError,
        "kernel: got shape",
        jrnn.from_keras,
        CELL,
        [np.zeros((3, 15)), np.zeros((4, 16)), np.zeros(16)],
    ),
    bad(TypeError, "weights: got int", jrnn.from_keras, CELL, 3),
    bad(
        ValueError,
        "weights: got 1 arrays more",
        jrnn.from_keras,
        CELL,
        [np.zeros((3, 16)), np.zeros((4, 16)), np.zeros(16), np.zeros(1)],
    ),
    bad(TypeError, "cell: got int", jrnn.from_torch, 3, {}),
    bad(ValueError, "state_dict", jrnn.from_torch, CELL, {}),
    bad(TypeError, "state_dict: got int", jrnn.from_torch, CELL, 3),
    bad(ValueError, "layer: got -1", jrnn.from_torch, CELL, {}, layer=-1),
    bad(TypeError, "layer: got 1.5", jrnn.from_torch, CELL, {}, layer=1.5),
    bad(TypeError, "keras_model: got int", jrnn.from_keras_model, 3),
    bad(TypeError, "cell: got int", jrnn.from_flax, 3, {}),
    bad(TypeError, "variables: got int", jrnn.from_flax, CELL, 3),
    bad(ValueError, r"variables: got \{\}, expected \{'ii'", jrnn.from_flax, CELL, {}),
    bad(
        ValueError,
        r"variables\['hi'\]\['kernel'\]: got shape \(5, 4\), expected \(4, 4\)",
        jrnn.from_flax,
        via=lambda: jrnn.from_flax(CELL, {**flax_lstm_variables(), "hi": _bad_hi()}),
    ),
    bad(
        ValueError,
        r"cell: got GRUCell\(reset_after=False\)",
        jrnn.from_flax,
        jrnn.GRUCell(4, reset_after=False),
        {},
    ),
    bad(
        ValueError,
        "variables: got 1 entries, expected 2, one per layer",
        jrnn.from_flax,
        jrnn.stack([CELL, CELL]),
        [{}],
    ),
    bad(
        TypeError,
        "variables: got dict, expected a list of 2",
        jrnn.from_flax,
        jrnn.stack([CELL, CELL]),
        {},
    ),
    bad(ValueError, "variables: got keys", jrnn.from_flax, jrnn.bidirectional(CELL, CELL), {}),
    # ---- jrnn.interop
    bad(TypeError, "module: got 3 of type int", jrnn.interop.FlaxCell, 3),
    bad(
        TypeError,
        "module: got a flax.linen.linear.Dense, expected a Flax linen",
        jrnn.interop.FlaxCell,
        flax_nn.Dense(3),
    ),
    bad(
        ValueError,
        "module: got ConvLSTMCell with num_feature_axes=2",
        jrnn.interop.FlaxCell,
        flax_nn.ConvLSTMCell(4, (3,)),
    ),
    bad(
        TypeError,
        "params: got int",
        jrnn.interop.FlaxCell,
        via=lambda: jrnn.interop.FlaxCell(flax_nn.GRUCell(4))(
            3, np.zeros((2, 4)), np.zeros((2, 3))
        ),
    ),
    bad(
        ValueError,
        r"x_t: got shape \(2, 5\), expected \(\*batch, 3\)",
        jrnn.interop.FlaxCell,
        via=lambda: flax_cell_step(np.zeros((2, 5), np.float32)),
    ),
    bad(
        TypeError,
        "module: got a flax.linen.recurrent.LSTMCell, expected a Flax NNX",
        jrnn.interop.NNXCell,
        flax_nn.LSTMCell(4),
    ),
    bad(
        ValueError,
        "input_size: got 5, expected 3, the in_features",
        jrnn.interop.NNXCell,
        via=lambda: nnx_cell().init(KEY, 5),
    ),
    bad(
        TypeError,
        "params: got structure",
        jrnn.interop.NNXCell,
        via=lambda: nnx_cell()({}, np.zeros((2, 4)), np.zeros((2, 3), np.float32)),
    ),
    bad(
        TypeError,
        "module: got a flax.linen.recurrent.LSTMCell, expected an Equinox cell",
        jrnn.interop.EquinoxCell,
        flax_nn.LSTMCell(4),
    ),
    bad(
        TypeError, "layer: got int", jrnn.interop.NNXLayer, 3, np.zeros((2, 3, 4)), rngs=nnx.Rngs(0)
    ),
    bad(
        TypeError,
        "rngs: got int",
        jrnn.interop.NNXLayer,
        jrnn.layers.LSTM(4),
        np.zeros((2, 3, 4)),
        rngs=0,
    ),
    bad(ValueError, "x: got None", jrnn.interop.NNXLayer, jrnn.layers.LSTM(4), rngs=nnx.Rngs(0)),
    # ---- jrnn.decoding / jrnn.decode
    bad(TypeError, "model: got int", jrnn.lm_step, 3, {}),
    bad(TypeError, "variables: got int", jrnn.lm_step, via=lambda: jrnn.lm_step(lm()[0], 3)),
    bad(ValueError, "layers: got", jrnn.lm_step, via=lambda: jrnn.lm_step(*lm(), layers=[])),
    bad(
        ValueError,
        r"layers\[0\]: got 'nope'",
        jrnn.lm_step,
        via=lambda: jrnn.lm_step(*lm(), layers=["nope"]),
    ),
    bad(
        TypeError,
        "layers: got .dense. of type str",
        jrnn.lm_step,
        via=lambda: jrnn.lm_step(*lm(), layers="dense"),
    ),
    bad(ValueError, "batch_size: got 0", jrnn.lm_step, via=lambda: jrnn.lm_step(*lm())[1](0)),
    bad(TypeError, "batch_size: got 1.5", jrnn.lm_step, via=lambda: jrnn.lm_step(*lm())[1](1.5)),
    bad(TypeError, "step_fn: got int", jrnn.decode.greedy_decode, 3, CARRY, 0, 4),
    bad(ValueError, "max_length: got 0", jrnn.decode.greedy_decode, step_fn, CARRY, 0, 0),
    bad(TypeError, "max_length: got 2.5", jrnn.decode.greedy_decode, step_fn, CARRY, 0, 2.5),
    bad(TypeError, "start_token: got dtype", jrnn.decode.greedy_decode, step_fn, CARRY, 0.5, 4),
    bad(ValueError, "start_token: got token id 7", jrnn.decode.greedy_decode, step_fn, CARRY, 7, 4),
    bad(
        ValueError,
        r"start_token: got shape \(3,\)",
        jrnn.decode.greedy_decode,
        step_fn,
        CARRY,
        jnp.zeros(3, jnp.int32),
        4,
    ),
    bad(
        ValueError, "end_token: got 5", jrnn.decode.greedy_decode, step_fn, CARRY, 0, 4, end_token=5
    ),
    bad(
        TypeError,
        "end_token: got 1.5",
        jrnn.decode.greedy_decode,
        step_fn,
        CARRY,
        0,
        4,
        end_token=1.5,
    ),
    bad(
        ValueError,
        "step_fn: failed on a carry of shapes",
        jrnn.decode.greedy_decode,
        step_fn,
        jnp.zeros(4),
        0,
        4,
    ),
    bad(
        TypeError,
        "step_fn: expected it to return a pair",
        jrnn.decode.greedy_decode,
        lambda c, t: c,
        CARRY,
        0,
        4,
    ),
    bad(ValueError, "beam_width: got 0", jrnn.decode.beam_search, step_fn, CARRY, 0, 0, 4),
    bad(ValueError, "max_length: got -1", jrnn.decode.beam_search, step_fn, CARRY, 0, 2, -1),
    bad(
        ValueError,
        "length_normalization: got -1.0",
        jrnn.decode.beam_search,
        step_fn,
        CARRY,
        0,
        2,
        4,
        length_normalization=-1.0,
    ),
    bad(
        ValueError,
        "length_normalization: got 'x'",
        jrnn.decode.beam_search,
        step_fn,
        CARRY,
        0,
        2,
        4,
        length_normalization="x",
    ),
    bad(
        ValueError,
        "end_token: got -1",
        jrnn.decode.beam_search,
        step_fn,
        CARRY,
        0,
        2,
        4,
        end_token=-1,
    ),
    bad(TypeError, "step_fn: got str", jrnn.decode.beam_search, "step", CARRY, 0, 2, 4),
    bad(
        ValueError,
        "num_steps: got -1",
        jrnn.decode.sample,
        step_fn,
        CARRY,
        jnp.zeros((2, 1), jnp.int32),
        -1,
        KEY,
    ),
    bad(
        ValueError,
        "temperature: got -1.0",
        jrnn.decode.sample,
        step_fn,
        CARRY,
        jnp.zeros((2, 1), jnp.int32),
        2,
        KEY,
        temperature=-1.0,
    ),
    bad(
        ValueError,
        "top_k: got 0",
        jrnn.decode.sample,
        step_fn,
        CARRY,
        jnp.zeros((2, 1), jnp.int32),
        2,
        KEY,
        top_k=0,
    ),
    bad(
        ValueError,
        "top_k: got 9",
        jrnn.decode.sample,
        step_fn,
        CARRY,
        jnp.zeros((2, 1), jnp.int32),
        2,
        KEY,
        top_k=9,
    ),
    bad(
        TypeError,
        "prompt: got dtype float32",
        jrnn.decode.sample,
        step_fn,
        CARRY,
        jnp.zeros((2, 1)),
        2,
        KEY,
    ),
    bad(
        ValueError,
        r"prompt: got shape \(2,\)",
        jrnn.decode.sample,
        step_fn,
        CARRY,
        jnp.zeros((2,), jnp.int32),
        2,
        KEY,
    ),
    bad(
        ValueError,
        "prompt: got token id 5",
        jrnn.decode.sample,
        step_fn,
        CARRY,
        jnp.full((2, 1), 5),
        2,
        KEY,
    ),
    bad(
        ValueError,
        "key: got None",
        jrnn.decode.sample,
        step_fn,
        CARRY,
        jnp.zeros((2, 1), jnp.int32),
        2,
        None,
    ),
    bad(
        ValueError,
        "prompt_mask: got shape",
        jrnn.decode.sample,
        step_fn,
        CARRY,
        jnp.zeros((2, 1), jnp.int32),
        2,
        KEY,
        prompt_mask=jnp.ones((2, 3), bool),
    ),
    bad(
        TypeError, "tokens: got dtype float32", jrnn.decode.feed, step_fn, CARRY, jnp.zeros((2, 3))
    ),
    bad(
        ValueError,
        r"tokens: got shape \(2, 0\)",
        jrnn.decode.feed,
        step_fn,
        CARRY,
        jnp.zeros((2, 0), jnp.int32),
    ),
    bad(
        ValueError,
        "mask: got shape",
        jrnn.decode.feed,
        step_fn,
        CARRY,
        jnp.zeros((2, 3), jnp.int32),
        mask=jnp.ones((2, 2), bool),
    ),
    bad(
        TypeError,
        "step_fn: got NoneType",
        jrnn.decode.feed,
        None,
        CARRY,
        jnp.zeros((2, 3), jnp.int32),
    ),
    # ---- jrnn.ctc
    bad(
        ValueError,
        r"logits: got shape \(2, 5\)",
        jrnn.ctc.ctc_loss,
        jnp.zeros((2, 5)),
        jnp.zeros((2, 2), jnp.int32),
        jnp.array([5, 5]),
        jnp.array([2, 2]),
    ),
    bad(
        TypeError,
        "labels: got dtype float32",
        jrnn.ctc.ctc_loss,
        jnp.zeros((2, 5, 4)),
        jnp.zeros((2, 2)),
        jnp.array([5, 5]),
        jnp.array([2, 2]),
    ),
    bad(
        ValueError,
        r"logit_lengths: got \[6\]",
        jrnn.ctc.ctc_loss,
        jnp.zeros((2, 5, 4)),
        jnp.ones((2, 2), jnp.int32),
        jnp.array([6, 5]),
        jnp.array([2, 2]),
    ),
    bad(
        ValueError,
        r"label_lengths: got \[3\]",
        jrnn.ctc.ctc_loss,
        jnp.zeros((2, 5, 4)),
        jnp.ones((2, 2), jnp.int32),
        jnp.array([5, 5]),
        jnp.array([2, 3]),
    ),
    bad(
        ValueError,
        "blank: got 4",
        jrnn.ctc.ctc_loss,
        jnp.zeros((2, 5, 4)),
        jnp.ones((2, 2), jnp.int32),
        jnp.array([5, 5]),
        jnp.array([2, 2]),
        blank=4,
    ),
    bad(
        ValueError,
        "reduction: got 'avg'",
        jrnn.ctc.ctc_loss,
        jnp.zeros((2, 5, 4)),
        jnp.ones((2, 2), jnp.int32),
        jnp.array([5, 5]),
        jnp.array([2, 2]),
        reduction="avg",
    ),
    bad(
        ValueError,
        "labels: got",
        jrnn.ctc.ctc_loss,
        jnp.zeros((2, 5, 4)),
        jnp.full((2, 2), 7),
        jnp.array([5, 5]),
        jnp.array([2, 2]),
    ),
    bad(
        ValueError,
        r"logits: got shape \(2, 5\)",
        jrnn.ctc.ctc_greedy_decode,
        jnp.zeros((2, 5)),
        jnp.array([5, 5]),
    ),
    bad(
        TypeError,
        "logits: got dtype int32",
        jrnn.ctc.ctc_greedy_decode,
        jnp.zeros((2, 5, 4), jnp.int32),
        jnp.array([5, 5]),
    ),
    bad(
        ValueError,
        r"lengths: got \[9\]",
        jrnn.ctc.ctc_greedy_decode,
        jnp.zeros((2, 5, 4)),
        jnp.array([5, 9]),
    ),
    bad(
        ValueError,
        "blank: got 'first'",
        jrnn.ctc.ctc_greedy_decode,
        jnp.zeros((2, 5, 4)),
        jnp.array([5, 5]),
        blank="first",
    ),
    bad(
        ValueError,
        "beam_width: got 0",
        jrnn.ctc.ctc_beam_search_decode,
        jnp.zeros((2, 5, 4)),
        jnp.array([5, 5]),
        beam_width=0,
    ),
    bad(
        ValueError,
        "top_paths: got 3",
        jrnn.ctc.ctc_beam_search_decode,
        jnp.zeros((2, 5, 4)),
        jnp.array([5, 5]),
        beam_width=2,
        top_paths=3,
    ),
    bad(
        TypeError,
        "lengths: got dtype float",
        jrnn.ctc.ctc_beam_search_decode,
        jnp.zeros((2, 5, 4)),
        jnp.array([5.0, 5.0]),
    ),
    # ---- jrnn.training
    bad(TypeError, "variables: got int", jrnn.training.create_train_state, 3, optax.adam(1e-3)),
    bad(
        TypeError,
        "variables: got",
        jrnn.training.create_train_state,
        {"state": {}},
        optax.adam(1e-3),
    ),
    bad(TypeError, "optimizer: got int", jrnn.training.create_train_state, {"params": {}}, 3),
    bad(
        ValueError,
        "optimizer: got 'adamm'",
        jrnn.training.create_train_state,
        {"params": {}},
        "adamm",
    ),
    bad(
        TypeError,
        "seed: got 1.5",
        jrnn.training.create_train_state,
        {"params": {}},
        optax.adam(1e-3),
        seed=1.5,
    ),
    bad(
        ValueError,
        "seed: got -1",
        jrnn.training.create_train_state,
        {"params": {}},
        optax.adam(1e-3),
        seed=-1,
    ),
]


L = jrnn.layers
C = jrnn.cells
CB = jrnn.callbacks
LS = jrnn.losses
R = jrnn.recurrence
X2 = np.zeros((2, 3), np.float32)
ROWS += [
    # ---- cells
    bad(ValueError, "units: got 0", jrnn.LSTMCell, 0),
    bad(TypeError, "units: got 1.5", jrnn.LSTMCell, 1.5),
    bad(ValueError, "activation: got 'nope'", jrnn.LSTMCell, 4, activation="nope"),
    bad(ValueError, "cell_clip: got -1", jrnn.LSTMCell, 4, cell_clip=-1.0),
    bad(ValueError, "input_size: got 0|input: got 0", jrnn.LSTMCell, via=lambda: CELL.init(KEY, 0)),
    bad(
        ValueError,
        "x: got shape|x_t: got shape|input",
        jrnn.LSTMCell,
        via=lambda: CELL(cell_params(), (jnp.zeros((2, 4)),) * 2, jnp.zeros((2, 7))),
    ),
    bad(ValueError, "units: got 0", jrnn.GRUCell, 0),
    bad(ValueError, "activation: got 'nope'", jrnn.GRUCell, 4, recurrent_activation="nope"),
    bad(ValueError, "units: got -1", jrnn.SimpleRNNCell, -1),
    # ---- linear-recurrence cells
    bad(ValueError, "units: got 0", jrnn.MinGRUCell, 0),
    bad(ValueError, "activation: got 'nope'", jrnn.MinGRUCell, 4, candidate_activation="nope"),
    bad(TypeError, "use_bias: got 'no'", jrnn.MinLSTMCell, 4, use_bias="no"),
    bad(ValueError, "dtype: got 'int32'", jrnn.MinLSTMCell, 4, dtype="int32"),
    bad(
        ValueError,
        r"x_t: got shape \(2, 7\)",
        jrnn.MinGRUCell,
        via=lambda: jrnn.MinGRUCell(4)(
            jrnn.MinGRUCell(4).init(KEY, 3), jnp.zeros((2, 4)), jnp.zeros((2, 7))
        ),
    ),
    bad(
        ValueError,
        r"carry: got shape \(2, 5\)",
        jrnn.MinLSTMCell,
        via=lambda: jrnn.MinLSTMCell(4)(
            jrnn.MinLSTMCell(4).init(KEY, 3), jnp.zeros((2, 5)), jnp.zeros((2, 3))
        ),
    ),
    bad(ValueError, "r_max: got 1.5", jrnn.LRUCell, 4, r_max=1.5),
    bad(ValueError, "r_min: got 0.9", jrnn.LRUCell, 4, r_min=0.9, r_max=0.5),
    bad(ValueError, "max_phase: got 0", jrnn.LRUCell, 4, max_phase=0),
    bad(ValueError, "state_units: got 0", jrnn.LRUCell, 4, state_units=0),
    bad(
        ValueError,
        "input_size: got 3, expected units=4",
        jrnn.LRUCell,
        via=lambda: jrnn.LRUCell(4).init(KEY, 3),
    ),
    bad(ValueError, "c: got 0", jrnn.RGLRUCell, 4, c=0),
    bad(ValueError, "max_rad: got 1.0", jrnn.RGLRUCell, 4, max_rad=1.0),
    bad(ValueError, "min_rad: got 0.9999", jrnn.RGLRUCell, 4, min_rad=0.9999),
    bad(
        ValueError,
        "input_size: got 5, expected units=4",
        jrnn.RGLRUCell,
        via=lambda: jrnn.RGLRUCell(4).init(KEY, 5),
    ),
    bad(
        TypeError,
        "params: got",
        jrnn.RGLRUCell,
        via=lambda: jrnn.RGLRUCell(4)({"kernel": jnp.zeros((4, 8))}, jnp.zeros(4), jnp.zeros(4)),
    ),
    bad(ValueError, "activation: got 3", jrnn.SimpleRNNCell, 4, activation=3),
    bad(ValueError, "cells: got", jrnn.stack, []),
    bad(ValueError, "cells: got", C.StackedCell, ()),
    bad(ValueError, "merge_mode: got 'max'", jrnn.bidirectional, CELL, CELL, merge_mode="max"),
    bad(ValueError, "merge_mode: got 'max'", C.BidirectionalCells, CELL, CELL, "max"),
    bad(ValueError, "backward_cells", jrnn.stack_bidirectional, [CELL], [CELL, CELL]),
    bad(
        ValueError, "merge_mode: got 'x'", jrnn.stack_bidirectional, [CELL], [CELL], merge_mode="x"
    ),
    bad(ValueError, "layers: got", C.StackedBidirectional, ()),
    bad(ValueError, "merge_mode: got 'max'", C.check_merge_mode, "max", 4, 4),
    bad(
        ValueError,
        "merge_mode: got 'sum' with output sizes 4 and 5",
        C.check_merge_mode,
        "sum",
        4,
        5,
    ),
    # ---- recurrence
    bad(
        ValueError,
        r"xs: got shape \(5,\)",
        jrnn.unroll,
        CELL,
        via=lambda: jrnn.unroll(CELL, cell_params(), jnp.zeros((5,))),
    ),
    bad(
        TypeError,
        "xs: got dtype int32",
        jrnn.unroll,
        via=lambda: jrnn.unroll(CELL, cell_params(), jnp.zeros((2, 5, 3), jnp.int32)),
    ),
    bad(
        ValueError,
        r"lengths: got \[6\] out of range",
        jrnn.unroll,
        via=lambda: jrnn.unroll(CELL, cell_params(), XS, lengths=np.array([5, 6])),
    ),
    bad(
        ValueError,
        "unroll: got 0",
        jrnn.unroll,
        via=lambda: jrnn.unroll(CELL, cell_params(), XS, unroll=0),
    ),
    bad(
        ValueError,
        "lengths, mask: got both",
        jrnn.unroll,
        via=lambda: jrnn.unroll(
            CELL, cell_params(), XS, mask=np.ones((2, 5), bool), lengths=np.array([1, 2])
        ),
    ),
    # ---- layers
    bad(ValueError, "units: got 0", L.Dense, 0),
    bad(TypeError, "units: got 1.5", L.Dense, 1.5),
    bad(ValueError, "activation: got 'nope'", L.Dense, 2, activation="nope"),
    bad(ValueError, "filters: got 0", L.Conv1D, 0, 3),
    bad(ValueError, "kernel_size: got 0", L.Conv1D, 2, 0),
    bad(ValueError, "padding: got 'full'", L.Conv1D, 2, 3, padding="full"),
    bad(ValueError, "strides: got 0", L.Conv1D, 2, 3, strides=0),
    bad(ValueError, "dilation_rate: got 0", L.Conv1D, 2, 3, dilation_rate=0),
    bad(ValueError, "rate: got 1.5", L.Dropout, 1.5),
    bad(ValueError, "rate: got -0.1", L.Dropout, -0.1),
    bad(ValueError, "input_dim: got 0", L.Embedding, 0, 3),
    bad(ValueError, "output_dim: got 0", L.Embedding, 5, 0),
    bad(ValueError, "n: got 0", L.RepeatVector, 0),
    bad(TypeError, "layer: got int", L.TimeDistributed, 3),
    bad(ValueError, "pool_size: got 0", L.MaxPooling1D, 0),
    bad(ValueError, "padding: got 'x'", L.MaxPooling1D, 2, padding="x"),
    bad(ValueError, "units: got 0", L.MinGRU, 0),
    bad(
        ValueError, "recurrent_dropout: got 0.2 for MinGRUCell", L.MinGRU, 4, recurrent_dropout=0.2
    ),
    bad(ValueError, "dropout: got 1.5", L.MinLSTM, 4, dropout=1.5),
    bad(ValueError, "r_max: got 2", L.LRU, 4, r_max=2),
    bad(
        ValueError,
        "input_size: got 3, expected units=4",
        L.LRU,
        via=lambda: L.LRU(4).init(KEY, jnp.zeros((2, 5, 3))),
    ),
    bad(ValueError, "min_rad: got 0", L.RGLRU, 4, min_rad=0),
    bad(
        ValueError,
        r"x: got shape \(2, 3\)|rank",
        L.RGLRU,
        via=lambda: L.RGLRU(3).init(KEY, jnp.zeros((2, 3))),
    ),
    bad(ValueError, "units: got 0", L.LSTM, 0),
    bad(ValueError, "units: got -1", L.GRU, -1),
    bad(TypeError, "units: got 1.5", L.SimpleRNN, 1.5),
    bad(ValueError, "dropout: got 1.5", L.LSTM, 4, dropout=1.5),
    bad(ValueError, "unroll: got 0", L.LSTM, 4, unroll=0),
    bad(TypeError, "unexpected|nope", L.LSTM, 4, nope=1),
    bad(TypeError, "cell: got int", L.RNN, 3),
    bad(ValueError, "recurrent_dropout: got -1", L.RNN, CELL, recurrent_dropout=-1),
    bad(TypeError, "layer: got int", L.Bidirectional, 3),
    bad(ValueError, "merge_mode: got 'max'", L.Bidirectional, L.LSTM(4), "max"),
    # ---- models
    bad(TypeError, r"layers\[0\]: got int", jrnn.Sequential, [3]),
    bad(TypeError, r"inputs\[0\]: got 3", jrnn.Model, 3, 4),
    # ---- training
    bad(
        ValueError,
        "loss: got 'nope'",
        jrnn.fit,
        via=lambda: jrnn.fit(
            *lm(), (np.zeros((2, 2), np.int32), np.zeros((2, 2), np.int32)), loss="nope"
        ),
    ),
    bad(
        ValueError,
        "epochs: got -1",
        jrnn.fit,
        via=lambda: jrnn.fit(
            *lm(), (np.zeros((2, 2), np.int32), np.zeros((2, 2), np.int32)), loss="mse", epochs=-1
        ),
    ),
    bad(
        ValueError,
        "batch_size: got 0",
        jrnn.fit,
        via=lambda: jrnn.fit(
            *lm(),
            (np.zeros((2, 2), np.int32), np.zeros((2, 2), np.int32)),
            loss="mse",
            batch_size=0,
        ),
    ),
    bad(
        ValueError,
        "batch_size: got 0",
        jrnn.evaluate,
        via=lambda: jrnn.evaluate(
            *lm(),
            (np.zeros((2, 2), np.int32), np.zeros((2, 2), np.int32)),
            loss="mse",
            batch_size=0,
        ),
    ),
    bad(
        ValueError,
        "batch_size: got 0",
        jrnn.predict,
        via=lambda: jrnn.predict(*lm(), np.zeros((2, 2), np.int32), batch_size=0),
    ),
    bad(
        TypeError,
        "variables: got int",
        jrnn.predict,
        via=lambda: jrnn.predict(lm()[0], 3, np.zeros((2, 2), np.int32)),
    ),
    # ---- callbacks
    bad(ValueError, "mode: got 'x'", CB.EarlyStopping, mode="x"),
    bad(ValueError, "factor: got 1.5", CB.ReduceLROnPlateau, factor=1.5),
    bad(ValueError, "mode: got 'x'", CB.ModelCheckpoint, "ckpts", mode="x"),
    bad(
        TypeError,
        r"callbacks\[0\]: got int",
        CB.CallbackList,
        [3],
        model=None,
        state=None,
        history=jrnn.History(),
        epochs=1,
    ),
    # ---- losses
    bad(ValueError, "loss: got 'nope'", LS.get, "nope"),
    bad(TypeError, "loss: got 3", LS.get, 3),
    bad(ValueError, "got label_smoothing=2, expected", LS.BinaryCrossentropy, label_smoothing=2),
    bad(
        ValueError,
        "sample_weight: got shape",
        LS.reduce_weighted,
        jnp.ones((2, 3)),
        sample_weight=jnp.ones(3),
    ),
    bad(
        ValueError,
        "mask: got shape",
        LS.reduce_weighted,
        jnp.ones((2, 3)),
        mask=jnp.ones((3, 2), bool),
    ),
    # ---- saving registry
    bad(ValueError, "Nope", jrnn.saving.deserialize, {"class_name": "Nope", "config": {}}),
    bad(ValueError, "package: got 'a>b'", jrnn.saving.register_serializable, package="a>b"),
]

# ---- adaptive softmax
ASM = L.AdaptiveSoftmax
ASL = jrnn.losses.AdaptiveSoftmaxLoss
ROWS += [
    bad(ValueError, r"cutoffs: got \[6, 3\], expected", ASM, 10, [6, 3]),
    bad(ValueError, r"cutoffs: got \[3, 3\], expected", ASM, 10, [3, 3]),
    bad(ValueError, r"cutoffs: got \[0, 3\], expected", ASM, 10, [0, 3]),
    bad(ValueError, r"cutoffs: got \[3, 10\], expected", ASM, 10, [3, 10]),
    bad(ValueError, r"cutoffs: got \[\], expected", ASM, 10, []),
    bad(TypeError, r"cutoffs\[1\]: got 6.5", ASM, 10, [3, 6.5]),
    bad(TypeError, "cutoffs: got '3'", ASM, 10, "3"),
    bad(ValueError, "num_classes: got 1", ASM, 1, [1]),
    bad(ValueError, "div_value: got 0.0", ASM, 10, [3], div_value=0.0),
    bad(TypeError, "div_value: got None", ASM, 10, [3], div_value=None),
    bad(TypeError, "head_bias: got 'yes'", ASM, 10, [3], head_bias="yes"),
    bad(
        ValueError,
        r"x: got 3 features, expected at least div_value\*\*2",
        ASM,
        via=lambda: ASM(10, [3, 6]).init(KEY, X2),
    ),
    bad(
        ValueError,
        r"x: got shape \(2, 3\), expected \(\.\.\., 4\)",
        ASM,
        via=lambda: ASM(10, [3], div_value=2.0).apply({"head": {"kernel": np.zeros((4, 4))}}, X2),
    ),
    bad(
        ValueError,
        r"labels: got shape \(3,\), expected \(2,\)",
        ASM,
        via=lambda: ASM(10, [3], div_value=2.0).loss_per_example(
            {"head": {"kernel": np.zeros((3, 4))}}, X2, np.zeros(3, np.int32)
        ),
    ),
    bad(
        ValueError,
        r"y_true: got shape \(3,\), expected \(2,\)",
        ASL,
        via=lambda: ASL().per_example(np.zeros(3, np.int32), np.zeros((2, 10))),
    ),
    bad(
        TypeError,
        "layer: got Dense, expected an AdaptiveSoftmax",
        ASL,
        via=lambda: ASL().head_per_example(np.zeros(2, np.int32), X2, L.Dense(10), {}, KEY),
    ),
]

# ---- methods of the data classes (METHOD_OWNERS: every public method has a row)
TOK = jrnn.Tokenizer
DS = jrnn.Dataset
ROWS += [
    bad(
        TypeError, "texts: got int", TOK.fit_on_texts, via=lambda: jrnn.Tokenizer().fit_on_texts(3)
    ),
    bad(
        TypeError,
        r"texts\[0\]: got int",
        TOK.fit_on_texts,
        via=lambda: jrnn.Tokenizer().fit_on_texts([3]),
    ),
    bad(
        TypeError,
        "sequences: got",
        TOK.fit_on_sequences,
        via=lambda: jrnn.Tokenizer().fit_on_sequences(3),
    ),
    bad(
        ValueError,
        r"sequences\[0\]: got token id -1",
        TOK.fit_on_sequences,
        via=lambda: jrnn.Tokenizer().fit_on_sequences([[-1]]),
    ),
    bad(
        ValueError,
        "not fit yet",
        TOK.texts_to_sequences,
        via=lambda: jrnn.Tokenizer().texts_to_sequences(["a"]),
    ),
    bad(
        TypeError,
        r"texts: got a str \(.a b.\.\.\.\)",
        TOK.texts_to_sequences,
        via=lambda: tokenizer().texts_to_sequences("a b"),
    ),
    bad(
        TypeError,
        "texts: got int",
        TOK.texts_to_sequences_generator,
        via=lambda: list(tokenizer().texts_to_sequences_generator(3)),
    ),
    bad(
        TypeError,
        r"sequences\[0\]\[0\]: got float 1.5",
        TOK.sequences_to_texts,
        via=lambda: tokenizer().sequences_to_texts([[1.5]]),
    ),
    bad(
        ValueError,
        "not fit yet",
        TOK.sequences_to_texts_generator,
        via=lambda: list(jrnn.Tokenizer().sequences_to_texts_generator([[1]])),
    ),
    bad(
        ValueError,
        "mode: got 'x'",
        TOK.texts_to_matrix,
        via=lambda: tokenizer().texts_to_matrix(["a"], mode="x"),
    ),
    bad(
        ValueError,
        "mode: got 'bag'",
        TOK.sequences_to_matrix,
        via=lambda: tokenizer().sequences_to_matrix([[1]], mode="bag"),
    ),
    bad(
        ValueError,
        "not fit yet",
        TOK.sequences_to_matrix,
        via=lambda: jrnn.Tokenizer().sequences_to_matrix([[1]]),
    ),
    bad(
        ValueError,
        "sequences_to_matrix: mode='tfidf' needs document counts",
        TOK.sequences_to_matrix,
        via=lambda: jrnn.Tokenizer(num_words=3).sequences_to_matrix([[1]], mode="tfidf"),
    ),
    bad(TypeError, "config: got int", TOK.from_config, via=lambda: jrnn.Tokenizer.from_config(3)),
    bad(ValueError, "config: got no", TOK.from_config, via=lambda: jrnn.Tokenizer.from_config({})),
    bad(
        TypeError, "json_string: got list", TOK.from_json, via=lambda: jrnn.Tokenizer.from_json([])
    ),
    bad(TypeError, "path: got 3 of type int", TOK.save, via=lambda: tokenizer().save(3)),
    bad(
        ValueError,
        "path: got the directory",
        TOK.save,
        via=lambda: tokenizer().save(an_empty_dir()),
    ),
    bad(
        FileNotFoundError,
        "path: got .*expected an existing file",
        TOK.load,
        via=lambda: jrnn.Tokenizer.load(tmp("missing.json")),
    ),
    bad(TypeError, "path: got None", TOK.load, via=lambda: jrnn.Tokenizer.load(None)),
    bad(
        ValueError,
        "json_string: got invalid JSON",
        TOK.load,
        via=lambda: jrnn.Tokenizer.load(a_file()),
    ),
    bad(ValueError, "tensors: got an empty structure", DS.from_tensor_slices, {}),
    bad(ValueError, "tensors: got", DS.from_tensor_slices, (np.zeros(3), np.zeros(4))),
    bad(ValueError, "got a scalar", DS.from_tensor_slices, 3.0),
    bad(TypeError, "generator: got int", DS.from_generator, 3),
    bad(ValueError, "batch_size: got 0", DS.batch, via=lambda: dataset().batch(0)),
    bad(TypeError, "batch_size: got 1.5", DS.batch, via=lambda: dataset().batch(1.5)),
    bad(ValueError, "buffer_size: got 0", DS.shuffle, via=lambda: dataset().shuffle(0)),
    bad(TypeError, "seed: got 1.5", DS.shuffle, via=lambda: dataset().shuffle(4, seed=1.5)),
    bad(ValueError, "batch_size: got -1", DS.padded_batch, via=lambda: dataset().padded_batch(-1)),
    bad(TypeError, "fn: got int", DS.map, via=lambda: dataset().map(3)),
    bad(TypeError, "predicate: got int", DS.filter, via=lambda: dataset().filter(3)),
    bad(ValueError, "count: got -2", DS.repeat, via=lambda: dataset().repeat(-2)),
    bad(TypeError, "count: got 1.5", DS.take, via=lambda: dataset().take(1.5)),
    bad(ValueError, "count: got -2", DS.skip, via=lambda: dataset().skip(-2)),
    bad(
        ValueError,
        "bucket_boundaries: got",
        DS.bucket_by_sequence_length,
        via=lambda: dataset().bucket_by_sequence_length(len, [3, 2], [1, 1, 1]),
    ),
    bad(
        ValueError,
        "bucket_batch_sizes",
        DS.bucket_by_sequence_length,
        via=lambda: dataset().bucket_by_sequence_length(len, [2, 3], [1, 1]),
    ),
    bad(
        TypeError,
        "element_length_func: got int",
        DS.bucket_by_sequence_length,
        via=lambda: dataset().bucket_by_sequence_length(3, [2], [1, 1]),
    ),
]

# ---- methods of models, layers, metrics, losses, callbacks (rows under their class)
ROWS += [
    bad(
        ValueError,
        r"x.*got shape|x.*expected",
        jrnn.Model,
        via=lambda: lm()[0].apply(lm()[1], np.zeros((2,), np.int32)),
    ),
    bad(
        TypeError,
        "got dtype float32, expected integers",
        jrnn.Model,
        via=lambda: lm()[0].apply(lm()[1], np.zeros((2, 3), np.float32)),
    ),
    bad(
        TypeError,
        "variables: got int",
        jrnn.Model,
        via=lambda: lm()[0].apply(3, np.zeros((2, 3), np.int32)),
    ),
    bad(
        ValueError,
        "training: got|key: got None",
        jrnn.Model,
        via=lambda: jrnn.Sequential([L.Dropout(0.5)]).apply(
            {"params": {}, "state": {}}, X2, training=True
        ),
    ),
    bad(
        ValueError,
        r"x.*got shape|expected",
        jrnn.Model,
        via=lambda: lm()[0].init(KEY, np.zeros((2,), np.int32)),
    ),
    bad(
        ValueError,
        "variables",
        jrnn.Model,
        via=lambda: lm()[0].check_variables({"params": {}, "state": {}}),
    ),
    bad(TypeError, "variables: got int", jrnn.Model, via=lambda: lm()[0].check_variables(3)),
    bad(
        ValueError, "batch_size: got -1", jrnn.Model, via=lambda: lm()[0].reset_states(lm()[1], -1)
    ),
    bad(ValueError, "name: got 'nope'", jrnn.Model, via=lambda: lm()[0].get_layer("nope")),
    bad(TypeError, "config: got int", jrnn.Model, via=lambda: jrnn.Model.from_config(3)),
    bad(
        ValueError,
        r"y_pred.*shape|y_true.*shape",
        jrnn.metrics.CategoricalAccuracy,
        via=lambda: jrnn.metrics.CategoricalAccuracy().update(np.zeros((2, 3)), np.zeros((2, 4))),
    ),
    bad(
        ValueError,
        "sample_weight: got shape",
        jrnn.metrics.MeanSquaredError,
        via=lambda: jrnn.metrics.MeanSquaredError().update(
            np.zeros((2, 3)), np.zeros((2, 3)), sample_weight=np.ones(3)
        ),
    ),
    bad(
        ValueError,
        r"y_true.*shape|y_pred.*shape",
        jrnn.metrics.MeanSquaredError,
        via=lambda: jrnn.metrics.MeanSquaredError().per_example(np.zeros((2, 3)), np.zeros((2, 4))),
    ),
    bad(
        ValueError,
        r"y_true.*shape|y_pred.*shape",
        LS.MeanSquaredError,
        via=lambda: jrnn.losses.MeanSquaredError().per_example(np.zeros((2, 3)), np.zeros((2, 4))),
    ),
    bad(
        TypeError,
        r"x.*dtype|expected integer",
        L.Embedding,
        via=lambda: L.Embedding(5, 3).apply({"embeddings": np.zeros((5, 3))}, np.zeros((2, 3))),
    ),
    bad(
        ValueError,
        "embedding: got token id 9",
        L.Embedding,
        via=lambda: L.Embedding(5, 3).apply({"embeddings": np.zeros((5, 3))}, np.full((2, 3), 9)),
    ),
    bad(
        ValueError,
        r"x.*got shape|expected",
        L.LSTM,
        via=lambda: L.LSTM(4).apply({"cell": cell_params()}, np.zeros((2, 3))),
    ),
]

# ---- top-k and perplexity metrics
ROWS += [
    bad(ValueError, "k: got 0", jrnn.metrics.in_top_k, np.array([1]), np.ones((1, 3)), 0),
    bad(
        TypeError,
        "targets: got dtype float32",
        jrnn.metrics.in_top_k,
        np.array([1.0], np.float32),
        np.ones((1, 3)),
        1,
    ),
    bad(
        ValueError,
        "in_top_k: got y_true shape",
        jrnn.metrics.in_top_k,
        np.array([1, 2]),
        np.ones((1, 3)),
        1,
    ),
    bad(ValueError, "k: got 0", jrnn.metrics.SparseTopKCategoricalAccuracy, 0),
    bad(TypeError, "k: got '3'", jrnn.metrics.SparseTopKCategoricalAccuracy, "3"),
    bad(TypeError, "k: got 1.5", jrnn.metrics.TopKCategoricalAccuracy, 1.5),
    bad(TypeError, "from_logits: got 'yes'", jrnn.metrics.Perplexity, from_logits="yes"),
    bad(ValueError, "mask_token_id: got -1", jrnn.metrics.Perplexity, mask_token_id=-1),
    bad(ValueError, "num_sampled: got 0", jrnn.losses.SampledSoftmaxLoss, 0),
    bad(ValueError, "sampler: got 'zipf'", jrnn.losses.SampledSoftmaxLoss, 8, sampler="zipf"),
    bad(TypeError, "unique: got 'yes'", jrnn.losses.NCELoss, 8, unique="yes"),
    bad(TypeError, "num_sampled: got 2.5", jrnn.losses.NCELoss, 2.5),
]

# ---- booleans, export options, decoder and metric edge cases
ROWS += [
    bad(TypeError, "lower: got 'no'", jrnn.Tokenizer, lower="no"),
    bad(TypeError, "char_level: got 'yes'", jrnn.Tokenizer, char_level="yes"),
    bad(TypeError, "lower: got 'no'", D.text_to_word_sequence, "a b", lower="no"),
    bad(TypeError, "shuffle: got 'no'", jrnn.skipgrams, [1, 2, 3], 5, shuffle="no"),
    bad(TypeError, "categorical: got 1", jrnn.skipgrams, [1, 2, 3], 5, categorical=1),
    bad(
        TypeError,
        "shuffle: got 'yes'",
        jrnn.timeseries_dataset_from_array,
        np.zeros(10),
        None,
        2,
        shuffle="yes",
    ),
    bad(
        TypeError,
        "drop_remainder: got 'yes'",
        DS.batch,
        via=lambda: dataset().batch(2, drop_remainder="yes"),
    ),
    bad(
        TypeError,
        "reshuffle_each_iteration: got 'no'",
        DS.shuffle,
        via=lambda: dataset().shuffle(2, reshuffle_each_iteration="no"),
    ),
    bad(
        TypeError,
        "batch: got 0",
        jrnn.export,
        via=lambda: jrnn.export(*lm(), np.zeros((1, 2), np.int32), batch=0),
    ),
    bad(
        TypeError,
        "time: got 3",
        jrnn.export,
        via=lambda: jrnn.export(*lm(), np.zeros((1, 2), np.int32), time=3),
    ),
    bad(
        TypeError,
        "platforms: got 3 of type int",
        jrnn.export,
        via=lambda: jrnn.export(*lm(), np.zeros((1, 2), np.int32), platforms=3),
    ),
    bad(
        TypeError,
        "constraints: got 3",
        jrnn.export,
        via=lambda: jrnn.export(*lm(), np.zeros((1, 2), np.int32), constraints=3),
    ),
    bad(
        ValueError, "batch: got -1", jrnn.export_step, via=lambda: jrnn.export_step(*lm(), batch=-1)
    ),
    bad(
        TypeError,
        "layers: got .dense. of type str",
        jrnn.export_step,
        via=lambda: jrnn.export_step(*lm(), layers="dense"),
    ),
    bad(
        TypeError,
        "step: got 1.5",
        jrnn.load_variables,
        via=lambda: jrnn.load_variables(_one_checkpoint().parent, step=1.5),
    ),
    bad(
        ValueError,
        "step: got 3 with a checkpoint file",
        jrnn.load_variables,
        via=lambda: jrnn.load_variables(_one_checkpoint(), step=3),
    ),
    bad(
        ValueError,
        "keras_model: is not built",
        jrnn.from_keras_model,
        type("Sequential", (), {"layers": [], "inputs": None})(),
    ),
    bad(
        ValueError,
        "model: has no layer with a carry",
        jrnn.lm_step,
        via=lambda: jrnn.lm_step(*_no_rnn()),
    ),
    bad(
        TypeError,
        "model: got Model and layers=None",
        jrnn.lm_step,
        via=lambda: jrnn.lm_step(_functional(), {"params": {}}),
    ),
    bad(TypeError, "start_token: got dtype", jrnn.decode.beam_search, step_fn, CARRY, "a", 2, 4),
    bad(
        ValueError,
        "carry: got",
        jrnn.decode.beam_search,
        step_fn,
        (jnp.zeros((2, 4)), jnp.zeros((3, 4))),
        0,
        2,
        4,
    ),
    bad(
        ValueError,
        "step_fn's logits: got shape",
        jrnn.decode.greedy_decode,
        lambda c, t: (c, jnp.zeros(5)),
        CARRY,
        0,
        4,
    ),
    bad(
        ValueError,
        "step_fn: returned a carry whose structure differs",
        jrnn.decode.greedy_decode,
        lambda c, t: ((c, c), jnp.zeros((2, 5))),
        CARRY,
        0,
        4,
    ),
    bad(TypeError, "fn: got str", jrnn.metrics.MetricFunction, "mse"),
    bad(TypeError, "total: got", jrnn.metrics.result, None, 1.0),
    bad(ValueError, "initializer: got ''", jrnn.initializers.get, ""),
    bad(ValueError, "activation: got ''", jrnn.activations.get, ""),
    bad(ValueError, "shape: got", jrnn.initializers.vector_glorot_uniform, KEY, ()),
]


# Gaps the catalogue found and later fixes closed (each was a GAPS row, failing before
# its fix).
ROWS += [
    bad(ValueError, "dtype: got", jrnn.LSTMCell, 4, dtype="int32"),
    bad(ValueError, "param_dtype: got", jrnn.LSTMCell, 4, param_dtype="int8"),
    bad(TypeError, "key: got", jrnn.LSTMCell, via=lambda: CELL.init(3, 3)),
    bad(ValueError, "batch_size: got -1", jrnn.LSTMCell, via=lambda: CELL.initial_carry(-1)),
    bad(TypeError, "batch_size: got 1.5", jrnn.LSTMCell, via=lambda: CELL.initial_carry(1.5)),
    bad(
        TypeError,
        "carry: got",
        jrnn.LSTMCell,
        via=lambda: CELL(cell_params(), jnp.zeros((2, 4)), jnp.zeros((2, 3))),
    ),
    bad(TypeError, "cells", jrnn.stack, [CELL, "lstm"]),
    bad(TypeError, "cells: got LSTMCell", jrnn.stack, CELL),
    bad(TypeError, "cells", C.StackedCell, (CELL, 3)),
    bad(TypeError, "layers", C.StackedBidirectional, (CELL,)),
    bad(ValueError, "merge_mode: got 'max'", C.merge, "max", X2, X2),
    bad(ValueError, "y_bw: got shape", C.merge, "sum", X2, np.zeros((2, 4))),
    bad(
        ValueError,
        "merge_mode: got 'max'",
        R.bidirectional_unroll,
        via=lambda: R.bidirectional_unroll(
            CELL,
            CELL,
            {"forward": cell_params(), "backward": cell_params()},
            XS,
            merge_mode="max",
        ),
    ),
    bad(
        ValueError,
        "x: got shape|inputs: got shape",
        L.Dense,
        via=lambda: L.Dense(2).init(KEY, np.zeros(())),
    ),
    bad(TypeError, "key: got", L.Dense, via=lambda: L.Dense(2).init(3, X2)),
    bad(TypeError, "mask_value: got 'x'", L.Masking, "x"),
    bad(TypeError, "axis: got 'last'", L.Concatenate, "last"),
    bad(TypeError, "dtype: got 'float33'", jrnn.Input, (4,), dtype="float33"),
    bad(TypeError, "layers: got Dense", jrnn.Sequential, L.Dense(2)),
    bad(
        TypeError,
        "key: got",
        jrnn.Sequential,
        via=lambda: jrnn.Sequential([L.Dense(2)]).init(0, X2),
    ),
    bad(TypeError, "model: got Dense", jrnn.fit, L.Dense(2), {}, (X2, X2), loss="mse"),
    bad(TypeError, "model: got Dense", jrnn.evaluate, L.Dense(2), {}, (X2, X2), loss="mse"),
    bad(TypeError, "model: got Dense", jrnn.predict, L.Dense(2), {}, X2),
    bad(ValueError, "patience: got -1", CB.EarlyStopping, patience=-1),
    bad(TypeError, "patience: got '3'", CB.EarlyStopping, patience="3"),
    bad(TypeError, "monitor: got None", CB.EarlyStopping, monitor=None),
    bad(ValueError, "cooldown: got -1", CB.ReduceLROnPlateau, cooldown=-1),
    bad(TypeError, "directory: got None", CB.ModelCheckpoint, None),
    bad(ValueError, "max_to_keep: got 0", CB.ModelCheckpoint, "ckpts", max_to_keep=0),
    bad(TypeError, "filename: got None", CB.CSVLogger, None),
    bad(ValueError, "separator: got ''", CB.CSVLogger, "log.csv", separator=""),
    bad(TypeError, "on_epoch_end: got int", CB.LambdaCallback, on_epoch_end=3),
    bad(ValueError, "steps: got -1", CB.ProgressBar, -1),
    bad(ValueError, "verbose: got 3", CB.ProgressBar, 2, verbose=3),
    bad(TypeError, "history: got list", jrnn.History, [1, 2]),
    bad(TypeError, "epoch: got int", jrnn.History, epoch=3),
    bad(TypeError, "fn: got int", LS.LossFunction, 3),
    bad(TypeError, "values: got", LS.reduce_weighted, ["a"]),
    bad(ValueError, "maxlen: got 0", jrnn.pad_sequences, [[1, 2]], maxlen=0),
    bad(TypeError, "variables: got None", jrnn.Model, via=lambda: lm()[0].reset_states(None)),
    bad(TypeError, "d: got list|history: got list", jrnn.History, [1]),
    bad(
        TypeError,
        "callback: got str",
        CB.CallbackList,
        via=lambda: CB.CallbackList(
            [], model=None, state=None, history=jrnn.History(), epochs=1
        ).append("cb"),
    ),
    bad(
        ValueError,
        r"x.*got shape|expected",
        L.Dense,
        via=lambda: L.Dense(2).apply(
            {"kernel": np.zeros((3, 2)), "bias": np.zeros(2)}, np.zeros((2, 5))
        ),
    ),
    bad(
        ValueError,
        r"x.*got shape|expected",
        L.Conv1D,
        via=lambda: L.Conv1D(2, 5).apply(
            {"kernel": np.zeros((5, 3, 2)), "bias": np.zeros(2)}, np.zeros((2, 3, 3))
        ),
    ),
]


def _seq(b=2, t=3, f=4, seed=0):
    return np.random.default_rng(seed).standard_normal((b, t, f)).astype(np.float32)


# Several processes, Dataset.shard, and the Keras layers added with them.
ROWS += [
    bad(ValueError, "process_id: got 2", jrnn.distributed.initialize, "127.0.0.1:1", 2, 2),
    bad(TypeError, "coordinator_address: got int", jrnn.distributed.initialize, 5, 2, 0),
    bad(ValueError, "expected all three", jrnn.distributed.initialize, num_processes=2),
    bad(ValueError, "timeout: got 0", jrnn.distributed.initialize, timeout=0),
    bad(TypeError, "num_processes: got 1.5", jrnn.distributed.initialize, num_processes=1.5),
    bad(TypeError, "name: got int", jrnn.distributed.barrier, 3),
    bad(ValueError, "num_shards: got 0", jrnn.Dataset.shard, via=lambda: dataset().shard(0, 0)),
    bad(ValueError, "index: got 2", jrnn.Dataset.shard, via=lambda: dataset().shard(2, 2)),
    bad(TypeError, "index: got 1.5", jrnn.Dataset.shard, via=lambda: dataset().shard(2, 1.5)),
    bad(ValueError, "nope", jrnn.layers.Activation, "nope"),
    bad(
        TypeError,
        "x: got ndarray",
        jrnn.layers.Add,
        via=lambda: jrnn.layers.Add().apply({}, _seq()),
    ),
    bad(
        ValueError,
        "x: got shapes",
        jrnn.layers.Multiply,
        via=lambda: jrnn.layers.Multiply().apply({}, [_seq(b=2), _seq(b=3)]),
    ),
    bad(
        ValueError,
        "expected shapes that broadcast",
        jrnn.layers.Average,
        via=lambda: jrnn.layers.Average().apply({}, [_seq(f=4), _seq(f=5)]),
    ),
    bad(ValueError, "score_mode: got 'x'", jrnn.layers.Attention, score_mode="x"),
    bad(
        ValueError,
        "x: got a list of 1 arrays",
        jrnn.layers.Attention,
        via=lambda: jrnn.layers.Attention().init(KEY, [_seq()]),
    ),
    bad(
        ValueError,
        "key: got 3 features, expected the query's 4",
        jrnn.layers.AdditiveAttention,
        via=lambda: jrnn.layers.AdditiveAttention().init(KEY, [_seq(), _seq(), _seq(f=3)]),
    ),
    bad(
        ValueError,
        "x: got shape",
        jrnn.layers.Flatten,
        via=lambda: jrnn.layers.Flatten().apply({}, np.float32(1.0)),
    ),
    bad(TypeError, "function: got 3", jrnn.layers.Lambda, 3),
    bad(ValueError, "epsilon: got 0", jrnn.layers.LayerNormalization, epsilon=0),
    bad(TypeError, "axis: got 'x'", jrnn.layers.LayerNormalization, axis="x"),
]


# Griffin's residual block: its arguments, and x whose features differ from `width`.
ROWS += [
    bad(ValueError, "width: got 0", L.GriffinBlock, 0),
    bad(ValueError, "rnn_width: got 0", L.GriffinBlock, 4, rnn_width=0),
    bad(TypeError, "mlp_expansion: got '3'", L.GriffinBlock, 4, mlp_expansion="3"),
    bad(
        ValueError,
        r"x: got shape \(2, 3, 5\), expected \(batch, time, 4\)",
        L.GriffinBlock,
        via=lambda: L.GriffinBlock(4).init(KEY, _seq(f=5)),
    ),
]


ROWS += [
    bad(
        ValueError,
        "recurrent_initializer: got 'nope'|initializer: got 'nope'",
        jrnn.LSTMCell,
        4,
        recurrent_initializer="nope",
    ),
    bad(TypeError, "reset_after: got 'yes'", jrnn.GRUCell, 4, reset_after="yes"),
    bad(TypeError, "use_bias: got 'no'", jrnn.SimpleRNNCell, 4, use_bias="no"),
    bad(TypeError, "forward: got 'lstm'", jrnn.bidirectional, "lstm", CELL),
    bad(TypeError, "backward: got 3", C.BidirectionalCells, CELL, 3),
    bad(TypeError, "cell: got 3", C.expected_input_size, 3, {}),
    bad(TypeError, "cell: got 3", C.output_of_carry, 3, jnp.zeros((2, 4))),
    bad(TypeError, "carry: got", C.output_of_carry, CELL, jnp.zeros((2, 4))),
    bad(TypeError, "cell: got 'lstm'", jrnn.unroll, "lstm", {}, XS),
    bad(
        ValueError,
        "carry: got shape",
        R.scan_unroll,
        via=lambda: R.scan_unroll(
            CELL, cell_params(), jnp.zeros((5, 3)), CELL.initial_carry(2), None
        ),
    ),
    bad(
        ValueError,
        "unroll: got 0",
        R.scan_unroll,
        via=lambda: R.scan_unroll(
            CELL, cell_params(), jnp.zeros((5, 2, 3)), CELL.initial_carry(2), None, unroll=0
        ),
    ),
    bad(TypeError, "noise_shape: got 3", L.Dropout, 0.5, noise_shape=3),
    bad(TypeError, "keepdims: got 'x'", L.GlobalAveragePooling1D, keepdims="x"),
    bad(TypeError, "shape: got", jrnn.Input, 3),
    bad(
        TypeError,
        "seed: got 1.5",
        jrnn.fit,
        via=lambda: jrnn.fit(
            *lm(),
            (np.zeros((2, 2), np.int32), np.zeros((2, 2), np.int32)),
            loss="mse",
            seed=1.5,
        ),
    ),
    bad(
        ValueError,
        r"x.*got shape \(2,\)",
        jrnn.predict,
        via=lambda: jrnn.predict(*lm(), np.zeros((2,), np.int32)),
    ),
    bad(TypeError, "nope", CB.LambdaCallback, nope=print),
    bad(TypeError, "raise_error: got 'x'", CB.TerminateOnNaN, raise_error="x"),
    bad(
        ValueError,
        "epochs: got -1",
        CB.CallbackList,
        [],
        model=None,
        state=None,
        history=jrnn.History(),
        epochs=-1,
    ),
    bad(TypeError, "from_logits: got 'yes'", LS.CategoricalCrossentropy, from_logits="yes"),
    bad(TypeError, "from_logits: got 'yes'", LS.SparseCategoricalCrossentropy, from_logits="yes"),
    bad(TypeError, "obj: got builtins.int", jrnn.saving.serialize, 3),
    bad(TypeError, "obj_or_cls: got builtins.int", jrnn.saving.registered_name, 3),
    bad(
        TypeError,
        "key: got",
        jrnn.decode.sample,
        step_fn,
        CARRY,
        jnp.zeros((2, 1), jnp.int32),
        2,
        3,
    ),
    bad(
        TypeError,
        "mask: got dtype float32",
        jrnn.decode.feed,
        step_fn,
        CARRY,
        jnp.zeros((2, 3), jnp.int32),
        mask=jnp.ones((2, 3)),
    ),
    bad(ValueError, "dtype: got 'float33'", jrnn.pad_sequences, [[1, 2]], dtype="float33"),
    bad(
        ValueError,
        r"x.*got shape|expected",
        jrnn.Model,
        via=lambda: lm()[0].check_inputs(np.zeros((2,), np.int32)),
    ),
    bad(
        ValueError,
        "layer: got|not a layer of",
        jrnn.Model,
        via=lambda: lm()[0].name_of(L.Dense(3)),
    ),
    bad(
        TypeError,
        r"config\['layers'\]: got str",
        jrnn.Sequential,
        via=lambda: jrnn.Sequential.from_config({"layers": "dense"}),
    ),
    bad(TypeError, "variables: got int", jrnn.Model, via=lambda: lm()[0].summary(3)),
    bad(
        TypeError,
        "print_fn: got 3",
        jrnn.Model,
        via=lambda: lm()[0].summary(lm()[1], print_fn=3),
    ),
    bad(TypeError, "path: got None", jrnn.History, via=lambda: jrnn.History().to_json(None)),
    bad(TypeError, "path: got None", jrnn.History, via=lambda: jrnn.History().to_csv(None)),
    bad(
        ValueError,
        "got y_true shape",
        LS.SparseCategoricalCrossentropy,
        via=lambda: jrnn.losses.SparseCategoricalCrossentropy().per_example(
            np.array([0, 1, 2]), np.zeros((2, 3))
        ),
    ),
]


# a and b of jrnn.linear_scan: (B, T, F).
_AB = np.zeros((2, 5, 3), np.float32)
ROWS += [
    bad(TypeError, "backend: got 3", R.default_unroll, 3),
    bad(TypeError, "name: got 3", L.GlobalMaxPooling1D, name=3),
    bad(TypeError, "name: got 3", L.Layer, name=3),
    bad(TypeError, "spec: got 3", jrnn.saving.deserialize, 3),
    bad(TypeError, "package: got 3", jrnn.saving.register_serializable, package=3),
    bad(TypeError, "a: got dtype int32", jrnn.linear_scan, _AB.astype(np.int32), _AB),
    bad(TypeError, "b: got dtype int32", jrnn.linear_scan, _AB, _AB.astype(np.int32)),
    bad(ValueError, r"b: got shape \(5,\)", jrnn.linear_scan, np.zeros(5), np.zeros(5)),
    bad(ValueError, r"a: got shape \(2, 4, 3\)", jrnn.linear_scan, _AB[:, :4], _AB),
    bad(ValueError, r"h0: got shape \(2, 5, 3\)", jrnn.linear_scan, _AB, _AB, _AB),
    bad(
        TypeError, "h0: got dtype float16", jrnn.linear_scan, _AB, _AB, np.zeros((2, 3), np.float16)
    ),
    bad(ValueError, "lengths: got \\[6\\]", jrnn.linear_scan, _AB, _AB, lengths=np.array([5, 6])),
    bad(TypeError, "lengths: got dtype float", jrnn.linear_scan, _AB, _AB, lengths=np.ones(2)),
    bad(
        ValueError,
        r"mask: got shape \(5, 2\)",
        jrnn.linear_scan,
        _AB,
        _AB,
        mask=np.ones((5, 2), bool),
    ),
    bad(TypeError, "mask: got dtype float", jrnn.linear_scan, _AB, _AB, mask=np.ones((2, 5))),
    bad(
        ValueError,
        "lengths, mask: got both",
        jrnn.linear_scan,
        _AB,
        _AB,
        lengths=np.array([5, 5]),
        mask=np.ones((2, 5), bool),
    ),
    bad(ValueError, "method: got 'fast'", jrnn.linear_scan, _AB, _AB, method="fast"),
    bad(ValueError, "chunk_size: got 0", jrnn.linear_scan, _AB, _AB, chunk_size=0),
    bad(TypeError, "reverse: got 'yes'", jrnn.linear_scan, _AB, _AB, reverse="yes"),
    bad(TypeError, "time_major: got 1", jrnn.linear_scan, _AB, _AB, time_major=1),
]

# ---- candidate samplers and sampled losses
_SP = jrnn.sampling
_TC = np.zeros((2, 1), np.int32)  # true_classes (batch 2, num_true 1), range_max 5
_W, _X = np.zeros((5, 3), np.float32), np.zeros((2, 3), np.float32)  # weights, inputs
_U = (1.0, 2.0, 3.0, 4.0, 5.0)  # unigrams for range_max 5


def _bad_vocab_file() -> pathlib.Path:
    path = tmp("vocab-no-count.csv")
    path.write_text("word,count\n")
    return path


# The sampled losses, public as jrnn.losses.sampled_softmax_loss and nce_loss.
_SAMPLED = importlib.import_module("jrnn._sampled_softmax")
_SSL, _NCE = _SAMPLED.sampled_softmax_loss, _SAMPLED.nce_loss
ROWS += [
    bad(TypeError, "key: got 3", _SP.uniform_candidate_sampler, 3, _TC, 1, 2, False, 5),
    bad(
        ValueError,
        r"true_classes: got shape \(2,\)",
        _SP.uniform_candidate_sampler,
        KEY,
        np.zeros(2, np.int32),
        1,
        2,
        False,
        5,
    ),
    bad(
        ValueError,
        r"true_classes: got shape \(2, 1\), expected \(batch_size, num_true=2\)",
        _SP.uniform_candidate_sampler,
        KEY,
        _TC,
        2,
        2,
        False,
        5,
    ),
    bad(
        TypeError,
        "true_classes: got dtype float",
        _SP.uniform_candidate_sampler,
        KEY,
        _TC.astype(np.float32),
        1,
        2,
        False,
        5,
    ),
    bad(
        ValueError,
        r"true_classes: got ids \[7",
        _SP.uniform_candidate_sampler,
        KEY,
        _TC + 7,
        1,
        2,
        False,
        5,
    ),
    bad(ValueError, "num_sampled: got 0", _SP.uniform_candidate_sampler, KEY, _TC, 1, 0, False, 5),
    bad(
        TypeError, "num_sampled: got 2.0", _SP.uniform_candidate_sampler, KEY, _TC, 1, 2.0, False, 5
    ),
    bad(TypeError, "unique: got 'yes'", _SP.uniform_candidate_sampler, KEY, _TC, 1, 2, "yes", 5),
    bad(ValueError, "range_max: got 0", _SP.uniform_candidate_sampler, KEY, _TC, 1, 2, False, 0),
    bad(
        ValueError,
        "num_sampled: got 6 with unique=True",
        _SP.uniform_candidate_sampler,
        KEY,
        _TC,
        1,
        6,
        True,
        5,
    ),
    bad(TypeError, "key: got 'k'", _SP.log_uniform_candidate_sampler, "k", _TC, 1, 2, False, 5),
    bad(ValueError, "num_true: got 0", _SP.log_uniform_candidate_sampler, KEY, _TC, 0, 2, False, 5),
    bad(
        TypeError,
        "range_max: got 5.0",
        _SP.log_uniform_candidate_sampler,
        KEY,
        _TC,
        1,
        2,
        False,
        5.0,
    ),
    bad(
        TypeError,
        "distortion: got 'a'",
        _SP.fixed_unigram_candidate_sampler,
        KEY,
        _TC,
        1,
        2,
        False,
        5,
        unigrams=_U,
        distortion="a",
    ),
    bad(
        ValueError,
        "distortion: got -1",
        _SP.fixed_unigram_candidate_sampler,
        KEY,
        _TC,
        1,
        2,
        False,
        5,
        unigrams=_U,
        distortion=-1.0,
    ),
    bad(
        ValueError,
        "unigrams: got 4 counts.*expected range_max=5",
        _SP.fixed_unigram_candidate_sampler,
        KEY,
        _TC,
        1,
        2,
        False,
        5,
        unigrams=_U[:4],
    ),
    bad(
        ValueError,
        "shard: got 2, expected 0 <= shard < num_shards=2",
        _SP.fixed_unigram_candidate_sampler,
        KEY,
        _TC,
        1,
        2,
        False,
        5,
        unigrams=_U,
        num_shards=2,
        shard=2,
    ),
    bad(
        ValueError,
        "num_shards: got 0",
        _SP.fixed_unigram_candidate_sampler,
        KEY,
        _TC,
        1,
        2,
        False,
        5,
        unigrams=_U,
        num_shards=0,
    ),
    bad(
        ValueError,
        "num_reserved_ids: got -1",
        _SP.fixed_unigram_candidate_sampler,
        KEY,
        _TC,
        1,
        2,
        False,
        5,
        unigrams=_U,
        num_reserved_ids=-1,
    ),
    bad(
        ValueError,
        "vocab_file, unigrams: got neither",
        _SP.fixed_unigram_candidate_sampler,
        KEY,
        _TC,
        1,
        2,
        False,
        5,
    ),
    bad(
        ValueError,
        "vocab_file, unigrams: got both",
        _SP.fixed_unigram_candidate_sampler,
        KEY,
        _TC,
        1,
        2,
        False,
        5,
        vocab_file="v.csv",
        unigrams=_U,
    ),
    bad(
        FileNotFoundError,
        "vocab_file: got .*no-such",
        _SP.fixed_unigram_candidate_sampler,
        KEY,
        _TC,
        1,
        2,
        False,
        5,
        vocab_file=str(TMP / "no-such.csv"),
    ),
    bad(
        ValueError,
        "vocab_file: got line 1",
        _SP.fixed_unigram_candidate_sampler,
        via=lambda: _SP.fixed_unigram_candidate_sampler(
            KEY, _TC, 1, 2, False, 5, vocab_file=str(_bad_vocab_file())
        ),
    ),
    bad(
        TypeError,
        "vocab_file: got 3",
        _SP.fixed_unigram_candidate_sampler,
        KEY,
        _TC,
        1,
        2,
        False,
        5,
        vocab_file=3,
    ),
    bad(
        ValueError,
        r"unigrams: got \[-1.0",
        _SP.fixed_unigram_candidate_sampler,
        KEY,
        _TC,
        1,
        2,
        False,
        5,
        unigrams=(-1.0, 1.0, 1.0, 1.0, 1.0),
    ),
    bad(
        TypeError,
        "unigrams: got str",
        _SP.fixed_unigram_candidate_sampler,
        KEY,
        _TC,
        1,
        2,
        False,
        5,
        unigrams="12345",
    ),
    bad(
        ValueError,
        "num_sampled: got 3 with unique=True, expected at most the 2 ids of positive weight",
        _SP.fixed_unigram_candidate_sampler,
        KEY,
        _TC,
        1,
        3,
        True,
        5,
        unigrams=(1.0, 0.0, 0.0, 0.0, 1.0),
    ),
    bad(
        TypeError,
        "counts: got dtype float32",
        _SP.learned_unigram_candidate_sampler,
        KEY,
        _TC,
        1,
        2,
        False,
        5,
        np.ones(5, np.float32),
    ),
    bad(
        ValueError,
        r"counts: got shape \(4,\)",
        _SP.learned_unigram_candidate_sampler,
        KEY,
        _TC,
        1,
        2,
        False,
        5,
        np.ones(4, np.int32),
    ),
    bad(
        ValueError,
        "counts: got min -1",
        _SP.learned_unigram_candidate_sampler,
        KEY,
        _TC,
        1,
        2,
        False,
        5,
        np.array([-1, 1, 1, 1, 1], np.int32),
    ),
    bad(
        TypeError,
        "key: got None",
        _SP.learned_unigram_candidate_sampler,
        None,
        _TC,
        1,
        2,
        False,
        5,
        np.ones(5, np.int32),
    ),
    bad(
        ValueError,
        "counts: got 1 positive counts, expected at least num_sampled=2",
        _SP.learned_unigram_candidate_sampler,
        KEY,
        _TC,
        1,
        2,
        True,
        5,
        np.array([0, 0, 3, 0, 0], np.int32),
    ),
    bad(ValueError, "range_max: got 0", _SP.learned_unigram_initial_counts, 0),
    bad(TypeError, "range_max: got '5'", _SP.learned_unigram_initial_counts, "5"),
    bad(ValueError, "range_max: got 2147483647", _SP.learned_unigram_initial_counts, 2**31 - 1),
    bad(
        ValueError,
        r"true_classes: got shape \(2,\)",
        _SP.compute_accidental_hits,
        np.zeros(2, np.int32),
        np.zeros(3, np.int32),
        1,
    ),
    bad(
        ValueError,
        r"sampled_candidates: got shape \(1, 3\)",
        _SP.compute_accidental_hits,
        _TC,
        np.zeros((1, 3), np.int32),
        1,
    ),
    bad(
        TypeError,
        "sampled_candidates: got dtype float32",
        _SP.compute_accidental_hits,
        _TC,
        np.zeros(3, np.float32),
        1,
    ),
    bad(ValueError, "num_true: got 0", _SP.compute_accidental_hits, _TC, np.zeros(3, np.int32), 0),
    bad(ValueError, "size: got -1", _SP.compute_accidental_hits, _TC, np.zeros(3, np.int32), 1, -1),
    bad(
        TypeError, "size: got 1.5", _SP.compute_accidental_hits, _TC, np.zeros(3, np.int32), 1, 1.5
    ),
    bad(
        ValueError,
        "size: got None under a transformation",
        _SP.compute_accidental_hits,
        via=lambda: jax.jit(lambda t, s: _SP.compute_accidental_hits(t, s, 1))(
            _TC, np.zeros(3, np.int32)
        ),
    ),
    bad(TypeError, "key: got 3", _SSL, 3, _W, None, _TC, _X, 2, 5),
    bad(TypeError, "weights: got dtype int32", _SSL, KEY, _W.astype(np.int32), None, _TC, _X, 2, 5),
    bad(ValueError, r"weights: got shape \(4, 3\)", _SSL, KEY, _W[:4], None, _TC, _X, 2, 5),
    bad(
        ValueError,
        r"biases: got shape \(4,\)",
        _SSL,
        KEY,
        _W,
        np.zeros(4, np.float32),
        _TC,
        _X,
        2,
        5,
    ),
    bad(
        TypeError, "labels: got dtype float", _SSL, KEY, _W, None, _TC.astype(np.float32), _X, 2, 5
    ),
    bad(ValueError, r"labels: got ids \[5", _SSL, KEY, _W, None, _TC + 5, _X, 2, 5),
    bad(
        ValueError,
        r"labels: got shape \(3, 1\)",
        _SSL,
        KEY,
        _W,
        None,
        np.zeros((3, 1), np.int32),
        _X,
        2,
        5,
    ),
    bad(
        ValueError, r"inputs: got shape \(2, 3, 1\)", _SSL, KEY, _W, None, _TC, _X[..., None], 2, 5
    ),
    bad(ValueError, "num_sampled: got 0", _SSL, KEY, _W, None, _TC, _X, 0, 5),
    bad(TypeError, "num_classes: got '5'", _SSL, KEY, _W, None, _TC, _X, 2, "5"),
    bad(
        TypeError,
        "sampled_values: got list",
        _SSL,
        KEY,
        _W,
        None,
        _TC,
        _X,
        2,
        5,
        sampled_values=[np.zeros(2, np.int32)] * 2,
    ),
    bad(
        ValueError,
        r"sampled_values\[0\]: got shape \(3,\)",
        _SSL,
        None,
        _W,
        None,
        _TC,
        _X,
        2,
        5,
        sampled_values=(np.zeros(3, np.int32), np.ones((2, 1)), np.ones(2)),
    ),
    bad(
        TypeError,
        "remove_accidental_hits: got 'yes'",
        _SSL,
        KEY,
        _W,
        None,
        _TC,
        _X,
        2,
        5,
        remove_accidental_hits="yes",
    ),
    bad(TypeError, "subtract_log_q: got 1", _SSL, KEY, _W, None, _TC, _X, 2, 5, subtract_log_q=1),
    bad(TypeError, "key: got 3", _NCE, 3, _W, None, _TC, _X, 2, 5),
    bad(ValueError, r"weights: got shape \(5, 2\)", _NCE, KEY, _W[:, :2], None, _TC, _X, 2, 5),
    bad(ValueError, r"labels: got shape \(2, 1\)", _NCE, KEY, _W, None, _TC, _X, 2, 5, num_true=2),
    bad(ValueError, "num_true: got 0", _NCE, KEY, _W, None, _TC, _X, 2, 5, num_true=0),
]


def _functional():
    x = jrnn.Input((2,))
    return jrnn.Model(x, L.Dense(2)(x))


def _no_rnn():
    model = jrnn.Sequential([L.Embedding(5, 3), L.Dense(5)])
    shapes = jax.eval_shape(model.init, KEY, np.zeros((1, 2), np.int32))
    return model, jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)


# Gaps in files this catalogue's author does not own: calls that do not raise well today,
# each with what happens instead. Each runs as a row marked xfail(strict=True): a fixed
# gap fails the suite, so that its row moves into ROWS.
# None left: every gap the catalogue found has been fixed and its row is in ROWS.
GAPS: list[tuple[Row, str]] = []


def _one_checkpoint() -> pathlib.Path:
    return jrnn.checkpoint.save(tmp("one-ckpt"), 3, {"a": 1})


# Public callables with no argument a caller could get wrong, and why.
EXEMPT: dict[str, str] = {
    "jrnn.cells.Cell": "abstract base class: no constructor arguments",
    "jrnn.cells.FusedCell": "abstract base class: no constructor arguments",
    "jrnn.cells.LinearCell": "abstract base class: no constructor arguments",
    "jrnn.cells.RecurrentCell": "a typing.Protocol, not called",
    "jrnn.callbacks.Callback": "base class: no constructor arguments",
    "jrnn.losses.Loss": "base class: no constructor arguments",
    "jrnn.losses.HeadLoss": "base class: no constructor arguments",
    "jrnn.metrics.ExpOfMean": "a NamedTuple container of two sums, stored as given",
    "jrnn.models.Head": "a NamedTuple container: Model.apply_with_heads fills it",
    "jrnn.losses.MeanAbsoluteError": "no constructor arguments",
    "jrnn.metrics.Metric": "base class: no constructor arguments",
    "jrnn.TrainState": "a NamedTuple container: fields are stored as given (fit checks them)",
    "jrnn.cells.is_cell": "a predicate: any object is a valid question",
    "jrnn.cells.is_fusable": "a predicate: any object is a valid question",
    "jrnn.cells.is_linear": "a predicate: any object is a valid question",
    "jrnn.Dataset.as_numpy_iterator": "no arguments",
    "jrnn.Dataset.cardinality": "no arguments",
    "jrnn.Tokenizer.get_config": "no arguments",
    "jrnn.Tokenizer.to_json": "its keyword arguments go to json.dumps as they are",
    "jrnn.distributed.is_primary": "no arguments",
    "jrnn.launch.main": "a command line: argparse names a bad flag (tests/test_distributed.py)",
}

# ------------------------------------------------------------------------------- tests


def _params():
    out = [pytest.param(r, id=f"{_name(r.target)}[{i}]") for i, r in enumerate(ROWS)]
    for i, (r, description) in enumerate(GAPS):
        mark = pytest.mark.xfail(strict=True, reason=description)
        out.append(pytest.param(r, id=f"gap:{_name(r.target)}[{i}]", marks=mark))
    return out


def _name(obj) -> str:
    """The public name a row's target goes by: "jrnn.unroll", "jrnn.Dataset.batch"."""
    if id(obj) in PUBLIC_NAMES:
        return PUBLIC_NAMES[id(obj)]
    owner, _, method = getattr(obj, "__qualname__", "").rpartition(".")
    for cls in METHOD_OWNERS:
        if owner == cls.__qualname__ and method in vars(cls):
            return f"{PUBLIC_NAMES[id(cls)]}.{method}"
    return repr(obj)


def _public_callables() -> dict[int, tuple[str, object]]:
    """id -> (first public name, object) for every public callable: the names in each
    package's `__all__`, and in a public module without `__all__` the names it defines."""
    modules = ["jrnn"]
    for info in __import__("pkgutil").iter_modules(jrnn.__path__, "jrnn."):
        if not info.name.rsplit(".", 1)[1].startswith("_"):
            modules.append(info.name)
    found: dict[int, tuple[str, object]] = {}
    for name in modules:
        module = importlib.import_module(name)
        public = getattr(module, "__all__", None)
        if public is None:
            public = [
                n
                for n, v in vars(module).items()
                if not n.startswith("_") and getattr(v, "__module__", None) == name
            ]
        for n in public:
            obj = getattr(module, n)
            if callable(obj) and not inspect.ismodule(obj):
                found.setdefault(id(obj), (f"{name}.{n}", obj))
    return found


PUBLIC = _public_callables()
PUBLIC_NAMES = {k: name for k, (name, _) in PUBLIC.items()}
# Classes whose public methods are covered one by one too (the host-side data API, where
# most user input arrives).
METHOD_OWNERS = (jrnn.Dataset, jrnn.Tokenizer)
PUBLIC_METHODS = {
    f"{PUBLIC_NAMES[id(cls)]}.{m}"
    for cls in METHOD_OWNERS
    for m, v in vars(cls).items()
    if not m.startswith("_") and (callable(v) or isinstance(v, (classmethod, staticmethod)))
}
# {qualified name: what does not raise well}, for the callables of GAPS.
KNOWN_GAPS: dict[str, list[str]] = {}
for _row, _description in GAPS:
    KNOWN_GAPS.setdefault(_name(_row.target), []).append(_description)


@pytest.mark.parametrize("row", _params())
def test_bad_input(row: Row):
    with pytest.raises(row.raises) as info:
        row.call()
    message = str(info.value)
    assert re.search(row.match, message), f"{message!r} does not match {row.match!r}"
    assert "got" in message or "expected" in message, message
    # Raised by jrnn itself: the innermost frame is jrnn's code, not JAX's or NumPy's.
    raised_in = pathlib.Path(info.traceback[-1].path)
    assert JRNN_DIR in raised_in.parents, f"raised in {raised_in}: {message}"


def test_every_public_callable_has_a_row():
    names = {name for name, _ in PUBLIC.values()} | PUBLIC_METHODS
    covered = {_name(r.target) for r in ROWS}
    missing = sorted(names - covered - set(EXEMPT) - set(KNOWN_GAPS))
    assert not missing, f"public callables with no bad-input row: {missing}"
    stale = sorted((set(EXEMPT) | set(KNOWN_GAPS)) - names)
    assert not stale, f"EXEMPT or KNOWN_GAPS name no public callable: {stale}"
    both = sorted(covered & set(EXEMPT))
    assert not both, f"EXEMPT but with rows: {both}"
    unknown = sorted((covered | set(KNOWN_GAPS)) - names)
    assert not unknown, f"rows for callables that are not public: {unknown}"


def test_the_catalogue_is_large():
    assert len(ROWS) + len(GAPS) > 137
