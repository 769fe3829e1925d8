"""Inner networks: what a rule trains from scratch."""

from plastix.networks._base import NetState, Network
from plastix.networks._linear import effective_weights, linear

__all__ = ["NetState", "Network", "effective_weights", "linear"]
