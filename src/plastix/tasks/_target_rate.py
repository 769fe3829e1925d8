"""Target-rate task for one spiking neuron: the inhibitory-plasticity experiment.

Confavreux et al. (NeurIPS 2020, Sec. 3.3): a conductance-based LIF neuron
(:func:`plastix.networks.lif`) receives 8 groups of co-modulated excitatory and
inhibitory Poisson afferents (Vogels et al., Science 2011); the inhibitory
synapses learn with a candidate rule; the loss asks for a postsynaptic rate
of ``r_tg`` after training.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from plastix.networks._base import NetState
from plastix.networks._lif import afferent_groups
from plastix.tasks._base import Recorder, Task

Array = jax.Array


def input_rates(
    key: Array,
    num: int,
    n_groups: int = 8,
    baseline: float = 5.0,
    peak_rate: float = 50.0,
    tau_input: float = 0.05,
    rate_dt: float = 1e-3,
    sparsify: bool = True,
) -> Array:
    r"""Firing rates of the input groups, ``[num, n_groups]`` in Hz, on a grid of ``rate_dt`` s.

    Following Vogels et al. (2011, SOM): each group's signal ``s_g`` is a
    low-pass filtered (``tau_input``) random walk, i.e. an Ornstein-Uhlenbeck
    process, here of unit stationary variance, sampled exactly on the grid:
    ``s <- a s + sqrt(1 - a^2) xi``, ``a = exp(-rate_dt / tau_input)``,
    ``xi ~ N(0, 1)``, started from its stationary law. It is rectified, and
    with ``sparsify`` every second bump (maximal run of ``s > 0``) is removed,
    as Vogels did to make the signals sparser. The rate is

    .. math:: r_g(t) = r_0 + r_{peak}\, \min\big([s_g(t)]_+ / 3,\ 1\big)

    so the signal reaches ``baseline + peak_rate`` at three standard
    deviations (clipped there, which happens 0.1 % of the time).
    """
    a = math.exp(-rate_dt / tau_input)
    k0, k1, k2 = jax.random.split(key, 3)
    xi = jax.random.normal(k1, (num, n_groups))

    def ou(s, z):
        s = a * s + math.sqrt(1.0 - a * a) * z
        return s, s

    _, s = jax.lax.scan(ou, jax.random.normal(k0, (n_groups,)), xi)
    up = s > 0
    if sparsify:
        starts = up & ~jnp.concatenate([jnp.zeros((1, n_groups), bool), up[:-1]], axis=0)
        # Random phase: which of the first two bumps survives differs per group.
        bump = jnp.cumsum(starts, axis=0) + jax.random.bernoulli(k2, 0.5, (n_groups,))
        up = up & (bump % 2 == 1)
    return baseline + peak_rate * jnp.where(up, jnp.minimum(s / 3.0, 1.0), 0.0)


def _event_max(steps: np.ndarray, length: int) -> int:
    """Largest number of events in any ``length`` consecutive steps (``steps`` sorted, -1 padded)."""
    best = 1
    for row in steps:
        row = row[row >= 0]
        if row.size:
            j = np.searchsorted(row, row + length, side="left")
            best = max(best, int(np.max(j - np.arange(row.size))))
    return best


def _candidates(length: int, p: float, tail: float = 1e-12) -> int:
    """Smallest ``m`` with ``P(Binomial(length, p) > m) < tail`` (Poisson bound, computed in logs)."""
    lam = length * p
    term, cdf, m = math.exp(-lam), 0.0, 0
    while True:
        cdf += term
        if 1.0 - cdf < tail or m >= length:
            return m + 1
        m += 1
        term *= lam / m


def _thinned_chunk(rates, t, key, groups, sub, dt, p_max):
    """Bernoulli(``r(t) dt``) spikes for consecutive steps ``t``, ``[len(t), n_afferents]``.

    Thinning (Lewis & Shedler 1979) of a Bernoulli(``p_max``) process: each
    afferent's candidate spikes are drawn with geometric gaps, then each is kept
    with probability ``p(t) / p_max``. Per step and afferent that is exactly a
    Bernoulli(``p(t)``) draw, independent across steps, but it needs about
    ``2 p_max`` random numbers per step and afferent instead of one. The number
    of candidates per chunk is capped where the probability of running out is
    below 1e-12 per afferent and chunk.
    """
    length, n_aff = t.shape[0], groups.shape[0]
    if p_max <= 0:  # silent inputs
        return jnp.zeros((length, n_aff), rates.dtype)
    m = _candidates(length, p_max)
    k_gap, k_keep = jax.random.split(key)
    dtype = rates.dtype
    u = 1.0 - jax.random.uniform(k_gap, (m, n_aff), dtype)  # (0, 1]
    gaps = jnp.floor(jnp.log(u) / math.log1p(-p_max)) + 1.0  # Geometric(p_max) >= 1
    pos = jnp.cumsum(gaps, axis=0) - 1.0  # candidate steps within the chunk (float: inf-safe)
    inside = pos < length
    i = jnp.where(inside, pos, 0).astype(jnp.int32)
    p = rates[(t[0] + i) // sub, groups[None, :]] * dt
    keep = inside & (jax.random.uniform(k_keep, (m, n_aff), dtype) * p_max < p)
    row = jnp.where(keep, i, length)
    return jnp.zeros((length, n_aff), dtype).at[row, jnp.arange(n_aff)[None, :]].set(1.0, mode="drop")


def target_rate(
    train_time: float = 60.0,
    score_time: float = 30.0,
    window: float = 10.0,
    target: float = 5.0,
    dt: float = 1e-4,
    bin_size: float = 1.0,
    n_exc: int = 800,
    n_inh: int = 200,
    n_groups: int = 8,
    baseline: float = 5.0,
    peak_rate: float = 50.0,
    tau_input: float = 0.05,
    rate_dt: float = 1e-3,
    sparsify: bool = True,
    spike_trains: tuple[np.ndarray, np.ndarray] | None = None,
) -> Task:
    r"""Drive one LIF neuron to a target rate with inhibitory plasticity.

    Protocol: ``train_time`` seconds of simulated time with plasticity, then a
    ``score_time`` scoring phase (plasticity stays on, so a rule must keep the
    rate stable, not only reach it). ``rbar`` is the postsynaptic rate in a
    ``window``-second window whose start is drawn uniformly, on the
    ``bin_size`` grid, inside the scoring phase, and

    .. math:: L = \frac{(\bar r - r_{tg})^2}{\bar r + 0.1}

    (``r_tg = target`` Hz), which penalises silence (``L = r_tg^2 / 0.1``)
    more than an equal excess.

    Inputs: ``n_exc + n_inh`` afferents in ``n_groups`` groups
    (:func:`plastix.networks.afferent_groups`); each fires as an inhomogeneous
    Poisson process (Bernoulli with ``p = r dt`` per step) at its group's rate
    :func:`input_rates`; a dataset is one draw of those rates. For a vector of
    steps the spikes are drawn by thinning (:func:`_thinned_chunk`), which
    needs ~20x fewer random numbers than one uniform per step and afferent.

    ``peak_rate`` = 50 Hz (a setting) makes excitation alone drive the neuron
    to 20-35 Hz (weak initial inhibition). Measured with Vogels' rule (eta =
    3e-3, rho0 = 5 Hz) over 8 datasets, rate in the last 10 s of 60 s:
    5.0 +- 1.3 Hz (mean +- sd), inhibitory weights per group correlating
    with the excitatory tuning at r > 0.96. At 100 Hz the neuron starts at
    35-50 Hz but settles at 3.9 +- 1.1 Hz: the stronger input bumps correlate
    the co-tuned inhibitory spikes with the postsynaptic ones, which adds
    potentiation beyond the rule's mean-field set point rho0.

    ``inputs(episode, t, key)`` accepts a scalar step or a vector of
    consecutive steps (one key for all), so ``unroll(..., chunk=1000)`` draws a
    whole chunk of input spikes at once; nothing of size
    ``[num_steps, n_afferents]`` is ever stored. Use it through
    ``meta_loss(..., chunk=1000, unstable_loss=300)``: 300 lies above every
    finite loss of this task (a silent neuron scores 250 for ``r_tg = 5`` Hz;
    the refractory period caps the rate at 200 Hz, loss 190), so silent and
    runaway neurons keep a finite loss ordered below the penalty.

    With ``spike_trains = (steps, afferents)``, two integer arrays
    ``[n_datasets, n_events]`` (events sorted by step, padded with ``-1``),
    the afferents replay those spike trains instead (e.g. loaded from an
    ``.npz`` by the caller); ``sample`` picks one dataset at random.

    The loss reads the postsynaptic spike counts per bin that the task's
    recorder keeps along the trajectory (:func:`spike_counts`): the network's
    output of each step, so any network whose output is its spikes serves.

    Metrics: ``rate`` (the window's rate, Hz), ``rate_score`` (the whole
    scoring phase), ``w_inh`` (mean inhibitory weight).
    """
    for name, value, unit in (
        ("train_time + score_time", train_time + score_time, bin_size),
        ("train_time", train_time, bin_size),
        ("window", window, bin_size),
        ("bin_size", bin_size, dt),
        ("rate_dt", rate_dt, dt),
    ):
        # Checked before anything is rounded: a ratio past a float's range (inf) has no round().
        q = value / unit
        if not (value > 0 and math.isfinite(q) and math.isclose(round(q) * unit, value, rel_tol=1e-6)):
            raise ValueError(f"{name} ({value}) must be a positive multiple of {unit}")
    if not math.isfinite((train_time + score_time) / dt):
        raise ValueError(f"train_time + score_time ({train_time + score_time}) is too many steps of {dt}")
    num_steps = round((train_time + score_time) / dt)
    n_bins = round((train_time + score_time) / bin_size)
    train_bins, window_bins = round(train_time / bin_size), round(window / bin_size)
    score_bins = n_bins - train_bins
    sub = round(rate_dt / dt)
    if baseline < 0 or peak_rate < 0 or (baseline + peak_rate) * dt >= 1:
        raise ValueError(
            f"need baseline, peak_rate >= 0 and (baseline + peak_rate) * dt < 1; got {baseline}, {peak_rate}"
        )
    if window_bins > score_bins:
        raise ValueError(f"window ({window} s) is longer than score_time ({score_time} s)")
    groups = jnp.asarray(afferent_groups(n_exc, n_inh, n_groups))
    n_aff = n_exc + n_inh
    num_rates = -(-num_steps // sub)

    if spike_trains is None:

        def sample(key):
            k_r, k_w = jax.random.split(key)
            rates = input_rates(k_r, num_rates, n_groups, baseline, peak_rate, tau_input, rate_dt, sparsify)
            start = train_bins + jax.random.randint(k_w, (), 0, score_bins - window_bins + 1)
            return {"rates": rates, "window": start}

        p_max = (baseline + peak_rate) * dt  # rates never exceed baseline + peak_rate

        def inputs(episode, t, key):
            t = jnp.asarray(t)
            rates = episode["rates"]
            if t.ndim == 0:  # one step: a Bernoulli draw per afferent
                p = rates[t // sub][groups] * dt
                return (jax.random.uniform(key, p.shape, p.dtype) < p).astype(p.dtype)
            return _thinned_chunk(rates, t, key, groups, sub, dt, p_max)

    else:
        ev_steps = np.asarray(spike_trains[0], np.int64)
        ev_aff = np.asarray(spike_trains[1], np.int64)
        if ev_steps.ndim != 2 or ev_steps.shape != ev_aff.shape:
            raise ValueError("spike_trains must be two arrays [n_datasets, n_events] of equal shape")
        if np.any(ev_aff >= n_aff) or np.any(
            np.diff(np.where(ev_steps < 0, np.iinfo(np.int32).max, ev_steps)) < 0
        ):
            raise ValueError(f"spike_trains: afferents must be < {n_aff} and events sorted by step")
        big = np.iinfo(np.int32).max
        st = jnp.asarray(np.where(ev_steps < 0, big, ev_steps), jnp.int32)
        af = jnp.asarray(np.where(ev_steps < 0, 0, ev_aff), jnp.int32)
        max_events: dict[int, int] = {}

        def sample(key):
            k_d, k_w = jax.random.split(key)
            start = train_bins + jax.random.randint(k_w, (), 0, score_bins - window_bins + 1)
            return {"dataset": jax.random.randint(k_d, (), 0, st.shape[0]), "window": start}

        def inputs(episode, t, key):
            t = jnp.asarray(t)
            length = max(t.size, 1)
            if length not in max_events:  # static: the largest event count in `length` steps
                max_events[length] = _event_max(ev_steps, length)
            m = max_events[length]
            t0 = t.reshape(-1)[0]
            steps, aff = st[episode["dataset"]], af[episode["dataset"]]
            i = jnp.searchsorted(steps, t0) + jnp.arange(m)
            s = jnp.take(steps, i, mode="fill", fill_value=big)
            a = jnp.take(aff, i, mode="fill", fill_value=0)
            row = jnp.where((s >= t0) & (s < t0 + length), s - t0, length)
            dtype = jnp.asarray(0.0).dtype
            out = jnp.zeros((length, n_aff), dtype).at[row, a].set(1.0, mode="drop")
            return out.reshape(t.shape + (n_aff,))

    def loss(state: NetState, counts, episode):
        rbar = jax.lax.dynamic_slice(counts, (episode["window"],), (window_bins,)).sum() / window
        rate_score = counts[train_bins:n_bins].sum() / score_time
        metrics = {"rate": rbar, "rate_score": rate_score, "w_inh": jnp.mean(state.w["inh"])}
        return (rbar - target) ** 2 / (rbar + 0.1), metrics

    return Task(sample, inputs, loss, num_steps, spike_counts(n_bins, round(bin_size / dt)))


def spike_counts(n_bins: int, bin_steps: int) -> Recorder:
    """Postsynaptic spikes per bin of ``bin_steps`` steps, ``[n_bins]``: what :func:`target_rate` scores.

    Counts the network's output of each step (a spiking neuron's ``[1]`` spike);
    steps past the last bin are not counted. The carry is the counts and a step
    counter, so the recording is ``n_bins`` numbers however long the episode.
    """

    def init(state):
        return jnp.zeros((n_bins,), jnp.asarray(0.0).dtype), jnp.zeros((), jnp.int32)

    def step(carry, state, x, new, out):
        counts, t = carry
        s = jnp.asarray(out, counts.dtype).reshape(-1)[:1]
        # A dynamic slice update, not a scatter: several times cheaper on CPU under vmap.
        i = jnp.minimum(t // bin_steps, n_bins - 1)
        add = jnp.where(t < n_bins * bin_steps, s, 0.0)
        counts = jax.lax.dynamic_update_slice(counts, jax.lax.dynamic_slice(counts, (i,), (1,)) + add, (i,))
        return (counts, t + 1), None

    return Recorder(init, step, finish=lambda carry, outs: carry[0])
