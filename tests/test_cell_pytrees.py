"""Cells travel in pytrees: each is a pytree node with no leaves and itself as static
data, so it can be an ordinary `jax.jit` argument or sit beside the parameters in a tree
given to Optax, without JAX tracing its fields (issue 16, item 2)."""

import functools
import importlib.resources
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jrnn

CELLS = {
    "lstm": jrnn.LSTMCell(8),
    "gru_bf16": jrnn.GRUCell(8, dtype="bfloat16"),
    "simple_rnn": jrnn.SimpleRNNCell(8),
    "mingru": jrnn.MinGRUCell(8),
    "lru": jrnn.LRUCell(8, state_units=4),
    "stack": jrnn.stack([jrnn.LSTMCell(8), jrnn.GRUCell(8)]),
    "bidirectional": jrnn.bidirectional(jrnn.GRUCell(8), jrnn.GRUCell(8)),
}


@pytest.mark.parametrize("name", list(CELLS))
def test_a_cell_is_a_static_pytree_node(name):
    cell = CELLS[name]
    leaves, treedef = jax.tree.flatten(cell)
    assert leaves == [] and jax.tree.unflatten(treedef, []) == cell
    assert jax.tree.map(lambda a: a + 1, {"cell": cell, "w": 1.0}) == {"cell": cell, "w": 2.0}


def test_a_cell_is_an_ordinary_jit_argument_and_optax_state_beside_its_params():
    xs = jax.random.normal(jax.random.key(0), (2, 5, 8))

    @jax.jit
    def run(cell, params, xs):  # cell not static: it is static data of its own pytree
        return jrnn.unroll(cell, params, xs)[1]

    for name in ("lstm", "mingru", "stack"):  # the fused, linear and stacked paths
        cell = CELLS[name]
        params = cell.init(jax.random.key(1), 8)
        np.testing.assert_allclose(run(cell, params, xs), jrnn.unroll(cell, params, xs)[1],
                                   rtol=1e-6, atol=1e-6, err_msg=name)  # fmt: skip
    cell = CELLS["lstm"]
    tree = {"cell": cell, "params": cell.init(jax.random.key(1), 8)}
    opt_state = optax.adam(1e-3).init(tree)
    grads = jax.tree.map(jnp.ones_like, tree)
    updates, _ = optax.adam(1e-3).update(grads, opt_state, tree)
    new = optax.apply_updates(tree, updates)
    assert new["cell"] is cell or new["cell"] == cell
    assert jax.tree.structure(new) == jax.tree.structure(tree)


def test_the_package_is_marked_typed():
    # PEP 561's marker, shipped as package data (pyproject.toml), so type checkers read
    # jrnn's annotations
    assert importlib.resources.files("jrnn").joinpath("py.typed").is_file()
    pyproject = (Path(__file__).parent.parent / "pyproject.toml").read_text()
    assert '[tool.setuptools.package-data]\njrnn = ["py.typed"]' in pyproject


class _Projected:
    """A user cell with only init / initial_carry / __call__ (no output_size): a tanh
    RNN of 6 units whose output is projected to 3 features."""

    def init(self, key, input_size):
        k1, k2, k3 = jax.random.split(key, 3)
        return {"w": jax.random.normal(k1, (input_size, 6)) * 0.3,
                "u": jax.random.normal(k2, (6, 6)) * 0.3,
                "p": jax.random.normal(k3, (6, 3)) * 0.3}  # fmt: skip

    def initial_carry(self, batch_size=None, dtype=jnp.float32):
        return jnp.zeros((6,) if batch_size is None else (batch_size, 6), dtype)

    def __call__(self, params, h, x_t):
        h = jnp.tanh(x_t @ params["w"] + h @ params["u"])
        return h, h @ params["p"]


def test_a_stack_infers_a_user_cells_output_size():
    # the README promises that any object with init, initial_carry and __call__ is a
    # cell; in a stack, the next cell's input width comes from one traced step
    cell = jrnn.stack([_Projected(), jrnn.GRUCell(4)])
    params = cell.init(jax.random.key(0), 5)
    assert params[1]["kernel"].shape == (3, 12)  # GRU: (input 3, 3 gates x 4 units)
    xs = jax.random.normal(jax.random.key(1), (2, 7, 5))
    carry, ys = jrnn.unroll(cell, params, xs)
    c = cell.initial_carry(2)
    for t in range(7):  # the reference: the step in a Python loop
        c, y = cell(params, c, xs[:, t])
        np.testing.assert_allclose(ys[:, t], y, rtol=1e-5, atol=1e-6)


def test_unroll_true_unrolls_every_step_as_lax_scan_does():
    # (issue 16, item 6) True: one scan iteration of all T steps; False: 1 step each
    xs = jax.random.normal(jax.random.key(0), (2, 5, 8))
    for cell in (CELLS["lstm"], _Projected()):  # the fused path and the plain scan
        params = cell.init(jax.random.key(1), 8)
        want = jrnn.unroll(cell, params, xs, unroll=1)[1]
        for flag, steps in ((True, 5), (False, 1)):
            got = jrnn.unroll(cell, params, xs, unroll=flag)[1]
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
            jaxpr = str(
                jax.make_jaxpr(functools.partial(jrnn.unroll, cell, unroll=flag))(params, xs)
            )
            assert f"unroll={steps}" in jaxpr


def test_layers_and_models_are_static_pytree_nodes():
    """A layer and a model are leafless pytree nodes too: an ordinary jit argument, in a
    tree with their variables; the same object reuses the compiled program."""
    layer = jrnn.layers.GRU(6, return_sequences=True)
    model = jrnn.Sequential([layer, jrnn.layers.Dense(2)])
    xs = jnp.ones((2, 5, 3))
    variables = model.init(jax.random.key(0), xs)
    assert jax.tree.leaves(layer) == [] and jax.tree.leaves(model) == []
    traces = []

    @jax.jit
    def run(tree, xs):
        traces.append(1)
        return tree["model"].apply(tree["variables"], xs)

    tree = {"model": model, "variables": variables}
    got = run(tree, xs)
    run(tree, xs + 1.0)
    want = model.apply(variables, xs)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(g, w, atol=1e-6)
    assert len(traces) == 1
    assert optax.adam(1e-3).init(tree)  # Optax sees only the variables
