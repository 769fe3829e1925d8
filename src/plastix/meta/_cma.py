"""CMA-ES through pycma, with one jitted call per generation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import cma
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from plastix.meta._base import MetaOptimizer


class _Randn:
    """pycma's ``randn(lam, n)`` from a private generator, so the state pickles.

    pycma otherwise draws from numpy's global generator, which a checkpoint
    would have to capture separately to resume bit for bit.
    """

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def __call__(self, *shape: int) -> np.ndarray:
        return self.rng.standard_normal(shape)


class CMAState(NamedTuple):
    es: cma.CMAEvolutionStrategy  # mutated in place by `tell`; pickled whole


class PreparedPopulation(NamedTuple):
    evaluate: Callable[[jax.Array, jax.Array], tuple[jax.Array, dict]]
    unravel: Callable[[jax.Array], Any]
    dtype: Any


def prepare_population(loss_fn, template) -> PreparedPopulation:
    """Jit ``loss_fn`` over a population of flat thetas ``[popsize, dim]``.

    The population axis is a ``vmap`` with the key unbatched, so every
    candidate is scored on the same episodes (common random numbers) and data
    generation is done once per generation, not once per candidate.
    """
    flat, unravel = ravel_pytree(template)

    def evaluate(flat_thetas, key):
        thetas = jax.vmap(unravel)(flat_thetas)
        return jax.vmap(loss_fn, in_axes=(0, None))(thetas, key)

    return PreparedPopulation(jax.jit(evaluate), unravel, flat.dtype)


def cma_es(popsize: int = 20, sigma0: float = 0.1, options: dict | None = None) -> MetaOptimizer:
    """CMA-ES (Hansen & Ostermeier 2001) via pycma's ask/tell interface.

    Args:
        popsize: candidates per generation (pycma's ``popsize``).
        sigma0: initial step size, in units of theta.
        options: further pycma options (e.g. ``{"CMA_diagonal": True}`` for
            sep-CMA in high dimension, ``"bounds"``).
    """

    def init(theta0, seed):
        x0 = np.asarray(ravel_pytree(theta0)[0], np.float64)
        opts = {"popsize": popsize, "randn": _Randn(seed), "verbose": -9, "seed": seed + 1}
        opts.update(options or {})
        return CMAState(cma.CMAEvolutionStrategy(x0, sigma0, opts))

    def step(state, prepared: PreparedPopulation, key):
        xs = np.asarray(state.es.ask())
        losses, metrics = prepared.evaluate(jnp.asarray(xs, prepared.dtype), key)
        losses = np.asarray(losses, np.float64)
        state.es.tell(list(xs), list(losses))
        unstable = np.asarray(metrics["unstable"])
        out = {
            "loss_best": float(losses.min()),
            "loss_mean": float(losses.mean()),
            "task_loss_best": float(np.asarray(metrics["task_loss"]).min()),
            "n_unstable": int((unstable > 0).sum()),
            "sigma": float(state.es.sigma),
        }
        return state, out

    def theta(state, prepared: PreparedPopulation):
        return prepared.unravel(jnp.asarray(state.es.mean, prepared.dtype))

    return MetaOptimizer(prepare_population, init, step, theta)
