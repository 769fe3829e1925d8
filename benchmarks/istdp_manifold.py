"""The manifold of inhibitory rules that hold 5 Hz: sweeps of the spiking experiment, analysed.

Confavreux et al. (NeurIPS 2020, Sec. 3.3, Fig. 3) report not one rule but a
family: rules near the steady-state line ``beta = -alpha nu_pre / nu_post``,
some with Hebbian terms that give detailed balance (inhibitory weights that
mirror the excitatory tuning). This script reads seed sweeps of
``configs/istdp_quick.toml`` / ``configs/istdp.toml`` (``plastix sweep``) and,
for every start, on the run's own held-out datasets:

* the held-out rate, mean ± sd over the datasets (from ``summary.json``);
* corr(wE, wI) over the input groups and the fluctuation of the inhibitory
  weights while scored (:func:`plastix.experiment.families.spiking.balance`),
  mean over the first ``--episodes`` held-out datasets, recorded again with
  :func:`plastix.experiment.families.spiking.record`;
* the same for Vogels' rule (eta = 3e-3) on the same datasets;
* the learned parameters and the wall time.

It writes ``NAME.json`` (every number), ``NAME.md`` (the tables) and
``figures/NAME_*.png`` into ``--out``::

    python benchmarks/istdp_manifold.py --out docs \\
        --sweep "CMA-ES=runs/quick_cma" --sweep "finite differences=runs/quick_fd"
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path

import jax
import numpy as np

from plastix import experiment, rules
from plastix.experiment import _rundir as rd
from plastix.experiment._files import shipped_config
from plastix.experiment._seeds import HELDOUT, stream
from plastix.experiment.families.spiking import balance, record

TOLERANCE = 0.5  # Hz: a start "reaches" the target when its held-out mean is within it


class Protocol:
    """A sweep's neuron and task with the free rule (the runs' own constraints only clip theta, and
    theta is taken as applied): its held-out loss and recorder compiled once for all its starts."""

    def __init__(self, cfg):
        rule = type(cfg.rules["inh"])(reference="vogels_istdp")
        self.cfg = cfg.model_copy(update={"rules": {"inh": rule}})
        self.exp = experiment.build(self.cfg)
        exp = self.exp
        self.heldout = jax.jit(exp.heldout_loss)
        self.record = jax.jit(lambda th, ep, k: record(exp, th, ep, k))
        self.sample = jax.jit(exp.task.sample)
        self.vogels = {"inh": rules.vogels_istdp()}
        self._vogels: dict = {}

    def balance(self, theta, seed: int, episodes: int) -> dict:
        """corr(wE, wI) and weight fluctuation on the first ``episodes`` held-out datasets of ``seed``."""
        t = self.cfg.task
        keys = jax.random.split(stream(seed, HELDOUT), t.heldout_episodes)
        out = []
        for k in keys[:episodes]:
            k_ep, k_run = jax.random.split(k)
            rec = {n: np.asarray(v) for n, v in self.record(theta, self.sample(k_ep), k_run).items()}
            chunk_time = (np.arange(rec["w_inh"].shape[0]) + 0.5) * t.chunk * self.cfg.network.dt
            w_inh_final = rec["w_inh_group"][-1]
            out.append(balance(rec["w_exc_group"], w_inh_final, rec["w_inh"], chunk_time, t.train_time))
        corr = [o["corr_w"] for o in out if o["corr_w"] is not None]
        fluct = [o["w_inh_fluctuation"] for o in out if o["w_inh_fluctuation"] is not None]
        tuning = [o["tuning"] for o in out if o["tuning"] is not None]
        return {
            "corr_w": float(np.mean(corr)) if corr else None,
            "corr_w_sd": float(np.std(corr)) if corr else None,
            "corr_w_episodes": [o["corr_w"] for o in out],
            "tuning": float(np.mean(tuning)) if tuning else None,
            "w_inh_fluctuation": float(np.mean(fluct)) if fluct else None,
            "w_inh_mean": float(np.mean([o["w_inh_mean"] for o in out])),
        }

    def vogels_scores(self, seed: int, episodes: int) -> dict:
        """Vogels' rule on the held-out datasets of ``seed``; once per seed (sweeps share seeds)."""
        if (seed, episodes) not in self._vogels:
            rates, loss = self.heldout_rates(self.vogels, seed)
            self._vogels[seed, episodes] = {
                "heldout_loss": loss,
                "rate": float(rates.mean()),
                "rate_sd": float(rates.std()),
                **self.balance(self.vogels, seed, episodes),
            }
        return self._vogels[seed, episodes]

    def heldout_rates(self, theta, seed: int) -> tuple[np.ndarray, float]:
        key = stream(seed, HELDOUT)
        _, m = self.heldout(theta, key)
        return np.asarray(m["episodes"]["rate"], np.float64), float(m["task_loss"])


