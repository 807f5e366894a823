"""Griffin's residual block (De et al. 2024, arXiv 2402.19427; the recurrent block of
Hawk, Griffin and RecurrentGemma) as one layer: an RMSNorm-ed temporal-mixing block with
a causal depthwise Conv1D and the RG-LRU, then an RMSNorm-ed gated MLP, each added back
to its input."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jrnn import recurrence
from jrnn._checks import check_bool, check_key, check_positive_int, shape_error
from jrnn.cells.lru import RGLRUCell
from jrnn.layers.base import Layer, as_float, shape_dtype
from jrnn.layers.core import Dense

_SEQUENCE = "(batch, time, features)"


def _gelu(x):
    # recurrentgemma uses flax's gelu, the tanh approximation (jrnn's "gelu" is the
    # exact erf form, as Keras's); the approximation keeps its weights' outputs.
    return jax.nn.gelu(x, approximate=True)


def _rms_norm(x, scale, epsilon):
    """recurrentgemma's RMSNorm: x / sqrt(mean(x²) + ε) · (1 + scale), in float32."""
    xf = x.astype(jnp.result_type(x.dtype, jnp.float32))
    var = jnp.mean(jnp.square(xf), axis=-1, keepdims=True)
    scale = jnp.reshape(1.0 + scale.astype(xf.dtype), (1,) * (x.ndim - 1) + scale.shape)
    return (xf * jax.lax.rsqrt(var + epsilon) * scale).astype(x.dtype)


