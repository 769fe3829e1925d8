"""Family ``recurrent``: co-active plasticity rules that keep a recurrent spiking network stable.

After SpikES (Confavreux et al., PLoS CB 2025) and fSBI (Confavreux et al., NeurIPS
2023): a recurrent network of E and I conductance LIF neurons
(:func:`plastix.networks.recurrent`) with a spike-trace rule on each plastic pathway
(``ee, ei, ie, ii``: 6 coefficients each) is trained from scratch, and the rules are
scored by how close the network's statistics come to a stable asynchronous irregular
state (:func:`plastix.tasks.network_stability`), on new networks and inputs each
episode. Configs: ``configs/recurrent_quick.toml``, ``configs/recurrent.toml``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from plastix import analysis, plotting, rules, tasks
from plastix.experiment import _seeds
from plastix.experiment._errors import UserError
from plastix.experiment._export import recurrent_brian2_script
from plastix.experiment._family import Family
from plastix.experiment._family import headline as generic_headline
from plastix.experiment._progress import sig

#: The statistics a run reports (held-out means), in the order of fSBI's filter.
STATISTICS = ("rate_e", "rate_i", "cv_isi", "fano_spatial", "fano_temporal", "autocov", "w_blow", "w_creep")
RASTER_E, RASTER_I = 200, 50


def rules_text(exp, theta) -> dict[str, str]:
    """Each pathway's spike-trace rule as its equation (time constants in ms)."""
    out = {}
    for p in sorted(theta):
        rc = exp.config.rules[p]
        if rc.kind == "spike_trace":
            out[p] = f"{p}: " + analysis.pretty_spike_trace(theta[p], rc.tau_min, rc.tau_max)
        else:
            out[p] = f"{p}: {rules.describe(exp.rules[p], theta[p])}"
    return out


def example(exp, theta, key, heldout) -> tuple[dict, dict]:
    """One held-out episode (a new network) with the final rules: the task's records, a raster of the
    last second; the held-out statistics per episode and the fraction of plausible networks."""
    cfg = exp.config
    n, t = cfg.network, cfg.task
    k_ep, k_run = jax.random.split(key)
    episode = exp.task.sample(k_ep)
    chunk = t.steps(cfg)[1]

    def run(th, ep, k):
        return tasks.unroll(exp.rules, exp.network, exp.task, th, ep, k, chunk=chunk, record=exp.task.record)

    final, records = jax.jit(run)(theta, episode, k_run)
    # The last second once more, every step, for a raster (plasticity on, from the final state).
    steps = round(min(1.0, t.score_time) / n.dt)
    shown = np.r_[np.arange(min(RASTER_E, n.n_exc)), n.n_exc + np.arange(min(RASTER_I, n.n_inh))]
    raster = tasks.Recorder(lambda s: None, lambda c, s, x, new, y: (c, y[shown] > 0))
    tail = exp.task._replace(num_steps=steps, record=raster)
    _, spikes = jax.jit(
        lambda th, ep, k, s: tasks.unroll(exp.rules, exp.network, tail, th, ep, k, record=raster, state=s)
    )(theta, episode, jax.random.fold_in(k_run, 1), final)
    t_idx, s_idx = np.nonzero(np.asarray(spikes))
    arrays = {
        "rate_e": np.asarray(records["rate_e"]),
        "rate_i": np.asarray(records["rate_i"]),
        "spike_time": (t_idx * n.dt + t.train_time + t.score_time).astype(np.float32),
        "spike_neuron": s_idx.astype(np.int32),
        "n_exc_shown": np.asarray(min(RASTER_E, n.n_exc)),
        "n_shown": np.asarray(len(shown)),
        "raster_window": np.asarray([0.0, steps * n.dt]) + t.train_time + t.score_time,
        "bin_time": np.asarray(t.bin_time),
        "train_time": np.asarray(t.train_time),
        "target": np.asarray(t.target_rate),
    }
    for q in n.plastic:
        arrays[f"w_sample_{q}"] = np.asarray(records["w_sample"][q])
        arrays[f"w_mean_{q}"] = np.asarray(records["w"][q])
    per = {k: np.asarray(heldout[k], np.float64) for k in STATISTICS}
    stopped = (np.asarray(heldout["stopped"]) > 0) | (np.asarray(heldout["unstable"]) > 0)
    summary = {
        **vogels_baseline(exp, theta),
        "heldout_statistics": {k: [float(x) for x in v] for k, v in per.items()},
        **{f"heldout_{k}": float(np.mean(v)) for k, v in per.items()},
        "plausible": plausible_fraction({"episodes": heldout}),
        "heldout_stopped": float(stopped.mean()),
        "target_rate": t.target_rate,
    }
    return arrays, summary


