"""LayerNormalization, Flatten, Activation, Lambda, Add/Multiply/Average, Attention and
AdditiveAttention: parity with Keras 3 (JAX backend) given the same weights and masks,
their use in functional models, and their errors.

The contract suite (tests/test_layer_contract.py) covers their shapes, jit, config round
trips and dropout keys; here the numbers are checked against Keras. Keras is imported
through tests/peers.py: only the comparisons are skipped without it.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from layers_registry import scaled_tanh
from peers import keras, needs_keras

import jrnn
from jrnn import layers as L

pytestmark = pytest.mark.filterwarnings(
    # Keras's Variable.__array__ under NumPy 2 (in get_weights); not ours.
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

B, TQ, TV, D = 3, 4, 5, 6
ATOL = 1e-5


def _keras(fn, *args, **kwargs):
    """Run a Keras call. Keras's own JAX code relies on implicit rank promotion, which
    tests/conftest.py turns into an error; jrnn calls stay under the strict setting."""
    with jax.numpy_rank_promotion("allow"):
        return fn(*args, **kwargs)


def normal(shape, seed):
    return np.array(jax.random.normal(jax.random.key(seed), shape), np.float32)


def close(a, b, atol=ATOL):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=atol)


# right padding (row 1 valid for 2 steps) and a row with a hole; every row keeps a valid
# step, so the masked softmax is well defined in both libraries
Q_MASK = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 1, 1]], bool)
V_MASK = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [0, 1, 1, 0, 1]], bool)


# -- LayerNormalization, Flatten, Activation ---------------------------------------------------
@needs_keras
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"axis": [1, 2], "epsilon": 1e-5},
        {"center": False},
        {"scale": False, "axis": 1},
    ],
)
def test_layer_normalization_matches_keras(kwargs):
    x = 3.0 * normal((B, TV, D), 0) + 1.0
    theirs = keras.layers.LayerNormalization(**kwargs)
    _keras(theirs.build, x.shape)
    # random gamma and beta (Keras starts at ones and zeros), in Keras's weight order
    weights = [normal(w.shape, 10 + i) for i, w in enumerate(theirs.weights)]
    theirs.set_weights(weights)
    ours = L.LayerNormalization(**kwargs)
    params = ours.init(jax.random.key(0), x)
    assert list(params) == [w.path.split("/")[-1] for w in theirs.weights]
    for k, w in zip(params, weights):
        assert params[k].shape == w.shape
    params = dict(zip(params, map(jnp.asarray, weights)))
    close(ours.apply(params, x), _keras(theirs, x))


def test_layer_normalization_steps_and_dtypes():
    x = normal((B, TV, D), 1)
    ln = L.LayerNormalization()
    params = ln.init(jax.random.key(0), x)
    y = ln.apply(params, x)
    # zero mean and (almost) unit variance over the features, before gamma and beta
    close(jnp.mean(y, -1), np.zeros((B, TV)))
    stepped = jnp.stack([ln.step(params, None, x[:, t])[1] for t in range(TV)], 1)
    close(stepped, y)
    assert ln.step_input_size(params) == D
    assert ln.apply(params, x.astype(jnp.bfloat16)).dtype == jnp.bfloat16
    assert "axis=[1, 2]" in L.LayerNormalization(axis=[1, 2]).step_error()


@needs_keras
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_flatten_matches_keras(data_format):
    x = normal((B, TV, 2, D), 2)
    close(L.Flatten(data_format).apply({}, x), _keras(keras.layers.Flatten(data_format), x))
    assert L.Flatten().apply({}, x[:, 0, 0, 0]).shape == (B, 1)  # (B,) -> (B, 1), as Keras


ACTIVATIONS = ["relu", "tanh", "sigmoid", "hard_sigmoid", "softmax", "elu", "selu", "softplus"]


@needs_keras
@pytest.mark.parametrize(
    "name",
    [*ACTIVATIONS, "gelu"],
)
def test_activation_matches_keras(name):
    x = 2.0 * normal((B, TV, D), 3)
    close(L.Activation(name).apply({}, x), _keras(keras.layers.Activation(name), x))


def test_activation_passes_the_mask_and_steps():
    x = normal((B, TV, D), 4)
    act = L.Activation(jax.nn.relu)
    mask = jnp.asarray(V_MASK)
    np.testing.assert_array_equal(act.compute_mask(x, mask), mask)
    close(act.step({}, None, x[:, 0])[1], jax.nn.relu(x[:, 0]))
    assert act.get_config()["activation"] == "relu"  # saved by name


# -- Lambda -----------------------------------------------------------------------------------
def test_lambda_arguments_mask_and_training():
    x = normal((B, TV, D), 5)
    seen = {}

    def fn(v, *, scale, mask=None, training=False):
        seen.update(mask=mask, training=training)
        return scale * v

    y = L.Lambda(fn, arguments={"scale": 3.0}).apply({}, x, mask=V_MASK, training=True)
    close(y, 3.0 * x)
    assert seen["mask"] is V_MASK and seen["training"] is True
    assert L.Lambda(jnp.tanh).compute_mask(x, V_MASK) is None  # as Keras without `mask`
    with pytest.raises(ValueError, match=r"output_shape=\(5, 7\)"):
        L.Lambda(jnp.tanh, output_shape=(5, 7)).apply({}, x)


@needs_keras
def test_lambda_matches_keras_on_a_list():
    a, b = normal((B, TV, D), 6), normal((B, TV, D), 7)
    fn = lambda v: v[0] * jnp.tanh(v[1])  # noqa: E731
    close(L.Lambda(fn).apply({}, [a, b]), _keras(keras.layers.Lambda(fn), [a, b]))


def test_lambda_config_names_the_function_or_says_why_not():
    scale = 2.0
    for fn, what in [
        (lambda v: v * 2, "a lambda"),
        (lambda v: v * scale, "a lambda"),
        (test_lambda_config_names_the_function_or_says_why_not, "not registered"),
    ]:
        with pytest.raises(TypeError, match=f"Lambda: cannot save .*{what}.*register_serial"):
            L.Lambda(fn).get_config()
    assert "Lambda(" in repr(L.Lambda(lambda v: v))  # repr still works

    def closure(v):
        return v * scale

    with pytest.raises(TypeError, match="defined inside another function"):
        L.Lambda(closure).get_config()
    # a registered module-level function and a jrnn activation are saved by name
    config = L.Lambda(scaled_tanh, arguments={"factor": 3.0}).get_config()
    assert config["function"] == "tests>scaled_tanh"
    rebuilt = L.Lambda.from_config(json.loads(json.dumps(config)))
    assert rebuilt.function is scaled_tanh and rebuilt.arguments == {"factor": 3.0}
    assert L.Lambda.from_config(L.Lambda(jnp.tanh).get_config()).function is jnp.tanh
    with pytest.raises(ValueError, match="function: got 'nope'"):
        L.Lambda.from_config({"function": "nope", "name": None})


# -- merges -----------------------------------------------------------------------------------
def _masked_pair():
    """Two float sequences whose padding (all-zero steps) differs: row 1 of `a` is
    padded after 2 steps, row 2 of `b` after 3."""
    a, b = normal((B, TV, D), 8), normal((B, TV, D), 9)
    a[1, 2:] = 0.0
    b[2, 3:] = 0.0
    return a, b


@needs_keras
@pytest.mark.parametrize("kind", ["Add", "Multiply", "Average"])
@pytest.mark.parametrize("masked", ["both", "first", "none"])
def test_merge_matches_keras_with_masks(kind, masked):
    """The merged values and the mask passed on (read through a masked mean over time)
    equal Keras 3's in the same functional graph."""
    a, b = _masked_pair()

    def graph(lib, inputs):
        x = [lib.Masking(0.0)(inputs[0]) if masked != "none" else inputs[0]]
        x.append(lib.Masking(0.0)(inputs[1]) if masked == "both" else inputs[1])
        y = getattr(lib, kind)()(x)
        return [y, lib.GlobalAveragePooling1D()(y)]

    k_in = [keras.Input((TV, D)), keras.Input((TV, D))]
    k_model = keras.Model(k_in, graph(keras.layers, k_in))
    j_in = [jrnn.Input((TV, D)), jrnn.Input((TV, D))]
    j_model = jrnn.Model(j_in, graph(L, j_in))
    variables = j_model.init(jax.random.key(0), [a, b])
    (y, pooled), masks, _ = j_model.apply_with_mask(variables, [a, b])
    ky, kpooled = _keras(k_model, [a, b])
    close(y, ky)
    close(pooled, kpooled)
    if masked == "both":  # Keras 3: the OR of the inputs' masks, else no mask
        np.testing.assert_array_equal(masks[0], np.any(a != 0, -1) | np.any(b != 0, -1))
    else:
        assert masks[0] is None


