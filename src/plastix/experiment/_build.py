"""Turn a validated config into rules, network, task, optimiser and losses (from its components)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from plastix import meta, networks, rules, tasks
from plastix.experiment import _seeds, components
from plastix.experiment._config import Config
from plastix.experiment._errors import UserError
from plastix.experiment._family import Family


class Parts(NamedTuple):
    """What the components of a validated config build.

    Attributes:
        network, task: the inner network and the task.
        rules: one rule per plastic projection of ``network``.
        loss_options: extra keyword arguments of :func:`plastix.tasks.meta_loss`
            (e.g. ``chunk`` for long spiking episodes).
        heldout_task: the task of the held-out score, when it draws from
            another distribution than training (e.g. classes never seen in
            meta-training); ``None``: ``task`` (fresh episodes of it).
    """

    network: networks.Network
    task: tasks.Task
    rules: Mapping[str, rules.Rule]
    loss_options: Mapping[str, Any] = {}
    heldout_task: tasks.Task | None = None


def parts(cfg: Config) -> Parts:
    """Build ``cfg``'s components: the tasks, the network and each projection's rule; a
    builder's ``ValueError`` names its section."""
    n, t = cfg.network, cfg.task
    train, held = t.tasks(cfg)
    network = n.network()
    projections = n.projections()
    rule_set = {p: rc.rule(projections[p]) for p, rc in cfg.rules.items()}
    return Parts(network, train, rule_set, t.loss_options(cfg), held)


#: The outer loops a config may name (``meta.optimizer``): their ``[meta]`` sections, which build them.
OPTIMIZERS = components.components("optimizer")


def _bounds(rule_set: Mapping[str, rules.Rule], theta0) -> tuple[dict, dict] | None:
    """The rules' bounds as two pytrees like ``theta0`` (unbounded rules: +-inf), or None."""
    if all(rule_set[p].bounds is None for p in theta0):
        return None

    def side(i, fill):
        out = {}
        for p, t in theta0.items():
            b = rule_set[p].bounds
            out[p] = jnp.broadcast_to(jnp.asarray(fill if b is None else b[i], t.dtype), t.shape)
        return out

    return side(0, -jnp.inf), side(1, jnp.inf)


class Experiment(NamedTuple):
    config: Config
    family: Family
    rules: Mapping[str, rules.Rule]
    network: networks.Network
    task: tasks.Task
    heldout_task: (
        tasks.Task
    )  # the task of the held-out score (the training task unless the task section says)
    optimizer: meta.MetaOptimizer
    references: Mapping[str, tuple[str, jax.Array]]  # projection -> (name, theta)
    theta0: Mapping[str, jax.Array]
    train_loss: tasks.LossFn
    heldout_loss: tasks.LossFn
    validation_loss: tasks.LossFn | None  # training task, forward only; None without meta.validate_every
    devices: tuple[jax.Device, ...]  # the local devices a generation is spread over
    population: meta.Population  # scores a population here: sharded over `devices` (or its episodes are)

    def project(self, theta) -> dict[str, jax.Array]:
        """Theta as the rules apply it (:func:`plastix.rules.project`)."""
        return {p: rules.project(self.rules[p], v) for p, v in theta.items()}

    def angles(self, theta) -> dict[str, float]:
        """Angle to each projection's reference rule, over the terms its rule kind compares."""
        from plastix.analysis import angle

        out = {}
        for p, (name, ref) in self.references.items():
            k = self.config.rules[p].angle_terms  # e.g. the 4 increments of a spike rule
            out[name] = angle(theta[p][..., :k], ref[..., :k])
        return out


