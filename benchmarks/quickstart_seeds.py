"""How often the README quickstart lands near Oja's rule: its angle for many seeds, each in its own process.

    .venv/bin/python benchmarks/quickstart_seeds.py --seeds 0-19
    .venv/bin/python benchmarks/quickstart_seeds.py --seeds 0-19 --label gradient-fast-math \\
        --env XLA_FLAGS=--xla_cpu_enable_fast_math=true   # other rounding, on this machine
    .venv/bin/python benchmarks/quickstart_seeds.py --render   # only the Markdown table

The quickstart is the first ``python`` block of ``README.md`` (``--readme`` reads another
file); its line ``seed = 0`` is replaced by each seed in turn, so every random choice of
the run (initial rule, optimiser, datasets) follows that seed. A seed succeeds when the
learned rule ends within ``--threshold`` degrees of Oja's rule. Results are kept in
``benchmarks/results/quickstart_seeds.json`` under ``--label``, one entry per seed as it
finishes, so an interrupted sweep continues where it stopped.

The summary gives the success fraction ``k/n``, its one-sided 95 % Clopper-Pearson lower
bound, and, for a test that asks for at least 4 of 5 seeds (:func:`chance_of_failure`), the
chance that it fails on a machine where each seed succeeds with either probability; every
label's summary is also written as a table to ``results/quickstart_seeds.md`` (``--render``
rewrites it alone).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from plastix.experiment import UserError, parse_seeds

HERE = Path(__file__).resolve().parent
README = HERE.parent / "README.md"
RESULTS = HERE / "results" / "quickstart_seeds.json"
SEED_LINE = re.compile(r"^seed = \d+$", re.M)


def code_block(readme: Path = README) -> str:
    """The first ``python`` block of ``readme``: the quickstart as written."""
    m = re.search(r"```python\n(.*?)```", readme.read_text(), re.S)
    if m is None:
        raise ValueError(f"{readme}: no ```python block")
    return m.group(1)


def quickstart(readme: Path = README, seed: int = 0) -> str:
    """The README's quickstart with ``seed`` for its ``seed = 0``, printing ``angle <degrees>`` last."""
    code = code_block(readme)
    if len(SEED_LINE.findall(code)) != 1:
        raise ValueError(f"{readme}: the quickstart must have exactly one line 'seed = <int>'")
    code = SEED_LINE.sub(f"seed = {seed}", code)
    return code + "\nprint('angle', float(analysis.angle(theta, rules.oja(rule))))\n"


def run_seed(seed: int, readme: Path = README, env: dict[str, str] | None = None) -> dict:
    """Run the quickstart for one seed in a fresh interpreter: its angle to Oja (degrees) and wall time.

    The interpreter has this process's environment and ``env``: ``XLA_FLAGS`` or
    ``JAX_ENABLE_X64`` set here change its rounding as they change this one's.
    """
    environ = {**os.environ, "JAX_PLATFORMS": "cpu", **(env or {})}
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", quickstart(readme, seed)], capture_output=True, text=True, env=environ
    )
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"seed {seed}: the quickstart failed:\n{out.stderr[-3000:]}")
    lines = out.stdout.strip().splitlines()
    return {"seed": seed, "angle": float(lines[-1].split()[-1]), "rule": lines[-2], "wall_s": wall}


def chance_of_failure(p: float, draw: int = 5, need: int = 4) -> float:
    """P(fewer than ``need`` of ``draw`` independent seeds succeed), each with probability ``p``."""
    return sum(math.comb(draw, k) * p**k * (1 - p) ** (draw - k) for k in range(need))


