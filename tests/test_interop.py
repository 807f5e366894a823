"""Flax linen, Flax NNX and Equinox cells through jrnn (`jrnn.interop`), Flax weights in
jrnn's cells (`jrnn.from_flax`), and jrnn layers trained as NNX modules (`NNXLayer`).

The references are the wrapped modules themselves: a Python loop over each sequence's
valid steps calling the module's own step (in the module's carry order), Flax's
`nn.RNN` / `nnx.RNN` / `nn.Bidirectional`, and the gradients of those. Equinox is
optional: its cases skip when it is not installed.

Small shapes, one compilation per case: the file runs in seconds.
"""

from __future__ import annotations

import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import jrnn
from jrnn.interop import EquinoxCell, FlaxCell, NNXCell, NNXLayer

B, T, I, H = 3, 4, 3, 5
LENGTHS = np.array([4, 2, 0])
ATOL = 1e-5


@pytest.fixture(autouse=True)
def _highest_precision():
    with jax.default_matmul_precision("highest"):
        yield


def _xs(seed=0, shape=(B, T, I)):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def _close(got, want, atol=ATOL):
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), atol=atol, rtol=1e-5)


def _perturbed(tree, seed=1):
    # Flax initialises biases to zero; non-zero ones test where each bias goes. (NumPy
    # noise: eager JAX ops would compile once per leaf shape.)
    rng = np.random.default_rng(seed)

    def noise(a):
        if isinstance(a, jax.ShapeDtypeStruct):  # a shape alone: random values
            return 0.3 * rng.standard_normal(a.shape, np.float32)
        return np.asarray(a) + 0.3 * rng.standard_normal(np.shape(a), np.float32)

    return jax.tree.map(noise, tree)


# Cells are static pytrees, so jit takes them as ordinary arguments (one compilation per
# cell and shapes).
_unroll = jax.jit(jrnn.unroll, static_argnames=("reverse",))


def _eqx():
    return pytest.importorskip("equinox")


# Flax cells with zero weights, made random by `_perturbed` with NumPy: Flax's own
# initializers run eagerly and compile once per weight shape (seconds per file).
ZERO = {
    "kernel_init": nn.initializers.zeros_init(),
    "recurrent_kernel_init": nn.initializers.zeros_init(),
}


def _eqx_module(cls, seed=0):
    """An Equinox cell (I -> H) with NumPy random weights (for the same reason)."""
    shapes = _eqx().filter_eval_shape(cls, I, H, key=jax.random.key(0))
    return _perturbed(shapes, seed)


# name -> (adapter, one step of the wrapped module in its own terms: (params, carry, x)
# -> (carry, y) for one example, and whether the module's LSTM carry is Flax's (c, h))
def _linen_lstm():
    cell = FlaxCell(nn.LSTMCell(H, **ZERO))
    return cell, lambda p, c, x: cell.module.apply(p, c, x), True


def _linen_gru():
    cell = FlaxCell(nn.GRUCell(H, **ZERO))
    return cell, lambda p, c, x: cell.module.apply(p, c, x), False


def _nnx_lstm():
    cell = NNXCell(nnx.OptimizedLSTMCell(I, H, rngs=nnx.Rngs(0), **ZERO))
    return cell, lambda p, c, x: nnx.merge(cell._graphdef, p)(c, x), True


def _nnx_gru():
    cell = NNXCell(nnx.GRUCell(I, H, rngs=nnx.Rngs(0), **ZERO))
    return cell, lambda p, c, x: nnx.merge(cell._graphdef, p)(c, x), False


def _eqx_lstm():
    eqx = _eqx()
    cell = EquinoxCell(_eqx_module(eqx.nn.LSTMCell))

    def step(p, c, x):
        new = eqx.combine(p, cell._static)(x, c)
        return new, new[0]

    return cell, step, False


def _eqx_gru():
    eqx = _eqx()
    cell = EquinoxCell(_eqx_module(eqx.nn.GRUCell))

    def step(p, c, x):
        new = eqx.combine(p, cell._static)(x, c)
        return new, new

    return cell, step, False


ADAPTERS = {
    "linen_lstm": _linen_lstm,
    "linen_gru": _linen_gru,
    "nnx_lstm": _nnx_lstm,
    "nnx_gru": _nnx_gru,
    "eqx_lstm": _eqx_lstm,
    "eqx_gru": _eqx_gru,
}


