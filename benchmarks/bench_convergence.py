"""Time and generations for the outer loop to rediscover Oja's rule (angle < target).

Every run goes through the runner exactly as ``plastix run`` does
(``experiment.load(config, overrides)`` -> ``experiment.run(cfg, dir)``), so
times include the runner's own work per generation (CMA-ES ask/tell, metrics
row, checkpoint); the first generation includes compilation. Runs stop at
``meta.target_angle`` or at the generation cap; an unreached target is reported
with the best and final angle actually reached, never extrapolated.

Measured:

* CMA-ES on ``configs/oja.toml`` with ``network.n_in = N`` for several N and seeds;
* the gradient outer loop (``meta.optimizer = "gradient"``) on N = 20;
* ``configs/pca.toml`` (Oja + anti-Hebbian), final angle of both rules, if present.

    python benchmarks/bench_convergence.py           # default caps (fits `make bench`)
    python benchmarks/bench_convergence.py --quick   # smoke test: one seed, tiny caps
    python benchmarks/bench_convergence.py --full    # caps large enough to converge (long)
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OJA = ROOT / "configs" / "oja.toml"
PCA = ROOT / "configs" / "pca.toml"

# Generation caps per N: (default, --full). The default keeps the Oja runs of
# `make bench` near 15 minutes on 2 cores; --full gives every size time to converge.
CAPS = {3: (1200, 3000), 20: (1000, 3000), 100: (600, 1500)}
GRADIENT_CAP = (200, 1000)
PCA_CAP = (None, None)  # None: the config's own meta.generations (301: ~22 min on 2 cores)
# The gradient and PCA runs use the first seed only, unless --full.


def _angles(row: dict) -> dict[str, float]:
    return {k.removeprefix("angle_"): float(v) for k, v in row.items() if k.startswith("angle_") and v != ""}


def run_one(config: Path, overrides: list[str], target: float | None) -> dict:
    """One run in a temporary directory; what it reached, read from its summary and metrics."""
    import plastix.experiment

    cfg = plastix.experiment.load(config, overrides)
    with tempfile.TemporaryDirectory(prefix="plastix-bench-") as tmp:
        path = Path(tmp) / "run"
        t0 = time.perf_counter()
        summary = plastix.experiment.run(cfg, path, force=True)
        total = time.perf_counter() - t0
        with open(path / "metrics.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
    # Worst reference angle per generation (a run with two rules needs both below target).
    worst = [max(_angles(r).values()) for r in rows]
    best_i = min(range(len(worst)), key=worst.__getitem__)
    hit = next((i for i, a in enumerate(worst) if target is not None and a <= target), None)
    return {
        "config": config.name,
        "overrides": overrides,
        "reached": hit is not None,
        "generations": (hit + 1) if hit is not None else len(rows),
        "wall_s": float(rows[hit]["wall_s"]) if hit is not None else float(summary["wall_s"]),
        # Steady cost of a generation: the first one also compiles.
        "first_gen_s": float(rows[0]["wall_s"]),
        "s_per_gen": (
            (float(rows[-1]["wall_s"]) - float(rows[0]["wall_s"])) / (len(rows) - 1)
            if len(rows) > 1
            else float(rows[0]["wall_s"])
        ),
        "final_angles": summary["angles"],
        # With meta.prune the final rule is the pruned one; the CMA-ES mean's angles, before it:
        "learned_angles": summary.get("learned", {}).get("angles"),
        "best_angle": worst[best_i],
        "best_angle_gen": best_i + 1,
        "loss": summary["loss"],
        "heldout_loss": summary["heldout_loss"],
        "rule": summary["rule"],
        "stopped": summary["stopped"],
        "total_s": total,  # incl. building, held-out scoring and figures after the loop
    }


def _fmt_angles(a: dict[str, float], learned: dict[str, float] | None = None) -> str:
    out = ", ".join(f"{k} {v:.1f}°" for k, v in a.items())
    return out if learned is None else f"{out} (pruned; as learned: {_fmt_angles(learned)})"


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def summarise(label: str, runs: list[dict], cap: int) -> dict:
    """Median over seeds; an unreached seed counts as 'more than the cap'."""
    gens = [r["generations"] if r["reached"] else math.inf for r in runs]
    walls = [r["wall_s"] if r["reached"] else math.inf for r in runs]
    return {
        "label": label,
        "reached": sum(r["reached"] for r in runs),
        "seeds": len(runs),
        "cap": cap,
        "median_gens": _median(gens),
        "median_wall": _median(walls),
        "median_s_per_gen": _median([r["s_per_gen"] for r in runs]),
        "median_first_gen": _median([r["first_gen_s"] for r in runs]),
        "median_best": _median([r["best_angle"] for r in runs]),
        "median_final": _median([max(r["final_angles"].values()) for r in runs]),
        "median_heldout": _median([r["heldout_loss"] for r in runs]),
    }


def summary_table(rows: list[dict], target: float) -> str:
    head = (
        f"| run | reached < {target:g}° | median generations | median time to target "
        "| s / generation (first, incl. compile) | median best angle | median final angle "
        "| median held-out loss |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        gens = f"> {r['cap']}" if math.isinf(r["median_gens"]) else f"{r['median_gens']:.0f}"
        wall = "not reached" if math.isinf(r["median_wall"]) else f"{r['median_wall']:.1f} s"
        lines.append(
            f"| {r['label']} | {r['reached']}/{r['seeds']} | {gens} | {wall} "
            f"| {r['median_s_per_gen']:.3f} ({r['median_first_gen']:.1f}) "
            f"| {r['median_best']:.1f}° | {r['median_final']:.1f}° | {r['median_heldout']:.3f} |"
        )
    return "\n".join(lines)


def runs_table(runs: list[tuple[str, dict]]) -> str:
    head = (
        "| run | seed | reached | generations | time | best angle (gen) | final angles | loss "
        "| held-out loss | stopped |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for label, r in runs:
        seed = next((o.split("=", 1)[1] for o in r["overrides"] if o.startswith("seed=")), "?")
        lines.append(
            f"| {label} | {seed} | {'yes' if r['reached'] else 'no'} | {r['generations']} "
            f"| {r['wall_s']:.1f} s "
            f"| {r['best_angle']:.1f}° ({r['best_angle_gen']}) "
            f"| {_fmt_angles(r['final_angles'], r['learned_angles'])} "
            f"| {r['loss']:.3f} | {r['heldout_loss']:.3f} | {r['stopped']} |"
        )
    return "\n".join(lines)


def _report(label: str, r: dict) -> None:
    status = (
        f"reached in {r['generations']} gens, {r['wall_s']:.1f} s"
        if r["reached"]
        else f"not reached in {r['generations']} gens ({r['wall_s']:.1f} s)"
    )
    print(
        f"  {label} {' '.join(r['overrides'])}: {status}; best {r['best_angle']:.1f}°, "
        f"final {_fmt_angles(r['final_angles'], r['learned_angles'])}; total {r['total_s']:.1f} s",
        flush=True,
    )


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description="Generations and time to rediscover Oja's rule.")
    ap.add_argument("--ns", type=int, nargs="+", default=[3, 20, 100], help="CMA-ES input sizes N")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--target", type=float, default=5.0, help="target angle to Oja, degrees")
    ap.add_argument("--cap", type=int, default=None, help="generation cap for every CMA-ES run")
    ap.add_argument("--gradient-lr", type=float, default=0.03, help="meta.learning_rate of the gradient run")
    ap.add_argument("--gradient-n", type=int, default=20)
    ap.add_argument("--no-gradient", action="store_true")
    ap.add_argument("--no-pca", action="store_true")
    ap.add_argument(
        "--set",
        dest="extra",
        action="append",
        default=[],
        help="extra config override for every Oja run (repeatable), e.g. --set task.resample=true",
    )
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="smoke test: one seed, N = 3, 20, caps of 15")
    mode.add_argument("--full", action="store_true", help="caps large enough to converge (takes hours)")
    args = ap.parse_args(argv)
    full = int(args.full)
    if args.quick:
        args.seeds = args.seeds[:1]
        args.ns = [n for n in args.ns if n <= 20] or [3]
    quick_cap = 15

    def cap_for(n: int) -> int:
        if args.cap is not None:
            return args.cap
        if args.quick:
            return quick_cap
        return CAPS.get(n, CAPS[100])[full]

    t_start = time.perf_counter()
    summaries, runs = [], []
    print(f"CMA-ES on {OJA.relative_to(ROOT)}, target {args.target:g} degrees, seeds {args.seeds}")
    for n in args.ns:
        cap = cap_for(n)
        these = []
        for seed in args.seeds:
            ov = [
                f"network.n_in={n}",
                f"meta.target_angle={args.target}",
                f"seed={seed}",
                f"meta.generations={cap}",
                # From N = 20 on, finite datasets of 2000 points, as configs/oja_n100.toml.
                *(["task.samples=2000"] if n >= 20 else []),
                *args.extra,
            ]
            r = run_one(OJA, ov, args.target)
            _report(f"N={n}", r)
            these.append(r)
            runs.append((f"CMA-ES N={n}", r))
        summaries.append(summarise(f"CMA-ES N={n}", these, cap))

    if not args.no_gradient:
        n = args.gradient_n
        cap = args.cap or (quick_cap if args.quick else GRADIENT_CAP[full])
        print(f"gradient outer loop on N={n}, learning rate {args.gradient_lr:g}")
        these = []
        for seed in args.seeds if args.full else args.seeds[:1]:
            ov = [
                f"network.n_in={n}",
                "meta.optimizer=gradient",
                f"meta.learning_rate={args.gradient_lr}",
                f"meta.target_angle={args.target}",
                f"seed={seed}",
                f"meta.generations={cap}",
                # From N = 20 on, finite datasets of 2000 points, as configs/oja_n100.toml.
                *(["task.samples=2000"] if n >= 20 else []),
                *args.extra,
            ]
            r = run_one(OJA, ov, args.target)
            _report(f"gradient N={n}", r)
            these.append(r)
            runs.append((f"gradient N={n}", r))
        summaries.append(summarise(f"gradient N={n} (lr {args.gradient_lr:g})", these, cap))

    pca_note = None
    if not args.no_pca:
        if not PCA.is_file():
            pca_note = f"{PCA.relative_to(ROOT)} not found: PCA benchmark skipped."
            print(pca_note)
        else:
            import plastix.experiment

            own = plastix.experiment.load(PCA).meta
            cap = args.cap or (quick_cap if args.quick else (PCA_CAP[full] or own.generations))
            cap = min(cap, own.generations)
            target = own.target_angle
            print(f"{PCA.relative_to(ROOT)} (its own settings, cap {cap} generations, target {target})")
            these = []
            for seed in args.seeds if args.full else args.seeds[:1]:
                r = run_one(PCA, [f"seed={seed}", f"meta.generations={cap}"], target)
                _report("pca", r)
                these.append(r)
                runs.append(("pca.toml", r))
            summaries.append(summarise(f"pca.toml (target {target}°, both rules)", these, cap))

    elapsed = time.perf_counter() - t_start
    md_summary = summary_table(summaries, args.target)
    md_runs = runs_table(runs)
    print("\nConvergence (medians over seeds; an unreached target counts as more than the cap):\n")
    print(md_summary)
    print("\nPer run:\n")
    print(md_runs)
    if pca_note:
        print(f"\n{pca_note}")
    print(f"\nbench_convergence took {elapsed:.0f} s")
    return {
        "summaries": summaries,
        "runs": runs,
        "table": md_summary,
        "runs_table": md_runs,
        "pca_note": pca_note,
        "elapsed_s": elapsed,
        "seeds": args.seeds,
        "target": args.target,
        "extra": args.extra,
        "argv": list(argv) if argv is not None else sys.argv[1:],
    }


if __name__ == "__main__":
    main()
