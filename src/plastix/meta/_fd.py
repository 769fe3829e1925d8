"""Gradient descent on finite-difference estimates of the meta-gradient."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from plastix.meta._backtrack import Backtracking, Guard
from plastix.meta._base import MetaOptimizer
from plastix.meta._population import Population, PreparedPopulation, prepare_population


class FDState(NamedTuple):
    u: jax.Array  # flat theta in units of `scale`: theta = scale * u
    opt_state: Any
    guard: Guard | None = None  # None in a checkpoint written before the guard existed


class PreparedFD(NamedTuple):
    population: PreparedPopulation  # scores the 2 d + 1 thetas
    candidates: Callable[[jax.Array], jax.Array]  # u -> flat thetas [2 d + 1, d]
    # (state, losses, unstable fractions) -> (state, |g|, rejected)
    update: Callable[[FDState, jax.Array, jax.Array], tuple[FDState, jax.Array, jax.Array]]
    unravel: Callable[[jax.Array], Any]
    scale: jax.Array


def _flat_scale(scale, template) -> jax.Array:
    flat, _ = ravel_pytree(template)
    if scale is None:
        return jnp.ones_like(flat)
    if isinstance(scale, int | float):
        return jnp.full_like(flat, scale)
    if isinstance(scale, Mapping):
        full = {p: jnp.broadcast_to(jnp.asarray(scale[p]), jnp.shape(t)) for p, t in template.items()}
        return ravel_pytree(full)[0].astype(flat.dtype)
    s = jnp.asarray(scale, flat.dtype)
    if s.shape != flat.shape:
        raise ValueError(f"scale has shape {s.shape}; theta has {flat.shape} coefficients")
    return s


def finite_difference(
    learning_rate: float = 1e-2,
    epsilon: float = 1e-2,
    optimizer: str = "adam",
    clip_norm: float | None = None,
    scale: Any = None,
    bounds: tuple[Any, Any] | None = None,
    backtrack: float | None = 0.5,
    reject_unstable: float = 1.0,
) -> MetaOptimizer:
    r"""An optax optimiser (Adam by default) on central finite-difference gradients.

    For losses that are not differentiable, such as a spike count, Confavreux
    et al. (NeurIPS 2020, Sec. 3.3) estimate the meta-gradient by finite
    differences and follow it with Adam. Per generation, in units
    ``u = theta / scale`` (so coefficients of different units, such as a
    weight increment and a time constant in seconds, are perturbed and stepped
    on one footing):

    .. math:: \hat g_i = \frac{L(u + \epsilon e_i) - L(u - \epsilon e_i)}{2 \epsilon},
       \qquad u \leftarrow u - \mathrm{opt}(\hat g)

    The ``2 d + 1`` thetas (the centre first, for its loss) are evaluated as one
    population in one jitted call with a shared key, so every difference is
    taken on the same episodes (common random numbers): the episode noise
    cancels to first order and only the rule's effect remains.

    Args:
        learning_rate: step size of the optax optimiser, in units of ``scale``.
        epsilon: half-width of the central difference, in units of ``scale``.
        optimizer: name of an optax optimiser taking a learning rate.
        clip_norm: clip the estimated gradient's global norm (``None``: no clipping).
        scale: typical size of each coefficient: ``None`` (1), a number, a flat
            array with one entry per coefficient, or a pytree like theta.
        bounds: ``(lower, upper)``, pytrees like theta (e.g. from
            :attr:`plastix.rules.Rule.bounds`): after each step theta is
            projected onto the box (projected gradient descent), so a
            coefficient that crosses a bound, where the loss is flat, comes back
            to it instead of drifting on with the optimiser's momentum.
        backtrack, reject_unstable: as in :func:`plastix.meta.gradient`, judged on
            the centre's loss: a centre where the loss is non-finite or at least
            ``reject_unstable`` of the episodes are unstable is given up for the
            last centre with no unstable episode, and the step shrinks by ``backtrack``.
    """
    safe = Backtracking(backtrack, reject_unstable)
    if not hasattr(optax, optimizer):
        raise ValueError(f"unknown optax optimiser {optimizer!r}")
    if epsilon <= 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon}")
    tx = getattr(optax, optimizer)(learning_rate)
    if clip_norm is not None:
        tx = optax.chain(optax.clip_by_global_norm(clip_norm), tx)

    def prepare(loss_fn, template, population: Population = prepare_population) -> PreparedFD:
        flat, unravel = ravel_pytree(template)
        s = _flat_scale(scale, template)
        d = flat.shape[0]
        offsets = jnp.concatenate([jnp.zeros((1, d)), epsilon * jnp.eye(d), -epsilon * jnp.eye(d)])
        offsets = offsets.astype(flat.dtype)

        def candidates(u):
            return (u[None] + offsets) * s

        if bounds is None:
            lo, hi = jnp.full_like(flat, -jnp.inf), jnp.full_like(flat, jnp.inf)
        else:  # in units of scale (> 0)
            lo, hi = (ravel_pytree(b)[0].astype(flat.dtype) / s for b in bounds)

        def update(state, losses, unstable):
            grad = (losses[1 : d + 1] - losses[d + 1 :]) / (2.0 * epsilon)
            updates, opt_state = tx.update(grad, state.opt_state, state.u)
            u, opt_state, guard, bad = safe.step(
                state.u,
                state.opt_state,
                updates,
                opt_state,
                state.guard,
                losses[0],
                unstable[0],
                lambda u: jnp.clip(u, lo, hi),
            )
            return FDState(u, opt_state, guard), jnp.linalg.norm(grad), bad

        return PreparedFD(population(loss_fn, template), jax.jit(candidates), jax.jit(update), unravel, s)

    def init(theta0, seed):
        flat, _ = ravel_pytree(theta0)
        u = flat / _flat_scale(scale, theta0)
        opt_state = tx.init(u)
        return FDState(u, opt_state, safe.guard(u, opt_state))

    def step(state, prepared: PreparedFD, key):
        if state.guard is None:
            state = state._replace(guard=safe.guard(state.u, state.opt_state))
        losses, metrics = prepared.population.evaluate(prepared.candidates(state.u), key)
        losses = np.asarray(losses)  # the population may have been scored on other devices
        unstable = np.asarray(metrics["unstable"])
        state, grad_norm, bad = prepared.update(state, jnp.asarray(losses), jnp.asarray(unstable))
        out = {
            "loss_best": float(losses[0]),  # the centre: the theta this generation moves from
            "loss_mean": float(losses.mean()),
            "task_loss_best": float(np.asarray(metrics["task_loss"])[0]),
            "n_unstable": int((np.asarray(metrics["unstable"]) > 0).sum()),
            "grad_norm": float(grad_norm),
            "rejected": int(bad),  # the centre given up for the last clean one
            "step_scale": float(state.guard.scale),
        }
        return state, out

    def theta(state, prepared: PreparedFD):
        return prepared.unravel(state.u * prepared.scale)

    return MetaOptimizer(prepare, init, step, theta)
