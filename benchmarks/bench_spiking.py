"""Spiking inner loop: plastix vs Brian2 on the inhibitory-plasticity protocol.

The model is one conductance-based LIF neuron with 800 excitatory (fixed, tuned)
and 200 plastic inhibitory Poisson afferents in 8 groups, dt = 0.1 ms
(``networks.lif`` + ``tasks.target_rate``, Confavreux et al. 2020 Sec. 3.3).
The protocol is ``train`` seconds of plasticity then ``score`` seconds of
scoring (60 s + 30 s by default).

(a) One protocol with Vogels' rule: plastix (``tasks.meta_loss`` over one
    dataset, jitted) against the Brian2 script that ``plastix export --brian2``
    writes for the same theta (cython target), each in a child process. The
    script reports Brian2's code generation + compilation (with an empty cache)
    apart from the simulation, so compilation is excluded from the comparison.
(b) One generation: a population of 16 candidates (Vogels' theta with 10 %
    multiplicative noise) x 8 datasets = 128 protocols, built as the runner
    builds it (``tasks.meta_loss(..., chunk=1000)`` vmapped by
    ``meta.prepare_population``), timed after an ahead-of-time compile. Brian2
    evaluates protocols one by one: ``--brian2-subset`` of the candidates are
    run in full and the generation time is 128 x their mean simulation time.

Throughput is simulated seconds x synapses (1000 afferent synapses, 200 of
them plastic) per wall-clock second. Peak memory is each child's maximum
resident set size (``os.wait4``).

    python benchmarks/bench_spiking.py            # full 90 s protocols (~5 min)
    python benchmarks/bench_spiking.py --quick    # 2 s protocols (~2 min, mostly Brian2 compilation)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

N_SYN = 1000
ROOT = Path(__file__).resolve().parents[1]


#: Runs ``argv[2:]`` and writes its ``ru_maxrss`` (KiB) to the file ``argv[1]``.
_LAUNCHER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def _child(cmd: list[str], cwd: str | None = None, env: dict | None = None) -> tuple[str, float]:
    """Run ``cmd``; return its stdout and peak resident memory in MiB (``ru_maxrss``).

    ``cmd`` runs as the child of a small launcher, not of this process: Linux
    keeps a process's peak RSS across ``exec``, so a child forked from this
    process (which has grown large by the time ``run_all.py`` gets here) would
    report at least this process's size.
    """
    with tempfile.TemporaryDirectory() as tmp:
        rss_file, out_file = Path(tmp) / "maxrss", Path(tmp) / "out"
        with out_file.open("w") as out:
            launch = [sys.executable, "-I", "-c", _LAUNCHER, str(rss_file), *cmd]
            code = subprocess.run(launch, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=env).returncode
        text = out_file.read_text()
        if code:
            raise RuntimeError(f"{cmd[:3]} failed ({code}):\n{text[-3000:]}")
        return text, int(rss_file.read_text()) / 1024


def _thetas(popsize: int, seed: int = 0):
    import numpy as np

    from plastix import rules

    base = np.asarray(rules.vogels_istdp(), np.float64)
    rng = np.random.default_rng(seed)
    th = base * (1.0 + 0.1 * rng.standard_normal((popsize, base.size)))
    th[0] = base  # the first candidate is Vogels' rule itself
    return th


def plastix_child(train: float, score: float, popsize: int, datasets: int, repeats: int) -> dict:
    """In this process: compile and time one protocol and one generation with plastix."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    import jax.numpy as jnp
    import numpy as np

    from plastix import meta, networks, rules, tasks

    task = tasks.target_rate(train_time=train, score_time=score, window=min(10.0, score))
    net = networks.lif()
    rule = {"inh": rules.spike_trace()}
    out = {}
    # (a) one protocol, Vogels' rule.
    f1 = jax.jit(tasks.meta_loss(rule, net, task, 1, chunk=1000, unstable_loss=300.0))
    th = {"inh": rules.vogels_istdp()}
    t0 = time.perf_counter()
    c1 = f1.lower(th, jax.random.PRNGKey(0)).compile()
    out["protocol_compile_s"] = time.perf_counter() - t0
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        loss, m = c1(th, jax.random.PRNGKey(i + 1))
        loss.block_until_ready()
        times.append(time.perf_counter() - t0)
    out["protocol_s"] = float(np.median(times))
    out["protocol_rate"] = float(m["rate"])
    # (b) one generation, as the runner evaluates it.
    f = tasks.meta_loss(rule, net, task, datasets, chunk=1000, unstable_loss=300.0)
    pop = meta.prepare_population(f, th)
    thetas = jnp.asarray(_thetas(popsize), jnp.float32)
    t0 = time.perf_counter()
    c = pop.evaluate.lower(thetas, jax.random.PRNGKey(0)).compile()
    out["generation_compile_s"] = time.perf_counter() - t0
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        losses, metrics = c(thetas, jax.random.PRNGKey(100 + i))
        losses.block_until_ready()
        times.append(time.perf_counter() - t0)
    out["generation_s"] = float(np.median(times))
    out["generation_rate_vogels"] = float(metrics["rate"][0])
    out["generation_repeats"] = repeats
    return out


