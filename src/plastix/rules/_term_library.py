r"""A linear combination of named matrix terms of activations and errors (Shervani-Tabar & Rosenbaum 2023).

For layer ``l`` with weights :math:`W_l` (``[n_l, n_{l-1}]``, ``[post, pre]``),
presynaptic activity :math:`y_{l-1}`, postsynaptic activity :math:`y_l`, their
errors :math:`e_{l-1}, e_l` and :math:`\mathbf 1_l` a vector of ones,

.. math:: \Delta W_l = \sum_k \theta_k F_k

with the ten terms of the published pool (their Methods, "Plasticity rules"):

==  ====================  =========================================================
k   name                  :math:`F_k`
==  ====================  =========================================================
1   ``pseudo_grad``       :math:`-e_l y_{l-1}^T` (backprop with :math:`B = W^T`)
2   ``post_pre_error``    :math:`-y_l e_{l-1}^T`
3   ``error_hebb``        :math:`-e_l e_{l-1}^T` (pushes :math:`W_l` toward :math:`B_{l-1}^T`)
4   ``decay``             :math:`-W_l`
5   ``pre_error``         :math:`-\mathbf 1_l e_{l-1}^T`
6   ``sum_post_grad``     :math:`-e_l \mathbf 1_l^T y_l\, y_{l-1}^T`
7   ``post_w_pre_error``  :math:`-y_l y_l^T W_l e_{l-1} e_{l-1}^T`
8   ``error_w_grad``      :math:`-e_l\, y_l^T W_l e_{l-1}\, y_{l-1}^T`
9   ``grad_w_error``      :math:`-y_l\, y_{l-1}^T W_l^T e_l\, e_{l-1}^T`
10  ``oja``               :math:`-(y_l y_{l-1}^T - y_l y_l^T W_l)` (Oja on activations)
==  ====================  =========================================================

Every printed term is a ``[n_l, n_{l-1}]`` matrix as it stands: the scalar
factors :math:`\mathbf 1_l^T y_l`, :math:`y_l^T W_l e_{l-1}` and
:math:`y_{l-1}^T W_l^T e_l` are inner products, so no term needed a
re-reading. The update is computed from three outer products, not ten
matrices (:func:`_combined`); :func:`terms` gives each :math:`F_k` for tests.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from plastix.rules._base import Local, Rule

TERMS = (
    "pseudo_grad",
    "post_pre_error",
    "error_hebb",
    "decay",
    "pre_error",
    "sum_post_grad",
    "post_w_pre_error",
    "error_w_grad",
    "grad_w_error",
    "oja",
)


def terms(pre, post, error, pre_error, w) -> list[jax.Array]:
    """The ten terms ``F_1 .. F_10`` of one layer, each ``[n_l, n_{l-1}]`` (module docstring)."""
    s = post @ (w @ pre_error)  # y_l^T W_l e_{l-1}
    r = error @ (w @ pre)  # y_{l-1}^T W_l^T e_l
    return [
        -jnp.outer(error, pre),
        -jnp.outer(post, pre_error),
        -jnp.outer(error, pre_error),
        -w,
        -jnp.broadcast_to(pre_error, w.shape),
        -jnp.sum(post) * jnp.outer(error, pre),
        -s * jnp.outer(post, pre_error),
        -s * jnp.outer(error, pre),
        -r * jnp.outer(post, pre_error),
        -(jnp.outer(post, pre) - jnp.outer(post, post @ w)),
    ]


def _combined(c: jax.Array, pre, post, error, pre_error, w) -> jax.Array:
    """``sum_k c_k F_k`` for all ten coefficients ``c``, as three outer products and a decay.

    Collecting the terms by their outer factors,
    ``-dW = e (a x + c3 e') + y (b e' + c10 (x - W^T y)) + c5 1 e' + c4 W`` with
    ``a = c1 + c6 1^T y + c8 s`` and ``b = c2 + c7 s + c9 r`` (``x = y_{l-1}``,
    ``e' = e_{l-1}``, ``s = y^T W e'``, ``r = e^T W x``).
    """
    s = post @ (w @ pre_error)
    r = error @ (w @ pre)
    a = c[0] + c[5] * jnp.sum(post) + c[7] * s
    b = c[1] + c[6] * s + c[8] * r
    left = a * pre + c[2] * pre_error
    right = b * pre_error + c[9] * (pre - post @ w)
    # The three outer products as one [n_l, 3] @ [3, n_{l-1}] product: its transposes in the
    # meta-gradient are two matrix products too, where broadcast products would make XLA
    # reduce over the whole matrix several times per step (about 3x slower on CPU).
    cols = jnp.stack([error, post, jnp.ones_like(post)], axis=1)
    rows = jnp.stack([left, right, c[4] * pre_error])
    return -(cols @ rows + c[3] * w)


def term_library(
    names: Sequence[str] = TERMS,
    layers: int | None = None,
    init_pseudo_grad: float = 1e-3,
    init_std: float = 0.0,
) -> Rule:
    """A :class:`Rule` ``dW_l = sum_k theta_k F_k`` over the terms ``names`` (any subset of :data:`TERMS`).

    Reads the tuples over layers of a layered projection (:func:`plastix.networks.mlp`):
    ``pre``, ``post``, ``error``, ``pre_error`` and ``w``. With ``layers = None``
    one set of coefficients serves every layer; with ``layers = L`` each layer
    has its own, named ``<term>_<l>`` (``l = 1 .. L``), theta ``[L * K]`` layer-major.

    ``init_theta`` is the published start: the pseudo-gradient coefficient at
    ``init_pseudo_grad`` (it is learned too), the others at zero, plus
    ``N(0, init_std^2)`` on every coefficient but the pseudo-gradient.
    """
    names = tuple(names)
    bad = [n for n in names if n not in TERMS]
    if bad or not names or len(set(names)) != len(names):
        raise ValueError(f"terms must be distinct names from {list(TERMS)}; got {list(names)}")
    if layers is not None and layers < 1:
        raise ValueError(f"layers must be >= 1, got {layers}")
    index = jnp.asarray([TERMS.index(n) for n in names])
    k = len(names)
    per = 1 if layers is None else layers
    coef_names = names if layers is None else tuple(f"{n}_{l + 1}" for l in range(layers) for n in names)
    start = jnp.asarray([init_pseudo_grad if n == "pseudo_grad" else 0.0 for n in names] * per)
    noisy = jnp.asarray([n != "pseudo_grad" for n in names] * per)

    def init_theta(key):
        return start + init_std * noisy * jax.random.normal(key, start.shape)

    def update(theta, local: Local, state):
        w = local["w"]
        if layers is not None and len(w) != layers:
            raise ValueError(f"the rule has coefficients for {layers} layers; the network has {len(w)}")
        rows = jnp.reshape(theta, (per, k))
        dw = []
        for l, wl in enumerate(w):
            c = jnp.zeros(len(TERMS), theta.dtype).at[index].set(rows[0 if layers is None else l])
            dw.append(
                _combined(c, local["pre"][l], local["post"][l], local["error"][l], local["pre_error"][l], wl)
            )
        return tuple(dw), state

    return Rule(
        init_theta=init_theta,
        init_state=lambda w: (),
        update=update,
        names=coef_names,
        needs=("pre", "post", "error", "pre_error", "w"),
        symbols={},
    )