def success_lower_bound(within: int, seeds: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson lower bound on the per-seed success rate (Clopper & Pearson 1934)."""
    from scipy.stats import beta

    return 0.0 if within == 0 else float(beta.ppf(1 - confidence, within, seeds - within + 1))


def summary(entries: list[dict], threshold: float) -> dict:
    angles = sorted(e["angle"] for e in entries)
    ok = sum(a < threshold for a in angles)
    p = ok / len(angles)
    p_low = success_lower_bound(ok, len(angles))
    return {
        "seeds": len(angles),
        "within": ok,
        "threshold_deg": threshold,
        "median_angle": angles[len(angles) // 2],
        "worst_angle": angles[-1],
        "median_wall_s": sorted(e["wall_s"] for e in entries)[len(entries) // 2],
        "p_fail_4_of_5": chance_of_failure(p),
        "success_rate_95_lower": p_low,
        "p_fail_4_of_5_at_lower": chance_of_failure(p_low),
    }


def markdown(results: dict) -> str:
    """The table of every label's summary (``results/quickstart_seeds.md``)."""
    head = "| label | environment | within | median | worst | median time |"
    head += " P(4-of-5 fails) at k/n, at bound |"
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for label, r in results.items():
        s = r["summary"]
        env = " ".join(f"`{k}={v}`" for k, v in r["env"].items()) or "default"
        rows.append(
            f"| {label} | {env} | {s['within']}/{s['seeds']} < {s['threshold_deg']:g}° | "
            f"{s['median_angle']:.2f}° | {s['worst_angle']:.2f}° | {s['median_wall_s']:.0f} s | "
            f"{s['p_fail_4_of_5']:.3g}, {s['p_fail_4_of_5_at_lower']:.3g} |"
        )
    notes = [f"- {label}: {r['note']}" for label, r in results.items() if r.get("note")]
    return "\n".join(
        [
            "# The README quickstart over seeds",
            "",
            f"Written by `benchmarks/quickstart_seeds.py` from `{RESULTS.name}`; each label's quickstart is "
            f"kept there as `code`. Within: seeds ending below the threshold from Oja's rule; times "
            f"include start-up and compilation and were taken beside other work (each seed's load "
            f"average is in the JSON).",
            "",
            *rows,
            "",
            *notes,
        ]
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0-19")
    ap.add_argument("--label", default="readme")
    ap.add_argument("--readme", type=Path, default=README)
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--threshold", type=float, default=10.0)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--render", action="store_true", help="only rewrite the Markdown table from --out")
    args = ap.parse_args(argv)
    if args.render:
        if not args.out.is_file():
            ap.error(f"--render: no results in {args.out}")
        args.out.with_suffix(".md").write_text(markdown(json.loads(args.out.read_text())) + "\n")
        return
    if any("=" not in kv for kv in args.env):
        ap.error(f"--env takes KEY=VALUE, got {[kv for kv in args.env if '=' not in kv]}")
    env = dict(kv.split("=", 1) for kv in args.env)
    try:
        seeds = parse_seeds(args.seeds)  # the same seed syntax as plastix sweep --seeds
        code = quickstart(args.readme, 0)
    except (UserError, ValueError, OSError) as err:
        ap.error(str(err))
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    mine = results.setdefault(args.label, {"env": env, "code": code, "runs": {}})
    if mine["env"] != env or mine["code"] != code:
        sys.exit(f"label {args.label!r} was measured with another quickstart or env; use another --label")
    for seed in seeds:
        if str(seed) in mine["runs"]:
            continue
        load = os.getloadavg()[0]
        entry = {**run_seed(seed, args.readme, env), "load": load}
        mine["runs"][str(seed)] = entry
        angle, wall = entry["angle"], entry["wall_s"]
        print(f"seed {seed:3d}  {angle:6.2f} deg  {wall:5.1f} s  load {load:.2f}  {entry['rule']}")
        mine["summary"] = summary(list(mine["runs"].values()), args.threshold)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(results, indent=1) + "\n")
        tmp.replace(args.out)
        args.out.with_suffix(".md").write_text(markdown(results) + "\n")
    s = summary(list(mine["runs"].values()), args.threshold)
    print(
        f"{args.label}: {s['within']}/{s['seeds']} seeds within {args.threshold:g} deg of Oja; "
        f"median {s['median_angle']:.2f} deg, worst {s['worst_angle']:.2f} deg, "
        f"median {s['median_wall_s']:.0f} s per seed; "
        f"a 4-of-5 test fails with probability {s['p_fail_4_of_5']:.2g} at that rate, "
        f"{s['p_fail_4_of_5_at_lower']:.2g} at its 95 % lower bound {s['success_rate_95_lower']:.3f}"
    )


if __name__ == "__main__":
    main()
