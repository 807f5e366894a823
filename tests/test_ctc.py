"""CTC loss and decoders against brute-force enumeration of alignments, TF's documented
example and Keras 3 (JAX backend)."""

import itertools

import jax
import keras
import numpy as np
import pytest

from jrnn import ctc


def collapse(path, blank, merge=True):
    out, prev = [], None
    for p in path:
        if p != blank and not (merge and p == prev):
            out.append(int(p))
        prev = p
    return tuple(out)


def labelling_log_probs(logits, n, blank):
    """{labelling: log p(labelling)} by summing over all C**n alignments."""
    z = logits[:n].astype(np.float64)
    lp = z - np.logaddexp.reduce(z, axis=-1, keepdims=True)
    c = logits.shape[-1]
    probs = {}
    for path in itertools.product(range(c), repeat=n):
        key = collapse(path, blank)
        score = sum(lp[t, p] for t, p in enumerate(path))
        probs[key] = np.logaddexp(probs.get(key, -np.inf), score)
    return probs


def random_case(seed, b=3, t=5, c=4, scale=2.0):
    rng = np.random.default_rng(seed)
    logits = (scale * rng.normal(size=(b, t, c))).astype(np.float32)
    lengths = rng.integers(1, t + 1, size=b)
    lengths[0] = t
    return rng, logits, lengths


@pytest.mark.parametrize("blank", [0, "last", 2])
def test_loss_equals_brute_force(blank):
    rng, logits, lengths = random_case(0)
    b, t, c = logits.shape
    bl = c - 1 if blank == "last" else blank
    others = [k for k in range(c) if k != bl]
    labels = rng.choice(others, size=(b, 3))
    labels[1, :2] = labels[1, 0]  # a repeat needs a blank between
    label_lengths = np.array([3, 2, 1])
    lengths[1] = max(lengths[1], 3)
    loss = ctc.ctc_loss(logits, labels, lengths, label_lengths, blank=blank, reduction="none")
    for i in range(b):
        probs = labelling_log_probs(logits[i], lengths[i], bl)
        want = -probs[tuple(labels[i, : label_lengths[i]].tolist())]
        np.testing.assert_allclose(loss[i], want, rtol=1e-5)
    mean = ctc.ctc_loss(logits, labels, lengths, label_lengths, blank=blank)
    total = ctc.ctc_loss(logits, labels, lengths, label_lengths, blank=blank, reduction="sum")
    np.testing.assert_allclose(mean, np.mean(loss), rtol=1e-6)
    np.testing.assert_allclose(total, np.sum(loss), rtol=1e-6)


def test_loss_matches_keras_and_jits_and_differentiates():
    rng, logits, lengths = random_case(1, b=4, t=8, c=6)
    labels = rng.integers(1, 6, size=(4, 3))
    label_lengths = np.array([3, 0, 2, 1])
    want = jax.jit(keras.ops.ctc_loss)(labels, logits, label_lengths, lengths)
    got = ctc.ctc_loss(logits, labels, lengths, label_lengths, reduction="none")
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # under jit the lengths are traced (no host checks), and the loss differentiates
    loss, g = jax.jit(jax.value_and_grad(ctc.ctc_loss))(logits, labels, lengths, label_lengths)
    np.testing.assert_allclose(loss, np.mean(want), rtol=1e-5)
    assert np.all(np.isfinite(g))
    assert np.all(np.asarray(g)[3, lengths[3] :] == 0)  # padded frames get no gradient


def test_infeasible_rows_raise_when_concrete_and_are_inf_when_traced():
    logits = np.zeros((3, 3, 3), np.float32)
    labels = np.array([[1, 1], [1, 2], [1, 1]])
    # row 0: "1 1" needs 3 frames (a blank between the repeats) and has 2; row 2 has 3
    lengths, label_lengths = np.array([2, 2, 3]), np.array([2, 2, 2])
    with pytest.raises(ValueError, match=r"label_lengths: rows \[0\].*needed \[3\]"):
        ctc.ctc_loss(logits, labels, lengths, label_lengths)
    loss = jax.jit(lambda *a: ctc.ctc_loss(*a, reduction="none"))(
        logits, labels, lengths, label_lengths
    )
    assert loss[0] == np.inf and np.all(np.isfinite(loss[1:]))
    g = jax.jit(jax.grad(lambda z: ctc.ctc_loss(z, labels, lengths, label_lengths)))(logits)
    assert np.all(np.asarray(g)[0] == 0) and np.all(np.isfinite(g)) and np.any(g[1] != 0)


