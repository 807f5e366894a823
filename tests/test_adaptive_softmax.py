"""AdaptiveSoftmax and AdaptiveSoftmaxLoss: a NumPy hand computation, parity with
PyTorch's nn.AdaptiveLogSoftmaxWithLoss (values and gradients), the training loss against
the full output, saving, and bad arguments. The contract suite runs the layer too
(tests/layers_registry.py: "adaptive_softmax*")."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jrnn
from jrnn.layers import AdaptiveSoftmax
from jrnn.losses import AdaptiveSoftmaxLoss

C, CUTOFFS, H, DIV = 10, [3, 6], 8, 2.0  # tail widths 8 // 2 = 4 and 8 // 4 = 2
N = 12  # rows: every class appears (0..9, then 0, 9)
LABELS = np.array([*range(C), 0, C - 1], np.int32)


def features(shape=(N, H), seed=1):
    return np.asarray(jax.random.normal(jax.random.key(seed), shape), np.float32)


def build(head_bias, seed=0, shape=(N, H)):
    layer = AdaptiveSoftmax(C, CUTOFFS, DIV, head_bias)
    return layer, layer.init(jax.random.key(seed), features(shape))


def np_log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def np_log_prob(params, x):
    """The adaptive softmax by hand, class by class (Grave et al. 2017, eq. in the module)."""
    p = jax.tree.map(np.asarray, params)
    head_logits = x @ p["head"]["kernel"] + p["head"].get("bias", 0.0)
    head = np_log_softmax(head_logits)
    out = np.empty((x.shape[0], C), np.float32)
    edges = [*CUTOFFS, C]
    for y in range(C):
        if y < CUTOFFS[0]:
            out[:, y] = head[:, y]
            continue
        i = max(j for j in range(len(CUTOFFS)) if y >= CUTOFFS[j])
        tail = np_log_softmax(x @ p[f"tail_{i}"]["proj"] @ p[f"tail_{i}"]["out"])
        assert tail.shape[1] == edges[i + 1] - edges[i]
        out[:, y] = head[:, CUTOFFS[0] + i] + tail[:, y - edges[i]]
    return out


def torch_twin(layer, params):
    """PyTorch's module holding the same weights (its Linear weights are (out, in))."""
    module = torch.nn.AdaptiveLogSoftmaxWithLoss(
        H, C, CUTOFFS, div_value=DIV, head_bias=layer.head_bias
    )
    t = lambda a: torch.tensor(np.asarray(a).T.copy())  # noqa: E731
    with torch.no_grad():
        module.head.weight.copy_(t(params["head"]["kernel"]))
        if layer.head_bias:
            module.head.bias.copy_(torch.tensor(np.asarray(params["head"]["bias"])))
        for i, (proj, out) in enumerate(module.tail):
            proj.weight.copy_(t(params[f"tail_{i}"]["proj"]))
            out.weight.copy_(t(params[f"tail_{i}"]["out"]))
    return module


