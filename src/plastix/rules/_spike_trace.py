"""Pair-based spike-timing rules written with exponential traces."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from plastix.rules._base import Rule
from plastix.rules._events import on_spikes

SPIKE_TRACE_NAMES = ("alpha", "beta", "gamma", "kappa", "tau_pre", "tau_post")


def _tau(tau, tau_min, tau_max):
    # Any theta is safe: NaN -> tau_min, and the clip keeps exp(-dt / tau) in (0, 1].
    return jnp.clip(jnp.nan_to_num(tau, nan=tau_min), tau_min, tau_max)


def spike_trace_bounds(
    tau_min: float = 1e-4, tau_max: float = 10.0, signs: bool = False, increment_max: float | None = None
) -> tuple[jax.Array, jax.Array]:
    """Lower and upper bounds of :func:`spike_trace`'s theta, ``[6]`` each.

    ``signs`` imposes ``alpha <= 0 <= beta``: with the trace terms small, the
    rate then has a stable fixed point at ``nu_post = -alpha nu_pre / beta``
    (Confavreux et al. 2020, Sec. 3.3). ``increment_max`` bounds all four
    per-spike increments by ``|.| <= increment_max``.
    """
    m = math.inf if increment_max is None else float(increment_max)
    lo = [-m, 0.0 if signs else -m, -m, -m, tau_min, tau_min]
    hi = [0.0 if signs else m, m, m, m, tau_max, tau_max]
    return jnp.asarray(lo, jnp.float32), jnp.asarray(hi, jnp.float32)


def spike_trace(
    tau_min: float = 1e-4,
    tau_max: float = 10.0,
    init_std: float = 1e-3,
    signs: bool = False,
    increment_max: float | None = None,
    l1: float = 0.0,
) -> Rule:
    r"""Spike-timing rule on exponential traces, one coefficient per term.

    .. math:: \frac{dw_{ij}}{dt} = \alpha\, S_j + \beta\, S_i
              + \gamma\, x_j\, S_i + \kappa\, x_i\, S_j,
       \qquad \frac{dx}{dt} = -\frac{x}{\tau} + S

    with presynaptic spike trains ``S_j`` and traces ``x_j`` (time constant
    ``tau_pre``), postsynaptic ``S_i`` and ``x_i`` (``tau_post``); the family of
    Confavreux et al. (NeurIPS 2020, Sec. 3.3). Spike trains are sums of delta
    functions, so every coefficient is a *per-spike increment*:

    * ``alpha``: weight change per presynaptic spike (weight units);
    * ``beta``: weight change per postsynaptic spike (weight units);
    * ``gamma``: per postsynaptic spike, per unit of presynaptic trace;
    * ``kappa``: per presynaptic spike, per unit of postsynaptic trace;
    * ``tau_pre``, ``tau_post``: trace time constants in **seconds**, clipped
      to ``[tau_min, tau_max]`` (a NaN becomes ``tau_min``), so any theta runs.

    Optional constraints (:func:`spike_trace_bounds`, ``Rule.bounds``): with
    ``signs``, ``alpha`` is clipped to ``<= 0`` and ``beta`` to ``>= 0``; with
    ``increment_max``, each increment to ``[-increment_max, increment_max]``.
    ``l1`` adds the prior ``l1 (|alpha| + |beta| + |gamma| + |kappa|)`` to the
    meta-loss (``Rule.penalty``), on the increments only: the time constants
    are not terms of the rule, and an L1 prior on them would only pull both
    to ``tau_min``.

    Traces are dimensionless and jump by 1 per spike. Discretisation (time
    step ``local["dt"]``): each step the traces decay by ``exp(-dt / tau)``
    (exact), then, as in Brian2's default schedule where the presynaptic
    pathway runs before the postsynaptic one, presynaptic spikes are processed
    first:

    1. ``x_j += S_j``; ``dw += (alpha + kappa x_i) S_j`` with ``x_i`` *before*
       this step's postsynaptic spike;
    2. ``x_i += S_i``; ``dw += (beta + gamma x_j) S_i`` with ``x_j`` *after*
       this step's presynaptic spikes.

    ``local`` needs ``"pre"`` (``[n_pre]`` spikes, 0/1, this step), ``"post"``
    (``[n_post]``), ``"w"`` (``[n_post, n_pre]``, for the shape) and ``"dt"``
    (seconds). The state is the pair of traces ``(x_pre [n_pre], x_post [n_post])``.
    ``dw`` is the change in this step, to be added to ``w`` as it is.

    On a sparse projection (``local`` with ``out``, :func:`plastix.networks.recurrent`)
    the same two steps run event-driven (:func:`plastix.rules.on_spikes`) and ``dw`` is
    a :class:`plastix.rules.SynapseDelta`; the state is then traces of ``[n_pre]`` and
    ``[n_post]`` neurons, not of synapses.

    Args:
        tau_min: smallest time constant, seconds.
        tau_max: largest time constant, seconds.
        init_std: ``init_theta`` draws the four coefficients from ``N(0, init_std^2)``
            (with ``signs``: ``alpha = -|.|``, ``beta = |.|``) and both time
            constants log-uniformly from ``[5 ms, 50 ms]``.
        signs: impose ``alpha <= 0 <= beta``.
        increment_max: bound on ``|alpha|, |beta|, |gamma|, |kappa|`` (weight units per spike).
        l1: weight of the L1 prior on the increments (per weight unit).
    """
    if increment_max is not None and not increment_max > 0:
        raise ValueError(f"increment_max must be > 0, got {increment_max}")
    if not l1 >= 0:
        raise ValueError(f"l1 must be >= 0, got {l1}")
    lo, hi = spike_trace_bounds(tau_min, tau_max, signs, increment_max)
    flip = jnp.asarray([-1.0 if signs else 1.0, 1.0], jnp.float32)

    def init_theta(key):
        k1, k2 = jax.random.split(key)
        coef = init_std * jax.random.normal(k1, (4,))
        if signs:  # alpha = -|.|, beta = |.|: a random start inside the constraint
            coef = coef.at[:2].set(flip * jnp.abs(coef[:2]))
        taus = jnp.exp(jax.random.uniform(k2, (2,), minval=jnp.log(5e-3), maxval=jnp.log(5e-2)))
        return jnp.concatenate([coef, taus])

    def init_state(w):
        return (jnp.zeros(w.shape[-1], w.dtype), jnp.zeros(w.shape[-2], w.dtype))

    def update(theta, local, state):
        # Clip the increments into the bounds (no-op when unbounded); NaN stays NaN, and is unstable.
        inc = jnp.clip(theta[:4], lo[:4].astype(theta.dtype), hi[:4].astype(theta.dtype))
        alpha, beta, gamma, kappa = inc[0], inc[1], inc[2], inc[3]
        tau_pre = _tau(theta[4], tau_min, tau_max)
        tau_post = _tau(theta[5], tau_min, tau_max)
        x_pre, x_post = state
        dt = local["dt"]
        s_pre = jnp.asarray(local["pre"], x_pre.dtype)
        s_post = jnp.asarray(local["post"], x_post.dtype)
        x_pre = x_pre * jnp.exp(-dt / tau_pre) + s_pre
        x_post_old = x_post * jnp.exp(-dt / tau_post)
        x_post = x_post_old + s_post
        if "out" in local:  # a sparse projection: only the synapses of neurons that spiked
            delta = on_spikes(
                local,
                lambda xi, w: alpha + kappa * xi,
                lambda xj, w: beta + gamma * xj,
                x_pre,
                x_post_old,
            )
            return delta, (x_pre, x_post)
        dw = (alpha + kappa * x_post_old)[:, None] * s_pre[None, :] + s_post[:, None] * (
            beta + gamma * x_pre
        )[None, :]
        return dw.astype(local["w"].dtype), (x_pre, x_post)

    symbols = {"pre": "S_j", "post": "S_i", "pre_trace": "x_j", "post_trace": "x_i"}

    def penalty(theta):
        return l1 * jnp.sum(jnp.abs(theta[..., :4]))

    return Rule(
        init_theta,
        init_state,
        update,
        SPIKE_TRACE_NAMES,
        ("pre", "post", "w", "dt"),
        symbols,
        penalty=penalty if l1 > 0 else None,
        bounds=(lo, hi),
    )


def vogels_istdp(eta: float = 3e-3, rho0: float = 5.0, tau: float = 0.02) -> jax.Array:
    r"""Theta of :func:`spike_trace` for the inhibitory rule of Vogels et al. (Science 2011).

    Vogels' rule: on a presynaptic (inhibitory) spike ``w += eta (x_post - alpha_V)``,
    on a postsynaptic spike ``w += eta x_pre``, with ``alpha_V = 2 rho0 tau``
    (Eq. (1) of the SOM); traces share one time constant ``tau``. In the
    :func:`spike_trace` family: ``alpha = -2 eta rho0 tau``, ``beta = 0``,
    ``gamma = kappa = eta``, ``tau_pre = tau_post = tau``.

    Args:
        eta: learning rate, weight units per spike pair.
        rho0: target postsynaptic rate, Hz.
        tau: trace time constant, seconds.
    """
    return jnp.array([-2.0 * eta * rho0 * tau, 0.0, eta, eta, tau, tau], jnp.float32)