def test_merge_broadcasts_and_checks_shapes():
    a, b = normal((B, TV, D), 10), normal((B, D), 11)
    close(L.Add().apply({}, [a, b]), a + b[:, None])  # lower rank: axes after the batch
    close(L.Average().apply({}, [a, a, b[:, None]]), (2 * a + b[:, None]) / 3)
    with pytest.raises(ValueError, match=r"Add: x: got shapes \[\(3, 5, 6\), \(3, 4, 6\)\]"):
        L.Add().apply({}, [a, a[:, :4]])
    with pytest.raises(ValueError, match="same batch size"):
        L.Multiply().apply({}, [a, a[:2]])
    with pytest.raises(TypeError, match="Average: x: got ndarray, expected a list"):
        L.Average().apply({}, a)
    with pytest.raises(ValueError, match="mask: got list, expected a list of 2 masks"):
        L.Multiply().apply({}, [a, a], mask=[V_MASK])


# -- Attention and AdditiveAttention ----------------------------------------------------------
ATTENTIONS = {
    "dot": (keras.layers.Attention if keras else None, {}),
    "dot_scaled": (keras.layers.Attention if keras else None, {"use_scale": True}),
    "concat": (keras.layers.Attention if keras else None, {"score_mode": "concat"}),
    "concat_scaled": (
        keras.layers.Attention if keras else None,
        {"score_mode": "concat", "use_scale": True},
    ),
    "additive": (keras.layers.AdditiveAttention if keras else None, {}),
    "additive_unscaled": (keras.layers.AdditiveAttention if keras else None, {"use_scale": False}),
}


