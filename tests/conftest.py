"""Strict JAX settings for every test, and the cell registry of the contract suite."""

import os

# Keras (parity tests) must use the JAX backend; set before anything imports it.
os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402

# Fake CPU devices for the sharding tests; must be set before the backend starts.
jax.config.update("jax_num_cpu_devices", 4)
# Implicit rank promotion hides shape bugs (a (B, H) + (H,) that should have been
# (B, H) + (B, H)); the library broadcasts explicitly, so make any slip an error.
jax.config.update("jax_numpy_rank_promotion", "raise")
