r"""Export a learned spike-trace rule as a runnable Brian2 script.

The script simulates the same model as :func:`plastix.networks.lif` driven as in
:func:`plastix.tasks.target_rate` (Confavreux et al., NeurIPS 2020, Sec. 3.3,
after Vogels et al., Science 2011), with the learned inhibitory rule written as
a Brian2 ``Synapses`` object. The equation and code strings below are the one
description of the model in Brian2's terms: the exported script and the
equivalence test (``tests/networks/test_lif_brian2.py``) both use them.

By default the script simulates two training episodes (:func:`default_duration`):
the rule was meta-learned to hold the target rate over one episode, so a longer
run shows whether that rate also holds beyond the horizon it was trained on.
The first ``task.train_time`` seconds are a start-up transient, in which the
rule moves the inhibitory weights from their initial value; the script says
over which window it measures the rate and warns when that window begins
inside the transient. ``python SCRIPT --quick`` is a quick check: Brian2's
numpy target (``prefs.codegen.target = "numpy"``), which skips the C++
compilation of the default cython target (35 s to over two minutes on a first
run with 2 CPU cores, cached by Brian2 for later runs), and at most
:data:`QUICK_DURATION` seconds of simulated time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from plastix.experiment._errors import UserError
from plastix.rules import SPIKE_TRACE_NAMES

# Conductance-based LIF neuron; conductances in units of g_leak.
#   tau_m dV/dt = -(V - V_rest) - g_E (V - E_E) - g_I (V - E_I)
#   dg_E/dt = -g_E / tau_E,   dg_I/dt = -g_I / tau_I   (+ jumps on afferent spikes)
# Integrated with Brian2's exponential Euler, as networks.lif does.
NEURON_EQS = """\
dv/dt = (-(v - v_rest) - ge * (v - e_exc) - gi * (v - e_inh)) / tau_m : volt (unless refractory)
dge/dt = -ge / tau_exc : 1
dgi/dt = -gi / tau_inh : 1"""
NEURON_THRESHOLD = "v > v_th"
NEURON_RESET = "v = v_reset"

# Fixed excitatory synapses: a spike adds gbar_exc * w to g_E.
EXC_MODEL = "w : 1"
EXC_ON_PRE = "ge_post += gbar_exc * w"

# The plastic inhibitory synapse: pair-based rule on exponential traces,
#   dw/dt = alpha S_j + beta S_i + gamma x_j S_i + kappa x_i S_j,
# xpre (x_j) and xpost (x_i) jump by 1 per spike and decay with tau_pre,
# tau_post (rules.spike_trace). Brian2 runs the presynaptic pathway before the
# postsynaptic one within a step, as rules.spike_trace does: the conductance
# jump uses the weight before this spike's update, kappa sees xpost before
# this step's postsynaptic spike and gamma sees xpre after this step's
# presynaptic spikes. Weights are kept in [0, w_inh_max].
RULE_MODEL = """\
w : 1
dxpre/dt = -xpre / tau_pre : 1 (event-driven)
dxpost/dt = -xpost / tau_post : 1 (event-driven)"""
RULE_ON_PRE = """\
gi_post += gbar_inh * w
xpre += 1
w = clip(w + alpha + kappa * xpost, 0, w_inh_max)"""
RULE_ON_POST = """\
xpost += 1
w = clip(w + beta + gamma * xpre, 0, w_inh_max)"""

RULE_NAMES = SPIKE_TRACE_NAMES

# The recurrent network (networks.recurrent): the same neuron with a constant drive i_ext
# (mV: the current across g_leak), weights in nS, conductances in units of g_leak. A
# pathway's spike adds w / g_leak to the postsynaptic ge ("ee", "ei") or gi ("ie", "ii");
# a plastic pathway runs the same spike-trace rule as the single neuron's, bounded to
# [0, w_max] (networks.recurrent clips once per step, after both pathways; Brian2 after
# each: they differ only in a step where one synapse sees both spikes at a bound).
RECURRENT_EQS = """\
dv/dt = (-(v - v_rest) - ge * (v - e_exc) - gi * (v - e_inh) + i_ext) / tau_m : volt (unless refractory)
dge/dt = -ge / tau_exc : 1
dgi/dt = -gi / tau_inh : 1
i_ext : volt"""
FIXED_MODEL = "w : 1"
PLASTIC_ON_POST = """\
xpost += 1
w = clip(w + beta + gamma * xpre, 0, w_max)"""


def pathway_on_pre(pathway: str, plastic: bool) -> str:
    """Brian2 ``on_pre`` of a recurrent pathway (``"ie"``: I -> E, into ``gi``)."""
    g = "ge" if pathway[0] == "e" else "gi"
    jump = f"{g}_post += w / g_leak"
    return jump if not plastic else f"{jump}\nxpre += 1\nw = clip(w + alpha + kappa * xpost, 0, w_max)"


#: The default simulated time of an exported script, in training episodes.
EPISODES = 2.0

#: Simulated seconds of ``--quick`` (at most; never more than the default): about as many
#: seconds of wall time with Brian2's numpy target for the 1000-afferent neuron.
QUICK_DURATION = 10.0

# The target_rate task's protocol defaults (plastix.tasks.target_rate), for task_params without them.
_TRAIN_TIME, _SCORE_TIME = 60.0, 30.0

# Unit of each model constant, as a Brian2 unit name ("1": dimensionless).
_NEURON_UNITS = {
    "tau_m": "second",
    "v_rest": "mV",
    "e_exc": "mV",
    "e_inh": "mV",
    "tau_exc": "second",
    "tau_inh": "second",
    "v_th": "mV",
    "v_reset": "mV",
    "gbar_exc": "1",
    "gbar_inh": "1",
}
_RULE_UNITS = {
    "alpha": "1",
    "beta": "1",
    "gamma": "1",
    "kappa": "1",
    "tau_pre": "second",
    "tau_post": "second",
}


def model_constants(
    theta: Sequence[float],
    network_params: Mapping[str, float] | None = None,
    tau_min: float = 1e-4,
    tau_max: float = 10.0,
) -> dict[str, tuple[float, str]]:
    """Constants of the Brian2 model as ``{name: (value, brian2 unit name)}``.

    ``theta`` is a :func:`plastix.rules.spike_trace` theta (alpha, beta, gamma,
    kappa, tau_pre [s], tau_post [s]); time constants are clipped to
    ``[tau_min, tau_max]`` as the rule does. ``network_params`` are keyword
    arguments of :func:`plastix.networks.lif` (neuron constants and
    ``w_inh_max``); the rest keep their defaults.
    """
    from plastix.networks._lif import VOGELS_2011

    theta = [float(x) for x in theta]
    if len(theta) != len(RULE_NAMES):
        raise UserError(f"theta has {len(theta)} values; a spike_trace rule has 6 ({', '.join(RULE_NAMES)})")
    if not all(math.isfinite(x) for x in theta):
        raise UserError(f"theta has non-finite values: {theta}")
    theta[4:] = [min(max(t, tau_min), tau_max) for t in theta[4:]]
    params = dict(network_params or {})
    neuron = {k: float(params.get(k, v)) for k, v in VOGELS_2011.items()}
    out = {k: (neuron[k], u) for k, u in _NEURON_UNITS.items()}
    out.update({k: (v, _RULE_UNITS[k]) for k, v in zip(RULE_NAMES, theta, strict=True)})
    out["w_inh_max"] = (float(params.get("w_inh_max", 100.0)), "1")
    return out


def default_duration(train_time: float, score_time: float) -> float:
    """The default simulated time of an exported script, seconds: :data:`EPISODES` training episodes.

    A training episode is ``train_time`` seconds of plasticity, then a
    ``score_time`` scoring phase (plasticity on), and the rule was scored
    on a window inside the scoring phase only; twice that puts the script's
    window (the last ``task.window`` seconds) well past the horizon the rule
    was trained on.
    """
    return EPISODES * (float(train_time) + float(score_time))


def run_hint(path) -> str:
    """How to run an exported script at ``path``: a quick check first, then the full run."""
    return (
        f"quick check: python {path} --quick (Brian2's numpy target, no C++ compilation, "
        f"at most {QUICK_DURATION:g} s simulated); full run: python {path} (cython: 35 s to over two minutes "
        "of C++ compilation the first time)"
    )


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line for line in text.splitlines())


def brian2_script(
    theta: Sequence[float],
    network_params: Mapping[str, float] | None = None,
    task_params: Mapping[str, float] | None = None,
    duration: float | None = None,
    window: float = 10.0,
    seed: int = 0,
    name: str = "learned rule",
    rule_text: str = "",
    tau_min: float = 1e-4,
    tau_max: float = 10.0,
) -> str:
    r"""The text of a self-contained Brian2 script simulating the LIF neuron with a learned rule.

    The model is :func:`plastix.networks.lif` (conductance LIF, exponential
    Euler, threshold, reset, refractory period; ``n_exc`` excitatory afferents
    with fixed tuned weights ``0.3 + 1.1 / (1 + (G - P)^4) + U(0, w_exc_noise)``
    and ``n_inh`` plastic inhibitory ones, in ``n_groups`` groups) and the
    inputs are those of :func:`plastix.tasks.target_rate`: each afferent is a
    Poisson process at its group's rate ``r_0 + r_peak min([s]_+ / 3, 1)``,
    ``s`` an Ornstein-Uhlenbeck signal with every second bump removed, drawn by
    the script itself with numpy (a different random stream from plastix's,
    the same distribution). The rule is a ``Synapses`` block
    (:data:`RULE_MODEL`, :data:`RULE_ON_PRE`, :data:`RULE_ON_POST`) kept
    apart from the rest so that it can be copied into other models.

    The script takes ``--duration`` (seconds, default ``duration``),
    ``--seed``, ``--target`` (Brian2 code generation target, default
    ``cython``) and ``--quick`` (a quick check: the ``numpy`` target, which
    needs no C++ compilation, and at most :data:`QUICK_DURATION` seconds). It
    prints the window over which it measures the rate, a warning when that
    window begins inside the start-up transient (the first ``train_time``
    seconds, in which the rule moves the inhibitory weights from their
    initial value), then the postsynaptic rate over the last ``window``
    seconds and the mean inhibitory weight.

    Args:
        theta: the learned :func:`plastix.rules.spike_trace` coefficients.
        network_params: keyword arguments of :func:`plastix.networks.lif`
            (``n_exc``, ``n_inh``, ``n_groups``, ``dt``, ``preferred``,
            ``w_exc_noise``, ``w_inh_init``, ``w_inh_max`` and neuron constants).
        task_params: input settings of :func:`plastix.tasks.target_rate`
            (``baseline``, ``peak_rate``, ``tau_input``, ``rate_dt``,
            ``sparsify``, ``target``) and protocol (``train_time``,
            ``score_time``: the training episode).
        duration: default simulated time, seconds; ``None``: two training
            episodes (:func:`default_duration`).
        window: the rate is reported over the last ``window`` seconds.
        seed: default seed of the script's random numbers.
        name: a name for the header comment.
        rule_text: the rule written out, for the header comment.
        tau_min, tau_max: the rule's bounds on its time constants (as
            :func:`plastix.rules.spike_trace`).
    """
    net = dict(network_params or {})
    task = dict(task_params or {})
    consts = model_constants(theta, net, tau_min, tau_max)
    ints = {k: int(net.get(k, d)) for k, d in (("n_exc", 800), ("n_inh", 200), ("n_groups", 8))}
    if ints["n_exc"] % ints["n_groups"] or ints["n_inh"] % ints["n_groups"]:
        raise UserError(f"n_exc and n_inh must be multiples of n_groups; got {ints}")
    flt = {
        "dt": float(net.get("dt", 1e-4)),
        "t_ref": float(net.get("t_ref", 5e-3)),
        "preferred": float(net.get("preferred", 5.0)),
        "w_exc_noise": float(net.get("w_exc_noise", 0.1)),
        "w_inh_init": float(net.get("w_inh_init", 0.1)),
        "baseline": float(task.get("baseline", 5.0)),
        "peak_rate": float(task.get("peak_rate", 50.0)),
        "tau_input": float(task.get("tau_input", 0.05)),
        "rate_dt": float(task.get("rate_dt", 1e-3)),
        "target": float(task.get("target", 5.0)),
    }
    sparsify = bool(task.get("sparsify", True))
    train_time = float(task.get("train_time", _TRAIN_TIME))
    if duration is None:
        duration = default_duration(train_time, task.get("score_time", _SCORE_TIME))
    duration = float(duration)
    if not (math.isfinite(duration) and duration > 0):
        raise UserError(f"--duration must be a positive number of seconds, got {duration}")
    quick = min(QUICK_DURATION, duration)

    def const_line(k):
        value, unit = consts[k]
        return f"{k} = {value!r}" + ("" if unit == "1" else f" * {unit}")

    neuron_consts = "\n".join(const_line(k) for k in _NEURON_UNITS)
    rule_consts = "\n".join(const_line(k) for k in (*RULE_NAMES, "w_inh_max"))
    header_rule = f"\n# Rule: {rule_text}" if rule_text else ""
    return f'''\
"""{name}: a conductance-based LIF neuron whose inhibitory synapses learn with a rule
discovered by plastix (exported by `plastix export --brian2`).

