"""Figures of a recurrent spiking network: activity, weights per pathway, statistics, STDP windows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

PATHWAY_NAMES = {"ee": "E → E", "ei": "E → I", "ie": "I → E", "ii": "I → I"}


def network_activity(
    spike_times: np.ndarray,
    spike_neurons: np.ndarray,
    n_exc_shown: int,
    rate_e: np.ndarray,
    rate_i: np.ndarray,
    bin_time: float,
    train_time: float,
    target: float | None = None,
    window: tuple[float, float] | None = None,
    n_shown: int | None = None,
):
    """A raster (E below the line, I above) of ``window`` (s) after the episode and the population
    rates of the whole episode, the scoring window shaded."""
    fig, ax = plt.subplots(2, 1, figsize=(10, 6.5), constrained_layout=True)
    exc = spike_neurons < n_exc_shown
    ax[0].plot(spike_times[exc], spike_neurons[exc], ",", color="C3")
    ax[0].plot(spike_times[~exc], spike_neurons[~exc], ",", color="C0")
    ax[0].axhline(n_exc_shown - 0.5, color="0.5", lw=0.5)
    title = "raster after the episode" + ("" if len(spike_times) else " (no spikes)")
    ax[0].set(xlabel="time (s)", ylabel="neuron (E red, I blue)", title=title)
    if window is not None:
        ax[0].set_xlim(*window)
    if n_shown is not None:
        ax[0].set_ylim(-0.5, n_shown - 0.5)
    t = (np.arange(len(rate_e)) + 1) * bin_time
    ax[1].plot(t, rate_e, color="C3", lw=0.7, label="E")
    ax[1].plot(t, rate_i, color="C0", lw=0.7, label="I")
    ax[1].axvspan(train_time, t[-1] if len(t) else train_time, color="0.9", label="scored")
    if target is not None:
        ax[1].axhline(target, color="k", ls=":", label=f"target {target:g} Hz")
    ax[1].set(xlabel="time (s)", ylabel=f"population rate (Hz, {bin_time * 1e3:g} ms bins)", yscale="symlog")
    ax[1].legend(loc="upper right", fontsize=8)
    return fig


def weight_distributions(samples: Mapping[str, np.ndarray], bin_time: float, w_max: float | None = None):
    """Per plastic pathway, the 5/25/50/75/95 % quantiles of a fixed sample of synapses over time."""
    names = list(samples)
    fig, axes = plt.subplots(
        1, len(names), figsize=(4 * len(names), 3.4), constrained_layout=True, squeeze=False
    )
    for ax, q in zip(axes[0], names, strict=True):
        ws = np.asarray(samples[q], float)
        t = (np.arange(ws.shape[0]) + 1) * bin_time
        with np.errstate(all="ignore"):
            lo5, lo25, med, hi75, hi95 = np.nanpercentile(ws, [5, 25, 50, 75, 95], axis=1)
        ax.fill_between(t, lo5, hi95, alpha=0.2, color="C0", label="5-95 %")
        ax.fill_between(t, lo25, hi75, alpha=0.4, color="C0", label="25-75 %")
        ax.plot(t, med, color="C0", label="median")
        if w_max is not None:
            ax.axhline(w_max, color="k", ls=":", lw=0.8, label="w_max")
        ax.set(xlabel="time (s)", ylabel="weight (nS)", title=PATHWAY_NAMES.get(q, q))
    axes[0, 0].legend(fontsize=8)
    return fig


def statistics_vs_targets(
    episodes: Mapping[str, Sequence[float]], ranges: Mapping[str, tuple[float | None, float | None]]
):
    """Each statistic over held-out episodes (dots) against its plausible range (band)."""
    names = [k for k in ranges if k in episodes]
    fig, axes = plt.subplots(
        1, len(names), figsize=(1.7 * len(names), 3.4), constrained_layout=True, squeeze=False
    )
    for ax, k in zip(axes[0], names, strict=True):
        v = np.asarray(episodes[k], float)
        lo, hi = ranges[k]
        top = max(np.nanmax(v) if v.size else 1.0, hi or 0.0, lo or 0.0) * 1.2 + 1e-9
        ax.axhspan(lo if lo is not None else 0.0, hi if hi is not None else top, color="C2", alpha=0.2)
        ax.plot(np.random.default_rng(0).uniform(-0.2, 0.2, v.size), v, "o", color="k", ms=3)
        unit = {"rate_e": "Hz", "rate_i": "Hz"}.get(k, "")
        ax.set(xlim=(-0.5, 0.5), xticks=[], title=k, ylim=(0, top), xlabel="episodes", ylabel=unit or k)
    fig.suptitle("held-out statistics (dots: episodes) and their plausible ranges (green, fSBI)")
    return fig


def stdp_windows(
    thetas: Mapping[str, np.ndarray], tau_min: float = 1e-4, tau_max: float = 10.0, lag: float = 0.1
):
    r"""Each spike-trace rule's pair window: the change of one pre-post pair at lag ``Δt = t_post - t_pre``,

    .. math:: \Delta w(\Delta t) = \alpha + \beta + \gamma e^{-\Delta t / \tau_{pre}} \ (\Delta t > 0), \quad
              \alpha + \beta + \kappa e^{\Delta t / \tau_{post}} \ (\Delta t < 0)

    (each spike's own term once; :func:`plastix.rules.spike_trace`)."""
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    dt = np.linspace(-lag, lag, 401)
    for i, (q, th) in enumerate(thetas.items()):
        a, b, g, k, tp, tq = np.asarray(th, float)
        tp, tq = np.clip([tp, tq], tau_min, tau_max)
        w = a + b + np.where(dt > 0, g * np.exp(-np.abs(dt) / tp), k * np.exp(-np.abs(dt) / tq))
        ax.plot(dt * 1e3, w, color=f"C{i}", label=PATHWAY_NAMES.get(q, q))
    ax.axhline(0, color="0.6", lw=0.5)
    ax.axvline(0, color="0.6", lw=0.5)
    ax.set(
        xlabel="Δt = t_post − t_pre (ms)",
        ylabel="Δw per pair (nS)",
        title="STDP windows of the learned rules",
    )
    ax.legend()
    return fig
