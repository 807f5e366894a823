"""Connectionist temporal classification (Graves et al. 2006): loss and decoders.

A CTC model emits, at each of T frames, logits over C classes, one of which is the
*blank*. An alignment pi (one class per frame) collapses to a labelling B(pi) by
merging repeated classes and then dropping blanks ("a a - b b" -> "a b", "a - a" -> "a a").

    p(l | x) = sum_{pi : B(pi) = l} prod_t softmax(z_t)_{pi_t}

Conventions (REFERENCE.md 1.8): batch-major (B, T, C) logits and lengths per row, as
Keras; the blank is class 0 by default (Keras, Optax, PyTorch); `blank="last"` (= C - 1)
gives TF1's `tf.nn.ctc_*`. Decoded labellings are padded with -1, as Keras.

  loss = jrnn.ctc.ctc_loss(logits, labels, logit_lengths, label_lengths)
  decoded, lengths, log_probs = jrnn.ctc.ctc_beam_search_decode(logits, logit_lengths)
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from jrnn._checks import (
    check_choice,
    check_lengths,
    check_positive_int,
    is_concrete,
    shape_error,
)
from jrnn._ops import wide_dtype

PAD = -1  # fills decoded labellings past their length


def _blank_index(blank, num_classes: int) -> int:
    if blank == "last":
        return num_classes - 1
    if isinstance(blank, bool) or not isinstance(blank, (int, np.integer)):
        raise ValueError(f"blank: got {blank!r}, expected a class index or 'last'")
    if not 0 <= blank < num_classes:
        raise ValueError(f"blank: got {blank}, expected 0 <= blank < {num_classes} (classes)")
    return int(blank)


def _check_logits(logits):
    logits = jnp.asarray(logits)
    if logits.ndim != 3:
        raise shape_error("logits", logits.shape, "(batch, time, classes)")
    if not jnp.issubdtype(logits.dtype, jnp.floating):
        raise TypeError(f"logits: got dtype {logits.dtype}, expected floating point")
    return wide_dtype(logits.dtype), logits


def ctc_loss(
    logits, labels, logit_lengths, label_lengths, *, blank=0, reduction="mean", zero_infinity=False
):
    """CTC loss -log p(labels | logits) over padded batches, on `optax.ctc_loss`.

    Args:
      logits: (B, T, C) unnormalized scores (log-softmax is applied inside).
      labels: (B, L) int class ids, right-padded (values past a row's length are
        ignored); each valid label must be in [0, C) and not the blank.
      logit_lengths: (B,) int, valid frames per row, 0 <= . <= T.
      label_lengths: (B,) int, valid labels per row, 0 <= . <= L.
      blank: the blank's class index: 0 (default: Keras, Optax, PyTorch) or "last" /
        C - 1 (TF1's `tf.nn.ctc_loss`).
      reduction: "mean" (over the batch, as `keras.losses.CTC`), "sum" or "none" (B,).

      zero_infinity: as `torch.nn.functional.ctc_loss`: infeasible rows (below) get
        loss 0 and gradient 0 instead of an error or inf.

    Returns:
      The loss: a scalar, or (B,) with reduction="none".

    A row is infeasible when no alignment of its frames collapses to its labels: an
    alignment needs one frame per label plus a blank between each pair of equal
    neighbours, so row b needs `label_lengths[b] + #{i : labels[b, i] == labels[b, i+1]}`
    frames. With concrete lengths an infeasible row raises ValueError naming the rows
    (unless `zero_infinity`); traced (under jit) its loss is +inf (p = 0, as PyTorch and
    TF) with a zero gradient, so the other rows still train.
    """
    dtype, logits = _check_logits(logits)
    b, t, c = logits.shape
    labels = jnp.asarray(labels)
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(f"labels: got dtype {labels.dtype}, expected integer class ids")
    if labels.ndim != 2 or labels.shape[0] != b:
        raise shape_error("labels", labels.shape, f"({b}, max_label_length)")
    blank = _blank_index(blank, c)
    check_choice("reduction", reduction, ("mean", "sum", "none"))
    if not isinstance(zero_infinity, (bool, np.bool_)):
        raise TypeError(f"zero_infinity: got {zero_infinity!r}, expected True or False")
    logit_lengths = check_lengths("logit_lengths", logit_lengths, (b,), t, "frames of logits")
    label_lengths = check_lengths("label_lengths", label_lengths, (b,), labels.shape[1], "labels")
    if is_concrete(labels) and is_concrete(label_lengths):
        lab = np.asarray(labels)
        valid = np.arange(lab.shape[1])[None] < np.asarray(label_lengths)[:, None]
        bad = lab[valid & ((lab < 0) | (lab >= c) | (lab == blank))]
        if bad.size:
            raise ValueError(
                f"labels: got class {bad[0]}, expected ids in [0, {c}) other than the "
                f"blank ({blank})"
            )
    needed = _frames_needed(labels, label_lengths)
    if not zero_infinity and is_concrete(needed) and is_concrete(logit_lengths):
        short = np.flatnonzero(np.asarray(needed) > np.asarray(logit_lengths))
        if short.size:
            raise ValueError(
                f"label_lengths: rows {short.tolist()[:10]} need more frames than they have "
                f"(needed {np.asarray(needed)[short].tolist()[:10]} = labels plus a blank "
                f"between repeats, logit_lengths {np.asarray(logit_lengths)[short].tolist()[:10]}"
                f"); expected feasible labellings, or zero_infinity=True to give such rows 0"
            )
    loss = _ctc_loss(logits.astype(dtype), labels, logit_lengths, label_lengths, blank)
    # Optax gives an infeasible row about 1e5 (its log(0) stand-in); `where` keeps that
    # row's gradient at exactly 0 and reports p = 0 as +inf (or 0 with zero_infinity).
    fill = jnp.array(0.0 if zero_infinity else jnp.inf, loss.dtype)
    loss = jnp.where(needed > logit_lengths, fill, loss)
    return {"mean": jnp.mean, "sum": jnp.sum, "none": lambda x: x}[reduction](loss)


def _frames_needed(labels, label_lengths):
    """(B,) frames the shortest alignment of each row's labels takes: one per label and
    one blank between equal neighbours."""
    idx = jnp.arange(labels.shape[1] - 1)[None]
    repeats = (labels[:, 1:] == labels[:, :-1]) & (idx + 1 < label_lengths[:, None])
    return label_lengths + jnp.sum(repeats, axis=1, dtype=jnp.int32)


@partial(jax.jit, static_argnums=4)
def _ctc_loss(logits, labels, logit_lengths, label_lengths, blank):
    def paddings(lengths, size):
        return (jnp.arange(size)[None] >= lengths[:, None]).astype(logits.dtype)

    return optax.ctc_loss(
        logits,
        paddings(logit_lengths, logits.shape[1]),
        labels.astype(jnp.int32),
        paddings(label_lengths, labels.shape[1]),
        blank_id=blank,
    )


def ctc_greedy_decode(logits, lengths, *, merge_repeated=True, blank=0):
    """Best-path decoding, as `tf.nn.ctc_greedy_decoder` (batch-major).

    pi_t = argmax_c logits[b, t, c] for t < lengths[b]; with `merge_repeated`, a class
    equal to the previous frame's is dropped (a blank between repeats keeps both:
    "A B B - B" -> "A B B"); blanks are dropped.

    Args:
      logits: (B, T, C); lengths: (B,) int valid frames.
      merge_repeated: merge repeated classes (True, TF's default) or keep them.
      blank: 0 (default) or "last" / C - 1 (TF's default).

    Returns:
      (decoded (B, T) int32 padded with -1, decoded_lengths (B,) int32, scores (B,)):
      scores[b] = -sum_{t < lengths[b]} max_c logits[b, t, c], TF's `neg_sum_logits`
      (of the raw logits, blanks included; TF returns it as (B, 1)).
    """
    _, logits = _check_logits(logits)
    b, t, c = logits.shape
    lengths = check_lengths("lengths", lengths, (b,), t, "frames of logits")
    return _greedy(logits, lengths, bool(merge_repeated), _blank_index(blank, c))


@partial(jax.jit, static_argnums=(2, 3))
def _greedy(logits, lengths, merge_repeated, blank):
    b, t, _ = logits.shape
    valid = jnp.arange(t)[None] < lengths[:, None]
    best = jnp.argmax(logits, axis=-1).astype(jnp.int32)
    scores = -jnp.sum(jnp.where(valid, jnp.max(logits, axis=-1), 0.0), axis=1)
    emit = valid & (best != blank)
    if merge_repeated:
        prev = jnp.pad(best[:, :-1], ((0, 0), (1, 0)), constant_values=-1)
        emit = emit & (best != prev)
    pos = jnp.where(emit, jnp.cumsum(emit, axis=1) - 1, t)  # t: dropped by the scatter
    rows = jnp.broadcast_to(jnp.arange(b)[:, None], (b, t))
    decoded = jnp.full((b, t), PAD, jnp.int32).at[rows, pos].set(best, mode="drop")
    return decoded, jnp.sum(emit, axis=1).astype(jnp.int32), scores


def ctc_beam_search_decode(logits, lengths, *, beam_width=100, top_paths=1, blank=0):
    """CTC prefix beam search, as `tf.nn.ctc_beam_search_decoder` and
    `keras.ops.ctc_decode(strategy="beam_search")` (batch-major).

    A beam is a labelling prefix l with the log-probabilities of the frames so far
    ending in a blank, pb(l), or in its last label, pnb(l) (summed over all alignments,
    Graves 2006 / Hannun et al. 2014). With y_t = log_softmax(logits[b, t]):

      stay:    pb'(l)   = logaddexp(pb, pnb)(l) + y_t[blank]
               pnb'(l)  = pnb(l) + y_t[last(l)]
      extend:  pnb'(l+c) = logaddexp(pb, pnb)(l) + y_t[c]  (c != last(l)),
                           pb(l) + y_t[c]                  (c == last(l))

    and an extension that equals a prefix already in the beam is merged into it. The
    `beam_width` prefixes with the largest logaddexp(pb, pnb) are kept each frame. When
    the beam holds every prefix the result is exact: the most probable labellings.
    Runs as one `lax.scan` over frames, vmapped over the batch, with fixed-size arrays
    (prefixes (beam_width, T)); prefixes are matched by a 64-bit hash and then compared.

    Args:
      logits: (B, T, C); lengths: (B,) int valid frames.
      beam_width: prefixes kept (>= 1; default 100 as TF and Keras).
      top_paths: labellings returned per row, 1 <= top_paths <= beam_width.
      blank: 0 (default, Keras's `mask_index`) or "last" / C - 1 (TF's blank).

    Returns:
      (decoded (B, top_paths, T) int32 padded with -1, decoded_lengths (B, top_paths),
      log_probs (B, top_paths) = log p(labelling | logits)), most probable first. A path
      with log-probability -inf is no labelling (beam_width beyond the possible prefixes)
      and is returned empty.
    """
    _, logits = _check_logits(logits)
    b, t, c = logits.shape
    lengths = check_lengths("lengths", lengths, (b,), t, "frames of logits")
    beam_width = check_positive_int("beam_width", beam_width)
    top_paths = check_positive_int("top_paths", top_paths)
    if top_paths > beam_width:
        raise ValueError(f"top_paths: got {top_paths}, expected at most beam_width={beam_width}")
    return _beam(logits, lengths, beam_width, top_paths, _blank_index(blank, c))


_M1, _M2 = np.uint32(1_000_003), np.uint32(16_777_619)  # two polynomial hashes


@partial(jax.jit, static_argnums=(2, 3, 4))
def _beam(logits, lengths, k, top_paths, blank):
    logp = jax.nn.log_softmax(logits.astype(wide_dtype(logits.dtype)))
    _, t, c = logp.shape
    ninf = jnp.array(-jnp.inf, logp.dtype)

    def one_row(y, length):
        # Beam state: prefix (K, T) padded with PAD, plen, last label (PAD if empty),
        # hashes of the prefix and of its parent (prefix without its last label).
        zeros = jnp.zeros((k,), jnp.uint32)
        state = dict(
            prefix=jnp.full((k, t), PAD, jnp.int32),
            plen=jnp.zeros((k,), jnp.int32),
            last=jnp.full((k,), PAD, jnp.int32),
            h1=zeros,
            h2=zeros,
            p1=zeros,
            p2=zeros,
            pb=jnp.full((k,), ninf).at[0].set(0.0),  # one beam: the empty prefix
            pnb=jnp.full((k,), ninf),
        )

        def frame(s, inp):
            y_t, active = inp
            new = _frame(s, y_t, k, c, blank, ninf)
            return jax.tree.map(lambda a, o: jnp.where(active, a, o), new, s), None

        s, _ = lax.scan(frame, state, (y, jnp.arange(t) < length))
        total = jnp.logaddexp(s["pb"], s["pnb"])
        score, best = lax.top_k(total, top_paths)
        ok = score > ninf
        decoded = jnp.where(ok[:, None], s["prefix"][best], PAD)
        return decoded, jnp.where(ok, s["plen"][best], 0), score

    return jax.vmap(one_row)(logp, lengths)


def _frame(s, y, k, c, blank, ninf):
    """One frame of prefix beam search on one row: y (C,) log-probabilities."""
    total = jnp.logaddexp(s["pb"], s["pnb"])  # (K,)
    alive = total > ninf
    last = s["last"]
    has_last = last >= 0
    y_last = y[jnp.maximum(last, 0)]
    # Stay: the prefix is unchanged (a blank, or a repeat of its last label).
    stay_pb = total + y[blank]
    stay_pnb = jnp.where(has_last, s["pnb"] + y_last, ninf)
    # Extend by c: after a blank only when c repeats the last label.
    labels = jnp.arange(c, dtype=jnp.int32)
    same = labels[None] == last[:, None]  # (K, C)
    ext = jnp.where(same, s["pb"][:, None], total[:, None]) + y[None]
    ext = jnp.where((labels == blank)[None] | ~alive[:, None], ninf, ext)
    # Merge an extension of beam i by c that equals beam j (j's parent is i, j's last
    # label is c) into j's stay, and drop it as a new candidate. Hashes find i; the
    # prefixes are then compared, so a hash collision never merges different prefixes.
    child = (
        (s["p1"][:, None] == s["h1"][None])
        & (s["p2"][:, None] == s["h2"][None])
        & (s["plen"][:, None] == s["plen"][None] + 1)
        & alive[None]
        & alive[:, None]
        & has_last[:, None]
    )  # (K_j, K_i)
    parent = jnp.argmax(child, axis=1)
    steps = jnp.arange(s["prefix"].shape[1])
    same_prefix = jnp.all(
        (s["prefix"] == s["prefix"][parent]) | (steps[None] >= s["plen"][parent][:, None]),
        axis=1,
    )
    merged = jnp.any(child, axis=1) & same_prefix
    lastc = jnp.maximum(last, 0)
    stay_pnb = jnp.where(merged, jnp.logaddexp(stay_pnb, ext[parent, lastc]), stay_pnb)
    drop = jnp.zeros((k, c), bool).at[parent, lastc].max(merged)
    ext = jnp.where(drop, ninf, ext)
    # Keep the K best of K stays and K * C extensions.
    stay_total = jnp.where(alive, jnp.logaddexp(stay_pb, stay_pnb), ninf)
    _, idx = lax.top_k(jnp.concatenate([stay_total, ext.reshape(k * c)]), k)
    is_ext = idx >= k
    src = jnp.where(is_ext, (idx - k) // c, idx)
    lab = jnp.where(is_ext, (idx - k) % c, last[src]).astype(jnp.int32)
    plen = s["plen"][src]
    prefix = s["prefix"][src]
    prefix = jnp.where(is_ext[:, None] & (steps[None] == plen[:, None]), lab[:, None], prefix)
    code = (lab + 1).astype(jnp.uint32)
    e1, e2 = s["h1"][src] * _M1 + code, s["h2"][src] * _M2 + code
    return dict(
        prefix=prefix,
        plen=plen + is_ext,
        last=lab,
        h1=jnp.where(is_ext, e1, s["h1"][src]),
        h2=jnp.where(is_ext, e2, s["h2"][src]),
        p1=jnp.where(is_ext, s["h1"][src], s["p1"][src]),
        p2=jnp.where(is_ext, s["h2"][src], s["p2"][src]),
        pb=jnp.where(is_ext, ninf, stay_pb[src]),
        pnb=jnp.where(is_ext, ext.reshape(k * c)[jnp.maximum(idx - k, 0)], stay_pnb[src]),
    )
