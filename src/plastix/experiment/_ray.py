"""A Ray cluster as the place where a run's populations are scored (``--backend ray``).

The driver keeps the outer loop, the checkpoints and the metrics; each Ray
actor holds the experiment, rebuilt once from the run's config text, and a
population evaluator compiled once for a fixed chunk shape. Per generation the
driver splits the candidates into contiguous chunks, one per actor, and gathers
the losses in order, so the outer loop sees one population evaluation whatever
the cluster.

Ray is imported only here and only when this backend is opened: it is an
optional dependency (``pip install "plastix[ray]"``).
"""

from __future__ import annotations

import logging
import math
import os
import re
import socket
import tomllib
from collections.abc import Mapping

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

from plastix import meta
from plastix.experiment._build import Experiment, build, population_size
from plastix.experiment._config import Config, dump_config, validate
from plastix.experiment._errors import UserError
from plastix.experiment._placement import Backend, Placement

#: Times an actor is restarted (and its task retried) after its process dies;
#: one more death ends the run with a :class:`UserError`.
RESTARTS = 2
#: Seconds to reach the cluster's address before saying it is unreachable.
CONNECT_TIMEOUT_S = 10.0
#: Seconds the actors may take to start and build the experiment.
START_TIMEOUT_S = 300.0

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def import_ray():
    """The ``ray`` module, or the one-line :class:`UserError` naming the extra."""
    try:
        import ray
    except ImportError:
        raise UserError('--backend ray needs Ray: pip install "plastix[ray]"') from None
    return ray


def check(cfg: Config, placement: Placement):
    """What can be refused before a run starts: no Ray, gradient descent, an address that is
    no ``HOST:PORT``. Returns the ``ray`` module."""
    ray = import_ray()
    if cfg.meta.candidates(1) == 1:
        raise UserError(
            f"--backend ray: meta.optimizer = {cfg.meta.optimizer!r} scores one theta, no population to "
            "spread over Ray workers; it runs on local devices (--backend local, --devices N)"
        )
    if placement.address is not None:
        _host_port(placement.address)
    return ray


