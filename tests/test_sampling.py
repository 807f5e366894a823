"""Candidate samplers, accidental hits and the sampled losses (TF semantics)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import stats

from jrnn import sampling
from jrnn._sampled_softmax import _sampled_logits, nce_loss, sampled_softmax_loss

R = 20  # range_max of the distribution tests
INT32_MAX = int(np.iinfo(np.int32).max)
LOWEST = float(np.finfo(np.float32).min)
# Fixed unigram: 2 reserved ids (probability 0), then 18 counts, one of them 0.
UNIGRAMS = tuple(float(c) for c in [5, 1, 0, 3, 7, 2, 9, 4, 4, 1, 6, 8, 2, 3, 5, 1, 2, 10])
DISTORTION = 0.5
LEARNED = np.array([3, 0, 1, 5, 2, 2, 8, 1, 0, 4, 1, 1, 6, 2, 3, 1, 7, 1, 2, 9], np.int32)


def _log_uniform_p(range_max):
    k = np.arange(range_max, dtype=np.float64)
    return (np.log(k + 2) - np.log(k + 1)) / np.log(range_max + 1)


def _fixed_p():
    w = np.concatenate([[0.0, 0.0], np.asarray(UNIGRAMS) ** DISTORTION])
    return w / w.sum()


def _learned(key, tc, num_true, num_sampled, unique, range_max):
    out, _ = sampling.learned_unigram_candidate_sampler(
        key, tc, num_true, num_sampled, unique, range_max, jnp.asarray(LEARNED)
    )
    return out


def _fixed(key, tc, num_true, num_sampled, unique, range_max):
    return sampling.fixed_unigram_candidate_sampler(
        key,
        tc,
        num_true,
        num_sampled,
        unique,
        range_max,
        distortion=DISTORTION,
        num_reserved_ids=2,
        unigrams=UNIGRAMS,
    )


# name: (sampler with the uniform sampler's signature, P(k) for k < R)
SAMPLERS = {
    "uniform": (sampling.uniform_candidate_sampler, np.full(R, 1 / R)),
    "log_uniform": (sampling.log_uniform_candidate_sampler, _log_uniform_p(R)),
    "fixed_unigram": (_fixed, _fixed_p()),
    "learned_unigram": (_learned, LEARNED / LEARNED.sum()),
}
STATIC = (2, 3, 4, 5)  # num_true, num_sampled, unique, range_max
TRUE = jnp.array([[0, 3], [7, 19], [4, 4]], jnp.int32)


def _chisquare_ok(ids, p):
    """A chi-square test of ids (drawn with probabilities p) at the 1e-4 level; the ids
    of probability 0 must never appear."""
    observed = np.bincount(np.asarray(ids), minlength=len(p))
    assert observed[p == 0].sum() == 0
    expected = p[p > 0] * observed.sum()
    return stats.chisquare(observed[p > 0], expected).pvalue > 1e-4


@pytest.mark.parametrize("name", SAMPLERS)
def test_draws_with_replacement_follow_the_distribution(name):
    sampler, p = SAMPLERS[name]
    n = 20_000
    sampled, true_expected, sampled_expected = jax.jit(sampler, static_argnums=STATIC)(
        jax.random.key(1), TRUE, 2, n, False, R
    )
    assert sampled.dtype == jnp.int32 and sampled.shape == (n,)
    assert _chisquare_ok(sampled, p)
    # unique=False: expected count p * num_sampled.
    np.testing.assert_allclose(true_expected, p[np.asarray(TRUE)] * n, rtol=1e-5)
    np.testing.assert_allclose(sampled_expected, p[np.asarray(sampled)] * n, rtol=1e-5)


@pytest.mark.parametrize("name", SAMPLERS)
def test_unique_draws_are_distinct_and_counted_like_tf(name):
    sampler, p = SAMPLERS[name]
    num_sampled = 6
    keys = jax.random.split(jax.random.key(2), 400)
    # lax.map, not vmap: a batched while_loop takes longer to compile.
    sampled, true_expected, sampled_expected = jax.jit(
        lambda ks: jax.lax.map(lambda k: sampler(k, TRUE, 2, num_sampled, True, R), ks)
    )(keys)
    sampled = np.asarray(sampled)
    assert sampled.min() >= 0 and sampled.max() < R
    assert all(len(set(row)) == num_sampled for row in sampled)
    assert np.all(p[sampled] > 0)
    # The first pick is the first draw: it follows the distribution itself.
    assert _chisquare_ok(sampled[:, 0], p)
    # Every expected count is 1 - (1 - p)**n for one n >= num_sampled per call (or
    # p * num_sampled when n == num_sampled).
    for row, t_exp, s_exp in zip(sampled, np.asarray(true_expected), np.asarray(sampled_expected)):
        p_row = p[row]
        if np.allclose(s_exp, p_row * num_sampled, rtol=1e-5):
            np.testing.assert_allclose(t_exp, p[np.asarray(TRUE)] * num_sampled, rtol=1e-5)
            continue
        n = np.log1p(-s_exp[p_row < 1]) / np.log1p(-p_row[p_row < 1])
        tries = int(round(float(np.median(n))))
        assert tries > num_sampled
        np.testing.assert_allclose(s_exp, -np.expm1(tries * np.log1p(-p_row)), rtol=1e-4)
        closed = -np.expm1(tries * np.log1p(-p[np.asarray(TRUE)]))
        np.testing.assert_allclose(t_exp, closed, rtol=1e-4)


def test_unique_loop_counts_tries_as_the_sequential_process():
    """_draw_unique against TF's loop run on the same stream of draws, with a small chunk
    so that the while_loop takes several steps and stops mid-chunk."""
    range_max, num_sampled, chunk = 10, 8, 4

    def draw(key, n):
        return jax.random.randint(key, (n,), 0, range_max, dtype=jnp.int32)

    run = jax.jit(lambda k: sampling._draw_unique(k, draw, num_sampled, range_max, chunk))
    # The loop's stream of draws: chunk i from fold_in(key, i).
    stream_of = jax.jit(
        lambda k: jax.vmap(lambda i: draw(jax.random.fold_in(k, i), chunk))(jnp.arange(64))
    )
    for seed in range(10):
        key = jax.random.key(seed)
        sampled, tries = run(key)
        stream = np.asarray(stream_of(key)).reshape(-1)
        picked, expected_tries = [], 0
        for value in stream:
            if len(picked) == num_sampled:
                break
            expected_tries += 1
            if value not in picked:
                picked.append(int(value))
        assert np.asarray(sampled).tolist() == picked
        assert int(tries) == expected_tries < len(stream)


def test_unique_sampler_handles_a_large_range():
    num_sampled, range_max = 2048, 50_000
    sampled, _, sampled_expected = jax.jit(
        sampling.log_uniform_candidate_sampler, static_argnums=STATIC
    )(jax.random.key(3), TRUE, 2, num_sampled, True, range_max)
    assert len(np.unique(np.asarray(sampled))) == num_sampled
    assert np.asarray(sampled).max() < range_max
    assert np.all((np.asarray(sampled_expected) > 0) & (np.asarray(sampled_expected) <= 1))


def test_unique_refuses_more_samples_than_ids():
    with pytest.raises(ValueError, match="num_sampled: got 21 with unique=True"):
        sampling.uniform_candidate_sampler(jax.random.key(0), TRUE, 2, 21, True, R)


def test_fixed_unigram_shards_as_tf():
    """TF keeps the reserved ids with id % num_shards == shard, then numbers the counts
    from the number of reserved ids kept (here 1: id 1), keeping those of the shard."""
    unigrams = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
    # reserved 0, 1, 2 -> shard 1 keeps id 1 (weight 0); counts numbered 1..6 -> keeps
    # the counts numbered 1, 3, 5: unigrams[0], unigrams[2], unigrams[4].
    weights = np.array([0.0, 1.0, 9.0, 25.0])  # distortion 2
    tc = jnp.arange(4, dtype=jnp.int32)[:, None]
    run = jax.jit(sampling.fixed_unigram_candidate_sampler, static_argnums=range(2, 12))
    _, true_expected, _ = run(jax.random.key(0), tc, 1, 10, False, 4, "", 2.0, 3, 2, 1, unigrams)
    np.testing.assert_allclose(true_expected[:, 0], weights / weights.sum() * 10, rtol=1e-6)
    with pytest.raises(ValueError, match="give 4 ids, expected range_max=5"):
        sampling.fixed_unigram_candidate_sampler(
            jax.random.key(0), tc, 1, 10, False, 5, "", 2.0, 3, 2, 1, unigrams
        )


def test_fixed_unigram_reads_the_last_column_of_the_vocab_file(tmp_path):
    path = tmp_path / "vocab.csv"
    path.write_text("".join(f"word{i},x,{c}\n" for i, c in enumerate(UNIGRAMS)))
    tc = jnp.arange(R, dtype=jnp.int32)[:, None]
    run = jax.jit(sampling.fixed_unigram_candidate_sampler, static_argnums=range(2, 12))
    options = (DISTORTION, 2, 1, 0)  # distortion, num_reserved_ids, num_shards, shard
    from_file = run(jax.random.key(0), tc, 1, 50, False, R, str(path), *options, ())
    from_list = run(jax.random.key(0), tc, 1, 50, False, R, "", *options, UNIGRAMS)
    for a, b in zip(from_file, from_list):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(from_file[1][:, 0], _fixed_p() * 50, rtol=1e-5)


def test_learned_unigram_samples_then_counts_the_true_classes():
    counts = sampling.learned_unigram_initial_counts(R)
    np.testing.assert_array_equal(counts, np.ones(R, np.int32))
    tc = jnp.array([[3, 3], [5, 0]], jnp.int32)
    run = jax.jit(sampling.learned_unigram_candidate_sampler, static_argnums=STATIC)
    (_, true_expected, _), counts = run(jax.random.key(0), tc, 2, 4, False, R, counts)
    # The expected counts use the counts before the update: all ids equally likely.
    np.testing.assert_allclose(true_expected, np.full((2, 2), 4 / R), rtol=1e-6)
    want = np.ones(R, np.int32) + np.bincount([3, 3, 5, 0], minlength=R)
    np.testing.assert_array_equal(counts, want)
    (_, true_expected, _), _ = run(jax.random.key(1), tc, 2, 4, False, R, counts)
    np.testing.assert_allclose(true_expected, want[np.asarray(tc)] / want.sum() * 4, rtol=1e-6)


def test_learned_unigram_stops_counting_at_int32_max():
    counts = jnp.array([INT32_MAX - 3, 1, 1], jnp.int32)  # room for 1 more
    tc = jnp.array([[1], [2], [2]], jnp.int32)
    run = jax.jit(sampling.learned_unigram_candidate_sampler, static_argnums=STATIC)
    _, new = run(jax.random.key(0), tc, 1, 2, False, 3, counts)
    np.testing.assert_array_equal(new, [INT32_MAX - 3, 2, 1])


def _tf_hits(true_classes, sampled):
    """TF's ComputeAccidentalHits loop."""
    position = {int(v): j for j, v in enumerate(sampled)}  # the last position wins
    hits = [
        (i, position[int(t)])
        for i, row in enumerate(true_classes)
        for t in row
        if int(t) in position
    ]
    return [h[0] for h in hits], [h[1] for h in hits]


