"""Parametrised plasticity rules and named reference rules."""

from plastix.rules._base import Local, Rule, RuleState, Theta
from plastix.rules._polynomial import SIDES, polynomial
from plastix.rules._reference import REFERENCES, anti_hebbian, from_terms, hebb, oja
from plastix.rules._spike_trace import SPIKE_TRACE_NAMES, spike_trace, vogels_istdp

__all__ = [
    "REFERENCES",
    "SIDES",
    "SPIKE_TRACE_NAMES",
    "Local",
    "Rule",
    "RuleState",
    "Theta",
    "anti_hebbian",
    "from_terms",
    "hebb",
    "oja",
    "polynomial",
    "spike_trace",
    "vogels_istdp",
]
