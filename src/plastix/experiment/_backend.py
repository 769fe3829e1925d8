"""Where a run's generations are evaluated: this machine's devices, or a Ray cluster.

The driver (:func:`plastix.experiment.execute`) always keeps the outer loop's
state, the checkpoints and the metrics; a backend only scores populations
(:data:`plastix.meta.Population`), so the same seed gives the same run on any
backend.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from plastix.experiment import _ray
from plastix.experiment._build import Experiment, local_devices
from plastix.experiment._config import Config
from plastix.experiment._errors import UserError
from plastix.experiment._placement import BACKENDS, LOCAL, Backend, Placement

__all__ = ["BACKENDS", "LOCAL", "Backend", "Placement", "check", "local", "open_backend"]


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
        _ray.check(cfg, placement)


@contextlib.contextmanager
def open_backend(exp: Experiment, placement: Placement = LOCAL) -> Iterator[Backend]:
    """The backend ``placement`` names, closed when the block ends (whatever ends it)."""
    check(exp.config, placement)
    if placement.backend == "local":
        backend = local(exp)
    else:
        backend = _ray.ray_backend(exp, placement)
    try:
        yield backend
    finally:
        backend.close()
