"""`jrnn.from_keras_model`: a Keras `Sequential` of the layers jrnn has -> a jrnn model and
variables with Keras's outputs. The conversion itself reads only `get_config()` and
`get_weights()`, so its behaviour is tested on stand-ins without Keras; only the
comparisons with Keras need it."""

import os

import jax
import numpy as np
import pytest

import jrnn

os.environ.setdefault("KERAS_BACKEND", "jax")
try:
    import keras
except ImportError:  # the comparisons skip; the behaviour tests run
    keras = None

needs_keras = pytest.mark.skipif(keras is None, reason="compares with Keras 3 (JAX backend)")
pytestmark = pytest.mark.filterwarnings(
    # Keras's Variable.__array__ under NumPy 2 (in get_weights); not ours.
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


@pytest.fixture(autouse=True)
def _highest_precision():
    with jax.default_matmul_precision("highest"):
        yield


def _keras_models():
    k = keras.layers
    ids = lambda: keras.Input((None,), dtype="int32")
    feats = lambda: keras.Input((None, 4))
    return {
        "lm": (
            [
                ids(),
                k.Embedding(30, 8, mask_zero=True),
                k.LSTM(8, return_sequences=True),
                k.TimeDistributed(k.Dense(30, activation="softmax")),
            ],
            "ids",
        ),
        "bidirectional": (
            [
                ids(),
                k.Embedding(30, 8, mask_zero=True),
                k.Bidirectional(k.GRU(6, return_sequences=True), merge_mode="sum"),
                k.Dropout(0.3),
                k.SimpleRNN(5, activation="relu"),
                k.Dense(3),
            ],
            "ids",
        ),
        "conv": (
            [
                feats(),
                k.Conv1D(6, 3, padding="same", activation="relu"),
                k.MaxPooling1D(2, padding="same"),
                k.GRU(5, reset_after=False, return_sequences=True),
                k.GlobalMaxPooling1D(),
                k.Dense(2, activation="sigmoid"),
            ],
            "floats",
        ),
        "masking_backwards": (
            [
                feats(),
                k.Masking(0.0),
                k.LSTM(5, go_backwards=True, return_sequences=True),
                k.GlobalAveragePooling1D(),
                k.Dense(2),
            ],
            "floats",
        ),
        "conv_valid": (
            [feats(), k.Conv1D(4, 2, strides=2), k.LSTM(3), k.Dense(1)],
            "floats",
        ),
    }


@pytest.fixture
def _keras_ranks():
    with jax.numpy_rank_promotion("allow"):  # Keras's own code promotes ranks
        yield


@needs_keras
@pytest.mark.usefixtures("_keras_ranks")
@pytest.mark.parametrize("name", ["lm", "bidirectional", "conv", "masking_backwards", "conv_valid"])
def test_outputs_equal_keras(name):
    layers, kind = _keras_models()[name]
    keras.utils.set_random_seed(0)
    km = keras.Sequential(layers)
    rng = np.random.default_rng(0)
    for layer in km.layers:  # random biases too (Keras starts them at zero)
        layer.set_weights(
            [(0.5 * rng.normal(size=w.shape)).astype(np.float32) for w in layer.get_weights()]
        )
    if kind == "ids":
        x = rng.integers(1, 30, (3, 9)).astype(np.int32)
        x[0, 5:] = 0  # padding
    else:
        x = rng.normal(size=(3, 9, 4)).astype(np.float32)
        x[1, 6:] = 0.0  # masked steps for Masking
    model, variables = jrnn.from_keras_model(km)
    want = np.asarray(km(x, training=False))
    with jax.numpy_rank_promotion("raise"):
        got = np.asarray(model.apply(variables, x)[0])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert [model.name_of(layer) for layer in model.layers] == [lyr.name for lyr in km.layers]


# -- behaviour on stand-ins (no Keras needed) ---------------------------------------------
class _Tensor:
    def __init__(self, shape, dtype):
        self.shape, self.dtype = shape, dtype


class Dense:  # a stand-in for keras.layers.Dense: the converter reads the class name
    def __init__(self, kernel, bias, name="dense"):
        self.kernel, self.bias, self.name = kernel, bias, name

    def get_config(self):
        return {"units": self.kernel.shape[1], "activation": "tanh", "use_bias": True}

    def get_weights(self):
        return [self.kernel, self.bias]


class Attention:
    name = "attention"

    def get_config(self):
        return {}

    def get_weights(self):
        return []


class Sequential:
    def __init__(self, layers, shape=(None, 3), name="sequential"):
        self.layers, self.name = layers, name
        self.inputs = [_Tensor(shape, "float32")] if shape else []


def test_stand_in_dense():
    rng = np.random.default_rng(0)
    kernel, bias = rng.normal(size=(3, 2)).astype(np.float32), np.ones(2, np.float32)
    model, variables = jrnn.from_keras_model(Sequential([Dense(kernel, bias)]))
    x = rng.normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_allclose(
        np.asarray(model.apply(variables, x)[0]), np.tanh(x @ kernel + bias), rtol=1e-5
    )
    assert variables["state"] == {}


def test_errors_name_the_argument():
    rng = np.random.default_rng(0)
    dense = Dense(rng.normal(size=(3, 2)).astype(np.float32), np.ones(2, np.float32))
    with pytest.raises(TypeError, match="keras_model: got dict, expected a keras.Sequential"):
        jrnn.from_keras_model({})
    with pytest.raises(ValueError, match="keras_model: is not built"):
        jrnn.from_keras_model(Sequential([dense], shape=None))
    with pytest.raises(ValueError, match=r"layers\[1\] \(attention\): got a Keras Attention"):
        jrnn.from_keras_model(Sequential([dense, Attention()]))
    with pytest.raises(ValueError, match="layer dense's weights have shapes"):
        jrnn.from_keras_model(Sequential([dense], shape=(None, 5)))
