"""Family ``spiking``: inhibitory spike-timing plasticity that holds a LIF neuron at a target rate.

Confavreux et al. 2020 (NeurIPS, Sec. 3.3), after Vogels et al. 2011: one
conductance-based LIF neuron (:func:`plastix.networks.lif`) with fixed tuned
excitatory and plastic inhibitory Poisson afferents in groups, a 6-parameter
spike-trace rule (:func:`plastix.rules.spike_trace`) and the target-rate loss
(:func:`plastix.tasks.target_rate`). Configs: ``configs/istdp*.toml``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from plastix import analysis, networks, plotting, rules, tasks
from plastix.experiment._errors import UserError
from plastix.experiment._export import brian2_script
from plastix.experiment._family import Family
from plastix.experiment._family import headline as generic_headline
from plastix.experiment._progress import sig


def rules_text(exp, theta) -> dict[str, str]:
    """A spike-trace rule as its equation (time constants in ms); any other as it describes itself."""
    out = {}
    for p in sorted(theta):
        rc = exp.config.rules[p]
        if rc.kind == "spike_trace":
            out[p] = analysis.pretty_spike_trace(theta[p], rc.tau_min, rc.tau_max)
        else:
            out[p] = f"{p}: {rules.describe(exp.rules[p], theta[p])}"
    return out


def record(exp, theta, episode, key) -> dict[str, jax.Array]:
    r"""Train the LIF neuron on ``episode`` as the loss does, recording per input group.

    :func:`plastix.tasks.unroll` with a :class:`plastix.tasks.Recorder`, so the
    final state is the one the loss scores. Per chunk of ``chunk`` steps and
    per input group ``g`` it records the mean synaptic currents (pA)

    .. math:: I_{E,g} = g_{leak}\, g_{E,g} (E_E - V), \qquad I_{I,g} = g_{leak}\, g_{I,g} (E_I - V)

    where ``g_{E,g}`` is the part of the excitatory conductance due to group
    ``g``'s afferents (conductances are sums over synapses, so the per-group
    parts add up to the neuron's ``g_E``), the mean inhibitory weight per
    group and every inhibitory weight (``w_inh``, ``[chunks, n_inh]``) at the
    chunk's end; beside them, whatever the task records (the spike counts per
    bin that the target-rate loss scores, ``counts``).
    """
    cfg = exp.config
    n = cfg.network
    p = {**networks.VOGELS_2011, **n.params}
    groups = networks.afferent_groups(n.n_exc, n.n_inh, n.n_groups)
    dtype = jnp.asarray(0.0).dtype
    onehot_e = jax.nn.one_hot(groups[: n.n_exc], n.n_groups, dtype=dtype)  # [n_exc, G]
    onehot_i = jax.nn.one_hot(groups[n.n_exc :], n.n_groups, dtype=dtype)  # [n_inh, G]
    size_i = jnp.sum(onehot_i, axis=0)
    decay_e, decay_i = math.exp(-n.dt / p["tau_exc"]), math.exp(-n.dt / p["tau_inh"])

    task_record = exp.task.record

    def init(state):
        return jnp.zeros(n.n_groups, dtype), jnp.zeros(n.n_groups, dtype), task_record.init(state)

    def step(carry, state, x, new, out):
        ge, gi, rec = carry
        rec, _ = task_record.step(rec, state, x, new, out)
        x = x.astype(dtype)
        # Conductances per group, from the weights the spikes met (before the update).
        ge = ge * decay_e + p["gbar_exc"] * ((new.aux["w_exc"] * x[: n.n_exc]) @ onehot_e)
        gi = gi * decay_i + p["gbar_inh"] * ((state.w["inh"][0] * x[n.n_exc :]) @ onehot_i)
        v = new.aux["v"][0]
        i_e = p["g_leak"] * ge * (p["e_exc"] - v)
        i_i = p["g_leak"] * gi * (p["e_inh"] - v)
        return (ge, gi, rec), (i_e, i_i, (new.w["inh"][0] @ onehot_i) / size_i, new.w["inh"][0])

    def finish(carry, outs):
        return outs, task_record.finish(carry[2], None)

    w_before = exp.network.init(jax.random.split(key)[0]).w["inh"][0]  # unroll's initial state
    final, ((i_e, i_i, w_group, w_inh), counts) = tasks.unroll(
        exp.rules,
        exp.network,
        exp.task,
        theta,
        episode,
        key,
        chunk=cfg.task.chunk,
        record=tasks.Recorder(
            init, step, lambda o: (jnp.mean(o[0], 0), jnp.mean(o[1], 0), o[2][-1], o[3][-1]), finish
        ),
    )
    return {
        "w_inh_before": w_before,
        "w_inh_after": final.w["inh"][0],
        "w_inh_group_before": (w_before @ onehot_i) / size_i,
        "w_inh_group": w_group,
        "w_inh": w_inh,
        "w_exc_group": (final.aux["w_exc"] @ onehot_e) / jnp.sum(onehot_e, axis=0),
        "current_exc": i_e,
        "current_inh": i_i,
        "counts": counts,
    }


def balance(w_exc_group, w_inh_group, w_inh, chunk_time, train_time) -> dict[str, float | None]:
    r"""Detailed balance and weight fluctuation of one recorded episode (:func:`record`).

    * ``corr_w``: Pearson's correlation over the input groups of the
      excitatory weights and the final inhibitory weights (Vogels et al. 2011:
      inhibition mirrors the excitatory tuning, ``corr`` near 1); ``None``
      when either is constant.
    * ``tuning``: how deep the inhibitory tuning is next to the excitatory
      one, the ratio of their coefficients of variation over the groups,
      :math:`(\mathrm{sd}_g w_I / \bar w_I) / (\mathrm{sd}_g w_E / \bar w_E)`:
      1 when inhibition mirrors excitation in proportion, near 0 for flat
      inhibition with a small bump, which a correlation alone (scale-free)
      cannot tell from detailed balance.
    * ``w_inh_fluctuation``: over the scoring phase (``t > train_time``), each
      synapse's standard deviation in time, averaged over synapses, relative to
      the mean weight, :math:`\langle \mathrm{sd}_t\, w_j(t) \rangle_j / \langle w_j(t) \rangle_{j,t}`:
      near 0 for settled weights, of order 1 for weights that jump about.
    * ``w_inh_mean``: the mean inhibitory weight over the scoring phase.
    """
    we, wi = np.asarray(w_exc_group, np.float64), np.asarray(w_inh_group, np.float64)
    corr = tuning = None
    if we.std() > 0 and wi.std() > 0 and np.all(np.isfinite(wi)):
        corr = float(np.corrcoef(we, wi)[0, 1])
    if we.std() > 0 and wi.mean() > 0 and np.all(np.isfinite(wi)):
        tuning = float((wi.std() / wi.mean()) / (we.std() / we.mean()))
    scoring = np.asarray(w_inh, np.float64)[np.asarray(chunk_time) > train_time]
    mean = float(scoring.mean()) if scoring.size else float("nan")
    fluct = float(scoring.std(axis=0).mean() / mean) if scoring.size and mean > 0 else None
    return {"corr_w": corr, "tuning": tuning, "w_inh_fluctuation": fluct, "w_inh_mean": mean}


def example(exp, theta, key, heldout) -> tuple[dict, dict]:
    """One held-out episode recorded per input group, and the held-out rate per dataset."""
    cfg = exp.config
    t, n = cfg.task, cfg.network
    k_ep, k_run = jax.random.split(key)
    episode = exp.task.sample(k_ep)
    rec = jax.jit(lambda th, ep, k: record(exp, th, ep, k))(theta, episode, k_run)
    arrays = {k: np.asarray(v) for k, v in rec.items()}
    arrays["rate"] = arrays.pop("counts") / t.bin_size  # Hz, one value per bin
    arrays["chunk_time"] = (np.arange(arrays["current_exc"].shape[0]) + 0.5) * t.chunk * n.dt
    # Mean inhibitory input rate (all groups, whole episode): nu_pre of the
    # rule's mean-field steady state (plotting.alpha_beta_plane).
    arrays["nu_pre"] = np.asarray(float(jnp.mean(episode["rates"])))
    arrays["target"] = np.asarray(t.target)
    arrays["train_time"] = np.asarray(t.train_time)
    arrays["bin_size"] = np.asarray(t.bin_size)

    # The held-out rate per dataset: the episodes of the held-out loss, so their
    # mean is its "rate".
    rates = np.asarray(heldout["rate"], np.float64)
    summary = {
        **balance(
            arrays["w_exc_group"],
            arrays["w_inh_group"][-1],
            arrays["w_inh"],
            arrays["chunk_time"],
            t.train_time,
        ),
        "heldout_rates": [float(r) for r in rates],
        "heldout_rate": float(rates.mean()),
        "heldout_rate_sd": float(rates.std()),
        "target_rate": t.target,
    }
    return arrays, summary


def figures(exp, history, arrays) -> dict:
    """Theta in two panels, the (alpha, beta) plane with the steady-state line (a spike-trace rule),
    or the rule's summary numbers per generation (any other); detailed balance."""
    (proj,) = exp.rules  # the one plastic projection
    rc = exp.config.rules[proj]
    theta, names = history.theta[proj], exp.rules[proj].names
    ref = exp.references.get(proj)
    ref = (ref[0], np.asarray(ref[1])) if ref else None
    gens = history.generations
    spike_trace = rc.kind == "spike_trace"
    if spike_trace:
        tau_min, tau_max = rc.tau_min, rc.tau_max
        figs = {"coefficients.png": plotting.spike_coefficients(gens, theta, names, ref, tau_min, tau_max)}
    else:
        figs = {"coefficients.png": plotting.coefficients(gens, history.theta, {proj: names}, {})}
    if arrays is None:
        return figs
    target = float(arrays["target"])
    if spike_trace:
        nu_pre = float(arrays["nu_pre"])
        # The final rule's trace terms shift the steady-state line (plotting.alpha_beta_plane),
        # with the time constants the rule uses (clipped).
        _, _, gamma, kappa, tau_pre, tau_post = theta[-1]
        tau_pre, tau_post = np.clip([tau_pre, tau_post], tau_min, tau_max)
        figs["alpha_beta.png"] = plotting.alpha_beta_plane(
            theta[:, 0],
            theta[:, 1],
            nu_pre,
            target,
            trace_term=(gamma * tau_pre + kappa * tau_post) * nu_pre,
            reference=(ref[0], ref[1][0], ref[1][1]) if ref else None,
        )
    w_group = np.concatenate([arrays["w_inh_group_before"][None], arrays["w_inh_group"]])
    time = np.concatenate([[0.0], arrays["chunk_time"]])
    figs["balance.png"] = plotting.detailed_balance(
        arrays["w_exc_group"],
        w_group,
        arrays["current_exc"],
        arrays["current_inh"],
        arrays["chunk_time"],
        arrays["rate"],
        float(arrays["bin_size"]),
        float(arrays["train_time"]),
        target,
        early=min(1.0, float(arrays["train_time"]) / 10),
        w_time=time,
    )
    return figs


