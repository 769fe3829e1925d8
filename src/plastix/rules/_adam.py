r"""A rule of one coefficient whose step is Adam's: a stronger baseline than a fixed step.

Backprop with plain gradient steps is the published baseline of learning rules that follow an
error (Shervani-Tabar & Rosenbaum 2023); an adaptive step is the stronger one a practitioner
would use. With ``u_t`` the wrapped rule's update at coefficient 1 (for the pseudo-gradient,
minus the gradient), Adam's moments (Kingma & Ba 2015, Alg. 1) give

.. math::
    m_t = \beta_1 m_{t-1} + (1 - \beta_1) u_t, \quad
    v_t = \beta_2 v_{t-1} + (1 - \beta_2) u_t^2, \quad
    \Delta w_t = \theta\, \frac{m_t / (1 - \beta_1^t)}{\sqrt{v_t / (1 - \beta_2^t)} + \epsilon}

per weight; ``theta`` (one number) is the step size. The moments are optax's
(``optax.scale_by_adam``) and live in the rule's state, so that they start at zero in every
episode like the weights.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from plastix.rules._base import Local, Rule


def adam_step(rule: Rule, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Rule:
    """``rule`` (of one coefficient) with Adam's step: theta is the step size (module docstring)."""
    if len(rule.names) != 1:
        raise ValueError(f"adam_step wraps a rule of one coefficient; this one has {len(rule.names)}")
    adam = optax.scale_by_adam(b1=b1, b2=b2, eps=eps)

    def init_state(w):
        return rule.init_state(w), adam.init(w)

    def update(theta, local: Local, state):
        inner, moments = state
        u, inner = rule.update(jnp.ones_like(theta), local, inner)
        step, moments = adam.update(u, moments)
        return jax.tree.map(lambda s: theta[0] * s, step), (inner, moments)

    return rule._replace(init_state=init_state, update=update, names=("adam_step",))
