"""Where a run's generations are evaluated: this machine's devices, or a Ray cluster.

The driver (:func:`plastix.experiment.execute`) always keeps the outer loop's
state, the checkpoints and the metrics; a backend only scores populations
(:data:`plastix.meta.Population`), so the same seed gives the same run on any
backend.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import NamedTuple

from plastix import meta
from plastix.experiment._build import Experiment, local_devices
from plastix.experiment._config import Config, UserError

BACKENDS = ("local", "ray")


class Placement(NamedTuple):
    """How to run: ``--backend``, ``--address``, ``--workers``, ``--devices`` of the CLI.

    Attributes:
        backend: ``"local"`` (this process, its local devices) or ``"ray"``.
        address: the Ray cluster (``HOST:PORT``); ``None``: ``RAY_ADDRESS`` or a
            cluster started for the run.
        workers: Ray actors (default: one per CPU of the cluster, at most the population).
        devices: local devices per process (default: the config's ``devices``, else all).
    """

    backend: str = "local"
    address: str | None = None
    workers: int | None = None
    devices: int | None = None


#: In this process, on the config's devices.
LOCAL = Placement()


class Backend(NamedTuple):
    """A place that scores populations.

    Attributes:
        name: ``"local"`` or ``"ray"``.
        population: the :data:`plastix.meta.Population` the outer loop is prepared with.
        description: one line for the terminal, e.g. ``2 local cpu devices``.
        close: releases what the backend holds (Ray actors).
    """

    name: str
    population: meta.Population
    description: str
    close: Callable[[], None] = lambda: None


def local(exp: Experiment) -> Backend:
    """This process: the population sharded over the experiment's local devices."""
    n, platform = len(exp.devices), exp.devices[0].platform
    return Backend("local", exp.population, f"{n} local {platform} device{'s' * (n > 1)}")


def check(cfg: Config, placement: Placement = LOCAL) -> None:
    """Refuse, as a :class:`UserError`, a placement that cannot run ``cfg``: called before a
    run directory is made. A cluster's address is only reached when the backend opens."""
    if placement.backend not in BACKENDS:
        raise UserError(f"--backend {placement.backend!r}: allowed: {', '.join(BACKENDS)}")
    local_devices(cfg.devices if placement.devices is None else placement.devices)
    if placement.backend == "local":
        if placement.address is not None or placement.workers is not None:
            raise UserError("--address and --workers go with --backend ray")
    else:
        from plastix.experiment import _ray

        _ray.check(cfg, placement)


@contextlib.contextmanager
def open_backend(exp: Experiment, placement: Placement = LOCAL) -> Iterator[Backend]:
    """The backend ``placement`` names, closed when the block ends (whatever ends it)."""
    check(exp.config, placement)
    if placement.backend == "local":
        backend = local(exp)
    else:
        from plastix.experiment._ray import ray_backend

        backend = ray_backend(exp, placement)
    try:
        yield backend
    finally:
        backend.close()