Model: plastix.networks.lif (Vogels et al., Science 2011, SOM; Confavreux et al.,
NeurIPS 2020, Sec. 3.3). Inputs: {ints["n_exc"]} excitatory and {ints["n_inh"]} inhibitory Poisson
afferents in {ints["n_groups"]} co-modulated groups, as plastix.tasks.target_rate draws them.

    python this_script.py [--quick] [--duration SECONDS] [--seed N] [--target cython|numpy]

By default it simulates {duration:g} s: the first {train_time:g} s are a start-up transient (the
rule moves the inhibitory weights from their initial value), and the rate is measured
over the last {min(float(window), duration):g} s.

Quick check: `--quick` uses Brian2's numpy target (prefs.codegen.target = "numpy"),
which skips the C++ compilation of the default cython target (35 s to over two
minutes on a first run, cached by Brian2 for later runs), and simulates {quick:g} s.
"""{header_rule}

import argparse
import time

import numpy as np
from brian2 import (
    Hz,  # noqa: F401 (used by name in the PoissonGroup rate expressions)
    NeuronGroup,
    PoissonGroup,
    SpikeMonitor,
    Synapses,
    TimedArray,
    defaultclock,
    mV,
    prefs,
    run,
    second,
    seed,
)

DURATION = {duration!r}  # s, the default simulated time
QUICK_DURATION = {quick!r}  # s, with --quick
TRAIN_TIME = {train_time!r}  # s, the plasticity phase of a training episode: the start-up transient
WINDOW = {float(window)!r}  # s, the rate is measured over the last WINDOW seconds

parser = argparse.ArgumentParser(
    description=" ".join(__doc__.split("\\n\\n")[0].split()),  # the docstring's first paragraph
    epilog="Quick check: --quick (Brian2's numpy target, no C++ compilation, "
    f"{{QUICK_DURATION:g}} s simulated).",
)
parser.add_argument(
    "--duration",
    type=float,
    help=f"simulated time, s (default: {{DURATION:g}}; {{QUICK_DURATION:g}} with --quick)",
)
parser.add_argument("--seed", type=int, default={int(seed)!r})
parser.add_argument(
    "--target",
    choices=["cython", "numpy"],
    help="Brian2 code generation (default: cython; numpy with --quick)",
)
parser.add_argument(
    "--quick", action="store_true", help="a quick check: the numpy target (no C++ compilation), a shorter run"
)
args = parser.parse_args()
duration = args.duration if args.duration is not None else (QUICK_DURATION if args.quick else DURATION)
if not duration > 0:
    parser.error(f"--duration must be positive, got {{duration:g}}")
prefs.codegen.target = args.target or ("numpy" if args.quick else "cython")
seed(args.seed)
rng = np.random.default_rng(args.seed)

# ---------------------------------------------------------------- neuron
defaultclock.dt = {flt["dt"]!r} * second
{neuron_consts}
t_ref = {flt["t_ref"]!r} * second
neuron = NeuronGroup(
    1,
    """
{_indent(NEURON_EQS, 4)}
    """,
    threshold="{NEURON_THRESHOLD}",
    reset="{NEURON_RESET}",
    refractory=t_ref,
    method="exponential_euler",
)
neuron.v = v_rest

# ---------------------------------------------------------------- inputs
# Group rates r_g(t) = baseline + peak_rate * min([s_g(t)]_+ / 3, 1), s_g an
# Ornstein-Uhlenbeck signal (unit variance, time constant tau_input) on a grid of
# rate_dt; with sparsify, every second bump (run of s > 0) is removed.
n_exc, n_inh, n_groups = {ints["n_exc"]}, {ints["n_inh"]}, {ints["n_groups"]}
baseline, peak_rate = {flt["baseline"]!r}, {flt["peak_rate"]!r}  # Hz
tau_input, rate_dt = {flt["tau_input"]!r}, {flt["rate_dt"]!r}  # s
sparsify = {sparsify!r}
num = int(np.ceil(duration / rate_dt))
a = np.exp(-rate_dt / tau_input)
s = np.empty((num, n_groups))
s_prev = rng.standard_normal(n_groups)
for k in range(num):
    s_prev = a * s_prev + np.sqrt(1 - a * a) * rng.standard_normal(n_groups)
    s[k] = s_prev
up = s > 0
if sparsify:
    starts = up & ~np.vstack([np.zeros((1, n_groups), bool), up[:-1]])
    up &= (np.cumsum(starts, axis=0) + rng.integers(0, 2, n_groups)) % 2 == 1
group_rates = TimedArray(baseline + peak_rate * np.where(up, np.minimum(s / 3, 1), 0), dt=rate_dt * second)
inp_exc = PoissonGroup(n_exc, rates="group_rates(t, i * n_groups // n_exc) * Hz")
inp_inh = PoissonGroup(n_inh, rates="group_rates(t, i * n_groups // n_inh) * Hz")

# Fixed excitatory weights, tuned to group `preferred` (1-based):
# w = 0.3 + 1.1 / (1 + (G - P)^4) + U(0, w_exc_noise).
preferred, w_exc_noise = {flt["preferred"]!r}, {flt["w_exc_noise"]!r}
exc = Synapses(inp_exc, neuron, "{EXC_MODEL}", on_pre="{EXC_ON_PRE}")
exc.connect()
g = np.arange(n_exc) * n_groups // n_exc + 1
exc.w = 0.3 + 1.1 / (1 + (g - preferred) ** 4) + rng.uniform(0, w_exc_noise, n_exc)

# ---------------------------------------------------------------- learned rule
# dw = alpha S_pre + beta S_post + gamma xpre S_post + kappa xpost S_pre, with
# traces xpre, xpost (+1 per spike, time constants tau_pre, tau_post); w in
# units of gbar_inh, kept in [0, w_inh_max]. To use the rule in another model,
# copy this block: it needs a postsynaptic conductance `gi` (drop the first line
# of on_pre to use your own synaptic current).
{rule_consts}
inh = Synapses(
    inp_inh,
    neuron,
    """
{_indent(RULE_MODEL, 4)}
    """,
    on_pre="""
{_indent(RULE_ON_PRE, 4)}
    """,
    on_post="""
{_indent(RULE_ON_POST, 4)}
    """,
)
inh.connect()
inh.w = {flt["w_inh_init"]!r}
# ---------------------------------------------------------------- end of rule

spikes = SpikeMonitor(neuron)
window = min(WINDOW, duration)
print(f"rate measured over {{duration - window:g}}-{{duration:g}} s (the last {{window:g}} s)")
if duration - window < TRAIN_TIME:
    print(
        f"warning: the first {{TRAIN_TIME:g}} s are a start-up transient (the rule moves the inhibitory "
        f"weights from {{inh.w[0]:g}}) and the window begins inside it, so its rate is not yet the one "
        f"the rule holds; simulate at least {{TRAIN_TIME + window:g}} s (the default: {{DURATION:g}} s)"
    )
started = time.perf_counter()
run(0 * second)  # code generation and compilation (cached by Brian2 for later runs)
built = time.perf_counter()
run(duration * second)
done = time.perf_counter()
print(
    f"simulated {{duration:g}} s in {{done - built:.2f}} s "
    f"(code generation before that: {{built - started:.2f}} s) with Brian2's {{prefs.codegen.target}} target"
)
times = np.asarray(spikes.t / second)
rate = np.sum(times >= duration - window) / window
print(f"rate over the last {{window:g}} s: {{rate:.3f}} Hz (target {flt["target"]:g} Hz)")
print(f"mean inhibitory weight: {{np.mean(inh.w[:]):.4f}}")
'''


def recurrent_brian2_script(
    network: Mapping,
    thetas: Mapping[str, Sequence[float]],
    ext_rate: float,
    duration: float = 10.0,
    window: float = 1.0,
    seed: int = 0,
    name: str = "learned rules",
    rule_text: str = "",
    tau_min: float = 1e-4,
    tau_max: float = 10.0,
) -> str:
    r"""The text of a self-contained Brian2 script of :func:`plastix.networks.recurrent` with learned rules.

    The network is drawn by the script itself (Brian2's ``connect(p=...)`` for a
    connection probability, numpy for a fixed in-degree: the same distribution as
    plastix's, another draw), from uniform initial potentials in [-60, -50] mV; each
    plastic pathway is a ``Synapses`` block with its learned spike-trace rule
    (:data:`RULE_MODEL`, :func:`pathway_on_pre`, :data:`PLASTIC_ON_POST`), the others
    fixed. Poisson inputs at ``ext_rate`` Hz (``--ext-rate``). It prints the E and I
    rates, the mean CV of E inter-spike intervals over the last ``window`` seconds and
    each plastic pathway's mean weight. ``--quick``: Brian2's numpy target, at most
    :data:`QUICK_DURATION` s.

    Args:
        network: the ``[network]`` section's values (``n_exc``, ``n_inh``, ``plastic``,
            ``p``, ``k``, ``w``, ``w_max``, ``i_ext``, ``n_ext``, ``k_ext``, ``w_ext``,
            ``dt``, ``params``).
        thetas: pathway -> learned :func:`plastix.rules.spike_trace` coefficients.
    """
    from plastix.networks._lif import VOGELS_2011
    from plastix.networks._recurrent import PATHWAYS

    duration = float(duration)
    if not (math.isfinite(duration) and duration > 0):
        raise UserError(f"--duration must be a positive number of seconds, got {duration}")
    neuron = {**VOGELS_2011, **dict(network.get("params") or {})}
    p = network.get("p", 0.02)
    probability = {q: float(p.get(q, 0.02) if isinstance(p, Mapping) else p) for q in PATHWAYS}
    degree = {q: int(v) for q, v in dict(network.get("k") or {}).items()}
    i_ext = network.get("i_ext", 20.0)
    i_e, i_i = (i_ext, i_ext) if not isinstance(i_ext, Sequence) else tuple(i_ext)
    rules_ = {}
    for q, theta in thetas.items():
        c = model_constants(theta, None, tau_min, tau_max)
        rules_[q] = {k: c[k][0] for k in RULE_NAMES}
    quick = min(QUICK_DURATION, duration)
    consts = "\n".join(f"{k} = {neuron[k]!r} * {unit}" for k, unit in _NEURON_UNITS.items() if unit != "1")
    header_rule = "".join(f"\n# Rule {line}" for line in rule_text.split("; ") if line)
    on_pre = {q: pathway_on_pre(q, q in thetas) for q in PATHWAYS}
    return f'''\
"""{name}: a recurrent network of E and I conductance LIF neurons whose pathways learn with
rules discovered by plastix (exported by `plastix export --brian2`).