def test_compute_accidental_hits_matches_tf_eagerly_and_under_jit():
    rng = np.random.default_rng(0)
    hits_jit = jax.jit(sampling.compute_accidental_hits, static_argnums=(2, 3))
    for _ in range(3):
        tc = rng.integers(0, 8, (6, 2)).astype(np.int32)
        sampled = rng.integers(0, 8, 5).astype(np.int32)  # with repeats
        rows, ids = _tf_hits(tc, sampled)
        indices, got_ids, weights = sampling.compute_accidental_hits(tc, sampled, 2)
        assert np.asarray(indices).tolist() == rows and np.asarray(got_ids).tolist() == ids
        assert weights.dtype == jnp.float32 and np.all(np.asarray(weights) == LOWEST)
        size = 10
        indices, got_ids, weights = hits_jit(tc, sampled, 2, size)
        pad = size - len(rows)
        assert np.asarray(indices).tolist() == rows + [0] * pad
        assert np.asarray(got_ids).tolist() == ids + [0] * pad
        assert np.asarray(weights).tolist() == [LOWEST] * len(rows) + [0.0] * pad
    # A size below the number of hits keeps the first ones.
    indices, got_ids, _ = hits_jit(tc, sampled, 2, 1)
    assert np.asarray(indices).tolist() == rows[:1] and np.asarray(got_ids).tolist() == ids[:1]