def _attention_inputs(with_key: bool):
    q, v = normal((B, TQ, D), 12), normal((B, TV, D - 2), 13)
    k = normal((B, TV, D), 14)
    return [q, v, k] if with_key else [q, k]  # without a key, the value is the key


@needs_keras
@pytest.mark.parametrize("kind", list(ATTENTIONS))
@pytest.mark.parametrize(
    "with_key, masked, causal",
    [(False, False, False), (True, True, False), (False, True, True), (True, False, True)],
)
def test_attention_matches_keras(kind, with_key, masked, causal):
    cls, kwargs = ATTENTIONS[kind]
    x = _attention_inputs(with_key)
    theirs = cls(**kwargs)
    _keras(theirs.build, [v.shape for v in x])
    weights = [normal(w.shape, 20 + i) for i, w in enumerate(theirs.weights)]
    theirs.set_weights(weights)
    ours = getattr(L, cls.__name__)(**kwargs)
    params = ours.init(jax.random.key(0), x)
    assert [params[k].shape for k in params] == [w.shape for w in weights]
    assert list(params) == [w.path.split("/")[-1] for w in theirs.weights]
    params = dict(zip(params, map(jnp.asarray, weights)))
    mask = [Q_MASK, V_MASK] if masked else None
    kw = {"return_attention_scores": True, "use_causal_mask": causal}
    y, scores = ours.apply(params, x, mask=mask, **kw)
    ky, kscores = _keras(theirs, x, mask=mask, **kw)
    close(y, ky)
    close(scores, kscores)
    if masked:  # the query's mask is passed on; masked queries give zeros
        np.testing.assert_array_equal(ours.compute_mask(x, mask), Q_MASK)
        assert not np.asarray(y)[~Q_MASK].any()
    # masked values and the future (causal) get no weight, unless a query has no valid
    # value at all (then Keras's -1e9 offsets leave a uniform row: checked equal above)
    valid = np.ones((B, TQ, TV), bool)
    if masked:
        valid &= V_MASK[:, None]
    if causal:
        valid &= np.tril(np.ones((TQ, TV), bool))
    some = valid.any(-1, keepdims=True)
    assert np.asarray(scores)[~valid & some].max(initial=0.0) < 1e-6
    if causal and masked:
        assert not some.all()  # the example has such a row


def _seq2seq_graph(lib, enc_ids, dec_ids, kind):
    """Decoder states attending over encoder states, the masks from Embedding(mask_zero):
    the classic encoder-decoder with attention, without the RNNs (their parity is
    tests/test_keras_parity.py's)."""
    enc = lib.Embedding(9, D, mask_zero=True, name="enc_emb")(enc_ids)
    dec = lib.Embedding(9, D, mask_zero=True, name="dec_emb")(dec_ids)
    if kind == "luong":
        context, scores = lib.Attention(name="att")([dec, enc], return_attention_scores=True)
    else:
        query = lib.Dense(4, name="wq")(dec)
        key = lib.Dense(4, name="wk")(enc)
        att = lib.AdditiveAttention(name="att")
        context, scores = att([query, enc, key], return_attention_scores=True)
    y = lib.Dense(3, name="out")(lib.Concatenate()([dec, context]))
    return [y, scores]


IDS_ENC = np.array([[1, 2, 3, 4, 5], [6, 7, 8, 0, 0], [3, 1, 0, 0, 0]], np.int32)
IDS_DEC = np.array([[1, 2, 3, 4], [5, 6, 0, 0], [7, 0, 0, 0]], np.int32)


