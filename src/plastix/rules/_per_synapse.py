r"""A coefficient set per synapse, and the soft-bound Hebbian rule of Karageorgiou Kaneen et al. (2020).

Karageorgiou Kaneen, Jones, Chavlis, Körding & Poirazi, "Meta-learning synaptic
plasticity rules to approximate gradient descent" (NeurIPS 2020 workshop):
every synapse ``(i, j)`` learns with its own coefficients of

.. math:: \Delta w_{ij} = g_{2,ij}\,(1 - w_{ij})\,\langle v_i v_j\rangle - g_{0,ij}\,w_{ij} + b_{ij}

(``v_i`` postsynaptic, ``v_j`` presynaptic, ``<.>`` the batch mean).
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp

from plastix.rules._base import Local, Rule
from plastix.rules._polynomial import SIDES

SOFT_BOUND_NAMES = ("g2", "g0", "b")
PARAMETRISATIONS = ("free", "mean_deviation")


def soft_bound_hebb(init_mean=(0.0, 0.0, 0.0), init_std: float = 0.1) -> Rule:
    r"""``dw_ij = g2 (1 - w_ij) <v_i v_j> - g0 w_ij + b``: Hebbian growth that saturates at ``w = 1``,
    weight decay and a constant drift (Karageorgiou Kaneen et al. 2020, Eq. 1).

    Theta is ``[g2, g0, b]``, or per synapse ``[post, pre, 3]`` (the rule is
    elementwise in its coefficients, see :func:`per_synapse`). With ``g2 = 0``
    every synapse relaxes to ``w = b / g0``, so per-synapse coefficients can
    store a fixed weight matrix: a per-synapse rule can encode what episodes
    share, never what differs between them.

    Args:
        init_mean: mean of ``init_theta``'s draw of ``(g2, g0, b)``.
        init_std: ``init_theta`` draws ``N(init_mean, init_std^2)``.
    """
    mean = jnp.asarray(init_mean, jnp.float32)
    if mean.shape != (3,):
        raise ValueError(f"init_mean needs the 3 coefficients (g2, g0, b), got {init_mean}")

    def init_theta(key):
        return mean + init_std * jax.random.normal(key, (3,))

    def init_state(w):
        return ()

    def update(theta, local, state):
        w = local["w"]
        # One sample a step without a batch axis ([pre], a spiking network's step) is a batch of one.
        x, y = (jnp.atleast_2d(jnp.asarray(local[k], w.dtype)) for k in ("pre", "post"))
        hebb = y.T @ x / x.shape[0]  # <v_i v_j> over the batch, [post, pre]
        g2, g0, b = theta[..., 0], theta[..., 1], theta[..., 2]
        return g2 * (1 - w) * hebb - g0 * w + b, state

    symbols = {"pre": "v_j", "post": "v_i", "w": "w"}
    return Rule(init_theta, init_state, update, SOFT_BOUND_NAMES, ("pre", "post", "w"), symbols, True)


def per_synapse(
    rule: Rule,
    shape: tuple[int, int],
    parametrisation: Literal["free", "mean_deviation"] = "free",
    deviation_penalty: float = 0.0,
    init_spread: float = 0.0,
) -> Rule:
    r"""``rule`` with its own coefficients at every synapse of a ``[post, pre]`` projection.

    The coefficients of synapse ``(i, j)`` are ``c_ij = theta[i, j]`` (``free``:
    ``theta`` is ``[post, pre, k]``) or ``c_ij = mean + deviation[i, j]``
    (``mean_deviation``: ``theta = {"mean": [k], "deviation": [post, pre, k]}``),
    and synapse ``(i, j)`` changes by ``rule``'s update with ``c_ij`` on its own
    local signals. With ``mean_deviation`` the meta-loss adds

    .. math:: \lambda\, \frac{1}{MN} \sum_{ij} \lVert \delta_{ij} \rVert^2

    (``lambda = deviation_penalty``), which controls how far the synapses may
    stray from the shared mean: ``lambda -> inf`` is the shared rule.

    An ``elementwise`` rule (:func:`soft_bound_hebb`) takes the ``[post, pre, k]``
    coefficients directly; any other rule is vmapped over synapses, each call
    seeing its presynaptic column, postsynaptic row and weight (shapes
    ``[batch, 1]`` and ``[1, 1]``), and each synapse keeps its own rule state.
    With equal coefficients at every synapse it is ``rule`` itself.

    Args:
        rule: the shared rule; its ``local`` signals must be of a side of
            :data:`plastix.rules.SIDES`.
        shape: ``(post, pre)`` of the projection's ``w``.
        parametrisation: ``"free"`` or ``"mean_deviation"``.
        deviation_penalty: ``lambda`` above (``mean_deviation`` only).
        init_spread: ``init_theta`` adds ``N(0, init_spread^2)`` per synapse to
            ``rule.init_theta`` (0: every synapse starts as one shared rule).
    """
    if parametrisation not in PARAMETRISATIONS:
        raise ValueError(f"unknown parametrisation {parametrisation!r}; allowed: {list(PARAMETRISATIONS)}")
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape must be (post, pre) >= 1, got {shape}")
    if deviation_penalty < 0 or init_spread < 0:
        raise ValueError("deviation_penalty and init_spread must be >= 0")
    if deviation_penalty and parametrisation != "mean_deviation":
        raise ValueError("deviation_penalty needs parametrisation = 'mean_deviation'")
    shape = tuple(int(s) for s in shape)
    k = rule.size

    def synapses(theta):
        if parametrisation == "free":
            return theta
        return theta["mean"] + theta["deviation"]

    def init_theta(key):
        k_rule, k_spread = jax.random.split(key)
        base = rule.init_theta(k_rule)
        spread = init_spread * jax.random.normal(k_spread, (*shape, k), base.dtype)
        if parametrisation == "free":
            return jnp.broadcast_to(base, (*shape, k)) + spread
        return {"mean": base, "deviation": spread}

    def cell_local(local: Local, i, j) -> Local:
        # The signals synapse (i, j) sees; kept 2-D so the shared rule runs unchanged.
        out = {}
        for name, v in local.items():
            side = SIDES.get(name)
            if side is None:
                raise ValueError(f"per_synapse: local signal {name!r} has no side in plastix.rules.SIDES")
            out[name] = (
                v[:, j, None] if side == "pre" else v[:, i, None] if side == "post" else v[i, j][None, None]
            )
        return out

    def init_state(w):
        if rule.elementwise:
            return rule.init_state(w)
        cells = jax.vmap(jax.vmap(lambda wij: rule.init_state(wij[None, None])))
        return cells(w)

    def update(theta, local, state):
        c = synapses(theta)
        if rule.elementwise:
            return rule.update(c, local, state)

        def cell(c_ij, i, j, st):
            dw, st = rule.update(c_ij, cell_local(local, i, j), st)
            return dw[0, 0], st

        ii, jj = jnp.meshgrid(jnp.arange(shape[0]), jnp.arange(shape[1]), indexing="ij")
        return jax.vmap(jax.vmap(cell))(c, ii, jj, state)

    penalty = None
    if deviation_penalty > 0:

        def penalty(theta):
            return deviation_penalty * jnp.mean(jnp.sum(theta["deviation"] ** 2, axis=-1))

    return Rule(
        init_theta,
        init_state,
        update,
        rule.names,
        rule.needs,
        rule.symbols,
        rule.elementwise,
        penalty,
        synapses,
    )
