"""Family ``gd_approx``: per-synapse Hebbian rules that approximate gradient descent.

After Karageorgiou Kaneen, Jones, Chavlis, Körding & Poirazi (NeurIPS 2020
workshop, "Meta-learning synaptic plasticity rules to approximate gradient
descent"): a feedforward network learns a supervised problem online with its
output clamped (or nudged) to the target (:func:`plastix.networks.clamped`),
every synapse with its own coefficients of the soft-bound Hebbian rule
``dw = g2 (1 - w) v_i v_j - g0 w + b`` (:func:`plastix.rules.soft_bound_hebb`,
:func:`plastix.rules.per_synapse`). The outer loop evolves the coefficients so
that the trained network does as well as gradient descent on the same network,
data and number of steps; the final scoring puts the learned rule beside
tuned gradient descent and the best rule with one coefficient set shared by
all synapses.

Two generalisation settings (``task.setting``): ``fixed``, one problem (one
teacher, or the digits), episodes differing in initial weights and samples;
``family``, a new teacher per episode, held-out episodes being new teachers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from plastix import meta, networks, plotting, rules, tasks
from plastix.experiment._family import Family, Memory
from plastix.experiment._family import headline as generic_headline
from plastix.experiment._progress import sig
from plastix.experiment._seeds import HELDOUT, PRUNE, stream
from plastix.experiment.components import itemsize

GD_GRID = np.geomspace(1e-3, 1.0, 13)  # gradient descent's first grid of steps when none is given
SHARED_SIGMA0 = 0.1  # CMA-ES's step on the shared baseline's 3 coefficients per projection


def _predict(sizes):
    names = networks.layer_names(len(sizes) - 1)
    return lambda state, x: networks.clamped_forward([state.w[p] for p in names], x)[0][-1]


def report_memory(cfg, mem: Memory) -> int:
    """The learning curves' episodes, trained after the last generation with their per-step losses."""
    return cfg.task.curve_episodes * (mem.data + mem.state + mem.step + cfg.task.samples * itemsize(cfg))


def _coefficients(exp, theta) -> dict[str, np.ndarray]:
    """Projection -> ``[synapses, k]`` coefficients (one row for a shared rule), for the rules whose
    theta is coefficients (not an MLP's weights)."""
    return {
        p: rules.coefficients(exp.rules[p], theta[p]) for p in sorted(theta) if exp.rules[p].summary is None
    }


def _shared_rules(exp) -> dict[str, rules.Rule]:
    """Each projection's rule with one coefficient set for every synapse: the rule itself when it
    has no per-synapse coefficients."""
    cfg = exp.config
    return {p: r if r.synapses is None else cfg.rules[p].shared() for p, r in exp.rules.items()}


def rules_text(exp, theta) -> dict[str, str]:
    """``l1: dw = 0.1 (1 - w) v_i v_j - 0.01 w + 0.002``; per synapse, mean ± sd over synapses; a rule
    of another kind as it describes itself."""
    out = {}
    for p in sorted(theta):
        if exp.config.rules[p].kind != "soft_bound_hebb":
            out[p] = f"{p}: {rules.describe(exp.rules[p], theta[p])}"
            continue
        c = rules.coefficients(exp.rules[p], theta[p])
        m, s = c.mean(axis=0), c.std(axis=0)
        if exp.rules[p].synapses is None:
            g2, g0, b = (f"{v:.3g}" for v in m)
            out[p] = f"{p}: dw = {g2} (1 - w) v_i v_j - {g0} w + {b}"
        else:
            g2, g0, b = (f"({mv:.3g} ± {sv:.2g})" for mv, sv in zip(m, s, strict=True))
            out[p] = f"{p}: dw_ij = {g2} (1 - w) v_i v_j - {g0} w + {b}  [per synapse: mean ± sd]"
    return out


def _mse_score(cfg, rule_set, n_episodes: int):
    """``theta, key -> (loss, metrics)``: test MSE (objective ``task``) with ``rule_set``, per episode."""
    train, held = cfg.task.tasks(cfg, "task")
    net = cfg.network.network()
    kw = dict(unstable_loss=cfg.meta.unstable_loss, per_episode=True)
    return (
        jax.jit(tasks.meta_loss(rule_set, net, train, n_episodes, **kw)),
        jax.jit(tasks.meta_loss(rule_set, net, held or train, n_episodes, **kw)),
    )