def brian2_run(theta, duration: float, window: float, workdir: Path, cache: Path) -> dict:
    """Write the exported script for ``theta`` and run it in a child with the cython cache ``cache``."""
    from plastix.experiment import brian2_script

    workdir.mkdir(parents=True, exist_ok=True)
    script = workdir / "model.py"
    script.write_text(brian2_script(list(theta), duration=duration, window=window))
    # Brian2 reads ./brian_preferences: a cache of our own, empty at first, makes the compile time honest.
    (workdir / "brian_preferences").write_text(f"codegen.runtime.cython.cache_dir = '{cache}'\n")
    text, rss = _child(
        [sys.executable, str(script), "--duration", repr(duration), "--target", "cython"], cwd=str(workdir)
    )
    sim = re.search(r"simulated \S+ s in ([\d.]+) s \(code generation before that: ([\d.]+) s\)", text)
    rate = re.search(r"rate over the last \S+ s: ([\d.]+) Hz", text)
    if not sim or not rate:
        raise RuntimeError(f"unexpected output of the Brian2 script:\n{text[-2000:]}")
    return {"sim_s": float(sim[1]), "compile_s": float(sim[2]), "rate": float(rate[1]), "maxrss_mib": rss}


def _load() -> float:
    return os.getloadavg()[0]


def _fmt_s(s: float) -> str:
    if s >= 600:
        return f"{s / 60:.0f} min"
    return f"{s * 1e3:.0f} ms" if s < 1 else f"{s:.2f} s"


def brian2_generation_s(r: dict) -> float:
    """Brian2's time for a generation: the protocols of one times the mean measured simulation."""
    b = r["brian2"]
    return r["popsize"] * r["datasets"] * sum(x["sim_s"] for x in b) / len(b)


def table(r: dict) -> str:
    p, b = r["plastix"], r["brian2"]
    total, gen = r["total"], r["popsize"] * r["datasets"]
    b_proto = b[0]["sim_s"]
    b_gen = brian2_generation_s(r)
    thr_p1 = total * N_SYN / p["protocol_s"]
    thr_b = total * N_SYN / (sum(x["sim_s"] for x in b) / len(b))
    thr_pg = gen * total * N_SYN / p["generation_s"]
    rows = [
        "| | plastix | Brian2 (cython) | Brian2 / plastix time |",
        "|---|---|---|---|",
        f"| (a) one {total:g} s protocol, Vogels' rule | {_fmt_s(p['protocol_s'])} | {_fmt_s(b_proto)} | "
        f"{b_proto / p['protocol_s']:.1f}x |",
        f"| compile (excluded above) | {_fmt_s(p['protocol_compile_s'])} (jit) | "
        f"{_fmt_s(b[0]['compile_s'])} (code generation + cython, empty cache) | |",
        f"| rate in the last {min(10.0, r['score']):g} s (target 5 Hz) | {p['protocol_rate']:.2f} Hz | "
        f"{b[0]['rate']:.2f} Hz | |",
        f"| (b) one generation, {r['popsize']} x {r['datasets']} = {gen} protocols | "
        f"{_fmt_s(p['generation_s'])} | {_fmt_s(b_gen)} (scaled: {gen} x mean of {len(b)} measured) | "
        f"{b_gen / p['generation_s']:.1f}x |",
        f"| compile of the generation (excluded above) | {_fmt_s(p['generation_compile_s'])} | "
        f"{_fmt_s(b[-1]['compile_s'])} per later candidate (code cached on disk) | |",
        f"| throughput, simulated s x synapses / wall s | {thr_pg:.3g} (generation), {thr_p1:.3g} "
        f"(one protocol) | {thr_b:.3g} | **{thr_pg / thr_b:.0f}x** (generation), {thr_p1 / thr_b:.1f}x "
        "(one protocol) |",
        f"| peak memory (child max RSS) | {r['plastix_maxrss_mib']:.0f} MiB | "
        f"{max(x['maxrss_mib'] for x in b):.0f} MiB per evaluation | |",
    ]
    return "\n".join(rows)