@needs_keras
@pytest.mark.parametrize("kind", ["luong", "bahdanau"])
def test_attention_model_with_embedding_masks_matches_keras(kind):
    k_in = [keras.Input((None,), dtype="int32"), keras.Input((None,), dtype="int32")]
    k_model = keras.Model(k_in, _seq2seq_graph(keras.layers, *k_in, kind))
    j_in = [jrnn.Input((None,), "int32"), jrnn.Input((None,), "int32")]
    j_model = jrnn.Model(j_in, _seq2seq_graph(L, *j_in, kind))
    variables = j_model.init(jax.random.key(0), [IDS_ENC, IDS_DEC])
    params = variables["params"]
    for name, p in params.items():
        layer = k_model.get_layer(name)
        weights = [normal(w.shape, 30 + i) for i, w in enumerate(layer.weights)]
        layer.set_weights(weights)
        assert [v.shape for v in p.values()] == [w.shape for w in weights]
        params[name] = dict(zip(p, map(jnp.asarray, weights)))
    (y, scores), masks, _ = j_model.apply_with_mask(variables, [IDS_ENC, IDS_DEC])
    ky, kscores = _keras(k_model, [IDS_ENC, IDS_DEC])
    close(y, ky)
    close(scores, kscores)
    np.testing.assert_array_equal(masks[0], IDS_DEC != 0)  # the query's mask, passed on
    assert masks[1] is None
    assert np.asarray(scores)[np.broadcast_to((IDS_ENC == 0)[:, None], scores.shape)].max() < 1e-6
    # the model's config keeps the call's two outputs
    rebuilt = jrnn.Model.from_config(json.loads(json.dumps(j_model.get_config())))
    again, _ = rebuilt.apply(variables, [IDS_ENC, IDS_DEC])
    close(again[0], y)
    close(again[1], scores)


def test_attention_dropout_drops_weights_with_a_key():
    x = _attention_inputs(False)
    att = L.Attention(dropout=0.5)
    _, w = att.apply({}, x, return_attention_scores=True)
    _, wd = att.apply({}, x, training=True, key=jax.random.key(1), return_attention_scores=True)
    wd = np.asarray(wd)
    dropped = wd == 0
    assert 0.2 < dropped.mean() < 0.8  # about half the weights
    close(wd[~dropped], 2.0 * np.asarray(w)[~dropped])  # the rest scaled by 1 / (1 - rate)
    with pytest.raises(ValueError, match="key: got None"):
        att.apply({}, x, training=True)


def test_attention_errors_name_the_argument():
    q, v = normal((B, TQ, D), 15), normal((B, TV, D), 16)
    att = L.Attention()
    with pytest.raises(TypeError, match="Attention: x: got ndarray, expected a list"):
        att.apply({}, q)
    with pytest.raises(ValueError, match="got a list of 1 arrays, expected 2 or 3"):
        att.apply({}, [q])
    with pytest.raises(ValueError, match="key: got 5 features, expected the query's 6"):
        L.AdditiveAttention().init(jax.random.key(0), [q, v, v[..., :5]])
    with pytest.raises(ValueError, match="key: got 4 steps, expected the value's 5"):
        att.apply({}, [q, v, q])
    with pytest.raises(ValueError, match=r"query: got shape \(3, 6\)"):
        att.apply({}, [q[:, 0], v])
    with pytest.raises(ValueError, match="batch sizes query 3, value 2"):
        att.apply({}, [q, v[:2]])
    with pytest.raises(ValueError, match=r"value_mask: got shape \(3, 4\), expected \(3, 5\)"):
        att.apply({}, [q, v], mask=[None, Q_MASK])
    with pytest.raises(TypeError, match="mask: got ndarray, expected a list"):
        att.apply({}, [q, v], mask=V_MASK)
    with pytest.raises(ValueError, match="score_mode: got 'add'"):
        L.Attention(score_mode="add")
    with pytest.raises(ValueError, match="dropout: got 1.5"):
        L.AdditiveAttention(dropout=1.5)


def test_other_errors_name_the_argument():
    x = normal((B, TV, D), 17)
    with pytest.raises(ValueError, match=r"axis: got 3 for an input of rank 3"):
        L.LayerNormalization(axis=3).init(jax.random.key(0), x)
    with pytest.raises(ValueError, match=r"axis: got 0 .* \(not the batch axis\)"):
        L.LayerNormalization(axis=0).init(jax.random.key(0), x)
    with pytest.raises(TypeError, match="axis: got 'x'"):
        L.LayerNormalization(axis="x")
    with pytest.raises(ValueError, match="epsilon: got 0"):
        L.LayerNormalization(epsilon=0)
    with pytest.raises(ValueError, match="data_format: got 'nchw'"):
        L.Flatten("nchw")
    with pytest.raises(ValueError, match="activation: got 'nope'"):
        L.Activation("nope")
    with pytest.raises(TypeError, match="function: got 3 of type int, expected a callable"):
        L.Lambda(3)
    with pytest.raises(TypeError, match="arguments: got list"):
        L.Lambda(jnp.tanh, arguments=[1])
