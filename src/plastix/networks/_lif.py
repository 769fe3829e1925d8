"""One conductance-based leaky integrate-and-fire neuron with plastic inhibition."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from plastix.networks._base import NetState, Network

# Vogels, Sprekeler, Zenke, Clopath & Gerstner (Science 2011), SOM "single cell
# model". Voltages in mV, times in seconds, conductances in units of g_leak.
VOGELS_2011 = {
    "tau_m": 20e-3,  # membrane time constant, s
    "v_rest": -60.0,  # resting potential, mV
    "e_exc": 0.0,  # excitatory reversal potential, mV
    "e_inh": -80.0,  # inhibitory reversal potential, mV
    "g_leak": 10.0,  # leak conductance, nS (only sets the unit of gE, gI)
    "gbar_exc": 0.014,  # excitatory conductance per unit weight, in g_leak (0.14 nS)
    "gbar_inh": 0.035,  # inhibitory conductance per unit weight, in g_leak (0.35 nS)
    "tau_exc": 5e-3,  # excitatory synaptic time constant, s
    "tau_inh": 10e-3,  # inhibitory synaptic time constant, s
    "v_th": -50.0,  # spike threshold, mV
    "v_reset": -60.0,  # reset potential, mV
    "t_ref": 5e-3,  # absolute refractory period, s
}


def afferent_groups(n_exc: int = 800, n_inh: int = 200, n_groups: int = 8) -> np.ndarray:
    """Input group (0-based) of each afferent: excitatory ones first, then inhibitory.

    Group ``g`` holds excitatory afferents ``g*n_exc/G ... (g+1)*n_exc/G - 1`` and
    inhibitory afferents ``n_exc + g*n_inh/G ...``.
    """
    if n_exc % n_groups or n_inh % n_groups:
        raise ValueError(f"n_exc ({n_exc}) and n_inh ({n_inh}) must be multiples of n_groups ({n_groups})")
    return np.concatenate([np.arange(n_exc) * n_groups // n_exc, np.arange(n_inh) * n_groups // n_inh])


def excitatory_tuning(groups: jax.Array, preferred: float = 5.0) -> jax.Array:
    r"""Vogels' excitatory tuning curve without noise: ``0.3 + 1.1 / (1 + (G - P)^4)``.

    ``G`` is the 1-based group number. Confavreux et al. (2020) print
    ``(1 + (G - P))^4`` in the denominator, a misprint (it is no tuning curve
    and divides by zero at ``G = P - 1``); Vogels et al. (2011, SOM) use
    ``1 + (G - P)^4``, which we follow.
    """
    return 0.3 + 1.1 / (1.0 + (groups - preferred) ** 4)


def lif(
    n_exc: int = 800,
    n_inh: int = 200,
    n_groups: int = 8,
    dt: float = 1e-4,
    preferred: float = 5.0,
    w_exc_noise: float = 0.1,
    w_inh_init: float = 0.1,
    w_inh_max: float = 100.0,
    lr: float = 1.0,
    **params: float,
) -> Network:
    r"""One conductance-based LIF neuron driven by grouped excitatory and inhibitory afferents.

    .. math::
        \tau_m \dot V &= -(V - V_{rest}) - g_E (V - E_E) - g_I (V - E_I) \\
        \dot g_E &= -g_E / \tau_E + \bar g_E \sum_k w^E_k S_k(t), \qquad
        \dot g_I = -g_I / \tau_I + \bar g_I \sum_k w^I_k(t) S_k(t)

    with conductances in units of ``g_leak``; spike when ``V > v_th`` (and not
    refractory), then ``V = v_reset`` held for ``t_ref``. Defaults are the
    single-cell values of Vogels et al. (Science 2011, SOM), :data:`VOGELS_2011`;
    override any of them by keyword (``tau_m=0.01``).

    Integration, per step of ``dt`` seconds, in Brian2's default order
    (state update, threshold, synaptic events, reset):

    1. *exponential Euler*: with ``g_E, g_I`` frozen over the step, ``V`` relaxes
       exactly towards ``V_inf = (V_rest + g_E E_E + g_I E_I) / (1 + g_E + g_I)``
       with time constant ``tau_m / (1 + g_E + g_I)``; the conductances decay
       exactly (``g *= exp(-dt / tau)``). This is Brian2's ``exponential_euler``;
       it is first-order accurate in ``dt`` for the coupled system but
       unconditionally stable, so a huge inhibitory conductance cannot blow up.
       ``V`` is not integrated while refractory. Measured against a 10x finer
       step on identical input (``tests/networks/test_lif.py``): max
       ``|V - V_ref|`` = 0.12 mV at ``dt`` = 0.1 ms, halving with ``dt``;
       with float64 it matches Brian2 spike count for spike count
       (``tests/networks/test_lif_brian2.py``);
    2. spike if ``V > v_th`` and not refractory;
    3. the afferent spikes of this step (``x``) increment ``g_E`` and ``g_I``;
    4. a spiking neuron is reset to ``v_reset`` and stays there ``t_ref``
       (``round(t_ref / dt) - 1`` further steps, as Brian2).

    Afferents: ``x`` is ``[n_exc + n_inh]`` spikes (0/1), excitatory first,
    ``n_exc / n_groups`` and ``n_inh / n_groups`` per group
    (:func:`afferent_groups`). Excitatory weights are fixed,
    ``w^E_k = 0.3 + 1.1 / (1 + (G_k - P)^4) + eps_k``, ``eps_k ~ U(0, w_exc_noise)``,
    ``G_k`` the 1-based group and ``P = preferred`` (:func:`excitatory_tuning`);
    they are drawn in ``init`` from its key. Inhibitory weights ``w^I``
    (``state.w["inh"]``, ``[1, n_inh]``, units of ``gbar_inh``) are plastic,
    start at ``w_inh_init`` and are kept in ``[0, w_inh_max]``; reaching the
    upper bound marks the run unstable.

    ``state.aux`` holds ``v`` (mV), ``ge``, ``gi`` (``[1]``), ``ref`` (refractory
    steps left), ``w_exc`` (``[n_exc]``), ``t`` (step counter) and ``n_spikes``
    (all spikes). The step's output is the spike, ``[1]``; a task that scores
    spike counts per bin records them (:func:`plastix.tasks.spike_counts`).

    Args:
        n_exc, n_inh, n_groups: afferent counts and groups.
        dt: time step, seconds.
        preferred: preferred group ``P`` of the excitatory tuning (1-based).
        w_exc_noise: width of the uniform noise on excitatory weights.
        w_inh_init: initial inhibitory weight (weak).
        w_inh_max: inhibitory weight bound.
        lr: ``apply`` adds ``lr * dw`` (the rule's coefficients already carry
            the learning rate of a spike rule, hence 1).
        **params: overrides of :data:`VOGELS_2011`.
    """
    unknown = set(params) - set(VOGELS_2011)
    if unknown:
        raise ValueError(f"unknown LIF parameter(s) {sorted(unknown)}; allowed: {sorted(VOGELS_2011)}")
    if not dt > 0:
        raise ValueError(f"need dt > 0, got {dt}")
    p = {**VOGELS_2011, **params}
    groups = afferent_groups(n_exc, n_inh, n_groups)
    n_ref = max(round(p["t_ref"] / dt), 1)
    decay_e = math.exp(-dt / p["tau_exc"])
    decay_i = math.exp(-dt / p["tau_inh"])

    def init(key):
        dtype = jnp.asarray(0.0).dtype  # float32, or float64 under jax_enable_x64
        g = jnp.asarray(groups[:n_exc] + 1, dtype)
        w_exc = excitatory_tuning(g, preferred) + jax.random.uniform(key, (n_exc,), dtype, 0.0, w_exc_noise)
        zero = jnp.zeros((1,), dtype)
        aux = {
            "v": zero + p["v_rest"],
            "ge": zero,
            "gi": zero,
            "ref": jnp.zeros((1,), jnp.int32),
            "w_exc": w_exc,
            "t": jnp.zeros((), jnp.int32),
            "n_spikes": jnp.zeros((), dtype),
        }
        return NetState({"inh": jnp.full((1, n_inh), w_inh_init, dtype)}, aux)

    def step(state, x):
        a = state.aux
        w_inh = state.w["inh"]
        x = jnp.asarray(x, a["v"].dtype)
        x_exc, x_inh = x[:n_exc], x[n_exc:]
        v, ge, gi, ref = a["v"], a["ge"], a["gi"], a["ref"]
        # 1. state update: exponential Euler for V, exact decay for g.
        g_tot = 1.0 + ge + gi
        v_inf = (p["v_rest"] + ge * p["e_exc"] + gi * p["e_inh"]) / g_tot
        refractory = ref > 0
        v = jnp.where(refractory, v, v_inf + (v - v_inf) * jnp.exp(-dt / p["tau_m"] * g_tot))
        ge, gi = ge * decay_e, gi * decay_i
        # 2. threshold; 3. synaptic events of this step; 4. reset.
        spike = (v > p["v_th"]) & ~refractory
        ge = ge + p["gbar_exc"] * jnp.dot(a["w_exc"], x_exc)
        gi = gi + p["gbar_inh"] * (w_inh @ x_inh)
        v = jnp.where(spike, p["v_reset"], v)
        ref = jnp.where(spike, n_ref - 1, jnp.maximum(ref - 1, 0))
        s = spike.astype(v.dtype)
        aux = {
            **a,
            "v": v,
            "ge": ge,
            "gi": gi,
            "ref": ref,
            "t": a["t"] + 1,
            "n_spikes": a["n_spikes"] + s[0],
        }
        local = {"inh": {"pre": x_inh, "post": s, "w": w_inh, "dt": dt}}
        return state._replace(aux=aux), s, local

    def apply(state, dw):
        w = state.w["inh"]
        new = jnp.nan_to_num(w + lr * dw["inh"], nan=w_inh_max, posinf=w_inh_max, neginf=0.0)
        return state._replace(w={"inh": jnp.clip(new, 0.0, w_inh_max)})

    def unstable(state):
        a = state.aux
        finite = jnp.all(jnp.isfinite(jnp.concatenate([a["v"], a["ge"], a["gi"], state.w["inh"].ravel()])))
        return ~finite | (jnp.max(state.w["inh"]) >= w_inh_max)

    return Network(init, step, apply, unstable, ("inh",))
