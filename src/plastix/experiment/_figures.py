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
            "loss.png": plotting.loss_and_angles(
                gens,
                {k: np.array([r[k] for r in rows]) for k in ("loss_best", "loss_mean")},
                {k[6:]: np.array([r[k] for r in rows]) for k in rows[0] if k.startswith("angle_")},
            ),
        }
        final = path / rd.FINAL
        arr = np.load(final) if final.exists() else None
        if cfg.task.kind == "target_rate":
            rc = cfg.rules["inh"]
            figs.update(
                _spiking_figures(
                    gens, theta["inh"], names["inh"], refs.get("inh"), arr, rc.tau_min, rc.tau_max
                )
            )
        else:
            figs["coefficients.png"] = plotting.coefficients(gens, theta, names, refs)
            if arr is not None:
                figs["weights.png"] = plotting.weights_vs_pcs(arr["w_effective"], arr["pcs"])
        for name, fig in figs.items():
            fig.savefig(out / name, dpi=110)
            plt.close(fig)
            written.append(out / name)
    return written


def _spiking_figures(gens, theta, names, ref, arr, tau_min, tau_max) -> dict:
    """Figures of a target-rate run: theta in two panels, the (alpha, beta) plane, detailed balance."""
    figs = {"coefficients.png": plotting.spike_coefficients(gens, theta, names, ref, tau_min, tau_max)}
    if arr is None:
        return figs
    nu_pre, target = float(arr["nu_pre"]), float(arr["target"])
    # The final rule's trace terms shift the steady-state line (plotting.alpha_beta_plane),
    # with the time constants the rule uses (clipped).
    _, _, gamma, kappa, tau_pre, tau_post = theta[-1]
    tau_pre, tau_post = np.clip([tau_pre, tau_post], tau_min, tau_max)
    figs["alpha_beta.png"] = plotting.alpha_beta_plane(
        theta[:, 0],
        theta[:, 1],
        nu_pre,
        target,
        trace_term=(gamma * tau_pre + kappa * tau_post) * nu_pre,
        reference=(ref[0], ref[1][0], ref[1][1]) if ref else None,
    )
    w_group = np.concatenate([arr["w_inh_group_before"][None], arr["w_inh_group"]])
    time = np.concatenate([[0.0], arr["chunk_time"]])
    figs["balance.png"] = plotting.detailed_balance(
        arr["w_exc_group"],
        w_group,
        arr["current_exc"],
        arr["current_inh"],
        arr["chunk_time"],
        arr["rate"],
        float(arr["bin_size"]),
        float(arr["train_time"]),
        target,
        early=min(1.0, float(arr["train_time"]) / 10),
        w_time=time,
    )
    return figs
