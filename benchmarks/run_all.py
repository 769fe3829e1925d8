"""Run the benchmark suite and rewrite ``benchmarks/README.md`` with the measured tables.

    make bench                                   # = .venv/bin/python benchmarks/run_all.py
    .venv/bin/python benchmarks/run_all.py --quick   # smoke test of every script (minutes)
    .venv/bin/python benchmarks/run_all.py --full    # convergence with large caps (hours)

Everything in the README is measured; nothing is typed in. Each benchmark's result
is kept in ``benchmarks/results/NAME.json`` (with when it was measured), and the
README is written from those files: ``--only NAME`` reruns one benchmark and
rewrites its section and its rows of the summary table, keeping the others as
they were measured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_cli  # noqa: E402
import bench_convergence  # noqa: E402
import bench_emnist  # noqa: E402
import bench_feedback  # noqa: E402
import bench_generation  # noqa: E402
import bench_per_synapse  # noqa: E402
import bench_scaling  # noqa: E402
import bench_spiking  # noqa: E402

PY = ".venv/bin/python"
RESULTS = HERE / "results"
#: The benchmarks, in README order; ``results/NAME.json`` keeps each one's last result.
NAMES = ("generation", "convergence", "spiking", "feedback", "emnist", "per_synapse", "scaling", "cli")


def save(name: str, result: dict, directory: Path = RESULTS) -> None:
    """Keep one benchmark's result (JSON; infinities as ``Infinity``), written whole or not at all."""
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=1, default=_plain)
    tmp = directory / f".{name}.json.tmp"
    tmp.write_text(text + "\n")
    tmp.replace(directory / f"{name}.json")


def _plain(x):
    import numpy as np

    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"not JSON: {type(x).__name__}")


def stored(directory: Path = RESULTS) -> dict[str, dict]:
    """The kept results: name -> result (as :func:`save` wrote it)."""
    out = {}
    for name in NAMES:
        path = directory / f"{name}.json"
        if path.is_file():
            out[name] = json.loads(path.read_text())
    return out


def _row(what: str, plastix: str, baseline: str, ratio: str, r: dict, note: str = "") -> str:
    load = r.get("load")
    load = f"{load[0]:.2f} / {load[1]:.2f}" if load else "not recorded"
    return f"| {what} | {plastix} | {baseline} | {ratio} | {note} | {load} | {r.get('measured', '?')} |"


def _s(x: float) -> str:
    if not math.isfinite(x):
        return "not reached"
    return f"{x * 1e3:.1f} ms" if x < 1 else (f"{x:.2f} s" if x < 600 else f"{x / 60:.0f} min")


