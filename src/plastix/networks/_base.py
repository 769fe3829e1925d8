"""The network interface: what the inner loop simulates."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array


class NetState(NamedTuple):
    """State of an inner network.

    Attributes:
        w: plastic weights by projection name, each ``[post, pre]``.
        aux: everything else the network carries (fixed weights, membrane
            potentials, counters); a pytree.
    """

    w: Mapping[str, Array]
    aux: Any = ()


class Network(NamedTuple):
    """An inner network as pure functions; hyper-parameters are bound by the factory.

    Attributes:
        init: ``key -> NetState``, a fresh, untrained network.
        step: ``(state, inputs) -> (state, outputs, local)`` where ``local`` maps
            each plastic projection to the signals its rule may read.
        apply: ``(state, dw) -> state``: scale each projection's ``dw`` by its
            learning rate and enforce the network's constraints (masks, bounds).
        unstable: ``state -> bool``: weights non-finite or at their bound.
        plastic: names of the plastic projections (keys of ``state.w``).
        sizes: ``(post, pre)`` neurons of each projection whose weights are stored
            sparse (not as ``[post, pre]``), for the rules' per-neuron state
            (:func:`plastix.tasks.unroll` hands ``init_state`` a
            ``jax.ShapeDtypeStruct`` of that shape); ``None``: all dense.
    """

    init: Callable[[Array], NetState]
    step: Callable[[NetState, Array], tuple[NetState, Array, Mapping[str, Mapping[str, Array]]]]
    apply: Callable[[NetState, Mapping[str, Array]], NetState]
    unstable: Callable[[NetState], Array]
    plastic: tuple[str, ...]
    sizes: Mapping[str, tuple[int, int]] | None = None


def weight_bound(w_max: float) -> Callable[[Array], Array]:
    """``w -> clip(w, -w_max, w_max)`` (NaN to the bound) whose derivative is taken as 1.

    A run that reaches the bound is unstable and scores the constant unstable
    loss, so every meta-gradient that counts is one where the bound never
    acted; the backward pass then keeps no per-step mask of every weight.
    """

    @jax.custom_jvp
    def bound(w):
        return jnp.clip(jnp.nan_to_num(w, nan=w_max), -w_max, w_max)

    bound.defjvp(lambda primals, tangents: (bound(primals[0]), tangents[0]))
    return bound
