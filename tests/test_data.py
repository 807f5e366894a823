"""jrnn.data: pad_sequences and to_categorical against Keras, Dataset's
pipeline semantics (tf.data's shuffle buffer, padding, bucketing), sliding windows,
`jrnn.fit` on a Dataset, and the errors for bad input."""

import doctest
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import jrnn  # noqa: E402
import jrnn.data  # noqa: E402
from jrnn.data import (  # noqa: E402
    Dataset,
    pad_sequences,
    timeseries_dataset_from_array,
    to_categorical,
)


def test_docstring_examples():
    names = ["Dataset", "pad_sequences", "timeseries_dataset_from_array", "to_categorical"]
    globs = {"np": np, **{name: getattr(jrnn.data, name) for name in names}}
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner()
    for name in names:
        for test in finder.find(getattr(jrnn.data, name), name, globs=globs):
            runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted >= 8 and result.failed == 0


# -- pad_sequences ----------------------------------------------------------------------------
def _random_sequences(rng, n, step_shape=(), kind="int", empty=True):
    lengths = rng.integers(0 if empty else 1, 9, n)
    seqs = []
    for k in lengths:
        a = (
            rng.integers(1, 50, (k, *step_shape))
            if kind == "int"
            else rng.normal(size=(k, *step_shape))
        )
        seqs.append(a.tolist() if rng.random() < 0.5 else a)
    return seqs, np.asarray(lengths)


@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("truncating", ["pre", "post"])
def test_pad_sequences_matches_keras(padding, truncating):
    rng = np.random.default_rng(0)
    cases = 0
    for step_shape in [(), (3,), (2, 2)]:
        for kind, dtype, value in [
            ("int", "int32", 0.0),
            ("int", "int64", -1),
            ("float", "float32", 0.5),
            ("float", "float64", np.nan),
            ("float", "int32", 7),  # floats into ints: truncated, as NumPy
        ]:
            for maxlen in [None, 1, 3, 12]:
                seqs, lengths = _random_sequences(rng, 7, step_shape, kind)
                kw = dict(maxlen=maxlen, dtype=dtype, padding=padding, truncating=truncating)
                want = keras.utils.pad_sequences(seqs, value=value, **kw)
                got, kept = pad_sequences(seqs, value=value, return_lengths=True, **kw)
                assert got.dtype == want.dtype and got.shape == want.shape
                np.testing.assert_array_equal(got, want)
                t = want.shape[1]
                np.testing.assert_array_equal(kept, np.minimum(lengths, t))
                assert kept.dtype == np.int32
                cases += 1
    assert cases == 60


def test_pad_sequences_kept_lengths_locate_the_data():
    seqs = [[1, 2, 3, 4, 5], [6], [], [7, 8]]
    post, lengths = pad_sequences(seqs, maxlen=3, padding="post", return_lengths=True)
    np.testing.assert_array_equal(lengths, [3, 1, 0, 2])
    np.testing.assert_array_equal(post, [[3, 4, 5], [6, 0, 0], [0, 0, 0], [7, 8, 0]])
    np.testing.assert_array_equal(np.arange(3)[None] < lengths[:, None], post > 0)
    pre = pad_sequences(seqs, maxlen=3, truncating="post", value=-1)
    np.testing.assert_array_equal(pre, [[1, 2, 3], [-1, -1, 6], [-1, -1, -1], [-1, 7, 8]])


def test_pad_sequences_strings():
    seqs = [["the", "cat"], ["a"], [], ["one", "two", "three"]]
    for dtype in [object, "<U5", "U3", "S5"]:
        for padding in ["pre", "post"]:
            kw = dict(maxlen=2, dtype=dtype, padding=padding, value="<p>")
            want = keras.utils.pad_sequences(seqs, **kw)
            got = pad_sequences(seqs, **kw)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)
    # An unsized str dtype fits the longest string (Keras truncates to one character).
    got = pad_sequences(seqs, dtype=str, value="<pad>", padding="post")
    assert got[3].tolist() == ["one", "two", "three"] and got[1].tolist()[1] == "<pad>"