def _loop(step, params, carry, xs, lengths, reverse, flax_order):
    """The reference: each sequence alone, its valid steps in order (or reversed), with
    the module's own step; outputs at their input positions, zeros at padding."""
    ys = np.zeros(xs.shape[:2] + (H,), np.float32)
    finals = []
    for b in range(xs.shape[0]):
        c = jax.tree.map(lambda a, b=b: a[b], carry)
        if flax_order:
            c = (c[1], c[0])
        steps = range(lengths[b])
        for t in reversed(steps) if reverse else steps:
            c, y = step(params, c, xs[b, t])
            ys[b, t] = np.asarray(y)
        finals.append((c[1], c[0]) if flax_order else c)
    final = jax.tree.map(lambda *a: jnp.stack(a), *finals)
    return final, ys


@pytest.mark.parametrize("name", list(ADAPTERS))
def test_adapter_unroll_matches_a_loop_over_the_module(name):
    cell, step, flax_order = ADAPTERS[name]()
    params = _perturbed(cell.init(jax.random.key(0), I))
    xs = _xs()
    # A non-zero start carry, in jrnn's order: checks the (h, c) <-> (c, h) swap.
    carry = _perturbed(cell.initial_carry(B), seed=2)

    @jax.jit
    def both_directions(cell, params, xs, carry):  # one compilation for the two
        return [
            jrnn.unroll(cell, params, xs, carry=carry, lengths=LENGTHS, reverse=reverse)
            for reverse in (False, True)
        ]

    step = jax.jit(step)  # one compilation for every step of the reference, not op by op
    for reverse, (got_carry, got_ys) in zip(
        (False, True), both_directions(cell, params, xs, carry)
    ):
        want_carry, want_ys = _loop(step, params, carry, xs, LENGTHS, reverse, flax_order)
        _close(got_ys, want_ys)
        _close(got_carry, want_carry)


def test_lstm_carries_are_jrnn_order_and_interchange_with_jrnn_lstm():
    cell = FlaxCell(nn.LSTMCell(H, **ZERO))
    variables = _perturbed(cell.init(jax.random.key(0), I))
    jcell = jrnn.LSTMCell(H)
    jparams = jrnn.from_flax(jcell, variables)
    xs = _xs()
    later = np.broadcast_to(np.arange(T) >= 2, (B, T))

    @jax.jit
    def run(variables, jparams, xs):
        (h, c), ys = jrnn.unroll(cell, variables, xs)
        # One cell's carry continues in the other: the Flax cell's carry after 2 steps
        # starts jrnn's LSTM at step 2 (a mask that pads on the left).
        k2, _ = jrnn.unroll(cell, variables, xs, lengths=np.full(B, 2))
        _, ys_mixed = jrnn.unroll(jcell, jparams, xs, carry=k2, mask=later)
        return h, ys, ys_mixed

    h, ys, ys_mixed = run(variables, jparams, xs)
    _close(ys[:, -1], h)  # h first, as jrnn.LSTMCell's carry
    _close(ys_mixed[:, 2:], ys[:, 2:])


def test_layers_stack_and_bidirectional_take_adapters():
    eqx = _eqx()
    xs = _xs()
    fw = FlaxCell(nn.GRUCell(H, **ZERO))
    bw = EquinoxCell(_eqx_module(eqx.nn.LSTMCell, seed=1))
    bi = jrnn.bidirectional(fw, bw)
    nnx_top = NNXCell(nnx.LSTMCell(H, H, rngs=nnx.Rngs(1), **ZERO))
    stacked = jrnn.stack([fw, nnx_top])
    layer = jrnn.layers.RNN(FlaxCell(nn.LSTMCell(H, **ZERO)), return_state=True)
    params = _perturbed(bi.init(jax.random.key(0), I))
    sp = _perturbed(stacked.init(jax.random.key(0), I))
    lp = _perturbed(layer.init(jax.random.key(0), xs))
    mask = np.arange(T)[None] < LENGTHS[:, None]

    @jax.jit  # one compilation for all of it
    def run(params, sp, lp, xs):
        def unroll(cell, p, x, **kw):
            return jrnn.unroll(cell, p, x, lengths=LENGTHS, **kw)

        mid = unroll(fw, sp[0], xs)[1]
        return {
            "bi": unroll(bi, params, xs)[1],
            "bi_ref": jnp.concatenate(
                [
                    unroll(fw, params["forward"], xs)[1],
                    unroll(bw, params["backward"], xs, reverse=True)[1],
                ],
                -1,
            ),
            "stack": unroll(stacked, sp, xs),
            "stack_ref": unroll(nnx_top, sp[1], mid),
            "layer": layer.apply(lp, xs, mask=mask),
            "layer_ref": unroll(layer.cell, lp, xs)[0],
        }

    got = run(params, sp, lp, xs)
    _close(got["bi"], got["bi_ref"])
    (_, k_top), ys = got["stack"]
    (h, _), want = got["stack_ref"]
    _close(ys, want)
    _close(k_top[0], h)
    out, h, c = got["layer"]
    h_ref, c_ref = got["layer_ref"]
    _close(out, h_ref)  # the output is h, the first entry of jrnn's (h, c)
    _close((h, c), (h_ref, c_ref))


