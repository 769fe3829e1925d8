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


def _stacked(carry, outs):
    return outs


class Recorder(NamedTuple):
    """What :func:`unroll` records along the way: for a task's loss, figures and diagnostics.

    Attributes:
        init: ``initial_state -> carry``, the recorder's own running state (e.g.
            spike counts per bin, conductances split by input group).
        step: ``(carry, state, x, new_state, out) -> (carry, out)``, called after
            every inner step with the network state before and after it, the
            step's input ``x`` and the network's output of the step.
        reduce: with ``unroll(chunk=...)``, ``outs -> out``, what is kept of a
            chunk's outputs (stacked over its steps); default: their mean.
        finish: ``(final carry, outs) -> records``, what :func:`unroll` returns:
            by default the outputs, stacked over steps (or chunks).
        snapshot: with ``unroll(chunk=...)``, ``state -> out``, taken of the network
            state at the end of every chunk and kept beside the chunk's reduced
            outputs (each chunk's output is then ``(reduce(outs), snapshot(state))``):
            for what is too costly to read every step, such as the mean of a
            million weights. ``None``: none.
    """

    init: Callable[[NetState], Any]
    step: Callable[[Any, NetState, Array, NetState, Array], tuple[Any, Any]]
    reduce: Callable[[Any], Any] = lambda outs: jax.tree.map(lambda o: jnp.mean(o, axis=0), outs)
    finish: Callable[[Any, Any], Any] = _stacked
    snapshot: Callable[[NetState], Any] | None = None


class Task(NamedTuple):
    """A family of episodes, the inner loop's input stream and a loss.

    Attributes:
        sample: ``key -> episode``, one dataset drawn from the family.
        inputs: ``(episode, t, key) -> x_t``, the network input at inner step
            ``t``; stateless, so the stream can be generated inside the jitted
            loop instead of being stored.
        loss: ``(final_state, records, episode) -> (loss, metrics)``: how well
            the function that emerged solves the episode; ``records`` are what
            ``record`` kept of the trajectory (``None`` without one).
        num_steps: inner steps per episode.
        record: what the loss reads of the trajectory (:class:`Recorder`), kept
            in bounded memory (binned or reduced, never every step of a long
            protocol), or ``None``: the loss reads the final state only.
    """

    sample: Callable[[Array], Episode]
    inputs: Callable[[Episode, Array, Array], Array]
    loss: Callable[[NetState, Any, Episode], tuple[Array, Metrics]]
    num_steps: int
    record: Recorder | None = None


def _template(network: Network, state: NetState, projection: str):
    """What a rule's ``init_state`` sees of a projection: its weights, or for a sparse one
    (``network.sizes``) their ``[post, pre]`` shape and dtype."""
    w = state.w[projection]
    if network.sizes and projection in network.sizes:
        return jax.ShapeDtypeStruct(network.sizes[projection], w.dtype)
    return w


