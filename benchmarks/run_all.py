"""Run the benchmark suite and rewrite ``benchmarks/README.md`` with the measured tables.

    make bench                                   # = .venv/bin/python benchmarks/run_all.py
    .venv/bin/python benchmarks/run_all.py --quick   # smoke test of every script (minutes)
    .venv/bin/python benchmarks/run_all.py --full    # convergence with large caps (hours)

Everything in the README is measured by this run; nothing is typed in.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_convergence  # noqa: E402
import bench_emnist  # noqa: E402
import bench_feedback  # noqa: E402
import bench_generation  # noqa: E402
import bench_per_synapse  # noqa: E402
import bench_scaling  # noqa: E402
import bench_spiking  # noqa: E402

PY = ".venv/bin/python"


def _version(pkg: str) -> str:
    try:
        return version(pkg)
    except PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, str]:
    """CPU model, cores, memory and library versions of this machine."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or "unknown"
    mem = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    import jax

    return {
        "CPU": cpu,
        "cores (os.cpu_count)": str(os.cpu_count()),
        "memory": mem,
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "jax / jaxlib": f"{jax.__version__} / {_version('jaxlib')} ({jax.devices()[0].platform})",
        "numpy": _version("numpy"),
        "cma (pycma)": _version("cma"),
        "plastix": _version("plastix"),
    }


def _cmd(script: str, argv: list[str]) -> str:
    return " ".join([PY, f"benchmarks/{script}", *argv]).strip()


