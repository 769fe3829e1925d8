"""Gradient descent on theta through the unrolled inner loop (optax)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import optax

from plastix.meta._backtrack import Backtracking, Guard
from plastix.meta._base import MetaOptimizer


class GradientState(NamedTuple):
    theta: Any
    opt_state: Any
    guard: Guard | None = None  # None in a checkpoint written before the guard existed: set at the next step


class PreparedGradient(NamedTuple):
    update: Callable[[GradientState, jax.Array], tuple[GradientState, jax.Array, dict, jax.Array]]


def gradient(
    learning_rate: float | optax.Schedule = 1e-2,
    optimizer: str = "adam",
    clip_norm: float | None = 1.0,
    backtrack: float | None = 0.5,
    reject_unstable: float = 1.0,
) -> MetaOptimizer:
    r"""Meta-gradient descent: ``theta <- theta - opt(d loss / d theta)``.

    The gradient is exact, taken with ``jax.value_and_grad`` through every inner
    step of the same meta-loss the evolution strategies use (build it with
    ``remat=True`` to bound memory by rematerialising each step).

    Args:
        learning_rate: step size of the optax optimiser, or an optax schedule
            (step -> size), e.g. ``optax.cosine_decay_schedule(0.05, 500)``: a
            step that decays to zero lets small coefficients that the loss
            barely sees settle where the L1 prior puts them, instead of
            jittering with the meta-gradient's noise.
        optimizer: name of an optax optimiser taking a learning rate
            (``"adam"``, ``"sgd"``, ``"adamw"``, ...).
        clip_norm: clip the meta-gradient's global norm (``None``: no clipping),
            since early candidate rules can make the unrolled loss very steep.
        backtrack: when the loss at the current theta is non-finite or at least
            ``reject_unstable`` of its episodes are unstable, go back to the last
            theta with no unstable episode and multiply the step by ``backtrack``
            (:mod:`plastix.meta._backtrack`); ``None``: never (such a theta, where
            the loss is the constant penalty and its gradient zero, can then hold
            the run for good).
        reject_unstable: the fraction of unstable episodes at which a theta is
            rejected (1: only where every episode is unstable).
    """
    safe = Backtracking(backtrack, reject_unstable)
    if not hasattr(optax, optimizer):
        raise ValueError(f"unknown optax optimiser {optimizer!r}")
    tx = getattr(optax, optimizer)(learning_rate)
    if clip_norm is not None:
        tx = optax.chain(optax.clip_by_global_norm(clip_norm), tx)
    # A meta-gradient through an exploding inner loop can be NaN even where the loss is
    # the finite unstable penalty (0 * inf in jnp.where's other branch): such a component
    # makes no step instead of poisoning theta.
    tx = optax.chain(optax.zero_nans(), tx)

    def prepare(loss_fn, template, population=None):
        # One theta, no population: several devices share its episodes instead (the
        # loss is built with `episode_sharding`, plastix.tasks.meta_loss).
        del population
        value_and_grad = jax.value_and_grad(loss_fn, has_aux=True)

        def update(state, key):
            (loss, metrics), grads = value_and_grad(state.theta, key)
            updates, opt_state = tx.update(grads, state.opt_state, state.theta)
            theta, opt_state, guard, bad = safe.step(
                state.theta, state.opt_state, updates, opt_state, state.guard, loss, metrics["unstable"]
            )
            return GradientState(theta, opt_state, guard), loss, metrics, bad

        return PreparedGradient(jax.jit(update))

    def init(theta0, seed):
        opt_state = tx.init(theta0)
        return GradientState(theta0, opt_state, safe.guard(theta0, opt_state))

    def step(state, prepared: PreparedGradient, key):
        if state.guard is None:
            state = state._replace(guard=safe.guard(state.theta, state.opt_state))
        state, loss, metrics, bad = prepared.update(state, key)
        loss = float(loss)
        out = {
            "loss_best": loss,
            "loss_mean": loss,
            "task_loss_best": float(metrics["task_loss"]),
            "n_unstable": int(float(metrics["unstable"]) > 0),
            "rejected": int(bad),  # this theta given up for the last clean one
            "step_scale": float(state.guard.scale),
        }
        # The task's own metrics of this step's episodes (query accuracy, ...), before the update.
        out.update({f"task_{k}": float(v) for k, v in metrics.items() if k not in ("task_loss", "unstable")})
        return state, out

    def theta(state, prepared):
        return state.theta

    return MetaOptimizer(prepare, init, step, theta)
