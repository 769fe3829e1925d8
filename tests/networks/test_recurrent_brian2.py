"""networks.recurrent (+ spike_trace on all four pathways) against the same network in Brian2.

Identical synapses (plastix draws them, Brian2 is given them), identical initial
potentials, Brian2's exponential Euler: in float64 the two agree spike for spike
until chaos amplifies a rounding difference; over a longer run they agree in
their statistics. The model strings are those of ``plastix export --brian2``.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix import networks, rules, tasks
from plastix.experiment import _export as export

try:
    import brian2 as b2
except Exception as err:  # ImportError, or AttributeError under numpy >= 2.4
    if os.environ.get("CI"):
        raise
    pytest.skip(f"brian2 not importable: {err!r}", allow_module_level=True)

pytestmark = pytest.mark.slow

DT = 1e-4
N_EXC, N_INH = 80, 20
W0 = {"ee": 2.0, "ei": 3.0, "ie": 10.0, "ii": 20.0}
# Vogels' rule on I -> E; small made-up rules on the other three, so every pathway and term runs.
THETA = {
    "ee": [-2e-3, 1e-3, 4e-3, -3e-3, 0.015, 0.03],
    "ei": [1e-3, -2e-3, -1e-3, 5e-3, 0.04, 0.01],
    "ie": list(np.asarray(rules.vogels_istdp(0.05, 3.0, 0.02), np.float64)),
    "ii": [-1e-3, 2e-3, 2e-3, -2e-3, 0.02, 0.02],
}
W_MAX = 60.0


def network():
    return networks.recurrent(
        N_EXC, N_INH, plastic=networks.PATHWAYS, p=0.1, w=W0, w_max=W_MAX, i_ext=(20.0, 18.0), max_events=1.0
    )


def run_plastix(seconds, key):
    net = network()
    steps = round(seconds / DT)
    task = tasks.Task(lambda k: None, lambda ep, t, k: jnp.zeros((0,)), lambda *a: (0.0, {}), steps)
    rec = tasks.Recorder(lambda s: None, lambda c, s, x, new, y: (c, y))
    rule = rules.spike_trace()
    theta = {q: jnp.asarray(THETA[q], jnp.float64) for q in networks.PATHWAYS}
    state = net.init(key)
    final, spikes = jax.jit(
        lambda: tasks.unroll(
            {q: rule for q in networks.PATHWAYS}, net, task, theta, None, key, record=rec, state=state
        )
    )()
    return state, final, np.asarray(spikes)


def run_brian2(state, seconds, v_jitter=0.0):
    b2.start_scope()
    b2.prefs.codegen.target = "numpy"
    if v_jitter:
        v0 = np.asarray(state.aux["v"], np.float64)
        v0 = v0 + v_jitter * np.random.default_rng(0).standard_normal(v0.shape)
        state = state._replace(aux={**state.aux, "v": v0})
    thetas = {q: THETA[q] for q in networks.PATHWAYS}
    g, syn = export.brian2_recurrent(b2, state, (N_EXC, N_INH), W0, W_MAX, thetas, i_ext=(20.0, 18.0), dt=DT)
    mon = b2.SpikeMonitor(g)
    b2.Network(g, mon, *syn.values()).run(seconds * b2.second)
    raster = np.zeros((round(seconds / DT), N_EXC + N_INH))
    raster[np.round(np.asarray(mon.t / b2.second) / DT).astype(int), np.asarray(mon.i)] = 1
    weights = {q: np.asarray(s.w[:]) for q, s in syn.items()}
    return raster, weights


def test_recurrent_equals_brian2_spike_for_spike():
    seconds = 0.3
    with jax.enable_x64(True):
        state, final, ours = run_plastix(seconds, jax.random.PRNGKey(11))
        theirs, weights = run_brian2(state, seconds)
    diff = np.nonzero(np.any(ours != theirs, axis=1))[0]
    first = diff[0] * DT if diff.size else None
    print(f"spikes plastix {int(ours.sum())}, brian2 {int(theirs.sum())}; first differing step {first}")
    assert ours.sum() > 200  # an active network, not a silent one that trivially agrees
    np.testing.assert_array_equal(ours, theirs)
    for q, w in weights.items():
        # Brian2 keeps the synapses in the order they were connected: plastix's, row by row.
        ok = np.asarray(state.aux["pre"][q]) < (N_EXC if q[0] == "e" else N_INH)
        np.testing.assert_allclose(np.asarray(final.w[q])[ok], w, rtol=1e-9, atol=1e-12, err_msg=q)


def statistics(raster, seconds):
    """E rate (Hz), mean CV of ISIs of E neurons with >= 3 intervals, Fano factor of E counts in 100 ms."""
    e = raster[:, :N_EXC]
    rate = e.sum() / (N_EXC * seconds)
    cvs = []
    for k in range(N_EXC):
        t = np.nonzero(e[:, k])[0] * DT
        if len(t) >= 4:
            isi = np.diff(t)
            cvs.append(isi.std() / isi.mean())
    counts = e.reshape(-1, round(0.1 / DT), N_EXC).sum(1)
    fano = np.mean([c.var() / c.mean() for c in counts.T if c.sum() > 3])
    return rate, float(np.mean(cvs)), float(fano)


def test_recurrent_statistics_equal_brian2_once_chaos_decorrelates_spikes():
    """Initial potentials 0.01 mV apart: the spike trains part (chaos) within the run, the
    statistics stay."""
    seconds = 3.0
    with jax.enable_x64(True):
        state, final, ours = run_plastix(seconds, jax.random.PRNGKey(12))
        theirs, _ = run_brian2(state, seconds, v_jitter=0.01)
    differ = np.nonzero(np.any(ours != theirs, axis=1))[0]
    ours_stats, their_stats = statistics(ours, seconds), statistics(theirs, seconds)
    print(
        f"first differing step {differ[0] * DT if differ.size else None} s; "
        f"plastix rate, CV, Fano {ours_stats}, brian2 {their_stats}"
    )
    # Decorrelated: after the first second, fewer than half of the spikes coincide.
    late = slice(round(1.0 / DT), None)
    same = (ours[late] * theirs[late]).sum() / max(ours[late].sum(), 1)
    print(f"spikes coinciding after 1 s: {same:.2f}")
    assert same < 0.5
    # Five plastix realizations (initial potentials 0.01 mV apart) spread by sd / mean 0.6 %
    # (rate), 3.5 % (CV), 6 % (Fano); two realizations differ by sqrt(2) of that: allow 3 sd.
    for name, ours_v, theirs_v, rtol in zip(
        ("rate", "CV", "Fano"), ours_stats, their_stats, (0.025, 0.15, 0.25), strict=True
    ):
        np.testing.assert_allclose(ours_v, theirs_v, rtol=rtol, err_msg=name)
