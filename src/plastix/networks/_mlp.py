r"""A multilayer perceptron trained online through a feedback pathway (Shervani-Tabar & Rosenbaum 2023).

Forward: :math:`y_0 = x`, :math:`z_l = W_l y_{l-1}`, :math:`y_l = f(z_l)` with
:math:`f(z) = \log(1 + e^{\beta z}) / \beta` (softplus) for the hidden layers,
and a softmax output :math:`p = \mathrm{softmax}(z_L)`; no biases.

Errors (the modulatory signals a local rule may read):

.. math:: e_L = p - \mathrm{onehot}(label), \qquad
          e_l = (B_l\, e_{l+1}) \odot f'(z_l), \quad l = L-1, \dots, 0,

with :math:`f'(z) = \sigma(\beta z) = 1 - e^{-\beta y}`. ``feedback`` chooses
:math:`B_l`: ``"symmetric"`` uses :math:`W_{l+1}^T` (backprop), ``"random"`` a
fixed random matrix of that shape (feedback alignment, Lillicrap et al. 2016),
and ``"direct"`` a fixed random :math:`D_l` that maps :math:`e_L` straight to
layer ``l``, :math:`e_l = (D_l e_L) \odot f'(z_l)` (direct feedback alignment,
Nøkland 2016).

:math:`e_0`, the input layer's error, is computed as for a hidden layer with
:math:`y_0 = x` in place of an activation, :math:`e_0 = (B_0 e_1) \odot
(1 - e^{-\beta x})`, as the published implementation does; only rule terms
that read ``pre_error`` of the first layer use it.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from plastix.networks._base import NetState, Network, weight_bound

FEEDBACK = ("random", "symmetric", "direct")


def _xavier(key, n_out: int, n_in: int) -> jax.Array:
    """Glorot & Bengio (2010) uniform initialisation, ``U(-a, a)``, ``a = sqrt(6 / (n_in + n_out))``."""
    a = jnp.sqrt(6.0 / (n_in + n_out))
    return jax.random.uniform(key, (n_out, n_in), minval=-a, maxval=a)


def mlp_forward(w: Sequence[jax.Array], x: jax.Array, beta: float) -> tuple[list[jax.Array], jax.Array]:
    """Activations ``[y_0 = x, y_1, ..., y_{L-1}]`` and the output logits ``z_L``; ``x`` is ``[..., n_0]``."""
    ys = [x]
    for wl in w[:-1]:
        ys.append(jax.nn.softplus(beta * (ys[-1] @ wl.T)) / beta)
    return ys, ys[-1] @ w[-1].T


def mlp_errors(
    w: Sequence[jax.Array],
    feedback_w: Sequence[jax.Array] | None,
    ys: Sequence[jax.Array],
    logits: jax.Array,
    label: jax.Array,
    beta: float,
    mode: str,
) -> list[jax.Array]:
    """Errors ``[e_0, ..., e_L]`` (module docstring); ``feedback_w``: the ``B_l`` or ``D_l``."""
    e_out = jax.nn.softmax(logits) - jax.nn.one_hot(label, logits.shape[-1], dtype=logits.dtype)
    errs = [e_out]
    for l in range(len(w) - 1, -1, -1):  # layers L-1 ... 0 (static: unrolled at trace time)
        if mode == "symmetric":
            back = errs[0] @ w[l]  # W_{l+1}^T e_{l+1}
        elif mode == "random":
            back = errs[0] @ feedback_w[l].T  # B_l e_{l+1}, B_l [n_l, n_{l+1}]
        else:  # direct
            back = e_out @ feedback_w[l].T  # D_l e_L, D_l [n_l, n_L]
        errs.insert(0, back * (1.0 - jnp.exp(-beta * ys[l])))
    return errs


def mlp(
    sizes: Sequence[int],
    beta: float = 10.0,
    feedback: str = "random",
    w_max: float = 100.0,
) -> Network:
    r"""An MLP ``sizes[0] -> ... -> sizes[-1]`` learning online from one labelled sample per step.

    Inputs of a step: ``{"x": [n_0], "label": int}``. The one plastic
    projection ``"ff"`` holds the tuple of layer weights ``(W_1, ..., W_L)``,
    ``W_l`` of shape ``[n_l, n_{l-1}]`` (``[post, pre]``); its local signals are
    tuples over layers too: ``pre = y_{l-1}``, ``post = y_l`` (``y_L = p``, the
    softmax output), ``error = e_l``, ``pre_error = e_{l-1}`` and ``w = W_l``.
    Updates are ``W_l += dW_l`` (the rule's coefficients carry the learning
    rate), clipped to ``[-w_max, w_max]``; reaching the bound, or a non-finite
    weight, marks the run unstable. ``W`` and the fixed feedback matrices are
    drawn afresh (Xavier uniform) by every ``init``; ``aux["feedback"]`` holds
    the feedback matrices (empty with ``"symmetric"``).
    """
    sizes = tuple(int(n) for n in sizes)
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes must name at least an input and an output layer, each >= 1; got {sizes}")
    if feedback not in FEEDBACK:
        raise ValueError(f"feedback must be one of {FEEDBACK}, got {feedback!r}")
    if beta <= 0:
        raise ValueError(f"beta must be positive, got {beta}")
    n_layers = len(sizes) - 1

    def init(key):
        kw, kb = jax.random.split(key)
        kws, kbs = jax.random.split(kw, n_layers), jax.random.split(kb, n_layers)
        w = tuple(_xavier(kws[l], sizes[l + 1], sizes[l]) for l in range(n_layers))
        if feedback == "random":  # B_l: [n_l, n_{l+1}], l = 0 .. L-1
            fb = tuple(_xavier(kbs[l], sizes[l], sizes[l + 1]) for l in range(n_layers))
        elif feedback == "direct":  # D_l: [n_l, n_L]
            fb = tuple(_xavier(kbs[l], sizes[l], sizes[-1]) for l in range(n_layers))
        else:
            fb = ()
        return NetState({"ff": w}, {"feedback": fb})

    def step(state, inputs):
        w = state.w["ff"]
        x, label = inputs["x"].astype(w[0].dtype), inputs["label"]
        ys, logits = mlp_forward(w, x, beta)
        errs = mlp_errors(w, state.aux["feedback"], ys, logits, label, beta, feedback)
        post = (*ys[1:], jax.nn.softmax(logits))
        local = {
            "ff": {
                "pre": tuple(ys),
                "post": post,
                "error": tuple(errs[1:]),
                "pre_error": tuple(errs[:-1]),
                "w": w,
            }
        }
        return state, logits, local

    bound = weight_bound(w_max)

    def apply(state, dw):
        w = tuple(bound(wl + d) for wl, d in zip(state.w["ff"], dw["ff"], strict=True))
        return state._replace(w={"ff": w})

    def unstable(state):
        return jnp.any(jnp.stack([jnp.max(jnp.abs(wl)) >= w_max for wl in state.w["ff"]]))

    return Network(init, step, apply, unstable, ("ff",))
