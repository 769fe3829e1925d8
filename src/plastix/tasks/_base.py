"""The task interface, the inner loop, and the one seam to the outer loop."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from plastix.networks._base import NetState, Network
from plastix.rules._base import Rule

Array = jax.Array
Episode = Any  # a pytree: one dataset / task instance
Metrics = dict[str, Array]
LossFn = Callable[[Mapping[str, Array], Array], tuple[Array, Metrics]]


class Task(NamedTuple):
    """A family of episodes, the inner loop's input stream and a loss.

    Attributes:
        sample: ``key -> episode``, one dataset drawn from the family.
        inputs: ``(episode, t, key) -> x_t``, the network input at inner step
            ``t``; stateless, so the stream can be generated inside the jitted
            loop instead of being stored.
        loss: ``(final_state, episode) -> (loss, metrics)``: how well the
            function that emerged solves the episode.
        num_steps: inner steps per episode.
    """

    sample: Callable[[Array], Episode]
    inputs: Callable[[Episode, Array, Array], Array]
    loss: Callable[[NetState, Episode], tuple[Array, Metrics]]
    num_steps: int


def unroll(
    rules: Mapping[str, Rule],
    network: Network,
    task: Task,
    theta: Mapping[str, Array],
    episode: Episode,
    key: Array,
    remat: bool = False,
) -> NetState:
    """Train ``network`` from scratch on ``episode`` with ``rules``; return its final state.

    One ``lax.scan`` over the episode's ``task.num_steps`` inner steps. With
    ``remat`` the step is rematerialised in the backward pass, so a meta-gradient
    stores one carry per step instead of every intermediate.
    """
    k_init, k_data = jax.random.split(key)
    state = network.init(k_init)
    rule_state = {p: rules[p].init_state(state.w[p]) for p in network.plastic}

    def body(carry, t):
        state, rule_state = carry
        x = task.inputs(episode, t, jax.random.fold_in(k_data, t))
        state, _, local = network.step(state, x)
        dw = {}
        for p in network.plastic:
            dw[p], rule_state[p] = rules[p].update(theta[p], local[p], rule_state[p])
        return (network.apply(state, dw), rule_state), None

    if remat:
        body = jax.checkpoint(body)
    (state, _), _ = jax.lax.scan(body, (state, rule_state), jnp.arange(task.num_steps))
    return state


def meta_loss(
    rules: Mapping[str, Rule],
    network: Network,
    task: Task,
    num_episodes: int,
    unstable_loss: float = 100.0,
    l1: float = 0.0,
    remat: bool = False,
) -> LossFn:
    """The single seam between inner and outer loops: ``f(theta, key) -> (loss, metrics)``.

    ``f`` draws ``num_episodes`` episodes from ``key``, trains a fresh network on
    each (vmapped), and averages the task loss. A run that is unstable
    (non-finite or bounded weights, or a non-finite loss) scores
    ``unstable_loss`` instead; every loss is capped there, so a bad candidate is
    penalised but never poisons the average. ``l1`` adds ``l1 * sum|theta|``, the
    sparsity prior of Confavreux et al. (2020).

    Because episodes depend on ``key`` only, ``jax.vmap(f, in_axes=(0, None))``
    over a population shares data generation across candidates (common random
    numbers) instead of repeating it.

    Metrics: ``task_loss`` (mean over episodes before the penalty),
    ``unstable`` (fraction of unstable episodes), and each task metric averaged.
    """
    plastic = set(network.plastic)
    if set(rules) != plastic:
        raise ValueError(f"rules {sorted(rules)} do not match plastic projections {sorted(plastic)}")

    def one(theta, key):
        k_ep, k_run = jax.random.split(key)
        episode = task.sample(k_ep)
        final = unroll(rules, network, task, theta, episode, k_run, remat=remat)
        loss, metrics = task.loss(final, episode)
        bad = network.unstable(final) | ~jnp.isfinite(loss)
        loss = jnp.where(
            bad, unstable_loss, jnp.minimum(jnp.nan_to_num(loss, nan=unstable_loss), unstable_loss)
        )
        return loss, bad, metrics

    def f(theta, key):
        keys = jax.random.split(key, num_episodes)
        losses, bad, metrics = jax.vmap(one, in_axes=(None, 0))(theta, keys)
        task_loss = jnp.mean(losses)
        penalty = l1 * sum(jnp.sum(jnp.abs(t)) for t in jax.tree.leaves(theta))
        out = {k: jnp.mean(v) for k, v in metrics.items()}
        out.update(task_loss=task_loss, unstable=jnp.mean(bad.astype(losses.dtype)))
        total = task_loss + penalty
        return jnp.where(jnp.isfinite(total), total, unstable_loss), out

    return f
