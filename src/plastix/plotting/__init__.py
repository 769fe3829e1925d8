"""Plots from arrays (matplotlib, Agg backend, never shown), into given axes or a new figure."""

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
    weights_vs_pcs,
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
    "weights_vs_pcs",
]