class GriffinBlock(Layer):
    """Griffin's residual block: (B, T, D) -> (B, T, D), causal.

    With R = rnn_width, M = round(mlp_expansion · D), K = conv_width and ⊙ elementwise:

      u    = RMSNorm(x)                                   temporal pre-norm
      g    = GeLU(u W_y + b_y)                            (B, T, R) gate branch
      v    = Conv1D_K(u W_x + b_x)                        (B, T, R) causal, depthwise:
             v_t = b_c + Σ_{k<K} w_c[k] ⊙ z_{t-K+1+k}     (z before the start: zeros)
      h    = RG-LRU(v)                                    `jrnn.RGLRUCell(R, c)`:
             a_t = σ(Λ)^(c r_t),  h_t = a_t ⊙ h_{t-1} + √(1 − a_t²) ⊙ (i_t ⊙ v_t)
      r    = x + (h ⊙ g) W_o + b_o                        residual 1
      y    = r + (GeLU(ũ W_g + b_g) ⊙ (ũ W_u + b_u)) W_d + b_d,   ũ = RMSNorm(r)

    RMSNorm(x) = x / sqrt(mean(x²) + ε) · (1 + scale) (scale initialised to zeros) and
    GeLU is the tanh approximation, both as recurrentgemma's jax code; the layout follows
    its ResidualBlock / RecurrentBlock / MLPBlock, so its weights map one to one (its
    RG-LRU gates are block-diagonal with `num_heads` blocks, here dense; its MLP's
    `ffw_up` w[0], w[1] are our `ffw_up` kernel's column blocks [gate | value]).

    Args:
      width: D, the input's and the output's features (the residual adds x).
      rnn_width: R, the width of the recurrent branch. None: round(4·D / 3), the
        Griffin paper's choice (its recurrent block then has 3·D·R = 4·D² weights, as
        an attention block; recurrentgemma's 2B model uses R = D: pass it).
      mlp_expansion: the gated MLP's expansion factor (M = round(mlp_expansion · D));
        Griffin uses 3.
      conv_width: K, the temporal width of the causal conv (Griffin: 4).
      c: the RG-LRU's gate scale (Griffin: 8).
      epsilon: the RMSNorms' ε.
      stateful: keep the state of the last call (the RG-LRU's carry and the conv's last
        K − 1 inputs) as the next call's start, so chunks of a stream give the outputs
        of the whole stream (a model keeps it in `variables["state"]`).
      name: the layer's name.

    Parameters ({sub-block: {array}}, recurrentgemma's sub-block names, Keras's
    kernel/bias layouts): temporal_pre_norm.scale (D,); linear_y, linear_x (D, R);
    conv_1d.kernel (K, R), conv_1d.bias (R,); rg_lru (`RGLRUCell(R)`'s: kernel (R, 2R),
    bias (2R,), a_param (R,)); linear_out (R, D); channel_pre_norm.scale (D,); ffw_up
    (D, 2M); ffw_down (M, D). Initialisation as recurrentgemma's: Dense kernels
    LeCun-normal, the conv kernel N(0, 0.01 / K), biases and norm scales zeros (the
    RG-LRU's own initialisers otherwise).

    State (stateful layers, and the layer-step carry): {"conv_1d": (B, K − 1, R), the
    last K − 1 conv inputs, oldest first; "rg_lru": (B, R), h}.

    Masks: a (B, T) mask (e.g. from `Embedding(mask_zero=True)`) passes through. At a
    padding step the RG-LRU keeps its carry and outputs zeros, and the conv reads the
    step as a zero input (the value its own left padding has), so a left- or
    right-padded sequence gives, at its valid steps, the outputs of the sequence alone.
    (A padding step inside a sequence is a zero in the conv's window, not skipped, so it
    still delays the inputs before it by one place.) Outputs at padding steps are not
    meaningful: mask them in the loss, as the model's mask does.

    Also runs one time step at a time (`step_init`/`step`, the layer-step protocol), so
    `jrnn.lm_step` decodes through it.

    Example:
      block = GriffinBlock(64)                         # R = 85, M = 192, K = 4
      params = block.init(key, x)                      # x: (B, T, 64)
      y = block.apply(params, x)                       # (B, T, 64)
      model = jrnn.Sequential([Embedding(V, 64), GriffinBlock(64), GriffinBlock(64),
                               Dense(V)])
    """

    def __init__(
        self,
        width: int,
        *,
        rnn_width: int | None = None,
        mlp_expansion: float = 3,
        conv_width: int = 4,
        c: float = 8.0,
        epsilon: float = 1e-6,
        stateful: bool = False,
        name=None,
    ):
        super().__init__(name=name)
        self.width = check_positive_int("width", width)
        if rnn_width is None:
            rnn_width = max(1, round(4 * self.width / 3))
        self.rnn_width = check_positive_int("rnn_width", rnn_width)
        if isinstance(mlp_expansion, bool) or not isinstance(mlp_expansion, (int, float)):
            raise TypeError(
                f"mlp_expansion: got {mlp_expansion!r} of type {type(mlp_expansion).__name__}, "
                f"expected a number"
            )
        if not math.isfinite(mlp_expansion) or round(mlp_expansion * self.width) < 1:
            raise ValueError(
                f"mlp_expansion: got {mlp_expansion!r}, expected a number > 0 with "
                f"round(mlp_expansion * width) >= 1 (width={self.width})"
            )
        self.mlp_expansion = mlp_expansion
        self.conv_width = check_positive_int("conv_width", conv_width)
        # RGLRUCell checks c and names it in its error
        self._cell = RGLRUCell(self.rnn_width, c=c)
        self.c = self._cell.c
        if isinstance(epsilon, bool) or not (isinstance(epsilon, (int, float)) and epsilon > 0):
            raise ValueError(f"epsilon: got {epsilon!r}, expected a number > 0")
        self.epsilon = float(epsilon)
        self.stateful = check_bool("stateful", stateful)
        r, d, m = self.rnn_width, self.width, self.mlp_width
        dense = dict(kernel_initializer="lecun_normal")
        self._dense = {
            "linear_y": Dense(r, **dense),
            "linear_x": Dense(r, **dense),
            "linear_out": Dense(d, **dense),
            "ffw_up": Dense(2 * m, **dense),
            "ffw_down": Dense(d, **dense),
        }

    @property
    def mlp_width(self) -> int:
        """M, the width of each branch of the gated MLP."""
        return round(self.mlp_expansion * self.width)

    # -- parameters and state -------------------------------------------------------------
    def _check_x(self, x) -> jax.ShapeDtypeStruct:
        self.check_rank(x, (3,), _SEQUENCE)
        s = shape_dtype(x)
        if s.shape[-1] != self.width:
            raise shape_error(
                f"{self.label}: x",
                s.shape,
                f"(batch, time, {self.width}): width={self.width} features, since the "
                f"residual adds the input to the output (put a Dense({self.width}) first)",
            )
        return s

    def init(self, key, x):
        s = self._check_x(x)
        k = dict(
            zip(
                ("y", "x", "conv", "lru", "out", "up", "down"),
                jax.random.split(check_key("key", key), 7),
            )
        )
        d, r, m, kw = self.width, self.rnn_width, self.mlp_width, self.conv_width
        seq = jax.ShapeDtypeStruct(s.shape, jnp.float32)

        def feats(n):
            return jax.ShapeDtypeStruct((*s.shape[:-1], n), jnp.float32)

        dense = self._dense
        return {
            "temporal_pre_norm": {"scale": jnp.zeros((d,), jnp.float32)},
            "linear_y": dense["linear_y"].init(k["y"], seq),
            "linear_x": dense["linear_x"].init(k["x"], seq),
            "conv_1d": {
                "kernel": jax.random.normal(k["conv"], (kw, r)) * math.sqrt(0.01 / kw),
                "bias": jnp.zeros((r,), jnp.float32),
            },
            "rg_lru": self._cell.init(k["lru"], r),
            "linear_out": dense["linear_out"].init(k["out"], feats(r)),
            "channel_pre_norm": {"scale": jnp.zeros((d,), jnp.float32)},
            "ffw_up": dense["ffw_up"].init(k["up"], seq),
            "ffw_down": dense["ffw_down"].init(k["down"], feats(m)),
        }

    def _zero_state(self, batch_size):
        return {
            "conv_1d": jnp.zeros((batch_size, self.conv_width - 1, self.rnn_width), jnp.float32),
            "rg_lru": self._cell.initial_carry(batch_size),
        }

    def init_state(self, x):
        return self._zero_state(shape_dtype(x).shape[0]) if self.stateful else None

    def _check_state(self, state, batch_size: int) -> None:
        want = jax.eval_shape(lambda: self._zero_state(batch_size))
        if not isinstance(state, dict) or set(state) != set(want):
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise TypeError(
                f"{self.label}: state: got {got}, expected a dict with keys "
                f"{sorted(want)} as from init_state / step_init"
            )
        for k, spec in want.items():
            if tuple(jnp.shape(state[k])) != spec.shape:
                raise shape_error(
                    f"{self.label}: state[{k!r}]",
                    jnp.shape(state[k]),
                    f"{spec.shape} for batch size {batch_size} (a stateful layer needs "
                    f"the same batch size in every call; init the model again to change it)",
                )

    # -- the block ------------------------------------------------------------------------
    def _forward(self, params, x, state, mask):
        """x (B, T, D), state as `_zero_state`, mask None or (B, T) -> (y, new state)."""
        dense = self._dense
        call = lambda name, v: dense[name].call(params[name], v)[0]  # noqa: E731
        u = _rms_norm(x, params["temporal_pre_norm"]["scale"], self.epsilon)
        gate = _gelu(call("linear_y", u))
        z = call("linear_x", u)
        if mask is not None:
            # a padding step enters the conv as a zero, the value of its left padding,
            # so left padding gives the outputs of the unpadded sequence
            z = z * mask[..., None].astype(z.dtype)
        v, conv_state = self._conv(params["conv_1d"], z, state["conv_1d"])
        h, hs = recurrence.unroll(self._cell, params["rg_lru"], v, carry=state["rg_lru"], mask=mask)
        r = x + call("linear_out", hs.astype(gate.dtype) * gate)
        up = call("ffw_up", _rms_norm(r, params["channel_pre_norm"]["scale"], self.epsilon))
        g, w = jnp.split(up, 2, axis=-1)
        y = r + call("ffw_down", _gelu(g) * w)
        return y.astype(x.dtype), {"conv_1d": conv_state, "rg_lru": h}

    def _conv(self, params, z, history):
        """Causal depthwise conv of z (B, T, R) after `history` (B, K - 1, R), the
        inputs before z (zeros at a sequence's start): (out (B, T, R), the last K - 1
        inputs). K shifted multiply-adds: for K = 4 cheaper and clearer than a grouped
        lax.conv, and the same arithmetic for one step and for a sequence."""
        t, kw = z.shape[1], self.conv_width
        window = jnp.concatenate([history.astype(z.dtype), z], axis=1)  # (B, K-1+T, R)
        kernel = params["kernel"].astype(z.dtype)[:, None, None, :]  # (K, 1, 1, R)
        out = jnp.broadcast_to(params["bias"].astype(z.dtype), z.shape)
        for k in range(kw):
            out = out + window[:, k : k + t] * kernel[k]
        return out, window[:, t:].astype(jnp.float32)

    def call(self, params, x, *, state=None, mask=None, training=False, key=None):
        x = as_float(jnp.asarray(x))
        self._check_x(x)
        if state is None:
            state = self._zero_state(x.shape[0])
        else:
            self._check_state(state, x.shape[0])
        if mask is not None and tuple(jnp.shape(mask)) != x.shape[:2]:
            raise shape_error(
                f"{self.label}: mask", jnp.shape(mask), f"{x.shape[:2]} (batch, time)"
            )
        y, new_state = self._forward(params, x, state, mask)
        return y, (new_state if self.stateful else None)

    # -- the layer-step protocol (see Layer): the same block on one step ------------------
    def step_error(self):
        return None

    def step_init(self, params, batch_size):
        """The zero state {"conv_1d": (B, K - 1, R), "rg_lru": (B, R)} (also for a
        stateful layer)."""
        return self._zero_state(batch_size)

    def step(self, params, carry, x_t, *, mask_t=None):
        """(carry, y_t) for x_t (B, D): `call` on a one-step sequence from `carry`, so
        the step and the whole sequence share every operation."""
        x = as_float(jnp.asarray(x_t))[:, None]
        self._check_x(x)
        self._check_state(carry, x.shape[0])
        mask = None if mask_t is None else jnp.reshape(mask_t, (-1, 1))
        y, carry = self._forward(params, x, carry, mask)
        return carry, y[:, 0]

    def step_input_size(self, params):
        return self.width
