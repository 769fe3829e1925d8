import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix import rules

DT = 1e-4


def _drive(theta, pre, post):
    """Run the rule over spike rasters ``pre [T, n_pre]``, ``post [T, 1]``; return total dw."""
    rule = rules.spike_trace()
    w = jnp.zeros((1, pre.shape[1]))

    def body(state, sp):
        dw, state = rule.update(theta, {"pre": sp[0], "post": sp[1], "w": w, "dt": DT}, state)
        return state, dw

    _, dws = jax.lax.scan(body, rule.init_state(w), (jnp.asarray(pre), jnp.asarray(post)))
    return np.asarray(dws.sum(0))


def test_names_init_and_vogels_reference():
    rule = rules.spike_trace()
    assert rule.names == ("alpha", "beta", "gamma", "kappa", "tau_pre", "tau_post") and rule.size == 6
    theta = rule.init_theta(jax.random.PRNGKey(0))
    assert theta.shape == (6,) and np.all((theta[4:] >= 5e-3) & (theta[4:] <= 5e-2))
    v = np.asarray(rules.vogels_istdp(eta=1e-3, rho0=5.0, tau=0.02))
    np.testing.assert_allclose(v, [-2e-3 * 5 * 0.02, 0, 1e-3, 1e-3, 0.02, 0.02], rtol=1e-6)
    x_pre, x_post = rule.init_state(jnp.zeros((3, 7)))
    assert x_pre.shape == (7,) and x_post.shape == (3,)


@pytest.mark.parametrize("lag", [1, 50, 300])
def test_pair_updates_equal_exponential_windows(lag):
    a, b, g, k, tp, tq = 0.1, 0.2, 0.3, 0.4, 0.02, 0.03
    theta = jnp.array([a, b, g, k, tp, tq])
    T = lag + 1
    pre = np.zeros((T, 1), np.float32)
    post = np.zeros((T, 1), np.float32)
    # pre then post: alpha + beta + gamma exp(-lag dt / tau_pre)
    pre[0], post[lag] = 1, 1
    np.testing.assert_allclose(_drive(theta, pre, post), a + b + g * np.exp(-lag * DT / tp), rtol=1e-5)
    # post then pre: alpha + beta + kappa exp(-lag dt / tau_post)
    np.testing.assert_allclose(_drive(theta, post, pre), a + b + k * np.exp(-lag * DT / tq), rtol=1e-5)


def test_coincident_spikes_follow_brian2_order():
    # Same step: the presynaptic pathway runs first, so gamma sees the new
    # presynaptic spike and kappa does not see the new postsynaptic one.
    theta = jnp.array([0.0, 0.0, 1.0, 10.0, 0.02, 0.02])
    one = np.ones((1, 1), np.float32)
    np.testing.assert_allclose(_drive(theta, one, one), 1.0)


def test_vogels_rule_is_stdp_window_plus_depression_per_pre_spike():
    # Vogels et al. (2011): symmetric window eta exp(-|dt|/tau), -eta * 2 rho0 tau per pre spike.
    eta, rho0, tau = 1e-3, 5.0, 0.02
    theta = rules.vogels_istdp(eta, rho0, tau)
    pre = np.zeros((101, 1), np.float32)
    post = np.zeros((101, 1), np.float32)
    pre[0], post[100] = 1, 1
    expected = eta * np.exp(-100 * DT / tau) - eta * 2 * rho0 * tau
    np.testing.assert_allclose(_drive(theta, pre, post), expected, rtol=1e-4)


