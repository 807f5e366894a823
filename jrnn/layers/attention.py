"""Attention over a sequence, as Keras 3: Attention (Luong, dot-product) and
AdditiveAttention (Bahdanau).

Both take a list [query (B, Tq, D), value (B, Tv, Dv)] or [query, value, key (B, Tv, D)]
(key defaults to value) and return (B, Tq, Dv):

    scores  = score(query, key)                    (B, Tq, Tv)
    scores  = scores - 1e9 where the value is masked (or in the future, use_causal_mask)
    weights = softmax(scores, axis=-1)             (dropout on the weights when training)
    output  = weights @ value, zeroed where the query is masked

Masks come as a list [query_mask (B, Tq), value_mask (B, Tv)] (a model passes the masks
of the inputs, e.g. from Embedding(mask_zero=True)); the output's mask is the query's.
`return_attention_scores=True` also returns the weights (B, Tq, Tv), in a model too:
`out, weights = Attention()([q, v], return_attention_scores=True)`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jrnn import initializers
from jrnn._checks import check_choice, check_rate, shape_error
from jrnn.layers.base import CallNode, Layer, Node, require_key, shape_dtype
from jrnn.layers.core import dropout as drop

# Keras subtracts this from masked scores (not -inf): a fully masked row stays finite
_MASKED = 1.0e9


class _BaseAttention(Layer):
    def __init__(self, use_scale: bool, dropout_rate: float, name):
        super().__init__(name=name)
        self.use_scale = bool(use_scale)
        self.dropout = check_rate("dropout", dropout_rate)

    # -- inputs ---------------------------------------------------------------------------
    def _split(self, x):
        """(query, value, key) from the list x, with their shapes checked."""
        if not isinstance(x, (list, tuple)):
            raise TypeError(
                f"{self.type_name}: x: got {type(x).__name__}, expected a list [query, "
                f"value] or [query, value, key]"
            )
        if len(x) not in (2, 3):
            raise ValueError(
                f"{self.type_name}: x: got a list of {len(x)} arrays, expected 2 or 3: "
                f"[query, value] or [query, value, key]"
            )
        q, v = x[0], x[1]
        k = x[2] if len(x) == 3 else v
        qs, vs, ks = (shape_dtype(a).shape for a in (q, v, k))
        for what, s in (("query", qs), ("value", vs), ("key", ks)):
            if len(s) != 3:
                raise shape_error(f"{self.type_name}: {what}", s, "(batch, time, features)")
        if not qs[0] == vs[0] == ks[0]:
            raise ValueError(
                f"{self.type_name}: x: got batch sizes query {qs[0]}, value {vs[0]}, key "
                f"{ks[0]}, expected one batch size"
            )
        if ks[1] != vs[1]:
            raise ValueError(
                f"{self.type_name}: key: got {ks[1]} steps, expected the value's {vs[1]}"
            )
        if ks[2] != qs[2]:
            raise ValueError(
                f"{self.type_name}: key: got {ks[2]} features, expected the query's {qs[2]} "
                f"(scores compare query and key vectors)"
            )
        return q, v, k

    def _masks(self, x, mask):
        """(query_mask, value_mask), each None or bool of the query's/value's (B, T)."""
        if mask is None:
            return None, None
        if not isinstance(mask, (list, tuple)) or len(mask) not in (2, 3):
            raise TypeError(
                f"{self.type_name}: mask: got {type(mask).__name__}, expected a list "
                f"[query_mask, value_mask] (or None)"
            )
        out = []
        for what, m, a in (("query_mask", mask[0], x[0]), ("value_mask", mask[1], x[1])):
            if m is not None:
                want = tuple(jnp.shape(a)[:2])
                if tuple(jnp.shape(m)) != want:
                    raise shape_error(f"{self.type_name}: {what}", jnp.shape(m), str(want))
                m = jnp.asarray(m).astype(bool)
            out.append(m)
        return tuple(out)

    # -- the computation --------------------------------------------------------------------
    def _scores(self, params, q, k):
        raise NotImplementedError

    def call(
        self,
        params,
        x,
        *,
        state=None,
        mask=None,
        training=False,
        key=None,
        return_attention_scores: bool = False,
        use_causal_mask: bool = False,
    ):
        q, v, k = self._split(x)
        q_mask, v_mask = self._masks(x, mask)
        scores = self._scores(params, q, k)
        valid = None if v_mask is None else v_mask[:, None, :]
        if use_causal_mask:
            tq, tv = scores.shape[-2:]
            causal = jnp.arange(tq)[:, None] >= jnp.arange(tv)[None, :]
            valid = causal[None] if valid is None else valid & causal[None]
        if valid is not None:
            scores = jnp.where(valid, scores, scores - _MASKED)
        weights = jax.nn.softmax(scores, axis=-1)
        if training and self.dropout > 0.0:
            require_key(key, training, True, self.type_name)
            weights = drop(key, weights, self.dropout)
        y = jnp.matmul(weights, v)
        if q_mask is not None:
            y = jnp.where(q_mask[..., None], y, jnp.zeros((), y.dtype))
        return ((y, weights) if return_attention_scores else y), None

    def compute_mask(self, x, mask):
        if mask is None or not isinstance(mask, (list, tuple)) or mask[0] is None:
            return None
        return jnp.asarray(mask[0]).astype(bool)

    def __call__(self, x, **kwargs):
        # With return_attention_scores=True the call has two outputs, known only per call
        node = super().__call__(x, **kwargs)
        if kwargs.get("return_attention_scores") is not True:
            return node
        call: CallNode = node.call
        call.outputs = (node, Node(call, 1))
        return call.outputs


class Attention(_BaseAttention):
    """Dot-product (Luong) attention, as `keras.layers.Attention`:

        score_mode="dot":    scores = scale * query @ key^T
        score_mode="concat": scores = concat_score_weight * sum_d tanh(scale * (q_i + k_j))

    `scale` is a learned scalar (initialised to 1) when `use_scale=True`, else 1;
    `concat_score_weight` a learned scalar (1) with score_mode="concat". `dropout` drops
    attention weights while training (then `key`, a PRNG key, is required). See the module
    docstring for inputs, masks and `return_attention_scores`.

    Example (decoder states attending over encoder outputs):
      context = Attention()([decoder_seq, encoder_seq])      # (B, Tq, D)
    """

    def __init__(
        self,
        use_scale: bool = False,
        score_mode: str = "dot",
        dropout: float = 0.0,
        *,
        name=None,
    ):
        super().__init__(use_scale, dropout, name)
        check_choice("score_mode", score_mode, ("dot", "concat"))
        self.score_mode = score_mode

    def init(self, key, x):
        self._split(x)
        params = {}
        if self.use_scale:
            params["scale"] = jnp.ones((), jnp.float32)
        if self.score_mode == "concat":
            params["concat_score_weight"] = jnp.ones((), jnp.float32)
        return params

    def _scores(self, params, q, k):
        scale = params["scale"].astype(q.dtype) if self.use_scale else None
        if self.score_mode == "dot":
            scores = jnp.matmul(q, jnp.swapaxes(k, -2, -1))
            return scores if scale is None else scores * scale
        pair = q[:, :, None, :] + k[:, None, :, :]  # (B, Tq, Tv, D)
        if scale is not None:
            pair = scale * pair
        return params["concat_score_weight"].astype(q.dtype) * jnp.sum(jnp.tanh(pair), -1)


class AdditiveAttention(_BaseAttention):
    """Additive (Bahdanau) attention, as `keras.layers.AdditiveAttention`:

        scores = sum_d scale_d * tanh(q_i + k_j)_d            (B, Tq, Tv)

    with `scale` (D,) learned when `use_scale=True` (glorot-uniform for a vector, as
    Keras), else 1. Bahdanau's v^T tanh(W1 q + W2 k) is this with query and key projected
    by Dense layers first: AdditiveAttention()([Dense(a)(q), value, Dense(a)(value)]).
    See the module docstring for inputs, masks, dropout and `return_attention_scores`.
    """

    def __init__(self, use_scale: bool = True, dropout: float = 0.0, *, name=None):
        super().__init__(use_scale, dropout, name)

    def init(self, key, x):
        q, _, _ = self._split(x)
        if not self.use_scale:
            return {}
        size = shape_dtype(q).shape[-1]
        return {"scale": initializers.vector_glorot_uniform(key, (size,))}

    def _scores(self, params, q, k):
        pair = jnp.tanh(q[:, :, None, :] + k[:, None, :, :])  # (B, Tq, Tv, D)
        if self.use_scale:
            pair = params["scale"].astype(q.dtype).reshape(1, 1, 1, -1) * pair
        return jnp.sum(pair, axis=-1)
