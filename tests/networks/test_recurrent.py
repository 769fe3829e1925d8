"""networks.recurrent: its two engines, its synapses, its guard, its memory."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix import networks, rules, tasks

PLASTIC_RULES = {
    "ee": [-2e-3, 1e-3, 4e-3, -3e-3, 0.015, 0.03],
    "ei": [1e-3, -2e-3, -1e-3, 5e-3, 0.04, 0.01],
    "ie": [-1.2e-3, 0.0, 1e-2, 1e-2, 0.02, 0.02],
    "ii": [-1e-3, 2e-3, 2e-3, -2e-3, 0.02, 0.02],
}


def simulate(net, steps, key, theta=PLASTIC_RULES):
    """Spikes ``[steps, N]`` and the final state, every pathway of ``net.plastic`` learning."""
    rule = rules.spike_trace()
    task = tasks.Task(lambda k: None, lambda ep, t, k: jnp.zeros((0,)), lambda *a: (0.0, {}), steps)
    rec = tasks.Recorder(lambda s: None, lambda c, s, x, new, y: (c, y))
    th = {q: jnp.asarray(theta[q], jnp.asarray(0.0).dtype) for q in net.plastic}
    return jax.jit(
        lambda k: tasks.unroll({q: rule for q in net.plastic}, net, task, th, None, k, record=rec)
    )(key)


def as_synapses(state, q, n_pre):
    """A plastic pathway's weights per synapse, ``[n_post, k]``, from either engine's layout."""
    w, pre = np.asarray(state.w[q]), np.asarray(state.aux["pre"][q])
    if w.shape != pre.shape:  # dense [n_post, n_pre]
        w = np.take_along_axis(np.pad(w, ((0, 0), (0, 1))), pre, axis=1)
    return np.where(pre < n_pre, w, 0.0)


@pytest.mark.parametrize("connect", [{"p": 0.1}, {"k": {"ee": 12, "ei": 9, "ie": 5, "ii": 4}}])
def test_event_engine_equals_dense_engine_spike_for_spike(connect):
    kw = dict(plastic=networks.PATHWAYS, w={"ee": 3.0, "ei": 3.0, "ie": 5.0, "ii": 30.0}, max_events=1.0)
    with jax.enable_x64(True):
        key = jax.random.PRNGKey(0)
        event, s_event = simulate(networks.recurrent(60, 20, engine="event", **kw, **connect), 3000, key)
        dense, s_dense = simulate(networks.recurrent(60, 20, engine="dense", **kw, **connect), 3000, key)
    assert s_event.sum() > 500  # active, so the comparison means something
    np.testing.assert_array_equal(np.asarray(s_event), np.asarray(s_dense))
    for q in networks.PATHWAYS:
        n_pre = 60 if q[0] == "e" else 20
        a, b = as_synapses(event, q, n_pre), as_synapses(dense, q, n_pre)
        assert np.abs(a - np.asarray(kw["w"][q])).max() > 1e-3, q  # the rule moved them
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, err_msg=q)


def test_fixed_in_degree_draws_distinct_partners_and_no_autapses():
    net = networks.recurrent(50, 30, k={"ee": 10, "ei": 7, "ie": 4, "ii": 29}, max_events=1.0)
    a, b = net.init(jax.random.PRNGKey(1)).aux["pre"], net.init(jax.random.PRNGKey(2)).aux["pre"]
    for q, k in {"ee": 10, "ei": 7, "ie": 4, "ii": 29}.items():
        pre = np.asarray(a[q])
        assert pre.shape[1] == k
        assert all(len(set(row)) == k for row in pre), q
        if q[0] == q[1]:
            assert not np.any(pre == np.arange(pre.shape[0])[:, None]), q
    assert not np.array_equal(np.asarray(a["ee"]), np.asarray(b["ee"]))  # a new network per seed


def test_connection_probability_gives_binomial_in_degrees():
    p, n = 0.05, 2000
    net = networks.recurrent(n, 500, p=p)
    pre = np.asarray(net.init(jax.random.PRNGKey(3)).aux["pre"]["ee"])
    degree = (pre < n).sum(1)
    mean, var = (n - 1) * p, (n - 1) * p * (1 - p)
    # 2000 rows: the mean within 5 standard errors, the variance within 20 %.
    assert abs(degree.mean() - mean) < 5 * math.sqrt(var / n)
    assert abs(degree.var() / var - 1) < 0.2
    assert all(np.all(np.diff(row[row < n]) > 0) for row in pre)  # sorted, distinct
    assert not np.any(pre == np.arange(n)[:, None])  # no autapses


def test_memory_grows_with_synapses_not_neurons_squared():
    """10,000 neurons at 2 %: the state is a few arrays per synapse, never N^2."""
    net = networks.recurrent(8000, 2000, plastic=networks.PATHWAYS, p=0.02)
    shapes = jax.eval_shape(net.init, jax.random.PRNGKey(0))
    nbytes = sum(math.prod(x.shape) * x.dtype.itemsize for x in jax.tree.leaves(shapes))
    synapses = 0.02 * (8000 + 2000) ** 2
    n2 = (8000 + 2000) ** 2 * 4
    print(f"state {nbytes / 2**20:.0f} MiB for {synapses:.0f} synapses ({nbytes / synapses:.1f} bytes each)")
    assert nbytes < 32 * synapses  # weights, partners, outgoing index, each padded to its 1e-12 tail
    assert nbytes < n2 / 4


def test_guard_stops_a_runaway_network_and_freezes_it():
    kw = dict(plastic=("ee",), p=0.2, w={"ee": 6.0, "ei": 3.0, "ie": 0.0, "ii": 30.0}, max_events=1.0)
    theta = {"ee": [0.0, 0.05, 0.0, 0.0, 0.02, 0.02]}  # every postsynaptic spike strengthens
    guarded = networks.recurrent(80, 20, rate_range=(0.1, 50.0), tau_guard=0.01, **kw)
    free = networks.recurrent(80, 20, **kw)
    g, sg = simulate(guarded, 2000, jax.random.PRNGKey(4), theta)
    f, sf = simulate(free, 2000, jax.random.PRNGKey(4), theta)
    stop = int(g.aux["t_stop"])
    assert 0 < stop < 2000 and not bool(guarded.unstable(g))  # stopped, for the task to score
    assert not np.asarray(sg)[stop + 1 :].any()  # nothing spikes after the stop
    assert int(f.aux["t_stop"]) == -1 and not bool(free.unstable(f))
    assert np.asarray(sf)[:stop].sum() == np.asarray(sg)[:stop].sum()  # the same run until then
    assert float(f.w["ee"].max()) > float(g.w["ee"].max())  # the free one kept growing


def test_more_spikes_than_the_event_engine_takes_stop_the_run():
    w = {"ee": 6.0, "ei": 3.0, "ie": 0.0, "ii": 30.0}
    net = networks.recurrent(80, 20, p=0.2, w=w, max_events=0.02)
    final, spikes = simulate(net, 1000, jax.random.PRNGKey(5))
    stop = int(final.aux["t_stop"])
    assert bool(final.aux["overflow"]) and 0 <= stop < 1000
    assert not np.asarray(spikes)[stop + 1 :].any()


def test_bad_arguments_are_refused_with_their_name():
    with pytest.raises(ValueError, match="unknown pathway"):
        networks.recurrent(plastic=("xe",))
    with pytest.raises(ValueError, match="engine"):
        networks.recurrent(engine="gpu")
    with pytest.raises(ValueError, match="rate_range"):
        networks.recurrent(rate_range=(5.0, 1.0))
    with pytest.raises(ValueError, match="in-degree"):
        networks.recurrent(10, 10, k={"ee": 10})
