"""Parametrised plasticity rules and named reference rules."""

from plastix.rules._adam import adam_step
from plastix.rules._base import Local, Rule, RuleState, Theta, coefficients, describe, project, summarise
from plastix.rules._events import SynapseDelta, on_spikes
from plastix.rules._mlp import ACTIVATIONS, MLP_SIDES, mlp
from plastix.rules._per_synapse import PARAMETRISATIONS, SOFT_BOUND_NAMES, per_synapse, soft_bound_hebb
from plastix.rules._polynomial import SIDES, polynomial
from plastix.rules._reference import REFERENCES, anti_hebbian, from_terms, hebb, oja, pseudo_gradient
from plastix.rules._spike_trace import SPIKE_TRACE_NAMES, spike_trace, spike_trace_bounds, vogels_istdp
from plastix.rules._term_library import TERMS, term_library

__all__ = [
    "ACTIVATIONS",
    "MLP_SIDES",
    "mlp",
    "PARAMETRISATIONS",
    "REFERENCES",
    "SIDES",
    "SOFT_BOUND_NAMES",
    "SPIKE_TRACE_NAMES",
    "TERMS",
    "Local",
    "Rule",
    "SynapseDelta",
    "RuleState",
    "Theta",
    "adam_step",
    "anti_hebbian",
    "coefficients",
    "describe",
    "from_terms",
    "hebb",
    "oja",
    "on_spikes",
    "per_synapse",
    "polynomial",
    "project",
    "pseudo_gradient",
    "soft_bound_hebb",
    "spike_trace",
    "summarise",
    "spike_trace_bounds",
    "term_library",
    "vogels_istdp",
]
