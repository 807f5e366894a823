"""Strict JAX settings for every test, and the cell registry of the contract suite."""

import collections
import os

# Keras (parity tests) must use the JAX backend; set before anything imports it.
os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402

# Fake CPU devices for the sharding tests; must be set before the backend starts.
jax.config.update("jax_num_cpu_devices", 4)
# Implicit rank promotion hides shape bugs (a (B, H) + (H,) that should have been
# (B, H) + (B, H)); the library broadcasts explicitly, so make any slip an error.
jax.config.update("jax_numpy_rank_promotion", "raise")


import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def xla_cache(tmp_path_factory):
    """A persistent XLA compilation cache for the test session: every eager RNN call,
    every `fit` and every experiment traces and jits anew, but calls on the same shapes
    compile to the same program, so XLA compiles it once. Only XLA's work is shared;
    results are unchanged. The cache lives in pytest's temporary directory."""
    from jax.experimental.compilation_cache import compilation_cache as cc

    names = (
        "jax_compilation_cache_dir",
        "jax_persistent_cache_min_compile_time_secs",
        "jax_persistent_cache_min_entry_size_bytes",
    )
    old = {n: getattr(jax.config, n) for n in names}
    cc.reset_cache()
    jax.config.update(names[0], str(tmp_path_factory.mktemp("xla_cache")))
    jax.config.update(names[1], 0.0)
    jax.config.update(names[2], 0)
    yield
    cc.reset_cache()
    for n, v in old.items():
        jax.config.update(n, v)


@pytest.fixture
def compiles():
    """Compilations by function name, e.g. {"jit(train_step)": 1}, counted as lowerings
    to XLA: every jit cache miss lowers, so this counts compilations even where the
    session's persistent compilation cache spares XLA's own compile."""
    counts = collections.Counter()

    def listen(event, duration, **kw):
        if event == "/jax/core/compile/jaxpr_to_mlir_module_duration":
            counts[kw.get("fun_name", "?")] += 1

    jax.monitoring.register_event_duration_secs_listener(listen)
    yield counts
    jax.monitoring.unregister_event_duration_listener(listen)
