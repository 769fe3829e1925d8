"""Family ``spiking``: inhibitory spike-timing plasticity that holds a LIF neuron at a target rate.

Confavreux et al. 2020 (NeurIPS, Sec. 3.3), after Vogels et al. 2011: one
conductance-based LIF neuron (:func:`plastix.networks.lif`) with fixed tuned
excitatory and plastic inhibitory Poisson afferents in groups, a 6-parameter
spike-trace rule (:func:`plastix.rules.spike_trace`) and the target-rate loss
(:func:`plastix.tasks.target_rate`). Configs: ``configs/istdp*.toml``.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import Field, field_validator, model_validator

from plastix import analysis, networks, plotting, rules, tasks
from plastix.experiment._config import RuleSection, Section, TaskSection, UserError
from plastix.experiment._family import Family, Memory, Parts, in_section, itemsize
from plastix.experiment._family import headline as generic_headline

# LIF parameters that must be positive (time constants divide, the leak sets the unit) and
# those that must not be negative (conductance per unit weight, the refractory period).
POSITIVE = ("tau_m", "tau_exc", "tau_inh", "g_leak")
NON_NEGATIVE = ("gbar_exc", "gbar_inh", "t_ref")
MAX_STEPS = 2**31 - 1  # the neuron counts its steps in int32


class LifNetworkConfig(Section):
    """``[network]`` with ``kind = "lif"``: one conductance LIF neuron (:func:`plastix.networks.lif`)."""

    kind: Literal["lif"] = "lif"
    n_exc: int = Field(800, ge=1, description="excitatory afferents")
    n_inh: int = Field(200, ge=1, description="inhibitory (plastic) afferents")
    n_groups: int = Field(8, ge=1, description="input groups (both counts must be multiples)")
    dt: float = Field(1e-4, gt=0, description="time step, s")
    preferred: float = Field(5.0, description="preferred group P of the excitatory tuning (1-based)")
    w_exc_noise: float = Field(0.1, ge=0, description="excitatory weights + U(0, w_exc_noise)")
    w_inh_init: float = Field(0.1, ge=0, description="initial inhibitory weight, units of gbar_inh")
    w_inh_max: float = Field(
        100.0, gt=0, description="inhibitory weight bound; reaching it marks a rule unstable"
    )
    params: dict[str, float] = Field({}, description="overrides of networks.VOGELS_2011 (tau_m = 0.02, ...)")

    @field_validator("params")
    @classmethod
    def _params(cls, v):
        bad = sorted(set(v) - set(networks.VOGELS_2011))
        if bad:
            raise ValueError(f"unknown LIF parameter(s) {bad}; allowed: {sorted(networks.VOGELS_2011)}")
        for k in POSITIVE:
            if k in v and not v[k] > 0:
                raise ValueError(f"{k} must be > 0, got {v[k]}")
        for k in NON_NEGATIVE:
            if k in v and v[k] < 0:
                raise ValueError(f"{k} must be >= 0, got {v[k]}")
        return v

    @model_validator(mode="after")
    def _groups(self):
        if self.n_exc % self.n_groups or self.n_inh % self.n_groups:
            raise ValueError(
                f"n_exc ({self.n_exc}) and n_inh ({self.n_inh}) "
                f"must be multiples of n_groups ({self.n_groups})"
            )
        return self


class TargetRateTaskConfig(TaskSection):
    """``[task]`` with ``kind = "target_rate"``: :func:`plastix.tasks.target_rate`.

    Times in seconds, rates in Hz; the neuron's sizes and ``dt`` come from ``[network]``.
    """

    kind: Literal["target_rate"] = "target_rate"
    train_time: float = Field(60.0, gt=0, description="simulated training time with plasticity, s")
    score_time: float = Field(30.0, gt=0, description="scoring phase after training, s")
    window: float = Field(10.0, gt=0, description="scored window (random start inside the scoring phase), s")
    target: float = Field(5.0, gt=0, description="target postsynaptic rate r_tg, Hz")
    bin_size: float = Field(1.0, gt=0, description="spike-count bin, s (window and times are multiples)")
    baseline: float = Field(5.0, ge=0, description="input rate floor, Hz")
    peak_rate: float = Field(50.0, ge=0, description="input rate added at a signal's peak, Hz")
    tau_input: float = Field(0.05, gt=0, description="time constant of the input signals, s")
    rate_dt: float = Field(1e-3, gt=0, description="grid of the input rates, s")
    sparsify: bool = Field(True, description="remove every second input bump (Vogels et al. 2011)")
    chunk: int = Field(1000, ge=1, description="inner steps whose input spikes are drawn at once")
    episodes: int = Field(4, ge=1, description="training datasets (input rate draws) per generation")
    heldout_episodes: int = Field(8, ge=1, description="fresh datasets for the final score")
    resample: bool = Field(True, description="draw fresh training datasets every generation")


class SpikeTraceRuleConfig(RuleSection):
    """``[rules.<projection>]`` with ``kind = "spike_trace"``: :func:`plastix.rules.spike_trace`.

    Theta is ``(alpha, beta, gamma, kappa, tau_pre, tau_post)``: four per-spike
    weight increments and two trace time constants in seconds. The angle to the
    reference is taken over the four increments only (``angle_terms``): with
    the time constants in, it would mostly compare two numbers in seconds with
    weight increments a hundred times smaller.
    """

    references = ("vogels_istdp",)
    angle_terms = 4

    kind: Literal["spike_trace"] = "spike_trace"
    reference: str | None = Field(None, description="named rule to measure the angle to (vogels_istdp)")
    init_std: float = Field(
        1e-3, ge=0, description="random init: increments ~ N(0, init_std^2), taus log-uniform in [5, 50] ms"
    )
    tau_min: float = Field(1e-4, gt=0, description="smallest trace time constant (a floor), s")
    tau_max: float = Field(10.0, gt=0, description="largest trace time constant, s")
    signs: bool = Field(False, description="impose alpha <= 0 <= beta (a stable rate fixed point)")
    increment_max: float | None = Field(
        None, gt=0, description="bound on |alpha|, |beta|, |gamma|, |kappa|, weight units per spike"
    )
    l1: float = Field(0.0, ge=0, description="L1 prior on the four increments, per weight unit")

    @model_validator(mode="after")
    def _taus(self):
        if self.init == "zero":
            raise ValueError("init = 'zero' would put both trace time constants at tau_min; use 'random'")
        if self.tau_min >= self.tau_max:
            raise ValueError(f"tau_min ({self.tau_min}) must be below tau_max ({self.tau_max})")
        return self

    def rule(self) -> rules.Rule:
        return rules.spike_trace(
            tau_min=self.tau_min,
            tau_max=self.tau_max,
            init_std=self.init_std,
            signs=self.signs,
            increment_max=self.increment_max,
            l1=self.l1,
        )


def _target_rate_args(n: LifNetworkConfig, t: TargetRateTaskConfig) -> dict[str, Any]:
    """Keyword arguments of :func:`plastix.tasks.target_rate` from the two config sections."""
    return dict(
        train_time=t.train_time,
        score_time=t.score_time,
        window=t.window,
        target=t.target,
        dt=n.dt,
        bin_size=t.bin_size,
        n_exc=n.n_exc,
        n_inh=n.n_inh,
        n_groups=n.n_groups,
        baseline=t.baseline,
        peak_rate=t.peak_rate,
        tau_input=t.tau_input,
        rate_dt=t.rate_dt,
        sparsify=t.sparsify,
    )


def _check_steps(cfg) -> None:
    """The times in steps of ``dt``, before any builder (or :func:`memory`) rounds them: a count
    past int32 would wrap the neuron's step counter, and one past a float's range fails in ``round``."""
    n, t = cfg.network, cfg.task
    for name, value in (
        ("task.train_time + task.score_time", t.train_time + t.score_time),
        ("task.bin_size", t.bin_size),
        ("task.rate_dt", t.rate_dt),
        ("network.params.t_ref", {**networks.VOGELS_2011, **n.params}["t_ref"]),
    ):
        if not value / n.dt <= MAX_STEPS:
            raise ValueError(
                f"{name} ({value:g} s) is {value / n.dt:.3g} steps of network.dt ({n.dt:g} s); "
                f"at most {MAX_STEPS} (the step counter is int32)"
            )


def check(cfg) -> None:
    t = cfg.task
    _check_steps(cfg)
    silent = t.target * t.target / 0.1  # target**2 would raise OverflowError where this is inf
    if cfg.meta.unstable_loss <= silent:
        raise ValueError(
            f"meta.unstable_loss ({cfg.meta.unstable_loss}) must exceed the loss of a silent neuron "
            f"({silent:g}), e.g. 300 for target = 5 Hz"
        )


def memory(cfg) -> Memory:
    """The arrays of a spiking episode (:class:`plastix.experiment.Memory`).

    Per episode: the input rates ``[steps / rate_dt, groups]`` and one chunk's
    spikes ``[chunk, afferents]`` with their thinning candidates
    (:func:`plastix.tasks.target_rate`). Per candidate: the excitatory and
    inhibitory weights, the rule's traces and the spike-count bins; per step a
    few afferent-sized temporaries.
    """
    _check_steps(cfg)  # memory runs before check: the step counts below must be finite
    n, t = cfg.network, cfg.task
    aff = n.n_exc + n.n_inh
    steps = round((t.train_time + t.score_time) / n.dt)
    rates = -(-steps // max(round(t.rate_dt / n.dt), 1)) * n.n_groups
    # No more bins than steps: the builder refuses a bin_size that is no multiple of dt.
    bins = round(min((t.train_time + t.score_time) / t.bin_size, steps))
    b = itemsize(cfg)
    what = f"{aff} afferents, {steps} steps of {n.dt:g} s in chunks of {t.chunk}"
    state = aff + 2 * n.n_inh + bins
    return Memory(
        (rates + 3 * t.chunk * aff) * b, state * b, 4 * aff * b, steps, t.chunk, 6 * len(cfg.rules), what
    )


def build(cfg) -> Parts:
    # The builders check the time grid (multiples of dt and bin_size, window
    # inside the scoring phase, input rates below 1 / dt); their one-line
    # messages name the section.
    n, t = cfg.network, cfg.task
    task = in_section("task", tasks.target_rate, **_target_rate_args(n, t))
    network = in_section(
        "network",
        networks.lif,
        n.n_exc,
        n.n_inh,
        n.n_groups,
        dt=n.dt,
        preferred=n.preferred,
        w_exc_noise=n.w_exc_noise,
        w_inh_init=n.w_inh_init,
        w_inh_max=n.w_inh_max,
        record_bins=round((t.train_time + t.score_time) / t.bin_size),
        bin_size=t.bin_size,
        **n.params,
    )
    if task.num_steps % t.chunk:
        raise ValueError(f"task.chunk ({t.chunk}) must divide the {task.num_steps} inner steps")
    rule_set = {p: rc.rule() for p, rc in cfg.rules.items()}
    return Parts(network, task, rule_set, loss_options={"chunk": t.chunk})


def rules_text(exp, theta) -> dict[str, str]:
    rc = exp.config.rules
    return {p: analysis.pretty_spike_trace(theta[p], rc[p].tau_min, rc[p].tau_max) for p in sorted(theta)}


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
    chunk's end.
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

    def init(state):
        return jnp.zeros(n.n_groups, dtype), jnp.zeros(n.n_groups, dtype)

    def step(carry, state, x, new):
        ge, gi = carry
        x = x.astype(dtype)
        # Conductances per group, from the weights the spikes met (before the update).
        ge = ge * decay_e + p["gbar_exc"] * ((new.aux["w_exc"] * x[: n.n_exc]) @ onehot_e)
        gi = gi * decay_i + p["gbar_inh"] * ((state.w["inh"][0] * x[n.n_exc :]) @ onehot_i)
        v = new.aux["v"][0]
        i_e = p["g_leak"] * ge * (p["e_exc"] - v)
        i_i = p["g_leak"] * gi * (p["e_inh"] - v)
        return (ge, gi), (i_e, i_i, (new.w["inh"][0] @ onehot_i) / size_i, new.w["inh"][0])

    w_before = exp.network.init(jax.random.split(key)[0]).w["inh"][0]  # unroll's initial state
    final, (i_e, i_i, w_group, w_inh) = tasks.unroll(
        exp.rules,
        exp.network,
        exp.task,
        theta,
        episode,
        key,
        chunk=cfg.task.chunk,
        record=tasks.Recorder(
            init, step, lambda o: (jnp.mean(o[0], 0), jnp.mean(o[1], 0), o[2][-1], o[3][-1])
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
        "counts": final.aux["counts"],
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
    """Theta in two panels, the (alpha, beta) plane with the steady-state line, detailed balance."""
    (proj,) = exp.rules  # the one plastic projection
    rc = exp.config.rules[proj]
    tau_min, tau_max = rc.tau_min, rc.tau_max
    theta, names = history.theta[proj], exp.rules[proj].names
    ref = exp.references.get(proj)
    ref = (ref[0], np.asarray(ref[1])) if ref else None
    gens = history.generations
    figs = {"coefficients.png": plotting.spike_coefficients(gens, theta, names, ref, tau_min, tau_max)}
    if arrays is None:
        return figs
    nu_pre, target = float(arrays["nu_pre"]), float(arrays["target"])
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
    """The generic metrics and the held-out rate (Hz, mean over the held-out datasets)."""
    return {
        **generic_headline(summary),
        "heldout_rate": summary.get("heldout_rate"),
        "corr_w": summary.get("corr_w"),
        "w_inh_fluctuation": summary.get("w_inh_fluctuation"),
    }


def summary_lines(summary: dict) -> list[str]:
    lines = [
        f"held-out rate {summary['heldout_rate']:.2f} ± {summary['heldout_rate_sd']:.2f} Hz "
        f"over {len(summary['heldout_rates'])} datasets (target {summary['target_rate']:g} Hz)"
    ]
    if "w_inh_fluctuation" in summary:  # runs written before these were measured lack them
        corr, fl = summary["corr_w"], summary["w_inh_fluctuation"]
        tuning = summary.get("tuning")
        lines.append(
            "detailed balance corr(wE, wI) "
            + ("n/a" if corr is None else f"{corr:+.2f}")
            + ", inhibitory tuning depth / excitatory "
            + ("n/a" if tuning is None else f"{tuning:.2f}")
            + ", inhibitory weight fluctuation while scored "
            + ("n/a" if fl is None else f"{fl:.2f}")
            + " (sd / mean)"
        )
    return lines


def export_brian2(cfg, summary: dict, duration: float | None) -> str:
    """The run's learned rule in a runnable Brian2 script (:func:`plastix.experiment.brian2_script`)."""
    from plastix.experiment._export import brian2_script

    n, t = cfg.network, cfg.task
    (proj,) = cfg.rules
    r = cfg.rules[proj]
    net = {k: getattr(n, k) for k in ("n_exc", "n_inh", "n_groups", "dt", "preferred", "w_exc_noise")}
    net.update(w_inh_init=n.w_inh_init, w_inh_max=n.w_inh_max, **n.params)
    task = {k: getattr(t, k) for k in ("baseline", "peak_rate", "tau_input", "rate_dt", "sparsify", "target")}
    duration = duration if duration is not None else t.train_time + t.score_time
    if duration <= 0:
        raise UserError(f"--duration must be positive, got {duration}")
    return brian2_script(
        summary["theta"][proj],
        net,
        task,
        duration=duration,
        window=min(t.window, duration),
        seed=cfg.seed,
        name=cfg.name,
        rule_text=summary.get("rule", ""),
        tau_min=r.tau_min,
        tau_max=r.tau_max,
    )


FAMILY = Family(
    name="spiking",
    description="an inhibitory spike-timing rule holds a conductance LIF neuron at a target rate",
    network=LifNetworkConfig,
    task=TargetRateTaskConfig,
    rules=(SpikeTraceRuleConfig,),
    build=build,
    check=check,
    rules_text=rules_text,
    example=example,
    figures=figures,
    summary_lines=summary_lines,
    headline=headline,
    memory=memory,
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
