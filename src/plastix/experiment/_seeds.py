"""The key streams of a run's seed: every random choice of a run draws from one of these.

A stream is ``fold_in(PRNGKey(seed), stream)``; within it, generations,
projections or episodes fold in again. Streams never share keys, so held-out
episodes are never training ones.
"""

from __future__ import annotations

import jax

#: 0 initial theta (one fold per projection, sorted), 1 training episodes, 2 held-out
#: episodes, 3 the example episode of the figures, 4 the episodes that judge pruning and
#: tune baselines, 5 the validation episodes that select the final rule (4 and 5 are
#: training data: never the held-out stream).
THETA0, TRAIN, HELDOUT, EXAMPLE, PRUNE, VALIDATE = 0, 1, 2, 3, 4, 5


def stream(seed: int, which: int) -> jax.Array:
    """The key of stream ``which`` of ``seed``."""
    return jax.random.fold_in(jax.random.PRNGKey(seed), which)


def generation_key(seed: int, generation: int, resample: bool) -> jax.Array:
    """Training episodes of a generation: fixed, or fresh each generation with ``resample``."""
    key = stream(seed, TRAIN)
    return jax.random.fold_in(key, generation) if resample else key
