"""CMA-ES through pycma, with one jitted call per generation."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from plastix.meta._base import MetaOptimizer
from plastix.meta._population import Population, PreparedPopulation, prepare_population

if TYPE_CHECKING:
    import cma


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


def cma_es(popsize: int = 20, sigma0: float = 0.1, options: dict | None = None) -> MetaOptimizer:
    """CMA-ES (Hansen & Ostermeier 2001) via pycma's ask/tell interface.

    Args:
        popsize: candidates per generation (pycma's ``popsize``).
        sigma0: initial step size, in units of theta.
        options: further pycma options (e.g. ``{"CMA_diagonal": True}`` for
            sep-CMA in high dimension, ``"bounds"``).
    """

    def init(theta0, seed):
        import cma  # here, not above: pycma imports scipy.stats and pyplot (~1 s at start-up)

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

    def prepare(loss_fn, template, population: Population = prepare_population):
        return population(loss_fn, template)

    def result(state, prepared: PreparedPopulation):
        # The search distribution N(mean, sigma^2 C) over the flat theta: its mean and the
        # standard deviation of each coordinate, sigma sqrt(C_ii).
        es = state.es
        return {"mean": np.asarray(es.mean), "stds": np.asarray(es.sigma * np.sqrt(es.sm.variances))}

    return MetaOptimizer(prepare, init, step, theta, result)