def test_equinox_cell_unbatched():
    eqx = _eqx()
    cell = EquinoxCell(_eqx_module(eqx.nn.GRUCell))
    params = cell.init(jax.random.key(0), I)
    xs = _xs()
    _, ys = _unroll(cell, params, xs)
    _, y0 = _unroll(cell, params, xs[0])  # (T, I): no batch axis
    _close(y0, ys[0])


def test_gradients_match_nn_rnn():
    """Gradients through FlaxCell (the plain scan) and through jrnn's GRUCell with
    from_flax weights (the fused backward) equal those through Flax's nn.RNN."""
    flax_cell = nn.GRUCell(H, **ZERO)
    rnn = nn.RNN(flax_cell)
    xs = _xs()
    variables = _perturbed(rnn.init(jax.random.key(0), xs))
    inner = {"params": variables["params"]["cell"]}
    jcell = jrnn.GRUCell(H)
    jparams = jrnn.from_flax(jcell, variables)

    def loss(ys):
        return jnp.sum(jnp.sin(ys))

    @jax.jit  # one compilation for the three
    def grads(variables, inner, jparams, xs):
        ref = jax.grad(lambda v, x: loss(rnn.apply(v, x)), argnums=(0, 1))(variables, xs)
        adapter = jax.grad(
            lambda p, x: loss(jrnn.unroll(FlaxCell(flax_cell), p, x)[1]), argnums=(0, 1)
        )(inner, xs)
        fused = jax.grad(lambda x: loss(jrnn.unroll(jcell, jparams, x)[1]))(xs)
        return ref, adapter, fused

    ref, adapter, fused = grads(variables, inner, jparams, xs)
    _close(adapter[0]["params"], ref[0]["params"]["cell"])
    _close(adapter[1], ref[1])
    _close(fused, ref[1])


@pytest.mark.parametrize("name", ["nnx_gru", "eqx_lstm"])
def test_grads_flow_through_nnx_and_equinox_params(name):
    cell, _, _ = ADAPTERS[name]()
    params = _perturbed(cell.init(jax.random.key(0), I))
    xs = _xs()

    def loss(p):
        return jnp.sum(jrnn.unroll(cell, p, xs, lengths=LENGTHS)[1] ** 2)

    grads = jax.jit(jax.grad(loss))(params)
    assert jax.tree.structure(grads) == jax.tree.structure(params)
    assert all(float(jnp.abs(g).sum()) > 0 for g in jax.tree.leaves(grads))


# ------------------------------------------------------------------ from_flax ----------
LINEN = {
    "lstm": (nn.LSTMCell(H, **ZERO), jrnn.LSTMCell(H)),
    "optimized_lstm": (nn.OptimizedLSTMCell(H, **ZERO), jrnn.LSTMCell(H, forget_bias=1.0)),
    "gru": (nn.GRUCell(H, **ZERO), jrnn.GRUCell(H)),
    "simple": (nn.SimpleCell(H, **ZERO), jrnn.SimpleRNNCell(H)),
}


@pytest.mark.parametrize("name", list(LINEN))
def test_from_flax_linen_matches_nn_rnn(name):
    flax_cell, cell = LINEN[name]
    xs = _xs()
    rnn = nn.RNN(flax_cell, return_carry=True)
    variables = _perturbed(rnn.init(jax.random.key(0), xs))
    lengths = np.maximum(LENGTHS, 1)  # Flax's final carry of an empty sequence is not h0
    carry_ref, ys_ref = jax.jit(rnn.apply)(variables, xs, seq_lengths=lengths)
    params = jrnn.from_flax(cell, variables)
    carry, ys = _unroll(cell, params, xs, lengths=lengths)
    valid = (np.arange(T)[None] < lengths[:, None])[..., None]
    _close(ys * valid, ys_ref * valid)  # Flax leaves padded outputs as they fall
    if isinstance(cell, jrnn.LSTMCell):
        carry_ref = (carry_ref[1], carry_ref[0])  # Flax (c, h) -> jrnn (h, c)
    _close(carry, carry_ref)