def thetas(cfg: Config, rule_set: Mapping[str, rules.Rule], dtype) -> tuple[dict, dict]:
    """Reference thetas and theta0 of every projection, as its ``[rules.<projection>]`` says.

    ``init`` is ``random`` (``rule.init_theta``, key stream 0 of the seed, one
    fold per projection in sorted order), ``zero`` or ``reference``.
    """
    refs, theta0 = {}, {}
    key = _seeds.stream(cfg.seed, _seeds.THETA0)
    for i, (proj, rc) in enumerate(sorted(cfg.rules.items())):
        rule = rule_set[proj]
        if rc.reference:
            refs[proj] = (rc.reference, rules.REFERENCES[rc.reference](rule))
        if rc.init == "random":
            theta0[proj] = jax.tree.map(
                lambda t: t.astype(dtype), rule.init_theta(jax.random.fold_in(key, i))
            )
        elif rc.init == "zero":  # of the shape of a drawn theta (per-synapse rules: a pytree)
            shapes = jax.eval_shape(rule.init_theta, key)
            theta0[proj] = jax.tree.map(lambda s: jnp.zeros(s.shape, dtype), shapes)
        else:  # "reference": the config guarantees one is named
            theta0[proj] = refs[proj][1].astype(dtype)
    return refs, theta0


def population_size(cfg: Config, theta0) -> int:
    """Thetas scored per generation: the ES population, ``2 d + 1`` finite differences, or one."""
    return cfg.meta.candidates(sum(x.size for x in jax.tree.leaves(theta0)))


def local_devices(n: int | None) -> tuple[jax.Device, ...]:
    """The first ``n`` local devices (``None``: all of them); :class:`UserError` if there are fewer."""
    available = jax.devices()
    if n is None:
        return tuple(available)
    if n > len(available):
        hint = (
            " (for CPU devices: XLA_FLAGS=--xla_force_host_platform_device_count=N)"
            if available[0].platform == "cpu"
            else ""
        )
        raise UserError(
            f"devices = {n}: this machine has {len(available)} {available[0].platform} device(s){hint}"
        )
    return tuple(available[:n])


def build(cfg: Config, devices: int | None = None) -> Experiment:
    """Assemble an :class:`Experiment`; sets float64 mode when the config asks for it.

    A generation is spread over ``devices`` local devices (default: the
    config's ``devices``, else all): its population is sharded over them, or,
    when the population is smaller than the device count (gradient descent),
    its training episodes are.
    """
    if cfg.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    family = cfg.spec
    try:
        built = parts(cfg)
    except ValueError as err:  # a builder's check (a time grid, a class pool): a config error
        raise UserError(f"config error: {err}") from None
    refs, theta0 = thetas(cfg, built.rules, jnp.dtype(cfg.dtype))
    m = cfg.meta
    optimizer = m.build(_bounds(built.rules, theta0))
    common: dict[str, Any] = dict(unstable_loss=m.unstable_loss, l1=m.l1, **built.loss_options)
    if m.scale is not None:
        # meta.scale is flat over every rule's theta (projections sorted): a pytree like theta.
        common["l1_scale"] = ravel_pytree(theta0)[1](jnp.asarray(m.scale, cfg.dtype))
    n_train, n_held = cfg.task.episodes, cfg.task.heldout_episodes
    on = local_devices(cfg.devices if devices is None else devices)
    population, sharding = meta.prepare_population, None
    if len(on) > 1 and population_size(cfg, theta0) >= len(on):
        population = meta.sharded(on)
    elif len(on) > 1 and n_train % len(on) == 0:
        mesh = jax.sharding.Mesh(np.asarray(on), (meta.AXIS,))
        sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(meta.AXIS))
    train = tasks.meta_loss(
        built.rules,
        built.network,
        built.task,
        n_train,
        episode_sharding=sharding,
        **m.loss_options(),
        **common,
    )
    # Held-out scoring keeps each episode's metrics (e.g. the rate per dataset).
    held_task = built.task if built.heldout_task is None else built.heldout_task
    heldout = tasks.meta_loss(built.rules, built.network, held_task, n_held, per_episode=True, **common)
    validation = None
    if m.validate_every is not None:
        validation = tasks.meta_loss(built.rules, built.network, built.task, m.validate_episodes, **common)
    return Experiment(
        cfg,
        family,
        built.rules,
        built.network,
        built.task,
        held_task,
        optimizer,
        refs,
        theta0,
        train,
        heldout,
        validation,
        on,
        population,
    )