def test_jit_equals_eager_and_vmap_over_theta():
    rule = rules.spike_trace()
    ks = jax.random.split(jax.random.PRNGKey(0), 4)
    local = {
        "pre": (jax.random.uniform(ks[0], (20,)) < 0.3).astype(jnp.float32),
        "post": jnp.ones((2,)),
        "w": jnp.zeros((2, 20)),
        "dt": DT,
    }
    state = (jax.random.uniform(ks[1], (20,)), jax.random.uniform(ks[2], (2,)))
    thetas = jax.vmap(rule.init_theta)(jax.random.split(ks[3], 5))
    eager = np.stack([rule.update(t, local, state)[0] for t in thetas])
    jitted = jax.jit(jax.vmap(lambda t: rule.update(t, local, state)[0]))(thetas)
    assert jitted.shape == (5, 2, 20) and jitted.dtype == jnp.float32
    np.testing.assert_allclose(jitted, eager, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("taus", [(-1.0, 0.0), (jnp.nan, jnp.inf), (1e-12, 1e12)])
def test_any_time_constant_is_safe(taus):
    theta = jnp.array([0.1, 0.1, 0.1, 0.1, *taus])
    pre = (np.random.default_rng(0).random((500, 4)) < 0.1).astype(np.float32)
    post = (np.random.default_rng(1).random((500, 1)) < 0.1).astype(np.float32)
    assert np.all(np.isfinite(_drive(theta, pre, post)))


def test_float32_and_float64_agree():
    pre = (np.random.default_rng(0).random((300, 5)) < 0.05).astype(np.float32)
    post = (np.random.default_rng(1).random((300, 1)) < 0.05).astype(np.float32)
    theta = np.array([-1e-3, 2e-3, 3e-3, 4e-3, 0.015, 0.025])
    out32 = _drive(jnp.asarray(theta, jnp.float32), pre, post)
    with jax.enable_x64(True):
        out64 = _drive(jnp.asarray(theta), pre.astype(np.float64), post.astype(np.float64))
    np.testing.assert_allclose(out32, out64, rtol=1e-5, atol=1e-8)


def test_sign_and_increment_constraints_clip_what_the_rule_applies():
    rule = rules.spike_trace(signs=True, increment_max=2e-3, l1=3.0)
    lo, hi = (np.asarray(b) for b in rule.bounds)
    np.testing.assert_allclose(lo, [-2e-3, 0, -2e-3, -2e-3, 1e-4, 1e-4], rtol=1e-6)
    np.testing.assert_allclose(hi, [0, 2e-3, 2e-3, 2e-3, 10.0, 10.0], rtol=1e-6)
    rng = np.random.default_rng(0)
    pre = (rng.random((400, 5)) < 0.05).astype(np.float32)
    post = (rng.random((400, 1)) < 0.05).astype(np.float32)
    w = jnp.zeros((1, 5))
    raw = jnp.array([4e-3, -1e-3, 5e-3, -7e-3, 0.02, 0.03])  # wrong signs, increments too large
    applied = rules.project(rule, raw)
    np.testing.assert_allclose(np.asarray(applied), [0, 0, 2e-3, -2e-3, 0.02, 0.03], rtol=1e-6)

    def total(r, theta):
        def body(state, sp):
            dw, state = r.update(theta, {"pre": sp[0], "post": sp[1], "w": w, "dt": DT}, state)
            return state, dw

        return np.asarray(jax.lax.scan(body, r.init_state(w), (pre, post))[1].sum(0))

    # The constrained rule on raw theta is the free rule on the projected theta.
    np.testing.assert_allclose(total(rule, raw), total(rules.spike_trace(), applied), rtol=1e-5)
    # The prior is on the increments only, on theta as given.
    assert float(rule.penalty(raw)) == pytest.approx(3.0 * (4e-3 + 1e-3 + 5e-3 + 7e-3), rel=1e-5)
    assert rules.spike_trace().penalty is None
    # Random starts lie inside the constraint: alpha < 0 < beta.
    starts = np.stack([rules.spike_trace(signs=True).init_theta(jax.random.PRNGKey(s)) for s in range(20)])
    assert np.all(starts[:, 0] < 0) and np.all(starts[:, 1] > 0)
    with pytest.raises(ValueError, match="increment_max"):
        rules.spike_trace(increment_max=0.0)
