"""Event-driven weight changes of a sparse projection: only the synapses of neurons that spiked."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from plastix.rules._base import Local

Array = jax.Array


class SynapseDelta(NamedTuple):
    """A change of a sparse projection's weights ``w`` (``[post, k]``, flat index ``i * k + r``).

    Attributes:
        index: flat synapse indices, ``[E]``; any index ``>= w.size`` changes nothing.
        value: the change of each, ``[E]`` (a synapse listed twice gets both).
    """

    index: Array
    value: Array


def on_spikes(
    local: Local,
    on_pre: Callable[[Array, Array], Array],
    on_post: Callable[[Array, Array], Array],
    x_pre: Array,
    x_post: Array,
) -> SynapseDelta:
    r"""The change of a sparse projection from this step's spikes, after Brian2's ``on_pre`` /
    ``on_post`` pathways.

    For each presynaptic neuron ``j`` that spiked, each of its synapses ``(i, j)``
    changes by ``on_pre(x_post[i], w_ij)``; for each postsynaptic neuron ``i`` that
    spiked, each of its synapses ``(i, j)`` by ``on_post(x_pre[j], w_ij)``. ``x_post``
    and ``x_pre`` are what each pathway reads (a trace before or after this step's
    spikes: the rule decides). Cost ~ spikes x degree, never synapses.

    ``local`` is what a sparse network's step gives (:func:`plastix.networks.recurrent`):
    ``w`` (``[n_post, k]``), ``pre_index`` (``[n_post, k]``, ``n_pre`` where none),
    ``out`` (``[n_pre + 1, d]`` flat synapse indices of each presynaptic neuron,
    ``w.size`` where none), ``pre_events`` and ``post_events`` (the neurons that
    spiked, padded with ``n_pre`` / ``n_post``).
    """
    w, pre_index = local["w"], local["pre_index"]
    n_post, k = pre_index.shape
    n_pre = x_pre.shape[0]
    flat = w.ravel()
    # Presynaptic events: [M_pre, d] synapses, their postsynaptic neurons.
    syn_a = local["out"][local["pre_events"]]
    post_a = syn_a // k
    val_a = on_pre(
        x_post.at[post_a].get(mode="fill", fill_value=0.0), flat.at[syn_a].get(mode="fill", fill_value=0.0)
    )
    # Postsynaptic events: the rows of the neurons that spiked, [M_post, k].
    rows = local["post_events"]
    pre_b = pre_index.at[rows].get(mode="fill", fill_value=n_pre)
    syn_b = jnp.where(pre_b < n_pre, rows[:, None] * k + jnp.arange(k)[None, :], n_post * k)
    val_b = on_post(
        x_pre.at[pre_b].get(mode="fill", fill_value=0.0), flat.at[syn_b].get(mode="fill", fill_value=0.0)
    )
    index = jnp.concatenate([syn_a.ravel(), syn_b.ravel()])
    value = jnp.concatenate(
        [jnp.broadcast_to(val_a, syn_a.shape).ravel(), jnp.broadcast_to(val_b, syn_b.shape).ravel()]
    )
    return SynapseDelta(index, value.astype(w.dtype))
