"""Statistics of a recurrent spiking network and the stability task built on them.

After fSBI (Confavreux, Ramesh, Goncalves, Macke & Vogels, NeurIPS 2023,
``fsbi/analyse.py``, ``ComputeMetrics``) and SpikES (Confavreux et al., PLoS CB
2025, ``CheckerScorer_Stability``): a network is *plausible* when its rates are
moderate, its spiking asynchronous and irregular, and its weights neither at their
bounds nor drifting. Everything is computed over a scoring window from what
:func:`network_recorder` accumulates during the run (per neuron, ``O(N)`` memory;
never every spike).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp

from plastix.networks._base import NetState
from plastix.tasks._base import Recorder, Task

Array = jax.Array

# fSBI's plausibility ranges (5_Analysis_example.ipynb), both ends inclusive.
PLAUSIBLE = {
    "rate_e": (1.0, 50.0),
    "rate_i": (1.0, 50.0),
    "cv_isi": (0.7, None),
    "fano_spatial": (0.5, 2.5),
    "fano_temporal": (0.5, 2.5),
    "autocov": (0.0, 0.1),
    "w_blow": (0.0, 0.1),
    "w_creep": (0.0, 0.05),
}


def network_recorder(
    n_exc: int, n_inh: int, dt: float, start: int, fano_bin: int, plastic: Sequence[str], samples: int = 200
) -> Recorder:
    """What a run of :func:`plastix.networks.recurrent` keeps for :func:`network_statistics`.

    From step ``start`` on (the scoring window), per neuron: its spike count, the
    count, sum and sum of squares of its inter-spike intervals, and of its spike
    counts in bins of ``fano_bin`` steps; per bin, the spatial Fano factor of the E
    population. Every step gives the population rates (Hz, E and I), reduced to
    their mean per chunk of :func:`plastix.tasks.unroll`; at the end of every chunk,
    the mean weight of each plastic pathway (``w``) and the weights of a fixed sample
    of ``samples`` synapses (``w_sample``), for their distribution over time
    (``snapshot``). Use it with ``chunk``.
    """
    n = n_exc + n_inh

    def init(state):
        dtype = state.aux["v"].dtype
        z = jnp.zeros((n,), dtype)
        return {
            "t": jnp.zeros((), jnp.int32),
            "last": jnp.full((n,), -1, jnp.int32),
            "count": z,
            "isi_n": z,
            "isi_sum": z,
            "isi_sq": z,
            "c": z,
            "c_sum": z,
            "c_sq": z,
            "bins": jnp.zeros((), dtype),
            "sf_sum": jnp.zeros((), dtype),
        }

    def step(carry, state, x, new, s):
        t = carry["t"]
        on = t >= start
        spk = (s > 0) & on
        sw = spk.astype(s.dtype)
        isi = (t - carry["last"]).astype(s.dtype) * dt
        has = spk & (carry["last"] >= 0)
        c = carry["c"] + sw
        end = on & ((t - start + 1) % fano_bin == 0)
        ce = c[:n_exc]
        mean_e = jnp.mean(ce)
        sf = jnp.where(jnp.sum(ce) > 3, jnp.var(ce) / jnp.maximum(mean_e, 1e-30), 0.0)
        out = {
            "rate_e": jnp.sum(s[:n_exc]) / (n_exc * dt),
            "rate_i": jnp.sum(s[n_exc:]) / (n_inh * dt),
        }
        carry = {
            "t": t + 1,
            "last": jnp.where(spk, t, carry["last"]),
            "count": carry["count"] + sw,
            "isi_n": carry["isi_n"] + has,
            "isi_sum": carry["isi_sum"] + jnp.where(has, isi, 0.0),
            "isi_sq": carry["isi_sq"] + jnp.where(has, isi * isi, 0.0),
            "c": jnp.where(end, 0.0, c),
            "c_sum": carry["c_sum"] + jnp.where(end, c, 0.0),
            "c_sq": carry["c_sq"] + jnp.where(end, c * c, 0.0),
            "bins": carry["bins"] + end,
            "sf_sum": carry["sf_sum"] + jnp.where(end, sf, 0.0),
        }
        return carry, out

    def snapshot(state: NetState):
        mean, sample = {}, {}
        for q in plastic:
            n_pre = n_exc if q[0] == "e" else n_inh
            pre = state.aux["pre"][q]
            w = state.w[q]
            synapses = jnp.sum(pre < n_pre)
            mean[q] = jnp.sum(w) / jnp.maximum(synapses, 1)
            # A fixed sample of synapses (fSBI monitors 100 per pathway): every neuron's first
            # partner, up to ``samples`` of them, NaN where a neuron has none.
            rows = jnp.arange(min(samples, pre.shape[0]))
            first = w[rows, 0] if w.shape == pre.shape else w[rows, jnp.minimum(pre[rows, 0], n_pre - 1)]
            sample[q] = jnp.where(pre[rows, 0] < n_pre, first, jnp.nan)
        return {"mean": mean, "sample": sample}

    def finish(carry, outs):
        if isinstance(outs, tuple):  # with chunks: each chunk's rates and its weights
            rates, w = outs
            return {**carry, **rates, "w": w["mean"], "w_sample": w["sample"]}
        return {**carry, **outs, "w": {}, "w_sample": {}}  # every step's rates, no weights

    return Recorder(init, step, finish=finish, snapshot=snapshot)


def network_statistics(
    records: Mapping,
    final: NetState,
    n_exc: int,
    dt: float,
    window: float,
    bin_time: float,
    start_bin: int,
    w_max: Mapping[str, float],
    creep_floor: float = 0.1,
    autocov_lag: float = 0.5,
) -> dict[str, Array]:
    r"""The network's statistics over the scoring window, from :func:`network_recorder`'s records.

    With ``N`` neurons of a population, ``T`` the window (s), ``n_k`` neuron ``k``'s
    spike count, ``I_k`` its inter-spike intervals, ``c_{k,b}`` its count in Fano
    bin ``b`` (``fano_bin`` steps), ``r_E(t)`` the E rate per recorded bin and
    ``\bar w_q(t)`` the mean weight of pathway ``q``:

    * ``rate_e``, ``rate_i``: :math:`\sum_k n_k / (N T)` (fSBI ``rate``, ``rate_i``);
    * ``cv_isi``: mean over E neurons of :math:`\mathrm{sd}(I_k) / \mathrm{mean}(I_k)`, 0 for a
      neuron with fewer than 3 intervals (fSBI ``cv_isi``, which counts those as 0 too);
    * ``fano_temporal``: mean over E neurons of :math:`\mathrm{var}_b c_{k,b} / \mathrm{mean}_b
      c_{k,b}`, 0 with at most 3 spikes (fSBI ``temporal_Fano``, 100 ms bins);
    * ``fano_spatial``: mean over bins of :math:`\mathrm{var}_k c_{k,b} / \mathrm{mean}_k c_{k,b}`
      over E neurons, 0 for a bin with at most 3 spikes (fSBI ``spatial_Fano``);
    * ``autocov``: mean over lags :math:`0 < |\tau| \le` ``autocov_lag`` of
      :math:`|C(\tau)| / C(0)`, ``C`` the autocovariance of ``r_E`` (fSBI's ``auto_cov``
      takes it per neuron on 10 ms counts; here of the population rate, which the
      recorder keeps, and 1 for a constant rate, as fSBI scores a silent neuron);
    * ``rate_sd``: :math:`\mathrm{sd}_t\, r_E(t)`, Hz (fSBI ``std_rate_temporal``, in Hz);
    * ``w_blow``: fraction of plastic synapses at 0 or ``w_max`` at the end, mean over
      pathways (fSBI ``w_blow``);
    * ``w_creep``: max over pathways of :math:`|2 (e - s) / (e + s)|`, ``s``, ``e`` the mean
      weight at the window's start and end, 0 where :math:`e + s \le` ``creep_floor``
      (fSBI ``w_creep``).
    """
    count, isi_n = records["count"], records["isi_n"]
    e = slice(0, n_exc)
    i = slice(n_exc, None)
    rate_e = jnp.sum(count[e]) / (n_exc * window)
    rate_i = jnp.sum(count[i]) / (count[i].shape[0] * window)
    mean_isi = records["isi_sum"] / jnp.maximum(isi_n, 1)
    var_isi = jnp.maximum(records["isi_sq"] / jnp.maximum(isi_n, 1) - mean_isi**2, 0.0)
    cv = jnp.where(isi_n >= 3, jnp.sqrt(var_isi) / jnp.maximum(mean_isi, 1e-30), 0.0)
    bins = jnp.maximum(records["bins"], 1)
    mc = records["c_sum"] / bins
    vc = jnp.maximum(records["c_sq"] / bins - mc**2, 0.0)
    ft = jnp.where(count > 3, vc / jnp.maximum(mc, 1e-30), 0.0)
    r = records["rate_e"][start_bin:]
    x = r - jnp.mean(r)
    lags = max(int(round(autocov_lag / bin_time)), 1)
    c0 = jnp.mean(x * x)
    acf = jnp.stack([jnp.mean(x[:-k] * x[k:]) for k in range(1, min(lags, r.shape[0] - 1) + 1)])
    autocov = jnp.where(c0 > 1e-12, jnp.mean(jnp.abs(acf)) / jnp.maximum(c0, 1e-30), 1.0)
    blow, creep = [], []
    for q, wq in final.w.items():
        n_pre = n_exc if q[0] == "e" else count.shape[0] - n_exc
        syn = final.aux["pre"][q] < n_pre
        if wq.shape != syn.shape:  # the dense engine: [post, pre] with zeros off the synapses
            wq = jnp.take_along_axis(jnp.pad(wq, ((0, 0), (0, 1))), final.aux["pre"][q], axis=1)
        at = (wq <= 0.0) | (wq >= w_max[q] * (1 - 1e-6))
        blow.append(jnp.sum(at & syn) / jnp.maximum(jnp.sum(syn), 1))
        if q in records["w"]:  # recorded with chunks (network_recorder)
            trace = records["w"][q]
            s, en = trace[max(start_bin - 1, 0)], trace[-1]
            creep.append(jnp.where(s + en > creep_floor, jnp.abs(2 * (en - s) / (en + s)), 0.0))
    zero = jnp.zeros((), rate_e.dtype)
    return {
        "rate_e": rate_e,
        "rate_i": rate_i,
        "cv_isi": jnp.mean(cv[e]),
        "fano_temporal": jnp.mean(ft[e]),
        "fano_spatial": records["sf_sum"] / bins,
        "autocov": autocov,
        "rate_sd": jnp.std(r),
        "w_blow": jnp.mean(jnp.stack(blow)) if blow else zero,
        "w_creep": jnp.max(jnp.stack(creep)) if creep else zero,
    }


def plausible(stats: Mapping[str, float], ranges: Mapping = PLAUSIBLE) -> bool:
    """Whether every statistic lies in its range (``None``: unbounded), fSBI's filter."""
    for k, (lo, hi) in ranges.items():
        v = float(stats[k])
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            return False
    return True