def headline(summary: dict) -> dict[str, float | None]:
    """The generic metrics, the held-out rate (Hz, mean over the held-out datasets), corr(wE, wI) over
    the input groups and the inhibitory tuning depth relative to the excitatory (detailed balance)."""
    return {
        **generic_headline(summary),
        "heldout_rate": summary.get("heldout_rate"),
        "corr_w": summary.get("corr_w"),
        "tuning": summary.get("tuning"),
        "w_inh_fluctuation": summary.get("w_inh_fluctuation"),
    }


def summary_lines(summary: dict) -> list[str]:
    lines = [
        f"held-out rate {sig(summary['heldout_rate'])} ± {sig(summary['heldout_rate_sd'], 2)} Hz "
        f"over {len(summary['heldout_rates'])} datasets (target {summary['target_rate']:g} Hz)",
        "criterion: the held-out rate at the target (loss (r - target)² / (r + 0.1) on a window of the "
        "scoring phase); the angle to the reference rule is not the criterion: many rules hold a "
        "target rate (a manifold of them, Confavreux et al. 2020), so a large angle with the rate "
        "at target is a success",
    ]
    if "w_inh_fluctuation" in summary:  # runs written before these were measured lack them
        corr, fl = summary["corr_w"], summary["w_inh_fluctuation"]
        tuning = summary.get("tuning")
        lines.append(
            "detailed balance corr(wE, wI) "
            + ("n/a" if corr is None else f"{corr:+.3g}")
            + ", inhibitory tuning depth / excitatory "
            + sig(tuning, 3)
            + ", inhibitory weight fluctuation while scored "
            + sig(fl, 3)
            + " (sd / mean); not scored: detailed balance as in Vogels et al. 2011 is corr and depth near 1, "
            "fluctuation near 0"
        )
    return lines


