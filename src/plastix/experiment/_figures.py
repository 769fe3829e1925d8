"""Draw and write a run directory's figures from its files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from plastix import plotting
from plastix.experiment import _rundir as rd
from plastix.experiment._build import Experiment, build
from plastix.experiment._family import History


def draw_figures(path: Path, exp: Experiment | None = None) -> dict:
    """A run's figures from ``metrics.csv``, ``summary.json`` and ``final.npz``, not yet written.

    ``loss.png`` for every run, then the figures of the run's family: file name ->
    :class:`matplotlib.figure.Figure`. ``exp``: the run's experiment, when the
    caller has it (else built from the run's config). Empty before a generation
    has finished. The caller closes the figures.
    """
    rows = rd.read_metrics(path)
    if not rows:
        return {}
    if exp is None:
        exp = build(rd.read_config(path))
    gens = np.array([r["generation"] for r in rows])
    theta = {
        p: np.array([[r[f"theta_{p}_{n}"] for n in rule.names] for r in rows])
        for p, rule in exp.rules.items()
    }
    figs = {
        "loss.png": plotting.loss_and_angles(
            gens,
            {
                k: np.array([r[k] for r in rows])
                for k in ("loss_best", "loss_mean", "validation_loss")
                if k in rows[0]
            },
            {k[6:]: np.array([r[k] for r in rows]) for k in rows[0] if k.startswith("angle_")},
        ),
    }
    arrays = rd.read_final(path)
    summary = rd.read_summary(path)
    figs.update(exp.family.figures(exp, History(gens, theta, rows, summary), arrays))
    # A family composes its figures from plot functions' axes: the figure of what they returned.
    return {name: plotting.figure_of(drawn) for name, drawn in figs.items()}


def write_figures(path: Path, exp: Experiment | None = None) -> list[Path]:
    """(Re)draw ``figures/*.png`` from ``metrics.csv``, ``summary.json`` and ``final.npz``
    (:func:`draw_figures`); the paths written."""
    import matplotlib.pyplot as plt

    out = path / rd.FIGURES
    out.mkdir(exist_ok=True)
    written = []
    for name, fig in draw_figures(path, exp).items():
        # Rendered in memory, then replaced atomically: a kill or a full disk mid-way
        # leaves the previous figure, and the latter a one-line error.
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        plt.close(fig)
        rd.atomic_write(out / name, buf.getvalue())
        written.append(out / name)
    return written