@pytest.mark.parametrize(
    "flax_cell, cell",
    [
        (nnx.LSTMCell(I, H, rngs=nnx.Rngs(0), **ZERO), jrnn.LSTMCell(H)),
        (nnx.OptimizedLSTMCell(I, H, rngs=nnx.Rngs(0), **ZERO), jrnn.LSTMCell(H)),
        (nnx.GRUCell(I, H, rngs=nnx.Rngs(0), **ZERO), jrnn.GRUCell(H)),
        (nnx.SimpleCell(I, H, residual=True, rngs=nnx.Rngs(0), **ZERO), jrnn.SimpleRNNCell(H)),
    ],
    ids=["lstm", "optimized_lstm", "gru", "simple_residual"],
)
def test_from_flax_nnx_matches_nnx_rnn(flax_cell, cell):
    rnn = nnx.RNN(flax_cell)
    nnx.update(rnn, _perturbed(nnx.state(rnn, nnx.Param)))
    xs = _xs()
    params = jrnn.from_flax(cell, rnn)
    lengths = np.maximum(LENGTHS, 1)
    _, ys = _unroll(cell, params, xs, lengths=lengths)  # compiled as for the linen cases
    valid = (np.arange(T)[None] < lengths[:, None])[..., None]
    _close(ys * valid, rnn(xs, seq_lengths=lengths) * valid)
    if not getattr(flax_cell, "residual", False):  # a State does not say `residual`
        _close(jrnn.from_flax(cell, nnx.state(flax_cell)), params)


def test_from_flax_bidirectional_and_stack():
    xs = _xs()
    bi_flax = nn.Bidirectional(nn.RNN(nn.LSTMCell(H, **ZERO)), nn.RNN(nn.GRUCell(H, **ZERO)))
    variables = _perturbed(bi_flax.init(jax.random.key(0), xs))
    bi = jrnn.bidirectional(jrnn.LSTMCell(H), jrnn.GRUCell(H))
    params = jrnn.from_flax(bi, variables)
    ys, ys_ref = jax.jit(lambda p, v: (jrnn.unroll(bi, p, xs)[1], bi_flax.apply(v, xs)))(
        params, variables
    )
    _close(ys, ys_ref)

    # A stack takes one entry per layer (each layer's parity is tested above).
    v0 = _perturbed(nn.GRUCell(H, **ZERO).init(jax.random.key(0), np.zeros(H), np.zeros(I)))
    v1 = _perturbed(nn.SimpleCell(H, **ZERO).init(jax.random.key(0), np.zeros(H), np.zeros(H)))
    stacked = jrnn.stack([jrnn.GRUCell(H), jrnn.SimpleRNNCell(H)])
    want = (jrnn.from_flax(stacked.cells[0], v0), jrnn.from_flax(stacked.cells[1], v1))
    _close(jrnn.from_flax(stacked, [v0, v1]), want)


# ------------------------------------------------------------------ NNXLayer -----------
def test_nnx_layer_trains_with_an_nnx_optimizer():
    xs = _xs(shape=(8, T, I))
    target = np.sin(xs.sum(-1, keepdims=True))
    rnn = NNXLayer(jrnn.layers.SimpleRNN(H, return_sequences=True), xs, rngs=nnx.Rngs(0))
    head = nnx.Linear(H, 1, kernel_init=nnx.initializers.constant(0.1), rngs=nnx.Rngs(1))
    model = nnx.List([rnn, head])
    optimizer = nnx.Optimizer(model, optax.adam(3e-2), wrt=nnx.Param)
    before = rnn.jrnn_params()

    @nnx.jit
    def train_step(model, optimizer, x, y):
        def loss_fn(model):
            return jnp.mean((model[1](model[0](x)) - y) ** 2)

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    losses = [float(train_step(model, optimizer, xs, target)) for _ in range(8)]
    assert losses[-1] < 0.7 * losses[0], losses
    after = rnn.jrnn_params()
    assert not np.allclose(after["kernel"], before["kernel"])
    # The trained params run the jrnn layer outside NNX, with the same result.
    _close(rnn.layer.apply(after, xs), rnn(xs))


@pytest.mark.parametrize("as_model", [False, True], ids=["layer", "model"])
def test_nnx_layer_keeps_a_stateful_layer_state(as_model):
    xs = _xs()
    layer = jrnn.layers.GRU(H, stateful=True, name="gru")
    if as_model:
        wrapped = jrnn.Sequential([jrnn.Input((None, I), batch_size=B), layer])
    else:
        wrapped = layer
    rnn = NNXLayer(wrapped, xs, rngs=nnx.Rngs(0))
    call = nnx.jit(lambda rnn, x: rnn(x))
    y1 = call(rnn, xs)
    y2 = call(rnn, xs)  # continues from the first call's final carry
    params = rnn.jrnn_params()["gru"] if as_model else rnn.jrnn_params()
    carry, _ = _unroll(layer.cell, params, np.concatenate([xs, xs], 1))
    _close(y2, carry)
    assert not np.allclose(y1, y2)


def test_equinox_missing_gives_an_install_hint(monkeypatch):
    eqx = _eqx()
    module = _eqx_module(eqx.nn.GRUCell)
    monkeypatch.setitem(sys.modules, "equinox", None)  # `import equinox` raises
    with pytest.raises(ImportError, match="pip install equinox"):
        EquinoxCell(module)
