"""Outer loops: evolution strategies and meta-gradient descent."""

from plastix.meta._base import MetaOptimizer
from plastix.meta._cma import cma_es
from plastix.meta._evosax import evosax_es, evosax_strategies
from plastix.meta._fd import finite_difference
from plastix.meta._gradient import gradient
from plastix.meta._population import AXIS, Population, PreparedPopulation, prepare_population, sharded
from plastix.meta._prune import PruneResult, prune, threshold_theta
from plastix.meta._tune import Tuning, tune_scalar

__all__ = ["MetaOptimizer", "cma_es", "finite_difference", "gradient", "prepare_population"]
__all__ += ["PruneResult", "prune", "threshold_theta", "Tuning", "tune_scalar"]
__all__ += ["evosax_es", "evosax_strategies", "AXIS", "Population", "PreparedPopulation", "sharded"]
