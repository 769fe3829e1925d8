"""Inner networks: what a rule trains from scratch."""

from plastix.networks._base import NetState, Network, weight_bound
from plastix.networks._clamped import clamped, clamped_forward, gd_errors, layer_names
from plastix.networks._lif import VOGELS_2011, afferent_groups, excitatory_tuning, lif
from plastix.networks._linear import effective_weights, linear
from plastix.networks._mlp import FEEDBACK, mlp, mlp_errors, mlp_forward
from plastix.networks._recurrent import ENGINES, PATHWAYS, VOGELS_2011_NETWORK, binomial_tail, recurrent

__all__ = ["NetState", "Network", "effective_weights", "linear", "weight_bound"]
__all__ += ["clamped", "clamped_forward", "gd_errors", "layer_names"]
__all__ += ["VOGELS_2011", "afferent_groups", "excitatory_tuning", "lif"]
__all__ += ["FEEDBACK", "mlp", "mlp_errors", "mlp_forward"]
__all__ += ["ENGINES", "PATHWAYS", "VOGELS_2011_NETWORK", "binomial_tail", "recurrent"]
