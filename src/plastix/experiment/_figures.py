"""Write a run directory's figures from its files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from plastix import plotting
from plastix.experiment import _rundir as rd
from plastix.rules import REFERENCES


def write_figures(path: Path) -> list[Path]:
    """(Re)draw ``figures/*.png`` from ``metrics.csv``, ``summary.json`` and ``final.npz``."""
    import matplotlib.pyplot as plt

    from plastix.experiment._build import build

    cfg = rd.read_config(path)
    rows = rd.read_metrics(path)
    out = path / rd.FIGURES
    out.mkdir(exist_ok=True)
    written = []
    if rows:
        exp = build(cfg)
        gens = np.array([r["generation"] for r in rows])
        theta = {
            p: np.array([[r[f"theta_{p}_{n}"] for n in rule.names] for r in rows])
            for p, rule in exp.rules.items()
        }
        names = {p: rule.names for p, rule in exp.rules.items()}
        refs = {
            p: (name, np.asarray(REFERENCES[name](exp.rules[p]))) for p, (name, _) in exp.references.items()
        }
        figs = {
            "coefficients.png": plotting.coefficients(gens, theta, names, refs),
            "loss.png": plotting.loss_and_angles(
                gens,
                {k: np.array([r[k] for r in rows]) for k in ("loss_best", "loss_mean")},
                {k[6:]: np.array([r[k] for r in rows]) for k in rows[0] if k.startswith("angle_")},
            ),
        }
        final = path / rd.FINAL
        if final.exists():
            arr = np.load(final)
            figs["weights.png"] = plotting.weights_vs_pcs(arr["w_effective"], arr["pcs"])
        for name, fig in figs.items():
            fig.savefig(out / name, dpi=110)
            plt.close(fig)
            written.append(out / name)
    return written
