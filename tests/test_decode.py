"""Decoding: language-model sampling from jrnn models, greedy and beam search against
Python loops and exhaustive search."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.tree_util import Partial

import jrnn
from jrnn import decode
from jrnn.cells import LSTMCell
from jrnn.decoding import lm_step
from jrnn.layers import (
    GRU,
    LSTM,
    Bidirectional,
    Conv1D,
    Dense,
    Dropout,
    Embedding,
    SimpleRNN,
    TimeDistributed,
)

V = 6


def init_vars(model, shape, dtype=jnp.int32, seed=0):
    """model.init, compiled (faster than running the initializers op by op)."""
    spec = jax.ShapeDtypeStruct(shape, dtype)
    return jax.jit(lambda k: model.init(k, spec))(jax.random.key(seed))


def apply_model(model, variables, x):
    return jax.jit(model.apply)(variables, x)[0]


@pytest.fixture(scope="module")
def lm():
    """Embedding + LSTM(return_sequences) + Dense: a small language model."""
    model = jrnn.Sequential([Embedding(V, 5), LSTM(8, return_sequences=True), Dense(V)])
    variables = init_vars(model, (1, 4))
    # larger logits than the Glorot init gives, so the distributions are not flat
    variables["params"]["dense"]["kernel"] *= 4.0
    return model, variables


def table_step(table):
    """A bigram model: logits = table[previous token]; no carry."""
    return Partial(lambda t, carry, tok: (carry, jnp.take(t, tok, axis=0)), jnp.asarray(table))


def test_lm_step_gives_the_models_teacher_forced_logits(lm):
    model, variables = lm
    x = jax.random.randint(jax.random.key(1), (3, 7), 0, V)
    want = apply_model(model, variables, x)
    step, init = lm_step(model, variables)
    carry, got = init(3), []
    for t in range(7):
        carry, logits = jax.jit(step)(carry, x[:, t])
        got.append(logits)
    np.testing.assert_allclose(np.stack(got, 1), want, atol=1e-5)
    _, last = decode.feed(step, init(3), x)
    np.testing.assert_allclose(last, want[:, -1], atol=1e-5)


def test_lm_step_stacks_masks_and_softmax():
    layers = [
        Embedding(V, 4, mask_zero=True),
        GRU(6, return_sequences=True),
        Dropout(0.5),
        SimpleRNN(5, return_sequences=True),
        TimeDistributed(Dense(7)),
        Dense(V, activation="softmax"),
    ]
    model = jrnn.Sequential(layers)
    x = np.array([[0, 0, 3, 1, 5], [2, 4, 1, 1, 3]])  # row 0 left-padded
    variables = init_vars(model, x.shape, seed=2)
    probs = apply_model(model, variables, x)
    step, init = lm_step(model, variables)
    carry, logits = decode.feed(step, init(2), x)
    np.testing.assert_allclose(jnp.exp(logits), probs[:, -1], atol=1e-6)
    # the padding left the carry as the zero state: same as the unpadded prompt
    carry2, logits2 = decode.feed(step, init(1), x[:1, 2:])
    np.testing.assert_allclose(logits2, logits[:1], atol=1e-6)
    # feed's own mask does the same for any step function
    _, logits3 = decode.feed(step, init(2), x, mask=x != 0)
    np.testing.assert_allclose(logits3, logits, atol=1e-6)


def test_lm_step_last_rnn_without_sequences_and_one_hot_input():
    model = jrnn.Sequential([LSTM(8), Dense(V)])  # one-hot tokens, as Keras's char LSTM
    x = jax.random.randint(jax.random.key(3), (2, 5), 0, V)
    onehot = jax.nn.one_hot(x, V)
    variables = init_vars(model, onehot.shape, jnp.float32, seed=4)
    want = apply_model(model, variables, onehot)
    step, init = lm_step(model, variables)
    _, got = decode.feed(step, init(2), x)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_lm_step_rejects_non_causal_models():
    bad = [
        [Embedding(V, 4), Bidirectional(LSTM(4, return_sequences=True)), Dense(V)],
        [Embedding(V, 4), LSTM(4, return_sequences=True, go_backwards=True), Dense(V)],
        [Embedding(V, 4), Conv1D(4, 2), LSTM(4), Dense(V)],
        [Embedding(V, 4), Dense(V)],
    ]
    for layers in bad:
        model = jrnn.Sequential(layers)
        with pytest.raises(ValueError, match="model"):  # before reading the parameters
            lm_step(model, {"params": {}})
    with pytest.raises(TypeError, match="model"):
        lm_step(Dense(3), {})


def test_lm_step_decoder_of_a_functional_encoder_decoder():
    """`layers=` picks the decoder out of a two-input Model; started from the encoder's
    (h, c) it gives the model's teacher-forced logits, and greedy decoding from it is the
    argmax loop over those steps."""
    enc_in = jrnn.Input((None,), "int32", name="src")
    dec_in = jrnn.Input((None,), "int32", name="tgt")
    x = Embedding(V, 4, mask_zero=True, name="enc_emb")(enc_in)
    _, h, c = LSTM(8, return_state=True, name="encoder")(x)
    y = Embedding(V, 5, name="dec_emb")(dec_in)
    y = LSTM(8, return_sequences=True, name="decoder")(y, initial_state=[h, c])
    y = Dropout(0.3, name="drop")(y)
    logits = Dense(V, name="logits")(y)
    model = jrnn.Model([enc_in, dec_in], logits)
    encoder = jrnn.Model(enc_in, [h, c])
    src = jnp.array([[1, 2, 3, 0], [4, 5, 0, 0], [2, 2, 2, 2]])  # padded: masked
    tgt = jax.random.randint(jax.random.key(2), (3, 6), 1, V)
    variables = jax.jit(model.init)(jax.random.key(0), [src, tgt])
    variables["params"]["logits"]["kernel"] *= 4.0
    want, _ = jax.jit(model.apply)(variables, [src, tgt])
    (h0, c0), _ = jax.jit(encoder.apply)(variables, src)

    step, init = lm_step(model, variables, layers=["dec_emb", "decoder", "drop", "logits"])
    assert jax.tree.map(jnp.shape, init(3)) == (((3, 8), (3, 8)),)
    _, got = decode.feed(step, ((h0, c0),), tgt)
    np.testing.assert_allclose(got, want[:, -1], atol=1e-5)
    jit_step = jax.jit(step)
    carry, steps = ((h0, c0),), []
    for t in range(6):
        carry, out = jit_step(carry, tgt[:, t])
        steps.append(out)
    np.testing.assert_allclose(np.stack(steps, 1), want, atol=1e-5)

    seqs, _, _ = decode.greedy_decode(step, ((h0, c0),), 1, 5)
    carry, tok, ref = ((h0, c0),), jnp.ones(3, jnp.int32), []
    for _ in range(5):
        carry, out = jit_step(carry, tok)
        tok = jnp.argmax(out, -1).astype(jnp.int32)
        ref.append(tok)
    np.testing.assert_array_equal(seqs[:, 0], np.stack(ref, 1))

    with pytest.raises(TypeError, match="layers=None"):
        lm_step(model, variables)
    with pytest.raises(ValueError, match=r"layers\[1\]: got 'nope', expected one of \["):
        lm_step(model, variables, layers=["dec_emb", "nope"])
    with pytest.raises(TypeError, match="layers: got 'decoder'"):
        lm_step(model, variables, layers="decoder")
    # Layers that do not follow one another in the graph (here: the dropout left out).
    with pytest.raises(ValueError, match=r"layers\[2\]: logits does not read decoder's"):
        lm_step(model, variables, layers=["dec_emb", "decoder", "logits"])
    with pytest.raises(ValueError, match=r"layers\[1\]: enc_emb does not read dec_emb's"):
        lm_step(model, variables, layers=["dec_emb", "enc_emb", "decoder", "logits"])
    # A Sequential's layers in order, with none skipped.
    seq = jrnn.Sequential([Embedding(V, 4), LSTM(8, return_sequences=True), Dense(V)])
    seq_vars = init_vars(seq, (1, 3))
    lm_step(seq, seq_vars, layers=["embedding", "lstm", "dense"])
    with pytest.raises(ValueError, match=r"layers\[1\]: dense does not read embedding's"):
        lm_step(seq, seq_vars, layers=["embedding", "dense"])


def test_greedy_sampling_equals_a_python_argmax_loop(lm):
    model, variables = lm
    step, init = lm_step(model, variables)
    prompt = jnp.array([[1, 2, 3], [4, 0, 5]])
    got = decode.sample(step, init(2), prompt, 6, greedy=True)
    carry, logits = init(2), None
    for t in range(3):
        carry, logits = jax.jit(step)(carry, prompt[:, t])
    want = []
    for _ in range(6):
        tok = jnp.argmax(logits, -1)
        want.append(tok)
        carry, logits = jax.jit(step)(carry, tok)
    np.testing.assert_array_equal(got, np.stack(want, 1))
    key = jax.random.key(7)
    np.testing.assert_array_equal(decode.sample(step, init(2), prompt, 6, key, top_k=1), got)
    cold = decode.sample(step, init(2), prompt, 6, key, temperature=1e-4)
    np.testing.assert_array_equal(cold, got)
    np.testing.assert_array_equal(decode.sample(step, init(2), prompt, 6, temperature=0), got)
    a = decode.sample(step, init(2), prompt, 6, key)
    np.testing.assert_array_equal(decode.sample(step, init(2), prompt, 6, key), a)
    assert a.shape == (2, 6) and a.dtype == jnp.int32
    assert decode.sample(step, init(2), prompt, 0, key).shape == (2, 0)
    # under jit, with a traced key (a plain function as the step works too)
    plain = lambda c, t: step(c, t)
    jitted = jax.jit(lambda k: decode.sample(plain, init(2), prompt, 6, k))
    np.testing.assert_array_equal(jitted(key), a)


def test_top_k_samples_only_among_the_k_most_likely():
    table = jax.random.normal(jax.random.key(5), (V, V)) * 2.0
    b, k = 512, 3
    prompt = jnp.tile(jnp.arange(V), b // V + 1)[:b, None]
    toks = decode.sample(table_step(table), (), prompt, 10, jax.random.key(6), top_k=k)
    prev = np.concatenate([np.asarray(prompt), np.asarray(toks)[:, :-1]], axis=1)
    rank = np.argsort(-np.asarray(table), axis=1)  # tokens by likelihood, per row
    topk = rank[prev, :k]  # (b, 10, k)
    assert np.all(np.any(topk == np.asarray(toks)[..., None], axis=-1))
    assert len(np.unique(toks)) > k  # ... which differ with the previous token


@pytest.mark.parametrize("temperature, top_k", [(1.0, None), (0.5, None), (1.0, 3)])
def test_sample_frequencies_match_softmax(temperature, top_k):
    z = jnp.array([[1.0, 0.2, -0.5, 2.0, 0.0, -1.0]])
    n = 20000
    prompt = jnp.zeros((n, 1), jnp.int32)
    toks = decode.sample(
        table_step(z), (), prompt, 1, jax.random.key(8), temperature=temperature, top_k=top_k
    )
    counts = np.bincount(np.asarray(toks)[:, 0], minlength=V)
    logits = np.asarray(z[0]) / temperature
    if top_k is not None:
        logits = np.where(logits >= np.sort(logits)[-top_k], logits, -np.inf)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    assert np.all(counts[p == 0] == 0)
    expected = n * p[p > 0]
    chi2 = np.sum((counts[p > 0] - expected) ** 2 / expected)
    assert chi2 < 30.0, (counts, expected)  # df <= 5: P(chi2 > 30) < 2e-5


# -- encoder-decoder decoding -------------------------------------------------------------------


def decoder(vocab=4, units=5, seed=0):
    """A tiny LSTM decoder: embedding -> LSTMCell -> projection (a plain function)."""
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    cell = LSTMCell(units)
    params = {
        "emb": jax.random.normal(k1, (vocab, 3)),
        "cell": cell.init(k2, 3),
        "out": 2.0 * jax.random.normal(k3, (units, vocab)),
    }

    def step(carry, tokens):
        carry, h = cell(params["cell"], carry, params["emb"][tokens])
        return carry, h @ params["out"]

    def encoder_carry(batch, seed):
        ka, kb = jax.random.split(jax.random.key(seed))
        return (jax.random.normal(ka, (batch, units)), jax.random.normal(kb, (batch, units)))

    return step, encoder_carry


def python_greedy(step, carry, start, max_length, end):
    tok, out, score, done = start, [], np.zeros(len(start)), np.zeros(len(start), bool)
    length = np.zeros(len(start), int)
    for _ in range(max_length):
        carry, logits = jax.jit(step)(carry, tok)
        logp = np.asarray(jax.nn.log_softmax(logits))
        new = logp.argmax(-1)
        score += np.where(done, 0.0, logp[np.arange(len(new)), new])
        length += ~done
        new = np.where(done, end, new)
        done = done | (new == end)
        out.append(new)
        tok = jnp.asarray(new, jnp.int32)
    return np.stack(out, 1), score, length


@pytest.mark.parametrize("end", [None, 3])
def test_greedy_decode_and_beam_width_one(end):
    step, enc = decoder()
    carry = enc(4, 1)
    start = jnp.array([0, 1, 2, 0])
    seqs, scores, lengths = decode.greedy_decode(step, carry, start, 6, end_token=end)
    assert seqs.shape == (4, 1, 6) and scores.shape == lengths.shape == (4, 1)
    if end is not None:
        want = python_greedy(step, carry, start, 6, end)
        np.testing.assert_array_equal(seqs[:, 0], want[0])
        np.testing.assert_allclose(scores[:, 0], want[1], rtol=1e-5)
        np.testing.assert_array_equal(lengths[:, 0], want[2])
    beam = decode.beam_search(step, carry, start, 1, 6, end_token=end)
    np.testing.assert_array_equal(beam[0], seqs)
    np.testing.assert_allclose(beam[1], scores, rtol=1e-5)
    np.testing.assert_array_equal(beam[2], lengths)


def exhaustive(step, carry, start, vocab, max_length, end, alpha):
    """{hypothesis: score} for every sequence, with beam_search's scoring rule."""
    seqs = np.array(list(itertools.product(range(vocab), repeat=max_length)))
    n = len(seqs)
    carry = jax.tree.map(lambda v: jnp.repeat(v, n, axis=0), carry)
    tok, logps = jnp.full((n,), start, jnp.int32), []
    for t in range(max_length):
        carry, logits = jax.jit(step)(carry, tok)
        logps.append(np.asarray(jax.nn.log_softmax(logits))[np.arange(n), seqs[:, t]])
        tok = jnp.asarray(seqs[:, t], jnp.int32)
    cum = np.cumsum(np.stack(logps, 1), axis=1)
    out = {}
    for s, c in zip(seqs, cum):
        ends = np.flatnonzero(s == end)
        length = ends[0] + 1 if ends.size else max_length
        out[tuple(s[:length])] = c[length - 1] / ((5.0 + length) / 6.0) ** alpha
    return out


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_full_beam_equals_exhaustive_search(alpha):
    vocab, max_length, end = 4, 4, 3
    step, enc = decoder(vocab)
    carry = enc(2, 2)
    start = jnp.array([0, 1])
    width = vocab**max_length
    seqs, scores, lengths = decode.beam_search(
        step, carry, start, width, max_length, end_token=end, length_normalization=alpha
    )
    for b in range(2):
        row = jax.tree.map(lambda v, b=b: v[b : b + 1], carry)
        want = sorted(
            exhaustive(step, row, int(start[b]), vocab, max_length, end, alpha).items(),
            key=lambda kv: -kv[1],
        )
        finite = np.isfinite(np.asarray(scores[b]))
        assert finite.sum() == len(want)  # every hypothesis once: 1 + 3 + 9 + 27 + 81
        got = [tuple(seqs[b, i, : lengths[b, i]].tolist()) for i in range(len(want))]
        assert got == [h for h, _ in want]
        np.testing.assert_allclose(scores[b, : len(want)], [s for _, s in want], rtol=1e-5)
        for i in range(len(want)):  # padded with the end token after the end
            assert np.all(np.asarray(seqs[b, i, lengths[b, i] :]) == end)


