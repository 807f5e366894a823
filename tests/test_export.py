"""Export for serving (`jrnn.export`, `export_step`, `export_chunk_step`): one artifact
with symbolic batch and time axes gives `model.apply`'s outputs at any batch size and
length, and runs in a fresh process that imports only jax and numpy."""

import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import jrnn
from jrnn import layers as L

RTOL, ATOL = 1e-5, 1e-6


def _ids(rng, b, t, vocab=20, low=1):
    return rng.integers(low, vocab, (b, t)).astype(np.int32)


def _floats(rng, b, t, f=5):
    return rng.normal(size=(b, t, f)).astype(np.float32)


def _lm():
    return jrnn.Sequential(
        [
            L.Input((None,), "int32"),
            L.Embedding(20, 8),
            L.LSTM(16, return_sequences=True),
            L.Dense(20),
        ]
    )


def _gru():
    return jrnn.Sequential([L.GRU(16), L.Dense(3)])


def _close(got, want):
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=RTOL, atol=ATOL)


def _zero_carry(exported, batch, arg=0):
    """What a served process does: zeros shaped as the artifact's carry argument."""
    args, _ = jax.tree.unflatten(exported.in_tree, exported.in_avals)
    return jax.tree.map(lambda a: np.zeros((batch, *a.shape[1:]), a.dtype), args[arg])


# -- the served process -------------------------------------------------------------------
SERVE = textwrap.dedent(
    """
    import sys

    import jax
    import numpy as np
    from jax import export

    assert "jrnn" not in sys.modules
    want = np.load("expected.npz")


    def load(name):
        with open(name + ".bin", "rb") as f:
            return export.deserialize(bytearray(f.read()))


    for name in ("lm", "gru"):
        exported = load(name)
        for i in range(4):
            got = np.asarray(exported.call(want[f"{name}_x{i}"]))
            np.testing.assert_allclose(got, want[f"{name}_y{i}"], rtol=1e-5, atol=1e-6)

    step = load("step")
    (carry_avals, _), _ = jax.tree.unflatten(step.in_tree, step.in_avals)
    tokens = want["start"]
    carry = jax.tree.map(
        lambda a: np.zeros((len(tokens), *a.shape[1:]), a.dtype), carry_avals
    )
    out = []
    for _ in range(want["greedy"].shape[1]):
        carry, logits = step.call(carry, tokens)
        tokens = np.argmax(np.asarray(logits), axis=-1).astype(np.int32)
        out.append(tokens)
    np.testing.assert_array_equal(np.stack(out, axis=1), want["greedy"])
    assert "jrnn" not in sys.modules
    print("served ok")
    """
)


