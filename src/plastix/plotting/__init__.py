"""Figures from arrays (matplotlib, Agg backend, never shown)."""

from plastix.plotting._figures import (
    alpha_beta_plane,
    coefficients,
    detailed_balance,
    feedback_learning,
    loss_and_angles,
    spike_coefficients,
    weights_vs_pcs,
)

__all__ = [
    "alpha_beta_plane",
    "coefficients",
    "detailed_balance",
    "feedback_learning",
    "loss_and_angles",
    "spike_coefficients",
    "weights_vs_pcs",
]