def test_beam_search_batched_equals_per_example():
    step, enc = decoder(vocab=5, seed=3)
    carry = enc(3, 4)
    start = jnp.array([0, 2, 4])
    batched = decode.beam_search(step, carry, start, 3, 7, end_token=1, length_normalization=0.6)
    for b in range(3):
        row = jax.tree.map(lambda v, b=b: v[b : b + 1], carry)
        one = decode.beam_search(step, row, start[b : b + 1], 3, 7, 1, 0.6)
        for x, y in zip(batched, one):
            np.testing.assert_allclose(x[b], y[0], rtol=1e-5)


def test_bad_arguments_name_the_argument(lm):
    step, enc = decoder()
    carry = enc(2, 0)
    model, variables = lm
    lm_fn, init = lm_step(model, variables)
    prompt = jnp.array([[1, 2]])
    key = jax.random.key(0)
    cases = [
        (lambda: decode.beam_search(step, carry, 0, 0, 5), "beam_width"),
        (lambda: decode.beam_search(step, carry, 0, 2, 0), "max_length"),
        (lambda: decode.greedy_decode(step, carry, 0, 0), "max_length"),
        (lambda: decode.beam_search(step, carry, 0, 2, 3, end_token=4), "end_token"),
        (lambda: decode.beam_search(step, carry, 0, 2, 3, length_normalization=-1), "length_"),
        (lambda: decode.beam_search(step, carry, jnp.array([0, 1, 2]), 2, 3), "start_token"),
        (lambda: decode.beam_search(step, carry, 7, 2, 3), "start_token"),
        (lambda: decode.beam_search(step, (carry[0][:1], carry[1]), 0, 2, 3), "carry"),
        (lambda: decode.sample(lm_fn, init(1), prompt, 3, key, top_k=0), "top_k"),
        (lambda: decode.sample(lm_fn, init(1), prompt, 3, key, top_k=V + 1), "top_k"),
        (lambda: decode.sample(lm_fn, init(1), prompt, 3, key, temperature=-1.0), "temperature"),
        (lambda: decode.sample(lm_fn, init(1), prompt, 3), "key"),
        (lambda: decode.sample(lm_fn, init(1), prompt, -1, key), "num_steps"),
        (lambda: decode.sample(lm_fn, init(1), jnp.array([[1, V]]), 3, key), "prompt"),
        (lambda: decode.sample(lm_fn, init(1), jnp.array([1, 2]), 3, key), "prompt"),
        (lambda: decode.feed(lm_fn, init(1), jnp.zeros((1, 0), jnp.int32)), "tokens"),
        (lambda: decode.feed(lm_fn, init(1), prompt, mask=jnp.ones((1, 3), bool)), "mask"),
        (lambda: init(0), "batch_size"),
        # a carry for another batch than the prompt's (was a lax.scan TypeError)
        (lambda: decode.sample(lm_fn, init(1), jnp.array([[1], [2]]), 3, key), "carry"),
        (lambda: decode.feed(lm_fn, init(3), jnp.array([[1], [2]])), "carry: got"),
    ]
    for fn, name in cases:
        with pytest.raises(ValueError, match=name):
            fn()
    with pytest.raises(TypeError, match="step_fn"):
        decode.greedy_decode("not a function", carry, 0, 3)
    with pytest.raises(TypeError, match="prompt"):
        decode.sample(lm_fn, init(1), jnp.array([[1.0, 2.0]]), 3, key)


def test_sample_takes_a_traced_temperature():
    """A temperature traced by jit or vmap (a sweep in one program) gives the tokens the
    same Python number gives; 0 is greedy in the program too; a non-scalar is refused."""
    z = jax.random.normal(jax.random.key(0), (7,))

    def step(carry, tok):
        return carry, jnp.broadcast_to(z, (tok.shape[0], 7)) + 0.0 * tok[:, None]

    prompt, key = jnp.zeros((2, 1), jnp.int32), jax.random.key(3)
    run = lambda t: decode.sample(step, (), prompt, 8, key, temperature=t)  # noqa: E731
    temps = [0.0, 0.7, 2.0]
    eager = [run(t) for t in temps]
    for t, want in zip(temps, eager):
        np.testing.assert_array_equal(jax.jit(run)(t), want)
    np.testing.assert_array_equal(jax.vmap(run)(jnp.array(temps)), np.stack(eager))
    np.testing.assert_array_equal(run(np.float32(0.7)), eager[1])
    assert len({tuple(np.asarray(e).ravel()) for e in eager}) == 3
    with pytest.raises(ValueError, match=r"temperature: got an array of shape \(2,\)"):
        run(jnp.array([0.5, 1.0]))
