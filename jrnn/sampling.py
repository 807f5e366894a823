"""TensorFlow's candidate samplers (`tf.random.*_candidate_sampler`) and
`tf.nn.compute_accidental_hits`, as pure, jit-able JAX functions.

Every sampler takes an explicit PRNG key first, then TF's arguments, and returns TF's
triple::

    sampled_candidates      (num_sampled,)          int32 ids in [0, range_max)
    true_expected_count     (batch_size, num_true)  float32
    sampled_expected_count  (num_sampled,)          float32

`num_true`, `num_sampled`, `unique`, `range_max` and the fixed-unigram options are Python
values: under `jax.jit` pass them as static arguments, e.g.
`jax.jit(uniform_candidate_sampler, static_argnums=(2, 3, 4, 5))`.

Expected counts follow TF's `RangeSampler::SampleBatchGetExpectedCountAvoid`. With
`unique=False` the `num_sampled` ids are drawn with replacement and the expected count of
an id of probability p is `p * num_sampled`. With `unique=True` ids are drawn with
replacement until `num_sampled` distinct ones are found, which took `num_tries` draws,
and the expected count is `1 - (1 - p)**num_tries` (computed as
`-expm1(num_tries * log1p(-p))`), or `p * num_sampled` when no draw was rejected
(`num_tries == num_sampled`).

The random streams differ from TF's (JAX's PRNG, not Philox through SimplePhilox): the
distributions and expected counts match, the draws themselves do not.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jrnn._checks import (
    check_bool,
    check_int,
    check_key,
    check_path,
    check_positive_int,
    is_concrete,
    shape_error,
)

__all__ = [
    "compute_accidental_hits",
    "fixed_unigram_candidate_sampler",
    "learned_unigram_candidate_sampler",
    "learned_unigram_initial_counts",
    "log_uniform_candidate_sampler",
    "uniform_candidate_sampler",
]

# TF's accidental-hit weight: the lowest float32 (-FLT_MAX), added to a logit.
LOWEST = float(np.finfo(np.float32).min)
_INT32_MAX = int(np.iinfo(np.int32).max)

# A draw function: (key, n) -> (n,) int32 ids.
Draw = Callable[[jax.Array, int], jax.Array]


# ------------------------------------------------------------------------------ checks


def _check_classes(name: str, x, num_true: int, range_max: int | None = None):
    """`x` an integer (batch_size, num_true) array, each id in [0, range_max) when the
    values are concrete (TF's CandidateSamplerOp refuses the others); returned as int32."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.integer):
        raise TypeError(f"{name}: got dtype {x.dtype}, expected integer class ids")
    if x.ndim != 2 or x.shape[1] != num_true:
        raise shape_error(name, x.shape, f"(batch_size, num_true={num_true})")
    if range_max is not None and is_concrete(x):
        values = np.asarray(x)
        bad = values[(values < 0) | (values >= range_max)]
        if bad.size:
            raise ValueError(
                f"{name}: got ids {bad.tolist()[:5]}, expected ids in [0, {range_max})"
            )
    return x.astype(jnp.int32)


def _check_sampler_args(key, true_classes, num_true, num_sampled, unique, range_max):
    """The arguments every sampler shares, checked; returns them normalized."""
    check_key("key", key)
    num_true = check_positive_int("num_true", num_true)
    num_sampled = check_positive_int("num_sampled", num_sampled)
    unique = check_bool("unique", unique)
    range_max = check_positive_int("range_max", range_max)
    if unique and num_sampled > range_max:
        raise ValueError(
            f"num_sampled: got {num_sampled} with unique=True, expected at most "
            f"range_max={range_max} distinct ids"
        )
    true_classes = _check_classes("true_classes", true_classes, num_true, range_max)
    return true_classes, num_true, num_sampled, unique, range_max


# ------------------------------------------------------------------------------ engine


def _expected_count(p, num_sampled: int, num_tries):
    """TF's ExpectedCountHelper: `p * num_sampled` when every draw was kept, else the
    probability `1 - (1 - p)**num_tries` that the id was drawn at least once."""
    p = jnp.asarray(p, jnp.float32)
    return jnp.where(
        num_tries == num_sampled,
        p * num_sampled,
        -jnp.expm1(num_tries.astype(jnp.float32) * jnp.log1p(-p)),
    )


def _chunk_size(num_sampled: int) -> int:
    """Draws per step of the unique loop: at least num_sampled, so that a sampler with
    few rejections finishes in one or two steps."""
    return max(num_sampled, 256)


def _draw_unique(key, draw: Draw, num_sampled: int, range_max: int, chunk: int):
    """Draw with replacement until `num_sampled` distinct ids are found, as TF does.

    Returns `(sampled (num_sampled,) int32 in order of first appearance, num_tries)`,
    `num_tries` being the number of draws the sequential process made (the draw that
    picked the last id included). The draws come in chunks of `chunk` (chunk i from
    `fold_in(key, i)`) inside a `lax.while_loop`: in each chunk an id is new when it is
    not `seen` before the chunk and this is its first position in the chunk (found with
    a scatter-min of positions), so no loop runs per draw.
    """
    positions = jnp.arange(chunk, dtype=jnp.int32)

    def step(state):
        i, seen, sampled, picked, tries = state
        values = draw(jax.random.fold_in(key, i), chunk)
        first = jnp.full(range_max, chunk, jnp.int32).at[values].min(positions)
        new = (first[values] == positions) & ~seen[values]
        # rank: how many ids are picked once this draw is made.
        rank = picked + jnp.cumsum(new, dtype=jnp.int32)
        keep = new & (rank <= num_sampled)
        sampled = sampled.at[jnp.where(keep, rank - 1, num_sampled)].set(values, mode="drop")
        # The sequential process stops at the draw that picks the last id.
        finished = rank[-1] >= num_sampled
        last_try = jnp.argmax(rank >= num_sampled).astype(jnp.int32) + 1
        tries = tries + jnp.where(finished, last_try, chunk)
        seen = seen.at[values].set(True)
        return i + 1, seen, sampled, jnp.minimum(rank[-1], num_sampled), tries

    state = (
        jnp.int32(0),
        jnp.zeros(range_max, bool),
        jnp.zeros(num_sampled, jnp.int32),
        jnp.int32(0),
        jnp.int32(0),
    )
    _, _, sampled, _, tries = jax.lax.while_loop(lambda s: s[3] < num_sampled, step, state)
    return sampled, tries


def _candidates(key, true_classes, num_sampled, unique, range_max, draw, probability):
    """TF's SampleBatchGetExpectedCount for the distribution given by `draw` (ids) and
    `probability` (ids -> float32 probabilities)."""
    if unique:
        sampled, num_tries = _draw_unique(
            key, draw, num_sampled, range_max, _chunk_size(num_sampled)
        )
    else:
        sampled, num_tries = draw(key, num_sampled), jnp.int32(num_sampled)
    return (
        sampled,
        _expected_count(probability(true_classes), num_sampled, num_tries),
        _expected_count(probability(sampled), num_sampled, num_tries),
    )


def _inverse_cdf_draw(cdf) -> Draw:
    """Draws ids with probability proportional to the increments of integer `cdf`
    (cumulative counts): an integer r uniform in [0, total) picks the first id whose
    cumulative count exceeds r, so ids of count 0 are never drawn (WeightedPicker)."""

    def draw(key, n):
        r = jax.random.randint(key, (n,), 0, cdf[-1], dtype=cdf.dtype)
        return jnp.searchsorted(cdf, r, side="right").astype(jnp.int32)

    return draw


# ---------------------------------------------------------------------------- samplers


def uniform_candidate_sampler(key, true_classes, num_true, num_sampled, unique, range_max):
    """`tf.random.uniform_candidate_sampler`: ids uniform over [0, range_max), P(k) =
    1 / range_max.

    Args:
        key: PRNG key.
        true_classes: (batch_size, num_true) integer ids in [0, range_max).
        num_true, num_sampled, unique, range_max: Python values, as TF.

    Returns:
        `(sampled_candidates, true_expected_count, sampled_expected_count)` (see module).
    """
    true_classes, num_true, num_sampled, unique, range_max = _check_sampler_args(
        key, true_classes, num_true, num_sampled, unique, range_max
    )

    def draw(k, n):
        return jax.random.randint(k, (n,), 0, range_max, dtype=jnp.int32)

    def probability(ids):
        return jnp.full(ids.shape, 1.0 / range_max, jnp.float32)

    return _candidates(key, true_classes, num_sampled, unique, range_max, draw, probability)


def log_uniform_candidate_sampler(key, true_classes, num_true, num_sampled, unique, range_max):
    """`tf.random.log_uniform_candidate_sampler`: Zipfian ids,
    P(k) = (log(k + 2) - log(k + 1)) / log(range_max + 1).

    Sampled like TF's LogUniformSampler: `floor(exp(u * log(range_max + 1))) - 1` for u
    uniform in [0, 1), taken mod range_max (the floating-point guard TF keeps). The
    arithmetic is float32 (TF: float64), so ids near a rounding boundary can differ.

    Args and returns as `uniform_candidate_sampler`.
    """
    true_classes, num_true, num_sampled, unique, range_max = _check_sampler_args(
        key, true_classes, num_true, num_sampled, unique, range_max
    )
    log_range = math.log1p(range_max)

    def draw(k, n):
        u = jax.random.uniform(k, (n,), jnp.float32)
        value = jnp.floor(jnp.exp(u * log_range)).astype(jnp.int32) - 1
        return value % range_max

    def probability(ids):
        # log((k + 2) / (k + 1)) = log1p(1 / (k + 1)), accurate in float32 for large k.
        return jnp.log1p(1.0 / (ids.astype(jnp.float32) + 1.0)) / log_range

    return _candidates(key, true_classes, num_sampled, unique, range_max, draw, probability)


def _read_vocab_counts(vocab_file: str) -> list[float]:
    """The last comma-separated field of each line of `vocab_file`, as a float (TF's
    FixedUnigramSampler::LoadFromFile)."""
    path = check_path("vocab_file", vocab_file)
    if not path.is_file():
        raise FileNotFoundError(f"vocab_file: got {str(path)!r}, expected an existing file")
    counts = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        try:
            counts.append(float(line.split(",")[-1]))
        except ValueError:
            raise ValueError(
                f"vocab_file: got line {number} {line!r}, expected a count as its last "
                f"comma-separated field"
            ) from None
    return counts


def _fixed_unigram_weights(
    range_max, vocab_file, distortion, num_reserved_ids, num_shards, shard, unigrams
) -> np.ndarray:
    """The (range_max,) float32 weights of TF's FixedUnigramSampler, checked.

    As TF: the reserved ids of this shard (id % num_shards == shard, id <
    num_reserved_ids) come first with weight 0; then each count, raised to `distortion`,
    whose id belongs to the shard. TF numbers the counts from the number of reserved ids
    kept in the shard (not from num_reserved_ids), and so do we. The ids returned are
    positions in this list, which must have range_max entries.
    """
    if isinstance(distortion, bool) or not isinstance(distortion, (int, float)):
        raise TypeError(
            f"distortion: got {distortion!r} of type {type(distortion).__name__}, expected a number"
        )
    if not (math.isfinite(distortion) and distortion >= 0):
        raise ValueError(f"distortion: got {distortion!r}, expected a finite number >= 0")
    num_reserved_ids = check_int("num_reserved_ids", num_reserved_ids, minimum=0)
    num_shards = check_positive_int("num_shards", num_shards)
    shard = check_int("shard", shard, minimum=0)
    if shard >= num_shards:
        raise ValueError(f"shard: got {shard}, expected 0 <= shard < num_shards={num_shards}")
    if isinstance(unigrams, (str, bytes)) or not hasattr(unigrams, "__len__"):
        raise TypeError(f"unigrams: got {type(unigrams).__name__}, expected a sequence of counts")
    has_file = vocab_file not in ("", None)
    if has_file == bool(len(unigrams)):
        raise ValueError(
            f"vocab_file, unigrams: got {'both' if has_file else 'neither'}, expected "
            f"exactly one of them"
        )
    counts = _read_vocab_counts(vocab_file) if has_file else unigrams
    source = "vocab_file" if has_file else "unigrams"
    counts = np.asarray(counts, np.float64)
    if counts.ndim != 1 or not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise ValueError(f"{source}: got {counts.tolist()[:5]}..., expected counts >= 0")

    reserved = sum(1 for i in range(num_reserved_ids) if i % num_shards == shard)
    kept = counts[(reserved + np.arange(len(counts))) % num_shards == shard]
    weights = np.concatenate([np.zeros(reserved), kept**distortion]).astype(np.float32)
    if len(weights) != range_max:
        raise ValueError(
            f"{source}: got {len(counts)} counts, which with num_reserved_ids="
            f"{num_reserved_ids}, num_shards={num_shards}, shard={shard} give "
            f"{len(weights)} ids, expected range_max={range_max}"
        )
    if not weights.sum() > 0:
        raise ValueError(f"{source}: got no positive weight in the shard, expected one")
    return weights


def fixed_unigram_candidate_sampler(
    key,
    true_classes,
    num_true,
    num_sampled,
    unique,
    range_max,
    vocab_file="",
    distortion=1.0,
    num_reserved_ids=0,
    num_shards=1,
    shard=0,
    unigrams=(),
):
    """`tf.random.fixed_unigram_candidate_sampler`: ids drawn with P(k) = w_k / sum(w),
    w_k = count_k ** distortion (distortion 1: the unigram, 0: uniform over the ids
    with a count).

    The counts come from `unigrams` (one per id, in order) or from `vocab_file` (the
    last comma-separated field of each line), exactly one of them. The first
    `num_reserved_ids` ids get weight 0. With `num_shards > 1` only the ids with
    `id % num_shards == shard` are kept, renumbered from 0, exactly as TF's
    FixedUnigramSampler (see `_fixed_unigram_weights`); `range_max` must equal the
    number of ids kept (TF's check). The counts are read on the host, when traced: pass
    these options as static arguments under jit (`unigrams` as a tuple).

    Args and returns as `uniform_candidate_sampler`, plus TF's options.
    """
    true_classes, num_true, num_sampled, unique, range_max = _check_sampler_args(
        key, true_classes, num_true, num_sampled, unique, range_max
    )
    weights = _fixed_unigram_weights(
        range_max, vocab_file, distortion, num_reserved_ids, num_shards, shard, unigrams
    )
    if unique and num_sampled > np.count_nonzero(weights):
        raise ValueError(
            f"num_sampled: got {num_sampled} with unique=True, expected at most the "
            f"{np.count_nonzero(weights)} ids of positive weight"
        )
    probabilities = jnp.asarray(weights / weights.sum(dtype=np.float64), jnp.float32)
    cdf = np.cumsum(weights, dtype=np.float64)
    last = int(np.flatnonzero(weights)[-1])

    def draw(k, n):
        # Inverse CDF on float32 cumulative weights; the clip guards the rounding of
        # u * total up to the total, which would pick an id past the last positive one.
        u = jax.random.uniform(k, (n,), jnp.float32) * jnp.float32(cdf[-1])
        ids = jnp.searchsorted(jnp.asarray(cdf, jnp.float32), u, side="right")
        return jnp.minimum(ids, last).astype(jnp.int32)

    def probability(ids):
        return probabilities[ids]

    return _candidates(key, true_classes, num_sampled, unique, range_max, draw, probability)


def learned_unigram_initial_counts(range_max) -> jax.Array:
    """The (range_max,) int32 counts a new learned unigram sampler starts from: all
    ones, as TF's WeightedPicker (every id equally likely before any batch)."""
    range_max = check_positive_int("range_max", range_max)
    if range_max >= _INT32_MAX:
        raise ValueError(f"range_max: got {range_max}, expected less than {_INT32_MAX}")
    return jnp.ones(range_max, jnp.int32)


def learned_unigram_candidate_sampler(
    key, true_classes, num_true, num_sampled, unique, range_max, counts
):
    """`tf.random.learned_unigram_candidate_sampler` with its state made explicit.

    TF's sampler keeps, per op, an integer count per id (WeightedPicker, all ones at
    first: `learned_unigram_initial_counts(range_max)`), samples with P(k) = counts_k /
    sum(counts), and *after* sampling (CandidateSamplerOp::Compute) adds 1 to the count
    of every id in `true_classes` (row-major; TF stops adding once the total would pass
    2**31 - 1). This function does the same and returns the new counts instead of
    keeping them::

        counts = learned_unigram_initial_counts(V)
        (sampled, true_expected, sampled_expected), counts = (
            learned_unigram_candidate_sampler(key, labels, 1, 64, True, V, counts)
        )

    Args:
        counts: (range_max,) int32 counts, each >= 0, with at least num_sampled of them
            positive when unique=True (checked when concrete; under jit such counts
            would make the unique draw loop forever, as TF's). Counts that grew from
            `learned_unigram_initial_counts` always qualify.
        The others as `uniform_candidate_sampler`.

    Returns:
        `((sampled_candidates, true_expected_count, sampled_expected_count), new_counts)`.
    """
    true_classes, num_true, num_sampled, unique, range_max = _check_sampler_args(
        key, true_classes, num_true, num_sampled, unique, range_max
    )
    counts = _check_counts(counts, range_max, num_sampled if unique else 1)
    cdf = jnp.cumsum(counts)
    total = cdf[-1]

    def probability(ids):
        return counts[ids].astype(jnp.float32) / total.astype(jnp.float32)

    out = _candidates(
        key, true_classes, num_sampled, unique, range_max, _inverse_cdf_draw(cdf), probability
    )
    ids = true_classes.reshape(-1)
    room = _INT32_MAX - total
    new_counts = counts.at[ids].add((jnp.arange(ids.size) < room).astype(jnp.int32))
    return out, new_counts


def _check_counts(counts, range_max: int, min_positive: int):
    """`counts` (range_max,) int32, each >= 0 and at least `min_positive` of them > 0
    (so that a unique draw can finish), checked when the values are concrete."""
    counts = jnp.asarray(counts)
    if counts.dtype != jnp.int32:
        raise TypeError(
            f"counts: got dtype {counts.dtype}, expected int32 (from "
            f"learned_unigram_initial_counts)"
        )
    if counts.shape != (range_max,):
        raise shape_error("counts", counts.shape, f"(range_max,) = ({range_max},)")
    if is_concrete(counts):
        values = np.asarray(counts)
        if values.min() < 0 or values.sum(dtype=np.int64) <= 0:
            raise ValueError(
                f"counts: got min {values.min()} and sum {values.sum(dtype=np.int64)}, "
                f"expected counts >= 0 with a positive sum"
            )
        if np.count_nonzero(values) < min_positive:
            raise ValueError(
                f"counts: got {np.count_nonzero(values)} positive counts, expected at "
                f"least num_sampled={min_positive} for unique=True"
            )
    return counts


# ---------------------------------------------------------------------- accidental hits


@jax.jit  # one compiled program, not a dispatch per op, for eager compute_accidental_hits
def _last_positions(true_classes, sampled):
    """For each true class (any shape): the last position in `sampled` holding it, and
    whether one does. The last, as TF's ComputeAccidentalHits (its map from id to
    position keeps the last write); found by a stable sort of `sampled`."""
    order = jnp.argsort(sampled, stable=True)
    ordered = sampled[order]
    at = jnp.searchsorted(ordered, true_classes, side="right") - 1
    at = jnp.maximum(at, 0)
    return order[at].astype(jnp.int32), ordered[at] == true_classes


def _accidental_hit_mask(true_classes, sampled):
    """The (batch_size, num_sampled) float32 mask that `_compute_sampled_logits` adds
    to the sampled logits: LOWEST where compute_accidental_hits reports a hit, 0
    elsewhere (TF's sparse_to_dense of the hits)."""
    positions, found = _last_positions(true_classes, sampled)
    rows = jnp.broadcast_to(jnp.arange(true_classes.shape[0])[:, None], true_classes.shape)
    mask = jnp.zeros((true_classes.shape[0], sampled.shape[0]), jnp.float32)
    # min, not set: a row may hold a class twice, and a miss must not undo a hit.
    return mask.at[rows, positions].min(jnp.where(found, LOWEST, 0.0))


def _check_sampled(name: str, x):
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.integer):
        raise TypeError(f"{name}: got dtype {x.dtype}, expected integer ids")
    if x.ndim != 1:
        raise shape_error(name, x.shape, "(num_sampled,)")
    return x.astype(jnp.int32)