def export_brian2(cfg, summary: dict, duration: float | None) -> str:
    """The run's learned rule in a runnable Brian2 script (:func:`plastix.experiment.brian2_script`)."""
    n, t = cfg.network, cfg.task
    (proj,) = cfg.rules
    r = cfg.rules[proj]
    if r.kind != "spike_trace":
        raise UserError(f"--brian2 writes spike-trace rules; rules.{proj} is {r.kind!r}")
    net = {k: getattr(n, k) for k in ("n_exc", "n_inh", "n_groups", "dt", "preferred", "w_exc_noise")}
    net.update(w_inh_init=n.w_inh_init, w_inh_max=n.w_inh_max, **n.params)
    inputs = ("baseline", "peak_rate", "tau_input", "rate_dt", "sparsify", "target")
    # and the protocol: the script's default duration is two training episodes, its transient train_time
    task = {k: getattr(t, k) for k in (*inputs, "train_time", "score_time")}
    return brian2_script(
        summary["theta"][proj],
        net,
        task,
        duration=duration,
        window=t.window,
        seed=cfg.seed,
        name=cfg.name,
        rule_text=summary.get("rule", ""),
        tau_min=r.tau_min,
        tau_max=r.tau_max,
    )


FAMILY = Family(
    name="spiking",
    description="an inhibitory spike-timing rule holds a conductance LIF neuron at a target rate",
    networks=("lif",),
    tasks=("target_rate",),
    rule="spike_trace",
    rules_text=rules_text,
    example=example,
    figures=figures,
    summary_lines=summary_lines,
    headline=headline,
    exporters={"brian2": export_brian2},
    default_rules={"inh": {"reference": "vogels_istdp"}},
    tiny={
        "name": "tiny_spiking",
        "network": {"n_exc": 40, "n_inh": 8, "n_groups": 4, "params": {"gbar_exc": 0.28, "gbar_inh": 0.7}},
        "task": {
            "train_time": 0.02,
            "score_time": 0.02,
            "window": 0.01,
            "bin_size": 0.01,
            "chunk": 50,
            "episodes": 2,
            "heldout_episodes": 2,
        },
        "rules": {"inh": {"reference": "vogels_istdp", "init_std": 0.01}},
        "meta": {"generations": 2, "popsize": 4, "unstable_loss": 300.0, "scale": [1e-2] * 6},
    },
)
