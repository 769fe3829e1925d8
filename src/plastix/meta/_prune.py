"""Sparsify a learned rule by thresholding its coefficients, judged by the meta-loss itself."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class PruneResult(NamedTuple):
    theta: Any  # the chosen theta (a pytree like the input)
    threshold: float  # the chosen relative threshold (0: nothing pruned)
    thresholds: list[float]
    losses: list[float]  # meta-loss (task loss + penalty) of each threshold's theta
    kept: list[int]  # coefficients left non-zero at each threshold


def threshold_theta(theta, threshold: float):
    """Zero every coefficient below ``threshold`` times the largest of its own rule (pytree leaf)."""

    def cut(t):
        t = jnp.asarray(t)
        return jnp.where(jnp.abs(t) < threshold * jnp.max(jnp.abs(t)), 0.0, t).astype(t.dtype)

    return jax.tree.map(cut, theta)


def prune(
    loss_fn: Callable[[Any, jax.Array], tuple[jax.Array, dict]],
    theta,
    key: jax.Array,
    thresholds: Sequence[float] = (0.05, 0.1, 0.15, 0.2, 0.3),
    draws: int = 5,
) -> PruneResult:
    r"""Threshold a learned rule's small coefficients away, each sparser rule scored by the meta-loss.

    For each relative threshold ``t`` (and ``t = 0``, the rule as learned),
    every coefficient with :math:`|\theta_k| < t \max_j |\theta_j|` (per rule)
    is set to zero; the candidates are scored together, on ``draws`` batches of
    fresh episodes drawn from ``key`` (common to all candidates), by ``loss_fn``
    (the training meta-loss, penalty included). The lowest mean loss wins.
    This is the thresholding step of sparse regression (SINDy, Brunton et al.
    2016) with the meta-objective as judge: an evolution strategy's mean keeps
    small coefficients that the L1 penalty would remove, because its step size
    shrinks before they reach zero; a coefficient goes only if the rule scores
    better without it.

    ``key`` should be a stream the outer loop never used, and never the
    held-out one: the choice is part of training.
    """
    ts = [0.0, *sorted(float(t) for t in thresholds)]
    cands = [threshold_theta(theta, t) for t in ts]
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *cands)
    score = jax.jit(jax.vmap(lambda th, k: loss_fn(th, k)[0], in_axes=(0, None)))
    losses = np.mean([np.asarray(score(stacked, k)) for k in jax.random.split(key, draws)], axis=0)
    best = int(np.argmin(losses))
    kept = [int(sum(np.count_nonzero(np.asarray(x)) for x in jax.tree.leaves(c))) for c in cands]
    return PruneResult(cands[best], ts[best], ts, [float(v) for v in losses], kept)
