"""Evolution strategies of evosax (OpenAI-ES, PGPE, SNES, Sep-CMA-ES, ...) behind plastix's ask/tell seam.

evosax (Lange 2022) is an optional dependency (``pip install "plastix[es]"``):
it is imported when such an optimiser is made.
"""

from __future__ import annotations

import inspect
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from plastix.meta._base import MetaOptimizer
from plastix.meta._population import Population, PreparedPopulation, prepare_population


def _evosax():
    try:
        import evosax.algorithms as algorithms
    except ImportError as err:  # pragma: no cover - the test extra installs it
        raise ImportError('the evosax optimiser needs evosax: pip install "plastix[es]"') from err
    return algorithms


def evosax_strategies() -> list[str]:
    """The distribution-based strategies of the installed evosax, by class name."""
    return sorted(_evosax().distribution_based_algorithms)


def _strong(tree):
    """``tree`` with weakly typed leaves (Python scalars promoted by jit) made strongly typed."""
    return jax.tree.map(lambda x: jax.lax.convert_element_type(x, jnp.asarray(x).dtype), tree)


class EvosaxState(NamedTuple):
    es: Any  # the strategy's state (a pytree of arrays)
    key: jax.Array  # advanced once per generation: a resumed run asks for the same candidates


class PreparedEvosax(NamedTuple):
    population: PreparedPopulation
    algorithm: Any
    params: Any


def evosax_es(
    strategy: str = "Open_ES",
    popsize: int = 20,
    sigma0: float = 0.1,
    learning_rate: float = 0.01,
    optimizer: str = "adam",
) -> MetaOptimizer:
    r"""An evosax distribution-based strategy, e.g. OpenAI-ES (Salimans et al. 2017).

    OpenAI-ES estimates the gradient of the smoothed loss from antithetic
    samples ``theta +- sigma eps``,

    .. math:: g = \frac{1}{n \sigma} \sum_k F(\theta + \sigma \epsilon_k)\, \epsilon_k

    (ranks in place of ``F``) and feeds it to an optax optimiser; its cost per
    generation is linear in the dimension, which suits thousands of
    per-synapse coefficients. Every candidate is scored on the same episodes
    (common random numbers), as with :func:`plastix.meta.cma_es`.

    Args:
        strategy: an evosax class name (:func:`evosax_strategies`): ``Open_ES``,
            ``PGPE``, ``SNES``, ``Sep_CMA_ES``, ...
        popsize: candidates per generation (even for antithetic strategies).
        sigma0: initial search width, in units of theta.
        learning_rate, optimizer: the optax optimiser of strategies that take one.
    """
    algorithms = _evosax()
    table = algorithms.distribution_based_algorithms
    if strategy not in table:
        raise ValueError(f"unknown evosax strategy {strategy!r}; allowed: {sorted(table)}")
    if not hasattr(optax, optimizer):
        raise ValueError(f"unknown optax optimiser {optimizer!r}")
    cls = table[strategy]
    accepted = inspect.signature(cls.__init__).parameters

    def make(template):
        flat = ravel_pytree(template)[0]
        kw: dict[str, Any] = {}
        if "optimizer" in accepted:
            kw["optimizer"] = getattr(optax, optimizer)(learning_rate)
        if "std_schedule" in accepted:
            kw["std_schedule"] = optax.constant_schedule(sigma0)
        algo = cls(population_size=popsize, solution=flat, **kw)
        params = algo.default_params
        if hasattr(params, "std_init"):
            params = params.replace(std_init=sigma0)
        return algo, params

    def prepare(loss_fn, template, population: Population = prepare_population):
        algo, params = make(template)
        return PreparedEvosax(population(loss_fn, template), algo, params)

    def init(theta0, seed):
        algo, params = make(theta0)
        key = jax.random.PRNGKey(seed)
        k_init, key = jax.random.split(key)
        es = algo.init(k_init, ravel_pytree(theta0)[0], params)
        # Strongly typed leaves (here and after `tell`): every generation then has one signature.
        return EvosaxState(_strong(es), key)

    def step(state, prepared: PreparedEvosax, key):
        algo, params = prepared.algorithm, prepared.params
        key_next, k_ask, k_tell = jax.random.split(state.key, 3)
        xs, es = algo.ask(k_ask, state.es, params)
        losses, metrics = prepared.population.evaluate(jnp.asarray(xs, prepared.population.dtype), key)
        # On the host first: a sharded or remote population returns its losses from elsewhere.
        losses = np.asarray(losses)
        es, _ = algo.tell(k_tell, xs, jnp.asarray(losses), es, params)
        losses = losses.astype(np.float64)
        out = {
            "loss_best": float(losses.min()),
            "loss_mean": float(losses.mean()),
            "task_loss_best": float(np.asarray(metrics["task_loss"]).min()),
            "n_unstable": int((np.asarray(metrics["unstable"]) > 0).sum()),
            "sigma": float(np.mean(np.asarray(es.std))),
        }
        return EvosaxState(_strong(es), key_next), out

    def theta(state, prepared: PreparedEvosax):
        return prepared.population.unravel(jnp.asarray(state.es.mean, prepared.population.dtype))

    return MetaOptimizer(prepare, init, step, theta)
