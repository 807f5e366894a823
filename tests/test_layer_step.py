"""The layer-step protocol: for every layer that follows it, running `step` over the
time steps from `step_init` equals `apply` over the whole sequence (at inference), and
a layer without it says so, naming the layer."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jrnn
from jrnn.cells import GRUCell, LSTMCell, SimpleRNNCell
from jrnn.layers import (
    GRU,
    LRU,
    LSTM,
    RGLRU,
    RNN,
    Bidirectional,
    Conv1D,
    Dense,
    Dropout,
    Embedding,
    Layer,
    MinGRU,
    MinLSTM,
    SimpleRNN,
    TimeDistributed,
)

B, T, F = 3, 5, 4


def run_steps(layer, params, x, mask=None):
    """The layer stepped over the time axis of x (B, T, ...): outputs (B, T, ...)."""
    carry, ys = layer.step_init(params, x.shape[0]), []
    for t in range(x.shape[1]):
        mask_t = None if mask is None else mask[:, t]
        carry, y = layer.step(params, carry, x[:, t], mask_t=mask_t)
        ys.append(y)
    return jnp.stack(ys, 1)


def features(seed=0):
    return jax.random.normal(jax.random.key(seed), (B, T, F))


def check(layer, x, mask=None, **kw):
    params = layer.init(jax.random.key(1), x)
    assert layer.step_error() is None
    want = layer.apply(params, x, mask=mask, **kw)
    got = run_steps(layer, params, x, mask)
    if getattr(layer, "return_sequences", True):
        np.testing.assert_allclose(got, want, atol=1e-5)
    else:  # the output of the last step
        np.testing.assert_allclose(got[:, -1], want, atol=1e-5)
    return params


def test_embedding_steps_token_ids():
    ids = jax.random.randint(jax.random.key(0), (B, T), 0, 7)
    layer = Embedding(7, F)
    params = check(layer, ids)
    assert layer.step_init(params, B) is None and layer.step_input_size(params) is None


def test_dense_steps():
    layer = Dense(6, activation="tanh")
    params = check(layer, features())
    assert layer.step_init(params, B) is None and layer.step_input_size(params) == F


def test_dense_softmax_step_logits_are_log_probabilities():
    layer = Dense(6, activation="softmax")
    x = features()
    params = layer.init(jax.random.key(1), x)
    _, logp = layer.step_logits(params, None, x[:, 0])
    np.testing.assert_allclose(jnp.exp(logp), layer.apply(params, x)[:, 0], atol=1e-6)
    inner = TimeDistributed(Dense(6, activation="softmax"))
    _, logp2 = inner.step_logits(params, None, x[:, 0])
    np.testing.assert_allclose(logp2, logp, atol=1e-6)
    # without a softmax, step_logits is step
    plain = Dense(6)
    np.testing.assert_array_equal(
        plain.step_logits(params, None, x[:, 0])[1], plain.step(params, None, x[:, 0])[1]
    )


def test_time_distributed_dense_steps():
    layer = TimeDistributed(Dense(6))
    params = check(layer, features())
    assert layer.step_input_size(params) == F


def test_dropout_steps_as_the_identity():
    layer = Dropout(0.5)
    x = features()
    check(layer, x)
    np.testing.assert_array_equal(run_steps(layer, {}, x), x)
    check(TimeDistributed(Dropout(0.3)), x)


@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize(
    "make",
    [
        lambda **kw: SimpleRNN(6, **kw),
        lambda **kw: LSTM(6, **kw),
        lambda **kw: GRU(6, **kw),
        lambda **kw: GRU(6, reset_after=False, **kw),
        lambda **kw: RNN([LSTMCell(6), GRUCell(5), SimpleRNNCell(4)], **kw),
        lambda **kw: MinGRU(6, **kw),
        lambda **kw: MinLSTM(6, **kw),
        lambda **kw: LRU(F, state_units=6, **kw),
        lambda **kw: RGLRU(F, **kw),
    ],
    ids=["SimpleRNN", "LSTM", "GRU", "GRU-v1", "stacked", "MinGRU", "MinLSTM", "LRU", "RGLRU"],
)
def test_recurrent_layers_step_their_cell(make, return_sequences):
    layer = make(return_sequences=return_sequences)
    params = check(layer, features())
    carry = layer.step_init(params, B)
    assert jax.tree.map(jnp.shape, carry) == jax.tree.map(jnp.shape, layer.cell.initial_carry(B))
    assert layer.step_input_size(params) == F
    assert layer.step_output_is_last() is not return_sequences


@pytest.mark.parametrize("zero_output_for_mask", [False, True])
@pytest.mark.parametrize(
    "make",
    [LSTM, GRU, SimpleRNN, MinGRU, lambda _units, **kw: RGLRU(F, **kw)],
    ids=["LSTM", "GRU", "SimpleRNN", "MinGRU", "RGLRU"],
)
def test_masked_steps_keep_the_carry(make, zero_output_for_mask):
    """Padding on either side: a masked step keeps the carry, and its output is the
    previous one (or zeros), as apply over the masked sequence."""
    layer = make(6, return_sequences=True, zero_output_for_mask=zero_output_for_mask)
    mask = jnp.array(
        [[False, False, True, True, True], [True, True, True, False, False], [True] * 5]
    )
    check(layer, features(2), mask)
    # the mask Embedding(mask_zero=True) makes for the next layer, one step at a time
    ids = jnp.array([[0, 0, 3, 1, 2], [4, 1, 2, 0, 0], [1, 2, 3, 4, 5]])
    emb = Embedding(7, F, mask_zero=True)
    np.testing.assert_array_equal(emb.compute_mask(ids[:, 0], None), mask[:, 0])


def test_layers_without_the_protocol_name_themselves():
    for layer in [Conv1D(4, 2), Bidirectional(LSTM(4)), Layer()]:
        assert "cannot run one time step" in layer.step_error()
        with pytest.raises(NotImplementedError, match=layer.type_name):
            layer.step({}, None, jnp.zeros((B, F)))
    backwards = LSTM(4, go_backwards=True)
    assert "go_backwards=True" in backwards.step_error()
    with pytest.raises(ValueError, match=r"model: layer 1 \(conv1d, Conv1D\) cannot run one"):
        jrnn.lm_step(jrnn.Sequential([Embedding(5, 4), Conv1D(4, 2), LSTM(4)]), {"params": {}})
    with pytest.raises(ValueError, match=r"layer 0 \(dropout\): Dropout: cannot read tokens"):
        model = jrnn.Sequential([Dropout(0.1), LSTM(4), Dense(5)])
        jrnn.lm_step(model, model.init(jax.random.key(0), jnp.zeros((1, 2, 5))))


def test_a_new_layer_is_decoded_through_its_step_alone():
    """lm_step knows no layer type: a user layer that implements the protocol (here a
    scaling layer) is stepped through like the built-in ones."""

    class Scale(Layer):
        def call(self, params, x, *, state=None, mask=None, training=False, key=None):
            return 2.0 * x, None

        def step_error(self):
            return None

        def step(self, params, carry, x_t, *, mask_t=None):
            return None, 2.0 * x_t

    model = jrnn.Sequential([Embedding(5, 4), LSTM(6, return_sequences=True), Scale(), Dense(5)])
    ids = jnp.array([[1, 2, 3, 4], [4, 3, 2, 1]])
    variables = model.init(jax.random.key(0), ids)
    want, _ = model.apply(variables, ids)
    step, init = jrnn.lm_step(model, variables)
    carry, got = init(2), []
    for t in range(ids.shape[1]):
        carry, logits = step(carry, ids[:, t])
        got.append(logits)
    np.testing.assert_allclose(jnp.stack(got, 1), want, atol=1e-5)