def summary(results: dict[str, dict]) -> list[str]:
    """One table of every benchmark's headline figures, plastix beside its baseline."""
    rows = []
    if (g := results.get("generation")) is not None:
        for x in g["rows"]:
            data = "stream" if not x["samples"] else f"{x['samples']} points"
            what = f"§1 one Oja generation, N = {x['n']} ({data})"
            rows.append(
                _row(what, _s(x["plastix_s"]), f"numpy {_s(x['numpy_s'])}", f"**{x['ratio']:.2f}×**", g)
            )
    if (c := results.get("convergence")) is not None:
        for x in c["summaries"]:
            what = f"§2 rediscover Oja, {x['label']}: median time to < {c['target']:g}°"
            rows.append(_row(what, _s(x["median_wall"]), "-", "-", c, f"{x['reached']}/{x['seeds']} seeds"))
    if (sp := results.get("spiking")) is not None:
        p, b = sp["plastix"], sp["brian2"]
        gen = sp["popsize"] * sp["datasets"]
        b_gen = bench_spiking.brian2_generation_s(sp)
        what = f"§3 spiking, one {sp['total']:g} s protocol"
        ratio = f"**{b[0]['sim_s'] / p['protocol_s']:.1f}×**"
        rows.append(_row(what, _s(p["protocol_s"]), f"Brian2 {_s(b[0]['sim_s'])}", ratio, sp))
        what = f"§3 spiking, one generation of {gen} protocols"
        ratio = f"**{b_gen / p['generation_s']:.1f}×**"
        rows.append(_row(what, _s(p["generation_s"]), f"Brian2 {_s(b_gen)}", ratio, sp, "Brian2 scaled"))
    if (f := results.get("feedback")) is not None:
        j, t = f["jax"], f["torch"]
        what = f"§4 random-feedback meta-gradient step, {j['steps']} inner steps"
        ratio = f"**{t['meta_step_s'] / j['meta_step_s']:.1f}×**"
        rows.append(_row(what, _s(j["meta_step_s"]), f"PyTorch {_s(t['meta_step_s'])}", ratio, f))
    if (e := results.get("emnist")) is not None:
        note = f"600 steps ≈ {600 * e['meta_step_s'] / 60:.1f} min"
        rows.append(_row("§5 fa_emnist meta-step", _s(e["meta_step_s"]), "-", "-", e, note))
    if (ps := results.get("per_synapse")) is not None:
        for x in ps["rows"]:
            what = f"§6 per-synapse generation, {x['synapses']:,} synapses"
            ratio = f"**{x['numpy_s'] / x['jax_s']:.1f}×**"
            rows.append(_row(what, _s(x["jax_s"]), f"numpy {_s(x['numpy_s'])}", ratio, ps))
    if (sc := results.get("scaling")) is not None:
        one = {x["backend"]: x["seconds"] for x in sc["rows"] if x["n"] == 1}
        for x in sc["rows"]:
            if x["n"] == 1 or x["backend"] not in one:
                continue
            t1, n = one[x["backend"]], x["n"]
            what = f"§7 one generation on {n} {'local devices' if x['backend'] == 'local' else 'Ray workers'}"
            note = f"parallel efficiency {100 * t1 / (n * x['seconds']):.0f}%"
            rows.append(
                _row(what, _s(x["seconds"]), f"1 of them {_s(t1)}", f"**{t1 / x['seconds']:.2f}×**", sc, note)
            )
    if (cl := results.get("cli")) is not None:
        for x in cl["rows"]:
            what = f"§8 `{x['call']}`, a fresh process"
            ratio = f"**{x['ratio']:.1f}×**"
            rows.append(_row(what, _s(x["this_tree_s"]), f"{cl['base']} {_s(x['base_s'])}", ratio, cl))
    if not rows:
        return []
    head = "| benchmark | plastix | baseline | baseline / plastix time | | load before / after | measured |"
    return [
        "## Summary",
        "",
        "Each benchmark's headline figures beside its baseline, both measured in the same run; the sections "
        "below give the settings and the full tables. *load* is the 1-minute load average before and after "
        "that benchmark (2 cores).",
        "",
        head,
        "|" + "---|" * (head.count("|") - 1),
        *rows,
        "",
    ]


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
    mach: dict, results: dict[str, dict], argv: list[str], started: str, elapsed: float, quick: bool
) -> str:
    """The README from ``results`` (name -> a benchmark's result; a missing one: "not run")."""
    gen, conv = results.get("generation"), results.get("convergence")
    out = ["# plastix benchmarks", ""]
    out += [
        f"Written by `{' '.join([PY, 'benchmarks/run_all.py', *argv]).strip()}` on {started} "
        f"(took {elapsed / 60:.1f} min). Every number below was measured by a run of that script, on the "
        "date the summary gives, and is kept in `benchmarks/results/`; `make bench` reruns everything, "
        "`--only NAME` one benchmark. Timings are medians; no test asserts on them.",
        "",
    ]
    out += ["## Machine", "", "| | |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in mach.items()]
    out += [""]
    busy = [k for k, r in results.items() if r.get("load") and r["load"][0] > 0.5 * (os.cpu_count() or 1)]
    if busy:
        out += [
            f"The 1-minute load average was above half the core count when {', '.join(busy)} started "
            "(summary): the previous benchmark of the same run still counts in it, or other work ran. "
            "Absolute times may be inflated; ratios, measured within one run, are the robust figures.",
            "",
        ]
    out += summary(results)

    out += ["## 1. One generation: plastix vs a numpy baseline (`bench_generation.py`)", ""]
    if gen is None:
        out += ["Not run yet.", ""]
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
        out += ["Not run yet.", ""]
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

    out += bench_spiking.section(results.get("spiking"))
    out += bench_feedback.section(results.get("feedback"))
    out += bench_emnist.section(results.get("emnist"))
    out += bench_per_synapse.section(results.get("per_synapse"))
    out += bench_scaling.section(results.get("scaling"))
    out += bench_cli.section(results.get("cli"))

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
        f"{PY} benchmarks/bench_cli.py               # CLI start-up against the eager-import revision",
        "```",
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Run all benchmarks and rewrite benchmarks/README.md.")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="smoke test of every script")
    mode.add_argument("--full", action="store_true", help="convergence with large generation caps")
    mode.add_argument("--only", choices=NAMES, help="run one benchmark; the others keep their stored results")
    mode.add_argument("--render", action="store_true", help="run nothing; rewrite the README from results/")
    ap.add_argument("--out", type=Path, default=HERE / "README.md", help="where to write the README")
    args = ap.parse_args(argv)
    argv_used = list(argv) if argv is not None else sys.argv[1:]
    started = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    t0 = time.perf_counter()
    mach = machine()
    print("machine:", "; ".join(f"{k}: {v}" for k, v in mach.items()), flush=True)
    runs = {
        "generation": (bench_generation, ["--quick"] if args.quick else []),
        "convergence": (bench_convergence, ["--quick"] if args.quick else (["--full"] if args.full else [])),
        "spiking": (bench_spiking, ["--quick"] if args.quick else []),
        "feedback": (bench_feedback, ["--quick"] if args.quick else []),
        "emnist": (bench_emnist, ["--generations", "5"] if args.quick else []),
        "per_synapse": (bench_per_synapse, ["--quick"] if args.quick else []),
        "scaling": (bench_scaling, ["--quick"] if args.quick else []),
        "cli": (bench_cli, ["--rounds", "1"] if args.quick else []),
    }
    # A quick run is a smoke test: its numbers replace no measurement.
    results = {} if args.quick else stored()
    for name, (module, module_argv) in runs.items():
        if not args.render and args.only in (None, name):
            print(f"\n=== bench_{name} ===", flush=True)
            results[name] = module.main(module_argv)
            results[name]["measured"] = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
            if not args.quick:
                save(name, results[name])
    elapsed = time.perf_counter() - t0
    args.out.write_text(readme(mach, results, argv_used, started, elapsed, args.quick))
    print(f"\nwrote {args.out} ({elapsed / 60:.1f} min)")


if __name__ == "__main__":
    main()
