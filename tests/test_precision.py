"""Every public dtype combination of the built-in cells: float32, bfloat16/float16 compute,
bfloat16/float16 parameters, float64 under `jax_enable_x64`, carries in another float
dtype, and strict dtype promotion (issue 16, item 4)."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jrnn
from jrnn import cells as C
from jrnn import layers as L

# LRU and RG-LRU combine x with their state elementwise: the input width is `units`.
CELLS = ["LSTMCell", "GRUCell", "SimpleRNNCell", "MinGRUCell", "LRUCell", "RGLRUCell"]
H = I = 4
LENGTHS = jnp.array([5, 3])


def _xs(dtype=jnp.float32):
    return jax.random.normal(jax.random.key(1), (2, 5, I)).astype(dtype)


def _loss(cell, fast, carry=None):
    def loss(params, xs):
        _, ys = jrnn.unroll(cell, params, xs, carry=carry, lengths=LENGTHS, fast=fast)
        wide = jnp.float64 if ys.dtype == jnp.float64 else jnp.float32
        return jnp.sum(ys.astype(wide) ** 2)

    return loss


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("low", ["bfloat16", "float16"])
def test_low_precision_params_init_as_rounded_float32(name, low):
    # XLA:CPU has no bfloat16/float16 QR for the orthogonal initializer: parameters are
    # drawn in float32 and rounded, so they equal the float32 cell's, rounded.
    key = jax.random.key(0)
    ref = getattr(C, name)(H).init(key, I)
    got = getattr(C, name)(H, param_dtype=low).init(key, I)
    for r, g in zip(jax.tree.leaves(ref), jax.tree.leaves(got)):
        assert g.dtype == jnp.dtype(low)
        np.testing.assert_array_equal(np.asarray(g), np.asarray(r.astype(low)))


# Each cell with one combination, each combination on a fused and a linear cell.
LOW = [("bfloat16", "float32"), ("bfloat16", "bfloat16"), ("float16", "float16")]


@pytest.mark.parametrize(
    "name, dtype, param_dtype", [(n, *LOW[i % len(LOW)]) for i, n in enumerate(CELLS)]
)
def test_low_precision_runs_close_to_float32_under_strict_promotion(name, dtype, param_dtype):
    """Fast and plain paths agree, stay near float32, keep a float32 state, and trace
    under `jax.numpy_dtype_promotion("strict")`, gradients included."""
    key, xs = jax.random.key(0), _xs()
    ref_cell = getattr(C, name)(H)
    cell = getattr(C, name)(H, dtype=dtype, param_dtype=param_dtype)
    params = cell.init(key, I)
    ref = _loss(ref_cell, True)(ref_cell.init(key, I), xs)
    with jax.numpy_dtype_promotion("strict"):
        (v_fast, g_fast), (v_plain, g_plain) = (
            jax.value_and_grad(_loss(cell, fast))(params, xs.astype(dtype))
            for fast in (True, False)
        )
        carry, ys = jrnn.unroll(cell, params, xs.astype(dtype))
    assert ys.dtype == jnp.dtype(dtype)
    assert all(c.dtype in (jnp.float32, jnp.complex64) for c in jax.tree.leaves(carry))
    np.testing.assert_allclose(v_fast, ref, rtol=5e-2)
    np.testing.assert_allclose(v_fast, v_plain, rtol=2e-2)
    for a, b, p in zip(jax.tree.leaves(g_fast), jax.tree.leaves(g_plain), jax.tree.leaves(params)):
        assert a.dtype == p.dtype and np.all(np.isfinite(np.asarray(a, np.float32)))
        scale = float(jnp.max(jnp.abs(b.astype(jnp.float32)))) + 1e-3
        assert float(jnp.max(jnp.abs((a - b).astype(jnp.float32)))) <= 0.06 * scale


@pytest.mark.parametrize("name", ["LSTMCell", "MinGRUCell"])
def test_carry_in_another_float_dtype(name):
    """A bfloat16 carry from `initial_carry(dtype=)` runs in the cell's float32 state and
    comes back in bfloat16; a carry of integers is refused by name."""
    cell = getattr(C, name)(H)
    params, xs = cell.init(jax.random.key(0), I), _xs()
    low = cell.initial_carry(2, dtype=jnp.bfloat16)
    warm, _ = jrnn.unroll(cell, params, xs)  # a non-zero carry
    warm_low = jax.tree.map(lambda c: c.astype(jnp.bfloat16), warm)
    final, ys = jrnn.unroll(cell, params, xs, carry=warm_low, lengths=LENGTHS)
    widened = jax.tree.map(lambda c: c.astype(jnp.float32), warm_low)
    ref_final, ref_ys = jrnn.unroll(cell, params, xs, carry=widened, lengths=LENGTHS)
    for f, lo in zip(jax.tree.leaves(final), jax.tree.leaves(low)):
        assert f.dtype == lo.dtype
    np.testing.assert_array_equal(np.asarray(ys), np.asarray(ref_ys))
    for f, r in zip(jax.tree.leaves(final), jax.tree.leaves(ref_final)):
        np.testing.assert_array_equal(np.asarray(f), np.asarray(r.astype(f.dtype)))
    ints = jax.tree.map(lambda c: jnp.zeros(c.shape, jnp.int32), cell.initial_carry(2))
    with pytest.raises(TypeError, match=r"carry: got dtype int32, expected a floating-point carry"):
        jrnn.unroll(cell, params, xs, carry=ints)


# The fused path and the linear path with its complex state (the others share them).
@pytest.mark.parametrize("name", ["LSTMCell", "LRUCell"])
def test_float64_under_x64(name):
    """A float64 cell runs in float64 end to end, its fast path equal to the plain one to
    float64 precision and its gradient equal to finite differences; a default (float32)
    cell given float64 inputs casts them, as Keras layers do, and stays float32."""
    with jax.enable_x64(True):
        key = jax.random.key(0)
        xs = _xs(jnp.float64)
        cell = getattr(C, name)(H, param_dtype="float64")
        params = cell.init(key, I)
        assert all(p.dtype == jnp.float64 for p in jax.tree.leaves(params))
        carry, ys = jrnn.unroll(cell, params, xs, lengths=LENGTHS)
        assert ys.dtype == jnp.float64
        assert all(c.dtype in (jnp.float64, jnp.complex128) for c in jax.tree.leaves(carry))
        v_fast, g_fast = jax.value_and_grad(_loss(cell, True))(params, xs)
        v_plain, g_plain = jax.value_and_grad(_loss(cell, False))(params, xs)
        np.testing.assert_allclose(v_fast, v_plain, rtol=1e-12)
        for a, b in zip(jax.tree.leaves(g_fast), jax.tree.leaves(g_plain)):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
        # one directional derivative against a central difference, in float64
        direction = jax.tree.map(lambda p: jnp.ones_like(p) / p.size, params)
        eps = 1e-6
        shift = lambda s: jax.tree.map(lambda p, d: p + s * d, params, direction)  # noqa: E731
        numeric = (_loss(cell, True)(shift(eps), xs) - _loss(cell, True)(shift(-eps), xs)) / (
            2 * eps
        )
        analytic = sum(
            jnp.vdot(g, d) for g, d in zip(jax.tree.leaves(g_fast), jax.tree.leaves(direction))
        )
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6)

        default = getattr(C, name)(H)
        p32 = default.init(key, I)
        assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(p32))
        _, ys32 = jrnn.unroll(default, p32, xs)
        assert ys32.dtype == jnp.float32
        _, ref = jrnn.unroll(default, p32, xs.astype(jnp.float32))
        np.testing.assert_array_equal(np.asarray(ys32), np.asarray(ref))


def test_stack_and_bidirectional_in_bfloat16():
    key, xs = jax.random.key(0), _xs(jnp.bfloat16)
    for cell in (
        jrnn.stack([C.LSTMCell(H, dtype="bfloat16", param_dtype="bfloat16"), C.GRUCell(3)]),
        jrnn.bidirectional(C.GRUCell(H, param_dtype="bfloat16"), C.MinGRUCell(H, dtype="bfloat16")),
    ):
        params = cell.init(key, I)
        with jax.numpy_dtype_promotion("strict"):
            g = jax.grad(_loss(cell, True))(params, xs)
            carry, ys = jrnn.unroll(cell, params, xs, carry=cell.initial_carry(2, jnp.bfloat16))
        assert all(c.dtype == jnp.bfloat16 for c in jax.tree.leaves(carry))
        assert all(np.all(np.isfinite(np.asarray(a, np.float32))) for a in jax.tree.leaves(g))


def test_fit_trains_bfloat16_parameters_and_names_float16_adam_underflow():
    x = np.random.default_rng(0).normal(size=(16, 5, 3)).astype(np.float32)
    y = (x[:, :, 0].sum(1) > 0).astype(np.int32)
    loss = jrnn.losses.SparseCategoricalCrossentropy(from_logits=True)

    def run(param_dtype, optimizer=None):
        model = jrnn.Sequential([L.LSTM(8, param_dtype=param_dtype, dtype=param_dtype), L.Dense(2)])
        variables = model.init(jax.random.key(0), x[:1])
        return jrnn.fit(
            model,
            variables,
            (x, y),
            loss=loss,
            optimizer=optimizer,
            epochs=3,
            batch_size=8,
            verbose=0,
        )

    state, history = run("bfloat16")
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert any(p.dtype == jnp.bfloat16 for p in jax.tree.leaves(state.params))
    # float16 parameters train with an eps float16 can hold; Adam's default underflows,
    # and fit says why.
    _, history = run("float16", optax.adam(1e-3, eps=1e-4))
    assert np.all(np.isfinite(history.history["loss"]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run("float16")
    assert any("float16 parameters" in str(w.message) for w in caught)


@pytest.mark.parametrize("bad", ["int32", "bool", "complex64"])
def test_non_float_dtypes_are_refused_at_construction(bad):
    for arg in ("dtype", "param_dtype"):
        with pytest.raises(ValueError, match=rf"{arg}: got '{bad}', expected a floating-point"):
            C.LSTMCell(H, **{arg: bad})
