"""The rule interface: a NamedTuple of pure functions (optax style)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
Theta = Any  # one rule's coefficients: an array (last axis indexes `Rule.names`), or any pytree
Local = Mapping[str, Array]  # local signals at the synapse: pre, post, w, error, ...
RuleState = Any  # traces; () for memoryless rate rules


class Rule(NamedTuple):
    """A parametrised plasticity rule ``dw = F(local; theta)``.

    Attributes:
        init_theta: ``key -> theta``, a random starting point for the outer loop.
        init_state: ``w -> state``, the rule's own state (eligibility traces, ...).
        update: ``(theta, local, state) -> (dw, state)``. ``dw`` has the shape of
            ``local["w"]`` and is the change *before* the network's learning rate.
        names: one name per coefficient, in the order of theta's last axis; for
            a rule with ``summary``, the names of its summary numbers (``size``
            then counts those, not theta's numbers).
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
        summary: ``theta -> {name: scalar}``, a few numbers that describe theta
            (one ``metrics.csv`` column each), for a rule whose theta is too
            large to list (an MLP's weights); its keys are then ``names``.
            ``None``: each coefficient (:func:`summarise`).
        describe: ``theta -> text``, the rule in words or as an equation;
            ``None``: the generic ``name = value`` list (:func:`describe`).
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
    summary: Callable[[Theta], Mapping[str, Array]] | None = None
    describe: Callable[[Theta], str] | None = None

    @property
    def size(self) -> int:
        return len(self.names)


def coefficients(rule: Rule, theta: Theta) -> np.ndarray:
    """A coefficient-vector rule's theta as ``[synapses, size]`` on the host, in float64: one row for
    a shared rule, one per synapse for a per-synapse rule (:func:`plastix.rules.per_synapse`)."""
    c = theta if rule.synapses is None else rule.synapses(theta)
    return np.asarray(c, np.float64).reshape(-1, rule.size)


def summarise(rule: Rule, theta: Theta) -> dict[str, float]:
    """A few named numbers of theta, in the order of ``rule.names`` (host side, float64):
    ``rule.summary``'s, else each coefficient (for a per-synapse rule its mean over synapses,
    and ``<name>_sd`` its sd)."""
    if rule.summary is not None:
        return {k: float(v) for k, v in rule.summary(theta).items()}
    c = coefficients(rule, theta)
    out = {}
    for k, n in enumerate(rule.names):
        out[n] = float(c[:, k].mean())
        if rule.synapses is not None:
            out[f"{n}_sd"] = float(c[:, k].std())
    return out


def describe(rule: Rule, theta: Theta) -> str:
    """The rule as text: ``rule.describe``'s, else ``name = value`` for each summary number."""
    if rule.describe is not None:
        return rule.describe(theta)
    return ", ".join(f"{n} = {float(v):.3g}" for n, v in summarise(rule, theta).items())


def project(rule: Rule, theta: Theta) -> Theta:
    """Theta as ``rule`` applies it: clipped into ``rule.bounds`` (unchanged without bounds)."""
    if rule.bounds is None:
        return theta
    lo, hi = rule.bounds
    return jax.tree.map(lambda t: jnp.clip(t, jnp.asarray(lo, t.dtype), jnp.asarray(hi, t.dtype)), theta)