def test_pad_sequences_edge_cases():
    assert pad_sequences([]).shape == (0, 0)
    assert pad_sequences([[], []]).shape == (2, 0)
    for truncating in ["pre", "post"]:  # an empty time axis is refused (issue 12)
        with pytest.raises(ValueError, match="maxlen: got 0, expected None or a positive integer"):
            pad_sequences([[1, 2], [], [3]], maxlen=0, truncating=truncating)
    x = pad_sequences([np.ones((2, 3)), np.zeros((0, 3)), np.ones((4, 3))], maxlen=3)
    assert x.shape == (3, 3, 3) and x[1].sum() == 0 and x[0, 0].sum() == 0
    x = pad_sequences(np.arange(6).reshape(2, 3), maxlen=4)  # an array of sequences
    np.testing.assert_array_equal(x, [[0, 0, 1, 2], [0, 3, 4, 5]])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            dict(sequences=[[[1, 2], [3, 4]], [[1, 2, 3]]]),
            ValueError,
            r"sequences\[1\].*\(3,\).*\(2,\)",
        ),
        (dict(sequences=[[[1, 2], [3]]]), ValueError, r"sequences\[0\].*one shape"),
        (dict(sequences=[[1], [2]], maxlen=-1), ValueError, "maxlen: got -1"),
        (dict(sequences=[[1], [2]], maxlen=2.5), TypeError, "maxlen"),
        (dict(sequences=[[1]], padding="middle"), ValueError, "padding: got 'middle'"),
        (dict(sequences=[[1]], truncating="left"), ValueError, "truncating: got 'left'"),
        (dict(sequences=[[1]], value="pad"), ValueError, "value: got the str 'pad'.*int32"),
        (dict(sequences=[["a"]], dtype="float32"), ValueError, r"sequences\[0\]"),
        (dict(sequences=[[1], 5]), ValueError, r"sequences\[1\]: got int"),
        (dict(sequences=iter([[1]])), TypeError, "sequences: got list_iterator"),
    ],
)
def test_pad_sequences_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        pad_sequences(**kwargs)


# -- to_categorical ---------------------------------------------------------------------------
def test_to_categorical_matches_keras():
    rng = np.random.default_rng(1)
    for shape in [(5,), (6, 1), (2, 3), (2, 3, 1), ()]:
        for num_classes in [None, 7]:
            y = rng.integers(0, 5, shape)
            want = keras.utils.to_categorical(y, num_classes)
            got = to_categorical(y, num_classes)
            assert got.dtype == np.float32 and got.shape == want.shape
            np.testing.assert_array_equal(got, want)
    assert to_categorical([1.0, 0.0], dtype="int32").tolist() == [[0, 1], [1, 0]]


@pytest.mark.parametrize(
    "y, num_classes, error, match",
    [
        ([0, 3], 3, ValueError, r"label 3, expected labels in \[0, 3\)"),
        ([0, -1], None, ValueError, r"label -1"),
        ([0.5], None, ValueError, "non-integer label 0.5"),
        ([1.0, np.inf], None, ValueError, "non-integer label inf"),
        (["a"], None, TypeError, "dtype <U1"),
        ([], None, ValueError, "num_classes cannot be inferred"),
        ([1], 0, ValueError, "num_classes: got 0"),
    ],
)
def test_to_categorical_errors(y, num_classes, error, match):
    with pytest.raises(error, match=match):
        to_categorical(y, num_classes)


# -- Dataset: sources, batch, map, repeat, take, skip -----------------------------------------
def test_from_tensor_slices_structures():
    x, y = np.arange(12).reshape(6, 2), np.arange(6) * 10
    assert [e.tolist() for e in Dataset.from_tensor_slices(x)][1] == [2, 3]
    first = next(iter(Dataset.from_tensor_slices((x, {"y": y, "w": [1.0] * 6}))))
    assert isinstance(first, tuple) and set(first[1]) == {"y", "w"}
    assert first[0].tolist() == [0, 1] and first[1]["y"] == 0
    batch = next(iter(Dataset.from_tensor_slices({"a": x, "b": (y, y)}).batch(4)))
    assert batch["a"].shape == (4, 2) and batch["b"][1].shape == (4,)
    assert Dataset.from_tensor_slices([[1, 2], [3, 4]]).cardinality() == 2  # a list is an array
    ds = Dataset.from_tensor_slices((x, y)).batch(4)
    assert [b[0].shape for b in ds] == [(4, 2), (2, 2)] and len(ds) == 2
    assert [[v.tolist() for v in b] for b in ds] == [[v.tolist() for v in b] for b in ds]


