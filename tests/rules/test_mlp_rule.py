"""The MLP rule against closed forms: linear MLPs, spike gating, its traces, and Vogels' rule."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix import rules


def _linear(coef, bias):
    """theta of an MLP with no hidden layer: one output per gate, ``coef [n_inputs, n_out]``."""
    return {"w1": jnp.asarray(coef, jnp.float32), "b1": jnp.asarray(bias, jnp.float32)}


def test_no_hidden_layer_is_a_linear_rule_averaged_over_the_batch():
    """``dw_ij = s <a x_j + b y_i + c w_ij + d>_batch`` for a linear MLP on (pre, post, w)."""
    rule = rules.mlp(("pre", "post", "w"), hidden=(), scale=0.5)
    a, b, c, d = 0.3, -0.7, 0.2, 0.05
    theta = _linear([[a], [b], [c]], [d])
    k = jax.random.split(jax.random.PRNGKey(0), 3)
    x, y, w = (
        jax.random.normal(k[0], (7, 4)),
        jax.random.normal(k[1], (7, 2)),
        jax.random.normal(k[2], (2, 4)),
    )
    dw, state = rule.update(theta, {"pre": x, "post": y, "w": w}, ())
    want = 0.5 * (a * x.mean(0)[None, :] + b * y.mean(0)[:, None] + c * w + d)
    np.testing.assert_allclose(dw, want, rtol=1e-5, atol=1e-6)
    assert state == () and rule.needs == ("pre", "post", "w")


def test_one_hidden_layer_is_the_same_function_at_every_synapse():
    rule = rules.mlp(("pre", "post", "w"), hidden=(5,), scale=1.0)
    theta = rule.init_theta(jax.random.PRNGKey(1))
    assert {k: v.shape for k, v in theta.items()} == {"w1": (3, 5), "b1": (5,), "w2": (5, 1), "b2": (1,)}
    x, y, w = (
        jnp.array([[0.5, -1.0, 2.0]]),
        jnp.array([[0.3, 0.1]]),
        jnp.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]),
    )
    dw, _ = rule.update(theta, {"pre": x, "post": y, "w": w}, ())

    def f(z):
        return (jnp.tanh(z @ theta["w1"] + theta["b1"]) @ theta["w2"] + theta["b2"])[0]

    want = np.array([[f(jnp.array([x[0, j], y[0, i], w[i, j]])) for j in range(3)] for i in range(2)])
    np.testing.assert_allclose(dw, want, rtol=1e-5, atol=1e-6)


def test_gates_change_weights_only_at_spikes():
    """``dw_ij = S_j f_0 + S_i f_1``: no spike, no change; each spike its own output."""
    rule = rules.mlp(("w",), hidden=(), gates=("pre", "post"))
    theta = _linear([[0.0, 0.0]], [-2.0, 3.0])  # f_0 = -2, f_1 = 3 whatever w
    w = jnp.ones((2, 3))
    pre, post = jnp.array([1.0, 0.0, 1.0]), jnp.array([0.0, 1.0])
    dw, _ = rule.update(theta, {"pre": pre, "post": post, "w": w}, ())
    np.testing.assert_allclose(dw, -2.0 * pre[None, :] + 3.0 * post[:, None])
    quiet, _ = rule.update(theta, {"pre": jnp.zeros(3), "post": jnp.zeros(2), "w": w}, ())
    assert float(jnp.abs(quiet).max()) == 0.0


def test_the_rule_keeps_exponential_traces_of_the_spikes():
    """``x <- x exp(-dt / tau) + S``, read before this step's spikes are added."""
    rule = rules.mlp(("pre_trace", "post_trace"), hidden=(), tau_pre=0.01, tau_post=0.03)
    assert rule.needs == ("pre", "post", "w", "dt")
    theta = _linear([[1.0], [0.0]], [0.0])  # f = x_pre: dw_ij reads the trace it saw
    dt, steps = 1e-3, 40
    rng = np.random.default_rng(0)
    s_pre, s_post = (rng.random((steps, 3)) < 0.2), (rng.random((steps, 1)) < 0.2)
    w = jnp.zeros((1, 3))
    state = rule.init_state(w)
    x_pre, x_post = np.zeros(3), np.zeros(1)
    for t in range(steps):
        x_pre, x_post = x_pre * np.exp(-dt / 0.01), x_post * np.exp(-dt / 0.03)
        dw, state = rule.update(theta, {"pre": s_pre[t], "post": s_post[t], "w": w, "dt": dt}, state)
        np.testing.assert_allclose(dw[0], x_pre, rtol=1e-5, atol=1e-6)
        x_pre, x_post = x_pre + s_pre[t], x_post + s_post[t]
    np.testing.assert_allclose(state[0], x_pre, rtol=1e-5)
    np.testing.assert_allclose(state[1], x_post, rtol=1e-5)


