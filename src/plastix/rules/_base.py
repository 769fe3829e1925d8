"""The rule interface: a NamedTuple of pure functions (optax style)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array
Theta = Any  # one rule's coefficients: an array, or a pytree of them; last axis indexes `Rule.names`
Local = Mapping[str, Array]  # local signals at the synapse: pre, post, w, error, ...
RuleState = Any  # traces; () for memoryless rate rules


class Rule(NamedTuple):
    """A parametrised plasticity rule ``dw = F(local; theta)``.

    Attributes:
        init_theta: ``key -> theta``, a random starting point for the outer loop.
        init_state: ``w -> state``, the rule's own state (eligibility traces, ...).
        update: ``(theta, local, state) -> (dw, state)``. ``dw`` has the shape of
            ``local["w"]`` and is the change *before* the network's learning rate.
        names: one name per coefficient, in the order of theta's last axis.
        needs: keys of ``local`` that ``update`` reads.
        symbols: how the printer writes each variable (``{"pre": "x", ...}``).
        elementwise: ``update`` also takes ``theta`` of shape ``w.shape + (size,)``
            and applies coefficients ``theta[i, j]`` at synapse ``(i, j)``
            (:func:`plastix.rules.per_synapse` then needs no per-synapse vmap).
        penalty: ``theta -> scalar``, a prior the meta-loss adds (e.g. on
            per-synapse deviations), or ``None``.
        synapses: ``theta -> [post, pre, size]``, the coefficients of every
            synapse, for rules with a coefficient set per synapse; ``None`` for
            a shared rule (theta ``[size]``).
        bounds: ``(lower, upper)``, each ``[size]``: the box theta's coefficients
            live in. ``update`` clips theta into it (so any theta runs), outer
            loops that can keep their search inside it (finite differences
            project onto it), and :func:`project` gives the rule as applied.
            ``None``: unbounded.
    """

    init_theta: Callable[[Array], Theta]
    init_state: Callable[[Array], RuleState]
    update: Callable[[Theta, Local, RuleState], tuple[Array, RuleState]]
    names: tuple[str, ...]
    needs: tuple[str, ...]
    symbols: Mapping[str, str]
    elementwise: bool = False
    penalty: Callable[[Theta], Array] | None = None
    synapses: Callable[[Theta], Array] | None = None
    bounds: tuple[Array, Array] | None = None

    @property
    def size(self) -> int:
        return len(self.names)


def project(rule: Rule, theta: Theta) -> Theta:
    """Theta as ``rule`` applies it: clipped into ``rule.bounds`` (unchanged without bounds)."""
    if rule.bounds is None:
        return theta
    lo, hi = rule.bounds
    return jax.tree.map(lambda t: jnp.clip(t, jnp.asarray(lo, t.dtype), jnp.asarray(hi, t.dtype)), theta)
