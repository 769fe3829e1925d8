"""Pure analysis of learned rules: angles to references, symbolic printing."""

from plastix.analysis._angles import angle
from plastix.analysis._printing import monomial, pretty

__all__ = ["angle", "monomial", "pretty"]