def close(a, b, tol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


@pytest.mark.parametrize("head_bias", [False, True])
def test_log_prob_sums_to_one_and_matches_numpy(head_bias):
    layer, params = build(head_bias)
    x = features()
    log_p = layer.apply(params, x)
    assert log_p.shape == (N, C) and log_p.dtype == jnp.float32
    close(jnp.exp(log_p).sum(-1), np.ones(N))
    close(log_p, np_log_prob(params, x))
    close(layer.log_prob(params, x), log_p, tol=0)


def test_parameter_layout():
    layer, params = build(True)
    got = jax.tree.map(jnp.shape, params)
    assert got == {
        "head": {"kernel": (H, 3 + 2), "bias": (5,)},
        "tail_0": {"proj": (H, 4), "out": (4, 3)},
        "tail_1": {"proj": (H, 2), "out": (2, 4)},
    }
    assert layer.tail_widths(H) == [4, 2] and layer.cluster_bounds() == [(3, 6), (6, 10)]
    # PyTorch's nn.Linear initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert np.abs(params["tail_1"]["out"]).max() <= 1 / np.sqrt(2)
    assert np.abs(params["head"]["kernel"]).max() <= 1 / np.sqrt(H)


def test_parity_with_torch():
    # with the head bias (the layout without it is test_parameter_layout's)
    head_bias = True
    layer, params = build(head_bias, seed=3)
    x = features(seed=4)
    module = torch_twin(layer, params)
    tx, ty = torch.tensor(x, requires_grad=True), torch.tensor(LABELS, dtype=torch.long)
    with torch.no_grad():
        close(layer.log_prob(params, x), module.log_prob(tx).numpy())
        assert np.array_equal(np.asarray(layer.predict(params, x)), module.predict(tx).numpy())
    output, loss = module(tx, ty)
    loss.backward()

    def mean_loss(p, v):
        return jnp.mean(layer.loss_per_example(p, v, LABELS))

    close(layer.loss_per_example(params, x, LABELS), -output.detach().numpy())
    (value, (grads, grad_x)) = jax.jit(jax.value_and_grad(mean_loss, argnums=(0, 1)))(params, x)
    close(value, loss.item())
    close(grad_x, tx.grad.numpy())
    close(grads["head"]["kernel"], module.head.weight.grad.numpy().T)
    if head_bias:
        close(grads["head"]["bias"], module.head.bias.grad.numpy())
    for i, (proj, out) in enumerate(module.tail):
        close(grads[f"tail_{i}"]["proj"], proj.weight.grad.numpy().T)
        close(grads[f"tail_{i}"]["out"], out.weight.grad.numpy().T)


def test_loss_is_the_full_output_gathered_on_sequences_under_jit():
    batch, steps = 3, 4
    layer, params = build(False, shape=(batch, steps, H))
    x = features((batch, steps, H), seed=5)
    labels = np.array(jax.random.randint(jax.random.key(6), (batch, steps), 0, C), np.int32)
    labels[0, :3] = [0, 3, 9]  # shortlist and both clusters' edges, whatever the draw
    loss = AdaptiveSoftmaxLoss()

    @jax.jit  # one compile for every path
    def run(p, v, y):
        log_p = layer.log_prob(p, v)
        return {
            "log_p": log_p,
            "loss": layer.loss_per_example(p, v, y),
            "loss_trailing_1": layer.loss_per_example(p, v, y[..., None]),
            "predict": layer.predict(p, v),
            "per_example": loss.per_example(y, log_p),
            "head_per_example": loss.head_per_example(y, v, layer, p, jax.random.key(0)),
            "mean": loss(y, log_p),
        }

    got = run(params, x, labels)
    log_p = np.asarray(got["log_p"])
    want = -np.take_along_axis(log_p, labels[..., None], -1)[..., 0]
    assert got["loss"].shape == (batch, steps)
    for name in ("loss", "loss_trailing_1", "per_example", "head_per_example"):
        close(got[name], want)
    close(got["predict"], np.argmax(log_p, -1), tol=0)
    close(got["mean"], want.mean())


def test_tails_run_on_their_rows_only_with_the_values_and_gradients_of_all_rows():
    # 64 rows, k of them labelled in a tail: the row capacities 4, 8, 16, 32 and 64 are
    # each picked once; the loss and its gradients equal the full output's
    layer, params = build(head_bias=True, shape=(64, H))
    x = features((64, H), seed=3)

    def from_rows(p, x, labels):
        return jnp.mean(layer.loss_per_example(p, x, labels))

    def from_output(p, x, labels):
        return -jnp.mean(jnp.take_along_axis(layer.log_prob(p, x), labels[:, None], -1))

    got_fn = jax.jit(jax.value_and_grad(from_rows, argnums=(0, 1)))
    want_fn = jax.jit(jax.value_and_grad(from_output, argnums=(0, 1)))
    for in_tails in (0, 1, 3, 7, 20, 64):
        labels = np.zeros(64, np.int32)
        labels[:in_tails] = np.arange(in_tails) % (C - CUTOFFS[0]) + CUTOFFS[0]
        got, want = got_fn(params, x, labels), want_fn(params, x, labels)
        for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, err_msg=f"{in_tails}")


def test_out_of_range_labels_give_nan():
    layer, params = build(False)
    labels = LABELS.copy()
    labels[[1, 5]] = [-1, C]
    for got in (
        layer.loss_per_example(params, features(), labels),
        AdaptiveSoftmaxLoss().per_example(labels, layer.apply(params, features())),
    ):
        assert np.isnan(np.asarray(got)[[1, 5]]).all()
        assert np.isfinite(np.delete(np.asarray(got), [1, 5])).all()
    # pad ids at masked steps: the masked mean and its gradients stay finite
    valid = (labels >= 0) & (labels < C)

    x = features()

    def masked_mean(p):
        values = layer.loss_per_example(p, x, labels)
        return jrnn.losses.reduce_weighted(values, mask=valid)

    value, grads = jax.jit(jax.value_and_grad(masked_mean))(params)
    assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves([value, grads]))


