"""Turn a validated config into rules, network, task, optimiser and losses."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from plastix import meta, networks, rules, tasks
from plastix.experiment._config import Config

NETWORKS: dict[str, Callable] = {"linear": networks.linear}
TASKS: dict[str, Callable] = {"pca": tasks.pca}
RULES: dict[str, Callable] = {"polynomial": rules.polynomial}
# Each optimiser from the [meta] section of a config.
OPTIMIZERS: dict[str, Callable] = {
    "cma_es": lambda m: meta.cma_es(popsize=m.popsize, sigma0=m.sigma0, options=dict(m.cma_options)),
    "gradient": lambda m: meta.gradient(m.learning_rate, m.gradient_optimizer, m.clip_norm),
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

        return {name: angle(theta[p], ref) for p, (name, ref) in self.references.items()}


def build(cfg: Config) -> Experiment:
    """Assemble an :class:`Experiment`; sets float64 mode when the config asks for it."""
    if cfg.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    dtype = jnp.dtype(cfg.dtype)
    n = cfg.network
    network = NETWORKS[n.kind](
        n.n_in,
        n.n_out,
        lateral=n.lateral,
        eta=n.eta,
        eta_lateral=n.eta_lateral,
        init_scale=n.init_scale,
        w_max=n.w_max,
    )
    t = cfg.task
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
    rule_set, refs, theta0 = {}, {}, {}
    key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 0)
    for i, (proj, rc) in enumerate(sorted(cfg.rules.items())):
        symbols = dict(rc.symbols)
        if proj == "lateral":
            symbols = {"pre": "y_j", "post": "y_i", "w": "l", **symbols}
        rule = RULES[rc.kind](order=rc.order, variables=rc.variables, symbols=symbols, init_std=rc.init_std)
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
    remat = m.optimizer == "gradient" and m.remat
    train = tasks.meta_loss(rule_set, network, task, t.episodes, remat=remat, **common)
    heldout = tasks.meta_loss(rule_set, network, task, t.heldout_episodes, **common)
    return Experiment(cfg, rule_set, network, task, optimizer, refs, theta0, train, heldout)