def unroll(
    rules: Mapping[str, Rule],
    network: Network,
    task: Task,
    theta: Mapping[str, Array],
    episode: Episode,
    key: Array,
    remat: bool = False,
    chunk: int | None = None,
    record: Recorder | None = None,
    state: NetState | None = None,
) -> NetState | tuple[NetState, Any]:
    """Train ``network`` from scratch on ``episode`` with ``rules``; return its final state.

    One ``lax.scan`` over the episode's ``task.num_steps`` inner steps. With
    ``remat`` the step is rematerialised in the backward pass, so a meta-gradient
    stores one carry per step instead of every intermediate; with ``remat`` and
    ``chunk``, one carry per chunk and, while a chunk's backward pass runs, one
    per step of it (memory ~ ``num_steps / chunk + chunk`` carries).

    With ``chunk`` the inputs are drawn ``chunk`` steps at a time by one call
    ``task.inputs(episode, steps, key)`` (a task whose ``inputs`` takes a vector
    of steps, such as :func:`plastix.tasks.target_rate`), and an outer scan runs
    over chunks: for spiking tasks with ~10^6 steps this replaces a small random
    draw per step by one vectorised draw per chunk. Same dynamics and update
    order; the random stream differs (same distribution).

    With ``record`` it returns ``(final_state, records)``: ``record.finish`` of
    the recorder's final carry and its outputs, by default the outputs stacked
    over steps, or with ``chunk`` one ``record.reduce`` per chunk (``[num_steps
    // chunk, ...]``), so that a recording of a long spiking episode stays
    small. The final state is the one returned without it.

    ``state`` starts from a given network state instead of ``network.init``'s (a
    network trained before, its weights now held fixed by a zero rule).
    """
    k_init, k_data = jax.random.split(key)
    state = network.init(k_init) if state is None else state
    rule_state = {p: rules[p].init_state(_template(network, state, p)) for p in network.plastic}

    def step(carry, x):
        state, rule_state, rec = carry
        new, y, local = network.step(state, x)
        dw = {}
        for p in network.plastic:
            dw[p], rule_state[p] = rules[p].update(theta[p], local[p], rule_state[p])
        new = network.apply(new, dw)
        out = None
        if record is not None:
            rec, out = record.step(rec, state, x, new, y)
        return (new, rule_state, rec), out

    carry = (state, rule_state, None if record is None else record.init(state))
    if chunk is None:

        def body(carry, t):
            return step(carry, task.inputs(episode, t, jax.random.fold_in(k_data, t)))

        # Rematerialise the whole step, input draw included: the backward pass
        # then keeps one carry per step, not the step's inputs as well.
        body = jax.checkpoint(body) if remat else body
        (state, _, rec), outs = jax.lax.scan(body, carry, jnp.arange(task.num_steps))
        return state if record is None else (state, record.finish(rec, outs))
    if task.num_steps % chunk:
        raise ValueError(f"num_steps ({task.num_steps}) must be a multiple of chunk ({chunk})")

    # With remat, two levels (Griewank's checkpointing): the backward pass keeps one carry
    # per chunk, then recomputes a chunk keeping one carry per step of it, so memory goes
    # as num_steps / chunk + chunk carries (chunk ~ sqrt(num_steps): 2 sqrt(num_steps)).
    inner = jax.checkpoint(step) if remat else step

    def chunk_body(carry, c):
        xs = task.inputs(episode, c * chunk + jnp.arange(chunk), jax.random.fold_in(k_data, c))
        carry, outs = jax.lax.scan(inner, carry, xs)
        if record is None:
            return carry, None
        out = record.reduce(outs)
        return carry, out if record.snapshot is None else (out, record.snapshot(carry[0]))

    chunk_body = jax.checkpoint(chunk_body) if remat else chunk_body

    (state, _, rec), outs = jax.lax.scan(chunk_body, carry, jnp.arange(task.num_steps // chunk))
    return state if record is None else (state, record.finish(rec, outs))


def sqrt_chunk(num_steps: int) -> int:
    """The divisor of ``num_steps`` that minimises ``num_steps / chunk + chunk`` (the carries
    :func:`unroll` keeps with ``remat`` and ``chunk``): ~ ``sqrt(num_steps)``."""
    return min(
        (d for d in range(1, num_steps + 1) if num_steps % d == 0), key=lambda d: (num_steps // d + d, d)
    )


def _abs(x: Array) -> Array:
    """``|x|`` whose gradient is ``sign(x)``: 0 at 0, the subgradient of least norm (and PyTorch's).

    ``jnp.abs``'s gradient at 0 is 1, so an L1 prior would push every coefficient that starts at 0
    (the term library's published start) downwards from the first meta-step, and Adam would turn
    that push into a full step.
    """
    return x * jax.lax.stop_gradient(jnp.sign(x))


def meta_loss(
    rules: Mapping[str, Rule],
    network: Network,
    task: Task,
    num_episodes: int,
    unstable_loss: float = 100.0,
    l1: float = 0.0,
    remat: bool = False,
    chunk: int | None = None,
    l1_scale: Any = None,
    per_episode: bool = False,
    episode_sharding: jax.sharding.Sharding | None = None,
) -> LossFn:
    """The single seam between inner and outer loops: ``f(theta, key) -> (loss, metrics)``.

    ``f`` draws ``num_episodes`` episodes from ``key``, trains a fresh network on
    each (vmapped), recording what the task's ``record`` keeps of each
    trajectory, and averages the task loss. A run that is unstable
    (non-finite or bounded weights, or a non-finite loss) scores
    ``unstable_loss`` instead; every loss is capped there, so a bad candidate is
    penalised but never poisons the average. ``l1`` adds
    ``l1 * sum|theta / l1_scale|``, the sparsity prior of Confavreux et al.
    (2020); ``l1_scale`` (a pytree like theta; default 1) puts coefficients of different units on
    one footing; a rule's ``penalty`` (:class:`plastix.rules.Rule`) is added too.
    ``remat`` and ``chunk`` are passed to :func:`unroll`.

    Because episodes depend on ``key`` only, ``jax.vmap(f, in_axes=(0, None))``
    over a population shares data generation across candidates (common random
    numbers) instead of repeating it.

    Metrics: ``task_loss`` (mean over episodes before the penalty),
    ``unstable`` (fraction of unstable episodes), and each task metric averaged.
    With ``per_episode`` they also hold ``"episodes"``: the same metrics
    (``loss``, ``unstable`` and the task's) for each episode, ``[num_episodes]``
    arrays, so a caller that reports the spread over datasets need not train
    the networks a second time.

    ``episode_sharding`` (a sharding of the ``[num_episodes]`` axis, e.g. over
    a mesh of local devices) spreads the episodes over devices, for an outer
    loop whose population is smaller than the device count (gradient descent:
    one theta); each episode's arithmetic stays the same.
    """
    plastic = set(network.plastic)
    if set(rules) != plastic:
        raise ValueError(f"rules {sorted(rules)} do not match plastic projections {sorted(plastic)}")

    def one(theta, key):
        k_ep, k_run = jax.random.split(key)
        episode = task.sample(k_ep)
        if task.record is None:
            final = unroll(rules, network, task, theta, episode, k_run, remat=remat, chunk=chunk)
            records = None
        else:
            final, records = unroll(
                rules, network, task, theta, episode, k_run, remat=remat, chunk=chunk, record=task.record
            )
        loss, metrics = task.loss(final, records, episode)
        bad = network.unstable(final) | ~jnp.isfinite(loss)
        loss = jnp.where(
            bad, unstable_loss, jnp.minimum(jnp.nan_to_num(loss, nan=unstable_loss), unstable_loss)
        )
        return loss, bad, metrics

    def f(theta, key):
        keys = jax.random.split(key, num_episodes)
        if episode_sharding is not None:
            keys = jax.lax.with_sharding_constraint(keys, episode_sharding)
        losses, bad, metrics = jax.vmap(one, in_axes=(None, 0))(theta, keys)
        task_loss = jnp.mean(losses)
        leaves = jax.tree.leaves(theta)
        scales = [1.0] * len(leaves) if l1_scale is None else jax.tree.leaves(l1_scale)
        penalty = l1 * sum(jnp.sum(_abs(t / s)) for t, s in zip(leaves, scales, strict=True))
        # Each rule's own prior (e.g. on the per-synapse deviations of plastix.rules.per_synapse).
        penalty = penalty + sum(rules[p].penalty(theta[p]) for p in sorted(rules) if rules[p].penalty)
        out = {k: jnp.mean(v) for k, v in metrics.items()}
        out.update(task_loss=task_loss, unstable=jnp.mean(bad.astype(losses.dtype)))
        if per_episode:
            out["episodes"] = {**metrics, "loss": losses, "unstable": bad}
        total = task_loss + penalty
        return jnp.where(jnp.isfinite(total), total, unstable_loss), out

    return f
