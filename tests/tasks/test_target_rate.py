import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix import networks, rules, tasks

NO_PLASTICITY = jnp.array([0.0, 0.0, 0.0, 0.0, 0.02, 0.02])


def test_input_rates_are_rectified_sparse_and_bounded():
    key = jax.random.PRNGKey(0)
    rates = jax.jit(tasks.input_rates, static_argnums=(1,), static_argnames="sparsify")
    dense = np.asarray(rates(key, 40_000, sparsify=False))
    sparse = np.asarray(rates(key, 40_000))
    assert sparse.shape == (40_000, 8)
    assert sparse.min() == 5.0 and sparse.max() <= 55.0 and dense.max() > 45.0
    above_dense, above_sparse = (dense > 5).mean(), (sparse > 5).mean()
    assert 0.45 < above_dense < 0.55  # rectified unit OU: above baseline half of the time
    assert 0.35 < above_sparse / above_dense < 0.65  # every second bump removed
    # Sparsification only removes whole bumps: where it is kept, the signal is unchanged.
    kept = sparse > 5
    np.testing.assert_array_equal(sparse[kept], dense[kept])


def test_inputs_fire_at_the_group_rates_for_steps_and_chunks():
    task = tasks.target_rate(train_time=1.0, score_time=1.0, window=1.0)
    ep = task.sample(jax.random.PRNGKey(1))
    groups = networks.afferent_groups()
    steps = jnp.arange(10_000)
    expected = np.asarray(ep["rates"])[np.arange(10_000) // 10][:, groups].sum(0) * 1e-4  # per afferent
    chunk = jax.jit(lambda k: task.inputs(ep, steps, k))
    counts = sum(np.asarray(chunk(jax.random.PRNGKey(i))).sum(0) for i in range(4)) / 4
    one = jax.jit(jax.vmap(lambda t, k: task.inputs(ep, t, k)))(
        steps, jax.random.split(jax.random.PRNGKey(9), 10_000)
    )
    assert one.shape == (10_000, 1000) and set(np.unique(one)) <= {0.0, 1.0}
    for got in (counts, np.asarray(one).sum(0)):  # chunks (thinning) and single steps (Bernoulli)
        # Pooled over each group's afferents, the counts match the Poisson means (3 sigma).
        for g in range(8):
            m = groups == g
            n = 4 if got is counts else 1
            assert abs(got[m].sum() - expected[m].sum()) < 3 * np.sqrt(expected[m].sum() / n) + 1


def test_given_spike_trains_are_replayed_exactly():
    rng = np.random.default_rng(0)
    steps = np.sort(rng.integers(0, 2000, 600))
    aff = rng.integers(0, 1000, 600)
    keep = np.unique(steps * 1000 + aff, return_index=True)[1]
    steps, aff = steps[keep], aff[keep]
    pad = lambda a: np.concatenate([a, -np.ones(5, int)])[None]  # noqa: E731
    task = tasks.target_rate(
        train_time=0.1, score_time=0.1, window=0.1, bin_size=0.1, spike_trains=(pad(steps), pad(aff))
    )
    ep = task.sample(jax.random.PRNGKey(0))
    dense = np.zeros((2000, 1000), np.float32)
    dense[steps, aff] = 1
    chunks = np.concatenate([task.inputs(ep, c * 500 + jnp.arange(500), None) for c in range(4)])
    np.testing.assert_array_equal(chunks, dense)
    np.testing.assert_array_equal(task.inputs(ep, steps[3], None), dense[steps[3]])


def _short(**kw):
    kw = {"train_time": 0.2, "score_time": 0.2, "window": 0.1, "bin_size": 0.1, **kw}
    task = tasks.target_rate(**kw)
    net = networks.lif()
    return task, net


def test_chunked_unroll_equals_per_step_unroll_on_identical_spikes():
    rng = np.random.default_rng(1)
    t, a = np.nonzero(rng.random((4000, 1000)) < 2e-3)  # ~20 Hz per afferent
    task = tasks.target_rate(
        train_time=0.2, score_time=0.2, window=0.1, bin_size=0.1, spike_trains=(t[None], a[None])
    )
    net = networks.lif()
    rs = {"inh": rules.spike_trace()}
    th = {"inh": rules.vogels_istdp(eta=0.05)}
    ep, key = task.sample(jax.random.PRNGKey(0)), jax.random.PRNGKey(1)
    slow = jax.jit(lambda th: tasks.unroll(rs, net, task, th, ep, key))(th)
    fast = jax.jit(lambda th: tasks.unroll(rs, net, task, th, ep, key, chunk=500))(th)
    assert float(slow.aux["n_spikes"]) > 10
    for x, y in zip(jax.tree.leaves(slow), jax.tree.leaves(fast), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def test_loss_formula_and_window():
    task = tasks.target_rate(train_time=2.0, score_time=3.0, window=2.0, target=5.0)
    state = networks.lif().init(jax.random.PRNGKey(0))
    counts = jnp.array([50.0, 50.0, 4.0, 8.0, 0.0])  # what the task's recorder keeps: spikes per bin
    loss, m = task.loss(state, counts, {"window": jnp.array(2)})
    np.testing.assert_allclose(m["rate"], 6.0)
    np.testing.assert_allclose(loss, (6.0 - 5.0) ** 2 / 6.1, rtol=1e-6)
    np.testing.assert_allclose(m["rate_score"], 4.0)
    windows = np.asarray(
        jax.jit(jax.vmap(task.sample))(jax.random.split(jax.random.PRNGKey(0), 40))["window"]
    )
    assert set(windows) == {2, 3}  # start bins inside the scoring phase


def test_target_rate_loss_vmaps_over_theta_and_scores_bad_candidates_finitely():
    rs = {"inh": rules.spike_trace()}
    task, net = _short()
    f = tasks.meta_loss(rs, net, task, 2, unstable_loss=300.0, chunk=500)
    thetas = jnp.stack(
        [
            NO_PLASTICITY,
            rules.vogels_istdp(eta=0.05),
            jnp.array([50.0, 0, 0, 0, 0.02, 0.02]),  # runaway potentiation: hits the bound
            jnp.full(6, jnp.nan),
            jnp.array([0.0, 4.0, 0, 0, 0.02, 0.02]),  # +4 per post spike: silent after 1-2 spikes
        ]
    )
    key = jax.random.PRNGKey(3)
    loss, m = jax.jit(jax.vmap(f, in_axes=(0, None)))({"inh": thetas}, key)
    assert loss.shape == (5,) and set(m) >= {"rate", "rate_score", "w_inh", "task_loss", "unstable"}
    assert np.all(np.isfinite(loss))
    np.testing.assert_array_equal(m["unstable"], [0, 0, 1, 1, 0])
    np.testing.assert_allclose(loss[2:4], 300.0)
    np.testing.assert_allclose(loss[4], 250.0, rtol=1e-6)  # silent: r_tg^2 / 0.1
    assert float(m["rate"][0]) > 10.0
    eager, _ = f({"inh": thetas[1]}, key)  # jit == eager
    np.testing.assert_allclose(loss[1], eager, rtol=1e-4)


@pytest.mark.slow
@pytest.mark.rounding
def test_vogels_rule_drives_rate_to_target():
    # Shortened protocol: 30 s of training at eta = 5e-3 instead of 60 s at 3e-3.
    # Spike times are chaotic under rounding; the statistics below are not: rates in
    # the last 10 s 4.7 / 5.3 Hz here, the same under XLA's fast-math code, 4.3 / 4.6 Hz
    # in float64 (make test-rounding).
    T = 40.0
    task = tasks.target_rate(train_time=T - 10.0, score_time=10.0, window=10.0)
    net = networks.lif()
    rs = {"inh": rules.spike_trace()}

    @jax.jit
    def run(theta, key):
        ep = task.sample(key)
        return tasks.unroll(rs, net, task, {"inh": theta}, ep, key, chunk=1000, record=task.record)

    thetas = jnp.stack([rules.vogels_istdp(eta=5e-3), NO_PLASTICITY])
    finals, counts = jax.vmap(jax.vmap(run, in_axes=(None, 0)), in_axes=(0, None))(
        thetas, jax.random.split(jax.random.PRNGKey(0), 2)
    )
    counts = np.asarray(counts)  # [rule, dataset, second]
    first, last = counts[..., :2].mean(-1), counts[..., -10:].mean(-1)
    print("rate in the first 2 s", first, "in the last 10 s", last)
    assert np.all(first > 15)  # excitation alone drives the neuron far above 5 Hz
    assert np.all(last[1] > 15)  # and keeps doing so without plasticity
    # Vogels' rule brings it to ~5 Hz (measured after the full 60 s at eta =
    # 3e-3: 5.0 +- 1.3 Hz over 8 datasets; single 10 s windows are noisy).
    assert abs(last[0].mean() - 5.0) < 1.5 and np.all(np.abs(last[0] - 5.0) < 3.0)
    # Learned inhibition follows the excitatory tuning (co-tuning, Vogels et al. 2011).
    groups = networks.afferent_groups()[800:]
    for d in range(2):
        w_inh = np.asarray(finals.w["inh"][0, d, 0])
        w_exc = np.asarray(finals.aux["w_exc"][0, d])
        per_group = [w_inh[groups == g].mean() for g in range(8)]
        exc_group = w_exc.reshape(8, 100).mean(1)
        assert np.corrcoef(per_group, exc_group)[0, 1] > 0.8
