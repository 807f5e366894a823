"""`decode.sample` compiles what its docstring says it compiles, and nothing else."""

import jax
import numpy as np

import jrnn
from jrnn.layers import Dense, Embedding, SimpleRNN

V = 7
FEED, LOOP = "jit(_feed)", "jit(_sample)"  # the prompt's program and the loop's


def test_what_recompiles(compiles):
    model = jrnn.Sequential([Embedding(V, 4), SimpleRNN(2, return_sequences=True), Dense(V)])
    v = model.init(jax.random.key(0), np.zeros((2, 3), np.int32))
    step, init = jrnn.lm_step(model, v)
    prompt = np.ones((2, 3), np.int32)

    def programs(step=step, init=init, b=2, prompt=prompt, n=5, key=0, **kw):
        before = dict(compiles)
        jrnn.decode.sample(step, init(b), prompt, n, jax.random.key(key), **kw)
        return sorted(k for k in compiles if compiles[k] != before.get(k, 0) and k in (FEED, LOOP))

    assert programs() == [FEED, LOOP]
    assert programs(temperature=0.5, key=1) == []  # traced: nothing new
    assert programs(prompt=prompt[:, ::-1].copy()) == []
    step2, init2 = jrnn.lm_step(model, jax.tree.map(lambda a: a * 2, v))
    assert programs(step=step2, init=init2) == []  # new variables, same program
    assert programs(prompt_mask=np.ones((2, 3), bool)) == [FEED]
    assert programs(prompt_mask=np.array([[0, 1, 1], [1, 1, 1]], bool)) == []
    assert programs(prompt=np.ones((2, 4), np.int32)) == [FEED]
    assert programs(n=6) == [LOOP]
    assert programs(top_k=3) == [LOOP]
    assert programs(greedy=True) == [LOOP]
    assert programs(b=3, prompt=np.ones((3, 3), np.int32)) == [FEED, LOOP]
