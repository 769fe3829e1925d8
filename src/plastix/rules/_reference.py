"""Named reference rules, as plain theta values of the rule families.

Because a reference rule is a point in the same coefficient space as the
learned rule, "distance to Oja" is simply an angle between two vectors
(:func:`plastix.analysis.angle`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import jax.numpy as jnp
import numpy as np

from plastix.rules._base import Rule
from plastix.rules._polynomial import polynomial
from plastix.rules._spike_trace import vogels_istdp
from plastix.rules._term_library import term_library

Term = tuple[Mapping[str, int], float]


def from_terms(rule: Rule, terms: Sequence[Term]) -> jnp.ndarray:
    """Theta of a polynomial ``rule`` with the given monomials, zero elsewhere.

    Args:
        rule: a rule made by :func:`plastix.rules.polynomial`.
        terms: ``(exponents, coefficient)`` pairs, e.g. ``({"pre": 1, "post": 1}, 1.0)``.
    """
    theta = np.zeros(rule.size, np.float32)
    for exps, value in terms:
        missing = set(exps) - set(rule.needs)
        if missing:
            raise ValueError(f"rule has no variable(s) {sorted(missing)}; it has {rule.needs}")
        name = "".join(str(exps.get(v, 0)) for v in rule.needs)
        if name not in rule.names:
            raise ValueError(f"monomial {dict(exps)} exceeds the rule's order")
        theta[rule.names.index(name)] = value
    return jnp.asarray(theta)


def oja(rule: Rule | None = None) -> jnp.ndarray:
    """Oja's rule ``dw = y x - y^2 w`` (Oja 1982): ``A_110 = 1, A_021 = -1``."""
    return from_terms(rule or polynomial(), [({"pre": 1, "post": 1}, 1.0), ({"post": 2, "w": 1}, -1.0)])


def anti_hebbian(rule: Rule | None = None) -> jnp.ndarray:
    """Anti-Hebbian lateral rule ``dl_ij = -y_i y_j`` (Foldiak 1989): ``B_110 = -1``."""
    return from_terms(rule or polynomial(), [({"pre": 1, "post": 1}, -1.0)])


def hebb(rule: Rule | None = None) -> jnp.ndarray:
    """Plain Hebb ``dw = y x`` (Hebb 1949): ``A_110 = 1``."""
    return from_terms(rule or polynomial(), [({"pre": 1, "post": 1}, 1.0)])


def pseudo_gradient(rule: Rule | None = None) -> jnp.ndarray:
    """The pseudo-gradient alone, ``dW_l = -e_l y_{l-1}^T`` (``F_1`` of :func:`term_library`).

    With symmetric feedback this is backprop; with per-layer coefficients, ``F_1`` in every layer.
    """
    rule = rule or term_library()
    if not any(n.startswith("pseudo_grad") for n in rule.names):
        raise ValueError("the rule has no pseudo_grad term")
    return jnp.asarray([1.0 if n.startswith("pseudo_grad") else 0.0 for n in rule.names])


def vogels(rule: Rule | None = None) -> jnp.ndarray:
    """Vogels et al. (2011) inhibitory STDP with its published constants (:func:`vogels_istdp`)."""
    return vogels_istdp()


REFERENCES: dict[str, Callable[[Rule | None], jnp.ndarray]] = {
    "oja": oja,
    "anti_hebbian": anti_hebbian,
    "hebb": hebb,
    "vogels_istdp": vogels,
    "pseudo_gradient": pseudo_gradient,
}