def readme(
    mach: dict,
    gen: dict | None,
    conv: dict | None,
    argv: list[str],
    started: str,
    elapsed: float,
    quick: bool,
    spiking: dict | None = None,
    feedback: dict | None = None,
    emnist: dict | None = None,
    per_synapse: dict | None = None,
    scaling: dict | None = None,
) -> str:
    out = ["# plastix benchmarks", ""]
    out += [
        f"Written by `{' '.join([PY, 'benchmarks/run_all.py', *argv]).strip()}` on {started} "
        f"(took {elapsed / 60:.1f} min). Every number below was measured by that run; rerun it to "
        "refresh this file (`make bench` runs it with no flags). Timings are medians; no test asserts on "
        "them.",
        "",
    ]
    if quick:
        out += [
            "> **Quick mode**: a smoke test with few repeats and tiny generation caps. These numbers "
            "show that the scripts work, not how fast plastix is.",
            "",
        ]
    out += ["## Machine", "", "| | |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in mach.items()]
    if gen is not None:
        lb, la = gen["load"]
        out += [f"| load average (1 min) before / after the generation benchmark | {lb:.2f} / {la:.2f} |"]
    out += [""]
    if gen is not None and gen["load"][0] > 0.5 * (os.cpu_count() or 1):
        out += [
            "The machine was busy with other work during this run (load average above), so "
            "absolute times are inflated and noisy; ratios measured in the same run are more "
            "trustworthy than absolute times.",
            "",
        ]

    out += ["## 1. One generation: plastix vs a numpy baseline (`bench_generation.py`)", ""]
    if gen is None:
        out += ["Not run in this invocation.", ""]
    else:
        c, mm = gen["check"], gen["matmul"]
        out += [
            "One CMA-ES generation of the Oja task: a population of candidate 27-coefficient polynomial "
            "rules (Oja's rule plus N(0, 0.03²) noise, as mid-run), each trained from scratch on every "
            "dataset (`configs/oja.toml` with `network.n_in = N`). Plastix is built as the runner "
            "builds it (`experiment.load` → `experiment.build` → `meta.prepare_population`) and timed on "
            "`evaluate(thetas[P, 27], key)` with `block_until_ready`, a fresh key each repeat. "
            "*compile* is the ahead-of-time trace + lower + compile, excluded from the generation "
            "time. The baseline (`numpy_baseline.py`) is the same math in plain numpy, batched by hand "
            "over candidates and datasets (matmul/broadcasting; a Python loop over the time steps only), "
            "timed in a child process of the same run.",
            "",
            f"Settings: {gen['settings']}.",
            "",
            gen["table"],
            "",
            "Columns: *JAX normals alone* is the time to draw just the generation's Gaussian inputs "
            "(D·T·B·N numbers, a fresh batch per step) in one jitted scan, a floor for the current "
            "design that FLOP counts do not see. *GFLOP / gen* counts, per dataset, the rotation (8/3 N³) "
            "and each step's data `x = z F^T` (2BN², shared by the population), and per candidate, "
            "dataset and step `y = Wx` (2BN), the moments `[y, y²]^T [x, x²]` (8BN) and the "
            "27-coefficient update (~60N). *% of JAX matmul rate* compares plastix's achieved rate "
            f"with the measured fp32 {mm['size']}×{mm['size']} matmul rate: JAX "
            f"{mm['jax_gflops']:.0f} GFLOP/s, numpy {mm['numpy_gflops']:.0f} GFLOP/s on this machine. "
            "*median task loss* is the median over the population of each candidate's mean loss over "
            "the datasets in that generation (different random data in the two implementations, so "
            "close but not equal).",
            "",
            f"Self-check (N = {c['n']}, {c['datasets']} datasets): the numpy update on identical data "
            f"differs from plastix's `polynomial` rule by at most {c['rule_max_rel_diff']:.1e} "
            f"(relative); plastix's Oja theta equals the baseline's: {c['oja_theta_matches']}; task loss "
            f"of Oja's rule: numpy {c['numpy_oja_loss']:.4f} ± {c['numpy_oja_loss_se']:.4f}, plastix "
            f"{c['plastix_oja_loss']:.4f} ± {c['plastix_oja_loss_se']:.4f} (mean ± s.e.) → "
            f"**{'agree' if c['agree'] else 'DISAGREE'}** (tolerance 0.05).",
            "",
        ]

    out += ["## 2. Rediscovering Oja's rule: generations and time (`bench_convergence.py`)", ""]
    if conv is None:
        out += ["Not run in this invocation.", ""]
    else:
        extra = f" plus `{' '.join(conv['extra'])}`" if conv["extra"] else ""
        out += [
            "Runs the outer loop through the runner, as `plastix run` does (`experiment.load(config, "
            "overrides)` → `experiment.run`), until every reference angle is below the target or a "
            f"generation cap. CMA-ES: `configs/oja.toml` with `network.n_in = N`, "
            f"`meta.target_angle = {conv['target']:g}`, `seed = s`, `meta.generations = cap`{extra}, "
            "and from N = 20 on `task.samples = 2000` (finite datasets, as `configs/oja_n100.toml`); "
            "all other settings from the config. Gradient: the same with `meta.optimizer = gradient`. "
            "PCA: `configs/pca.toml` with its own settings and target, capped. *time to target* is the "
            "runner's wall clock at the generation that reached it (it includes compilation in the first "
            "generation, and the runner's per-generation metrics and checkpoint writing). Where a target "
            "was not reached within the cap, the best and the final angle reached are reported as "
            "they are.",
            "",
            conv["table"],
            "",
            "Per run:",
            "",
            conv["runs_table"],
            "",
        ]
        if conv["pca_note"]:
            out += [conv["pca_note"], ""]

    out += bench_spiking.section(spiking)
    out += bench_feedback.section(feedback)
    out += bench_emnist.section(emnist)
    out += bench_per_synapse.section(per_synapse)
    out += bench_scaling.section(scaling)

    out += [
        "## Reproduce",
        "",
        "```sh",
        "make bench                                        # everything, rewrites this file",
        f"{PY} benchmarks/run_all.py --quick         # smoke test of every script",
        f"{PY} benchmarks/run_all.py --full          # convergence with caps large enough to converge",
        _cmd("bench_generation.py", gen["argv"] if gen else []) + "   # this run's generation table",
        f"{PY} benchmarks/bench_generation.py --ns 100 --repeats 3  # one size",
        _cmd("bench_convergence.py", conv["argv"] if conv else []) + "   # this run's convergence tables",
        f"{PY} benchmarks/bench_convergence.py --ns 20 --seeds 0 1 2 --cap 3000",
        f"{PY} benchmarks/numpy_baseline.py --n 20   # baseline self-check vs plastix + its timing",
        f"{PY} benchmarks/bench_spiking.py           # spiking: 90 s protocol and a generation vs Brian2",
        f"{PY} benchmarks/bench_spiking.py --quick   # the same on 2 s protocols",
        f"{PY} benchmarks/bench_feedback.py          # feedback meta-step vs PyTorch (needs .[bench])",
        f"{PY} benchmarks/bench_emnist.py            # fa_emnist on synthetic EMNIST files",
        f"{PY} benchmarks/bench_per_synapse.py       # per-synapse generation vs numpy, 100-100,000 synapses",
        f"{PY} benchmarks/bench_scaling.py           # a generation on 1 and 2 local devices and Ray workers",
        "```",
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Run all benchmarks and rewrite benchmarks/README.md.")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="smoke test of every script")
    mode.add_argument("--full", action="store_true", help="convergence with large generation caps")
    ap.add_argument(
        "--only",
        choices=["generation", "convergence", "spiking", "feedback", "emnist", "per_synapse", "scaling"],
        help="run one benchmark",
    )
    ap.add_argument("--out", type=Path, default=HERE / "README.md", help="where to write the README")
    args = ap.parse_args(argv)
    argv_used = list(argv) if argv is not None else sys.argv[1:]
    started = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    t0 = time.perf_counter()
    mach = machine()
    print("machine:", "; ".join(f"{k}: {v}" for k, v in mach.items()), flush=True)
    gen = conv = spiking = feedback = emnist = per_synapse = scaling = None
    if args.only in (None, "generation"):
        print("\n=== bench_generation ===", flush=True)
        gen = bench_generation.main(["--quick"] if args.quick else [])
    if args.only in (None, "convergence"):
        print("\n=== bench_convergence ===", flush=True)
        conv = bench_convergence.main(["--quick"] if args.quick else (["--full"] if args.full else []))
    if args.only in (None, "spiking"):
        print("\n=== bench_spiking ===", flush=True)
        spiking = bench_spiking.main(["--quick"] if args.quick else [])
    if args.only in (None, "feedback"):
        print("\n=== bench_feedback ===", flush=True)
        feedback = bench_feedback.main(["--quick"] if args.quick else [])
    if args.only in (None, "emnist"):
        print("\n=== bench_emnist ===", flush=True)
        emnist = bench_emnist.main(["--generations", "5"] if args.quick else [])
    if args.only in (None, "per_synapse"):
        print("\n=== bench_per_synapse ===", flush=True)
        per_synapse = bench_per_synapse.main(["--quick"] if args.quick else [])
    if args.only in (None, "scaling"):
        print("\n=== bench_scaling ===", flush=True)
        scaling = bench_scaling.main(["--quick"] if args.quick else [])
    elapsed = time.perf_counter() - t0
    args.out.write_text(
        readme(
            mach,
            gen,
            conv,
            argv_used,
            started,
            elapsed,
            args.quick,
            spiking,
            feedback,
            emnist,
            per_synapse,
            scaling,
        )
    )
    print(f"\nwrote {args.out} ({elapsed / 60:.1f} min)")


if __name__ == "__main__":
    main()
