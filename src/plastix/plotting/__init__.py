"""Figures from arrays (matplotlib, Agg backend, never shown)."""

from plastix.plotting._figures import (
    alpha_beta_plane,
    coefficient_histograms,
    coefficient_spread,
    coefficients,
    detailed_balance,
    feedback_learning,
    learning_curves,
    loss_and_angles,
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
    "learning_curves",
    "loss_and_angles",
    "rule_manifold",
    "seed_sweep",
    "spike_coefficients",
    "weights_vs_pcs",
]
