"""`Dataset`: an immutable, re-iterable input pipeline on the host (NumPy), after tf.data.

A dataset is a description, not a stream: every `iter(ds)` starts from the beginning,
so it can be iterated once per epoch (`jrnn.fit` does). Elements are NumPy arrays, or
tuples and dicts of them (the structure is kept through every step; lists are arrays).

    ds = (Dataset.from_tensor_slices((x, y))     # elements (x[i], y[i])
          .shuffle(1024, seed=0)                 # a new order each iteration, from (seed, i)
          .batch(32))                            # elements (x (32, ...), y (32, ...))
    state, history = jrnn.fit(model, variables, ds, loss=..., epochs=5)

The only state is a count of the iterations started, which picks the shuffle order of
the next one: the same pipeline built with the same seeds yields the same epochs.
"""

from __future__ import annotations

import bisect
import itertools
import numbers
from collections.abc import Callable, Iterator

import jax
import numpy as np

from jrnn._checks import check_bool, check_int

INFINITE, UNKNOWN = -1, -2


def _is_leaf(v) -> bool:
    return not isinstance(v, (tuple, dict))


def _flatten(element):
    return jax.tree.flatten(element, is_leaf=_is_leaf)


def _call(fn, element):
    """tf.data's convention: a (plain) tuple element is passed as separate arguments."""
    return fn(*element) if type(element) is tuple else fn(element)


def _seed(seed) -> int:
    if seed is None:  # fixed for this dataset's lifetime, so its epochs stay consistent
        return np.random.SeedSequence().entropy
    return check_int("seed", seed, minimum=0)


def _columns(rows, what: str):
    """Rows of one structure -> (treedef, [leaf column, ...]) with each leaf an array."""
    flat, treedef = _flatten(rows[0])
    columns = [[np.asarray(v)] for v in flat]
    for i, row in enumerate(rows[1:], 1):
        leaves, other = _flatten(row)
        if other != treedef:
            raise ValueError(
                f"{what}: element {i} of a batch has structure {other}, expected {treedef} "
                f"(the structure of the batch's first element)"
            )
        for col, v in zip(columns, leaves):
            col.append(np.asarray(v))
    return treedef, columns


def _stack(rows, what: str = "batch"):
    treedef, columns = _columns(rows, what)
    out = []
    for col in columns:
        shapes = {a.shape for a in col}
        if len(shapes) > 1:
            raise ValueError(
                f"{what}: got elements of shapes {sorted(shapes)} in one batch, expected one "
                f"shape; use padded_batch (or bucket_by_sequence_length) for variable lengths"
            )
        out.append(np.stack(col))
    return treedef.unflatten(out)


def _default_padding(dtype: np.dtype):
    return {"U": "", "S": b"", "b": False}.get(dtype.kind, 0)


def _fits(value, dtype: np.dtype) -> bool:
    """Whether a padding value survives the cast to the batch's dtype (no silent 0.5 -> 0)."""
    try:
        with np.errstate(invalid="ignore", over="ignore"):
            cast = np.asarray(value).astype(dtype)
        return bool(cast.shape == () and (cast == value or (cast != cast and value != value)))
    except (TypeError, ValueError, OverflowError):
        return False