def test_zero_infinity_matches_torch():
    torch = pytest.importorskip("torch")
    _, logits, _ = random_case(5, b=4, t=4, c=4)
    labels = np.array([[1, 1, 2], [1, 2, 3], [2, 2, 0], [3, 1, 3]])
    lengths = np.array([4, 2, 2, 4])
    label_lengths = np.array([3, 3, 2, 3])  # rows 0 (needs 4 of 4: ok), 1 and 2 infeasible

    def ours(z):
        return ctc.ctc_loss(z, labels, lengths, label_lengths, reduction="none",
                            zero_infinity=True)  # fmt: skip

    loss, vjp = jax.vjp(ours, logits)
    (g,) = vjp(np.ones(4, np.float32))
    z = torch.tensor(logits, requires_grad=True)
    want = torch.nn.functional.ctc_loss(
        torch.log_softmax(z, -1).transpose(0, 1),
        torch.tensor(labels),
        torch.tensor(lengths),
        torch.tensor(label_lengths),
        reduction="none",
        zero_infinity=True,
    )
    want.sum().backward()
    np.testing.assert_allclose(loss, want.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert loss[1] == 0 and loss[2] == 0
    np.testing.assert_allclose(g, z.grad.numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="zero_infinity"):
        ctc.ctc_loss(logits, labels, lengths, label_lengths)


@pytest.mark.parametrize("merge", [True, False])
@pytest.mark.parametrize("blank", [0, "last"])
def test_greedy_equals_collapsed_argmax_path(merge, blank):
    _, logits, lengths = random_case(2, b=4, t=7, c=4)
    bl = 3 if blank == "last" else 0
    decoded, dlen, scores = ctc.ctc_greedy_decode(
        logits, lengths, merge_repeated=merge, blank=blank
    )
    for i in range(4):
        n = lengths[i]
        want = collapse(np.argmax(logits[i, :n], -1), bl, merge)
        assert tuple(decoded[i, : dlen[i]].tolist()) == want
        assert np.all(np.asarray(decoded[i, dlen[i] :]) == -1)
        np.testing.assert_allclose(scores[i], -logits[i, :n].max(-1).sum(), rtol=1e-6)
    kd, ks = keras.ops.ctc_decode(
        logits, lengths, strategy="greedy", merge_repeated=merge, mask_index=bl
    )
    np.testing.assert_array_equal(decoded, kd[0])
    np.testing.assert_allclose(scores, ks[:, 0], rtol=1e-6)


def test_greedy_tf_documentation_example():
    inf = np.inf
    logits_tm = np.array(  # (T, B, C), TF's doc example with blank_index=1
        [
            [[0.0, -inf, -inf], [-2.3, -inf, -0.1]],
            [[-inf, -0.5, -inf], [-inf, -inf, -0.1]],
            [[-inf, -inf, -inf], [-0.1, -inf, -2.3]],
        ],
        np.float32,
    )
    decoded, dlen, scores = ctc.ctc_greedy_decode(
        logits_tm.transpose(1, 0, 2), np.array([2, 3]), blank=1
    )
    np.testing.assert_array_equal(decoded, [[0, -1, -1], [2, 0, -1]])
    np.testing.assert_array_equal(dlen, [1, 2])
    np.testing.assert_allclose(scores, [0.5, 0.3], rtol=1e-6)


@pytest.mark.parametrize("blank", [0, "last"])
def test_beam_search_with_a_full_beam_equals_brute_force(blank):
    _, logits, lengths = random_case(3, b=3, t=5, c=4)
    bl = 3 if blank == "last" else 0
    # every prefix fits: sum_l 3**l for l <= 5 = 364
    decoded, dlen, logp = ctc.ctc_beam_search_decode(
        logits, lengths, beam_width=364, top_paths=4, blank=blank
    )
    for i in range(3):
        want = sorted(labelling_log_probs(logits[i], lengths[i], bl).items(), key=lambda kv: -kv[1])
        for p in range(4):
            assert tuple(decoded[i, p, : dlen[i, p]].tolist()) == want[p][0]
            assert np.all(np.asarray(decoded[i, p, dlen[i, p] :]) == -1)
            np.testing.assert_allclose(logp[i, p], want[p][1], rtol=1e-5)


def test_beam_search_matches_keras():
    _, logits, lengths = random_case(10, b=12, t=9, c=5, scale=1.0)
    for width, top in ((5, 3),):
        decoded, _, logp = ctc.ctc_beam_search_decode(
            logits, lengths, beam_width=width, top_paths=top
        )
        kd, kp = jax.jit(
            lambda z, n, w=width, k=top: keras.ops.ctc_decode(
                z, n, strategy="beam_search", beam_width=w, top_paths=k
            )
        )(logits, lengths)
        np.testing.assert_array_equal(decoded, np.transpose(kd, (1, 0, 2)))
        np.testing.assert_allclose(logp, kp, rtol=1e-5)


def test_beam_search_short_rows_and_narrow_beams():
    _, logits, _ = random_case(4, b=2, t=4, c=3)
    decoded, dlen, logp = ctc.ctc_beam_search_decode(
        logits, np.array([0, 4]), beam_width=2, top_paths=2
    )
    assert dlen[0, 0] == 0 and logp[0, 0] == 0.0  # no frames: the empty labelling
    assert logp[0, 1] == -np.inf and dlen[0, 1] == 0  # and nothing else
    # greedy beam: width 1 keeps the best prefix each frame
    d1, l1, _ = ctc.ctc_beam_search_decode(logits, np.array([4, 4]), beam_width=1)
    assert d1.shape == (2, 1, 4) and l1.shape == (2, 1)


def test_bad_arguments_name_the_argument():
    z = np.zeros((2, 3, 4), np.float32)
    n = np.array([3, 3])
    y = np.array([[1, 2], [1, 0]])
    m = np.array([2, 1])
    cases = [
        (lambda: ctc.ctc_beam_search_decode(z, n, beam_width=0), "beam_width"),
        (lambda: ctc.ctc_beam_search_decode(z, n, beam_width=2, top_paths=3), "top_paths"),
        (lambda: ctc.ctc_beam_search_decode(z, n, top_paths=0), "top_paths"),
        (lambda: ctc.ctc_greedy_decode(z, np.array([3, 4])), "lengths"),
        (lambda: ctc.ctc_greedy_decode(z[0], n), "logits"),
        (lambda: ctc.ctc_greedy_decode(z, n, blank=4), "blank"),
        (lambda: ctc.ctc_greedy_decode(z, n, blank="first"), "blank"),
        (lambda: ctc.ctc_loss(z, y, n, m, reduction="avg"), "reduction"),
        (lambda: ctc.ctc_loss(z, np.array([[0, 2], [1, 0]]), n, m), "labels"),
        (lambda: ctc.ctc_loss(z, np.array([[1, 4], [1, 0]]), n, m), "labels"),
        (lambda: ctc.ctc_loss(z, y, n, np.array([3, 1])), "label_lengths"),
        (lambda: ctc.ctc_loss(z, y, np.array([-1, 3]), m), "logit_lengths"),
        (lambda: ctc.ctc_loss(z, y[:1], n, m), "labels"),
    ]
    for fn, name in cases:
        with pytest.raises(ValueError, match=name):
            fn()
    with pytest.raises(TypeError, match="lengths"):
        ctc.ctc_greedy_decode(z, n.astype(np.float32))
    with pytest.raises(TypeError, match="zero_infinity"):
        ctc.ctc_loss(z, y, n, m, zero_infinity="yes")
    # padding past label_lengths may hold anything, the blank included
    ctc.ctc_loss(z, y, n, np.array([2, 1]))