def section(r: dict | None) -> list[str]:
    """The README section for a result of :func:`main` (``None``: not run)."""
    out = ["## 3. Spiking inner loop: plastix vs Brian2 (`bench_spiking.py`)", ""]
    if r is None:
        return out + ["Not run yet.", ""]
    cmd = " ".join([".venv/bin/python benchmarks/bench_spiking.py", *r["argv"]]).strip()
    b = r["brian2"]
    out += [
        f"Measured by `{cmd}` (load average {r['load'][0]:.2f} before, {r['load'][1]:.2f} after). "
        "One conductance LIF neuron, 800 fixed excitatory + 200 plastic inhibitory Poisson afferents "
        f"in 8 groups, dt = 0.1 ms, a {r['total']:g} s protocol ({r['total'] - r['score']:g} s training + "
        f"{r['score']:g} s scoring). plastix: `tasks.meta_loss` over `rules.spike_trace` + `networks.lif` + "
        "`tasks.target_rate` with `chunk = 1000`, jitted (one protocol) and vmapped over the population by "
        "`meta.prepare_population` (one generation), float32, compiled ahead of time. Brian2: the script "
        "`plastix export --brian2` writes for the same theta, cython target, run in a child process with an "
        "empty code cache; it times code generation and compilation (`run(0 * second)`) apart from the "
        f"simulation. The population is Vogels' rule with 10 % multiplicative noise; {len(b)} of its "
        "candidates were simulated in Brian2 and the Brian2 generation time is "
        f"{r['popsize'] * r['datasets']} x their mean simulation time (Brian2 evaluates one protocol per "
        "process; its time is linear in the simulated time and does not depend on the dataset). "
        "Brian2's compilation is excluded from the ratios: it is a one-off cost, since Brian2 caches the "
        "compiled code on disk and passes constants such as the rule's coefficients at run time.",
        "",
        r["table"],
        "",
        "Throughput counts the 1000 afferent synapses (200 of them plastic; the ratio is the same either "
        "way). "
        "The rates differ between the two columns because the input spikes are different random draws "
        "(identical input spikes give identical spike counts: `tests/networks/test_lif_brian2.py`).",
        "",
    ]
    if r["load"][0] > 0.5 * (os.cpu_count() or 1):
        out += [
            "The machine was busy with other work during this run (load average above), which slows both "
            "sides unevenly between runs; the ratios are noisy, each measured within one run.",
            "",
        ]
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 s protocols (1 s train + 1 s score)")
    ap.add_argument("--train", type=float, default=60.0, help="training time, s")
    ap.add_argument("--score", type=float, default=30.0, help="scoring time, s")
    ap.add_argument("--popsize", type=int, default=16)
    ap.add_argument("--datasets", type=int, default=8)
    ap.add_argument("--brian2-subset", type=int, default=2, help="candidates run in Brian2 for (b)")
    ap.add_argument("--repeats", type=int, default=1, help="timed plastix calls (median)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.quick:
        args.train, args.score = 1.0, 1.0
    if args.child:
        res = plastix_child(args.train, args.score, args.popsize, args.datasets, args.repeats)
        print(json.dumps(res))
        return res
    total = args.train + args.score
    load_before = _load()
    cmd = [sys.executable, __file__, "--child", "--train", repr(args.train), "--score", repr(args.score)]
    cmd += ["--popsize", str(args.popsize), "--datasets", str(args.datasets), "--repeats", str(args.repeats)]
    print(f"plastix: one protocol and one generation of {total:g} s protocols ...", flush=True)
    text, rss = _child(cmd, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    plastix = json.loads(text.strip().splitlines()[-1])
    print(plastix, flush=True)
    brian2 = []
    thetas = _thetas(args.popsize)
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.brian2_subset):
            print(f"Brian2: candidate {k}, {total:g} s ...", flush=True)
            cache = Path(tmp) / "cache"
            brian2.append(brian2_run(thetas[k], total, min(10.0, args.score), Path(tmp) / f"c{k}", cache))
            print(brian2[-1], flush=True)
    res = {
        "total": total,
        "score": args.score,
        "popsize": args.popsize,
        "datasets": args.datasets,
        "plastix": plastix,
        "plastix_maxrss_mib": rss,
        "brian2": brian2,
        "load": (load_before, _load()),
        "argv": list(argv) if argv is not None else sys.argv[1:],
    }
    res["table"] = table(res)
    print(res["table"])
    print(f"load average (1 min) before / after: {res['load'][0]:.2f} / {res['load'][1]:.2f}")
    return res


if __name__ == "__main__":
    main()
