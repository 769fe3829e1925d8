"""The starts of a ``recurrent`` sweep: which reach a plausible network, which pathways they use.

For every finished seed of a ``plastix sweep`` of a ``recurrent`` config it scores, on that
seed's held-out episodes (new networks and input rates; the same the run scored):

* the learned rule set: held-out loss, the fraction of plausible networks (every statistic in
  fSBI's range, not stopped by the guard), the statistics;
* the baseline: Vogels' rule on I -> E alone, every other pathway fixed;
* each pathway's use: the held-out loss with that pathway's four increments set to 0 (its
  weights fixed), against the full rule set's. A pathway is *needed* when its ablation raises
  the loss by more than 10 %, *harmful* when it lowers it by more than 10 %, else unused.

It writes ``OUT.json`` and ``OUT.md`` (a table per seed, the best rule set per pathway).

    .venv/bin/python benchmarks/recurrent_sweep.py runs/recurrent_quick --out docs/recurrent/sweep
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from plastix import analysis
from plastix.experiment import _rundir, _seeds
from plastix.experiment._build import build
from plastix.experiment.families.recurrent import STATISTICS, plausible_fraction, vogels_baseline


def score(exp, theta):
    loss, m = jax.jit(exp.heldout_loss)(theta, _seeds.stream(exp.config.seed, _seeds.HELDOUT))
    out = {"loss": float(m["task_loss"]), "plausible": plausible_fraction(m)}
    out.update({k: float(m[k]) for k in (*STATISTICS, "stopped")})
    return out


def seed_row(run: Path) -> dict:
    cfg = _rundir.read_config(run)
    summary = _rundir.read_summary(run)
    exp = build(cfg)
    theta = {p: jnp.asarray(v, jnp.float32) for p, v in summary["theta"].items()}
    full = score(exp, theta)
    ablate = {}
    for p in sorted(theta):
        cut = {**theta, p: theta[p].at[:4].set(0.0)}
        ablate[p] = score(exp, cut)["loss"]
    used = [p for p in sorted(theta) if ablate[p] > 1.1 * full["loss"]]
    harmful = [p for p in sorted(theta) if ablate[p] < 0.9 * full["loss"]]
    rc = cfg.rules[next(iter(cfg.rules))]
    return {
        "seed": cfg.seed,
        "learned": full,
        "baseline": vogels_baseline(exp, theta),
        "ablated_loss": ablate,
        "used": used,
        "harmful": harmful,
        "theta": {p: [float(x) for x in np.asarray(v)] for p, v in theta.items()},
        "rules": {
            p: analysis.pretty_spike_trace(np.asarray(v), rc.tau_min, rc.tau_max) for p, v in theta.items()
        },
        "optimizer": cfg.meta.optimizer,
    }


def markdown(rows: list[dict], title: str) -> str:
    n = len(rows)
    ok = [r for r in rows if r["learned"]["plausible"] >= 0.5]
    lines = [
        f"# {title}",
        "",
        f"{n} starts; a start *reaches* a stable asynchronous irregular state when at least half of its "
        f"held-out networks are plausible: **{len(ok)} of {n}**.",
        "",
        "| seed | held-out loss | plausible | E rate (Hz) | CV | Fano sp. / temp. | stopped | "
        "Vogels on ie: loss, plausible | pathways needed; harmful (loss without each: ee, ei, ie, ii) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        L, b = r["learned"], r["baseline"]
        abl = ", ".join(f"{r['ablated_loss'][p]:.3g}" for p in sorted(r["ablated_loss"]))
        lines.append(
            f"| {r['seed']} | {L['loss']:.3g} | {L['plausible']:.0%} | {L['rate_e']:.2f} | "
            f"{L['cv_isi']:.2f} | "
            f"{L['fano_spatial']:.2f} / {L['fano_temporal']:.2f} | {L['stopped']:.0%} | "
            f"{b.get('baseline_heldout_loss', float('nan')):.3g}, {b.get('baseline_plausible', 0):.0%} | "
            f"{', '.join(r['used']) or 'none'}; {', '.join(r['harmful']) or 'none'} ({abl}) |"
        )
    best = min(rows, key=lambda r: r["learned"]["loss"])
    lines += ["", f"Best rule set (seed {best['seed']}, held-out loss {best['learned']['loss']:.3g}):", ""]
    lines += [f"- `{p}`: {best['rules'][p]}" for p in sorted(best["rules"])]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweep", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--title", default="Sweep of configs/recurrent_quick.toml")
    args = ap.parse_args(argv)
    # Seeds scored before (OUT.json) are kept: a sweep still running is scored piece by piece.
    done = {}
    if args.out.with_suffix(".json").is_file():
        done = {r["seed"]: r for r in json.loads(args.out.with_suffix(".json").read_text())}
    rows = []
    t0 = time.perf_counter()
    for run in sorted(args.sweep.glob("seed-*"), key=lambda p: int(p.name.split("-")[1])):
        seed = int(run.name.split("-")[1])
        if seed in done:
            rows.append(done[seed])
            continue
        if _rundir.read_summary(run) is None:
            print(f"{run}: not finished, left out", flush=True)
            continue
        rows.append(seed_row(run))
        print(
            json.dumps({k: rows[-1][k] for k in ("seed", "learned", "baseline", "used", "harmful")}),
            flush=True,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(rows, args.title))
    print(f"{len(rows)} seeds in {time.perf_counter() - t0:.0f} s -> {args.out}.md")


if __name__ == "__main__":
    main()