def test_from_generator_restarts_each_iteration():
    ds = Dataset.from_generator(lambda n: ((i, [i] * i) for i in range(n)), args=(4,))
    assert ds.cardinality() == Dataset.UNKNOWN
    with pytest.raises(TypeError, match="unknown"):
        len(ds)
    with pytest.raises(TypeError):
        len(ds)
    assert [e[0] for e in ds] == [0, 1, 2, 3] == [e[0] for e in ds]
    with pytest.raises(TypeError, match="generator: got generator"):
        Dataset.from_generator(x for x in range(3))


def test_batch_map_repeat_take_skip():
    ds = Dataset.from_tensor_slices((np.arange(10), np.arange(10) % 2))
    b = ds.batch(4, drop_remainder=True)
    assert len(b) == 2 and [x.tolist() for x, _ in b] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    # map before batch sees elements (tuples unpacked), after batch whole batches
    doubled = ds.map(lambda x, y: (2 * x, y)).batch(5)
    assert [x.tolist() for x, _ in doubled][1] == [10, 12, 14, 16, 18]
    sums = ds.batch(5).map(lambda x, y: x.sum())
    assert [int(s) for s in sums] == [10, 35] and len(sums) == 2
    assert [int(x) for x, _ in ds.skip(7)] == [7, 8, 9] and len(ds.skip(7)) == 3
    assert len(ds.skip(20)) == 0 and list(ds.skip(-1)) == []
    assert [int(x) for x, _ in ds.take(2)] == [0, 1] and len(ds.take(-1)) == 10
    r = ds.repeat(3)
    assert len(r) == 30 and [int(x) for x, _ in r][9:12] == [9, 0, 1]
    inf = ds.repeat()
    assert inf.cardinality() == Dataset.INFINITE
    with pytest.raises(TypeError, match="infinite"):
        len(inf)
    assert len(inf.take(25)) == 25 and len(list(inf.take(25))) == 25
    assert list(ds.take(0).repeat()) == []  # repeating nothing ends
    assert [int(x) for x, _ in ds.filter(lambda x, y: y == 1)] == [1, 3, 5, 7, 9]
    assert list(ds.as_numpy_iterator())[3][0] == 3


@pytest.mark.parametrize(
    "make, error, match",
    [
        (
            lambda: Dataset.from_tensor_slices((np.zeros(5), np.zeros(4))),
            ValueError,
            r"tensors\[0\] \(5,\), tensors\[1\] \(4,\)",
        ),
        (
            lambda: Dataset.from_tensor_slices({"a": 1.0}),
            ValueError,
            r"tensors\['a'\]: got a scalar",
        ),
        (lambda: Dataset.from_tensor_slices([[1, 2], [3]]), ValueError, "could not make an array"),
        (lambda: Dataset.from_tensor_slices(()), ValueError, "empty structure"),
        (lambda: Dataset.from_tensor_slices(np.zeros(3)).batch(0), ValueError, "batch_size: got 0"),
        (
            lambda: Dataset.from_tensor_slices(np.zeros(3)).batch(-2),
            ValueError,
            "batch_size: got -2",
        ),
        (
            lambda: Dataset.from_tensor_slices(np.zeros(3)).batch(2.0),
            TypeError,
            "batch_size: got 2.0 of type float",
        ),
        (lambda: Dataset.from_tensor_slices(np.zeros(3)).padded_batch(0), ValueError, "batch_size"),
        (
            lambda: Dataset.from_tensor_slices(np.zeros(3)).shuffle(0),
            ValueError,
            "buffer_size: got 0",
        ),
        (lambda: Dataset.from_tensor_slices(np.zeros(3)).shuffle(2, seed=-1), ValueError, "seed"),
        (lambda: Dataset.from_tensor_slices(np.zeros(3)).take(-2), ValueError, "count: got -2"),
        (lambda: Dataset.from_tensor_slices(np.zeros(3)).skip(-2), ValueError, "count: got -2"),
        (lambda: Dataset.from_tensor_slices(np.zeros(3)).repeat(-3), ValueError, "count: got -3"),
        (lambda: Dataset.from_tensor_slices(np.zeros(3)).map(3), TypeError, "fn: got int"),
        (
            lambda: list(Dataset.from_generator(lambda: iter([[1], [1, 2]])).batch(2)),
            ValueError,
            "use padded_batch",
        ),
        (
            lambda: list(Dataset.from_generator(lambda: iter([(1, 2), 3])).batch(2)),
            ValueError,
            "structure",
        ),
    ],
)
def test_dataset_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


