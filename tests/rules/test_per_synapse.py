"""Per-synapse coefficients (plastix.rules.per_synapse) and the soft-bound Hebbian rule."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix import networks, rules, tasks

M, N, B = 3, 7, 5  # uneven on purpose


def _local(key, batch=B):
    k1, k2, k3 = jax.random.split(key, 3)
    return {
        "pre": jax.random.normal(k1, (batch, N)),
        "post": jax.random.normal(k2, (batch, M)),
        "w": jax.random.uniform(k3, (M, N), minval=-1, maxval=1),
    }


def _equal_theta(parametrisation, c):
    if parametrisation == "free":
        return jnp.broadcast_to(c, (M, N, c.size))
    return {"mean": c, "deviation": jnp.zeros((M, N, c.size))}


@pytest.mark.parametrize("parametrisation", rules.PARAMETRISATIONS)
def test_equal_coefficients_are_the_shared_soft_bound_rule_exactly(parametrisation):
    shared = rules.soft_bound_hebb()
    rule = rules.per_synapse(shared, (M, N), parametrisation)
    c = jnp.array([0.3, 0.05, -0.02])
    local = _local(jax.random.PRNGKey(0))
    dw, _ = rule.update(_equal_theta(parametrisation, c), local, rule.init_state(local["w"]))
    ref, _ = shared.update(c, local, ())
    np.testing.assert_array_equal(np.asarray(dw), np.asarray(ref))


def test_soft_bound_hebb_is_the_published_equation():
    rule = rules.soft_bound_hebb()
    local = _local(jax.random.PRNGKey(1))
    g2, g0, b = 0.4, 0.1, 0.03
    dw, _ = rule.update(jnp.array([g2, g0, b]), local, ())
    x, y, w = (np.asarray(local[k], np.float64) for k in ("pre", "post", "w"))
    hebb = np.einsum("bi,bj->ij", y, x) / B
    np.testing.assert_allclose(np.asarray(dw), g2 * (1 - w) * hebb - g0 * w + b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("parametrisation", rules.PARAMETRISATIONS)
def test_any_rule_per_synapse_through_vmap_equals_the_shared_rule(parametrisation):
    shared = rules.polynomial()  # not elementwise in theta: per_synapse vmaps it over synapses
    assert not shared.elementwise
    rule = rules.per_synapse(shared, (M, N), parametrisation)
    c = 0.3 * jax.random.normal(jax.random.PRNGKey(2), (shared.size,))
    local = _local(jax.random.PRNGKey(3))
    dw, _ = rule.update(_equal_theta(parametrisation, c), local, rule.init_state(local["w"]))
    ref, _ = shared.update(c, local, ())
    assert dw.shape == (M, N)
    np.testing.assert_allclose(np.asarray(dw), np.asarray(ref), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shared", [rules.soft_bound_hebb(), rules.polynomial(order=1)], ids=["soft", "poly"])
def test_each_synapse_uses_its_own_coefficients(shared):
    rule = rules.per_synapse(shared, (M, N))
    theta = jax.random.normal(jax.random.PRNGKey(4), (M, N, shared.size))
    local = _local(jax.random.PRNGKey(5))
    dw, _ = rule.update(theta, local, rule.init_state(local["w"]))
    for i, j in [(0, 0), (2, 6), (1, 3)]:
        ref, _ = shared.update(theta[i, j], local, ())  # the shared rule with synapse (i, j)'s coefficients
        np.testing.assert_allclose(float(dw[i, j]), float(ref[i, j]), rtol=1e-5, atol=1e-6)


def test_shapes_vmap_over_a_population_and_grad():
    rule = rules.per_synapse(rules.soft_bound_hebb(), (M, N), "mean_deviation", init_spread=0.1)
    theta = rule.init_theta(jax.random.PRNGKey(6))
    assert theta["mean"].shape == (3,) and theta["deviation"].shape == (M, N, 3)
    assert rule.synapses(theta).shape == (M, N, 3)
    local = _local(jax.random.PRNGKey(7))
    pop = jax.tree.map(lambda t: jnp.stack([t, 2 * t]), theta)
    batched, _ = jax.vmap(rule.update, in_axes=(0, None, None))(pop, local, ())
    np.testing.assert_allclose(
        np.asarray(batched[1]),
        np.asarray(rule.update(jax.tree.map(lambda t: 2 * t, theta), local, ())[0]),
        rtol=1e-6,
    )

    def f(th):
        return jnp.sum(rule.update(th, local, ())[0] ** 2)

    g = jax.grad(f)(theta)
    # Chain rule of c_ij = mean + deviation_ij: d/d mean = sum over synapses of d/d deviation_ij.
    np.testing.assert_allclose(np.asarray(g["mean"]), np.asarray(g["deviation"].sum((0, 1))), rtol=1e-5)
    assert np.all(np.isfinite(np.asarray(g["deviation"]))) and np.any(np.asarray(g["deviation"]) != 0)


def test_deviation_penalty_is_added_to_the_meta_loss():
    lam = 3.0
    shape = (2, 4)
    net = networks.clamped([4, 2])
    predict = lambda s, x: networks.clamped_forward([s.w["l1"]], x)[0][-1]  # noqa: E731
    task = tasks.teacher(4, 2, predict, samples=5, test_samples=6)
    free = rules.per_synapse(rules.soft_bound_hebb(), shape, "mean_deviation")
    pen = rules.per_synapse(rules.soft_bound_hebb(), shape, "mean_deviation", deviation_penalty=lam)
    theta = {"mean": jnp.array([0.05, 0.05, 0.0]), "deviation": 0.01 * jnp.ones((*shape, 3))}
    key = jax.random.PRNGKey(8)
    a, _ = tasks.meta_loss({"l1": free}, net, task, 2)({"l1": theta}, key)
    b, _ = tasks.meta_loss({"l1": pen}, net, task, 2)({"l1": theta}, key)
    np.testing.assert_allclose(float(b - a), lam * 3 * 0.01**2, rtol=1e-4)


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(ValueError, match="parametrisation"):
        rules.per_synapse(rules.soft_bound_hebb(), (2, 2), "lowrank")
    with pytest.raises(ValueError, match="deviation_penalty needs"):
        rules.per_synapse(rules.soft_bound_hebb(), (2, 2), "free", deviation_penalty=1.0)
    with pytest.raises(ValueError, match="shape"):
        rules.per_synapse(rules.soft_bound_hebb(), (0, 2))
    rule = rules.per_synapse(rules.polynomial(variables=("pre", "post")), (M, N))
    local = {**_local(jax.random.PRNGKey(9)), "reward": jnp.ones((B,))}
    with pytest.raises(ValueError, match="'reward' has no side"):
        rule.update(jnp.zeros((M, N, rule.size)), local, rule.init_state(local["w"]))
