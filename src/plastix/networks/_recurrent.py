"""A recurrent network of conductance-based LIF neurons, E and I, with sparse plastic pathways."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from plastix.networks._base import NetState, Network
from plastix.networks._lif import VOGELS_2011

Array = jax.Array

# Pathways are named presynaptic population first: "ie" is I -> E.
PATHWAYS = ("ee", "ei", "ie", "ii")
ENGINES = ("event", "dense")

# Vogels, Sprekeler, Zenke, Clopath & Gerstner (Science 2011), Fig. 4 network, as in the
# authors' re-implementation in Auryn (fzenke/auryn examples/plasticity/sim_isp_orig.cpp)
# and the NEST / PyNN ports (sanjayankur31/VogelsEtAl2011): 8000 E and 2000 I neurons at
# 2 % connectivity, conductance jumps in nS (g_leak = 10 nS), a 200 pA background current
# (20 mV across g_leak) into every neuron, I -> E starting at 0. The Brian2 example
# (brian2 examples/frompapers/Vogels_et_al_2011.py) uses a tenth of these conductances.
VOGELS_2011_NETWORK = {
    "n_exc": 8000,
    "n_inh": 2000,
    "p": 0.02,
    "w": {"ee": 3.0, "ei": 3.0, "ie": 0.0, "ii": 30.0},  # nS
    "i_ext": 20.0,  # mV: 200 pA / 10 nS
}


def binomial_tail(n: int, p: float, tail: float = 1e-12) -> int:
    """Smallest ``m`` with ``P(Binomial(n, p) > m) < tail``.

    The pmf in logs, normalised by its own sum and summed from the top: ``1 - cdf`` would
    lose the tail to the rounding of ``lgamma`` (absolute error ~1e-11 at ``n = 10^4``).
    """
    if p <= 0:
        return 0
    if p >= 1:
        return n
    # Only within 40 sd of the mean (the mass outside is below 1e-300): O(sqrt(n)) numbers.
    mean, sd = n * p, math.sqrt(n * p * (1 - p))
    lo, hi = max(0, math.floor(mean - 40 * sd - 10)), min(n, math.ceil(mean + 40 * sd + 10))
    if hi - lo > 10**6:  # a normal tail past 7.5 sd (< 1e-13); sizes no machine simulates
        return min(n, math.ceil(mean + 7.5 * sd + 1))
    j = np.arange(lo, hi + 1)
    lg = np.array([math.lgamma(x + 1) + math.lgamma(n - x + 1) for x in range(lo, hi + 1)])
    logpmf = math.lgamma(n + 1) - lg + j * math.log(p) + (n - j) * math.log1p(-p)
    pmf = np.exp(logpmf - logpmf.max())
    above = np.cumsum(pmf[::-1])[::-1] / pmf.sum()  # above[m - lo] = P(X >= m)
    over = np.nonzero(np.r_[above[1:], 0.0] < tail)[0]  # P(X > m) = above[m + 1 - lo]
    return int(lo + over[0])


def presynaptic(key: Array, n_post: int, n_pre: int, k: int | None, p: float | None, autapses: bool) -> Array:
    """Each neuron's presynaptic partners in one pathway, ``[n_post, k_max]``, ``n_pre`` where none.

    Fixed in-degree ``k``: ``k`` distinct partners drawn uniformly per postsynaptic
    neuron. Probability ``p``: the in-degree is ``Binomial(n_pre', p)`` and that many
    distinct partners are drawn, which is exactly one Bernoulli(``p``) draw per
    pair (Brian2's ``connect(p=...)``); ``k_max`` is its 1e-12 tail. Without
    ``autapses`` a neuron is not its own partner (``n_pre' = n_pre - 1``).
    Sorted rows, so synapse order does not depend on the draw's internals.
    """
    pool = n_pre if autapses else n_pre - 1
    k_max = k if k is not None else max(binomial_tail(pool, p), 1)
    if k_max > pool:
        raise ValueError(f"in-degree {k_max} exceeds the {pool} possible partners")
    k_deg, k_pick = jax.random.split(key)
    rows = jnp.arange(n_post)

    def pick(kr):
        key, i = kr
        j = jax.random.choice(key, pool, (k_max,), replace=False)
        return j if autapses else j + (j >= i)  # skip i itself

    pre = jax.lax.map(pick, (jax.random.split(k_pick, n_post), rows), batch_size=min(n_post, 256))
    if k is None:
        degree = jax.random.binomial(k_deg, pool, p, (n_post,)).astype(jnp.int32)
        pre = jnp.where(jnp.arange(k_max)[None, :] < degree[:, None], pre, n_pre)
    return jnp.sort(pre, axis=1).astype(jnp.int32)


def outgoing(pre: Array, n_pre: int, d_max: int) -> tuple[Array, Array]:
    """The synapses of each presynaptic neuron, ``[n_pre + 1, d_max]`` flat indices into the
    ``[n_post, k]`` weights (``n_post * k`` where none; the last row is all none), and whether
    some neuron has more than ``d_max`` (those beyond are dropped: the run then stops at once)."""
    n_syn = pre.size
    flat = pre.ravel()
    order = jnp.argsort(flat, stable=True)
    count = jnp.bincount(flat, length=n_pre + 1)[:n_pre]
    start = jnp.cumsum(count) - count
    r = jnp.arange(d_max)
    idx = start[:, None] + r[None, :]
    out = jnp.where(r[None, :] < count[:, None], order[jnp.minimum(idx, n_syn - 1)], n_syn)
    out = jnp.concatenate([out, jnp.full((1, d_max), n_syn, out.dtype)])
    return out.astype(jnp.int32), jnp.any(count > d_max)


def recurrent(
    n_exc: int = 800,
    n_inh: int = 200,
    plastic: Sequence[str] = ("ie",),
    p: float | Mapping[str, float] | None = None,
    k: int | Mapping[str, int] | None = None,
    w: Mapping[str, float] | None = None,
    w_max: float | Mapping[str, float] = 300.0,
    i_ext: float | tuple[float, float] = 20.0,
    n_ext: int = 0,
    k_ext: int = 0,
    w_ext: float = 0.0,
    dt: float = 1e-4,
    v_init: tuple[float, float] = (-60.0, -50.0),
    rate_range: tuple[float, float] | None = None,
    tau_guard: float = 1.0,
    guard_after: float | None = None,
    engine: str = "event",
    max_events: float = 0.05,
    lr: float = 1.0,
    **params: float,
) -> Network:
    r"""A recurrent network of ``n_exc`` excitatory and ``n_inh`` inhibitory conductance LIF neurons.

    Every neuron obeys the equations of :func:`plastix.networks.lif`, with a constant
    drive ``I_ext`` (in mV, the current across ``g_leak``):

    .. math::
        \tau_m \dot V_i = -(V_i - V_{rest}) - g_{E,i} (V_i - E_E) - g_{I,i} (V_i - E_I) + I_{ext}, \qquad
        \dot g_{E,i} = -\frac{g_{E,i}}{\tau_E} + \sum_{j \in E} \frac{w_{ij}}{g_L} S_j(t), \quad
        \dot g_{I,i} = -\frac{g_{I,i}}{\tau_I} + \sum_{j \in I} \frac{w_{ij}}{g_L} S_j(t)

    integrated the same way (exponential Euler, threshold, synaptic events, reset,
    refractory period), so the single-neuron Brian2 equivalence carries over. Weights
    are conductance jumps in **nS**; ``g`` is in units of ``g_leak``. Defaults of the
    neuron: :data:`plastix.networks.VOGELS_2011`; network parameters after Vogels et
    al. (2011), :data:`VOGELS_2011_NETWORK`.

    **Connectivity**, per pathway ``ee, ei, ie, ii`` (presynaptic population first):
    a fixed in-degree ``k`` or a connection probability ``p`` (one for all, or a dict
    per pathway; default ``p = 0.02``), no autapses, drawn in ``init`` from its key
    (:func:`presynaptic`), so every network seed is a new network. Stored post-major,
    ``[n_post, k_max]`` (memory ~ synapses, never ``N^2``). External drive: ``n_ext``
    Poisson inputs (the step's ``x``, spikes ``[n_ext]``), ``k_ext`` of them into each
    neuron at ``w_ext`` nS (excitatory), fixed; and/or the current ``i_ext`` (one
    value, or ``(E, I)``).

    **Plasticity**: the pathways in ``plastic`` hold their weights in ``state.w``
    (``[n_post, k_max]``, the ``k``-th partner in ``aux["pre"][name]``), bounded to
    ``[0, w_max]``, each trained by its rule; the rest are fixed at ``w``. Each step's
    ``local[name]`` gives the rule ``pre``, ``post`` (spikes), ``w``, ``dt``, and, with
    the event engine, the sparse structure: ``pre_index`` (``[n_post, k_max]``),
    ``out`` (:func:`outgoing`) and this step's spiking neurons, ``pre_events`` and
    ``post_events`` (padded with ``n_pre`` / ``n_post``). A rule that reads them
    (:func:`plastix.rules.spike_trace`) returns a :class:`plastix.rules.SynapseDelta`:
    only the synapses of neurons that spiked change.

    **Engines**: ``"event"`` propagates only the spikes of this step: a gather of the
    spiking neurons' outgoing synapses and a scatter-add into the conductances, at most
    ``max_events * N`` spikes per population and step (more stops the run, as the guard does).
    Shapes are static, so a step costs ~ ``max_events * N`` x degree whatever the actual
    spikes: choose it just above the activity a run may reach (0.01 covers 100 Hz
    at ``dt = 0.1 ms``). ``"dense"`` keeps ``[n_post, n_pre]`` masked matrices
    and multiplies (cost ~ ``N^2``); the same network (same draw of synapses) spike
    for spike. ``benchmarks/recurrent_engines.py`` measures which is faster where.

    **Blow-up guard**: with ``rate_range = (lo, hi)`` Hz, the excitatory population
    rate filtered with ``tau_guard`` (``r <- r e^{-dt/tau} + (1 - e^{-dt/tau}) n_E /
    (N_E dt)``, after SpikES's CheckerScorer) must stay inside it from ``guard_after``
    seconds on (default ``tau_guard``); when it leaves, every later spike is masked,
    so nothing changes any more (no Python control flow), and ``aux["t_stop"]`` records
    the step (-1: never), for the task to score: a run that blows up later is the
    better one (:func:`plastix.tasks.network_stability`). ``unstable`` is for
    non-finite states only.

    Args:
        n_exc, n_inh: population sizes.
        plastic: plastic pathways, any of :data:`PATHWAYS`.
        p, k: connection probability or fixed in-degree (one, or per pathway; a pathway
            in ``k`` uses it, else ``p``, default 0.02).
        w: initial (fixed pathways: constant) weight per pathway, nS; default
            ``VOGELS_2011_NETWORK["w"]``.
        w_max: upper bound of plastic weights, nS (one, or per pathway).
        i_ext: constant drive, mV (one, or ``(E, I)``).
        n_ext, k_ext, w_ext: Poisson inputs, their in-degree and weight (nS).
        dt: time step, s.
        v_init: initial ``V`` uniform in this range, mV.
        rate_range, tau_guard, guard_after: the blow-up guard (``None``: off).
        engine: ``"event"`` or ``"dense"``.
        max_events: spikes per population and step the event engine handles, as a
            fraction of the population.
        lr: ``apply`` adds ``lr * dw``.
        **params: overrides of :data:`plastix.networks.VOGELS_2011` (its ``gbar_*``
            and ``g_leak`` do not apply: weights are in nS).
    """
    unknown = set(params) - set(VOGELS_2011)
    if unknown:
        raise ValueError(f"unknown LIF parameter(s) {sorted(unknown)}; allowed: {sorted(VOGELS_2011)}")
    bad = sorted(set(plastic) - set(PATHWAYS))
    if bad:
        raise ValueError(f"unknown pathway(s) {bad}; allowed: {list(PATHWAYS)}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {list(ENGINES)}, got {engine!r}")
    if not dt > 0:
        raise ValueError(f"need dt > 0, got {dt}")
    if n_exc < 2 or n_inh < 2:
        raise ValueError(f"need at least 2 neurons per population, got n_exc={n_exc}, n_inh={n_inh}")
    if rate_range is not None and not 0 <= rate_range[0] < rate_range[1]:
        raise ValueError(f"rate_range must be (lo, hi) with 0 <= lo < hi, got {rate_range}")
    prm = {**VOGELS_2011, **params}
    for name, value in (
        ("t_ref", prm["t_ref"]),
        ("tau_guard", tau_guard),
        ("guard_after", tau_guard if guard_after is None else guard_after),
    ):
        if not 0 <= value / dt <= 2**31 - 1:  # the step counter is int32
            raise ValueError(
                f"{name} ({value:g} s) is {value / dt:.3g} steps of dt ({dt:g} s); at most {2**31 - 1}"
            )
    plastic = tuple(q for q in PATHWAYS if q in plastic)
    size = {"e": n_exc, "i": n_inh}
    n = n_exc + n_inh

    def per(v, default):
        return {
            q: (v.get(q, default) if isinstance(v, Mapping) else (default if v is None else v))
            for q in PATHWAYS
        }

    w0 = {**VOGELS_2011_NETWORK["w"], **(w or {})}
    wmax = per(w_max, 300.0)
    kk = per(k, None)
    pp = per(p, 0.02)
    for q in PATHWAYS:
        if kk[q] is None and not 0 < pp[q] <= 1:
            raise ValueError(f"pathway {q}: need 0 < p <= 1, got {pp[q]}")
        if w0[q] < 0:
            raise ValueError(f"pathway {q}: weights are conductances, need w >= 0, got {w0[q]}")
    pool = {q: size[q[0]] - (q[0] == q[1]) for q in PATHWAYS}
    k_max = {q: kk[q] if kk[q] is not None else max(binomial_tail(pool[q], pp[q]), 1) for q in PATHWAYS}
    for q in PATHWAYS:
        if k_max[q] > pool[q]:
            raise ValueError(f"pathway {q}: in-degree {k_max[q]} exceeds the {pool[q]} possible partners")
    # Out-degree of a presynaptic neuron: Binomial(n_post, k_max / pool) at most (its 1e-12 tail).
    d_max = {q: max(binomial_tail(size[q[1]], min(k_max[q] / pool[q], 1.0)), 1) for q in PATHWAYS}
    m_ev = {c: max(math.ceil(max_events * size[c]), 1) for c in "ei"}
    i_e, i_i = (i_ext, i_ext) if not isinstance(i_ext, Sequence) else tuple(i_ext)
    n_ref = max(round(prm["t_ref"] / dt), 1)
    decay_e = math.exp(-dt / prm["tau_exc"])
    decay_i = math.exp(-dt / prm["tau_inh"])
    decay_r = math.exp(-dt / tau_guard)
    g_leak = prm["g_leak"]
    guard_from = round((tau_guard if guard_after is None else guard_after) / dt)
    ext_d = max(binomial_tail(n, min(k_ext / max(n_ext, 1), 1.0)), 1) if n_ext and k_ext else 0
    m_ext = max(math.ceil(max_events * n_ext), 1) if n_ext else 0
    sizes = {q: (size[q[1]], size[q[0]]) for q in plastic}

    def dense(pre, n_pre, values):
        """``[n_post, n_pre]`` with ``values`` at the synapses (padding dropped)."""
        rows = jnp.arange(pre.shape[0])[:, None]
        return jnp.zeros((pre.shape[0], n_pre + 1), values.dtype).at[rows, pre].add(values)[:, :n_pre]

    def init(key):
        dtype = jnp.asarray(0.0).dtype
        keys = dict(zip((*PATHWAYS, "ext", "v"), jax.random.split(key, 6), strict=True))
        pre = {
            q: presynaptic(keys[q], size[q[1]], size[q[0]], kk[q], None if kk[q] else pp[q], False)
            for q in PATHWAYS
        }
        weights, fixed, out, overflow = {}, {}, {}, jnp.zeros((), bool)
        for q in PATHWAYS:
            wq = jnp.where(pre[q] < size[q[0]], jnp.asarray(w0[q], dtype), 0.0)
            if engine == "dense":
                wq = dense(pre[q], size[q[0]], wq)
            else:
                out[q], over = outgoing(pre[q], size[q[0]], d_max[q])
                overflow = overflow | over
            (weights if q in plastic else fixed)[q] = wq
        if n_ext and k_ext:
            ext_pre = presynaptic(keys["ext"], n, n_ext, k_ext, None, True)
            ext_out, over = outgoing(ext_pre, n_ext, ext_d)
            overflow = overflow | over
        else:
            ext_out = jnp.zeros((1, 0), jnp.int32)
        v = jax.random.uniform(keys["v"], (n,), dtype, v_init[0], v_init[1])
        zero = jnp.zeros((n,), dtype)
        aux = {
            "v": v,
            "ge": zero,
            "gi": zero,
            "ref": jnp.zeros((n,), jnp.int32),
            "t": jnp.zeros((), jnp.int32),
            "pre": pre,
            "out": out,
            "ext_out": ext_out,
            "fixed": fixed,
            "rate": jnp.zeros((), dtype),
            # A structural overflow (an out-degree past its 1e-12 tail) stops the run at once.
            "t_stop": jnp.where(overflow, 0, -1).astype(jnp.int32),
            "overflow": overflow,
        }
        return NetState(weights, aux)

    def events(s, m, fill):
        idx = jnp.nonzero(s, size=m, fill_value=fill)[0].astype(jnp.int32)
        return idx, jnp.sum(s) > m

    def inflow(q, wq, a, s_pre, ev):
        """Conductance into the postsynaptic population of pathway ``q``, units of g_leak."""
        if engine == "dense":
            return wq @ s_pre / g_leak
        k_q = a["pre"][q].shape[1]
        syn = a["out"][q][ev]  # [M, d_max] synapses of the spiking neurons
        val = wq.ravel().at[syn].get(mode="fill", fill_value=0.0)
        return jnp.zeros((size[q[1]],), wq.dtype).at[syn // k_q].add(val, mode="drop") / g_leak

    def step(state, x):
        a = state.aux
        dtype = a["v"].dtype
        v, ge, gi, ref = a["v"], a["ge"], a["gi"], a["ref"]
        # 1. state update: exponential Euler for V (frozen g), exact decay for g.
        drive = jnp.concatenate([jnp.full((n_exc,), i_e, dtype), jnp.full((n_inh,), i_i, dtype)])
        g_tot = 1.0 + ge + gi
        v_inf = (prm["v_rest"] + drive + ge * prm["e_exc"] + gi * prm["e_inh"]) / g_tot
        refractory = ref > 0
        v = jnp.where(refractory, v, v_inf + (v - v_inf) * jnp.exp(-dt / prm["tau_m"] * g_tot))
        ge, gi = ge * decay_e, gi * decay_i
        # 2. threshold; a stopped run (guard) spikes no more.
        stopped = a["t_stop"] >= 0
        spike = (v > prm["v_th"]) & ~refractory & ~stopped
        s = spike.astype(dtype)
        pop = {"e": s[:n_exc], "i": s[n_exc:]}
        over = a["overflow"]
        ev = {}
        if engine == "event":
            for c in "ei":
                ev[c], o = events(pop[c], m_ev[c], size[c])
                over = over | o
        # 3. synaptic events of this step.
        w_all = {**a["fixed"], **state.w}
        into = {"e": {}, "i": {}}
        for q in PATHWAYS:
            into[q[1]][q[0]] = inflow(q, w_all[q], a, pop[q[0]], ev.get(q[0]))
        ge = ge + jnp.concatenate([into["e"]["e"], into["i"]["e"]])
        gi = gi + jnp.concatenate([into["e"]["i"], into["i"]["i"]])
        if n_ext and k_ext:
            xs = jnp.asarray(x, dtype)
            idx, o = events(xs, m_ext, n_ext)
            over = over | o
            syn = a["ext_out"][idx]
            ge = ge + jnp.zeros((n,), dtype).at[syn // k_ext].add(w_ext / g_leak, mode="drop")
        # 4. reset.
        v = jnp.where(spike, prm["v_reset"], v)
        ref = jnp.where(spike, n_ref - 1, jnp.maximum(ref - 1, 0))
        # The guard: E rate low-passed, checked from guard_from on.
        rate = a["rate"] * decay_r + (1.0 - decay_r) * jnp.sum(pop["e"]) / (n_exc * dt)
        out_of_range = (
            (a["t"] >= guard_from) & ((rate < rate_range[0]) | (rate > rate_range[1]))
            if rate_range is not None
            else jnp.zeros((), bool)
        )
        t_stop = jnp.where(~stopped & (out_of_range | over), a["t"], a["t_stop"])
        aux = {**a, "v": v, "ge": ge, "gi": gi, "ref": ref, "t": a["t"] + 1, "rate": rate}
        aux.update(t_stop=t_stop, overflow=over)
        local = {}
        for q in plastic:
            local[q] = {"pre": pop[q[0]], "post": pop[q[1]], "w": state.w[q], "dt": dt}
            if engine == "event":
                local[q].update(
                    pre_index=a["pre"][q], out=a["out"][q], pre_events=ev[q[0]], post_events=ev[q[1]]
                )
        return state._replace(aux=aux), s, local

    def apply(state, dw):
        # dw[q]: a plastix.rules.SynapseDelta (event engine), or a change of every weight.
        new = {}
        for q in plastic:
            wq, d = state.w[q], dw[q]
            if engine == "dense":
                mask = dense(state.aux["pre"][q], size[q[0]], jnp.ones(state.aux["pre"][q].shape, wq.dtype))
                new[q] = jnp.clip(wq + lr * d * mask, 0.0, wmax[q])
                continue
            if not hasattr(d, "index"):  # a change of every synapse, [n_post, k_max]
                valid = state.aux["pre"][q] < size[q[0]]
                new[q] = jnp.where(valid, jnp.clip(wq + lr * d, 0.0, wmax[q]), 0.0)
                continue
            # Only the synapses the rule touched change: add, then clip those (a synapse touched
            # twice reads and writes one value).
            flat = wq.ravel().at[d.index].add(lr * d.value.astype(wq.dtype), mode="drop")
            touched = flat.at[d.index].get(mode="fill", fill_value=0.0)
            flat = flat.at[d.index].set(jnp.clip(touched, 0.0, wmax[q]), mode="drop")
            new[q] = flat.reshape(wq.shape)
        return state._replace(w=new)

    def unstable(state):
        a = state.aux
        finite = jnp.all(jnp.isfinite(jnp.concatenate([a["v"], a["ge"], a["gi"]])))
        for q in plastic:
            finite = finite & jnp.all(jnp.isfinite(state.w[q]))
        return ~finite

    return Network(init, step, apply, unstable, plastic, sizes=sizes if engine == "event" else None)
