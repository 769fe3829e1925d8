"""Inner networks: what a rule trains from scratch."""

from plastix.networks._base import NetState, Network
from plastix.networks._lif import VOGELS_2011, afferent_groups, excitatory_tuning, lif
from plastix.networks._linear import effective_weights, linear
from plastix.networks._mlp import FEEDBACK, mlp, mlp_errors, mlp_forward

__all__ = ["NetState", "Network", "effective_weights", "linear"]
__all__ += ["VOGELS_2011", "afferent_groups", "excitatory_tuning", "lif"]
__all__ += ["FEEDBACK", "mlp", "mlp_errors", "mlp_forward"]