def _pad_stack(rows, shapes=None, values=None, lead=None, what="padded_batch"):
    """Stack rows, padding each component at the end of every axis.

    shapes: per component (flat) a shape with an int (pad to exactly that) or None (pad
    to the batch's longest) per axis, or None for all-None. lead: replaces the None axes
    of given shapes, and axis 0 of components without a given shape (bucket boundaries).
    values: per component (flat) the padding value, None for 0 / "" / False.
    """
    treedef, columns = _columns(rows, what)
    out = []
    for j, col in enumerate(columns):
        ranks = {a.ndim for a in col}
        if len(ranks) > 1:
            raise ValueError(
                f"{what}: component {j} has elements of ranks {sorted(ranks)} in one batch, "
                f"expected one rank (padding changes sizes, not ranks)"
            )
        rank = ranks.pop()
        longest = np.max([a.shape for a in col], axis=0) if rank else ()
        given = None if shapes is None else shapes[j]
        if given is None:
            given = [lead if axis == 0 else None for axis in range(rank)]
        elif (
            not isinstance(given, (tuple, list))
            or len(given) != rank
            or not all(d is None or isinstance(d, numbers.Integral) and d >= -1 for d in given)
        ):
            raise ValueError(
                f"padded_shapes: got {given!r} for component {j}, expected a shape of {rank} "
                f"ints or None (its elements have shape like {col[0].shape})"
            )
        else:
            given = [lead if d is None or d == -1 else d for d in given]
        target = tuple(int(m) if d is None else int(d) for d, m in zip(given, longest))
        for a in col:
            if any(s > t for s, t in zip(a.shape, target)):
                raise ValueError(
                    f"{what}: component {j} has an element of shape {a.shape}, larger than "
                    f"the padded shape {target}"
                )
        dtype = np.result_type(*col)
        value = None if values is None else values[j]
        value = _default_padding(dtype) if value is None else value
        if dtype.kind in "US" and isinstance(value, (str, bytes)):  # room for the value
            dtype = np.result_type(dtype, np.asarray(value))
        elif dtype.kind in "biuf" and not _fits(value, dtype):
            raise ValueError(
                f"padding_values: got {value!r} for component {j} of dtype {dtype}, expected "
                f"a value of that dtype"
            )
        batch = np.full((len(col), *target), value, dtype=dtype)
        for i, a in enumerate(col):
            batch[(i, *(slice(0, s) for s in a.shape))] = a
        out.append(batch)
    return treedef.unflatten(out)


def _per_component(spec, element, name: str):
    """A structure matching `element` (or None, or one value for every component) -> a
    flat list aligned with the element's leaves."""
    flat, treedef = _flatten(element)
    if spec is None:
        return None
    if name == "padding_values" and _is_leaf(spec):
        return [spec] * len(flat)
    try:
        return treedef.flatten_up_to(spec)
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"{name}: got {spec!r}, expected the structure of the elements {treedef}"
        ) from e


def _batches(it: Iterator, size: int, drop_remainder: bool) -> Iterator[list]:
    while rows := list(itertools.islice(it, size)):
        if len(rows) < size and drop_remainder:
            return
        yield rows


def _shuffled(it: Iterator, buffer_size: int, rng: np.random.Generator) -> Iterator:
    """tf.data's shuffle: a uniformly random element of a buffer of `buffer_size`, whose
    slot the next input element takes; the buffer's rest in random order at the end."""
    buffer = list(itertools.islice(it, buffer_size))
    draws = iter(())
    for element in it:  # only reached with a full buffer
        i = next(draws, None)
        if i is None:  # draw slots in blocks: one Python call per element is the cost
            draws = iter(rng.integers(buffer_size, size=1024).tolist())
            i = next(draws)
        yield buffer[i]
        buffer[i] = element
    for i in rng.permutation(len(buffer)):
        yield buffer[i]


def _batched_cardinality(n: int, size: int, drop_remainder: bool) -> int:
    if n < 0:
        return n
    return n // size if drop_remainder else -(-n // size)


