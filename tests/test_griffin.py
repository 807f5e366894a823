"""GriffinBlock: Griffin's residual block (RMSNorm, causal depthwise Conv1D, RG-LRU,
gated MLP) against a plain-jnp reference of the paper's equations, causality, masks,
stateful chunks and the layer-step protocol (lm_step), configs, training and saving."""

import functools
import json
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jrnn
from jrnn import layers as L

B, T, D, V = 2, 6, 4, 9
ATOL = 2e-5


def _x(seed=0, shape=(B, T, D)):
    # NumPy draws: each jax.random shape would cost a compile, this suite's main cost
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


@pytest.fixture(scope="module")
def block():
    """A block with random parameters of init's structure (norm scales and biases start
    at zero there, which would hide a missing term; `lm` runs the real init), and its
    jitted apply."""
    layer = L.GriffinBlock(D, rnn_width=5, mlp_expansion=2, conv_width=3, c=6.0)
    spec = jax.ShapeDtypeStruct((B, T, D), jnp.float32)
    shapes = jax.eval_shape(layer.init, jax.random.key(0), spec)
    rng = np.random.default_rng(1)
    params = jax.tree.map(
        lambda s: jnp.asarray(0.5 * rng.standard_normal(s.shape), jnp.float32), shapes
    )

    # always with a mask (all valid by default): one compile serves every test
    run = jax.jit(lambda p, x, mask: layer.apply(p, x, mask=mask))

    def apply(p, x, mask=None):
        return run(p, x, jnp.ones(x.shape[:2], bool) if mask is None else mask)

    return layer, params, apply


@pytest.fixture(scope="module")
def lm():
    """Embedding(mask_zero) -> GriffinBlock -> Dense: a tiny language model, its
    variables and its jitted apply."""
    model = jrnn.Sequential(
        [
            L.Embedding(V, D, mask_zero=True),
            L.GriffinBlock(D, rnn_width=4, mlp_expansion=1, conv_width=2, name="griffin"),
            L.Dense(V),
        ]
    )
    tokens = jnp.asarray([[3, 1, 4, 1, 5], [0, 0, 2, 6, 8]], jnp.int32)
    variables = jax.jit(model.init)(jax.random.key(0), tokens)
    return model, variables, jax.jit(lambda v, x: model.apply(v, x)[0]), tokens


@functools.partial(jax.jit, static_argnums=0)
def reference(layer, p, x, mask=None):
    """The block's equations in plain jax.numpy, with a Python loop for the RG-LRU."""
    eps, c, kw = layer.epsilon, layer.c, layer.conv_width
    gelu = lambda v: jax.nn.gelu(v, approximate=True)  # noqa: E731
    sigmoid = jax.nn.sigmoid

    def rms(v, scale):
        return v / jnp.sqrt(jnp.mean(v**2, -1, keepdims=True) + eps) * (1 + scale[None, None])

    def dense(name, v):
        return v @ p[name]["kernel"] + p[name]["bias"][None, None]

    m = jnp.ones(x.shape[:2]) if mask is None else jnp.asarray(mask, jnp.float32)
    u = rms(x, p["temporal_pre_norm"]["scale"])
    gate = gelu(dense("linear_y", u))
    z = dense("linear_x", u) * m[..., None]  # padding enters the conv as zeros
    zp = jnp.pad(z, ((0, 0), (kw - 1, 0), (0, 0)))
    w = p["conv_1d"]["kernel"]
    v = p["conv_1d"]["bias"][None, None] + sum(
        w[k][None, None] * zp[:, k : k + x.shape[1]] for k in range(kw)
    )
    lru = p["rg_lru"]
    lam = -lru["a_param"]  # Λ = -a_param
    h, hs = jnp.zeros((x.shape[0], lam.shape[0])), []
    for t in range(x.shape[1]):
        gates = sigmoid(v[:, t] @ lru["kernel"] + lru["bias"][None])
        r_gate, i_gate = jnp.split(gates, 2, -1)
        a = sigmoid(lam)[None] ** (c * r_gate)
        h_new = a * h + jnp.sqrt(1 - a**2) * (i_gate * v[:, t])
        keep = m[:, t, None] > 0
        h = jnp.where(keep, h_new, h)
        hs.append(jnp.where(keep, h_new, 0.0))
    res = x + dense("linear_out", jnp.stack(hs, 1) * gate)
    g, val = jnp.split(dense("ffw_up", rms(res, p["channel_pre_norm"]["scale"])), 2, -1)
    return res + dense("ffw_down", gelu(g) * val)


