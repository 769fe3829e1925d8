"""Pair-based spike-timing rules written with exponential traces."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from plastix.rules._base import Rule

SPIKE_TRACE_NAMES = ("alpha", "beta", "gamma", "kappa", "tau_pre", "tau_post")


def _tau(tau, tau_min, tau_max):
    # Any theta is safe: NaN -> tau_min, and the clip keeps exp(-dt / tau) in (0, 1].
    return jnp.clip(jnp.nan_to_num(tau, nan=tau_min), tau_min, tau_max)


def spike_trace(tau_min: float = 1e-4, tau_max: float = 10.0, init_std: float = 1e-3) -> Rule:
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

    Args:
        tau_min: smallest time constant, seconds.
        tau_max: largest time constant, seconds.
        init_std: ``init_theta`` draws the four coefficients from ``N(0, init_std^2)``
            and both time constants log-uniformly from ``[5 ms, 50 ms]``.
    """

    def init_theta(key):
        k1, k2 = jax.random.split(key)
        coef = init_std * jax.random.normal(k1, (4,))
        taus = jnp.exp(jax.random.uniform(k2, (2,), minval=jnp.log(5e-3), maxval=jnp.log(5e-2)))
        return jnp.concatenate([coef, taus])

    def init_state(w):
        return (jnp.zeros(w.shape[-1], w.dtype), jnp.zeros(w.shape[-2], w.dtype))

    def update(theta, local, state):
        alpha, beta, gamma, kappa = theta[0], theta[1], theta[2], theta[3]
        tau_pre = _tau(theta[4], tau_min, tau_max)
        tau_post = _tau(theta[5], tau_min, tau_max)
        x_pre, x_post = state
        dt = local["dt"]
        s_pre = jnp.asarray(local["pre"], x_pre.dtype)
        s_post = jnp.asarray(local["post"], x_post.dtype)
        x_pre = x_pre * jnp.exp(-dt / tau_pre) + s_pre
        x_post_old = x_post * jnp.exp(-dt / tau_post)
        x_post = x_post_old + s_post
        dw = (alpha + kappa * x_post_old)[:, None] * s_pre[None, :] + s_post[:, None] * (
            beta + gamma * x_pre
        )[None, :]
        return dw.astype(local["w"].dtype), (x_pre, x_post)

    symbols = {"pre": "S_j", "post": "S_i", "pre_trace": "x_j", "post_trace": "x_i"}
    return Rule(init_theta, init_state, update, SPIKE_TRACE_NAMES, ("pre", "post", "w", "dt"), symbols)


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