# -- shuffle ------------------------------------------------------------------------------------
def _order(ds):
    return [int(v) for v in ds]


def test_shuffle_is_a_permutation_with_the_buffer_bound():
    """Output position t is drawn from inputs 0 .. t + B - 1 (the buffer is filled with B
    elements, then each output reads one more), so element i comes out at position
    >= i - B + 1; there is no bound on lateness. B = 1 keeps the order."""
    n = 40
    base = Dataset.from_tensor_slices(np.arange(n))
    assert _order(base.shuffle(1, seed=3)) == list(range(n))
    for b in [2, 5, 13]:
        earliest = np.full(n, n)
        for seed in range(200):
            order = _order(base.shuffle(b, seed=seed))
            assert sorted(order) == list(range(n))  # every element exactly once
            pos = np.argsort(order)
            assert np.all(pos >= np.arange(n) - b + 1)
            earliest = np.minimum(earliest, pos)
        # the bound is tight: each element past the first buffer reached it for some seed
        np.testing.assert_array_equal(earliest[b - 1 : n - 1], np.arange(n - b))


def test_shuffle_distribution():
    rng_counts = np.zeros((2, 10), int)
    for seed in range(3000):
        small = _order(Dataset.from_tensor_slices(np.arange(10)).shuffle(4, seed=seed))
        full = _order(Dataset.from_tensor_slices(np.arange(10)).shuffle(10, seed=seed))
        rng_counts[0, small[0]] += 1
        rng_counts[1, full.index(0)] += 1
    # the first output is uniform over the first buffer (750 each), never from past it
    assert rng_counts[0, 4:].sum() == 0 and np.all(np.abs(rng_counts[0, :4] - 750) < 120)
    # buffer >= n: a uniform permutation (element 0 lands anywhere, 300 each)
    assert np.all(np.abs(rng_counts[1] - 300) < 90)


def test_shuffle_epochs_are_deterministic_per_seed():
    def make(seed, reshuffle=True):
        return Dataset.from_tensor_slices(np.arange(50)).shuffle(
            16, seed=seed, reshuffle_each_iteration=reshuffle
        )

    a, b = make(7), make(7)
    epochs_a = [_order(a) for _ in range(3)]
    assert epochs_a == [_order(b) for _ in range(3)]  # same seed, same epochs
    assert len({tuple(e) for e in epochs_a}) == 3  # a new order each iteration
    assert _order(make(8)) != epochs_a[0]
    fixed = make(7, reshuffle=False)
    assert _order(fixed) == _order(fixed)
    unseeded = Dataset.from_tensor_slices(np.arange(50)).shuffle(50, reshuffle_each_iteration=False)
    assert _order(unseeded) == _order(unseeded)
    # an iterator made and dropped does not use up an epoch (fit's one-shot check)
    c = make(7)
    iter(c)
    assert _order(c) == epochs_a[0]
    # repeat after shuffle: each repetition has its own order; batch keeps the order
    reps = _order(make(7).repeat(3))
    assert sorted(reps[:50]) == list(range(50)) and reps[:50] != reps[50:100]
    batched = [int(v) for batch in make(7).batch(8) for v in batch]
    assert batched == epochs_a[0]


# -- padded_batch and bucket_by_sequence_length -----------------------------------------------
def _ragged(lengths, features=None):
    """(tokens, index) elements: tokens 1..len (or (len, features) ones), then zero padding."""

    def gen():
        for i, n in enumerate(lengths):
            shape = (n,) if features is None else (n, features)
            yield (
                np.ones(shape, np.int32) * (np.arange(n) + 1).reshape(-1, *[1] * (len(shape) - 1)),
                i,
            )

    return Dataset.from_generator(gen)