def compute_accidental_hits(true_classes, sampled_candidates, num_true, size=None):
    """`tf.nn.compute_accidental_hits`: where a sampled candidate is one of a row's true
    classes.

    For each row i and each of its true classes (in order) found among
    `sampled_candidates` (at its last position j), one hit `(i, j, -FLT_MAX)`.

    Args:
        true_classes: (batch_size, num_true) integer ids.
        sampled_candidates: (num_sampled,) integer ids.
        num_true: Python int.
        size: None: return exactly the hits (eager only; the count depends on the
            values). An int: a fixed-size result as `jnp.nonzero(size=...)`, jit-able:
            the first `size` hits, padded with index 0, id 0 and weight 0.

    Returns:
        `(indices, ids, weights)`: int32 rows, int32 positions in `sampled_candidates`,
        float32 weights -FLT_MAX.
    """
    num_true = check_positive_int("num_true", num_true)
    true_classes = _check_classes("true_classes", true_classes, num_true)
    sampled = _check_sampled("sampled_candidates", sampled_candidates)
    size = check_int("size", size, minimum=0, allow_none=True)
    positions, found = _last_positions(true_classes.reshape(-1), sampled)
    rows = jnp.repeat(jnp.arange(true_classes.shape[0], dtype=jnp.int32), num_true)
    if size is None:
        if not is_concrete(found):
            raise ValueError(
                "size: got None under a transformation (jit, vmap), expected an int: "
                "the number of hits depends on the values"
            )
        hits = np.flatnonzero(np.asarray(found))
        return (
            jnp.asarray(np.asarray(rows)[hits]),
            jnp.asarray(np.asarray(positions)[hits]),
            jnp.full(hits.shape, LOWEST, jnp.float32),
        )
    (hits,) = jnp.nonzero(found, size=size)
    valid = jnp.arange(size) < jnp.sum(found)
    return (
        jnp.where(valid, rows[hits], 0),
        jnp.where(valid, positions[hits], 0),
        jnp.where(valid, LOWEST, 0.0).astype(jnp.float32),
    )