def test_mask_passes_through_and_loss_class_attributes():
    layer = AdaptiveSoftmax(C, CUTOFFS, DIV)
    mask = np.array([[True, True, False], [True, False, False]])
    assert layer.compute_mask(np.zeros((2, 3, H)), mask) is mask
    assert AdaptiveSoftmaxLoss.head_layers == (AdaptiveSoftmax,)
    assert AdaptiveSoftmaxLoss.name == "adaptive_softmax"
    assert isinstance(AdaptiveSoftmaxLoss(), jrnn.losses.HeadLoss)
    assert hash(AdaptiveSoftmaxLoss()) == hash(AdaptiveSoftmaxLoss())  # a static jit arg


def test_config_round_trip_and_saved_model(tmp_path):
    layer = AdaptiveSoftmax(C, (3, 6), div_value=2, head_bias=True, name="out")
    config = layer.get_config()
    assert config == {
        "name": "out",
        "num_classes": C,
        "cutoffs": [3, 6],
        "div_value": 2.0,
        "head_bias": True,
    }
    assert AdaptiveSoftmax.from_config(json.loads(json.dumps(config))).get_config() == config
    model = jrnn.Sequential([jrnn.layers.Embedding(C, H), layer])
    tokens = np.array([[1, 2, 3], [4, 5, 9]], np.int32)
    variables = model.init(jax.random.key(0), tokens)
    path = jrnn.save_model(tmp_path / "m.npz", model, variables) or tmp_path / "m.npz"
    loaded, loaded_variables = jrnn.load_model(path)
    y, _ = model.apply(variables, tokens)
    assert y.shape == (2, 3, C)
    close(loaded.apply(loaded_variables, tokens)[0], y, tol=0)


def test_step_is_the_log_prob():
    layer, params = build(False)
    x = features()
    carry, y = layer.step(params, layer.step_init(params, N), x)
    assert carry is None and layer.step_error() is None
    close(y, layer.log_prob(params, x), tol=0)
    assert layer.step_input_size(params) == H


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"cutoffs": [6, 3]}, ValueError, r"cutoffs: got \[6, 3\], expected .*increasing"),
        ({"cutoffs": [3, 3]}, ValueError, r"cutoffs: got \[3, 3\], expected .*strictly"),
        ({"cutoffs": [0, 3]}, ValueError, r"cutoffs: got \[0, 3\], expected .*\(0, num_classes"),
        ({"cutoffs": [3, 10]}, ValueError, r"cutoffs: got \[3, 10\].*num_classes=10"),
        ({"cutoffs": []}, ValueError, r"cutoffs: got \[\], expected a non-empty"),
        ({"cutoffs": [3.0]}, TypeError, r"cutoffs\[0\]: got 3.0 of type float"),
        ({"cutoffs": "3"}, TypeError, "cutoffs: got '3' of type str"),
        ({"cutoffs": 3}, TypeError, "cutoffs: got 3 of type int"),
        ({"num_classes": 1, "cutoffs": [1]}, ValueError, "num_classes: got 1, expected"),
        ({"num_classes": 10.0}, TypeError, "num_classes: got 10.0"),
        ({"div_value": 0.0}, ValueError, r"div_value: got 0.0, expected a finite number > 0"),
        ({"div_value": -2}, ValueError, "div_value: got -2"),
        ({"div_value": "4"}, TypeError, "div_value: got '4' of type str"),
        ({"head_bias": "yes"}, TypeError, "head_bias: got 'yes'"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    args = {"num_classes": C, "cutoffs": CUTOFFS, **kwargs}
    with pytest.raises(error, match=match):
        AdaptiveSoftmax(**args)


def test_bad_inputs():
    layer, params = build(False)
    with pytest.raises(ValueError, match=r"x: got 4 features, expected at least div_value\*\*2"):
        AdaptiveSoftmax(C, CUTOFFS).init(jax.random.key(0), np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"x: got shape \(2, 5\), expected \(\.\.\., 8\)"):
        layer.apply(params, np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"labels: got shape \(3,\), expected \(12,\)"):
        layer.loss_per_example(params, features(), np.zeros(3, np.int32))
    with pytest.raises(TypeError, match="labels: got dtype bool, expected integer"):
        layer.loss_per_example(params, features(), np.zeros(N, bool))
    with pytest.raises(ValueError, match=r"y_true: got shape \(2,\), expected \(12,\)"):
        AdaptiveSoftmaxLoss().per_example(np.zeros(2, np.int32), np.zeros((N, C)))
    with pytest.raises(TypeError, match="layer: got Dense, expected an AdaptiveSoftmax"):
        AdaptiveSoftmaxLoss().head_per_example(LABELS, features(), jrnn.layers.Dense(C), {}, None)