def test_served_in_a_process_without_jrnn(tmp_path):
    rng = np.random.default_rng(0)
    expected = {}
    for name, model, make in (
        ("lm", _lm(), lambda b, t: _ids(rng, b, t)),
        ("gru", _gru(), lambda b, t: _floats(rng, b, t)),
    ):
        example = make(2, 7)
        variables = model.init(jax.random.key(1), example)
        exported = jrnn.export(model, variables, example)
        (tmp_path / f"{name}.bin").write_bytes(exported.serialize())
        for i, (b, t) in enumerate([(1, 3), (4, 3), (1, 12), (5, 9)]):
            x = make(b, t)
            expected[f"{name}_x{i}"] = x
            expected[f"{name}_y{i}"] = jrnn.predict(model, variables, x)

    lm = _lm()
    variables = lm.init(jax.random.key(2), _ids(rng, 2, 7))
    step = jrnn.export_step(lm, variables)
    (tmp_path / "step.bin").write_bytes(step.serialize())
    fn, init = jrnn.lm_step(lm, variables)
    start = np.array([3, 7, 1], np.int32)
    seqs, _, _ = jrnn.decode.greedy_decode(fn, init(3), start, 6)
    expected["start"], expected["greedy"] = start, np.asarray(seqs[:, 0])
    np.savez(tmp_path / "expected.npz", **expected)

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["JAX_PLATFORMS"] = "cpu"
    done = subprocess.run(
        [sys.executable, "-c", SERVE],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "served ok" in done.stdout


# -- symbolic shapes through the common models ----------------------------------------------
def _encoder_decoder():
    enc_in, dec_in = L.Input((None,), "int32"), L.Input((None,), "int32")
    _, h, c = L.LSTM(8, return_state=True)(L.Embedding(20, 8, mask_zero=True)(enc_in))
    y = L.LSTM(8, return_sequences=True)(L.Embedding(20, 8)(dec_in), initial_state=[h, c])
    return jrnn.Model([enc_in, dec_in], L.Dense(20)(y))


def _masked_ids(rng, b, t):
    x = _ids(rng, b, t)
    x[0, t // 2 :] = 0  # right padding
    x[-1, : t // 2] = 0  # left padding
    return x


MODELS = {
    "mask_zero_simple_rnn": (
        lambda: jrnn.Sequential([L.Embedding(20, 8, mask_zero=True), L.SimpleRNN(8), L.Dense(3)]),
        "ids",
    ),
    "bidirectional_stacked": (
        lambda: jrnn.Sequential(
            [
                L.Embedding(20, 8, mask_zero=True),
                L.Bidirectional(L.LSTM(8, return_sequences=True)),
                L.GRU(8),
                L.Dense(3),
            ]
        ),
        "ids",
    ),
    "conv1d_same": (
        lambda: jrnn.Sequential(
            [
                L.Conv1D(8, 3, padding="same", activation="relu"),
                L.MaxPooling1D(2, padding="same"),
                L.GRU(8),
                L.Dense(3),
            ]
        ),
        "floats",
    ),
    "stacked_cells_time_distributed": (
        lambda: jrnn.Sequential(
            [
                L.RNN([jrnn.LSTMCell(8), jrnn.GRUCell(8)], return_sequences=True),
                L.TimeDistributed(L.Dense(3)),
                L.GlobalMaxPooling1D(),
            ]
        ),
        "floats",
    ),
    "unroll_true": (lambda: jrnn.Sequential([L.LSTM(8, unroll=True), L.Dense(3)]), "floats"),
    "unroll_4": (lambda: jrnn.Sequential([L.GRU(8, unroll=4), L.Dense(3)]), "floats"),
    "encoder_decoder": (_encoder_decoder, "two"),
    # a minimum length, declared to jax.export
    "conv1d_valid": (
        lambda: jrnn.Sequential([L.Conv1D(8, 3), L.SimpleRNN(8), L.Dense(3)]),
        "floats",
        {"constraints": ("t >= 3",)},
    ),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_symbolic_batch_and_time(name):
    build, kind, *options = MODELS[name]
    rng = np.random.default_rng(0)

    def make(b, t):
        if kind == "ids":
            return _masked_ids(rng, b, t)
        if kind == "floats":
            return _floats(rng, b, t)
        return [_masked_ids(rng, b, t), _ids(rng, b, t + 2)]  # lengths differ

    model = build()
    example = make(2, 6)
    variables = model.init(jax.random.key(0), example)
    exported = jrnn.export(model, variables, example, **(options[0] if options else {}))
    assert not any(isinstance(d, int) for d in exported.in_avals[0].shape[:2])
    for b, t in [(3, 5), (1, 9)]:
        x = make(b, t)
        _close(exported.call(x), model.apply(variables, x)[0])


def test_fixed_axes():
    """batch=None / time=None keep the example's sizes; a length fixed by the model's
    Input stays fixed."""
    rng = np.random.default_rng(0)
    model, x = _gru(), _floats(rng, 2, 7)
    variables = model.init(jax.random.key(0), x)
    exported = jrnn.export(model, variables, x, batch=None)
    assert exported.in_avals[0].shape[0] == 2 and not isinstance(exported.in_avals[0].shape[1], int)
    exported = jrnn.export(model, variables, x, time=None)
    assert exported.in_avals[0].shape[1:] == (7, 5)
    x3 = _floats(rng, 3, 7)
    _close(exported.call(x3), model.apply(variables, x3)[0])

    fixed = jrnn.Sequential([L.Input((7, 5)), L.GRU(4)])
    exported = jrnn.export(fixed, fixed.init(jax.random.key(0)), x)
    assert exported.in_avals[0].shape[1:] == (7, 5)


def test_time_names_per_input():
    """One string gives several inputs their own time symbols; a list names them."""
    rng = np.random.default_rng(0)
    model = _encoder_decoder()
    x = [_ids(rng, 2, 5), _ids(rng, 2, 5)]
    variables = model.init(jax.random.key(0), x)
    a, b = jrnn.export(model, variables, x).in_avals
    assert str(a.shape[1]) == "t0" and str(b.shape[1]) == "t1"
    a, b = jrnn.export(model, variables, x, time=["n", None]).in_avals
    assert str(a.shape[1]) == "n" and b.shape[1] == 5


def test_several_platforms():
    """One artifact lowered for CPU and CUDA (on this CPU-only machine) runs here."""
    rng = np.random.default_rng(0)
    model, x = _gru(), _floats(rng, 2, 7)
    variables = model.init(jax.random.key(0), x)
    exported = jrnn.export(model, variables, x, platforms=("cpu", "cuda"))
    assert exported.platforms == ("cpu", "cuda")
    exported = jax.export.deserialize(exported.serialize())
    x = _floats(rng, 3, 4)
    _close(exported.call(x), model.apply(variables, x)[0])


# -- the step exports ---------------------------------------------------------------------
def test_export_step_equals_lm_step():
    rng = np.random.default_rng(0)
    model = jrnn.Sequential(
        [L.Embedding(20, 8, mask_zero=True), L.GRU(8, return_sequences=True), L.Dense(20)]
    )
    variables = model.init(jax.random.key(0), _ids(rng, 2, 5))
    exported = jrnn.export_step(model, variables)
    fn, init = jrnn.lm_step(model, variables)
    for b in (1, 4):
        carry, want_carry = _zero_carry(exported, b), init(b)
        for _ in range(3):
            tokens = _ids(rng, b, 1, low=0)[:, 0]  # 0 is padding: the carry is kept
            carry, logits = exported.call(carry, tokens)
            want_carry, want = fn(want_carry, tokens)
            _close(logits, want)
            _close(carry, want_carry)
    assert jrnn.export_step(model, variables, batch=3).in_avals[-1].shape == (3,)


def test_export_chunk_step_streams_a_stateful_model():
    rng = np.random.default_rng(0)
    model = jrnn.Sequential([L.LSTM(8, stateful=True, return_sequences=True), L.Dense(2)])
    x = _floats(rng, 2, 8)
    variables = model.init(jax.random.key(0), x)
    exported = jax.export.deserialize(
        jrnn.export_chunk_step(model, variables, x[:, :3]).serialize()
    )
    for b in (2, 3):
        x = _floats(rng, b, 8)
        whole, final = model.apply(model.reset_states(variables, b), x)
        state, ys = _zero_carry(exported, b), []
        for chunk in (x[:, :3], x[:, 3:4], x[:, 4:]):
            state, y = exported.call(state, chunk)
            ys.append(y)
        _close(np.concatenate(ys, axis=1), whole)
        _close(state, final)


# -- bad input ----------------------------------------------------------------------------
def test_errors_name_the_argument():
    rng = np.random.default_rng(0)
    model, x = _gru(), _floats(rng, 2, 7)
    variables = model.init(jax.random.key(0), x)
    with pytest.raises(TypeError, match="model: got"):
        jrnn.export(object(), variables, x)
    with pytest.raises(TypeError, match="variables: got"):
        jrnn.export(model, variables["params"], x)
    with pytest.raises(ValueError, match="example_inputs: got 2 arrays, expected 1"):
        jrnn.export(model, variables, [x, x])
    with pytest.raises(ValueError, match="platforms: got"):
        jrnn.export(model, variables, x, platforms=("gpu",))
    with pytest.raises(ValueError, match="time: got"):
        jrnn.export(model, variables, x, time=["t", "u"])
    with pytest.raises(TypeError, match="batch: got"):
        jrnn.export(model, variables, x, batch=3)
    with pytest.raises(ValueError, match="batch, time: got"):
        jrnn.export(model, variables, x, batch="not a name")
    with pytest.raises(TypeError, match="constraints: got"):
        jrnn.export(model, variables, x, constraints="t >= 3")
    conv = jrnn.Sequential([L.Conv1D(2, 3), L.GRU(2)])  # "valid": needs t >= 3
    with pytest.raises(ValueError, match="some layer needs a concrete size"):
        jrnn.export(conv, conv.init(jax.random.key(0), x), x)
    with pytest.raises(ValueError, match="has no stateful layer"):
        jrnn.export_chunk_step(model, variables, x)

    stateful = jrnn.Sequential([L.LSTM(4, stateful=True)])
    sv = stateful.init(jax.random.key(0), x)
    with pytest.raises(ValueError, match="batch: got 'b' for a model with stateful layers"):
        jrnn.export(stateful, sv, x)
    assert jrnn.export(stateful, sv, x, batch=None).in_avals[0].shape[0] == 2

    with pytest.raises(ValueError, match="no layer with a carry"):
        jrnn.export_step(jrnn.Sequential([L.Embedding(5, 3), L.Dense(5)]), {"params": {}})


def test_engine_with_symbolic_sizes():
    """`jrnn.unroll` itself under symbolic batch and time: fused and plain-scan paths,
    `lengths`, and a given carry (checked against `initial_carry` of a symbolic batch)."""
    cell = jrnn.GRUCell(6)
    params = cell.init(jax.random.key(0), 4)

    def run(xs, lengths, h0):
        fused = jrnn.unroll(cell, params, xs, lengths=lengths, carry=h0)
        plain = jrnn.unroll(cell, params, xs, lengths=lengths, carry=h0, fast=False)
        return fused, plain

    b, t = jax.export.symbolic_shape("b, t")
    exported = jax.export.export(jax.jit(run))(
        jax.ShapeDtypeStruct((b, t, 4), np.float32),
        jax.ShapeDtypeStruct((b,), np.int32),
        jax.ShapeDtypeStruct((b, 6), np.float32),
    )
    rng = np.random.default_rng(0)
    for n, steps in [(2, 3), (5, 8)]:
        xs, h0 = _floats(rng, n, steps, 4), rng.normal(size=(n, 6)).astype(np.float32)
        lengths = rng.integers(0, steps + 1, n).astype(np.int32)
        got = exported.call(xs, lengths, h0)
        _close(got, run(xs, lengths, h0))
        _close(got[0], got[1])


def test_inputs_of_equal_length_share_a_symbol():
    """Inputs joined step by step need one time symbol: the default (one per input) is
    refused with the hint, and time=["t", "t"] exports."""
    a, b = L.Input((None, 3)), L.Input((None, 2))
    model = jrnn.Model([a, b], L.LSTM(4)(L.Concatenate()([a, b])))
    rng = np.random.default_rng(0)
    x = [_floats(rng, 2, 5, 3), _floats(rng, 2, 5, 2)]
    variables = model.init(jax.random.key(0), x)
    with pytest.raises(ValueError, match=r"time=\['t', 't'\]"):
        jrnn.export(model, variables, x)
    exported = jrnn.export(model, variables, x, time=["t", "t"])
    x = [_floats(rng, 3, 7, 3), _floats(rng, 3, 7, 2)]
    _close(exported.call(x), model.apply(variables, x)[0])
