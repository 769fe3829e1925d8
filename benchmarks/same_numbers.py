"""Run every shipped config for a few generations and compare with stored metrics.

A refactor of the experiment layer must not change what a config computes.
``record`` runs each shipped config (every one must have its overrides below)
with the small overrides below
(fewer generations, shorter protocols, fewer held-out episodes) and keeps its
``metrics.csv`` (``wall_s`` dropped) and ``summary.json``; ``check`` runs them
again and compares, column by column. Same code on the same machine gives
identical rows; the tolerance (``--rtol``) is for changes that reorder float
operations.

    python benchmarks/same_numbers.py record benchmarks/results/same_numbers
    python benchmarks/same_numbers.py check benchmarks/results/same_numbers

``benchmarks/results/same_numbers/`` holds the rows plastix 0.1 gave (the
experiment layer before components), recorded on a 2-core AMD EPYC (AVX-512)
with jax 0.10.2: another processor rounds differently in the last bit, so
there record the rows of a known-good checkout first and check against those.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

from plastix.experiment import shipped_configs

ROOT = Path(__file__).resolve().parents[1]

# Small enough that every config runs in under a minute on 2 cores.
SPIKING = [
    "meta.generations=2", "meta.popsize=4", "task.episodes=2", "task.heldout_episodes=2",
    "task.train_time=1.0", "task.score_time=1.0", "task.window=1.0",
]  # fmt: skip
SHORT = ["meta.generations=3", "task.heldout_episodes=4", "meta.validate_every=2"]
OVERRIDES: dict[str, list[str]] = {
    "oja": ["meta.generations=3", "task.heldout_episodes=10"],
    "oja_n100": ["meta.generations=3", "task.heldout_episodes=10"],
    "oja_mlp": ["meta.generations=3", "task.heldout_episodes=10"],
    "pca": ["meta.generations=3", "task.heldout_episodes=4", "task.steps=100"],
    "pca_small": ["meta.generations=3", "task.heldout_episodes=4"],
    "istdp": SPIKING,
    "istdp_quick": SPIKING,
    "istdp_mlp": SPIKING,
    "fa_digits": SHORT,
    "fa_emnist": ["meta.generations=3", "task.heldout_episodes=4"],
    "gd_approx_digits": SHORT,
    "gd_approx_nonlinear": SHORT,
    "gd_approx_teacher": SHORT,
}


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path) as fh:
        return [{k: v for k, v in row.items() if k != "wall_s"} for row in csv.DictReader(fh)]


def _numbers(obj, prefix=""):
    """Flatten summary.json into {path: float} (timings and paths dropped)."""
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("wall_s", "seconds", "run_dir", "started", "finished", "versions", "timing"):
                continue
            out.update(_numbers(v, f"{prefix}{k}."))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.update(_numbers(v, f"{prefix}{i}."))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        out[prefix[:-1]] = float(obj)
    return out


def run_config(name: str, out: Path) -> Path | None:
    cmd = [
        sys.executable,
        "-m",
        "plastix.cli",
        "run",
        str(ROOT / "configs" / f"{name}.toml"),
        "--out",
        str(out),
        "--quiet",
        "--force",
    ]
    for o in OVERRIDES[name]:
        cmd += ["--set", o]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"{name}: exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}")
        return None
    return out


def record(dest: Path, names: list[str]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            run = run_config(name, Path(tmp) / name)
            if run is None:
                continue
            (dest / f"{name}.csv").write_text((run / "metrics.csv").read_text())
            (dest / f"{name}.summary.json").write_text((run / "summary.json").read_text())
            print(f"{name}: recorded {len(_rows(run / 'metrics.csv'))} generations")


def _close(a: float, b: float, rtol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= rtol * max(abs(a), abs(b)) + 1e-12


def check(stored: Path, names: list[str], rtol: float) -> int:
    failed = 0
    for name in names:
        if not (stored / f"{name}.csv").exists():
            print(f"{name}: nothing stored")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            run = run_config(name, Path(tmp) / name)
            if run is None:
                failed += 1
                continue
            want, got = _rows(stored / f"{name}.csv"), _rows(run / "metrics.csv")
            bad = []
            if len(want) != len(got) or (want and list(want[0]) != list(got[0])):
                bad.append(
                    f"columns/rows differ: {list(want[0]) if want else []} vs {list(got[0]) if got else []}"
                )
            else:
                for i, (w, g) in enumerate(zip(want, got, strict=True)):
                    for col in w:
                        if not _close(float(w[col] or "nan"), float(g[col] or "nan"), rtol):
                            bad.append(f"gen {i} {col}: {w[col]} -> {g[col]}")
            ws = _numbers(json.loads((stored / f"{name}.summary.json").read_text()))
            gs = _numbers(json.loads((run / "summary.json").read_text()))
            for k in sorted(set(ws) & set(gs)):
                if not _close(ws[k], gs[k], rtol):
                    bad.append(f"summary {k}: {ws[k]} -> {gs[k]}")
            lost = sorted(set(ws) - set(gs))
            if lost:
                bad.append(f"summary lost: {lost[:8]}")
            if not bad:
                print(
                    f"{name}: same ({len(got)} generations x {len(got[0])} columns, "
                    f"{len(set(ws) & set(gs))} summary numbers)"
                )
            else:
                failed += 1
                print(f"{name}: DIFFERENT")
                for line in bad[:12]:
                    print(f"  {line}")
    return failed


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["record", "check"])
    p.add_argument("dir", type=Path)
    p.add_argument("--configs", nargs="*", default=sorted(OVERRIDES))
    p.add_argument("--rtol", type=float, default=0.0)
    a = p.parse_args(argv)
    missing = sorted(set(shipped_configs()) - set(OVERRIDES))
    if missing:
        print(f"error: shipped config(s) without overrides here: {missing}", file=sys.stderr)
        return 2
    unknown = sorted(set(a.configs) - set(OVERRIDES))
    if unknown:
        print(f"error: unknown config(s) {unknown}; known: {sorted(OVERRIDES)}", file=sys.stderr)
        return 2
    if a.mode == "record":
        record(a.dir, a.configs)
        return 0
    return 1 if check(a.dir, a.configs, a.rtol) else 0


if __name__ == "__main__":
    sys.exit(main())
