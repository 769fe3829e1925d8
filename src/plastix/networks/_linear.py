"""Linear rate networks with optional hierarchical lateral connections."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from plastix.networks._base import NetState, Network


def effective_weights(state: NetState) -> jax.Array:
    """The map ``x -> y`` the network computes, ``(I - L)^{-1} W``, ``[out, in]``.

    ``L`` is strictly lower triangular, hence nilpotent (``L^M = 0``), so
    ``(I - L)^{-1} W = sum_{k<M} L^k W`` holds exactly; Horner's scheme takes
    ``M - 1`` small products, which vectorise far better over a population
    than a batched triangular solve.
    """
    w = state.w["ff"]
    if "lateral" not in state.w:
        return w
    lat = state.w["lateral"]
    out = w
    for _ in range(w.shape[0] - 1):
        out = w + lat @ out
    return out


def linear(
    n_in: int,
    n_out: int = 1,
    lateral: bool = False,
    eta: float = 1 / 20,
    eta_lateral: float = 1 / 10,
    init_scale: float = 0.1,
    w_max: float = 100.0,
) -> Network:
    r"""Linear rate network ``y = W x + L y`` trained by batch-mean updates.

    ``L`` is strictly lower triangular (output ``i`` hears outputs ``j < i``,
    the hierarchical scheme of Rubner & Tavan 1989 / Sanger 1989), so
    ``y = (I - L)^{-1} W x`` is solved exactly (:func:`effective_weights`). Updates
    are ``W += eta * dW`` and ``L += eta_lateral * dL`` (``dL`` masked to the
    lower triangle). Weights are clipped to ``[-w_max, w_max]`` so that an
    exploding candidate rule stays finite; reaching the bound marks the run
    unstable.

    Args:
        n_in: number of inputs ``N``.
        n_out: number of outputs ``M``.
        lateral: add the plastic lateral projection ``"lateral"``.
        eta: feedforward learning rate.
        eta_lateral: lateral learning rate.
        init_scale: ``W_0 ~ N(0, init_scale^2 / N)``; ``L_0 = 0``.
        w_max: weight bound beyond which a rule counts as unstable.
    """
    if n_in < 1 or n_out < 1:
        raise ValueError(f"n_in and n_out must be >= 1, got {n_in}, {n_out}")
    if n_out > n_in:
        raise ValueError(f"n_out ({n_out}) must not exceed n_in ({n_in})")
    mask = jnp.tril(jnp.ones((n_out, n_out)), k=-1)
    plastic = ("ff", "lateral") if lateral else ("ff",)

    def init(key):
        w = init_scale / jnp.sqrt(n_in) * jax.random.normal(key, (n_out, n_in))
        ws = {"ff": w}
        if lateral:
            ws["lateral"] = jnp.zeros((n_out, n_out), w.dtype)
        return NetState(ws)

    def step(state, x):
        # x: [batch, n_in] -> y: [batch, n_out]; with lateral connections the
        # exact solution of y = W x + L y, via the [out, in] effective map.
        y = x @ effective_weights(state).T
        local = {"ff": {"pre": x, "post": y, "w": state.w["ff"]}}
        if lateral:
            local["lateral"] = {"pre": y, "post": y, "w": state.w["lateral"]}
        return state, y, local

    def apply(state, dw):
        rates = {"ff": eta, "lateral": eta_lateral}
        ws = {}
        for name, w in state.w.items():
            d = rates[name] * dw[name]
            if name == "lateral":
                d = d * mask.astype(d.dtype)
            # nan_to_num keeps a diverging candidate finite (and flagged by `unstable`).
            ws[name] = jnp.clip(jnp.nan_to_num(w + d, nan=w_max), -w_max, w_max)
        return state._replace(w=ws)

    def unstable(state):
        return jnp.any(jnp.stack([jnp.max(jnp.abs(w)) >= w_max for w in state.w.values()]))

    return Network(init, step, apply, unstable, plastic)
