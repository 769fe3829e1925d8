"""Polynomial (Volterra / Taylor) rules, evaluated from batch moments."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from plastix.rules._base import Local, Rule

# Which side of the synapse a variable lives on. Presynaptic signals are
# [batch, pre], postsynaptic ones [batch, post], synaptic ones [post, pre].
SIDES = {
    "pre": "pre",
    "pre_trace": "pre",
    "post": "post",
    "post_trace": "post",
    "post_free": "post",
    "error": "post",
    "w": "syn",
}
DEFAULT_SYMBOLS = {
    "pre": "x",
    "pre_trace": "x̄",
    "post": "y",
    "post_trace": "ȳ",
    "post_free": "y°",
    "error": "e",
    "w": "w",
}


def _monomials(local: Local, variables: Sequence[str], order: int) -> list[jax.Array]:
    """Every monomial ``prod_v local[v]**e_v`` with ``0 <= e_v <= order``.

    The exponents run in ``itertools.product`` order, the same as theta's; the
    first entry is the constant monomial, returned as the scalar ``1``.
    """
    powers = []
    for v in variables:
        p = [None, local[v]]
        for _ in range(order - 1):
            p.append(p[-1] * local[v])  # repeated products: exact and cheap
        powers.append(p)
    out = []
    for exps in itertools.product(range(order + 1), repeat=len(variables)):
        factors = [powers[i][e] for i, e in enumerate(exps) if e > 0]
        m = factors[0] if factors else 1.0
        for f in factors[1:]:
            m = m * f
        out.append(m)
    return out


def _batched(v, dtype) -> jax.Array:
    v = jnp.asarray(v, dtype)
    return v if v.ndim == 2 else v[None]


def polynomial(
    order: int = 2,
    variables: Sequence[str] = ("pre", "post", "w"),
    symbols: dict[str, str] | None = None,
    init_std: float = 0.1,
) -> Rule:
    r"""Polynomial rule over local variables, one coefficient per monomial.

    .. math:: \Delta w_{ij} = \big\langle \sum_{a,b,c} A_{abc}\,
              x_j^a\, y_i^b\, w_{ij}^c \big\rangle_{batch}

    with powers ``0..order`` of each variable (Eq. (3) of Confavreux et al.,
    NeurIPS 2020; 27 coefficients for three variables of order 2). The
    coefficient for exponents ``(a, b, c)`` of ``variables`` sits at index
    ``sum_k e_k (order+1)**(n-1-k)`` of theta and is named ``"abc"``.

    ``local[v]`` carries a leading batch axis for pre/post variables
    (``[batch, pre]`` / ``[batch, post]``) and ``w`` is ``[post, pre]``. The
    batch mean is computed from moments: every mean ``<y^b x^a>`` comes out of
    one matrix product ``[(post monomials)·post, batch] @ [batch, (pre
    monomials)·pre]``, so no ``[batch, post, pre]`` tensor is ever built.

    Args:
        order: highest power of each variable.
        variables: names of the local signals (keys of :data:`SIDES`).
        symbols: printing symbols, e.g. ``{"pre": "y_j", "post": "y_i"}`` for a
            lateral rule whose presynaptic partner is another output.
        init_std: ``init_theta`` draws ``A ~ N(0, init_std^2)``.
    """
    variables = tuple(variables)
    unknown = [v for v in variables if v not in SIDES]
    if unknown:
        raise ValueError(f"unknown rule variable(s) {unknown}; allowed: {sorted(SIDES)}")
    if len(set(variables)) != len(variables):
        raise ValueError(f"rule variables repeat: {variables}")
    if order < 0:
        raise ValueError(f"order must be >= 0, got {order}")
    sym = {**DEFAULT_SYMBOLS, **(symbols or {})}
    n = len(variables)
    exps = list(itertools.product(range(order + 1), repeat=n))
    names = tuple("".join(str(e) for e in ex) for ex in exps)
    pre_v = tuple(v for v in variables if SIDES[v] == "pre")
    post_v = tuple(v for v in variables if SIDES[v] == "post")
    syn_v = tuple(v for v in variables if SIDES[v] == "syn")
    # Permutation that reorders theta's axes to (pre vars, post vars, syn vars).
    perm = [variables.index(v) for v in pre_v + post_v + syn_v]
    k = order + 1

    def coefficient_tensor(theta):
        a = theta.reshape((k,) * n).transpose(perm)
        return a.reshape(k ** len(pre_v), k ** len(post_v), k ** len(syn_v))

    def init_theta(key):
        return init_std * jax.random.normal(key, (len(names),))

    def init_state(w):
        return ()

    def update(theta, local, state):
        w = local["w"]
        # One sample a step without a batch axis ([pre], a spiking network's step) is a batch of one.
        local = {v: _batched(local[v], w.dtype) if SIDES[v] != "syn" else local[v] for v in variables}
        f = _monomials(local, pre_v, order)  # [1, (B, N), ...]
        g = _monomials(local, post_v, order)  # [1, (B, M), ...]
        s = _monomials(local, syn_v, order)  # [1, (M, N), ...]
        a = coefficient_tensor(theta)
        # Moments <y^b x^a>. Those with a constant factor are plain batch means;
        # the rest come out of one matmul over the batch axis, so no
        # [batch, post, pre] tensor is ever built.
        c = a[0, 0][:, None, None] * jnp.ones_like(w)  # [Ksyn, M, N]
        if len(f) > 1:
            mf = jnp.stack([jnp.mean(x, axis=0) for x in f[1:]])  # [Kpre-1, N]
            c = c + jnp.einsum("ks,kj->sj", a[1:, 0], mf)[:, None, :]
        if len(g) > 1:
            mg = jnp.stack([jnp.mean(y, axis=0) for y in g[1:]])  # [Kpost-1, M]
            c = c + jnp.einsum("ls,li->si", a[0, 1:], mg)[:, :, None]
        if len(f) > 1 and len(g) > 1:
            # One product per presynaptic monomial against all postsynaptic ones:
            # measured 25 % less CPU time than one product of the two stacks,
            # whose stacked [batch, (Kpre-1) N] operand costs a copy per step.
            gg = jnp.stack(g[1:])  # [Kpost-1, B, M]
            moments = jnp.stack([jnp.einsum("lbi,bj->lij", gg, x) for x in f[1:]]) / gg.shape[1]
            c = c + jnp.einsum("kls,klij->sij", a[1:, 1:], moments)
        dw = c[0]
        for k in range(1, len(s)):
            dw = dw + c[k] * s[k]
        return dw, state

    return Rule(init_theta, init_state, update, names, variables, sym)
