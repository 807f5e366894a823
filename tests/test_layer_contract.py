"""The layer contract suite: every layer in the registry through the same checks.

init from arrays or ShapeDtypeStructs, documented output shapes, jit == eager (with
training and a key for dropout), masks passed on, created or consumed as documented
(alone and inside a model fed by Embedding(mask_zero=True)), config round trip through
JSON. A layer
added to `jrnn.layers.__all__` without a registry entry fails here. No Keras needed.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from layers_registry import LAYERS, B, T, V

import jrnn
from jrnn import layers as L

ids = list(LAYERS)
LENGTH = 3  # row 1 of a masked example is valid for its first LENGTH steps
MASK = jnp.asarray(np.arange(T)[None, :] < np.array([T, LENGTH])[:, None])


def build(name, seed=0):
    case = LAYERS[name]
    layer, x = case.make(), case.x()
    return case, layer, x, layer.init(jax.random.key(seed), x)


def shapes(tree):
    return jax.tree.map(jnp.shape, tree)


def as_tuple(y):
    return tuple(y) if isinstance(y, (tuple, list)) else (y,)


def assert_trees_close(a, b, rtol=1e-5, atol=1e-6):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=rtol, atol=atol)


def takes_a_mask(case):
    """The example input is one (B, T, ...) sequence, which a (B, T) mask can go with."""
    x = case.x()
    return not isinstance(x, list) and x.ndim >= 2 and x.shape[:2] == (B, T)


def test_every_layer_is_registered():
    registered = {type(case.make()).__name__ for case in LAYERS.values()}
    public = {
        n
        for n in L.__all__
        if isinstance(getattr(L, n), type)
        and issubclass(getattr(L, n), L.Layer)
        and getattr(L, n) is not L.Layer
    }
    missing = public - registered
    assert not missing, f"add these layers to tests/layers_registry.py: {sorted(missing)}"


@pytest.mark.parametrize("name", ids)
def test_init_and_output_shapes(name):
    case, layer, x, params = build(name)
    spec = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), x)
    assert_trees_close(layer.init(jax.random.key(0), spec), params, rtol=0, atol=0)
    assert all(isinstance(p, jax.Array) for p in jax.tree.leaves(params))
    y = layer.apply(params, x)
    want = case.out_shape if isinstance(case.out_shape[0], tuple) else (case.out_shape,)
    assert tuple(np.shape(v) for v in as_tuple(y)) == want
    assert len(as_tuple(y)) == layer.num_outputs
    # the shapes are known without computing (what models use to build)
    assert shapes(jax.eval_shape(lambda p, v: layer.apply(p, v), params, x)) == shapes(y)


@pytest.mark.parametrize("name", ids)
def test_jit_equals_eager(name):
    case, layer, x, params = build(name)
    assert_trees_close(jax.jit(lambda p, v: layer.apply(p, v))(params, x), layer.apply(params, x))
    if case.stochastic:
        key = jax.random.key(3)
        train = lambda p, v: layer.apply(p, v, training=True, key=key)  # noqa: E731
        eager = train(params, x)
        assert_trees_close(jax.jit(train)(params, x), eager)
        assert not np.allclose(np.asarray(as_tuple(eager)[0]), as_tuple(layer.apply(params, x))[0])
        with pytest.raises(ValueError, match="key: got None"):
            layer.apply(params, x, training=True)


@pytest.mark.parametrize("name", [n for n in ids if takes_a_mask(LAYERS[n])])
def test_mask_passed_on_as_documented(name):
    case, layer, x, params = build(name)
    for mask in (None, MASK):
        got, want = layer.compute_mask(x, mask), case.mask_out(x, mask)
        assert jax.tree.structure(got) == jax.tree.structure(want)
        for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
            np.testing.assert_array_equal(np.asarray(g), np.asarray(w))
    if case.uses_mask:
        full = as_tuple(layer.apply(params, x, mask=MASK))
        cut = as_tuple(layer.apply(params, x[1:2, :LENGTH]))
        for f, c in zip(full, cut):
            f = f[1:2]
            if f.ndim >= 2 and f.shape[1] == T:  # outputs over time: the valid steps
                f = f[:, :LENGTH]
            np.testing.assert_allclose(np.asarray(f), np.asarray(c), rtol=1e-5, atol=1e-6)
        unmasked = as_tuple(layer.apply(params, x))
        assert not np.allclose(np.asarray(full[0][1]), np.asarray(unmasked[0][1]))


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in ids
        if takes_a_mask(LAYERS[n])
        and jnp.issubdtype(LAYERS[n].x().dtype, jnp.floating)
        and LAYERS[n].make().num_outputs == 1
    ],
)
def test_mask_from_embedding_in_a_model(name):
    """Embedding(mask_zero=True) -> layer: the model passes the mask to the layer and
    returns the mask the layer passes on."""
    case = LAYERS[name]
    layer = case.make()
    tokens = jnp.asarray(np.array([[1, 2, 3, 4, 5], [6, 1, 2, 0, 0]], np.int32))
    width = case.x().shape[-1]
    model = jrnn.Sequential([L.Embedding(V, width, mask_zero=True, name="emb"), layer])
    variables = model.init(jax.random.key(1), tokens)
    y, mask, _ = model.apply_with_mask(variables, tokens)
    x = L.Embedding(V, width).apply(variables["params"]["emb"], tokens)
    params = variables["params"].get(model.name_of(layer), {})
    assert_trees_close(y, layer.apply(params, x, mask=tokens != 0))
    want = case.mask_out(x, tokens != 0)
    if want is None:
        assert mask is None
    else:
        np.testing.assert_array_equal(np.asarray(mask), np.asarray(want))


@pytest.mark.parametrize("name", ids)
def test_config(name):
    """get_config is plain JSON, and from_config of it (after a JSON round trip) rebuilds
    the layer: the same config, the same params from the same key, the same outputs."""
    case, layer, x, params = build(name)
    config = layer.get_config()
    assert isinstance(config, dict) and "name" in config
    rebuilt = type(layer).from_config(json.loads(json.dumps(config)))
    assert type(rebuilt) is type(layer)
    assert rebuilt.get_config() == config
    assert_trees_close(rebuilt.init(jax.random.key(0), x), params, rtol=0, atol=0)
    assert_trees_close(rebuilt.apply(params, x), layer.apply(params, x), rtol=0, atol=0)