def test_hit_mask_is_the_dense_accidental_hits():
    tc = np.array([[1, 1], [2, 5], [7, 0]], np.int32)
    sampled = np.array([1, 2, 1, 3, 7], np.int32)
    mask = np.zeros((3, 5), np.float32)
    for i, j in zip(*_tf_hits(tc, sampled)):
        mask[i, j] = LOWEST
    np.testing.assert_array_equal(jax.jit(sampling._accidental_hit_mask)(tc, sampled), mask)


# ----------------------------------------------------------------------- sampled losses

N, H, V = 4, 3, 9


def _problem(num_true=1, seed=0):
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(V, H)).astype(np.float32)
    biases = rng.normal(size=V).astype(np.float32)
    inputs = rng.normal(size=(N, H)).astype(np.float32)
    labels = rng.integers(0, V, (N, num_true)).astype(np.int32)
    return weights, biases, labels, inputs


def _reference_logits(xp, w, b, x, labels, sampled_values, remove_hits, subtract_log_q):
    """TF's _compute_sampled_logits written out, with `xp` NumPy or jax.numpy."""
    sampled, true_expected, sampled_expected = (np.asarray(v) for v in sampled_values)
    true_logits = xp.stack(
        [xp.sum(x * w[labels[:, k]], axis=1) + b[labels[:, k]] for k in range(labels.shape[1])],
        axis=1,
    )
    sampled_logits = x @ w[sampled].T + b[sampled][None, :]
    if remove_hits:
        mask = np.zeros(sampled_logits.shape, np.float32)
        for i, j in zip(*_tf_hits(labels, sampled)):
            mask[i, j] = LOWEST
        sampled_logits = sampled_logits + mask
    if subtract_log_q:
        true_logits = true_logits - np.log(true_expected)
        sampled_logits = sampled_logits - np.log(sampled_expected)[None, :]
    return xp.concatenate([true_logits, sampled_logits], axis=1)


