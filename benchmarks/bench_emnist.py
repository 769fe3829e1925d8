"""`configs/fa_emnist.toml` end to end on synthetic EMNIST files: what a user with the files can expect.

Writes gzip'd IDX files of EMNIST balanced's training split shape (112,800
images of 28 x 28 in 47 classes of 2,400, random pixels) to a temporary
directory, then runs the shipped config as a user would,

    plastix run fa_emnist --set task.data_dir=DIR --set meta.generations=N

in a child process (all other settings as shipped: the published sizes,
5-way 50-shot episodes, one episode per meta-step, 100 held-out episodes and
the two tuned baselines at the end), and reports the meta-step time (median
of the per-generation wall-clock increments after the first, which includes
compilation), the first generation, the final scoring, the whole run and the
peak resident memory. Random pixels carry no class information, so the
accuracies are chance: only the times and memory mean anything.

    python benchmarks/bench_emnist.py                   # 30 meta-steps (~3 min on 2 cores)
    python benchmarks/bench_emnist.py --generations 10
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
CLASSES, PER_CLASS = 47, 2400


def write_idx(path: Path, array: np.ndarray) -> None:
    """``array`` (uint8) as a gzip'd IDX file (type code 0x08)."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(header + np.ascontiguousarray(array, np.uint8).tobytes())


def synthetic(directory: Path, seed: int = 0) -> None:
    from plastix.experiment._datasets import emnist_files

    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.repeat(np.arange(CLASSES, dtype=np.uint8), PER_CLASS))
    images = rng.integers(0, 256, (labels.size, 28, 28), dtype=np.uint8)
    img, lab = emnist_files()
    write_idx(directory / img, images)
    write_idx(directory / lab, labels)


def main(argv: list[str] | None = None) -> dict:
    from bench_spiking import _child, _load

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generations", type=int, default=30)
    args = ap.parse_args(argv)
    load_before = _load()
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "emnist", Path(tmp) / "run"
        data.mkdir()
        synthetic(data)
        cmd = [sys.executable, "-m", "plastix.cli", "run", "fa_emnist", "--out", str(out), "--quiet"]
        cmd += ["--set", f'task.data_dir="{data}"', "--set", f"meta.generations={args.generations}"]
        print(" ".join(cmd[2:]), flush=True)
        t0 = time.perf_counter()
        _, rss = _child(cmd, env={**os.environ, "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu")})
        process_s = time.perf_counter() - t0
        from plastix.experiment import _rundir

        rows = _rundir.read_metrics(out)
        summary = json.loads((out / "summary.json").read_text())
    wall = np.array([r["wall_s"] for r in rows])
    res = {
        "generations": args.generations,
        "first_s": float(wall[0]),
        "meta_step_s": float(np.median(np.diff(wall))),
        "loop_s": float(summary["wall_s"]),
        "process_s": process_s,
        "maxrss_mib": rss,
        "accuracy": summary["heldout_accuracy"],
        "load": (load_before, _load()),
        "argv": list(argv) if argv is not None else sys.argv[1:],
    }
    print("\n".join(section(res)))
    return res


def section(r: dict | None) -> list[str]:
    out = ["## 5. `configs/fa_emnist.toml` on synthetic EMNIST files (`bench_emnist.py`)", ""]
    if r is None:
        return out + ["Not run yet.", ""]
    cmd = " ".join([".venv/bin/python benchmarks/bench_emnist.py", *r["argv"]]).strip()
    a = r["accuracy"]
    out += [
        f"Measured by `{cmd}` (load average {r['load'][0]:.2f} before, {r['load'][1]:.2f} after): the "
        f"shipped config as shipped but for `meta.generations = {r['generations']}` (600 as published), on "
        "random IDX files of EMNIST balanced's shape (112,800 images, 47 classes of 2,400; chance accuracy, "
        "so only times and memory mean anything).",
        "",
        "| | |",
        "|---|---:|",
        f"| meta-step (one episode, 250 inner steps; median) | {r['meta_step_s'] * 1e3:.0f} ms |",
        f"| first meta-step (compilation included) | {r['first_s']:.1f} s |",
        f"| {r['generations']} meta-steps | {r['loop_s']:.0f} s |",
        f"| start-up, data reading and final scoring (100 held-out episodes, two tuned baselines) | "
        f"{r['process_s'] - r['loop_s']:.0f} s |",
        f"| peak resident memory | {r['maxrss_mib']:.0f} MiB |",
        f"| 600 meta-steps (published), estimated | {600 * r['meta_step_s'] / 60:.1f} min + scoring |",
        "",
        f"(Query accuracies on random pixels: learned {a['learned']:.3f}, feedback alignment "
        f"{a['feedback_alignment']:.3f}, backprop {a['backprop']:.3f}; chance 0.2.)",
        "",
    ]
    return out


if __name__ == "__main__":
    main()
