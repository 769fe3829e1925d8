import jax.numpy as jnp
import numpy as np
import pytest

from plastix import meta


def test_threshold_theta_is_relative_to_each_rules_largest_coefficient():
    theta = {"ff": jnp.array([1.0, -0.05, 0.2]), "lateral": jnp.array([0.03, -0.1, 0.002])}
    out = meta.threshold_theta(theta, 0.1)
    np.testing.assert_allclose(out["ff"], [1.0, 0.0, 0.2])  # 0.05 < 0.1 * 1
    np.testing.assert_allclose(out["lateral"], [0.03, -0.1, 0.0])  # 0.002 < 0.1 * 0.1


def _loss(target, weights, l1):
    # A meta-loss with a known optimum: quadratic task loss plus the L1 penalty;
    # the key is ignored (exact, noise-free scoring).
    def f(theta, key):
        task = jnp.sum(weights * (theta["ff"] - target) ** 2)
        return task + l1 * jnp.sum(jnp.abs(theta["ff"])), {}

    return f


def test_prune_removes_small_coefficients_the_penalty_does_not_pay_for():
    target = jnp.zeros(10).at[0].set(1.0).at[3].set(-1.0)
    learned = {"ff": target + 0.02 * jnp.sin(jnp.arange(10.0) + 1)}  # small spurious terms
    res = meta.prune(_loss(target, jnp.ones(10), l1=0.05), learned, key=jnp.zeros(2, jnp.uint32))
    assert res.threshold > 0 and res.kept[0] == 10
    np.testing.assert_array_equal(np.flatnonzero(res.theta["ff"]), [0, 3])
    assert min(res.losses) == res.losses[res.thresholds.index(res.threshold)] < res.losses[0]


def test_prune_keeps_a_small_coefficient_the_loss_needs():
    target = jnp.zeros(6).at[0].set(1.0).at[2].set(0.08)
    weights = jnp.ones(6).at[2].set(100.0)  # the small term matters a lot
    learned = {"ff": target}
    res = meta.prune(_loss(target, weights, l1=0.01), learned, key=jnp.zeros(2, jnp.uint32))
    assert res.threshold < 0.08  # never past the small term
    assert float(res.theta["ff"][2]) == pytest.approx(0.08)