def plausible_fraction(metrics) -> float:
    """Of the episodes in ``metrics["episodes"]``, the fraction neither stopped nor non-finite whose
    every statistic lies in fSBI's range."""
    ep = {k: np.asarray(v, np.float64) for k, v in metrics["episodes"].items()}
    stopped = (ep["stopped"] > 0) | (ep["unstable"] > 0)
    return float(
        np.mean(
            [
                not stopped[i] and tasks.plausible({k: ep[k][i] for k in STATISTICS})
                for i in range(len(stopped))
            ]
        )
    )


def vogels_baseline(exp, theta) -> dict:
    """The baseline on the same held-out episodes: Vogels' rule on I -> E alone (every other plastic
    pathway fixed), when ``ie`` is plastic and has that reference."""
    ref = exp.references.get("ie")
    if ref is None or ref[0] != "vogels_istdp":
        return {}
    fixed = {p: jnp.zeros_like(theta[p]).at[4:].set(0.02) for p in theta}  # no increments: fixed
    base = {**fixed, "ie": jnp.asarray(ref[1], theta["ie"].dtype)}
    loss, m = jax.jit(exp.heldout_loss)(base, _seeds.stream(exp.config.seed, _seeds.HELDOUT))
    out = {"baseline_heldout_loss": float(m["task_loss"]), "baseline_plausible": plausible_fraction(m)}
    out.update({f"baseline_{k}": float(m[k]) for k in ("rate_e", "cv_isi", "stopped")})
    return out


def figures(exp, history, arrays) -> dict:
    """The coefficients per generation; the example episode's activity and weights; the held-out
    statistics against fSBI's ranges; each learned rule's STDP window."""
    names = {p: exp.rules[p].names for p in exp.rules}
    figs = {"coefficients.png": plotting.coefficients(history.generations, history.theta, names, {})}
    final = {
        p: np.asarray(history.theta[p][-1]) for p in exp.rules if exp.config.rules[p].kind == "spike_trace"
    }
    if final:
        rc = next(iter(exp.config.rules.values()))
        figs["stdp_windows.png"] = plotting.stdp_windows(final, rc.tau_min, rc.tau_max)
    if arrays is None:
        return figs
    figs["activity.png"] = plotting.network_activity(
        arrays["spike_time"],
        arrays["spike_neuron"],
        int(arrays["n_exc_shown"]),
        arrays["rate_e"],
        arrays["rate_i"],
        float(arrays["bin_time"]),
        float(arrays["train_time"]),
        float(arrays["target"]),
        tuple(arrays["raster_window"]),
        int(arrays["n_shown"]),
    )
    samples = {q: arrays[f"w_sample_{q}"] for q in exp.config.network.plastic}
    figs["weights.png"] = plotting.weight_distributions(
        samples, float(arrays["bin_time"]), exp.config.network.w_max
    )
    stats = (history.summary or {}).get("heldout_statistics")
    if stats:
        figs["statistics.png"] = plotting.statistics_vs_targets(stats, tasks.PLAUSIBLE)
    return figs


