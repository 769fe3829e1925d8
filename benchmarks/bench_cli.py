"""Wall time of the command line's quick calls, this tree against a baseline revision, in one run.

    .venv/bin/python benchmarks/run_all.py --only cli         # against BASE (below), 7 rounds; README
    .venv/bin/python benchmarks/bench_cli.py                  # the same, printed only
    .venv/bin/python benchmarks/bench_cli.py --base REV --rounds 11

Each call is ``python -m plastix.cli ARGS`` run from a source tree (``PYTHONPATH=<tree>/src``,
the same interpreter and installed packages), so that only plastix's own code differs:
this working tree, and ``REV`` exported with ``git archive``. The two alternate call by
call, round by round, so that a change of load touches both alike. Reported: the median
wall time of each and their ratio, with the 1-minute load average before and after.
``benchmarks/run_all.py --only cli`` keeps the result in ``results/cli.json`` and writes its
section of ``benchmarks/README.md``. Nothing asserts on these times.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: The last revision whose command line imported JAX and pycma before parsing its arguments.
BASE = "d6437ed"
#: The calls timed: what a user types to learn the tool, and the one-line errors.
CALLS = (
    ("--help",),
    ("--version",),
    ("list",),
    ("check", "oja"),
    ("run", "ojaa"),  # a misspelt shipped config: one line, exit 2
    ("check", "oja", "--set", "meta.popsiz=3"),  # a misspelt key: one line, exit 2
)


def _tree(rev: str, into: Path) -> Path:
    """``rev``'s ``src/`` exported under ``into``."""
    archive = into / "src.tar"
    with open(archive, "wb") as fh:
        subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], stdout=fh, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def _time(src: Path, args: tuple[str, ...]) -> tuple[float, int]:
    # Bytecode caches written and read, as for an installed package (the first round writes them).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=str(src), JAX_PLATFORMS="cpu")
    t0 = time.perf_counter()
    rc = subprocess.run(
        [sys.executable, "-m", "plastix.cli", *args],
        env=env,
        cwd=tempfile.gettempdir(),  # not the repository: `run ojaa` must not find a file there
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ).returncode
    return time.perf_counter() - t0, rc


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default=BASE, help=f"baseline revision (default {BASE})")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args(argv)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"this tree": ROOT / "src", f"{args.base}": _tree(args.base, Path(tmp))}
        times: dict[str, dict[str, list[float]]] = {" ".join(c): {k: [] for k in trees} for c in CALLS}
        codes: dict[str, dict[str, int]] = {" ".join(c): {} for c in CALLS}
        for _ in range(args.rounds):
            for call in CALLS:
                for name, src in trees.items():
                    t, rc = _time(src, call)
                    times[" ".join(call)][name].append(t)
                    codes[" ".join(call)][name] = rc
    load_after = os.getloadavg()[0]
    base = f"{args.base}"
    rows = []
    for call, by in times.items():
        new, old = statistics.median(by["this tree"]), statistics.median(by[base])
        rows.append(
            {
                "call": f"plastix {call}",
                "this_tree_s": new,
                "base_s": old,
                "ratio": old / new,
                "exit_this_tree": codes[call]["this tree"],
                "exit_base": codes[call][base],
            }
        )
    result = {
        "measured": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "base": base,
        "rounds": args.rounds,
        "argv": list(argv) if argv is not None else sys.argv[1:],
        "load": [load_before, load_after],
        "cores": os.cpu_count(),
        "rows": rows,
    }
    print("\n".join(section(result)))
    return result


def section(r: dict | None) -> list[str]:
    """This benchmark's section of ``benchmarks/README.md``."""
    out = ["## 8. Command-line start-up against the last eager-import revision (`bench_cli.py`)", ""]
    if r is None:
        return out + ["Not run yet.", ""]
    base = r["base"]
    cmd = " ".join([".venv/bin/python benchmarks/bench_cli.py", *r["argv"]]).strip()
    out += [
        f"Measured by `{cmd}` (load average {r['load'][0]:.2f} before, {r['load'][1]:.2f} after; "
        f"{r['cores']} cores). Each call is `python -m plastix.cli ...` from a source tree, this one and "
        f"`{base}` (exported with `git archive`; it imported JAX and pycma before parsing), with the same "
        f"interpreter and packages; the median wall time of {r['rounds']} calls each, the two trees "
        "alternating call by call. Exit code 2 is a one-line error, as intended.",
        "",
        f"| call | this tree | {base} | {base} / this tree | exit codes |",
        "|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        out.append(
            f"| `{row['call']}` | {row['this_tree_s']:.2f} s | {row['base_s']:.2f} s "
            f"| **{row['ratio']:.1f}x** | {row['exit_this_tree']} / {row['exit_base']} |"
        )
    return out + [""]


if __name__ == "__main__":
    main()
