"""The feedback MLP: shapes, feedback modes, and backprop equivalence of the pseudo-gradient with B = W^T."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix import networks, rules

SIZES = (7, 5, 4, 3)  # uneven on purpose


def _sample(key, n_in=SIZES[0], n_out=SIZES[-1]):
    kx, kl = jax.random.split(key)
    return {"x": jax.random.uniform(kx, (n_in,)), "label": jax.random.randint(kl, (), 0, n_out)}


@pytest.mark.parametrize("feedback", networks.FEEDBACK)
def test_shapes_of_weights_feedback_and_local_signals(feedback):
    net = networks.mlp(SIZES, feedback=feedback)
    state = net.init(jax.random.PRNGKey(0))
    w = state.w["ff"]
    assert [x.shape for x in w] == [(5, 7), (4, 5), (3, 4)]
    fb = state.aux["feedback"]
    want = {"random": [(7, 5), (5, 4), (4, 3)], "direct": [(7, 3), (5, 3), (4, 3)], "symmetric": []}
    assert [b.shape for b in fb] == want[feedback]
    _, logits, local = net.step(state, _sample(jax.random.PRNGKey(1)))
    loc = local["ff"]
    assert logits.shape == (3,)
    for l, wl in enumerate(w):
        assert loc["w"][l].shape == wl.shape
        assert loc["pre"][l].shape == loc["pre_error"][l].shape == (wl.shape[1],)
        assert loc["post"][l].shape == loc["error"][l].shape == (wl.shape[0],)
    np.testing.assert_allclose(jnp.sum(loc["post"][-1]), 1.0, rtol=1e-6)  # y_L: the softmax output


def test_w_and_b_are_drawn_afresh_per_init():
    net = networks.mlp(SIZES)
    a, b = net.init(jax.random.PRNGKey(0)), net.init(jax.random.PRNGKey(1))
    assert not np.allclose(a.w["ff"][0], b.w["ff"][0])
    assert not np.allclose(a.aux["feedback"][0], b.aux["feedback"][0])


def test_pseudo_gradient_with_symmetric_feedback_is_backprop():
    # dW_l = -lr e_l y_{l-1}^T equals -lr dCE/dW_l for every layer when B_l = W_{l+1}^T.
    beta, lr = 10.0, 0.05
    net = networks.mlp(SIZES, beta=beta, feedback="symmetric")
    rule = rules.term_library(["pseudo_grad"])
    state = net.init(jax.random.PRNGKey(3))
    sample = _sample(jax.random.PRNGKey(4))

    def ce(w):
        _, logits = networks.mlp_forward(w, sample["x"], beta)
        return -jax.nn.log_softmax(logits)[sample["label"]]

    grads = jax.grad(ce)(state.w["ff"])
    _, _, local = net.step(state, sample)
    dw, _ = rule.update(jnp.array([lr]), local["ff"], ())
    for l, (d, g) in enumerate(zip(dw, grads, strict=True)):
        np.testing.assert_allclose(d, -lr * g, rtol=2e-5, atol=1e-7, err_msg=f"layer {l + 1}")


def test_random_feedback_is_not_backprop_but_the_output_layer_is():
    beta = 10.0
    net = networks.mlp(SIZES, beta=beta, feedback="random")
    state = net.init(jax.random.PRNGKey(5))
    sample = _sample(jax.random.PRNGKey(6))
    _, _, local = net.step(state, sample)
    sym = networks.mlp(SIZES, beta=beta, feedback="symmetric")
    _, _, local_bp = sym.step(state._replace(aux={"feedback": ()}), sample)
    e, e_bp = local["ff"]["error"], local_bp["ff"]["error"]
    np.testing.assert_allclose(e[-1], e_bp[-1])  # e_L = p - onehot either way
    assert not np.allclose(e[0], e_bp[0])


def test_bad_arguments_are_refused():
    for kwargs, needle in (({"sizes": (3,)}, "at least"), ({"sizes": (3, 2), "feedback": "x"}, "feedback")):
        with pytest.raises(ValueError, match=needle):
            networks.mlp(**kwargs)