def gd_rules(names) -> dict[str, rules.Rule]:
    """Gradient descent as a rule of the clamped network: ``dW = c * error pre^T`` (``c``: the step / eta)."""
    return {p: rules.polynomial(order=1, variables=("pre", "error")) for p in names}


def gd_theta(names, c) -> dict[str, jax.Array]:
    return {p: jnp.array([0.0, 0.0, 0.0, 1.0]) * c for p in names}  # the "11" monomial: pre * error


def capped(episodes, cap: float) -> np.ndarray:
    """Per-episode test MSE with an unstable episode scoring ``cap``, as in the meta-loss (its MSE
    means nothing), and every MSE capped there."""
    bad = np.asarray(episodes["unstable"], bool)
    return np.where(bad, cap, np.minimum(np.nan_to_num(np.asarray(episodes["mse"]), nan=cap), cap))


def _gd(exp, tune_key, held_key) -> dict:
    """Gradient descent with its step tuned on training episodes (or as given), scored on held-out ones.

    The step is the one of lowest mean test MSE (the metric the run reports) on training episodes,
    found on :data:`GD_GRID`, extended until its best is interior and refined until that best
    moves by less than 2 % (:func:`plastix.meta.tune_scalar`); the tuning curve is kept.
    """
    cfg = exp.config
    names = exp.network.plastic
    eta = cfg.network.eta
    n = cfg.task.heldout_episodes
    tune, score = _mse_score(cfg, gd_rules(names), n)
    cap = cfg.meta.unstable_loss

    def mse(lr: float) -> float:
        return float(capped(tune(gd_theta(names, lr / eta), tune_key)[1]["episodes"], cap).mean())

    if cfg.task.gd_learning_rate:
        lr, tuning = (
            cfg.task.gd_learning_rate,
            {str(cfg.task.gd_learning_rate): mse(cfg.task.gd_learning_rate)},
        )
    else:
        found = meta.tune_scalar(mse, float(GD_GRID[0]), float(GD_GRID[-1]), points=len(GD_GRID))
        lr, tuning = found.best, dict(zip(map(str, found.values), found.scores, strict=True))
    _, m = score(gd_theta(names, lr / eta), held_key)
    return {"learning_rate": lr, "episodes": m["episodes"], "tuning": tuning}


def _shared(exp, theta, key) -> dict[str, jax.Array]:
    """The best shared-coefficient rule: the run's own if it is shared, else CMA-ES on 3 coefficients per
    projection, on the run's meta-loss (same network, task and objective), from the run's start."""
    cfg = exp.config
    if all(exp.rules[p].synapses is None for p in theta):
        return theta
    shared = _shared_rules(exp)
    loss = tasks.meta_loss(
        shared, exp.network, exp.task, cfg.task.episodes, unstable_loss=cfg.meta.unstable_loss
    )
    start = _coefficients(exp, exp.theta0)
    theta0 = {
        p: exp.theta0[p] if exp.rules[p].synapses is None else jnp.asarray(start[p].mean(axis=0), jnp.float32)
        for p in theta
    }
    opt = meta.cma_es(popsize=12, sigma0=SHARED_SIGMA0)
    prepared = opt.prepare(loss, theta0)
    state = opt.init(theta0, cfg.seed)
    for g in range(cfg.task.shared_generations):
        state, _ = opt.step(state, prepared, jax.random.fold_in(key, g))
    return opt.theta(state, prepared)


def _curves(exp, rule_set, net, theta, key, n: int) -> np.ndarray:
    """``[n, steps + 1]`` test MSE after each inner step, on ``n`` held-out episodes."""
    task = exp.heldout_task
    predict = _predict(exp.config.network.sizes)

    def one(k):
        k_ep, k_run = jax.random.split(k)
        episode = task.sample(k_ep)

        def mse(state):
            return jnp.mean((predict(state, episode["test_x"]) - episode["test_target"]) ** 2)

        rec = tasks.Recorder(lambda s: None, lambda c, s, x, new, out: (None, mse(new)))
        final, losses = tasks.unroll(rule_set, net, task, theta, episode, k_run, record=rec)
        first = mse(net.init(jax.random.split(k_run)[0]))  # unroll's initial state (its init key)
        return jnp.concatenate([first[None], losses])

    return np.asarray(jax.jit(jax.vmap(one))(jax.random.split(key, n)))