def test_padded_batch():
    ds = _ragged([3, 1, 2, 5, 4])
    batches = list(ds.padded_batch(2))
    assert [b[0].shape for b in batches] == [(2, 3), (2, 5), (1, 4)]
    np.testing.assert_array_equal(batches[0][0], [[1, 2, 3], [1, 0, 0]])
    assert batches[1][1].tolist() == [2, 3]
    assert len(list(ds.padded_batch(2, drop_remainder=True))) == 2
    fixed = list(ds.padded_batch(2, padded_shapes=((6,), ()), padding_values=(-1, 0)))
    assert {b[0].shape[1] for b in fixed} == {6} and fixed[0][0][1].tolist() == [1] + [-1] * 5
    two_d = next(iter(_ragged([2, 3], features=4).padded_batch(2, padded_shapes=((None, 4), ()))))
    assert two_d[0].shape == (2, 3, 4) and two_d[0][0, 2].sum() == 0
    words = Dataset.from_generator(lambda: iter([np.array(["a", "bb"]), np.array(["ccc"])]))
    assert next(iter(words.padded_batch(2))).tolist() == [["a", "bb"], ["ccc", ""]]
    with pytest.raises(ValueError, match=r"larger than the padded shape \(4,\)"):
        list(ds.padded_batch(2, padded_shapes=((4,), ())))
    with pytest.raises(ValueError, match="padded_shapes: got"):
        list(ds.padded_batch(2, padded_shapes=((None, 3), ())))
    with pytest.raises(ValueError, match="padded_shapes: got"):
        list(ds.padded_batch(2, padded_shapes={"a": (None,)}))
    with pytest.raises(ValueError, match="padded_shapes: got 6 for component 0"):
        list(ds.padded_batch(2, padded_shapes=(6, ())))
    with pytest.raises(ValueError, match="padding_values: got 0.5 for component 0 of dtype int64"):
        list(ds.padded_batch(2, padding_values=0.5))
    with pytest.raises(ValueError, match="padding_values: got"):
        list(ds.padded_batch(2, padding_values=(1, 2, 3)))


def _waste(batches):
    """Padding positions / all positions in the token component."""
    real = sum(int((b[0] > 0).sum()) for b in batches)
    total = sum(b[0].size for b in batches)
    return 1 - real / total


def test_bucket_by_sequence_length_wastes_less_padding():
    rng = np.random.default_rng(0)
    lengths = np.minimum(1 + rng.geometric(1 / 12, 2000), 200)  # skewed: many short, few long
    ds = _ragged(lengths).shuffle(2000, seed=0)
    bounds = [4, 8, 12, 16, 24, 32, 48, 64]
    sizes = [32] * (len(bounds) + 1)
    buckets = list(ds.bucket_by_sequence_length(lambda tokens, i: len(tokens), bounds, sizes))
    ids = np.concatenate([b[1] for b in buckets])
    assert sorted(ids.tolist()) == list(range(len(lengths)))  # every element once
    edges = [0, *bounds, 10**9]
    for tokens, idx in buckets:
        got = lengths[idx]
        k = np.searchsorted(bounds, got.max(), side="right")
        assert np.all((got >= edges[k]) & (got < edges[k + 1]))  # one bucket per batch
        assert tokens.shape[1] == got.max()
        np.testing.assert_array_equal((tokens > 0).sum(axis=1), got)
    assert sum(len(b[1]) < 32 for b in buckets) <= len(sizes)  # only the flushed ones
    plain = _waste(list(ds.padded_batch(32)))
    bucketed = _waste(buckets)
    print(
        f"padding waste, 2000 geometric lengths (mean {lengths.mean():.1f}, max "
        f"{lengths.max()}), batch 32: padded_batch {plain:.1%}, bucketed {bucketed:.1%}"
    )
    assert bucketed < plain / 3
    boundary = list(
        ds.filter(lambda t, i: len(t) < 64).bucket_by_sequence_length(
            lambda t, i: len(t), bounds, sizes, pad_to_bucket_boundary=True
        )
    )
    assert {b[0].shape[1] for b in boundary} == {b - 1 for b in bounds}
    print(f"  bucketed with pad_to_bucket_boundary (lengths < 64): {_waste(boundary):.1%}")
    dropped = list(
        ds.bucket_by_sequence_length(lambda t, i: len(t), bounds, sizes, drop_remainder=True)
    )
    assert all(len(b[1]) == 32 for b in dropped)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            dict(bucket_boundaries=[8, 4], bucket_batch_sizes=[2, 2, 2]),
            ValueError,
            "strictly increasing",
        ),
        (dict(bucket_boundaries=[4], bucket_batch_sizes=[2]), ValueError, "expected len.*= 2"),
        (
            dict(bucket_boundaries=[4], bucket_batch_sizes=[2, 0]),
            ValueError,
            r"bucket_batch_sizes\[1\]: got 0",
        ),
        (
            dict(bucket_boundaries=[0], bucket_batch_sizes=[2, 2]),
            ValueError,
            r"bucket_boundaries\[0\]",
        ),
        (
            dict(bucket_boundaries=[3], bucket_batch_sizes=[2, 2], pad_to_bucket_boundary=True),
            ValueError,
            "must be < max",
        ),
        (
            dict(
                bucket_boundaries=[3],
                bucket_batch_sizes=[2, 2],
                element_length_func=lambda t, i: "x",
            ),
            TypeError,
            "element_length_func",
        ),
    ],
)
def test_bucket_errors(kwargs, error, match):
    kwargs.setdefault("element_length_func", lambda t, i: len(t))
    with pytest.raises(error, match=match):
        list(_ragged([1, 2, 5, 3]).bucket_by_sequence_length(**kwargs))


