r"""Feedforward rate networks that learn with their outputs clamped or nudged to the target.

Supervised learning with purely local rules (no error is propagated to the
weights' update). At each inner step, with ``a_0 = x``:

1. **Free phase**: ``z_l = W_l a_{l-1}``, ``a_l = tanh(z_l)`` for hidden layers,
   ``y = a_L = z_L`` (linear output).
2. **Target phase**: the output is nudged toward the target ``t``,
   ``a_L^* = y + s (t - y)`` (``s = 1``: clamped, ``a_L^* = t``), and each
   hidden layer hears the change of the layer above through the transposed
   forward weights, ``a_l^* = tanh(z_l + gamma W_{l+1}^T (a_{l+1}^* - a_{l+1}))``
   (one settling step of contrastive Hebbian learning's symmetric network;
   ``gamma = 0``: hidden layers learn from their free activity alone).
3. Each projection's rule sees ``pre = a_{l-1}`` (free phase), ``post = a_l^*``,
   ``post_free = a_l`` and ``w = W_l``; then ``W_l += eta * dW_l``.

Relation to gradient descent: for the linear output layer, Hebbian learning in
the clamped phase minus Hebbian learning in the free phase,
``dW = t x^T - y x^T = (t - y) x^T``, is the delta rule, i.e. exact gradient
descent on ``L = |t - y|^2 / 2`` (Widrow & Hoff 1960); with nudging it is ``s``
times that. Over hidden layers the same difference of phases is contrastive
Hebbian learning (Movellan 1991), which approximates backprop for small ``s``
(Xie & Seung 2003; Scellier & Bengio 2017). The backprop error
``error_l = dL/dz_l`` (negated) is in ``local`` too: any rule may read it, and
gradient descent itself is a rule of this network (``dW = error pre^T``).

The trajectory meta-loss (distance to gradient descent's weights) is the
task's to record: :func:`plastix.tasks.gradient_twin`.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from plastix.networks._base import NetState, Network, weight_bound


def layer_names(n_layers: int) -> tuple[str, ...]:
    """The projections of a network with ``n_layers`` weight layers: ``l1`` (input) .. ``lL`` (output)."""
    return tuple(f"l{l + 1}" for l in range(n_layers))


def clamped_forward(w: Sequence[jax.Array], x: jax.Array) -> tuple[list[jax.Array], list[jax.Array]]:
    """Free phase: ``(activities [a_0 .. a_L], pre-activations [z_1 .. z_L])`` for ``x [batch, in]``."""
    acts, zs = [x], []
    for l, wl in enumerate(w):
        z = acts[-1] @ wl.T
        zs.append(z)
        acts.append(z if l == len(w) - 1 else jnp.tanh(z))
    return acts, zs


def gd_errors(w, acts, target):
    """``-dL/dz_l`` for ``L = |t - y|^2 / 2``, output layer last (backprop)."""
    errs = [target - acts[-1]]
    for l in range(len(w) - 1, 0, -1):
        errs.insert(0, (1 - acts[l] ** 2) * (errs[0] @ w[l]))
    return errs


def clamped(
    sizes: Sequence[int],
    strength: float = 1.0,
    feedback: float = 0.0,
    eta: float = 1.0,
    init_scale: float = 1.0,
    w_max: float = 100.0,
) -> Network:
    """A network of ``sizes`` (input first) learning by local rules with its output clamped/nudged.

    Args:
        sizes: layer sizes, input first; projections ``l1 .. lL``.
        strength: ``s``, how far the output is moved toward the target (1: clamped).
        feedback: ``gamma``, the top-down drive of hidden layers in the target phase.
        eta: ``W += eta * dW``.
        init_scale: ``W_l(0) ~ N(0, init_scale^2 / n_{l-1})``.
        w_max: weight bound; reaching it marks a run unstable.

    Inputs of a step: ``{"x": [in], "target": [out]}`` (one sample: online learning).
    """
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"need an input and an output layer of >= 1 unit each, got {list(sizes)}")
    if not 0 < strength <= 1:
        raise ValueError(f"strength must be in (0, 1], got {strength}")
    names = layer_names(len(sizes) - 1)
    bound = weight_bound(w_max)

    def init(key):
        keys = jax.random.split(key, len(names))
        w = {
            p: init_scale / jnp.sqrt(sizes[l]) * jax.random.normal(keys[l], (sizes[l + 1], sizes[l]))
            for l, p in enumerate(names)
        }
        return NetState(w, {})

    def step(state, inputs):
        w = [state.w[p] for p in names]
        x = inputs["x"].astype(w[0].dtype)[None]
        t = inputs["target"].astype(w[0].dtype)[None]
        acts, zs = clamped_forward(w, x)
        target_phase = [None] * len(acts)
        target_phase[-1] = acts[-1] + strength * (t - acts[-1])
        for l in range(len(w) - 1, 0, -1):
            top_down = (target_phase[l + 1] - acts[l + 1]) @ w[l]
            target_phase[l] = jnp.tanh(zs[l - 1] + feedback * top_down) if feedback else acts[l]
        errs = gd_errors(w, acts, t)
        local = {
            p: {
                "pre": acts[l],
                "post": target_phase[l + 1],
                "post_free": acts[l + 1],
                "error": errs[l],
                "w": w[l],
            }
            for l, p in enumerate(names)
        }
        return state, acts[-1][0], local

    def apply(state, dw):
        return state._replace(w={p: bound(state.w[p] + eta * dw[p]) for p in names})

    def unstable(state):
        return jnp.any(jnp.stack([jnp.max(jnp.abs(state.w[p])) >= w_max for p in names]))

    return Network(init, step, apply, unstable, names)