def headline(summary: dict) -> dict[str, float | None]:
    """The generic metrics, each held-out statistic (mean over held-out networks), the fraction of
    held-out networks that are plausible (every statistic in fSBI's range, not stopped) and the
    fraction stopped by the blow-up guard."""
    out = {**generic_headline(summary)}
    out.update({f"heldout_{k}": summary.get(f"heldout_{k}") for k in STATISTICS})
    out["plausible"] = summary.get("plausible")
    out["heldout_stopped"] = summary.get("heldout_stopped")
    out["baseline_heldout_loss"] = summary.get("baseline_heldout_loss")
    out["baseline_plausible"] = summary.get("baseline_plausible")
    return out


def summary_lines(summary: dict) -> list[str]:
    if "plausible" not in summary:
        return []
    stats = ", ".join(f"{k} {sig(summary.get(f'heldout_{k}'), 3)}" for k in STATISTICS)
    n = len(next(iter(summary["heldout_statistics"].values()), []))
    return [
        f"held-out networks ({n}): {stats}",
        f"plausible (every statistic in fSBI's range): {summary['plausible']:.0%}; "
        f"stopped by the blow-up guard: {summary['heldout_stopped']:.0%}",
    ] + (
        [
            f"baseline, Vogels' rule on I -> E alone, same held-out networks: loss "
            f"{sig(summary['baseline_heldout_loss'])}, plausible {summary['baseline_plausible']:.0%}"
        ]
        if "baseline_heldout_loss" in summary
        else []
    )


def columns(exp, theta) -> dict[str, float]:
    """Per generation, the size of each pathway's four increments: which pathways a rule uses."""
    return {f"norm_{p}": float(jnp.linalg.norm(jnp.asarray(theta[p])[:4])) for p in sorted(theta)}


def export_brian2(cfg, summary: dict, duration: float | None) -> str:
    """The run's learned rules in a runnable Brian2 script of the recurrent network
    (:func:`plastix.experiment._export.recurrent_brian2_script`), at the middle of the input-rate range."""
    bad = [p for p, r in cfg.rules.items() if r.kind != "spike_trace"]
    if bad:
        raise UserError(f"--brian2 writes spike-trace rules; rules.{bad[0]} is {cfg.rules[bad[0]].kind!r}")
    n, t = cfg.network, cfg.task
    rc = next(iter(cfg.rules.values()))
    return recurrent_brian2_script(
        n.model_dump(),
        {p: summary["theta"][p] for p in cfg.rules},
        ext_rate=sum(t.ext_rate) / 2,
        duration=duration if duration is not None else 2 * (t.train_time + t.score_time),
        window=t.score_time,
        seed=cfg.seed,
        name=cfg.name,
        rule_text=summary.get("rule", ""),
        tau_min=rc.tau_min,
        tau_max=rc.tau_max,
    )


FAMILY = Family(
    name="recurrent",
    description="co-active spike-timing rules keep a recurrent E/I network asynchronous and irregular",
    networks=("recurrent",),
    tasks=("network_stability",),
    rule="spike_trace",
    rules_text=rules_text,
    example=example,
    figures=figures,
    columns=columns,
    summary_lines=summary_lines,
    headline=headline,
    exporters={"brian2": export_brian2},
    default_rules={"ie": {"reference": "vogels_istdp"}},
    tiny={
        "name": "tiny_recurrent",
        "network": {
            "n_exc": 40,
            "n_inh": 10,
            "p": 0.2,
            "plastic": ["ee", "ei", "ie", "ii"],
            "max_events": 1.0,
        },
        "task": {
            "train_time": 0.02,
            "score_time": 0.02,
            "bin_time": 0.01,
            "fano_bin": 0.01,
            "episodes": 2,
            "heldout_episodes": 2,
        },
        "rules": {
            "ee": {"init_std": 0.01},
            "ei": {"init_std": 0.01},
            "ie": {"reference": "vogels_istdp", "init_std": 0.01},
            "ii": {"init_std": 0.01},
        },
        "meta": {"generations": 2, "popsize": 4, "unstable_loss": 1e4, "scale": [1e-2] * 24},
    },
)
