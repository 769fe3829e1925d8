"""The shipped experiment families, one module each; a new family is one more line here.

See :class:`plastix.experiment.Family` and ``docs/architecture.md``.
"""

from plastix.experiment._family import register
from plastix.experiment.families import feedback, gd_approx, pca, recurrent, spiking

# pca is the first experiment: configs that name no network kind belong to it.
register(pca.FAMILY, replace=True, default=True)
register(spiking.FAMILY, replace=True)
register(feedback.FAMILY, replace=True)
register(gd_approx.FAMILY, replace=True)
register(recurrent.FAMILY, replace=True)