def protocol_key(cfg) -> str:
    """Runs with equal [network] and [task] sections share datasets' law, and one compiled protocol."""
    return json.dumps({"network": cfg.network.model_dump(), "task": cfg.task.model_dump()}, sort_keys=True)


def _trajectory(run: Path, rule: rules.Rule) -> np.ndarray:
    """Theta per generation from ``metrics.csv``, as the rule applies it, ``[G, 6]``."""
    with open(run / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    raw = np.array([[float(r[f"theta_inh_{n}"]) for n in rules.SPIKE_TRACE_NAMES] for r in rows])
    return np.asarray(rules.project(rule, raw.astype(np.float32)), np.float64)


def analyse_run(run: Path, protocols: dict, episodes: int) -> dict:
    cfg = rd.read_config(run)
    summary = json.loads((run / "summary.json").read_text())
    key = protocol_key(cfg)
    if key not in protocols:
        protocols[key] = Protocol(cfg)
    proto = protocols[key]
    rule = cfg.rules["inh"].rule(cfg.network.projections()["inh"])
    theta = {"inh": rules.project(rule, np.asarray(summary["theta"]["inh"], np.float32))}
    rates = np.asarray(summary["heldout_rates"])
    traj = _trajectory(run, rule)
    learned = proto.balance(theta, cfg.seed, episodes)
    vogels = proto.vogels_scores(cfg.seed, episodes)
    th = np.asarray(theta["inh"], np.float64)
    return {
        "seed": cfg.seed,
        "config": cfg.name,
        "run": str(run),
        "generations": summary["generations"],
        "wall_s": summary["wall_s"],
        "heldout_loss": summary["heldout_loss"],
        "rate": float(rates.mean()),
        "rate_sd": float(rates.std()),
        "reached": bool(abs(rates.mean() - cfg.task.target) <= TOLERANCE),
        "theta": dict(zip(rules.SPIKE_TRACE_NAMES, th.tolist(), strict=True)),
        "rule": summary["rule"],
        "alpha_path": traj[:, 0].tolist(),
        "beta_path": traj[:, 1].tolist(),
        **learned,
        "vogels": vogels,
        "balance_png": str(run / "figures" / "balance.png"),
    }


def _fmt(x, spec=".2f"):
    return "n/a" if x is None else format(x, spec)


def _ms(values, spec=".2f"):
    v = np.asarray([x for x in values if x is not None], float)
    if v.size == 0:
        return "n/a"
    return f"{v.mean():{spec}} ± {v.std():{spec}}" if v.size > 1 else f"{v[0]:{spec}}"


def group_row(label: str, starts: list[dict]) -> dict:
    n = len(starts)
    th = np.array([[s["theta"][k] for k in rules.SPIKE_TRACE_NAMES] for s in starts])
    return {
        "label": label,
        "starts": n,
        "reached": sum(s["reached"] for s in starts),
        "rate": _ms([s["rate"] for s in starts]),
        "rate_sd": _ms([s["rate_sd"] for s in starts]),
        "loss": _ms([s["heldout_loss"] for s in starts], ".3f"),
        "corr": _ms([s["corr_w"] for s in starts]),
        "co_tuned": sum((s["corr_w"] or -2) >= 0.8 for s in starts),
        "tuning": _ms([s["tuning"] for s in starts]),
        "balanced": sum(_balanced(s) for s in starts),
        "fluct": _ms([s["w_inh_fluctuation"] for s in starts]),
        "abs_alpha": _ms(np.abs(th[:, 0]) * 1e3),
        "abs_beta": _ms(np.abs(th[:, 1]) * 1e3),
        "tau_pre": _ms(th[:, 4] * 1e3, ".1f"),
        "tau_post": _ms(th[:, 5] * 1e3, ".1f"),
        "wall": _ms([s["wall_s"] / 60 for s in starts], ".1f"),
        "v_rate": _ms([s["vogels"]["rate"] for s in starts]),
        "v_loss": _ms([s["vogels"]["heldout_loss"] for s in starts], ".3f"),
        "v_corr": _ms([s["vogels"]["corr_w"] for s in starts]),
        "v_tuning": _ms([s["vogels"]["tuning"] for s in starts]),
        "v_fluct": _ms([s["vogels"]["w_inh_fluctuation"] for s in starts]),
    }


def markdown(name: str, groups: dict[str, list[dict]], commands: list[str]) -> str:
    lines = [
        f"<!-- written by benchmarks/istdp_manifold.py from {name}.json -->",
        "",
        "| sweep | starts | reach 5 ± 0.5 Hz | held-out rate, Hz (mean over starts) | sd over datasets, Hz "
        "| held-out loss | corr(wE, wI) | corr ≥ 0.8 | tuning depth | balanced | wI fluctuation "
        "| \\|alpha\\| ×1e3 | \\|beta\\| ×1e3 | tau_pre, ms | tau_post, ms | wall per start, min |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = [group_row(label, starts) for label, starts in groups.items()]
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['starts']} | {r['reached']}/{r['starts']} | {r['rate']} | {r['rate_sd']} "
            f"| {r['loss']} | {r['corr']} | {r['co_tuned']}/{r['starts']} | {r['tuning']} "
            f"| {r['balanced']}/{r['starts']} | {r['fluct']} | {r['abs_alpha']} "
            f"| {r['abs_beta']} | {r['tau_pre']} | {r['tau_post']} | {r['wall']} |"
        )
    lines += [
        "",
        "Vogels' rule (eta = 3e-3, tau = 20 ms) on the same held-out datasets as each start:",
        "",
        "| sweep | held-out rate, Hz | held-out loss | corr(wE, wI) | tuning depth | wI fluctuation |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [r["label"], r["v_rate"], r["v_loss"], r["v_corr"], r["v_tuning"], r["v_fluct"]]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Every start (rates: mean ± sd over the held-out datasets; corr, tuning depth and fluctuation: "
        "means over the recorded ones). Tuning depth: the inhibitory weights' coefficient of variation "
        "over the groups divided by the excitatory one's (1: inhibition mirrors excitation in "
        "proportion); balanced: corr ≥ 0.8 and tuning depth ≥ 0.5.",
        "",
        "| sweep | seed | held-out rate, Hz | loss | corr(wE, wI) | tuning | wI fluct. | alpha ×1e3 "
        "| beta ×1e3 | gamma ×1e3 | kappa ×1e3 | tau_pre, ms | tau_post, ms | min |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, starts in groups.items():
        for s in starts:
            t = s["theta"]
            lines.append(
                f"| {label} | {s['seed']} | {s['rate']:.2f} ± {s['rate_sd']:.2f} | {s['heldout_loss']:.3f} "
                f"| {_fmt(s['corr_w'], '+.2f')} | {_fmt(s['tuning'])} | {_fmt(s['w_inh_fluctuation'])} "
                f"| {t['alpha'] * 1e3:+.2f} "
                f"| {t['beta'] * 1e3:+.2f} | {t['gamma'] * 1e3:+.2f} | {t['kappa'] * 1e3:+.2f} "
                f"| {t['tau_pre'] * 1e3:.1f} | {t['tau_post'] * 1e3:.1f} | {s['wall_s'] / 60:.1f} |"
            )
    lines += ["", "Commands:", "", "```", *commands, "```", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", action="append", default=[], help="LABEL=SWEEP_DIR (repeat)")
    ap.add_argument("--out", type=Path, required=True, help="directory for NAME.json, NAME.md, figures/")
    ap.add_argument("--name", default="istdp_manifold", help="file name stem")
    ap.add_argument("--episodes", type=int, default=4, help="held-out datasets recorded per start")
    ap.add_argument("--command", action="append", default=[], help="a command to list in NAME.md")
    ap.add_argument(
        "--keep",
        action="store_true",
        help="keep the sweeps of an existing NAME.json that no --sweep names (analysed before; their "
        "run directories may be gone)",
    )
    args = ap.parse_args(argv)
    if not args.sweep and not args.keep:
        ap.error("give a --sweep, or --keep to redraw the tables and figures of NAME.json")
    protocols: dict = {}
    groups: dict[str, list[dict]] = {}
    previous = args.out / f"{args.name}.json"
    if args.keep and previous.exists():
        groups = json.loads(previous.read_text())
    if args.keep and previous.with_suffix(".md").exists():
        # The commands of the kept sweeps stay listed, in front of the new ones.
        md = previous.with_suffix(".md").read_text().split("```")
        old = md[-2].strip().splitlines() if len(md) >= 3 else []
        args.command = [c for c in old if c not in args.command] + args.command
    for item in args.sweep:
        label, _, path = item.rpartition("=")  # a label may hold "=", a directory rarely
        runs = sorted(Path(path).glob("seed-*"), key=lambda p: int(p.name.split("-")[1]))
        runs = [r for r in runs if (r / "summary.json").exists()]
        if not runs:
            print(f"{path}: no finished runs", file=sys.stderr)
            return 2
        groups.pop(label, None)  # a sweep named again is analysed again, and goes last
        groups[label] = []
        for r in runs:
            groups[label].append(analyse_run(r, protocols, args.episodes))
            s = groups[label][-1]
            print(
                f"{label} seed {s['seed']}: rate {s['rate']:.2f} ± {s['rate_sd']:.2f} Hz, "
                f"corr {_fmt(s['corr_w'], '+.2f')}, fluct {_fmt(s['w_inh_fluctuation'])}; "
                f"Vogels {s['vogels']['rate']:.2f} Hz, corr {_fmt(s['vogels']['corr_w'], '+.2f')}",
                flush=True,
            )
    figs = args.out / "figures"
    figs.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(groups, indent=1))
    (args.out / f"{args.name}.md").write_text(markdown(args.name, groups, args.command))

    from plastix import plotting

    # One figure per protocol (their input rates, and so the steady-state lines, are the same); a
    # kept sweep whose runs are gone is drawn with the protocol of the shipped config it ran.
    by_protocol: dict[str, dict[str, list[dict]]] = {}
    for label, starts in groups.items():
        run = Path(starts[0]["run"])
        if (run / "config.toml").exists():
            cfg = rd.read_config(run)
        else:
            cfg = experiment.load(shipped_config(starts[0]["config"]))
        key = protocol_key(cfg)
        if key not in protocols:
            protocols[key] = Protocol(cfg)
        by_protocol.setdefault(key, {})[label] = starts
    for key, gs in by_protocol.items():
        proto = protocols[key]
        name = proto.cfg.name
        t = proto.cfg.task
        nu_pre = _mean_input_rate(proto)
        curves = {
            label: [{"alpha": s["alpha_path"], "beta": s["beta_path"], **_rate_corr(s)} for s in starts]
            for label, starts in gs.items()
        }
        v = np.asarray(proto.vogels["inh"])
        # Vogels' rule on the datasets of the first sweep's starts.
        name_v, a_v, b_v = "Vogels et al. 2011", float(v[0]), float(v[1])
        first = next(iter(gs.values()))
        refs = [{"name": name_v, "alpha": a_v, "beta": b_v, **_rate_corr(s["vogels"])} for s in first]
        drawn = plotting.rule_manifold(curves, nu_pre, t.target, refs, TOLERANCE)
        plotting.figure_of(drawn).savefig(figs / f"{args.name}_{name}.png", dpi=110)
        # The balance figure of the most co-tuned start of this protocol.
        starts = [s for st in gs.values() for s in st]
        best = max(starts, key=_balance_score)
        if Path(best["balance_png"]).exists():  # else the figure drawn when it was analysed stays
            shutil.copyfile(best["balance_png"], figs / f"{args.name}_{name}_balance.png")
        print(f"{name}: most co-tuned start {best['run']} (corr {_fmt(best['corr_w'], '+.2f')})")
    print(f"wrote {args.out / (args.name + '.md')}")
    return 0


def _balanced(s: dict) -> bool:
    """Detailed balance: co-tuned (corr >= 0.8) and at least half as deeply tuned as excitation."""
    return (s["corr_w"] or -2) >= 0.8 and (s["tuning"] or 0) >= 0.5


def _balance_score(s: dict) -> float:
    """corr x tuning depth (capped at 1): the most co-tuned start is the one that maximises it."""
    return -2.0 if s["corr_w"] is None else s["corr_w"] * min(s["tuning"] or 0.0, 1.0)


def _rate_corr(s: dict) -> dict:
    return {"rate": s["rate"], "rate_sd": s["rate_sd"], "corr": s["corr_w"], "tuning": s["tuning"]}


def _mean_input_rate(proto: Protocol) -> float:
    """nu_pre: the mean input rate (all groups, whole episode) over a few datasets, Hz."""
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    return float(np.mean([np.asarray(proto.sample(k)["rates"]).mean() for k in keys]))


if __name__ == "__main__":
    sys.exit(main())
