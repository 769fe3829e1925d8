"""The clamped/nudged supervised network: the protocol against gradient descent computed independently."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix import networks, rules, tasks

D, K, S = 6, 3, 40


def _task(hidden=0, fixed=None, samples=S, noise=0.0, sizes=(D, K)):
    names = networks.layer_names(len(sizes) - 1)
    predict = lambda s, x: networks.clamped_forward([s.w[p] for p in names], x)[0][-1]  # noqa: E731
    return tasks.teacher(sizes[0], sizes[-1], predict, hidden, samples=samples, noise=noise, fixed=fixed)


def _weights_per_step(rule_set, net, task, theta, episode, key):
    rec = tasks.Recorder(lambda s: None, lambda c, s, x, new, out: (None, new.w))
    return tasks.unroll(rule_set, net, task, theta, episode, key, record=rec)


def delta_rule() -> tuple[rules.Rule, jax.Array]:
    """Hebbian in the clamped phase minus Hebbian in the free phase, as a polynomial rule."""
    rule = rules.polynomial(order=1, variables=("pre", "post", "post_free"))
    theta = rules.from_terms(rule, [({"pre": 1, "post": 1}, 1.0), ({"pre": 1, "post_free": 1}, -1.0)])
    return rule, jnp.asarray(theta)


@pytest.mark.parametrize("strength", [1.0, 0.3])
def test_two_phase_hebbian_rule_is_gradient_descent_step_for_step(strength):
    lr = 0.05
    net = networks.clamped([D, K], strength=strength, eta=lr)
    task = _task(noise=0.1)
    key = jax.random.PRNGKey(0)
    episode = task.sample(jax.random.fold_in(key, 1))  # another key than the network's initial weights
    rule, theta = delta_rule()
    final, ws = _weights_per_step({"l1": rule}, net, task, {"l1": theta}, episode, key)
    # Gradient descent on |t - W x|^2 / 2, in float64 numpy from the same initial weights.
    w = np.asarray(net.init(jax.random.split(key)[0]).w["l1"], np.float64)
    x, t = np.asarray(episode["x"], np.float64), np.asarray(episode["target"], np.float64)
    for s in range(S):
        w = w + strength * lr * np.outer(t[s] - w @ x[s], x[s])  # nudging: s times the gradient step
        np.testing.assert_allclose(np.asarray(ws["l1"][s]), w, rtol=1e-4, atol=1e-5)


def test_soft_bound_rule_is_not_gradient_descent():
    net = networks.clamped([D, K], eta=0.05)
    task = _task()
    key = jax.random.PRNGKey(1)
    episode = task.sample(jax.random.fold_in(key, 1))  # another key than the network's initial weights
    rule, theta = delta_rule()
    gd = tasks.unroll({"l1": rule}, net, task, {"l1": theta}, episode, key).w["l1"]
    soft = rules.soft_bound_hebb()
    hebb = tasks.unroll({"l1": soft}, net, task, {"l1": jnp.array([1.0, 0.0, 0.0])}, episode, key).w["l1"]
    assert float(jnp.linalg.norm(gd - hebb)) > 0.1 * float(jnp.linalg.norm(gd))


def test_error_signal_is_backprop_through_a_hidden_layer():
    sizes = (D, 5, K)
    net = networks.clamped(sizes, eta=0.1)
    names = networks.layer_names(2)
    gd = {p: rules.polynomial(order=1, variables=("pre", "error")) for p in names}
    theta = {p: jnp.array([0.0, 0.0, 0.0, 1.0]) for p in names}
    task = _task(hidden=4, sizes=sizes)
    key = jax.random.PRNGKey(2)
    episode = task.sample(jax.random.fold_in(key, 1))  # another key than the network's initial weights
    _, ws = _weights_per_step(gd, net, task, theta, episode, key)

    def loss(w, x, t):
        y = networks.clamped_forward([w[p] for p in names], x[None])[0][-1][0]
        return 0.5 * jnp.sum((t - y) ** 2)

    w = net.init(jax.random.split(key)[0]).w
    for s in range(10):
        g = jax.grad(loss)(w, episode["x"][s], episode["target"][s])
        w = {p: w[p] - 0.1 * g[p] for p in names}
        for p in names:
            np.testing.assert_allclose(np.asarray(ws[p][s]), np.asarray(w[p]), rtol=1e-4, atol=1e-5)


def test_hidden_layer_target_phase():
    sizes = (D, 5, K)
    key = jax.random.PRNGKey(3)
    x = {"x": jax.random.normal(key, (D,)), "target": jnp.ones(K)}
    plain = networks.clamped(sizes)
    state = plain.init(key)
    _, y, local = plain.step(state, x)
    # gamma = 0: the hidden layer learns from its free activity; the output is clamped.
    np.testing.assert_array_equal(np.asarray(local["l1"]["post"]), np.asarray(local["l1"]["post_free"]))
    np.testing.assert_array_equal(np.asarray(local["l2"]["post"]), np.ones((1, K)))
    np.testing.assert_array_equal(np.asarray(local["l2"]["pre"]), np.asarray(local["l1"]["post_free"]))
    fb = networks.clamped(sizes, feedback=1.0)
    _, _, local_fb = fb.step(state, x)
    w2 = state.w["l2"]
    h_free = local["l1"]["post_free"]
    z1 = jnp.arctanh(h_free)
    expect = jnp.tanh(z1 + (jnp.ones((1, K)) - y[None]) @ w2)
    np.testing.assert_allclose(np.asarray(local_fb["l1"]["post"]), np.asarray(expect), rtol=1e-4, atol=1e-5)


def test_gradient_twin_records_the_distance_to_gradient_descent():
    """The task's twin (plastix.tasks.gradient_twin) is gradient descent beside the network: zero
    distance when the rule is gradient descent at the twin's step, and its weights are that run's."""
    lr = 0.05
    task = _task()
    key = jax.random.PRNGKey(4)
    episode = task.sample(jax.random.fold_in(key, 1))  # another key than the network's initial weights
    gd = {"l1": rules.polynomial(order=1, variables=("pre", "error"))}
    net = networks.clamped([D, K], eta=1.0)
    twin = tasks.gradient_twin([D, K], lr)
    same, d_same = tasks.unroll(
        gd, net, task, {"l1": jnp.array([0.0, 0.0, 0.0, lr])}, episode, key, record=twin
    )
    assert float(d_same) < 1e-10  # the rule is gradient descent at the twin's step
    keep = twin._replace(finish=lambda carry, outs: carry[0])  # the twin's own weights
    other, shadow = tasks.unroll(
        gd, net, task, {"l1": jnp.array([0.0, 0.0, 0.0, 2 * lr])}, episode, key, record=keep
    )
    d_other = tasks.unroll(
        gd, net, task, {"l1": jnp.array([0.0, 0.0, 0.0, 2 * lr])}, episode, key, record=twin
    )[1]
    assert float(d_other) > 1e-4
    np.testing.assert_allclose(np.asarray(shadow["l1"]), np.asarray(same.w["l1"]), rtol=1e-5, atol=1e-6)


def test_bad_sizes():
    with pytest.raises(ValueError, match="input and an output"):
        networks.clamped([3])
    with pytest.raises(ValueError, match="strength"):
        networks.clamped([3, 2], strength=0.0)