def test_a_linear_gated_mlp_on_traces_is_vogels_rule():
    """Two formulations of Vogels et al. (2011): :func:`rules.spike_trace` with Vogels' theta, and
    the MLP rule with gates (pre, post), inputs (pre_trace, post_trace) and no hidden layer,
    ``f_0 = alpha + kappa x_post``, ``f_1 = gamma x_pre``. On spike trains without a pre and a post
    spike in the same step (where the two read traces at different moments) they agree."""
    eta, tau = 3e-3, 0.02
    alpha, _, gamma, kappa, _, _ = np.asarray(rules.vogels_istdp(eta=eta, tau=tau))
    mlp = rules.mlp(("pre_trace", "post_trace"), hidden=(), gates=("pre", "post"), tau_pre=tau, tau_post=tau)
    theta_mlp = _linear([[0.0, gamma], [kappa, 0.0]], [alpha, 0.0])
    ref = rules.spike_trace()
    theta_ref = rules.vogels_istdp(eta=eta, tau=tau)
    rng = np.random.default_rng(3)
    steps, dt = 3000, 1e-4
    s_pre = (rng.random((steps, 20)) < 0.01).astype(np.float32)
    s_post = (rng.random((steps, 1)) < 0.02).astype(np.float32)
    s_pre[s_post[:, 0] > 0] = 0.0  # no coincident pre and post spikes
    w = jnp.zeros((1, 20))
    a, b = mlp.init_state(w), ref.init_state(w)
    total_a, total_b = np.zeros((1, 20)), np.zeros((1, 20))
    for t in range(steps):
        local = {"pre": s_pre[t], "post": s_post[t], "w": w, "dt": dt}
        dw_a, a = mlp.update(theta_mlp, local, a)
        dw_b, b = ref.update(theta_ref, local, b)
        total_a += np.asarray(dw_a)
        total_b += np.asarray(dw_b)
    assert np.abs(total_b).max() > 1e-3  # the rule did something
    np.testing.assert_allclose(total_a, total_b, rtol=1e-4, atol=1e-7)


def test_summary_and_describe_name_a_few_numbers_not_every_weight():
    rule = rules.mlp(("pre", "post", "w"), hidden=(16, 8))
    theta = rule.init_theta(jax.random.PRNGKey(2))
    summary = rules.summarise(rule, theta)
    assert list(summary) == list(rule.names) == [f"norm_{k}" for k in ("w1", "b1", "w2", "b2", "w3", "b3")]
    assert summary["norm_w1"] == pytest.approx(float(jnp.linalg.norm(theta["w1"])), rel=1e-6)
    assert summary["norm_b1"] == 0.0  # biases start at zero
    text = rules.describe(rule, theta)
    assert "MLP 3-16-8-1" in text and f"{3 * 16 + 16 + 16 * 8 + 8 + 8 + 1} weights" in text


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown signal"):
        rules.mlp(("pre", "spin"))
    with pytest.raises(ValueError, match="distinct"):
        rules.mlp(("pre", "pre"))
    with pytest.raises(ValueError, match="hidden"):
        rules.mlp(hidden=(0,))
    with pytest.raises(ValueError, match="activation"):
        rules.mlp(activation="gelu")