def _reference_softmax(xp, w, b, x, labels, sampled_values, remove_hits=True, subtract_log_q=True):
    logits = _reference_logits(xp, w, b, x, labels, sampled_values, remove_hits, subtract_log_q)
    top = xp.max(logits, axis=1, keepdims=True)
    log_z = top[:, 0] + xp.log(xp.sum(xp.exp(logits - top), axis=1))
    num_true = labels.shape[1]
    return log_z - xp.sum(logits[:, :num_true], axis=1) / num_true


def _reference_nce(xp, w, b, x, labels, sampled_values, remove_hits=False, subtract_log_q=True):
    z = _reference_logits(xp, w, b, x, labels, sampled_values, remove_hits, subtract_log_q)
    num_true = labels.shape[1]
    y = np.concatenate(
        [np.full((N, num_true), 1 / num_true), np.zeros((N, z.shape[1] - num_true))], 1
    )
    return xp.sum(xp.maximum(z, 0) - z * y + xp.log1p(xp.exp(-xp.abs(z))), axis=1)


# A fixed sample with a repeat (1), and with the true classes of _problem(2) in it.
FIXED_SAMPLE = (
    np.array([1, 4, 1, 6, 0, 8], np.int32),
    None,  # true expected counts: filled per problem
    np.array([0.3, 0.1, 0.3, 0.05, 0.6, 0.2], np.float32),
)


def _fixed_sample(labels):
    true_expected = (0.1 + 0.05 * labels).astype(np.float32)
    return FIXED_SAMPLE[0], true_expected, FIXED_SAMPLE[2]


LOSS_STATIC = ("num_sampled", "num_classes", "num_true", "remove_accidental_hits", "subtract_log_q")


@functools.partial(jax.jit, static_argnames=LOSS_STATIC)
def _both_losses(key, weights, biases, labels, inputs, **kwargs):
    """(sampled_softmax_loss, nce_loss) in one compiled program: one compile per case."""
    args = (key, weights, biases, labels, inputs)
    return sampled_softmax_loss(*args, **kwargs), nce_loss(*args, **kwargs)


def test_sampled_softmax_with_every_class_sampled_is_the_full_softmax():
    weights, biases, labels, inputs = _problem()
    every = (np.arange(V, dtype=np.int32), np.ones((N, 1), np.float32), np.ones(V, np.float32))
    loss, _ = _both_losses(
        None,
        weights,
        biases,
        labels,
        inputs,
        sampled_values=every,
        num_sampled=V,
        num_classes=V,
        num_true=1,
        remove_accidental_hits=True,
        subtract_log_q=False,
    )
    full = optax.losses.softmax_cross_entropy_with_integer_labels(
        inputs @ weights.T + biases, labels[:, 0]
    )
    np.testing.assert_allclose(loss, full, atol=1e-5)


