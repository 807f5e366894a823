"""The adaptive softmax (Grave et al. 2017, "Efficient softmax approximation for GPUs",
https://arxiv.org/abs/1609.04309) as a layer, and the loss that trains it.

The classes are sorted by frequency (0 the most frequent) and split by `cutoffs`
c_1 < ... < c_K into a shortlist [0, c_1) and K tail clusters [c_i, c_{i+1}) (with
c_{K+1} = num_classes). The head scores the shortlist and one entry per cluster; cluster i
scores its own classes through a narrow projection of width H // div_value**(i+1), which
is where the saving comes from: the rare classes get small vectors.

    log p(y | x) = head(x)[y]                                   y in the shortlist
    log p(y | x) = head(x)[S + i] + tail_i(x)[y - c_i]          y in cluster i

with head = log_softmax(x @ W_head (+ b)) over S + K entries (S = c_1) and
tail_i = log_softmax(x @ P_i @ O_i) over the cluster's V_i = c_{i+1} - c_i classes.
The layout is PyTorch's `nn.AdaptiveLogSoftmaxWithLoss`, its kernels transposed to
jrnn's (in, out) layout.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from jrnn._checks import check_bool, check_int, check_key, shape_error
from jrnn._labels import at_least_f32, gather_last, nan_outside, squeeze_labels
from jrnn._ops import add_bias
from jrnn.layers.base import Layer, as_float, shape_dtype


def _torch_linear_init(key, shape, fan_in: int):
    """PyTorch's default nn.Linear initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)
    return jax.random.uniform(key, shape, jnp.float32, -bound, bound)


def _check_cutoffs(cutoffs, num_classes: int) -> list[int]:
    """`cutoffs` as a list of ints, strictly increasing, each in (0, num_classes)."""
    if isinstance(cutoffs, (str, bytes)) or not isinstance(cutoffs, (list, tuple, np.ndarray)):
        raise TypeError(
            f"cutoffs: got {cutoffs!r} of type {type(cutoffs).__name__}, expected a list of "
            f"increasing integers in (0, num_classes={num_classes}), e.g. [2000, 10000]"
        )
    values = [check_int(f"cutoffs[{i}]", c) for i, c in enumerate(list(cutoffs))]
    increasing = all(a < b for a, b in zip(values, values[1:]))
    if not values or not increasing or values[0] <= 0 or values[-1] >= num_classes:
        raise ValueError(
            f"cutoffs: got {values}, expected a non-empty list of strictly increasing "
            f"integers in (0, num_classes={num_classes}), e.g. [2000, 10000]"
        )
    return values


def _check_div_value(div_value) -> float:
    if isinstance(div_value, bool) or not isinstance(div_value, (int, float, np.number)):
        raise TypeError(
            f"div_value: got {div_value!r} of type {type(div_value).__name__}, expected a "
            f"number > 0"
        )
    if not div_value > 0 or not math.isfinite(div_value):
        raise ValueError(f"div_value: got {div_value!r}, expected a finite number > 0")
    return float(div_value)


