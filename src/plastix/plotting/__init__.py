"""Plots from arrays (matplotlib, Agg backend, never shown), into given axes or a new figure.

matplotlib is imported on the first use of a plot (PEP 562), not with the package: the
experiment families name their plots at import, and ``plastix list`` or ``check`` draw nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from plastix.plotting._figures import (
        alpha_beta_plane,
        coefficient_histograms,
        coefficient_spread,
        coefficients,
        detailed_balance,
        feedback_learning,
        figure_of,
        learning_curves,
        loss_and_angles,
        rule_agreement,
        rule_manifold,
        seed_sweep,
        spike_coefficients,
        tuning_curves,
        weights_vs_pcs,
    )
    from plastix.plotting._network import (
        network_activity,
        statistics_vs_targets,
        stdp_windows,
        weight_distributions,
    )

__all__ = [
    "alpha_beta_plane",
    "coefficient_histograms",
    "coefficient_spread",
    "coefficients",
    "detailed_balance",
    "feedback_learning",
    "figure_of",
    "learning_curves",
    "loss_and_angles",
    "rule_agreement",
    "rule_manifold",
    "seed_sweep",
    "spike_coefficients",
    "tuning_curves",
    "weights_vs_pcs",
    "network_activity",
    "statistics_vs_targets",
    "stdp_windows",
    "weight_distributions",
]
# Those drawn from plastix.plotting._network; the rest from plastix.plotting._figures.
NETWORK = ("network_activity", "statistics_vs_targets", "stdp_windows", "weight_distributions")


def __getattr__(name: str):
    if name in __all__:
        module = "plastix.plotting._network" if name in NETWORK else "plastix.plotting._figures"
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # once: later lookups find it without this hook
        return value
    raise AttributeError(f"module 'plastix.plotting' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
