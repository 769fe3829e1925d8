import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix import meta, networks, rules, tasks

A = jnp.array([1.0, 4.0, 0.25])
C = jnp.array([0.3, -0.2, 2.0])


def quadratic(theta, key):
    """sum a_i (theta_i - c_i)^2 plus episode noise that does not depend on theta."""
    noise = jax.random.normal(key)
    loss = jnp.sum(A * (theta["x"] - C) ** 2) + noise
    return loss, {"task_loss": loss, "unstable": jnp.asarray(0.0)}


def _gradient_estimate(opt_kw, theta0, loss=quadratic, key=None):
    """One plain SGD step with learning rate 1 moves u by exactly minus the estimate."""
    opt = meta.finite_difference(learning_rate=1.0, optimizer="sgd", **opt_kw)
    prepared = opt.prepare(loss, theta0)
    state = opt.init(theta0, 0)
    new, m = opt.step(state, prepared, jax.random.PRNGKey(0) if key is None else key)
    return np.asarray(state.u - new.u), m


def test_central_differences_are_exact_on_a_quadratic_despite_episode_noise():
    theta0 = {"x": jnp.array([1.0, 1.0, 1.0])}
    g, m = _gradient_estimate({"epsilon": 0.1}, theta0)
    # Same key for every candidate: the theta-independent noise cancels exactly.
    np.testing.assert_allclose(g, 2 * A * (theta0["x"] - C), rtol=1e-5)
    assert m["loss_best"] == pytest.approx(float(quadratic(theta0, jax.random.PRNGKey(0))[0]), rel=1e-6)
    assert m["n_unstable"] == 0 and m["grad_norm"] > 0


def test_scale_perturbs_and_steps_in_units_of_each_coefficient():
    theta0 = {"x": jnp.array([1.0, 1.0, 1.0])}
    scale = jnp.array([1.0, 0.01, 10.0])
    g, _ = _gradient_estimate({"epsilon": 0.1, "scale": scale}, theta0)
    # d L / d u = scale * d L / d theta (chain rule through theta = scale * u).
    np.testing.assert_allclose(g, scale * 2 * A * (theta0["x"] - C), rtol=1e-4)
    g_dict, _ = _gradient_estimate({"epsilon": 0.1, "scale": {"x": scale}}, theta0)
    np.testing.assert_allclose(g_dict, g, rtol=1e-6)
    with pytest.raises(ValueError, match="scale has shape"):
        _gradient_estimate({"scale": jnp.ones(2)}, theta0)


def test_adam_on_finite_differences_finds_the_minimum_across_scales():
    s = jnp.array([1e-4, 1e-4, 1e-2])  # weight increments next to a time constant in seconds
    loss = lambda th, key: quadratic({"x": th["x"] / s}, key)  # noqa: E731  (minimum at theta = s C)
    opt = meta.finite_difference(learning_rate=0.05, epsilon=0.01, scale=s)
    theta0 = {"x": jnp.array([0.0, 0.0, 0.005])}
    prepared, state = opt.prepare(loss, theta0), opt.init(theta0, 0)
    for g in range(400):
        state, m = opt.step(state, prepared, jax.random.PRNGKey(g))
    err = np.abs(np.asarray(opt.theta(state, prepared)["x"]) - np.asarray(s * C))
    assert np.all(err < 0.05 * np.asarray(s)), err / s
    assert prepared.update._cache_size() == 1  # one compilation for the whole run


def test_finite_differences_match_the_exact_meta_gradient_on_oja():
    jax.config.update("jax_enable_x64", True)
    try:
        f = tasks.meta_loss(
            {"ff": rules.polynomial()}, networks.linear(3, 1), tasks.pca(3, 1, num_steps=40), 4
        )
        theta = {"ff": (0.8 * rules.oja() + 0.02).astype(jnp.float64)}
        key = jax.random.PRNGKey(0)
        exact = np.asarray(jax.grad(lambda t: f(t, key)[0])(theta)["ff"])
        g, _ = _gradient_estimate({"epsilon": 1e-4}, theta, loss=f, key=key)
        np.testing.assert_allclose(g, exact, rtol=1e-3, atol=1e-6)
    finally:
        jax.config.update("jax_enable_x64", False)


def test_finite_difference_state_pickles_and_runs_are_deterministic():
    opt = meta.finite_difference(learning_rate=0.1, epsilon=0.05)
    theta0 = {"x": jnp.zeros(3)}
    prepared = opt.prepare(quadratic, theta0)

    def run(state, start, gens):
        out = []
        for g in range(start, start + gens):
            state, m = opt.step(state, prepared, jax.random.PRNGKey(g))
            out.append(m["loss_best"])
        return state, out

    _, full = run(opt.init(theta0, 0), 0, 6)
    state, first = run(opt.init(theta0, 0), 0, 3)
    _, second = run(pickle.loads(pickle.dumps(state)), 3, 3)
    assert first + second == full


def test_unstable_candidates_are_counted_not_fatal():
    net, task = networks.linear(3, 1), tasks.pca(3, 1, num_steps=40)
    f = tasks.meta_loss({"ff": rules.polynomial()}, net, task, 2, unstable_loss=10.0)
    opt = meta.finite_difference(epsilon=50.0)  # huge perturbations: some candidates explode
    theta0 = {"ff": rules.oja()}
    prepared = opt.prepare(f, theta0)
    state, m = opt.step(opt.init(theta0, 0), prepared, jax.random.PRNGKey(0))
    assert m["n_unstable"] > 0 and np.isfinite(m["loss_mean"])
    assert np.all(np.isfinite(np.asarray(opt.theta(state, prepared)["ff"])))


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown optax"):
        meta.finite_difference(optimizer="nope")
    with pytest.raises(ValueError, match="epsilon"):
        meta.finite_difference(epsilon=0.0)


def test_bounds_project_each_step_onto_the_box():
    # The unconstrained minimum C = (0.3, -0.2, 2) lies outside the box on the
    # second and third coefficient; the loss is separable, so the constrained
    # minimum is C clipped into the box.
    lo, hi = {"x": jnp.array([-1.0, 0.0, -1.0])}, {"x": jnp.array([1.0, 1.0, 1.0])}
    opt = meta.finite_difference(learning_rate=0.05, epsilon=0.01, bounds=(lo, hi))
    theta0 = {"x": jnp.array([0.5, 0.5, 0.5])}
    prepared, state = opt.prepare(quadratic, theta0), opt.init(theta0, 0)
    for g in range(300):
        state, _ = opt.step(state, prepared, jax.random.PRNGKey(g))
        x = np.asarray(opt.theta(state, prepared)["x"])
        assert np.all(x >= np.asarray(lo["x"])) and np.all(x <= np.asarray(hi["x"]))
    np.testing.assert_allclose(x, [0.3, 0.0, 1.0], atol=2e-3)