def _stats(v) -> tuple[float, float]:
    v = np.asarray(v, np.float64)
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0


def _inverse_variance_corr(exp, theta) -> dict[str, float]:
    """With inputs of spread variances (``task.input_spread``), how each per-synapse coefficient of
    the input projection follows them: ``corr_j(mean_i c_ij, 1 / var_j)`` per coefficient name (a
    per-input step size for least squares on such inputs is ``1 / var_j``). Empty otherwise."""
    cfg = exp.config
    t, p = cfg.task, exp.network.plastic[0]
    if t.problem != "teacher" or t.input_spread == 1.0 or exp.rules[p].synapses is None:
        return {}
    n_in = cfg.network.sizes[0]
    key = jax.random.PRNGKey(cfg.seed if t.teacher_seed is None else t.teacher_seed)
    inverse = 1.0 / np.asarray(t.input_scales(key, n_in), np.float64) ** 2
    c = _coefficients(exp, theta)[p].reshape(-1, n_in, exp.rules[p].size)  # [post, pre, k]
    return {
        n: float(np.corrcoef(c[:, :, k].mean(0), inverse)[0, 1]) for k, n in enumerate(exp.rules[p].names)
    }


def example(exp, theta, key, heldout) -> tuple[dict, dict]:
    """Held-out test loss of gradient descent, the best shared rule and the learned rule; learning curves."""
    cfg = exp.config
    names = exp.network.plastic
    held, tune = (
        stream(cfg.seed, HELDOUT),
        stream(cfg.seed, PRUNE),
    )  # the held-out loss's episodes; training ones to tune
    gd = _gd(exp, jax.random.fold_in(tune, 0), held)
    shared_theta = _shared(exp, theta, jax.random.fold_in(tune, 1))
    shared_rules = _shared_rules(exp)
    _, score_shared = _mse_score(cfg, shared_rules, cfg.task.heldout_episodes)
    shared_m = score_shared(shared_theta, held)[1]["episodes"]
    per_synapse = any(exp.rules[p].synapses is not None for p in names)
    methods = {"gd": gd["episodes"], "shared": shared_m, "per_synapse": heldout if per_synapse else None}
    loss_by, se_by, acc_by, unstable_by = {}, {}, {}, {}
    cap = cfg.meta.unstable_loss
    for name, m in methods.items():
        if m is None:
            loss_by[name] = se_by[name] = unstable_by[name] = None
            continue
        bad = np.asarray(m["unstable"], bool)
        loss_by[name], se_by[name] = _stats(capped(m, cap))
        unstable_by[name] = float(bad.mean())
        if "accuracy" in m:
            acc_by[name] = _stats(np.where(bad, 0.0, np.asarray(m["accuracy"])))[0]
    summary = {
        "problem": cfg.task.problem,
        "setting": cfg.task.setting,
        "heldout_loss_by_method": loss_by,
        "heldout_loss_se_by_method": se_by,
        "heldout_unstable_by_method": unstable_by,
        "gd_learning_rate": gd["learning_rate"],
        "gd_tuning": gd["tuning"],
        "shared_theta": {p: list(rules.summarise(shared_rules[p], shared_theta[p]).values()) for p in names},
        "coefficient_spread": {
            p: {
                n: {
                    "mean": float(c[:, k].mean()),
                    "sd": float(c[:, k].std()),
                    "sd_over_abs_mean": float(c[:, k].std() / abs(c[:, k].mean()))
                    if c[:, k].mean()
                    else None,
                }
                for k, n in enumerate(exp.rules[p].names)
            }
            for p, c in _coefficients(exp, theta).items()
        },  # fmt: skip
    }
    if acc_by:
        summary["heldout_accuracy_by_method"] = acc_by
    corr = _inverse_variance_corr(exp, theta)
    if corr:
        summary["coefficient_inverse_variance_corr"] = corr
    if per_synapse:
        gd_l, sh_l, ps_l = loss_by["gd"], loss_by["shared"], loss_by["per_synapse"]
        summary["gap_to_gd"] = ps_l - gd_l
        summary["shared_gap_closed"] = (sh_l - ps_l) / (sh_l - gd_l) if sh_l != gd_l else None
    # Learning curves on a few held-out episodes, and one trained network's weights.
    k_curve = jax.random.fold_in(key, 1)
    n_curve = cfg.task.curve_episodes
    plain = cfg.network.network()
    gd_c = gd["learning_rate"] / cfg.network.eta
    arrays = {
        "curve_gd": _curves(exp, gd_rules(names), plain, gd_theta(names, gd_c), k_curve, n_curve),
        "curve_shared": _curves(exp, shared_rules, plain, shared_theta, k_curve, n_curve),
    }  # fmt: skip
    if per_synapse:
        arrays["curve_per_synapse"] = _curves(exp, exp.rules, plain, theta, k_curve, n_curve)
    k_ep, k_run = jax.random.split(key)
    task = exp.heldout_task
    final = tasks.unroll(exp.rules, exp.network, task, theta, task.sample(k_ep), k_run)
    arrays.update({f"w_{p}": np.asarray(final.w[p]) for p in names})
    return arrays, summary


