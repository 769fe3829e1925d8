"""Vogels et al. (Science 2011), Fig. 4: inhibitory plasticity restores an asynchronous irregular state.

A recurrent network of conductance LIF neurons (:func:`plastix.networks.recurrent`)
driven by a constant 200 pA current, I -> E synapses starting at 0 and learning with
Vogels' rule (:func:`plastix.rules.vogels_istdp`: ``eta``, ``rho0 = 3 Hz``, ``tau = 20 ms``).
Three runs on one network draw:

1. ``istdp``: iSTDP on I -> E for ``--seconds``;
2. ``no_inhibition``: I -> E at 0, fixed;
3. ``held``: the weights ``istdp`` learned, held fixed (the same network and state).

Per 10 ms: E and I population rates, the mean I -> E weight and a sample of 200 I -> E
weights; over the last ``--window`` seconds of each run, the statistics of
:func:`plastix.tasks.network_statistics`; a 1 s raster of 200 E neurons at the end.

Parameters (``--weights``):

* ``paper``: E -> E, E -> I 3 nS, I -> I 30 nS, eta 0.01 nS, w_max 300 nS: the values
  of the authors' re-implementation in Auryn (F. Zenke, fzenke/auryn,
  examples/plasticity/sim_isp_orig.cpp) and of the NEST and PyNN ports
  (sanjayankur31/VogelsEtAl2011), which take them from the paper's SOM;
* ``brian2``: the Brian2 example (brian-team/brian2, examples/frompapers/Vogels_et_al_2011.py,
  after F. Zenke's Brian 1 code in ModelDB 143751): a tenth of those conductances
  (0.3 nS, 3 nS), the same eta, w_max 100 nS.

At a size below 8000 / 2000 the in-degrees are kept (160 E and 40 I partners per neuron,
connection probability 160 / N_E and 40 / N_I).

    .venv/bin/python benchmarks/recurrent_vogels.py --n-exc 1600 --n-inh 400 --seconds 60 --weights brian2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from plastix import networks, rules, tasks

WEIGHTS = {
    "paper": ({"ee": 3.0, "ei": 3.0, "ie": 0.0, "ii": 30.0}, 300.0),
    "brian2": ({"ee": 0.3, "ei": 0.3, "ie": 0.0, "ii": 3.0}, 100.0),
}
BIN = 0.01  # s, one recorded bin = one chunk of the unroll
DT = 1e-4  # s, the network's time step


def run(net, sizes, w_max, theta, seconds, window, key, state=None, raster=200):
    """One run: per-bin records, statistics over the last ``window`` s, a raster of the last 1 s."""
    n_exc, n_inh = sizes
    dt = DT
    steps = round(seconds / dt)
    bin_steps = round(BIN / dt)
    start = steps - round(window / dt)
    rec = tasks.network_recorder(n_exc, n_inh, dt, start, round(0.1 / dt), ("ie",))
    task = tasks.Task(lambda k: None, lambda ep, t, k: jnp.zeros(jnp.shape(t) + (0,)), None, steps)
    rule = {"ie": rules.spike_trace()}
    th = {"ie": jnp.asarray(theta, jnp.float32)}
    t0 = time.perf_counter()
    final, records = jax.jit(
        lambda k, s: tasks.unroll(rule, net, task, th, None, k, chunk=bin_steps, record=rec, state=s)
    )(key, state if state is not None else net.init(jax.random.split(key)[0]))
    jax.block_until_ready(final)
    wall = time.perf_counter() - t0
    stats = tasks.network_statistics(
        records, final, n_exc, dt, window, BIN, start // bin_steps, {"ie": w_max}
    )
    # The last second as a raster: 200 E neurons, every step.
    short = tasks.Task(lambda k: None, lambda ep, t, k: jnp.zeros((0,)), None, round(1.0 / dt))
    spikes = tasks.Recorder(lambda s: None, lambda c, s, x, new, y: (c, y[:raster] > 0))
    zero = {"ie": jnp.zeros(6, jnp.float32).at[4:].set(0.02)}  # no plasticity in the raster second
    _, sp = jax.jit(lambda k, s: tasks.unroll(rule, net, short, zero, None, k, record=spikes, state=s))(
        jax.random.fold_in(key, 1), final
    )
    t_idx, n_idx = np.nonzero(np.asarray(sp))
    return final, {
        "wall_s": wall,
        "seconds": seconds,
        "stats": {k: float(v) for k, v in stats.items()},
        "rate_e": np.asarray(records["rate_e"]).tolist(),
        "rate_i": np.asarray(records["rate_i"]).tolist(),
        "w_ie": np.asarray(records["w"]["ie"]).tolist(),
        "w_sample": np.asarray(records["w_sample"]["ie"])[:: max(len(records["rate_e"]) // 200, 1)].tolist(),
        "raster": [(t_idx * dt).tolist(), n_idx.tolist()],
        "unstable": bool(net.unstable(final)),
    }


def brian2_run(state, sizes, w, w_max, theta, seconds, target="cython"):
    """The ``istdp`` run in Brian2 on the same synapses and initial potentials: E and I rates per
    10 ms bin and the I -> E mean weight at the end (:mod:`plastix.experiment._export` strings)."""
    import brian2 as b2

    from plastix.experiment import _export as export

    n_exc, n_inh = sizes
    b2.start_scope()
    b2.prefs.codegen.target = target
    neurons, syn = export.brian2_recurrent(b2, state, sizes, w, w_max, {"ie": theta}, dt=DT)
    pop = {"e": neurons[:n_exc], "i": neurons[n_exc:]}
    objs = [neurons, *syn.values()]
    mon_e, mon_i = b2.PopulationRateMonitor(pop["e"]), b2.PopulationRateMonitor(pop["i"])
    spikes = b2.SpikeMonitor(pop["e"])
    net = b2.Network(*objs, mon_e, mon_i, spikes)
    t0 = time.perf_counter()
    net.run(seconds * b2.second)
    wall = time.perf_counter() - t0
    bins = round(BIN / DT)
    rate_e = np.asarray(mon_e.rate / b2.Hz).reshape(-1, bins).mean(1)
    rate_i = np.asarray(mon_i.rate / b2.Hz).reshape(-1, bins).mean(1)
    return {
        "wall_s": wall,
        "rate_e": rate_e.tolist(),
        "rate_i": rate_i.tolist(),
        "w_ie_end": float(np.mean(syn["ie"].w[:])),
        "spike_t": np.asarray(spikes.t / b2.second).tolist(),
        "spike_i": np.asarray(spikes.i).tolist(),
    }


def isi_cv(times, neurons, start, end):
    """Mean CV of ISIs over neurons with at least 3 intervals in ``[start, end)``."""
    times, neurons = np.asarray(times), np.asarray(neurons)
    keep = (times >= start) & (times < end)
    cvs = []
    for k in np.unique(neurons[keep]):
        t = np.sort(times[keep & (neurons == k)])
        if len(t) >= 4:
            isi = np.diff(t)
            cvs.append(isi.std() / isi.mean())
    return float(np.mean(cvs)) if cvs else float("nan")


def plateau(rate, seconds, tail=0.2):
    """Mean E rate over the last ``tail`` of the run, and the time its 1 s mean first comes
    within 10 % of that plateau (the convergence time)."""
    r = np.asarray(rate)
    per_s = r[: len(r) // 100 * 100].reshape(-1, 100).mean(1)
    level = float(r[int(len(r) * (1 - tail)) :].mean())
    near = np.nonzero(np.abs(per_s - level) <= 0.1 * max(level, 1e-9))[0]
    return level, (float(near[0] + 1) if near.size else None)


def figure(result, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = result["runs"]
    fig, ax = plt.subplots(2, 3, figsize=(14, 7), constrained_layout=True)
    for name, r in runs.items():
        smooth = np.convolve(r["rate_e"], np.ones(50) / 50, mode="valid")  # 0.5 s means, no edge
        t = (np.arange(len(smooth)) + 50) * BIN
        ax[0, 0].plot(t, smooth, label=name)
    if result.get("brian2"):  # the same istdp run in Brian2
        smooth = np.convolve(result["brian2"]["rate_e"], np.ones(50) / 50, mode="valid")
        t = (np.arange(len(smooth)) + 50) * BIN
        ax[0, 0].plot(t, smooth, color="k", lw=0.6, label="istdp, Brian2")
    ax[0, 0].axhline(result["rho0"], color="k", ls=":", label="rho0")
    ax[0, 0].set(xlabel="time (s)", ylabel="E rate (Hz, 0.5 s mean)", yscale="log", title="E population rate")
    ax[0, 0].legend()
    r = runs["istdp"]
    t = (np.arange(len(r["w_ie"])) + 1) * BIN
    ax[0, 1].plot(t, r["w_ie"], color="C0", label="mean")
    ws = np.asarray(r["w_sample"], float)
    ts = np.linspace(t[0], t[-1], len(ws))
    q = np.nanpercentile(ws, [5, 25, 50, 75, 95], axis=1)
    ax[0, 1].fill_between(ts, q[0], q[4], alpha=0.2, color="C0", label="5-95 %")
    ax[0, 1].fill_between(ts, q[1], q[3], alpha=0.4, color="C0", label="25-75 %")
    ax[0, 1].set(xlabel="time (s)", ylabel="I -> E weight (nS)", title="I -> E weights (iSTDP)")
    ax[0, 1].legend()
    names = ["rate_e", "cv_isi", "fano_temporal", "fano_spatial", "autocov"]
    x = np.arange(len(names))
    for i, (name, rr) in enumerate(runs.items()):
        ax[0, 2].bar(x + 0.27 * (i - 1), [rr["stats"][k] for k in names], 0.27, label=name)
    ax[0, 2].set_xticks(x, names, rotation=30)
    ax[0, 2].set(yscale="log", title="statistics over the last window")
    ax[0, 2].legend()
    for j, name in enumerate(["no_inhibition", "istdp", "held"]):
        tr, nr = runs[name]["raster"]
        ax[1, j].plot(tr, nr, ",k")
        ax[1, j].set(xlabel="time in the last second (s)", ylabel="E neuron", title=f"raster: {name}")
    fig.suptitle(
        f"Vogels et al. 2011 in plastix: {result['n_exc']} E / {result['n_inh']} I, "
        f"weights '{result['weights']}'"
    )
    fig.savefig(path, dpi=110)


def rounded(x, digits: int = 5):
    """``x`` (nested lists and dicts) with every float to ``digits`` significant digits: the JSON
    kept in docs/ stays small."""
    if isinstance(x, float):
        return float(f"{x:.{digits}g}")
    if isinstance(x, list):
        return [rounded(v, digits) for v in x]
    if isinstance(x, dict):
        return {k: rounded(v, digits) for k, v in x.items()}
    return x


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-exc", type=int, default=1600)
    ap.add_argument("--n-inh", type=int, default=400)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--contrast-seconds", type=float, default=10.0)
    ap.add_argument("--window", type=float, default=10.0)
    ap.add_argument("--weights", choices=sorted(WEIGHTS), default="brian2")
    ap.add_argument("--eta", type=float, default=0.01, help="nS per unit trace")
    ap.add_argument("--rho0", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-events", type=float, default=1.0)
    ap.add_argument("--brian2", action="store_true", help="also run the istdp run in Brian2 (cython)")
    ap.add_argument("--out", default="docs/recurrent/vogels2011")
    ap.add_argument("--redraw", action="store_true", help="only draw OUT.png again from OUT.json")
    args = ap.parse_args(argv)
    if args.redraw:
        out = Path(args.out)
        figure(json.loads(out.with_suffix(".json").read_text()), out.with_suffix(".png"))
        return
    w, w_max = WEIGHTS[args.weights]
    p = {"ee": 160 / args.n_exc, "ei": 160 / args.n_exc, "ie": 40 / args.n_inh, "ii": 40 / args.n_inh}
    net = networks.recurrent(
        args.n_exc, args.n_inh, plastic=("ie",), p=p, w=w, w_max=w_max, max_events=args.max_events
    )
    sizes = (args.n_exc, args.n_inh)
    key = jax.random.PRNGKey(args.seed)
    vogels = np.asarray(rules.vogels_istdp(args.eta, args.rho0, 0.02))
    load0 = os.getloadavg()[0]
    runs = {}
    final, runs["istdp"] = run(net, sizes, w_max, vogels, args.seconds, args.window, key)
    print("istdp", runs["istdp"]["wall_s"], runs["istdp"]["stats"], flush=True)
    frozen = np.array([0, 0, 0, 0, 0.02, 0.02])
    _, runs["no_inhibition"] = run(net, sizes, w_max, frozen, args.contrast_seconds, args.window, key)
    print("no_inhibition", runs["no_inhibition"]["stats"], flush=True)
    _, runs["held"] = run(net, sizes, w_max, frozen, args.contrast_seconds, args.window, key, state=final)
    print("held", runs["held"]["stats"], flush=True)
    level, conv = plateau(runs["istdp"]["rate_e"], args.seconds)
    result = {
        "n_exc": args.n_exc,
        "n_inh": args.n_inh,
        "weights": args.weights,
        "w": w,
        "w_max": w_max,
        "eta": args.eta,
        "rho0": args.rho0,
        "seed": args.seed,
        "p": p,
        "plateau_hz": level,
        "convergence_s": conv,
        "bio_s_per_wall_s": args.seconds / runs["istdp"]["wall_s"],
        "runs": runs,
        "brian2": None,
        "load": [load0, os.getloadavg()[0]],
        "machine": platform.processor() or platform.machine(),
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(rounded(result)) + "\n")
    figure(result, out.with_suffix(".png"))
    if args.brian2:
        state0 = net.init(jax.random.split(key)[0])  # the network and potentials the istdp run began from
        brian = brian2_run(state0, sizes, w, w_max, vogels, args.seconds)
        b_level, b_conv = plateau(brian["rate_e"], args.seconds)
        end = args.seconds
        brian.update(
            plateau_hz=b_level,
            convergence_s=b_conv,
            cv_isi=isi_cv(brian.pop("spike_t"), brian.pop("spike_i"), end - args.window, end),
            bio_s_per_wall_s=args.seconds / brian["wall_s"],
        )
        print("brian2", {k: v for k, v in brian.items() if not isinstance(v, list)}, flush=True)
        result["brian2"] = brian
        out.with_suffix(".json").write_text(json.dumps(rounded(result)) + "\n")
    print(f"plateau {level:.2f} Hz, convergence {conv} s, {result['bio_s_per_wall_s']:.3f} bio s per wall s")


if __name__ == "__main__":
    main()
