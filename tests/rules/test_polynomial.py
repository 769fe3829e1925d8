import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plastix import rules


def naive(theta, local, variables, order):
    """Per-sample evaluation of every monomial: the definition, not the algebra."""
    w = local["w"]
    b = (local.get("pre", local.get("post"))).shape[0]
    total = np.zeros(w.shape)
    for k, exps in enumerate(itertools.product(range(order + 1), repeat=len(variables))):
        for s in range(b):
            term = np.ones(w.shape)
            for v, e in zip(variables, exps, strict=True):
                x = local[v]
                if rules.SIDES[v] == "pre":
                    x = x[s][None, :]
                elif rules.SIDES[v] == "post":
                    x = x[s][:, None]
                term = term * np.asarray(x, np.float64) ** e
            total += theta[k] * term / b
    return total


@settings(max_examples=15, deadline=None)
@given(
    order=st.integers(0, 3),
    variables=st.sampled_from(
        [
            ("pre", "post", "w"),
            ("pre", "post"),
            ("post", "w"),
            ("pre", "w"),
            ("pre", "post", "error", "w"),
            ("w",),
        ]
    ),
    n_pre=st.integers(1, 4),
    n_post=st.integers(1, 3),
    batch=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_moments_equal_per_sample_definition(order, variables, n_pre, n_post, batch, seed):
    rule = rules.polynomial(order=order, variables=variables)
    ks = jax.random.split(jax.random.PRNGKey(seed), 5)
    theta = rule.init_theta(ks[0]) * 10
    local = {
        "pre": jax.random.normal(ks[1], (batch, n_pre)),
        "post": jax.random.normal(ks[2], (batch, n_post)),
        "error": jax.random.normal(ks[3], (batch, n_post)),
        "w": jax.random.normal(ks[4], (n_post, n_pre)),
    }
    dw, _ = rule.update(theta, local, ())
    assert dw.shape == (n_post, n_pre)
    np.testing.assert_allclose(dw, naive(np.asarray(theta), local, variables, order), rtol=2e-4, atol=2e-4)


def test_oja_coefficients_equal_direct_oja():
    rule = rules.polynomial()
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    x = jax.random.normal(k1, (200, 7))
    w = 0.3 * jax.random.normal(k2, (1, 7))
    y = x @ w.T
    dw, _ = rule.update(rules.oja(rule), {"pre": x, "post": y, "w": w}, ())
    direct = jnp.mean(y * x - y**2 * w, axis=0, keepdims=True)  # Oja (1982), Eq. (3)
    np.testing.assert_allclose(dw, direct, rtol=1e-5, atol=1e-6)


def test_names_and_references():
    rule = rules.polynomial()
    assert rule.size == 27 and rule.names[0] == "000" and rule.names[-1] == "222"
    oja = np.asarray(rules.oja(rule))
    assert oja[rule.names.index("110")] == 1 and oja[rule.names.index("021")] == -1 and np.abs(oja).sum() == 2
    assert np.asarray(rules.anti_hebbian(rule))[rule.names.index("110")] == -1
    assert np.asarray(rules.hebb(rule)).sum() == 1
    assert rule.init_theta(jax.random.PRNGKey(0)).shape == (27,)


def test_jit_equals_eager_and_vmap_over_theta():
    rule = rules.polynomial()
    k = jax.random.split(jax.random.PRNGKey(1), 4)
    local = {
        "pre": jax.random.normal(k[0], (16, 5)),
        "post": jax.random.normal(k[1], (16, 2)),
        "w": jax.random.normal(k[2], (2, 5)),
    }
    thetas = jax.random.normal(k[3], (6, 27))
    eager = np.stack([rule.update(t, local, ())[0] for t in thetas])
    jitted = jax.jit(jax.vmap(lambda t: rule.update(t, local, ())[0]))(thetas)
    np.testing.assert_allclose(jitted, eager, rtol=1e-5, atol=1e-5)


def test_float32_and_float64_agree():
    rule = rules.polynomial()
    rng = np.random.default_rng(0)
    x, w, theta = rng.normal(size=(50, 4)), 0.5 * rng.normal(size=(3, 4)), rng.normal(size=27)
    y = x @ w.T
    out32 = rule.update(
        jnp.asarray(theta, jnp.float32),
        {
            "pre": jnp.asarray(x, jnp.float32),
            "post": jnp.asarray(y, jnp.float32),
            "w": jnp.asarray(w, jnp.float32),
        },
        (),
    )[0]
    with jax.enable_x64(True):
        out64 = rule.update(
            jnp.asarray(theta), {"pre": jnp.asarray(x), "post": jnp.asarray(y), "w": jnp.asarray(w)}, ()
        )[0]
        assert out64.dtype == jnp.float64
    np.testing.assert_allclose(out32, out64, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("bad", [("pre", "spike"), ("pre", "pre")])
def test_bad_variables_raise(bad):
    with pytest.raises(ValueError):
        rules.polynomial(variables=bad)