class Dataset:
    """An immutable, re-iterable pipeline of elements (arrays, or tuples/dicts of them).

    Build one with `Dataset.from_tensor_slices` or `Dataset.from_generator`; every method
    returns a new Dataset. `len(ds)` is the number of elements when it is known
    (`ds.cardinality()` is -1 for infinite, -2 for unknown, as tf.data).
    """

    INFINITE = INFINITE
    UNKNOWN = UNKNOWN

    def __init__(self, iterate: Callable[[tuple], Iterator], cardinality: int = UNKNOWN):
        """Internal: `iterate(key)` yields the elements of the iteration `key` (a tuple
        of ints that shuffles mix into their seed). Use the `from_*` constructors."""
        if not callable(iterate):
            raise TypeError(f"iterate: got {type(iterate).__name__}, expected a callable")
        cardinality = check_int("cardinality", cardinality, minimum=UNKNOWN)
        self._iterate = iterate
        self._cardinality = cardinality
        self._iterations = itertools.count()

    def __iter__(self) -> Iterator:
        # A generator: the iteration index is claimed at the first element, so an
        # iterator made and dropped (fit's one-shot check) does not shift the epochs.
        yield from self._iterate((next(self._iterations),))

    def __len__(self) -> int:
        """The number of elements; a TypeError when unknown or infinite (as tf.data)."""
        if self._cardinality < 0:
            kind = "infinite" if self._cardinality == INFINITE else "unknown"
            raise TypeError(f"the length of this Dataset is {kind}")
        return self._cardinality

    def as_numpy_iterator(self) -> Iterator:
        """tf.data's name for `iter(ds)` (elements are already NumPy)."""
        return iter(self)

    def cardinality(self) -> int:
        """The number of elements; `Dataset.INFINITE` (-1) or `Dataset.UNKNOWN` (-2)."""
        return self._cardinality

    def __repr__(self) -> str:
        n = {INFINITE: "infinite", UNKNOWN: "unknown"}.get(self._cardinality, self._cardinality)
        return f"Dataset(cardinality={n})"

    # -- sources ----------------------------------------------------------------------
    @classmethod
    def from_tensor_slices(cls, tensors) -> Dataset:
        """One element per row: `x` (N, ...) gives x[i]; `(x, y)` gives (x[i], y[i]); a dict
        gives {k: v[i]}. Tuples and dicts nest; any other leaf (list, array) is an array.

        >>> list(Dataset.from_tensor_slices((np.arange(3), np.array([1., 0., 1.])))
        ...      .batch(2).map(lambda x, y: x.shape))
        [(2,), (1,)]
        """
        leaves, treedef = _flatten(tensors)
        if not leaves:
            raise ValueError("tensors: got an empty structure, expected arrays with a row axis")
        arrays = []
        for path, v in jax.tree_util.tree_flatten_with_path(tensors, _is_leaf)[0]:
            name = "tensors" + jax.tree_util.keystr(path)
            try:
                a = np.asarray(v)
            except ValueError as e:  # ragged nested lists
                raise ValueError(
                    f"{name}: could not make an array ({e}); pad variable-length sequences "
                    f"(pad_sequences) or use Dataset.from_generator(...).padded_batch"
                ) from e
            if a.ndim == 0:
                raise ValueError(f"{name}: got a scalar {v!r}, expected an array with a row axis")
            arrays.append((name, a))
        rows = {a.shape[0] for _, a in arrays}
        if len(rows) > 1:
            shapes = ", ".join(f"{name} {a.shape}" for name, a in arrays)
            raise ValueError(f"tensors: got {shapes}; expected one shared number of rows")
        n = rows.pop()
        arrays = [a for _, a in arrays]

        def iterate(key):
            for i in range(n):
                yield treedef.unflatten([a[i] for a in arrays])

        return Dataset(iterate, n)

    @classmethod
    def from_generator(cls, generator: Callable[..., Iterator], args=()) -> Dataset:
        """Elements yielded by `generator(*args)`, called anew for every iteration (so
        pass the generator function, not a generator). Its length is unknown."""
        if not callable(generator):
            raise TypeError(
                f"generator: got {type(generator).__name__}, expected a callable returning an "
                f"iterator (a generator function), so every iteration can start again"
            )
        return Dataset(lambda key: iter(generator(*args)), UNKNOWN)

    # -- transformations --------------------------------------------------------------
    def shuffle(
        self, buffer_size: int, seed=None, reshuffle_each_iteration: bool = True
    ) -> Dataset:
        """tf.data's buffered shuffle: fill a buffer with `buffer_size` elements, then
        repeatedly emit a uniformly random one and put the next input element in its
        place. buffer_size=1 keeps the order; buffer_size >= len(ds) is a uniform
        permutation. Element i cannot come out before position i - buffer_size + 1.

        The order of iteration k is drawn from (seed, k) (from `seed` alone when
        `reshuffle_each_iteration=False`); seed=None draws a seed once, here.
        """
        buffer_size = check_int("buffer_size", buffer_size, minimum=1)
        seed = _seed(seed)
        reshuffle = check_bool("reshuffle_each_iteration", reshuffle_each_iteration)

        def iterate(key):
            rng = np.random.default_rng([seed, *key] if reshuffle else [seed])
            return _shuffled(self._iterate(key), buffer_size, rng)

        return Dataset(iterate, self._cardinality)

    def batch(self, batch_size: int, drop_remainder: bool = False) -> Dataset:
        """Stack `batch_size` consecutive elements (of one structure and shape) into one,
        with a new leading axis; the last batch is smaller unless `drop_remainder`."""
        size = check_int("batch_size", batch_size, minimum=1)
        drop_remainder = check_bool("drop_remainder", drop_remainder)

        def iterate(key):
            for rows in _batches(self._iterate(key), size, drop_remainder):
                yield _stack(rows)

        return Dataset(iterate, _batched_cardinality(self._cardinality, size, drop_remainder))

    def padded_batch(
        self, batch_size: int, padded_shapes=None, padding_values=None, drop_remainder=False
    ) -> Dataset:
        """Batch elements of different shapes, padding at the end of every axis to the
        batch's longest, or to `padded_shapes` (per component a tuple of int or None).

        padding_values: one value for every component, or a structure like the elements;
        None pads with 0 ("" for strings, False for bools).

        >>> ds = Dataset.from_generator(lambda: iter([[1], [2, 3], [4, 5, 6]]))
        >>> [b.tolist() for b in ds.padded_batch(2)]
        [[[1, 0], [2, 3]], [[4, 5, 6]]]
        """
        size = check_int("batch_size", batch_size, minimum=1)
        drop_remainder = check_bool("drop_remainder", drop_remainder)

        def iterate(key):
            for rows in _batches(self._iterate(key), size, drop_remainder):
                shapes = _per_component(padded_shapes, rows[0], "padded_shapes")
                values = _per_component(padding_values, rows[0], "padding_values")
                yield _pad_stack(rows, shapes, values)

        return Dataset(iterate, _batched_cardinality(self._cardinality, size, drop_remainder))

    def bucket_by_sequence_length(
        self,
        element_length_func: Callable,
        bucket_boundaries,
        bucket_batch_sizes,
        padded_shapes=None,
        padding_values=None,
        pad_to_bucket_boundary: bool = False,
        no_padding: bool = False,
        drop_remainder: bool = False,
    ) -> Dataset:
        """Batch elements of similar length together, so batches waste little padding
        (tf.data's `bucket_by_sequence_length`).

        Bucket i holds lengths in [bucket_boundaries[i-1], bucket_boundaries[i]) (the first
        from -inf, the last to +inf); a bucket is emitted as a padded batch as soon as it
        holds bucket_batch_sizes[i] elements, and the partly filled buckets are emitted at
        the end (in bucket order; dropped with `drop_remainder`). Padding is as
        `padded_batch`; with `pad_to_bucket_boundary` the variable axes (the None axes of
        `padded_shapes`; without it, axis 0 of the one non-scalar component, e.g. the
        sequence of a (sequence, label) element) are padded to the bucket's boundary - 1,
        so a jit-compiled step sees one shape per bucket.

        element_length_func: element -> int (a tuple element is passed unpacked).
        bucket_boundaries: N increasing ints >= 1. bucket_batch_sizes: N + 1 ints >= 1
        (jrnn.fit needs every later batch no larger than its first: use equal sizes).

        >>> ds = Dataset.from_generator(lambda: iter([[1], [2, 3, 4], [5], [6, 7]]))
        >>> [b.shape for b in ds.bucket_by_sequence_length(len, [2], [2, 2])]
        [(2, 1), (2, 3)]
        """
        pad_to_bucket_boundary = check_bool("pad_to_bucket_boundary", pad_to_bucket_boundary)
        no_padding = check_bool("no_padding", no_padding)
        drop_remainder = check_bool("drop_remainder", drop_remainder)
        if not callable(element_length_func):
            raise TypeError(
                f"element_length_func: got {type(element_length_func).__name__}, expected a "
                f"callable element -> int"
            )
        bounds = [
            check_int(f"bucket_boundaries[{i}]", b, minimum=1)
            for i, b in enumerate(bucket_boundaries)
        ]
        if any(a >= b for a, b in zip(bounds, bounds[1:])):
            raise ValueError(f"bucket_boundaries: got {bounds}, expected strictly increasing")
        sizes = [
            check_int(f"bucket_batch_sizes[{i}]", b, minimum=1)
            for i, b in enumerate(bucket_batch_sizes)
        ]
        if len(sizes) != len(bounds) + 1:
            raise ValueError(
                f"bucket_batch_sizes: got {len(sizes)} sizes, expected len(bucket_boundaries) "
                f"+ 1 = {len(bounds) + 1} (one per bucket)"
            )

        def make(rows, b):
            if no_padding:
                return _stack(rows, "bucket_by_sequence_length")
            shapes = _per_component(padded_shapes, rows[0], "padded_shapes")
            values = _per_component(padding_values, rows[0], "padding_values")
            lead = bounds[b] - 1 if pad_to_bucket_boundary else None
            if lead is not None and shapes is None:
                # Which axes vary is unknowable from NumPy rows: padding axis 0 of every
                # component would silently pad a label like a one-hot (C,) vector too.
                parts = jax.tree.leaves(rows[0])
                if sum(np.ndim(a) > 0 for a in parts) > 1:
                    raise ValueError(
                        "padded_shapes: got None with pad_to_bucket_boundary=True and "
                        f"{len(parts)} components of which several are arrays; expected "
                        "padded_shapes with None for the axes to pad to the bucket boundary "
                        "(e.g. ([None], [3]) for (sequence, one-hot label))"
                    )
            return _pad_stack(rows, shapes, values, lead, "bucket_by_sequence_length")

        def iterate(key):
            buckets = [[] for _ in sizes]
            for element in self._iterate(key):
                length = _call(element_length_func, element)
                if not isinstance(length, numbers.Integral):
                    length = np.asarray(length)
                    if length.shape or length.dtype.kind not in "iu":
                        raise TypeError(
                            f"element_length_func: returned {length!r}, expected an integer"
                        )
                b = bisect.bisect_right(bounds, int(length))
                if pad_to_bucket_boundary and b == len(bounds):
                    raise ValueError(
                        f"element_length_func: returned {int(length)}, but with "
                        f"pad_to_bucket_boundary=True lengths must be < max(bucket_boundaries) "
                        f"= {bounds[-1]}"
                    )
                buckets[b].append(element)
                if len(buckets[b]) == sizes[b]:
                    yield make(buckets[b], b)
                    buckets[b] = []
            for b, rows in enumerate(buckets):
                if rows and not drop_remainder:
                    yield make(rows, b)

        return Dataset(iterate, UNKNOWN)

    def map(self, fn: Callable) -> Dataset:
        """`fn(element)` for every element (`fn(*element)` for a tuple element, as tf.data);
        before `batch` it sees single elements, after it whole batches."""
        if not callable(fn):
            raise TypeError(f"fn: got {type(fn).__name__}, expected a callable")
        return Dataset(lambda key: (_call(fn, e) for e in self._iterate(key)), self._cardinality)

    def filter(self, predicate: Callable) -> Dataset:
        """The elements for which `predicate(element)` is true (unpacked like `map`)."""
        if not callable(predicate):
            raise TypeError(f"predicate: got {type(predicate).__name__}, expected a callable")
        return Dataset(lambda key: (e for e in self._iterate(key) if _call(predicate, e)), UNKNOWN)

    def repeat(self, count: int | None = None) -> Dataset:
        """The dataset `count` times (None or -1: forever); a shuffle upstream draws a
        new order for each repetition."""
        count = -1 if count is None else check_int("count", count, minimum=-1)

        def iterate(key):
            for r in itertools.count() if count == -1 else range(count):
                empty = True
                for element in self._iterate((*key, r)):
                    empty = False
                    yield element
                if empty:  # repeating nothing forever would never return
                    return

        n = self._cardinality
        if n == UNKNOWN or n == 0:
            card = n
        else:
            card = INFINITE if count == -1 or n == INFINITE else n * count
        return Dataset(iterate, card)

    def take(self, count: int) -> Dataset:
        """The first `count` elements (-1: all)."""
        count = check_int("count", count, minimum=-1)
        if count == -1:
            return Dataset(self._iterate, self._cardinality)
        n = self._cardinality
        card = count if n == INFINITE else (n if n == UNKNOWN else min(n, count))
        return Dataset(lambda key: itertools.islice(self._iterate(key), count), card)

    def shard(self, num_shards: int, index: int) -> Dataset:
        """Every `num_shards`-th element from element `index` on (tf.data's `shard`):
        shard `index` of `num_shards` disjoint parts. On several processes, each passes
        its own part to `fit`, sharded before shuffling and batching:
        `ds.shard(jax.process_count(), jax.process_index()).shuffle(...).batch(b)`."""
        num_shards = check_int("num_shards", num_shards, minimum=1)
        index = check_int("index", index, minimum=0)
        if index >= num_shards:
            raise ValueError(f"index: got {index}, expected 0 <= index < num_shards ({num_shards})")
        n = self._cardinality
        card = n if n < 0 else len(range(index, n, num_shards))
        return Dataset(
            lambda key: itertools.islice(self._iterate(key), index, None, num_shards), card
        )

    def skip(self, count: int) -> Dataset:
        """All but the first `count` elements (-1: skip all)."""
        count = check_int("count", count, minimum=-1)
        if count == -1:
            return Dataset(lambda key: iter(()), 0)
        n = self._cardinality
        card = n if n < 0 else max(n - count, 0)
        return Dataset(lambda key: itertools.islice(self._iterate(key), count, None), card)