def _host_port(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise UserError(f"--address {address}: expected HOST:PORT of a Ray cluster")
    return host.strip("[]"), int(port)


def _key_data(key) -> tuple[np.ndarray, str | None]:
    """A key as host data: raw ``uint32`` key data, or a typed key's data and its implementation."""
    key = jax.numpy.asarray(key)
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return np.asarray(jax.random.key_data(key)), str(jax.random.key_impl(key))
    return np.asarray(key), None


def _reason(err: BaseException) -> str:
    """One line out of a Ray error, whose own message spans many (tracebacks, advice)."""
    text = _ANSI.sub("", str(err))
    detail = re.search(r"Worker exit detail: (.*?\.)(\s|$)", text)
    if detail:
        return detail.group(1)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # A traceback ends with the exception itself; Ray's own messages begin with theirs.
    last = lines[-1] if lines else type(err).__name__
    return last if re.match(r"[\w.]+(Error|Exception|Interrupt)\b", last) else (lines[0] if lines else last)


class _Scorer:
    """One Ray actor: the experiment rebuilt from its config text, its population evaluator.

    The evaluator is compiled on the first chunk and reused for every
    generation: the driver always sends chunks of one shape. A restarted actor
    (after its process died) runs this constructor again and so recompiles the
    same program, whose results are those of the actor it replaces.
    """

    def __init__(self, config_text: str, devices: int | None, cwd: str, env: dict[str, str]):
        # Relative paths in the config (e.g. task.data_dir) and PLASTIX_* variables mean
        # on the worker what they mean on the driver, where the file system is shared.
        os.environ.update(env)
        if os.path.isdir(cwd):
            os.chdir(cwd)
        self.error = None
        try:
            exp = build(validate(tomllib.loads(config_text)), devices)
        except UserError as err:  # e.g. fewer devices or no data files on this node
            self.error = str(err)
            return
        self.prepared = exp.population(exp.train_loss, exp.theta0)

    def ready(self) -> str | None:
        """``None``, or the one-line error that kept the experiment from being built."""
        return self.error

    def pid(self) -> int:
        return os.getpid()

    def evaluate(self, thetas: np.ndarray, key_data: np.ndarray, key_impl: str | None):
        if self.error is not None:
            raise UserError(self.error)
        key = key_data if key_impl is None else jax.random.wrap_key_data(key_data, impl=key_impl)
        out = self.prepared.evaluate(thetas, key)
        return jax.tree.map(np.asarray, out)


def token_mode(environ: Mapping[str, str], home: str) -> bool:
    """Whether a driver should connect with Ray's token authentication: ``RAY_AUTH_MODE`` is
    unset and it has a token (``RAY_AUTH_TOKEN``, the file ``RAY_AUTH_TOKEN_PATH`` names, or
    ``<home>/.ray/auth_token``, where Ray writes one)."""
    if "RAY_AUTH_MODE" in environ:
        return False  # the user's explicit choice stands
    if environ.get("RAY_AUTH_TOKEN"):
        return True
    path = environ.get("RAY_AUTH_TOKEN_PATH") or os.path.join(home, ".ray", "auth_token")
    return os.path.isfile(path)


def _use_token_if_available() -> None:
    """Connect with token authentication where :func:`token_mode` says so.

    ``ray start`` enables token authentication on exactly that condition (Ray
    >= 2.5x writes ``~/.ray/auth_token`` the first time it starts a local
    cluster), but ``ray.init(address=...)`` never does, so a driver would be
    refused by the cluster it names. A token-mode client also connects to a
    cluster without authentication, so this costs nothing there.
    """
    if token_mode(os.environ, os.path.expanduser("~")):
        os.environ["RAY_AUTH_MODE"] = "token"
        _reread_ray_config()


def _reread_ray_config() -> None:
    """Make this process's Ray read ``RAY_AUTH_MODE`` again: it reads it once, at import
    (what Ray itself does when it enables token authentication)."""
    try:
        from ray._raylet import Config
    except ImportError:  # a Ray without token authentication: nothing to read again
        return
    Config.initialize("")


def connect(ray, address: str | None) -> tuple[bool, str]:
    """Connect to ``address`` (else ``RAY_ADDRESS``, else a cluster started here).

    Returns whether this call connected (so closing disconnects) and the
    address to name. An address that takes no TCP connection is refused within
    :data:`CONNECT_TIMEOUT_S`: Ray itself would retry it for minutes. A
    cluster with token authentication is reached with the token this process
    has (:func:`_use_token_if_available`).
    """
    if ray.is_initialized():  # e.g. a sweep driver that connected already: use its cluster
        return False, address or ray.get_runtime_context().gcs_address
    address = address or os.environ.get("RAY_ADDRESS") or None
    opts = dict(logging_level=logging.WARNING, log_to_driver=False)
    if address is None:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(address="local", include_dashboard=False, **opts)
        return True, ray.get_runtime_context().gcs_address
    try:
        socket.create_connection(_host_port(address), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as err:
        why = err.strerror or type(err).__name__
        raise UserError(f"--address {address}: cannot reach a Ray cluster there ({why})") from None
    _use_token_if_available()
    try:
        ray.init(address=address, **opts)
    except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as err:
        if os.environ.get("RAY_AUTH_MODE") != "token":
            hint = "; if it requires token authentication, set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN"
        else:
            hint = "; check that RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token) holds its token"
        raise UserError(
            f"--address {address}: cannot connect to a Ray cluster there ({_reason(err)}{hint})"
        ) from None
    return True, address


def _worker_count(ray, requested: int | None, size: int, where: str) -> int:
    """``--workers``, else one per CPU of the cluster, at most the population.

    Workers beyond the CPUs free now wait for them (a run of another user, or
    the actors of a backend just closed, which Ray frees a moment later).
    """
    total = int(ray.cluster_resources().get("CPU", 0))
    if total < 1:
        raise UserError(f"--backend ray: the Ray cluster at {where} has no CPU")
    if requested is None:
        return min(total, size)
    if requested > total:
        raise UserError(
            f"--workers {requested}: the Ray cluster at {where} has {total} CPU{'s' * (total != 1)}"
        )
    return min(requested, size)


def _start(ray, exp: Experiment, placement: Placement, n: int) -> list:
    """``n`` actors, each with one CPU, spread over the cluster's nodes, built and ready."""
    env = {k: v for k, v in os.environ.items() if k.startswith("PLASTIX_")}
    scorer = ray.remote(_Scorer).options(
        num_cpus=1,
        max_restarts=RESTARTS,
        max_task_retries=RESTARTS,
        scheduling_strategy="SPREAD",
    )
    text = dump_config(exp.config)
    actors = [scorer.remote(text, placement.devices, os.getcwd(), env) for _ in range(n)]
    refs = [a.ready.remote() for a in actors]
    try:
        _, pending = ray.wait(refs, num_returns=n, timeout=START_TIMEOUT_S)
        if pending:
            free = int(ray.available_resources().get("CPU", 0))
            raise UserError(
                f"--backend ray: {len(pending)} of {n} Ray workers not started within {START_TIMEOUT_S:g} s "
                f"({free} of the cluster's {int(ray.cluster_resources().get('CPU', 0))} CPUs free)"
            )
        errors = [e for e in ray.get(refs) if e is not None]
    except ray.exceptions.RayError as err:
        _kill(ray, actors)
        raise UserError(f"--backend ray: a Ray worker could not start: {_reason(err)}") from None
    except BaseException:
        _kill(ray, actors)
        raise
    if errors:
        _kill(ray, actors)
        raise UserError(f"on a Ray worker: {errors[0]}")
    return actors


def _kill(ray, actors) -> None:
    for a in actors:
        try:
            ray.kill(a, no_restart=True)
        except Exception:  # already dead, or the cluster is gone: nothing left to release
            pass


class RayPopulation:
    """The :data:`plastix.meta.Population` that scores chunks of a population on Ray actors.

    A population of ``P`` is split into contiguous chunks of ``ceil(P / W)``
    rows (``W`` actors), the last padded with copies of its last row, whose
    results are dropped; every chunk has one shape, so each actor compiles
    once. All candidates share the generation's key, as on local devices.

    Attributes:
        actors: the Ray actor handles, one per chunk.
    """

    def __init__(self, ray, exp: Experiment, actors: list):
        self.ray, self.exp, self.actors = ray, exp, actors

    def __call__(self, loss_fn, template) -> meta.PreparedPopulation:
        if loss_fn is not self.exp.train_loss:  # the actors rebuild this one from the config
            raise ValueError("a Ray population scores its experiment's training loss only")
        flat, unravel = ravel_pytree(template)
        return meta.PreparedPopulation(self.evaluate, unravel, flat.dtype)

    def evaluate(self, flat_thetas, key):
        """``(flat_thetas [P, dim], key) -> (losses [P], metrics {name: [P]})``, numpy arrays."""
        ray = self.ray
        x = np.asarray(flat_thetas)
        size = x.shape[0]
        rows = math.ceil(size / len(self.actors))
        chunks = [x[i : i + rows] for i in range(0, size, rows)]
        if len(chunks[-1]) < rows:
            pad = rows - len(chunks[-1])
            chunks[-1] = np.concatenate([chunks[-1], np.repeat(chunks[-1][-1:], pad, axis=0)])
        key_data, impl = _key_data(key)
        refs = [a.evaluate.remote(c, key_data, impl) for a, c in zip(self.actors, chunks, strict=False)]
        outs = []
        for i, ref in enumerate(refs):  # all submitted: waiting in order costs nothing
            try:
                outs.append(ray.get(ref))
            except ray.exceptions.RayTaskError as err:
                if isinstance(err.cause, UserError):
                    raise UserError(f"on a Ray worker: {err.cause}") from None
                raise err.as_instanceof_cause() from None
            except ray.exceptions.RayError as err:
                times = f" {RESTARTS + 1} times" if isinstance(err, ray.exceptions.RayActorError) else ""
                which = f"candidates {i * rows}-{min((i + 1) * rows, size) - 1} of {size}"
                raise UserError(
                    f"ray worker failed{times} scoring a generation ({which}): {_reason(err)}"
                ) from None
        return jax.tree.map(lambda *parts: np.concatenate(parts)[:size], *outs)


def ray_backend(exp: Experiment, placement: Placement) -> Backend:
    """Score ``exp``'s populations on Ray actors (see :class:`RayPopulation`).

    Connects to ``placement.address`` (else ``RAY_ADDRESS``, else starts a
    local cluster for the run; a process already connected keeps its
    connection), starts ``placement.workers`` actors (default: one per CPU of
    the cluster, at most the population), each building the experiment on
    ``placement.devices`` local devices. An actor whose process dies is
    restarted and its chunk scored again, :data:`RESTARTS` times; the
    results do not change. :class:`UserError` without Ray, for gradient
    descent (one theta, no population), or for an address with no cluster.
    """
    ray = check(exp.config, placement)
    connected, where = connect(ray, placement.address)
    try:
        n = _worker_count(ray, placement.workers, population_size(exp.config, exp.theta0), where)
        actors = _start(ray, exp, placement, n)
    except BaseException:
        if connected:
            ray.shutdown()
        raise

    def close():
        _kill(ray, actors)
        if connected:
            ray.shutdown()

    description = f"ray at {where}, {n} worker{'s' * (n != 1)}"
    return Backend("ray", RayPopulation(ray, exp, actors), description, close)
