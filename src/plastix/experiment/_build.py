"""Turn a validated config into rules, network, task, optimiser and losses."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from plastix import meta, networks, rules, tasks
from plastix.experiment._config import ANGLE_TERMS, Config, _target_rate_args

NETWORKS: dict[str, Callable] = {"linear": networks.linear, "lif": networks.lif}
TASKS: dict[str, Callable] = {"pca": tasks.pca, "target_rate": tasks.target_rate}
RULES: dict[str, Callable] = {"polynomial": rules.polynomial, "spike_trace": rules.spike_trace}


def _cma(m):
    options = dict(m.cma_options)
    if m.scale is not None:  # sigma0 in units of each coefficient's scale
        options.setdefault("CMA_stds", list(m.scale))
    return meta.cma_es(popsize=m.popsize, sigma0=m.sigma0, options=options)


# Each optimiser from the [meta] section of a config.
OPTIMIZERS: dict[str, Callable] = {
    "cma_es": _cma,
    "gradient": lambda m: meta.gradient(m.learning_rate, m.gradient_optimizer, m.clip_norm),
    "finite_difference": lambda m: meta.finite_difference(
        m.learning_rate, m.fd_epsilon, m.fd_optimizer, m.fd_clip_norm, scale=m.scale
    ),
}


class Experiment(NamedTuple):
    config: Config
    rules: Mapping[str, rules.Rule]
    network: networks.Network
    task: tasks.Task
    optimizer: meta.MetaOptimizer
    references: Mapping[str, tuple[str, jax.Array]]  # projection -> (name, theta)
    theta0: Mapping[str, jax.Array]
    train_loss: tasks.LossFn
    heldout_loss: tasks.LossFn

    def angles(self, theta) -> dict[str, float]:
        from plastix.analysis import angle

        out = {}
        for p, (name, ref) in self.references.items():
            k = ANGLE_TERMS[self.config.rules[p].kind]  # e.g. the 4 increments of a spike rule
            out[name] = angle(theta[p][..., :k], ref[..., :k])
        return out


def build(cfg: Config) -> Experiment:
    """Assemble an :class:`Experiment`; sets float64 mode when the config asks for it."""
    if cfg.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    dtype = jnp.dtype(cfg.dtype)
    network, task = _network_and_task(cfg)
    rule_set, refs, theta0 = {}, {}, {}
    key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 0)
    for i, (proj, rc) in enumerate(sorted(cfg.rules.items())):
        rule = _rule(proj, rc)
        rule_set[proj] = rule
        if rc.reference:
            refs[proj] = (rc.reference, rules.REFERENCES[rc.reference](rule))
        if rc.init == "random":
            theta0[proj] = rule.init_theta(jax.random.fold_in(key, i)).astype(dtype)
        elif rc.init == "zero":
            theta0[proj] = jnp.zeros(rule.size, dtype)
        else:  # "reference": the config guarantees one is named
            theta0[proj] = refs[proj][1].astype(dtype)
    m = cfg.meta
    optimizer = OPTIMIZERS[m.optimizer](m)
    common: dict[str, Any] = dict(unstable_loss=m.unstable_loss, l1=m.l1)
    if m.scale is not None:
        common["l1_scale"] = jnp.asarray(m.scale, dtype)
    if cfg.task.kind == "target_rate":
        common["chunk"] = cfg.task.chunk
    remat = m.optimizer == "gradient" and m.remat
    train = tasks.meta_loss(rule_set, network, task, cfg.task.episodes, remat=remat, **common)
    # Held-out scoring keeps each episode's metrics (e.g. the rate per dataset).
    heldout = tasks.meta_loss(rule_set, network, task, cfg.task.heldout_episodes, per_episode=True, **common)
    return Experiment(cfg, rule_set, network, task, optimizer, refs, theta0, train, heldout)


def _rule(proj: str, rc) -> rules.Rule:
    if rc.kind == "spike_trace":
        return RULES[rc.kind](tau_min=rc.tau_min, tau_max=rc.tau_max, init_std=rc.init_std)
    symbols = dict(rc.symbols)
    if proj == "lateral":
        symbols = {"pre": "y_j", "post": "y_i", "w": "l", **symbols}
    return RULES[rc.kind](order=rc.order, variables=rc.variables, symbols=symbols, init_std=rc.init_std)


def _network_and_task(cfg: Config) -> tuple[networks.Network, tasks.Task]:
    n, t = cfg.network, cfg.task
    if n.kind == "lif":
        task = TASKS[t.kind](**_target_rate_args(n, t))
        network = NETWORKS[n.kind](
            n.n_exc,
            n.n_inh,
            n.n_groups,
            dt=n.dt,
            preferred=n.preferred,
            w_exc_noise=n.w_exc_noise,
            w_inh_init=n.w_inh_init,
            w_inh_max=n.w_inh_max,
            record_bins=round((t.train_time + t.score_time) / t.bin_size),
            bin_size=t.bin_size,
            **n.params,
        )
        return network, task
    network = NETWORKS[n.kind](
        n.n_in,
        n.n_out,
        lateral=n.lateral,
        eta=n.eta,
        eta_lateral=n.eta_lateral,
        init_scale=n.init_scale,
        w_max=n.w_max,
    )
    task = TASKS[t.kind](
        n.n_in,
        n.n_out,
        num_steps=t.steps,
        batch=t.batch,
        scale=t.spectrum_scale,
        decay=t.spectrum_decay,
        scale_spread=t.scale_spread,
        samples=t.samples,
    )
    return network, task