#: the soft-bound Hebbian rule's coefficients with the terms they multiply, as its printed rule writes them
TERMS = {"g2": "g2: (1 - w) v_i v_j", "g0": "g0: - w", "b": "b: constant"}
CURVES = {"gd": "gradient descent (tuned)", "shared": "shared rule", "per_synapse": "per-synapse rule"}


def figures(exp, history, arrays) -> dict:
    """Coefficient mean ± spread per generation; histograms of per-synapse coefficients; learning
    curves, their legend giving the summary's held-out test MSE per method."""
    names = {p: rule.names for p, rule in exp.rules.items()}
    labels = {p: [TERMS.get(n, n) for n in names[p]] for p in names}
    rows = history.rows
    sd = {
        p: np.array([[r.get(f"theta_{p}_{n}_sd", 0.0) for n in names[p]] for r in rows])
        for p in history.theta
    }
    figs = {"coefficients.png": plotting.coefficient_spread(history.generations, history.theta, sd, labels)}
    if arrays is None:
        return figs
    per = {p: arrays[f"theta_{p}"] for p in names if np.ndim(arrays.get(f"theta_{p}")) == 3}
    if per:
        figs["coefficient_histograms.png"] = plotting.coefficient_histograms(per, names)
    by = (history.summary or {}).get("heldout_loss_by_method")
    figs["learning_curves.png"] = plotting.learning_curves(
        {v: arrays[f"curve_{k}"] for k, v in CURVES.items() if f"curve_{k}" in arrays},
        finals={CURVES[k]: v for k, v in by.items() if k in CURVES} if by else None,
    )
    tuning = (history.summary or {}).get("gd_tuning", {})
    if len(tuning) > 1:  # tuned, not given
        steps = [float(k) for k in tuning]
        curve = {CURVES["gd"]: (steps, list(tuning.values()), history.summary["gd_learning_rate"])}
        figs["tuning.png"] = plotting.tuning_curves(
            curve, "gradient descent's step size", "test MSE (training episodes)", log_y=True
        )
    return figs


def headline(summary: dict) -> dict[str, float | None]:
    """The generic metrics, held-out test MSE (and accuracy) per method, the per-synapse rule's
    gap to gradient descent, and (spread input variances) how its coefficients follow them."""
    out = generic_headline(summary)
    # A method a run has not (no per-synapse rule: no per-synapse score) is no metric of it.
    out.update({f"mse_{k}": v for k, v in summary.get("heldout_loss_by_method", {}).items() if v is not None})
    out.update({f"accuracy_{k}": v for k, v in summary.get("heldout_accuracy_by_method", {}).items()})
    for k in ("gap_to_gd", "shared_gap_closed"):
        if k in summary:
            out[k] = summary[k]
    out.update(
        {
            f"corr_{k}_inverse_variance": v
            for k, v in summary.get("coefficient_inverse_variance_corr", {}).items()
        }
    )
    return out