def test_shapes_jit_and_finite_gradients(block):
    layer, params, apply = block
    x = _x()
    y = apply(params, x)
    assert y.shape == (B, T, D) and y.dtype == jnp.float32
    assert layer.rnn_width == 5 and layer.mlp_width == 8
    shapes = jax.tree.map(jnp.shape, params)
    assert shapes["conv_1d"] == {"kernel": (3, 5), "bias": (5,)}
    assert shapes["rg_lru"] == {"kernel": (5, 10), "bias": (10,), "a_param": (5,)}
    assert shapes["ffw_up"]["kernel"] == (D, 16) and shapes["ffw_down"]["kernel"] == (8, D)
    np.testing.assert_allclose(layer.apply(params, x), y, atol=ATOL)  # eager == jit
    grads = jax.jit(jax.grad(lambda p, x: jnp.sum(layer.apply(p, x) ** 2)))(params, x)
    for name, g in jax.tree_util.tree_leaves_with_path(grads):
        assert np.all(np.isfinite(g)) and np.any(g != 0), name
    # defaults: Griffin's R = 4D/3, M = 3D, K = 4
    default = L.GriffinBlock(6)
    assert (default.rnn_width, default.mlp_width, default.conv_width) == (8, 18, 4)


def test_equals_the_papers_equations(block):
    layer, params, apply = block
    x = _x(3)
    every = jnp.ones((B, T), bool)
    np.testing.assert_allclose(apply(params, x), reference(layer, params, x, every), atol=ATOL)
    mask = jnp.asarray([[0, 1, 1, 0, 1, 1], [1, 1, 1, 1, 0, 0]], bool)
    np.testing.assert_allclose(apply(params, x, mask), reference(layer, params, x, mask), atol=ATOL)


def test_causal(block):
    layer, params, apply = block
    x = _x(4)
    y = apply(params, x)
    for t in (1, 4):
        y2 = apply(params, x.at[:, t].add(1.0))
        np.testing.assert_array_equal(y2[:, :t], y[:, :t])
        assert not np.allclose(y2[:, t], y[:, t])


def test_padding_on_either_side_gives_the_unpadded_outputs(block):
    layer, params, apply = block
    x = _x(5)
    n = 4  # valid steps of row 1
    alone = apply(params, x[1:, :n])[0]
    right = jnp.asarray(np.arange(T)[None] < np.array([T, n])[:, None])
    np.testing.assert_allclose(apply(params, x, right)[1, :n], alone, atol=ATOL)
    left = jnp.flip(right, 1)
    x_left = x.at[1, T - n :].set(x[1, :n])
    np.testing.assert_allclose(apply(params, x_left, left)[1, T - n :], alone, atol=ATOL)
    assert layer.compute_mask(x, right) is right  # the mask passes through


def test_stateful_chunks_equal_the_whole_sequence(block):
    layer, params, apply = block
    stateful = L.GriffinBlock.from_config({**layer.get_config(), "stateful": True})
    x = _x(6)
    mask = jnp.asarray([[1, 1, 1, 1, 1, 1], [0, 1, 1, 0, 1, 1]], bool)
    run = jax.jit(lambda p, x, s, m: stateful.call(p, x, state=s, mask=m))
    whole, final = run(params, x, stateful.init_state(x), mask)
    state, ys = stateful.init_state(x), []
    for lo, hi in ((0, 3), (3, 6)):  # (steps, chunks of 1: test_steps_equal_...)
        y, state = run(params, x[:, lo:hi], state, mask[:, lo:hi])
        ys.append(y)
    np.testing.assert_allclose(jnp.concatenate(ys, 1), whole, atol=ATOL)
    np.testing.assert_allclose(apply(params, x, mask), whole, atol=ATOL)
    assert jax.tree.map(jnp.shape, state) == {"conv_1d": (B, 2, 5), "rg_lru": (B, 5)}
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(final)):
        np.testing.assert_allclose(a, b, atol=ATOL)
    assert layer.init_state(x) is None and layer.call(params, x)[1] is None


def test_steps_equal_the_sequence_and_lm_step_decodes(block, lm):
    layer, params, apply = block
    x = _x(7)
    mask = jnp.asarray([[0, 1, 1, 1, 0, 1], [1, 1, 1, 1, 1, 1]], bool)
    step = jax.jit(lambda c, x_t, m_t: layer.step(params, c, x_t, mask_t=m_t))
    carry, ys = layer.step_init(params, B), []
    for t in range(T):
        carry, y = step(carry, x[:, t], mask[:, t])
        ys.append(y)
    np.testing.assert_allclose(jnp.stack(ys, 1), apply(params, x, mask), atol=ATOL)
    assert layer.step_error() is None and layer.step_input_size(params) == D

    model, variables, apply_model, tokens = lm
    want = apply_model(variables, tokens)
    lm_step, init = jrnn.lm_step(model, variables)
    lm_step = jax.jit(lm_step)
    carry, got = init(B), []
    for t in range(tokens.shape[1]):
        carry, logits = lm_step(carry, tokens[:, t])
        got.append(logits)
    valid = np.asarray(tokens != 0)
    np.testing.assert_allclose(np.stack(got, 1)[valid], np.asarray(want)[valid], atol=ATOL)


