"""`pad_sequences` and `to_categorical`: Keras's functions (NumPy, on the host), with the
kept lengths back and clear errors."""

from __future__ import annotations

import numpy as np

from jrnn._checks import check_int


def pad_sequences(
    sequences,
    maxlen: int | None = None,
    dtype="int32",
    padding: str = "pre",
    truncating: str = "pre",
    value=0.0,
    return_lengths: bool = False,
):
    """Pad (and truncate) N sequences to one length T: Keras's `pad_sequences`.

    Each sequence is (len, *feature_shape) (a list of ids, or of feature vectors); the
    result is (N, T, *feature_shape) with T = `maxlen`, or the longest length. "pre"
    padding / truncation works at the start (Keras's default), "post" at the end.

    Args:
      sequences: N sequences (lists or arrays); empty ones become all `value`.
      maxlen: T, a positive int (Keras raises for 0 too), or None for the longest.
      dtype: of the result; `object` or a str dtype for strings (an unsized `str` is sized
        to the longest string, where Keras would truncate every string to 1 character).
      value: the padding value; a str needs an object or str `dtype`.
      return_lengths: also return the (N,) int32 number of kept steps of each sequence
        (min(len, T)). They are the last steps with padding="pre", the first with "post"
        (the layout `jrnn.unroll(lengths=...)` expects).

    Returns: the (N, T, *feature_shape) array, and the lengths with `return_lengths`.

    >>> pad_sequences([[1], [2, 3], [4, 5, 6]], maxlen=2)
    array([[0, 1],
           [2, 3],
           [5, 6]], dtype=int32)
    >>> pad_sequences([[1], [2, 3]], padding="post", return_lengths=True)
    (array([[1, 0],
           [2, 3]], dtype=int32), array([1, 2], dtype=int32))
    """
    if not hasattr(sequences, "__len__"):
        raise TypeError(f"sequences: got {type(sequences).__name__}, expected a list of sequences")
    for name, mode in (("padding", padding), ("truncating", truncating)):
        if mode not in ("pre", "post"):
            raise ValueError(f"{name}: got {mode!r}, expected 'pre' or 'post'")
    maxlen = check_int("maxlen", maxlen, minimum=1, allow_none=True)
    try:
        kind = np.dtype(dtype).kind
    except TypeError:
        raise ValueError(f"dtype: got {dtype!r}, expected a NumPy dtype such as 'int32'") from None
    if isinstance(value, str) and kind not in "OUS":
        raise ValueError(
            f"value: got the str {value!r}, which dtype {np.dtype(dtype)} cannot hold; use "
            f"dtype=object (or a str dtype) to pad strings"
        )
    lengths, first = [], None  # `first`: the first non-empty sequence sets the step shape
    for i, s in enumerate(sequences):
        try:
            lengths.append(len(s))
        except TypeError:
            raise ValueError(
                f"sequences[{i}]: got {type(s).__name__} {s!r:.60}, expected a sequence"
            ) from None
        if first is None and len(s):
            first = (i, _steps(s, i, None).shape[1:])
    step_shape = () if first is None else first[1]
    if maxlen is None:
        maxlen = max(lengths, default=0)
    if kind in "US" and np.dtype(dtype).itemsize == 0:  # unsized str: fit the longest
        longest = [_steps(s, i, kind) for i, s in enumerate(sequences) if len(s)]
        dtype = np.result_type(np.asarray(value, dtype=kind), *longest)
    x = np.full((len(sequences), maxlen, *step_shape), value, dtype=dtype)
    kept = np.minimum(np.asarray(lengths, np.int32).reshape(-1), maxlen)
    for i, s in enumerate(sequences):
        k = int(kept[i])
        if k == 0:
            continue
        steps = _steps(s[len(s) - k :] if truncating == "pre" else s[:k], i, dtype)
        if steps.shape[1:] != step_shape:
            raise ValueError(
                f"sequences[{i}]: got steps of shape {steps.shape[1:]}, expected "
                f"{step_shape} (the step shape of sequences[{first[0]}], the first non-empty)"
            )
        if padding == "post":
            x[i, :k] = steps
        else:
            x[i, maxlen - k :] = steps
    return (x, kept) if return_lengths else x


def _steps(s, i: int, dtype) -> np.ndarray:
    try:
        return np.asarray(s, dtype=dtype)
    except ValueError as e:  # ragged steps, or strings into a numeric dtype
        raise ValueError(
            f"sequences[{i}]: could not make an array of dtype {dtype} ({e}); expected "
            f"steps of one shape"
        ) from e


def to_categorical(y, num_classes: int | None = None, dtype="float32") -> np.ndarray:
    """One-hot encode integer labels: Keras's `to_categorical`.

    y: (...) class ids in [0, num_classes) (a trailing axis of size 1 is dropped, as
    Keras); num_classes: None infers max(y) + 1. Returns (..., num_classes) of `dtype`.
    Unlike Keras, a negative, too large or non-integer label raises (Keras wraps a
    negative label around and truncates 1.5 to 1).

    >>> to_categorical([0, 2], num_classes=3)
    array([[1., 0., 0.],
           [0., 0., 1.]], dtype=float32)
    """
    labels = np.asarray(y)
    if labels.dtype.kind not in "biuf":
        raise TypeError(f"y: got an array of dtype {labels.dtype}, expected integer labels")
    if labels.dtype.kind == "f":
        bad = labels[~np.isfinite(labels) | (labels != np.round(labels))]
        if bad.size:
            raise ValueError(f"y: got the non-integer label {bad[0]}, expected class ids")
    labels = labels.astype(np.int64)
    shape = labels.shape[:-1] if labels.ndim > 1 and labels.shape[-1] == 1 else labels.shape
    labels = labels.reshape(-1)
    if num_classes is None:
        if not labels.size:
            raise ValueError("y: got no labels, so num_classes cannot be inferred; pass it")
        num_classes = int(labels.max()) + 1
    num_classes = check_int("num_classes", num_classes, minimum=1)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)][0]
        raise ValueError(f"y: got the label {bad}, expected labels in [0, {num_classes})")
    out = np.zeros((labels.size, num_classes), dtype=dtype)
    out[np.arange(labels.size), labels] = 1
    return out.reshape(*shape, num_classes)
