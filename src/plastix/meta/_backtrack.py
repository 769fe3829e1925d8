"""Rejecting a step of a descent outer loop that lands where the meta-loss says nothing.

A candidate rule that explodes on every episode gets the finite penalty
``unstable_loss`` on each (:func:`plastix.tasks.meta_loss`): the loss there is
constant, its gradient zero, and a descent loop that stepped into such a region
would stay in it for good. A guard keeps the last point scored clean: a finite
loss and no unstable episode. When the loss at the current point is non-finite,
or the fraction of unstable episodes reaches ``reject_unstable``, the point is
rejected: the loop goes back to the kept point and optimiser state, and the
step's scale is multiplied by ``shrink``; each accepted step lets the scale
grow back by ``recover`` (at most to 1), so a run that met one cliff is not
slowed for good. Points with a few unstable episodes are accepted (their
gradient still comes from the stable ones) but never kept: a loop that drifts
through them into a region where most episodes explode goes back to where none
did, not to a point one step inside the region (measured: the meta-gradient on
``pca`` from a zero rule, whose first steps make most episodes explode, kept a
point one step inside and shrank its step to 3e-6 in 60 steps; going back to
the last clean point it learns). No guard steers a loop out of a region where a
fraction of the episodes explode by chance: the penalty has no gradient.
This is backtracking in the sense of Armijo's line search (Nocedal & Wright
2006, Alg. 3.1), with feasibility in place of sufficient decrease, spread over
generations: a rejected point costs one generation, whose episodes are new.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


class Guard(NamedTuple):
    """The last point scored clean, the optimiser's state there, and the step scale."""

    params: Any
    opt_state: Any
    scale: jax.Array
    rejected: jax.Array  # steps rejected so far


class Backtracking(NamedTuple):
    """The rejection rule: ``shrink`` per rejection (``None``: off), ``recover`` per accepted step."""

    shrink: float | None = 0.5
    reject_unstable: float = 1.0
    recover: float = 2.0**0.1  # back to the full step after 10 accepted steps

    def guard(self, params, opt_state) -> Guard:
        return Guard(params, opt_state, jnp.float32(1.0), jnp.int32(0))

    def bad(self, loss: jax.Array, unstable: jax.Array) -> jax.Array:
        """Whether the point whose loss and unstable fraction these are is rejected."""
        if self.shrink is None:
            return jnp.bool_(False)
        return ~jnp.isfinite(loss) | (unstable >= self.reject_unstable)

    def clean(self, loss: jax.Array, unstable: jax.Array) -> jax.Array:
        """Whether the point whose loss and unstable fraction these are is kept to go back to."""
        return jnp.isfinite(loss) & (unstable == 0)

    def step(
        self, params, opt_state, updates, new_opt_state, guard: Guard, loss, unstable, project=lambda p: p
    ):
        """``(params, opt_state, guard, bad)`` after the step ``updates``, or back at the guard's point.

        ``loss`` and ``unstable`` (the fraction of unstable episodes) were scored at
        ``params``. ``updates`` (an optax update computed there) is applied times the
        guard's scale when that point is good, and ``params`` becomes the guard's point
        when it is also :meth:`clean`; when it is :meth:`bad`, ``params`` itself is given up
        for the last clean point. ``project`` maps the new params onto the feasible set (a
        box, say).
        """
        bad, clean = self.bad(loss, unstable), self.clean(loss, unstable)
        scaled = jax.tree.map(lambda u: u * guard.scale.astype(u.dtype), updates)
        kept = jax.tree.map(
            lambda a, b: jnp.where(clean, a, b), (params, opt_state), (guard.params, guard.opt_state)
        )
        ahead = (
            project(optax.apply_updates(params, scaled)),
            new_opt_state,
            Guard(*kept, jnp.minimum(1.0, guard.scale * self.recover), guard.rejected),
        )
        shrink = 1.0 if self.shrink is None else self.shrink
        back = (
            guard.params,
            guard.opt_state,
            Guard(guard.params, guard.opt_state, guard.scale * shrink, guard.rejected + 1),
        )
        return (*jax.tree.map(lambda b, a: jnp.where(bad, b, a), back, ahead), bad)