def test_config_round_trip_and_pickle(block):
    layer, params, apply = block
    config = layer.get_config()
    assert config == {
        "name": None,
        "width": D,
        "rnn_width": 5,
        "mlp_expansion": 2,
        "conv_width": 3,
        "c": 6.0,
        "epsilon": 1e-6,
        "stateful": False,
    }
    again = L.GriffinBlock.from_config(json.loads(json.dumps(config)))
    assert again.get_config() == config
    assert pickle.loads(pickle.dumps(layer)).get_config() == config
    assert jrnn.saving.deserialize(jrnn.saving.serialize(layer)).get_config() == config


def test_a_model_trains_saves_and_loads(lm, tmp_path):
    model, variables, apply_model, _ = lm
    p = variables["params"]["griffin"]  # recurrentgemma's initialisation
    assert not np.any(p["temporal_pre_norm"]["scale"]) and not np.any(p["conv_1d"]["bias"])
    assert p["conv_1d"]["kernel"].shape == (2, 4) and np.std(p["conv_1d"]["kernel"]) < 0.3
    radius = jax.nn.sigmoid(-p["rg_lru"]["a_param"])
    assert np.all((radius >= 0.9 - 1e-6) & (radius <= 0.999 + 1e-6))
    rng = np.random.default_rng(0)
    x = rng.integers(1, V, (8, 5)).astype(np.int32)
    y = np.roll(x, -1, axis=1)
    loss = jrnn.losses.SparseCategoricalCrossentropy(from_logits=True)
    state, history = jrnn.fit(
        model,
        variables,
        (x, y),
        loss=loss,
        optimizer="adam",
        batch_size=4,
        epochs=3,
        verbose=0,
        devices=jax.devices()[:1],
    )
    losses = history.history["loss"]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    trained = {"params": state.params, "state": {}}
    path = jrnn.save_model(tmp_path / "griffin.npz", model, trained)
    model2, variables2 = jrnn.load_model(path)
    assert model2.get_config() == model.get_config()
    assert isinstance(model2.get_layer("griffin"), L.GriffinBlock)
    got = jax.jit(lambda v, x: model2.apply(v, x)[0])(variables2, x)
    np.testing.assert_array_equal(got, apply_model(trained, x))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(width=0), ValueError, "width: got 0"),
        (dict(width=4.0), TypeError, "width: got 4.0"),
        (dict(width=4, rnn_width=0), ValueError, "rnn_width: got 0"),
        (dict(width=4, mlp_expansion=0), ValueError, "mlp_expansion: got 0"),
        (dict(width=4, mlp_expansion="3"), TypeError, "mlp_expansion: got '3'"),
        (dict(width=4, conv_width=0), ValueError, "conv_width: got 0"),
        (dict(width=4, c=0.0), ValueError, "c: got 0.0"),
        (dict(width=4, epsilon=-1), ValueError, "epsilon: got -1"),
        (dict(width=4, stateful="yes"), TypeError, "stateful: got 'yes'"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        L.GriffinBlock(**kwargs)


def test_bad_inputs_are_named(block):
    layer, params, _ = block
    with pytest.raises(ValueError, match=r"x: got shape \(2, 6, 3\), expected \(batch, time, 4\)"):
        layer.init(jax.random.key(0), _x(shape=(B, T, 3)))
    with pytest.raises(ValueError, match=r"x: got shape \(2, 4\)"):
        layer.apply(params, _x(shape=(B, D)))
    with pytest.raises(ValueError, match=r"mask: got shape \(2, 5\)"):
        layer.apply(params, _x(), mask=jnp.ones((B, T - 1), bool))
    with pytest.raises(ValueError, match=r"state\['conv_1d'\]: got shape \(3, 2, 5\)"):
        layer.step(params, {"conv_1d": jnp.zeros((3, 2, 5)), "rg_lru": jnp.zeros((3, 5))},
                   _x(shape=(B, D)))  # fmt: skip
    with pytest.raises(TypeError, match="state: got"):
        layer.call(params, _x(), state=(1, 2))
