"""Matplotlib figures from arrays; each returns a Figure and never shows it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")  # figures are written to files; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def coefficients(
    generations: np.ndarray,
    theta: Mapping[str, np.ndarray],
    names: Mapping[str, Sequence[str]],
    references: Mapping[str, tuple[str, np.ndarray]],
):
    """Coefficient trajectories per rule; the reference rule's non-zero terms in colour.

    Dotted lines mark the reference coefficients scaled by ``c``, the
    least-squares scale of the final rule onto the reference (a rule is only
    defined up to its learning rate).

    Args:
        generations: ``[G]``.
        theta: projection -> ``[G, K]`` coefficient trajectory (the ES mean).
        names: projection -> ``K`` coefficient names.
        references: projection -> (reference name, ``[K]`` reference theta).
    """
    fig, axes = plt.subplots(1, len(theta), figsize=(6.5 * len(theta), 4.2), squeeze=False)
    for ax, (p, traj) in zip(axes[0], sorted(theta.items()), strict=True):
        ref_name, ref = references.get(p, (None, np.zeros(traj.shape[1])))
        c = float(traj[-1] @ ref / (ref @ ref)) if np.any(ref) else 0.0
        for k, name in enumerate(names[p]):
            if ref[k] != 0:
                ax.plot(
                    generations,
                    traj[:, k],
                    lw=2.2,
                    label=f"A{name} ({ref_name}: {ref[k]:+g}, dotted: ×{c:.2f})",
                )
                ax.axhline(c * ref[k], color=ax.lines[-1].get_color(), ls=":", lw=1)
            else:
                ax.plot(generations, traj[:, k], color="0.7", lw=0.8)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xlabel("generation")
        ax.set_ylabel("coefficient")
        ax.set_title(f"rule '{p}' (grey: terms absent from {ref_name or 'the reference'})")
        if any(ref != 0):
            ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def loss_and_angles(
    generations: np.ndarray, losses: Mapping[str, np.ndarray], angles: Mapping[str, np.ndarray]
):
    """Loss (log scale) and angle to each reference rule (log scale) per generation."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    for name, v in losses.items():
        a1.plot(generations, np.maximum(v, 1e-12), label=name)
    a1.set_yscale("log")
    a1.set_xlabel("generation")
    a1.set_ylabel("loss")
    a1.legend()
    for name, v in angles.items():
        a2.plot(generations, np.maximum(v, 1e-3), label=f"angle to {name}")
    a2.set_yscale("log")
    a2.set_xlabel("generation")
    a2.set_ylabel("degrees")
    for d in (5, 10):
        a2.axhline(d, color="0.6", ls=":", lw=1)
    if angles:
        a2.legend()
    fig.tight_layout()
    return fig


def weights_vs_pcs(w: np.ndarray, pcs: np.ndarray):
    """Each learned weight vector ``w_i`` next to the true principal component ``PC_i``.

    The PC is sign-aligned with ``w_i`` (as in the loss); the title gives the
    angle between them.
    """
    m, n = w.shape
    fig, axes = plt.subplots(m, 1, figsize=(max(6, min(14, 0.18 * n + 4)), 1.9 * m + 0.6), squeeze=False)
    idx = np.arange(n)
    for i, ax in enumerate(axes[:, 0]):
        s = 1.0 if w[i] @ pcs[i] >= 0 else -1.0
        pc = s * pcs[i]
        cos = abs(w[i] @ pcs[i]) / (np.linalg.norm(w[i]) * np.linalg.norm(pcs[i]) + 1e-12)
        ax.bar(idx - 0.2, pc, width=0.4, color="0.6", label=f"PC{i + 1}")
        ax.bar(idx + 0.2, w[i], width=0.4, color="C0", label=f"w{i + 1}")
        ax.set_title(
            f"output {i + 1}: angle {np.degrees(np.arccos(min(cos, 1.0))):.1f}°, "
            f"|w| = {np.linalg.norm(w[i]):.3f}",
            fontsize=9,
        )
        ax.legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("input")
    axes[-1, 0].xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    fig.tight_layout()
    return fig