Model: plastix.networks.recurrent ({network.get("n_exc", 800)} E, {network.get("n_inh", 200)} I;
pathways ee, ei, ie, ii, presynaptic population first; plastic: {", ".join(sorted(thetas))}).
The network is a new draw of the same distribution as plastix's.

    python this_script.py [--quick] [--duration SECONDS] [--seed N] [--ext-rate HZ] [--target cython|numpy]
"""{header_rule}

import argparse
import time

import numpy as np
from brian2 import (
    Hz,
    Network,
    NeuronGroup,
    PoissonGroup,
    SpikeMonitor,
    Synapses,
    defaultclock,
    mV,
    prefs,
    second,
    seed,
)

DURATION = {duration!r}  # s
QUICK_DURATION = {quick!r}  # s, with --quick
WINDOW = {float(window)!r}  # s, statistics over the last WINDOW seconds
N_EXC, N_INH = {int(network.get("n_exc", 800))}, {int(network.get("n_inh", 200))}
P = {probability!r}  # connection probability per pathway
K = {degree!r}  # fixed in-degree, where given (replaces P)
W = {dict(network.get("w") or {})!r}  # nS, initial (fixed pathways: constant)
W_MAX = {float(network.get("w_max", 300.0))!r}  # nS, bound of plastic weights
I_EXT = ({float(i_e)!r}, {float(i_i)!r})  # mV (E, I): the current across g_leak
N_EXT = {int(network.get("n_ext", 0))}  # Poisson inputs
K_EXT = {int(network.get("k_ext", 0))}  # of them into each neuron
W_EXT = {float(network.get("w_ext", 0.0))!r}  # nS
RULES = {rules_!r}  # learned: alpha, beta, gamma, kappa (nS per spike), tau_pre, tau_post (s)

parser = argparse.ArgumentParser(description=__doc__.split("\\n\\n")[0])
parser.add_argument("--duration", type=float, help=f"simulated time, s (default {{DURATION:g}})")
parser.add_argument("--seed", type=int, default={int(seed)!r})
parser.add_argument("--ext-rate", type=float, default={float(ext_rate)!r}, help="Poisson input rate, Hz")
parser.add_argument("--target", choices=["cython", "numpy"])
parser.add_argument("--quick", action="store_true", help="numpy target, a short run")
args = parser.parse_args()
duration = args.duration if args.duration is not None else (QUICK_DURATION if args.quick else DURATION)
if not duration > 0:
    parser.error(f"--duration must be positive, got {{duration:g}}")
prefs.codegen.target = args.target or ("numpy" if args.quick else "cython")
seed(args.seed)
rng = np.random.default_rng(args.seed)

defaultclock.dt = {float(network.get("dt", 1e-4))!r} * second
{consts}
g_leak = {float(neuron["g_leak"])!r}  # nS: a weight w (nS) adds w / g_leak to the conductance
neurons = NeuronGroup(
    N_EXC + N_INH,
    """
{_indent(RECURRENT_EQS, 4)}
    """,
    threshold="{NEURON_THRESHOLD}",
    reset="{NEURON_RESET}",
    refractory={float(neuron["t_ref"])!r} * second,
    method="exponential_euler",
)
neurons.v = rng.uniform(-60.0, -50.0, N_EXC + N_INH) * mV
neurons.i_ext = np.r_[np.full(N_EXC, I_EXT[0]), np.full(N_INH, I_EXT[1])] * mV
pop = {{"e": neurons[:N_EXC], "i": neurons[N_EXC:]}}
size = {{"e": N_EXC, "i": N_INH}}

ON_PRE = {on_pre!r}
pathways = {{}}
for q in ("ee", "ei", "ie", "ii"):
    if q in RULES:  # the learned rule, a spike-trace rule on traces xpre, xpost
        ns = {{**RULES[q], "w_max": W_MAX, "g_leak": g_leak}}
        ns.update(tau_pre=RULES[q]["tau_pre"] * second, tau_post=RULES[q]["tau_post"] * second)
        syn = Synapses(
            pop[q[0]],
            pop[q[1]],
            """
{_indent(RULE_MODEL, 12)}
            """,
            on_pre=ON_PRE[q],
            on_post="""
{_indent(PLASTIC_ON_POST, 12)}
            """,
            namespace=ns,
        )
    else:
        syn = Synapses(
            pop[q[0]], pop[q[1]], "{FIXED_MODEL}", on_pre=ON_PRE[q], namespace={{"g_leak": g_leak}}
        )
    same = q[0] == q[1]
    if q in K:  # fixed in-degree: K[q] distinct partners per neuron, no autapses
        n_pre, n_post = size[q[0]], size[q[1]]
        pre, post = [], []
        for j in range(n_post):
            pool = np.delete(np.arange(n_pre), j) if same else np.arange(n_pre)
            pre.append(rng.choice(pool, K[q], replace=False))
            post.append(np.full(K[q], j))
        syn.connect(i=np.concatenate(pre), j=np.concatenate(post))
    else:
        syn.connect(condition="i != j" if same else "True", p=P[q])
    syn.w = W[q]
    pathways[q] = syn

objects = [neurons, *pathways.values()]
if N_EXT and K_EXT:
    inputs = PoissonGroup(N_EXT, rates=args.ext_rate * Hz)
    ext = Synapses(
        inputs, neurons, on_pre="ge_post += W_EXT / g_leak", namespace={{"W_EXT": W_EXT, "g_leak": g_leak}}
    )
    pre = np.concatenate([rng.choice(N_EXT, K_EXT, replace=False) for _ in range(N_EXC + N_INH)])
    ext.connect(i=pre, j=np.repeat(np.arange(N_EXC + N_INH), K_EXT))
    objects += [inputs, ext]
spikes_e, spikes_i = SpikeMonitor(pop["e"]), SpikeMonitor(pop["i"])
net = Network(*objects, spikes_e, spikes_i)
started = time.perf_counter()
net.run(duration * second)
wall = time.perf_counter() - started
print(f"simulated {{duration:g}} s in {{wall:.2f}} s with Brian2's {{prefs.codegen.target}} target")
window = min(WINDOW, duration)
t_e, i_e = np.asarray(spikes_e.t / second), np.asarray(spikes_e.i)
late = t_e >= duration - window
rate_e = late.sum() / (N_EXC * window)
rate_i = np.sum(np.asarray(spikes_i.t / second) >= duration - window) / (N_INH * window)
cvs = []
for k in np.unique(i_e[late]):
    isi = np.diff(np.sort(t_e[late & (i_e == k)]))
    if len(isi) >= 3:
        cvs.append(isi.std() / isi.mean())
cv = float(np.mean(cvs)) if cvs else float("nan")
print(f"last {{window:g}} s: E rate {{rate_e:.3f}} Hz, I rate {{rate_i:.3f}} Hz, CV of E ISIs {{cv:.3f}}")
for q, syn in pathways.items():
    if q in RULES:
        print(f"mean {{q}} weight {{np.mean(syn.w[:]):.4g}} nS")
'''


def brian2_recurrent(b2, state, sizes, w, w_max, thetas, i_ext=(20.0, 20.0), dt=1e-4, params=None):
    """The network of a :func:`plastix.networks.recurrent` state in Brian2: the same synapses and
    initial potentials, the model strings above, each pathway in ``thetas`` learning with its
    spike-trace rule (clipped to ``[0, w_max]``), the others fixed at ``w``; no external inputs.

    ``b2`` is the imported ``brian2`` module (an optional dependency, imported by the caller).
    Returns ``(neurons, {pathway: Synapses})``, to run in a ``b2.Network`` with the caller's
    monitors. Used by the equivalence tests and ``benchmarks/recurrent_vogels.py``.
    """
    import numpy as np

    from plastix.networks._lif import VOGELS_2011
    from plastix.networks._recurrent import PATHWAYS

    n_exc, n_inh = sizes
    p = {**VOGELS_2011, **dict(params or {})}
    b2.defaultclock.dt = dt * b2.second
    units = {"tau_m": b2.second, "tau_exc": b2.second, "tau_inh": b2.second}
    names = ("tau_m", "v_rest", "e_exc", "e_inh", "tau_exc", "tau_inh", "v_th", "v_reset")
    ns = {k: p[k] * units.get(k, b2.mV) for k in names}
    ns["g_leak"] = p["g_leak"]
    neurons = b2.NeuronGroup(
        n_exc + n_inh,
        RECURRENT_EQS,
        threshold=NEURON_THRESHOLD,
        reset=NEURON_RESET,
        refractory=p["t_ref"] * b2.second,
        method="exponential_euler",
        namespace=ns,
    )
    neurons.v = np.asarray(state.aux["v"], np.float64) * b2.mV
    neurons.i_ext = np.r_[np.full(n_exc, i_ext[0]), np.full(n_inh, i_ext[1])] * b2.mV
    pop = {"e": neurons[:n_exc], "i": neurons[n_exc:]}
    size = {"e": n_exc, "i": n_inh}
    synapses = {}
    for q in PATHWAYS:
        pre = np.asarray(state.aux["pre"][q])
        post = np.repeat(np.arange(pre.shape[0]), pre.shape[1]).reshape(pre.shape)
        ok = pre < size[q[0]]
        if q in thetas:
            alpha, beta, gamma, kappa, tau_pre, tau_post = (float(x) for x in thetas[q])
            ns_q = {**ns, "alpha": alpha, "beta": beta, "gamma": gamma, "kappa": kappa, "w_max": w_max}
            ns_q.update(tau_pre=tau_pre * b2.second, tau_post=tau_post * b2.second)
            syn = b2.Synapses(
                pop[q[0]],
                pop[q[1]],
                RULE_MODEL,
                on_pre=pathway_on_pre(q, True),
                on_post=PLASTIC_ON_POST,
                namespace=ns_q,
            )
        else:
            syn = b2.Synapses(
                pop[q[0]], pop[q[1]], FIXED_MODEL, on_pre=pathway_on_pre(q, False), namespace=ns
            )
        # Brian2 keeps the synapses in this order: plastix's, row by row.
        syn.connect(i=pre[ok], j=post[ok])
        syn.w = w[q]
        synapses[q] = syn
    return neurons, synapses
