import jax
import jax.numpy as jnp
import numpy as np

from plastix import networks, rules, tasks


def _train(n_in, n_out, steps, theta_ff, theta_lat=None, seed=0):
    lateral = n_out > 1
    rs = {"ff": rules.polynomial()}
    th = {"ff": theta_ff}
    if lateral:
        rs["lateral"] = rules.polynomial()
        th["lateral"] = theta_lat
    net = networks.linear(n_in, n_out, lateral=lateral)
    task = tasks.pca(n_in, n_out, num_steps=steps)
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    ep = task.sample(k1)
    final = jax.jit(lambda th: tasks.unroll(rs, net, task, th, ep, k2))(th)
    return networks.effective_weights(final), ep["pcs"], task.loss(final, None, ep)[0]


def test_random_rotation_is_orthogonal_and_spectrum_is_geometric():
    r = tasks.random_rotation(jax.random.PRNGKey(0), 8)
    np.testing.assert_allclose(r @ r.T, np.eye(8), atol=1e-5)
    np.testing.assert_allclose(tasks.spectrum(4), [2.0, 1.4, 0.98, 0.686], rtol=1e-6)


def test_episode_covariance_has_the_documented_spectrum():
    task = tasks.pca(5, 2, scale_spread=1.0)
    ep = task.sample(jax.random.PRNGKey(3))
    cov = ep["factor"] @ ep["factor"].T
    evals, evecs = np.linalg.eigh(np.asarray(cov))
    np.testing.assert_allclose(evals[::-1], tasks.spectrum(5), rtol=1e-4)
    np.testing.assert_allclose(np.abs(evecs[:, ::-1][:, :2].T * ep["pcs"]).sum(1), 1.0, rtol=1e-4)


def test_oja_converges_to_first_principal_component():
    # Closed form: Oja's rule has the unit top eigenvector as its stable fixed point.
    w, pcs, loss = _train(10, 1, 600, rules.oja())
    cos = abs(float(w[0] @ pcs[0])) / float(jnp.linalg.norm(w[0]))
    assert cos > 0.995 and abs(float(jnp.linalg.norm(w[0])) - 1) < 0.02 and float(loss) < 0.1


def test_oja_plus_anti_hebbian_recovers_first_m_components():
    w, pcs, loss = _train(12, 3, 800, rules.oja(), rules.anti_hebbian(), seed=1)
    overlap = np.abs(np.asarray(w) @ np.asarray(pcs).T)
    np.testing.assert_allclose(np.diag(overlap), 1.0, atol=0.03)
    assert np.abs(overlap - np.diag(np.diag(overlap))).max() < 0.1
    assert float(loss) < 0.2


def test_meta_loss_penalises_unstable_rules_finitely():
    rs = {"ff": rules.polynomial()}
    net = networks.linear(5, 1)
    task = tasks.pca(5, 1, num_steps=100)
    f = jax.jit(tasks.meta_loss(rs, net, task, 4, unstable_loss=50.0))
    loss, m = f({"ff": 30 * rules.hebb()}, jax.random.PRNGKey(0))  # Hebb explodes
    assert float(loss) == 50.0 and float(m["unstable"]) == 1.0
    nan_theta = {"ff": jnp.full(27, jnp.nan)}
    loss, m = f(nan_theta, jax.random.PRNGKey(0))
    assert np.isfinite(float(loss)) and float(m["unstable"]) == 1.0
    loss, m = f({"ff": rules.oja()}, jax.random.PRNGKey(0))
    assert float(m["unstable"]) == 0.0 and float(loss) < 0.5


def test_meta_loss_per_episode_metrics_are_the_episodes_behind_the_means():
    rs = {"ff": rules.polynomial()}
    net, task = networks.linear(5, 1), tasks.pca(5, 1, num_steps=60)
    key = jax.random.PRNGKey(2)
    theta = {"ff": rules.oja()}
    mean_loss, mean_m = jax.jit(tasks.meta_loss(rs, net, task, 4))(theta, key)
    loss, m = jax.jit(tasks.meta_loss(rs, net, task, 4, per_episode=True))(theta, key)
    ep = m.pop("episodes")
    assert float(loss) == float(mean_loss) and set(m) == set(mean_m)
    assert set(ep) == {"loss", "unstable", "cos_0", "norm_0"} and ep["loss"].shape == (4,)
    np.testing.assert_allclose(np.mean(ep["loss"]), m["task_loss"], rtol=1e-6)
    np.testing.assert_allclose(np.mean(ep["cos_0"]), m["cos_0"], rtol=1e-6)
    # Each episode is the one the loss trains: one network from its own key.
    k_ep, k_run = jax.random.split(jax.random.split(key, 4)[3])
    episode = task.sample(k_ep)
    final = tasks.unroll(rs, net, task, theta, episode, k_run)
    np.testing.assert_allclose(ep["loss"][3], task.loss(final, None, episode)[0], rtol=1e-5)


