"""Supervised tasks: teachers, labelled pools, the gradient-descent baseline and the meta-loss."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix import networks, rules, tasks

D, K = 5, 2


def _predict(names=("l1",)):
    return lambda s, x: networks.clamped_forward([s.w[p] for p in names], x)[0][-1]


def test_gd_baseline_reaches_the_least_squares_solution():
    """Online gradient descent (the family's baseline rule, dW = lr * error pre^T) on a linear
    teacher converges to the closed-form least-squares fit of its training samples."""
    samples = 400
    task = tasks.teacher(D, K, _predict(), samples=samples)
    episode = task.sample(jax.random.PRNGKey(0))
    x, t = np.asarray(episode["x"], np.float64), np.asarray(episode["target"], np.float64)
    w_ls = np.linalg.lstsq(x, t, rcond=None)[0].T  # argmin_W sum_s |t_s - W x_s|^2
    gd = {"l1": rules.polynomial(order=1, variables=("pre", "error"))}
    net = networks.clamped([D, K], eta=0.1)
    final = tasks.unroll(
        gd, net, task, {"l1": jnp.array([0.0, 0.0, 0.0, 1.0])}, episode, jax.random.PRNGKey(1)
    )
    w0 = np.asarray(net.init(jax.random.split(jax.random.PRNGKey(1))[0]).w["l1"])
    assert np.abs(w0 - w_ls).max() > 0.1  # it started far away
    np.testing.assert_allclose(np.asarray(final.w["l1"]), w_ls, atol=1e-4)


def test_fixed_teacher_is_shared_by_episodes_and_a_family_draws_new_ones():
    fixed = tasks.teacher(D, K, _predict(), fixed=jax.random.PRNGKey(5), test_samples=20)
    family = tasks.teacher(D, K, _predict(), test_samples=20)

    def teacher_map(ep):
        return np.linalg.lstsq(np.asarray(ep["test_x"]), np.asarray(ep["test_target"]), rcond=None)[0]

    a, b = (fixed.sample(jax.random.PRNGKey(i)) for i in (1, 2))
    np.testing.assert_allclose(teacher_map(a), teacher_map(b), atol=1e-4)
    assert not np.allclose(np.asarray(a["x"]), np.asarray(b["x"]))  # other samples
    c, d = (family.sample(jax.random.PRNGKey(i)) for i in (1, 2))
    assert not np.allclose(teacher_map(c), teacher_map(d), atol=1e-2)


def test_heterogeneous_inputs_have_their_fixed_variances_and_correlation_in_every_episode():
    """x_j = s_j (sqrt(1 - c) z_j + sqrt(c) z_0): variance s_j^2, correlation c, the same in every episode."""
    scales, c = jnp.asarray([0.6, 0.8, 1.0, 1.3, 1.7]), 0.3
    task = tasks.teacher(D, K, _predict(), samples=20000, input_scales=scales, input_correlation=c)
    for i in (1, 2):
        x = np.asarray(task.sample(jax.random.PRNGKey(i))["x"], np.float64)
        np.testing.assert_allclose(x.std(axis=0), np.asarray(scales), rtol=0.03)
        corr = np.corrcoef(x.T)[np.triu_indices(D, 1)]
        np.testing.assert_allclose(corr, c, atol=0.03)


def test_a_nonlinear_teacher_is_not_fit_by_a_linear_map():
    task = tasks.teacher(D, K, _predict(), hidden=8, gain=3.0, test_samples=2000)
    ep = task.sample(jax.random.PRNGKey(3))
    x, t = np.asarray(ep["test_x"]), np.asarray(ep["test_target"])
    w = np.linalg.lstsq(x, t, rcond=None)[0]
    assert np.mean((x @ w - t) ** 2) > 0.1 * np.mean(t**2)  # a linear map leaves >10% of the variance


def test_labelled_episodes_draw_distinct_items_with_one_hot_targets():
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    labels = np.arange(20) % 4
    task = tasks.labelled(x, labels, 4, lambda s, x: x, samples=8, test_samples=6)
    ep = task.sample(jax.random.PRNGKey(0))
    items = np.concatenate([np.asarray(ep["x"]), np.asarray(ep["test_x"])])[:, 0]
    assert len(set(items.tolist())) == 14
    t = np.concatenate([np.asarray(ep["target"]), np.asarray(ep["test_target"])])
    np.testing.assert_array_equal(t.argmax(1), labels[(items / 2).astype(int)])
    assert task.num_steps == 8
    with pytest.raises(ValueError, match="at most the pool's 20 items"):
        tasks.labelled(x, labels, 4, lambda s, x: x, samples=15, test_samples=6)


def test_meta_loss_is_finite_for_random_coefficients_and_counts_unstable_ones():
    net = networks.clamped([D, K], w_max=50.0)
    task = tasks.teacher(D, K, _predict(), samples=50)
    rule = rules.per_synapse(rules.soft_bound_hebb(), (K, D))
    f = jax.jit(tasks.meta_loss({"l1": rule}, net, task, 4, unstable_loss=100.0))
    key = jax.random.PRNGKey(0)
    pop = jax.random.normal(jax.random.PRNGKey(1), (8, K, D, 3))
    losses, m = jax.vmap(f, in_axes=(0, None))({"l1": pop}, key)
    assert bool(jnp.all(jnp.isfinite(losses))) and bool(jnp.all(losses <= 100.0))
    # Negative decay makes every weight grow as (1 + 1)^t: unstable in every episode, penalised.
    explode = jnp.broadcast_to(jnp.array([0.0, -1.0, 0.0]), (K, D, 3))
    loss, m = f({"l1": explode}, key)
    assert float(loss) == 100.0 and float(m["unstable"]) == 1.0
    stable = jnp.broadcast_to(jnp.array([0.05, 0.05, 0.0]), (K, D, 3))
    loss, m = f({"l1": stable}, key)
    assert float(m["unstable"]) == 0.0 and float(loss) < 100.0


def test_trajectory_objective_reads_the_twin_distance():
    net = networks.clamped([D, K])
    twin = tasks.gradient_twin([D, K], 0.05)
    task = tasks.teacher(D, K, _predict(), samples=20, objective="trajectory", twin=twin)
    gd = {"l1": rules.polynomial(order=1, variables=("pre", "error"))}
    f = tasks.meta_loss(gd, net, task, 3)
    same, m = f({"l1": jnp.array([0.0, 0.0, 0.0, 0.05])}, jax.random.PRNGKey(0))
    assert float(same) < 1e-10 and float(m["mse"]) > 0
    other, _ = f({"l1": jnp.array([0.0, 0.0, 0.0, 0.01])}, jax.random.PRNGKey(0))
    assert float(other) > 1e-4
    with pytest.raises(ValueError, match="objective"):
        tasks.supervised(task.sample, _predict(), 3, objective="angle")
    with pytest.raises(ValueError, match="needs twin"):
        tasks.supervised(task.sample, _predict(), 3, objective="trajectory")
