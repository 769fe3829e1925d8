"""The term-library rule: term shapes, the fused update against the ten terms, subsets, F3 alignment."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix import analysis, rules
from plastix.rules._term_library import TERMS, terms

SIZES = (6, 4, 3)


def _local(key, sizes=SIZES):
    ks = iter(jax.random.split(key, 5 * len(sizes)))
    w = tuple(jax.random.normal(next(ks), (sizes[l + 1], sizes[l])) for l in range(len(sizes) - 1))
    act = [jax.random.uniform(next(ks), (n,)) for n in sizes]
    err = [jax.random.normal(next(ks), (n,)) for n in sizes]
    return {
        "pre": tuple(act[:-1]),
        "post": tuple(act[1:]),
        "error": tuple(err[1:]),
        "pre_error": tuple(err[:-1]),
        "w": w,
    }


def test_every_term_has_the_shape_of_w_for_uneven_layers():
    loc = _local(jax.random.PRNGKey(0))
    for l, w in enumerate(loc["w"]):
        fs = terms(*(loc[k][l] for k in ("pre", "post", "error", "pre_error", "w")))
        assert len(fs) == len(TERMS) == 10
        assert all(f.shape == w.shape for f in fs)


def test_fused_update_equals_the_sum_of_the_ten_terms():
    loc = _local(jax.random.PRNGKey(1))
    theta = jax.random.normal(jax.random.PRNGKey(2), (10,))
    dw, _ = rules.term_library().update(theta, loc, ())
    for l, d in enumerate(dw):
        fs = terms(*(loc[k][l] for k in ("pre", "post", "error", "pre_error", "w")))
        np.testing.assert_allclose(
            d, sum(t * f for t, f in zip(theta, fs, strict=True)), rtol=1e-5, atol=1e-5
        )


def test_a_subset_of_terms_and_per_layer_coefficients():
    loc = _local(jax.random.PRNGKey(3))
    sub = rules.term_library(["pseudo_grad", "error_hebb", "oja"])
    assert sub.names == ("pseudo_grad", "error_hebb", "oja") and sub.size == 3
    full = np.zeros(10)
    full[[0, 2, 9]] = [0.3, -0.2, 0.1]
    a, _ = sub.update(jnp.array([0.3, -0.2, 0.1]), loc, ())
    b, _ = rules.term_library().update(jnp.asarray(full, jnp.float32), loc, ())
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-6)
    per = rules.term_library(["pseudo_grad", "decay"], layers=2)
    assert per.names == ("pseudo_grad_1", "decay_1", "pseudo_grad_2", "decay_2")
    dw, _ = per.update(jnp.array([1.0, 0.0, 0.0, 1.0]), loc, ())
    np.testing.assert_allclose(dw[0], -jnp.outer(loc["error"][0], loc["pre"][0]), rtol=1e-6)
    np.testing.assert_allclose(dw[1], -loc["w"][1], rtol=1e-6)
    with pytest.raises(ValueError, match="distinct names"):
        rules.term_library(["pseudo_grad", "nope"])


def test_init_is_the_published_start():
    rule = rules.term_library()
    theta = rule.init_theta(jax.random.PRNGKey(0))
    assert theta.shape == (10,) and float(theta[0]) == pytest.approx(1e-3) and not np.any(theta[1:])
    assert float(analysis.angle(theta, rules.pseudo_gradient(rule))) == 0.0


def test_error_hebbian_term_aligns_w_with_the_feedback_matrix():
    # In a linear network e_{l-1} = B_{l-1} e_l, so F3 = -e_l e_l^T B_{l-1}^T: with a
    # negative coefficient each step adds a PSD matrix times B^T to W_l, and the
    # angle between W_l and B_{l-1}^T falls (Shervani-Tabar & Rosenbaum 2023, Methods).
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(7), 3)
    n_post, n_pre = 5, 8
    w = jax.random.normal(k1, (n_post, n_pre))
    b = jax.random.normal(k2, (n_pre, n_post))
    rule = rules.term_library(["error_hebb"])

    def angle():
        return analysis.angle(w, b.T)

    before, trace = angle(), []
    for e in jax.random.normal(k3, (300, n_post)):
        loc = {
            "pre": (jnp.zeros(n_pre),),
            "post": (jnp.zeros(n_post),),
            "error": (e,),
            "pre_error": (b @ e,),
            "w": (w,),
        }
        (dw,), _ = rule.update(jnp.array([-0.05]), loc, ())
        w = w + dw
        trace.append(angle())
    assert before > 60 and trace[-1] < 10 and trace[-1] < trace[len(trace) // 2] < before