def summary_lines(summary: dict) -> list[str]:
    loss, se = summary["heldout_loss_by_method"], summary["heldout_loss_se_by_method"]
    acc = summary.get("heldout_accuracy_by_method", {})
    parts = []
    for k in ("gd", "shared", "per_synapse"):
        if loss.get(k) is not None:
            a = f", accuracy {acc[k]:.3f}" if k in acc else ""
            parts.append(f"{k} {sig(loss[k])} ± {sig(se[k], 2)}{a}")
    lines = [f"held-out test MSE: {'; '.join(parts)} (gd step {sig(summary['gd_learning_rate'], 3)})"]
    lines += criterion(summary)
    if summary.get("shared_gap_closed") is not None:
        lines.append(
            f"per-synapse gap to gd {summary['gap_to_gd']:+.4g}; closes "
            f"{100 * summary['shared_gap_closed']:.0f}% of the gap between the shared rule and gd "
            "(above 100 %: below gd's MSE)"
        )
    for p, coeffs in summary["coefficient_spread"].items():
        spread = ", ".join(
            f"{n} {sig(v['mean'], 3)} ± {sig(v['sd'], 2)}"
            + (f" ({sig(v['sd_over_abs_mean'], 3)})" if v["sd_over_abs_mean"] else "")
            for n, v in coeffs.items()
        )  # fmt: skip
        lines.append(f"coefficients {p} (mean ± sd over synapses, sd/|mean|): {spread}")
    return lines


def criterion(summary: dict) -> list[str]:
    """How to read a gd_approx run, with the caveat of per-synapse coefficients on one fixed problem.

    On one fixed problem (``task.setting = "fixed"``: one teacher, or the digits) every synapse can
    store its share of the solution: with ``g2`` near 0 the rule relaxes ``w_ij`` to ``b_ij / g0_ij``,
    which is then the teacher's weight (README, "Per-synapse rules and gradient descent"). A
    per-synapse MSE below gradient descent's there is memory, not learning like gradient descent;
    only a new problem per episode (``task.setting = "family"``) tests the rule as a learning rule.
    """
    lines = [
        "criterion: held-out test MSE after the inner loop's online samples (lower is better), of the "
        "learned rule beside gradient descent (tuned step) and the best rule shared by all synapses"
    ]
    per_synapse = summary["heldout_loss_by_method"].get("per_synapse") is not None
    if per_synapse and summary.get("setting", "fixed") == "fixed":
        digits = summary.get("problem") == "digits"
        test = (
            "the digits are one problem: read the MSE as a fit of it"
            if digits
            else 'task.setting = "family" (a new teacher per episode) tests learning'
        )
        lines.append(
            f"caveat: one fixed problem ({'the digits' if digits else 'one teacher'}): the per-synapse "
            "coefficients can store its solution (with g2 near 0, w_ij relaxes to b_ij / g0_ij, a stored "
            f"weight, whatever the data), so an MSE at or below gd's is memory, not learning like gd; {test}"
        )
    elif per_synapse:
        lines.append(
            "held-out episodes are new teachers: the per-synapse coefficients cannot store their "
            "solution, so the MSE measures the rule as a learning rule"
        )
    return lines


FAMILY = Family(
    name="gd_approx",
    description="per-synapse soft-bound Hebbian rules evolved to learn like gradient descent",
    networks=("clamped",),
    tasks=("supervised",),
    rule="soft_bound_hebb",
    rules_text=rules_text,
    example=example,
    figures=figures,
    summary_lines=summary_lines,
    headline=headline,
    report_memory=report_memory,
    default_rules={"l1": {}},
    tiny={
        "name": "tiny_gd_approx",
        "network": {"kind": "clamped", "sizes": [4, 2]},
        "task": {
            "samples": 8,
            "test_samples": 10,
            "episodes": 2,
            "heldout_episodes": 2,
            "shared_generations": 2,
            "curve_episodes": 2,
        },
        "rules": {"l1": {"init_spread": 0.01}},
        "meta": {"generations": 2, "popsize": 4},
    },  # fmt: skip
)