# -- timeseries_dataset_from_array ------------------------------------------------------------
def test_timeseries_documented_examples():
    # Example 1: indices 0..98, length 10, rate 2, stride 3
    ds = timeseries_dataset_from_array(
        np.arange(99), None, sequence_length=10, sampling_rate=2, sequence_stride=3
    )
    (w,) = list(ds)
    assert w.shape == (27, 10)
    assert w[0].tolist() == list(range(0, 20, 2)) and w[1].tolist() == list(range(3, 23, 2))
    assert w[2].tolist() == list(range(6, 26, 2)) and w[-1].tolist() == list(range(78, 98, 2))
    # Example 2: the past 10 steps predict the next
    data = np.sin(np.arange(300) / 7.0)
    inputs, targets = next(iter(timeseries_dataset_from_array(data[:-10], data[10:], 10)))
    np.testing.assert_array_equal(inputs[0], data[:10])
    assert targets[0] == data[10] and inputs.shape == (128, 10) and targets.shape == (128,)
    # Example 3: non-overlapping windows, inputs and targets zipped
    x, y, n = np.arange(100), np.arange(100) * 2, 20
    xs = timeseries_dataset_from_array(x, None, sequence_length=n, sequence_stride=n)
    ys = timeseries_dataset_from_array(y, None, sequence_length=n, sequence_stride=n)
    for a, b in zip(xs, ys):
        np.testing.assert_array_equal(a[0], x[:n])
        np.testing.assert_array_equal(b[1], y[n : 2 * n])


def test_timeseries_hand_computed_windows():
    data = np.arange(30).reshape(15, 2)  # step t is [2t, 2t + 1]
    targets = np.arange(15) * 100
    ds = timeseries_dataset_from_array(
        data,
        targets,
        sequence_length=3,
        sequence_stride=2,
        sampling_rate=2,
        batch_size=2,
        start_index=1,
        end_index=12,
    )
    # windows start at 1, 3, 5, 7 (7 + 2 * 2 = 11 < 12; 9 would need step 13)
    starts = [1, 3, 5, 7]
    want = [(data[[s, s + 2, s + 4]], targets[s]) for s in starts]
    got = [(w, t) for ws, ts in ds for w, t in zip(ws, ts)]
    assert len(ds) == 2 and [b[0].shape for b in ds] == [(2, 3, 2), (2, 3, 2)]
    for (gw, gt), (ww, wt) in zip(got, want, strict=True):
        np.testing.assert_array_equal(gw, ww)
        assert gt == wt
    # fewer targets than windows: windows stop with the targets; batch_size None: single
    few = list(timeseries_dataset_from_array(data, targets[:4], 3, batch_size=None))
    assert [int(t) for _, t in few] == [0, 100, 200, 300] and few[0][0].shape == (3, 2)