@pytest.mark.parametrize(
    "num_true, remove_hits, subtract_log_q", [(2, True, True), (1, True, False), (2, False, True)]
)
def test_losses_match_tf_formulas(num_true, remove_hits, subtract_log_q):
    weights, biases, labels, inputs = _problem(num_true, seed=num_true)
    values = _fixed_sample(labels)
    assert len(_tf_hits(labels, values[0])[0]) > 0  # the case has accidental hits
    softmax, nce = _both_losses(
        None,
        weights,
        biases,
        labels,
        inputs,
        sampled_values=values,
        num_sampled=6,
        num_classes=V,
        num_true=num_true,
        remove_accidental_hits=remove_hits,
        subtract_log_q=subtract_log_q,
    )
    np_args = (weights, biases, inputs, labels, values, remove_hits, subtract_log_q)
    np.testing.assert_allclose(softmax, _reference_softmax(np, *np_args), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(nce, _reference_nce(np, *np_args), rtol=1e-5, atol=1e-5)


def test_loss_gradients_flow_to_weights_biases_and_inputs():
    weights, biases, labels, inputs = _problem(2, seed=2)
    values = _fixed_sample(labels)
    static = dict(
        num_sampled=6, num_classes=V, num_true=2, remove_accidental_hits=True, subtract_log_q=True
    )
    references = (_reference_softmax, _reference_nce)

    def ours(w, b, x, which):
        return jnp.sum(_both_losses(None, w, b, labels, x, sampled_values=values, **static)[which])

    def ref(w, b, x, which):
        return jnp.sum(references[which](jnp, w, b, x, labels, values, True, True))

    @jax.jit
    def gradients(w, b, x):
        # Both losses, ours and the reference, in one compiled program.
        return [
            [jax.grad(f, argnums=(0, 1, 2))(w, b, x, which) for f in (ours, ref)]
            for which in (0, 1)
        ]

    for got, want in gradients(weights, biases, inputs):
        for g, r in zip(got, want):
            assert np.any(np.asarray(g) != 0)
            np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-5)


def test_default_sampler_is_log_uniform_unique_under_jit():
    weights, biases, labels, inputs = _problem(2, seed=3)

    @jax.jit
    def run(key):
        values = sampling.log_uniform_candidate_sampler(key, labels, 2, 5, True, V)
        args = (weights, biases, labels, inputs, 5, V, 2)
        drawn = [f(key, *args) for f in (sampled_softmax_loss, nce_loss)]
        given = [f(None, *args, sampled_values=values) for f in (sampled_softmax_loss, nce_loss)]
        return drawn, given

    drawn, given = run(jax.random.key(7))
    np.testing.assert_allclose(drawn, given, rtol=1e-6)


def test_losses_compute_in_float32_for_bf16_and_take_no_bias():
    weights, _, labels, inputs = _problem()
    values = _fixed_sample(labels)
    loss, _ = _both_losses(
        None,
        weights.astype(jnp.bfloat16),
        None,
        labels,
        inputs.astype(jnp.bfloat16),
        sampled_values=values,
        num_sampled=6,
        num_classes=V,
        num_true=1,
        remove_accidental_hits=True,
        subtract_log_q=True,
    )
    assert loss.dtype == jnp.float32
    w16, x16 = (np.asarray(jnp.asarray(a, jnp.bfloat16), np.float32) for a in (weights, inputs))
    want = _reference_softmax(np, w16, np.zeros(V, np.float32), x16, labels, values)
    np.testing.assert_allclose(loss, want, rtol=1e-5, atol=1e-5)


def test_sampled_logits_gather_rows_of_a_keras_kernel():
    """rows() lets a (dim, num_classes) Dense kernel be used without transposing it."""
    weights, biases, labels, inputs = _problem(2, seed=4)
    kernel = jnp.asarray(weights.T)
    values = _fixed_sample(labels)
    got = jax.jit(_sampled_logits, static_argnums=(3, 4, 5, 6, 7))(
        inputs,
        labels,
        values,
        lambda ids: jnp.take(kernel, ids, axis=1).T,
        lambda ids: jnp.take(biases, ids),
        2,
        True,
        True,
    )
    np.testing.assert_allclose(
        got[0],
        _reference_logits(np, weights, biases, inputs, labels, values, True, True),
        rtol=1e-5,
    )
    np.testing.assert_array_equal(got[1][:, :2], 0.5)
    np.testing.assert_array_equal(got[1][:, 2:], 0.0)