def test_recorder_sees_every_step_and_leaves_the_final_state_unchanged():
    rs = {"ff": rules.polynomial()}
    net, task = networks.linear(6, 1), tasks.pca(6, 1, num_steps=40)
    theta, key = {"ff": rules.oja()}, jax.random.PRNGKey(4)
    episode = task.sample(key)

    def step(count, state, x, new, out):  # count steps; record |w| after each and the batch size
        return count + 1, (jnp.linalg.norm(new.w["ff"]), x.shape[0])

    rec = tasks.Recorder(lambda state: 0, step)
    plain = jax.jit(lambda th: tasks.unroll(rs, net, task, th, episode, key))(theta)
    final, (norms, batch) = jax.jit(lambda th: tasks.unroll(rs, net, task, th, episode, key, record=rec))(
        theta
    )
    np.testing.assert_array_equal(final.w["ff"], plain.w["ff"])
    assert norms.shape == (40,) and np.all(batch == 200)
    np.testing.assert_allclose(norms[-1], jnp.linalg.norm(plain.w["ff"]), rtol=1e-6)
    assert norms[0] < norms[-1]  # Oja grows the small initial weights to unit norm


def test_meta_loss_jit_equals_eager_and_has_finite_gradients():
    rs = {"ff": rules.polynomial()}
    f = tasks.meta_loss(rs, networks.linear(4, 1), tasks.pca(4, 1, num_steps=30), 3, l1=0.01, remat=True)
    theta = {"ff": rules.oja() + 0.01}
    key = jax.random.PRNGKey(0)
    eager, _ = f(theta, key)
    jitted, _ = jax.jit(f)(theta, key)
    np.testing.assert_allclose(eager, jitted, rtol=1e-4)
    grad = jax.grad(lambda t: f(t, key)[0])(theta)
    assert np.all(np.isfinite(grad["ff"])) and np.any(grad["ff"] != 0)


def test_the_l1_prior_pushes_a_zero_coefficient_nowhere():
    """The prior's gradient is l1 sign(theta): 0 for a coefficient at 0 (jnp.abs's would be l1)."""
    rs = {"ff": rules.polynomial()}
    net, task = networks.linear(4, 1), tasks.pca(4, 1, num_steps=10)
    key = jax.random.PRNGKey(0)
    theta = {"ff": rules.oja() * jnp.asarray([1.0] * 13 + [0.0] * 14) + jnp.asarray([0.0] * 26 + [-0.5])}
    grads = [
        jax.grad(lambda t, l1=l1: tasks.meta_loss(rs, net, task, 2, l1=l1)(t, key)[0])(theta)["ff"]
        for l1 in (0.0, 0.1)
    ]
    prior = np.asarray(grads[1] - grads[0])
    np.testing.assert_allclose(prior, 0.1 * np.sign(np.asarray(theta["ff"])), atol=1e-6)
    assert np.sum(np.asarray(theta["ff"]) == 0) > 20  # most coefficients sit at 0 and feel no prior


def test_finite_dataset_minibatches_come_from_its_points_and_targets_its_pcs():
    task = tasks.pca(6, 2, batch=50, samples=300)
    ep = task.sample(jax.random.PRNGKey(0))
    data = np.asarray(ep["data"])
    assert data.shape == (300, 6)
    x = np.asarray(task.inputs(ep, 0, jax.random.PRNGKey(1)))
    assert all(np.any(np.all(np.isclose(data, row), axis=1)) for row in x)
    evals, evecs = np.linalg.eigh(data.T @ data / 300)
    np.testing.assert_allclose(
        np.abs(evecs[:, ::-1][:, :2].T @ np.asarray(ep["pcs"]).T), np.eye(2), atol=1e-4
    )


def test_oja_converges_on_a_finite_dataset():
    rs = {"ff": rules.polynomial()}
    f = jax.jit(tasks.meta_loss(rs, networks.linear(20, 1), tasks.pca(20, 1, num_steps=400, samples=2000), 8))
    loss, m = f({"ff": rules.oja()}, jax.random.PRNGKey(0))
    assert float(m["cos_0"]) > 0.995 and float(loss) < 0.1


def test_finite_dataset_needs_enough_points():
    import pytest

    with pytest.raises(ValueError, match="samples"):
        tasks.pca(10, 1, samples=5)


def test_standard_normal_equals_jax_random_normal():
    key = jax.random.PRNGKey(3)
    for shape in [(200, 100), (7, 13), (1,)]:
        with jax.threefry_partitionable(False):
            ref = jax.random.normal(key, shape)
        ours = jax.jit(tasks._pca.standard_normal, static_argnums=1)(key, shape)
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(ref))
    z64 = tasks._pca.standard_normal(key, (3,), jnp.float64)
    assert z64.shape == (3,)
