"""Symbolic printing of learned rules: polynomial, spike-trace, and any rule by its term names."""

from __future__ import annotations

import numpy as np

from plastix.rules._base import Rule, summarise

_SUPERSCRIPT = {2: "²", 3: "³", 4: "⁴", 5: "⁵", 6: "⁶", 7: "⁷", 8: "⁸", 9: "⁹"}


def monomial(rule: Rule, name: str) -> str:
    """The term of coefficient ``name``, as the printer writes it.

    A polynomial rule names a coefficient by its exponents, one digit per variable of
    ``rule.needs`` (``"021"``), printed as the monomial (``y²·w``); any other rule's
    coefficient is printed by its own name (``"hebb"``, ``"g2"``), so that every rule prints.
    """
    if not (len(name) == len(rule.needs) and name.isascii() and name.isdigit()):
        return name
    parts = []
    for var, e in zip(rule.needs, name, strict=True):
        e = int(e)
        if e:
            parts.append(rule.symbols.get(var, var) + _SUPERSCRIPT.get(e, "" if e == 1 else f"^{e}"))
    return "·".join(parts) or "1"


def _coefficients(theta, rule: Rule) -> np.ndarray:
    """One number per name of ``rule.names``: theta itself for a rule with one coefficient vector,
    else its summary (:func:`plastix.rules.summarise`: per-synapse means, an MLP's norms)."""
    if rule.synapses is None and rule.summary is None:
        c = np.asarray(theta, np.float64).ravel()
        if c.size != rule.size:
            raise ValueError(f"theta has {c.size} coefficients, the rule {rule.size}")
        return c
    numbers = summarise(rule, theta)
    return np.array([numbers[n] for n in rule.names], np.float64)


def pretty(theta, rule: Rule, threshold: float = 0.05, lhs: str = "dw", scale: str = "eta") -> str:
    """Print a rule as an equation, e.g. ``dw = eta (0.99 x·y − 1.01 y²·w)``.

    Coefficients smaller than ``threshold`` times the largest one are dropped;
    terms are ordered by decreasing magnitude. A polynomial rule's terms are its
    monomials; any other rule's are its coefficient names (:func:`monomial`), e.g.
    ``dw = eta (0.9 hebb − 0.2 decay)``, and a rule with a coefficient set per synapse
    or a summary prints its summary numbers (the per-synapse means).
    """
    c = _coefficients(theta, rule)
    big = np.max(np.abs(c)) if c.size else 0.0
    keep = [i for i in np.argsort(-np.abs(c), kind="stable") if big > 0 and abs(c[i]) >= threshold * big]
    if not keep:
        return f"{lhs} = 0"
    terms = []
    for n, i in enumerate(keep):
        mono = monomial(rule, rule.names[i])
        body = f"{abs(c[i]):.3g}" + ("" if mono == "1" else f" {mono}")
        sign = "−" if c[i] < 0 else "+"
        terms.append(("−" if sign == "−" else "") + body if n == 0 else f" {sign} {body}")
    return f"{lhs} = {scale} ({''.join(terms)})"


def pretty_spike_trace(theta, tau_min: float = 0.0, tau_max: float = np.inf) -> str:
    """Print a :func:`plastix.rules.spike_trace` theta as its equation, time constants in ms.

    ``dw/dt = alpha S_j + beta S_i + gamma x_j S_i + kappa x_i S_j`` (Eq. 17 of
    Confavreux et al. 2020), e.g. ``dw/dt = -0.001 S_j + 0.002 S_i + ...
    (tau_pre = 20 ms, tau_post = 20 ms)``. The time constants are printed as
    the rule uses them, clipped to ``[tau_min, tau_max]`` (seconds).
    """
    a, b, g, k, tp, tq = (float(x) for x in np.asarray(theta).ravel())
    tp, tq = (float(np.clip(x, tau_min, tau_max)) for x in (tp, tq))
    terms = " ".join(
        f"{'-' if c < 0 else '+'} {abs(c):.3g} {t}"
        for c, t in ((a, "S_j"), (b, "S_i"), (g, "x_j S_i"), (k, "x_i S_j"))
    )
    terms = terms[2:] if terms.startswith("+") else "-" + terms[2:]
    return f"dw/dt = {terms}  (tau_pre = {1e3 * tp:.3g} ms, tau_post = {1e3 * tq:.3g} ms)"
