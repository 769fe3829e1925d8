"""Evaluating a population of candidate thetas: one device, or sharded over several.

Every population-based outer loop (CMA-ES, evosax, finite differences) scores
its candidates through a :data:`Population` factory, so where the candidates
are evaluated (one device, all local devices, a Ray cluster:
:mod:`plastix.experiment`) is chosen by the caller, not by the optimiser.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np
from jax.flatten_util import ravel_pytree
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from plastix.tasks._base import LossFn

#: The population axis of a device mesh.
AXIS = "population"


class PreparedPopulation(NamedTuple):
    """``evaluate(flat_thetas [P, dim], key) -> (losses [P], metrics {name: [P]})``, host arrays
    or device arrays; ``unravel`` turns one flat theta into the theta pytree."""

    evaluate: Callable[[Any, jax.Array], tuple[Any, dict]]
    unravel: Callable[[jax.Array], Any]
    dtype: Any


#: ``(loss_fn, template) -> PreparedPopulation``: how an outer loop's candidates are scored.
Population = Callable[[LossFn, Any], PreparedPopulation]


def _vmapped(loss_fn, unravel):
    # The key is unbatched: every candidate is scored on the same episodes (common
    # random numbers), and the episodes are drawn once per generation, not per candidate.
    def evaluate(flat_thetas, key):
        thetas = jax.vmap(unravel)(flat_thetas)
        return jax.vmap(loss_fn, in_axes=(0, None))(thetas, key)

    return evaluate


def prepare_population(loss_fn: LossFn, template, devices: Sequence[jax.Device] | None = None):
    """Jit ``loss_fn`` over a population of flat thetas ``[popsize, dim]``.

    With several ``devices`` the population axis is sharded over a one-axis
    mesh of them (``jax.sharding``): each device trains its share of the
    candidates on the same episodes. A population that does not divide evenly
    is padded with copies of its last candidate, whose losses are dropped.
    Each candidate's arithmetic does not depend on the device it runs on, so
    the losses equal those of one device.

    Args:
        loss_fn: ``(theta, key) -> (loss, metrics)``.
        template: a theta pytree (shapes and dtype of the candidates).
        devices: devices to shard over; ``None`` or one device: no sharding.
    """
    flat, unravel = ravel_pytree(template)
    evaluate = _vmapped(loss_fn, unravel)
    if devices is None or len(devices) < 2:
        return PreparedPopulation(jax.jit(evaluate), unravel, flat.dtype)
    mesh = Mesh(np.asarray(devices), (AXIS,))
    rows, whole = NamedSharding(mesh, P(AXIS)), NamedSharding(mesh, P())
    run = jax.jit(evaluate, in_shardings=(rows, whole), out_shardings=rows)
    n = len(devices)

    def evaluate_sharded(flat_thetas, key):
        flat_thetas = np.asarray(flat_thetas)
        size = flat_thetas.shape[0]
        pad = -size % n
        if pad:
            flat_thetas = np.concatenate([flat_thetas, np.repeat(flat_thetas[-1:], pad, axis=0)])
        out = run(jax.device_put(flat_thetas, rows), jax.device_put(key, whole))
        # Host arrays: the caller's own arrays live on one device, these on all of them.
        return jax.tree.map(lambda x: np.asarray(x)[:size], out)

    return PreparedPopulation(evaluate_sharded, unravel, flat.dtype)


def sharded(devices: Sequence[jax.Device] | None) -> Population:
    """The :data:`Population` that shards over ``devices`` (see :func:`prepare_population`)."""

    def population(loss_fn, template):
        return prepare_population(loss_fn, template, devices)

    return population