class AdaptiveSoftmax(Layer):
    """The adaptive softmax output layer: features (..., H) -> log-probabilities
    (..., num_classes) (PyTorch's `AdaptiveLogSoftmaxWithLoss.log_prob`); see the module
    docstring for the equations. Any leading axes (batch, time); the mask passes through.

    Args:
      num_classes: the number of classes C >= 2, sorted by frequency (0 the most common).
      cutoffs: strictly increasing ints in (0, C): the shortlist is [0, cutoffs[0]),
        cluster i holds [cutoffs[i], cutoffs[i+1]) (the last ends at C).
      div_value: cluster i projects the H features to H // div_value**(i+1) dimensions;
        each such width must be >= 1 (checked by `init`, which knows H).
      head_bias: give the head a bias (PyTorch's `head_bias`; off in the paper's code).

    Parameters (S = cutoffs[0], K = len(cutoffs), h_i = H // div_value**(i+1), V_i the
    size of cluster i), PyTorch's weights transposed::

      {"head": {"kernel": (H, S + K), "bias": (S + K,) with head_bias},
       "tail_0": {"proj": (H, h_0), "out": (h_0, V_0)}, ..., "tail_{K-1}": {...}}

    initialised like PyTorch's nn.Linear, U(±1/sqrt(fan_in)).

    `loss_per_example(params, x, labels)` gives -log p(label) without the full
    (..., C) output (what `AdaptiveSoftmaxLoss` trains with). Labels outside [0, C) cannot
    be refused under jit (nor should a pad id at a masked step be): their loss is NaN.
    Outputs are float32 at least (bf16 features give float32 log-probabilities).
    """

    def __init__(
        self,
        num_classes: int,
        cutoffs,
        div_value: float = 4.0,
        head_bias: bool = False,
        *,
        name=None,
    ):
        super().__init__(name=name)
        self.num_classes = check_int("num_classes", num_classes, minimum=2)
        self.cutoffs = _check_cutoffs(cutoffs, self.num_classes)
        self.div_value = _check_div_value(div_value)
        self.head_bias = check_bool("head_bias", head_bias)

    # -- structure ------------------------------------------------------------------------
    @property
    def shortlist_size(self) -> int:
        return self.cutoffs[0]

    @property
    def num_clusters(self) -> int:
        return len(self.cutoffs)

    def cluster_bounds(self) -> list[tuple[int, int]]:
        """[(start, stop)] of the class ids of each tail cluster."""
        edges = [*self.cutoffs, self.num_classes]
        return list(zip(edges[:-1], edges[1:]))

    def tail_widths(self, features: int) -> list[int]:
        """h_i = features // div_value**(i+1), PyTorch's formula (floor of a float)."""
        return [int(features // self.div_value ** (i + 1)) for i in range(self.num_clusters)]

    # -- parameters -----------------------------------------------------------------------
    def init(self, key, x):
        self.check_rank(x, range(1, 64), "(..., features), at least one axis")
        features = shape_dtype(x).shape[-1]
        widths = self._check_widths(features)
        keys = jax.random.split(check_key("key", key), 2 + 2 * self.num_clusters)
        head_size = self.shortlist_size + self.num_clusters
        head = {"kernel": _torch_linear_init(keys[0], (features, head_size), features)}
        if self.head_bias:
            head["bias"] = _torch_linear_init(keys[1], (head_size,), features)
        params = {"head": head}
        for i, (width, (start, stop)) in enumerate(zip(widths, self.cluster_bounds())):
            params[f"tail_{i}"] = {
                "proj": _torch_linear_init(keys[2 + 2 * i], (features, width), features),
                "out": _torch_linear_init(keys[3 + 2 * i], (width, stop - start), width),
            }
        return params

    def _check_widths(self, features: int) -> list[int]:
        widths = self.tail_widths(features)
        if features < 1 or widths[-1] < 1:
            raise ValueError(
                f"{self.label}: x: got {features} features, expected at least "
                f"div_value**{self.num_clusters} = {self.div_value**self.num_clusters:g} so "
                f"that every tail projection width features // div_value**(i+1) is >= 1 "
                f"(got widths {widths}); lower div_value or use fewer cutoffs"
            )
        return widths

    # -- computation ----------------------------------------------------------------------
    def _features(self, params, x):
        """x (..., H) as floats of the kernel's dtype, its width checked."""
        kernel = params["head"]["kernel"]
        x = as_float(jnp.asarray(x), kernel.dtype)
        rows = jnp.shape(kernel)[0]
        if x.ndim < 1 or x.shape[-1] != rows:
            raise shape_error(
                f"{self.label}: x",
                x.shape,
                f"(..., {rows}) to match its head kernel {tuple(kernel.shape)}",
            )
        return x

    def _head_log_softmax(self, params, x):
        """(..., S + K): log-probabilities of the shortlist classes and of each cluster."""
        head = params["head"]
        logits = jnp.matmul(x, head["kernel"].astype(x.dtype))
        if self.head_bias:
            logits = add_bias(logits, head["bias"])
        return jax.nn.log_softmax(at_least_f32(logits), axis=-1)

    def _tail_logits(self, params, x, i: int):
        """(..., V_i) float32 logits of cluster i's classes, through the narrow projection."""
        tail = params[f"tail_{i}"]
        hidden = jnp.matmul(x, tail["proj"].astype(x.dtype))
        return at_least_f32(jnp.matmul(hidden, tail["out"].astype(x.dtype)))

    def _tail_log_softmax(self, params, x, i: int):
        """(..., V_i): log p(class | cluster i)."""
        return jax.nn.log_softmax(self._tail_logits(params, x, i), axis=-1)

    def _tail_nll(self, params, x, local, in_cluster, i: int):
        """−log p(label | cluster i) (N,) for the rows in cluster i (0 for the others);
        x (N, H), local (N,) the labels' positions in the cluster.

        As PyTorch, only the cluster's rows go through the tail: `lax.switch` picks the
        smallest of a few static row capacities (N/16, N/8, N/4, N/2, N) that holds them,
        gathers that many rows, and scatters their values back, so the (rows, V_i) logits
        of a rare-word cluster are a fraction of (N, V_i)."""
        n = x.shape[0]
        capacities = sorted({max(1, math.ceil(n * f)) for f in _ROW_FRACTIONS} | {n})
        count = jnp.sum(in_cluster, dtype=jnp.int32)

        def through(capacity):
            def run():
                rows = jnp.nonzero(in_cluster, size=capacity, fill_value=0)[0]
                logits = self._tail_logits(params, x[rows], i)
                nll = jax.nn.logsumexp(logits, axis=-1) - gather_last(logits, local[rows])
                nll = jnp.where(jnp.arange(capacity) < count, nll, 0.0)  # the fill rows
                return jnp.zeros(n, nll.dtype).at[rows].add(nll)

            return run

        branch = jnp.searchsorted(jnp.asarray(capacities), count)  # first capacity >= count
        return jax.lax.switch(branch, [through(c) for c in capacities])

    def log_prob(self, params, x):
        """Log-probabilities of every class, (..., H) -> (..., num_classes)."""
        x = self._features(params, x)
        head = self._head_log_softmax(params, x)
        parts = [head[..., : self.shortlist_size]]
        for i in range(self.num_clusters):
            cluster = head[..., self.shortlist_size + i, None]
            parts.append(cluster + self._tail_log_softmax(params, x, i))
        return jnp.concatenate(parts, axis=-1)

    def call(self, params, x, *, state=None, mask=None, training=False, key=None):
        return self.log_prob(params, x), None

    def predict(self, params, x):
        """The most probable class ids (...) int32 (PyTorch's `predict`)."""
        return jnp.argmax(self.log_prob(params, x), axis=-1).astype(jnp.int32)

    def loss_per_example(self, params, x, labels):
        """-log p(label | x), (...,) float32, for features x (..., H) and integer labels
        (...) or (..., 1): PyTorch's `-output`.

        Each row takes the head entry of its label (or of its label's cluster) plus, in a
        cluster, the label's entry there; a tail runs only on its cluster's rows (see
        `_tail_nll`). The full (..., num_classes) array is never built.
        """
        x = self._features(params, x)
        labels = squeeze_labels(labels, x.shape[:-1], f"{self.label}: labels")
        shape = labels.shape
        x, labels = x.reshape(-1, x.shape[-1]), labels.reshape(-1)
        # cluster 0 is the shortlist; cluster i + 1 is tail i
        cluster = sum((labels >= c).astype(jnp.int32) for c in self.cutoffs)
        head_index = jnp.where(cluster == 0, labels, self.shortlist_size + cluster - 1)
        nll = -gather_last(self._head_log_softmax(params, x), head_index)
        for i, (start, stop) in enumerate(self.cluster_bounds()):
            # clipped so that a row of another cluster indexes a valid (unused) entry
            local = jnp.clip(labels - start, 0, stop - start - 1)
            nll = nll + self._tail_nll(params, x, local, cluster == i + 1, i)
        return nan_outside(nll, labels, self.num_classes).reshape(shape)

    # -- the layer-step protocol (see Layer): each step on its own, no carry -----------------
    def step_error(self):
        return None

    def step(self, params, carry, x_t, *, mask_t=None):
        return None, self.log_prob(params, x_t)

    def step_input_size(self, params):
        return params["head"]["kernel"].shape[0]


# Row capacities of a tail, as fractions of the rows: the smallest that holds the
# cluster's rows is used (a rare-word cluster usually holds a few percent of the tokens).
_ROW_FRACTIONS = (1 / 16, 1 / 8, 1 / 4, 1 / 2)
