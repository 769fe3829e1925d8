"""Figures from arrays (matplotlib, Agg backend, never shown)."""

from plastix.plotting._figures import coefficients, loss_and_angles, weights_vs_pcs

__all__ = ["coefficients", "loss_and_angles", "weights_vs_pcs"]