def network_stability(
    n_exc: int,
    n_inh: int,
    plastic: Sequence[str],
    w_max: Mapping[str, float],
    train_time: float = 5.0,
    score_time: float = 2.0,
    dt: float = 1e-4,
    bin_time: float = 0.01,
    fano_bin: float = 0.1,
    n_ext: int = 0,
    ext_rate: tuple[float, float] = (5.0, 15.0),
    target_rate: float = 5.0,
    cv_min: float = 0.7,
    creep_max: float = 0.05,
    blow_loss: float = 200.0,
) -> Task:
    r"""Keep a recurrent network in a stable asynchronous irregular state (after SpikES / fSBI).

    An episode trains a fresh network (:func:`plastix.networks.recurrent`: a new draw
    of its synapses) for ``train_time`` seconds, then scores it over the next
    ``score_time`` seconds with plasticity on (:func:`network_statistics`). With
    ``n_ext`` Poisson inputs, each episode draws their rate uniformly from
    ``ext_rate`` (fSBI's input-rate prior, 5-15 Hz) and the step's input is
    Bernoulli(``rate * dt``) per input. The loss:

    .. math:: L = \frac{(r_E - r^*)^2}{r_E + 2\,\mathrm{Hz}} + \Big[\frac{CV_{min} - CV}{CV_{min}}\Big]_+^2
              + w_{blow} + \Big[\frac{w_{creep} - c_{max}}{c_{max}}\Big]_+

    with ``r*`` = ``target_rate``: the rate term is SpikES's (``CheckerScorer_Stability``,
    there on the 1 s filtered rate at every step, here on the window's mean rate). A run
    that the network's blow-up guard stopped at ``t_stop`` of ``T`` seconds scores

    .. math:: L = L_{blow} \big(1 - \tfrac14\, t_{stop} / T\big)

    instead, after SpikES's ``160 (e^{-t_{blow}/T} + 1)``: a run that holds out longer is
    better, so an outer loop among blow-ups still has a direction (a constant penalty
    gives none, and CMA-ES then drifts). ``blow_loss`` must exceed the largest loss of a
    run that was not stopped by a third (``blow_loss * 3/4`` is the smallest of a stopped
    run) and stay below ``meta_loss``'s ``unstable_loss``, kept for non-finite states.
    Metrics: every statistic, ``stopped`` (0 or 1) and ``t_stop`` (s; ``T`` if never).
    """
    steps = round((train_time + score_time) / dt)
    bin_steps = max(round(bin_time / dt), 1)
    if steps % bin_steps:
        raise ValueError(
            f"bin_time ({bin_time}) must divide train_time + score_time ({train_time + score_time})"
        )
    start = round(train_time / dt)
    if start % bin_steps:
        raise ValueError(f"bin_time ({bin_time}) must divide train_time ({train_time})")
    fano_steps = max(round(fano_bin / dt), 1)
    recorder = network_recorder(n_exc, n_inh, dt, start, fano_steps, plastic)

    def sample(key):
        return {"ext_rate": jax.random.uniform(key, (), minval=ext_rate[0], maxval=ext_rate[1])}

    def inputs(episode, t, key):
        shape = (*jnp.shape(t), n_ext)  # one step, or a chunk of steps
        p = episode["ext_rate"] * dt
        return jax.random.bernoulli(key, p, shape).astype(jnp.asarray(0.0).dtype)

    def loss(final, records, episode):
        st = network_statistics(
            records, final, n_exc, dt, score_time, bin_time * 1.0, start // bin_steps, w_max
        )
        rate = (st["rate_e"] - target_rate) ** 2 / (st["rate_e"] + 2.0)
        cv = jnp.maximum(cv_min - st["cv_isi"], 0.0) / cv_min
        creep = jnp.maximum(st["w_creep"] - creep_max, 0.0) / creep_max
        t_stop = final.aux["t_stop"]
        stopped = t_stop >= 0
        frac = jnp.where(stopped, t_stop / steps, 1.0)
        loss = jnp.where(stopped, blow_loss * (1.0 - 0.25 * frac), rate + cv**2 + st["w_blow"] + creep)
        st.update(stopped=stopped.astype(rate.dtype), t_stop=frac * (train_time + score_time))
        return loss, st

    return Task(sample, inputs, loss, steps, recorder)
