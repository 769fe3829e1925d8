"""Pure analysis of learned rules: angles to references, symbolic printing."""

from plastix.analysis._angles import angle
from plastix.analysis._printing import monomial, pretty, pretty_spike_trace

__all__ = ["angle", "monomial", "pretty", "pretty_spike_trace"]
