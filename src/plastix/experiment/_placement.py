"""Where a run's populations are scored: the placement a user asks for, and the backend that scores.

The vocabulary that :mod:`._backend` (which opens a backend) and :mod:`._ray`
(the Ray backend) share, below both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from plastix import meta

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