def test_timeseries_shuffle():
    data = np.arange(200)
    plain = np.concatenate(list(timeseries_dataset_from_array(data, None, 5, batch_size=16)))
    a = timeseries_dataset_from_array(data, None, 5, batch_size=16, shuffle=True, seed=3)
    b = timeseries_dataset_from_array(data, None, 5, batch_size=16, shuffle=True, seed=3)
    first = np.concatenate(list(a))
    assert sorted(first[:, 0].tolist()) == plain[:, 0].tolist()
    np.testing.assert_array_equal(first[:, 1:], first[:, :1] + np.arange(1, 5))
    assert first[:, 0].tolist() != plain[:, 0].tolist()
    np.testing.assert_array_equal(first, np.concatenate(list(b)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(sequence_length=0), "sequence_length: got 0"),
        (dict(sequence_length=30), "sequence_length: windows of 30"),
        (dict(sequence_length=3, sequence_stride=0), "sequence_stride: got 0"),
        (dict(sequence_length=3, sampling_rate=20), "sampling_rate: got 20"),
        (dict(sequence_length=3, start_index=20), "start_index, end_index"),
        (dict(sequence_length=3, start_index=5, end_index=5), "start_index, end_index"),
        (dict(sequence_length=3, batch_size=0), "batch_size: got 0"),
    ],
)
def test_timeseries_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        timeseries_dataset_from_array(np.arange(20), None, **kwargs)


# -- jrnn.fit on a Dataset --------------------------------------------------------------------
def _fit_setup():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 20, (100, 6)).astype(np.int32)
    y = (x[:, -1] > 10).astype(np.int32)
    model = jrnn.Sequential(
        [jrnn.layers.Embedding(20, 4), jrnn.layers.LSTM(8), jrnn.layers.Dense(2)]
    )
    variables = model.init(jax.random.key(0), x[:2])
    kw = dict(
        loss=jrnn.losses.SparseCategoricalCrossentropy(from_logits=True),
        epochs=2,
        verbose=0,
        devices=jax.devices()[:1],
    )
    return x, y, model, variables, kw


def test_fit_on_a_dataset_equals_fit_on_arrays():
    x, y, model, variables, kw = _fit_setup()
    ds = Dataset.from_tensor_slices((x, y)).batch(16)
    _, hist = jrnn.fit(model, variables, ds, **kw)
    _, ref = jrnn.fit(model, variables, (x, y), batch_size=16, shuffle=False, **kw)
    assert len(hist.history["loss"]) == 2
    assert hist.history["loss"][1] < hist.history["loss"][0]
    assert hist.history["loss"] == ref.history["loss"]  # the same batches, bit for bit
    with pytest.raises(ValueError, match="no batches"):
        jrnn.fit(model, variables, Dataset.from_tensor_slices((x[:0], y[:0])).batch(16), **kw)


def test_fit_on_bucketed_batches(capsys):
    """Batches of unknown count (the progress line has no step count), padded to one
    length per bucket so the step compiles once per bucket."""
    x, y, model, variables, kw = _fit_setup()
    lengths = np.random.default_rng(1).integers(1, 7, len(x))
    ds = Dataset.from_generator(lambda: ((x[i, : lengths[i]], y[i]) for i in range(len(x))))
    ds = ds.bucket_by_sequence_length(
        lambda t, label: len(t), [4, 7], [16, 16, 16], pad_to_bucket_boundary=True
    )
    with pytest.raises(TypeError):
        len(ds)
    assert {b[0].shape[1] for b in ds} == {3, 6}
    _, hist = jrnn.fit(model, variables, ds, **{**kw, "verbose": 1})
    assert np.all(np.isfinite(hist.history["loss"])) and "Epoch 2/2" in capsys.readouterr().out


def test_bucket_boundary_padding_needs_shapes_for_several_array_components():
    """Padding to the bucket boundary must not silently pad a (C,) label as if it were
    the sequence: several array components need padded_shapes saying which axes vary."""
    rows = [(np.arange(n), np.eye(3)[n % 3]) for n in (1, 2, 5, 6)]
    ds = Dataset.from_generator(lambda: iter(rows))
    bucketed = ds.bucket_by_sequence_length(
        lambda t, label: len(t), [4, 8], [2, 2, 2], pad_to_bucket_boundary=True
    )
    with pytest.raises(ValueError, match="padded_shapes"):
        list(bucketed)
    shaped = ds.bucket_by_sequence_length(
        lambda t, label: len(t),
        [4, 8],
        [2, 2, 2],
        padded_shapes=([None], [3]),
        pad_to_bucket_boundary=True,
    )
    batches = list(shaped)
    assert [x.shape for x, _ in batches] == [(2, 3), (2, 7)]
    assert [y.shape for _, y in batches] == [(2, 3), (2, 3)]
