"""Family ``pca``: linear rate networks learning principal components (Confavreux et al. 2020, Sec. 3.1-3.2).

Oja's rule rediscovered (one neuron, ``configs/oja.toml``) and Oja +
anti-Hebbian (``M`` outputs with plastic hierarchical lateral connections,
``configs/pca.toml``): a linear network trained by polynomial rules on
Gaussian datasets, scored by the distance of the learned map to the
principal components.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from plastix import analysis, networks, plotting, rules, tasks
from plastix.experiment._family import Family
from plastix.experiment._family import headline as generic_headline
from plastix.experiment._progress import sig
from plastix.experiment._seeds import HELDOUT, stream


def rules_text(exp, theta) -> dict[str, str]:
    """``dw = eta (...)`` for the feedforward rule, ``dl = eta_l (...)`` for the lateral one; a rule
    that is no polynomial as it describes itself (:func:`plastix.rules.describe`)."""
    out = {}
    for p in sorted(theta):
        lhs, scale = ("dl", "eta_l") if p == "lateral" else ("dw", "eta")
        if exp.config.rules[p].kind == "polynomial":
            out[p] = analysis.pretty(theta[p], exp.rules[p], lhs=lhs, scale=scale)
        else:
            out[p] = f"{p}: {rules.describe(exp.rules[p], theta[p])}"
    return out


def pc_angles(heldout) -> list[float | None]:
    """Per output ``i``, the angle (degrees) between its learned weight vector and principal
    component ``i``, mean over the held-out datasets (those whose run stayed stable)."""
    stable = ~np.asarray(heldout.get("unstable", False), bool)
    out, i = [], 0
    while f"cos_{i}" in heldout:
        c = np.asarray(heldout[f"cos_{i}"], np.float64)
        ok = stable & np.isfinite(c)
        out.append(float(np.degrees(np.arccos(np.clip(c[ok], 0.0, 1.0))).mean()) if ok.any() else None)
        i += 1
    return out


def oja_agreement(exp, theta, episode, key) -> tuple[float | None, np.ndarray, np.ndarray]:
    r"""Pearson's correlation of the learned feedforward rule's ``dw`` with Oja's, over the steps and
    synapses of one held-out dataset, both evaluated on the signals the learned rule met:

    .. math:: \mathrm{corr}\big(F_\theta(x, y, w),\ \langle y x - y^2 w \rangle\big)

    1 when the learned function is Oja's up to a positive factor, whatever its parametrisation.
    Also returns both rules' ``dw`` at up to 2,000 of those points (evenly spaced), for the figure.
    """
    rule = exp.rules["ff"]
    oja = rules.polynomial()
    oja_theta = rules.oja(oja).astype(jnp.asarray(0.0).dtype)

    def step(carry, state, x, new, out):
        _, _, local = exp.network.step(state, x)
        ours, _ = rule.update(theta["ff"], local["ff"], carry)
        ref, _ = oja.update(oja_theta, local["ff"], ())
        return carry, (ours.ravel(), ref.ravel())

    w0 = exp.network.init(jax.random.split(key)[0]).w["ff"]
    recorder = tasks.Recorder(lambda s: rule.init_state(w0), step)
    run = jax.jit(
        lambda th, ep, k: tasks.unroll(exp.rules, exp.network, exp.task, th, ep, k, record=recorder)
    )
    _, (ours, ref) = run(theta, episode, key)
    a, b = np.asarray(ours, np.float64).ravel(), np.asarray(ref, np.float64).ravel()
    every = slice(None, None, max(a.size // 2000, 1))
    if not (np.all(np.isfinite(a)) and a.std() > 0 and b.std() > 0):
        return None, a[every], b[every]
    return float(np.corrcoef(a, b)[0, 1]), a[every], b[every]


def oja_pc_angles(exp) -> list[float | None] | None:
    """Oja's rule on the held-out datasets (the held-out stream's keys): its angle to each principal
    component, the yardstick of :func:`pc_angles`; for a network with the one projection ``ff``."""
    if tuple(exp.network.plastic) != ("ff",):
        return None
    key = stream(exp.config.seed, HELDOUT)
    if exp.references.get("ff", ("",))[0] == "oja":
        # The run's own held-out loss takes Oja's theta: compiled already for the reference score.
        theta = {"ff": exp.references["ff"][1].astype(jnp.asarray(0.0).dtype)}
        return pc_angles(jax.jit(exp.heldout_loss)(theta, key)[1]["episodes"])
    oja = rules.polynomial()
    n = exp.config.task.heldout_episodes
    score = jax.jit(tasks.meta_loss({"ff": oja}, exp.network, exp.heldout_task, n, per_episode=True))
    theta = {"ff": rules.oja(oja).astype(jnp.asarray(0.0).dtype)}
    return pc_angles(score(theta, key)[1]["episodes"])


def example(exp, theta, key, heldout) -> tuple[dict, dict]:
    """One held-out dataset trained with the final rule: the map it learned and the true PCs; the
    held-out angle to each principal component (and Oja's rule's on the same datasets), and the
    feedforward rule's agreement with Oja's."""
    k_ep, k_run = jax.random.split(key)
    episode = exp.task.sample(k_ep)
    final = tasks.unroll(exp.rules, exp.network, exp.task, theta, episode, k_run)
    corr, dw_learned, dw_oja = oja_agreement(exp, theta, episode, k_run)
    a, b = np.asarray(dw_learned, np.float64), np.asarray(dw_oja, np.float64)
    summary = {
        "heldout_pc_angles": pc_angles(heldout),
        "oja_heldout_pc_angles": oja_pc_angles(exp),
        "dw_corr_oja": corr,
        # dw_learned ~ c dw_Oja: how much faster than Oja's rule the learned one moves the weights.
        "dw_scale_oja": float(a @ b / (b @ b)) if corr is not None else None,
        "inner_steps": exp.config.task.steps,
    }
    return {
        "w_effective": np.asarray(networks.effective_weights(final)),
        "pcs": np.asarray(episode["pcs"]),
        "dw_learned": dw_learned,
        "dw_oja": dw_oja,
    }, summary


def headline(summary: dict) -> dict[str, float | None]:
    """The generic metrics, the held-out angle to each principal component, and the agreement with Oja."""
    out = generic_headline(summary)
    out.update({f"pc_angle_{i}": v for i, v in enumerate(summary.get("heldout_pc_angles", []))})
    if "dw_corr_oja" in summary:
        out["dw_corr_oja"] = summary["dw_corr_oja"]
    return out


def criterion(summary: dict) -> list[str]:
    """How to read a pca run: what the loss measures, and why a reference rule can score worse.

    The reference rules are scored as published (scale 1) at the network's learning rate for the
    same finite number of inner steps. A learned rule that is a multiple ``c > 1`` of Oja's (its dw
    correlating above 0.9 with Oja's, ``c`` the least-squares slope) moves the
    weights faster and gets closer within those steps (measured on ``configs/oja.toml``: the learned
    rule is 2.0 x Oja's; at 100 steps Oja's rule scores 0.18, twice Oja's 0.09; at 400 steps Oja's
    0.045, twice Oja's 0.076).
    """
    steps = summary.get("inner_steps")
    after = f"after {steps} inner steps" if steps else "after the inner loop"
    lines = [
        "criterion: held-out loss, the distance of each output's weight vector to its unit principal "
        f"component {after} (lower is better, 0 exact); the angles to the reference rules and the dw "
        "correlation say whether the rule is that rule, not how well it learns"
    ]
    ref, held = summary.get("reference_heldout_loss"), summary.get("heldout_loss")
    scale = summary.get("dw_scale_oja")
    if ref is not None and held is not None and held < ref:
        line = (
            "the reference rules are scored as published, at the network's learning rate for the same "
            f"{steps or ''} steps".replace("  ", " ")
        )
        corr = summary.get("dw_corr_oja")
        if scale is not None and scale > 1 and corr is not None and corr > 0.9:  # a multiple of Oja's
            line += (
                f"; the learned rule's dw is {sig(scale, 3)} x Oja's, so it converges faster within those "
                "steps: hence its lower loss (with more steps Oja's rule catches up)"
            )
        lines.append(line)
    return lines


def summary_lines(summary: dict) -> list[str]:
    if "heldout_pc_angles" not in summary:  # runs written before these were measured
        return []

    def degrees(angles):
        return ", ".join("n/a" if a is None else f"{sig(a)}°" for a in angles)

    oja = summary.get("oja_heldout_pc_angles")
    corr = summary.get("dw_corr_oja")
    return [
        f"held-out angle to each principal component: {degrees(summary['heldout_pc_angles'])}"
        + (f" (Oja's rule: {degrees(oja)})" if oja else "")
        + f"; dw correlation with Oja's rule: {sig(corr)}",
        *criterion(summary),
    ]


def term_names(exp) -> dict[str, list[str]]:
    """Each rule's coefficient names as its printed equation writes them (``y²·w`` for a polynomial)."""
    return {
        p: [analysis.monomial(rule, n) for n in rule.names]
        if exp.config.rules[p].kind == "polynomial"
        else list(rule.names)
        for p, rule in exp.rules.items()
    }


def figures(exp, history, arrays) -> dict:
    """``coefficients.png`` (reference and largest terms in colour, named as printed), ``weights.png``
    (learned vectors vs PCs) and ``dw_vs_oja.png``."""
    names = term_names(exp)
    refs = {p: (name, np.asarray(ref)) for p, (name, ref) in exp.references.items()}
    figs = {"coefficients.png": plotting.coefficients(history.generations, history.theta, names, refs)}
    if arrays is not None:
        figs["weights.png"] = plotting.weights_vs_pcs(arrays["w_effective"], arrays["pcs"])
        if "dw_learned" in arrays:  # runs written before this was recorded have none
            figs["dw_vs_oja.png"] = plotting.rule_agreement(
                arrays["dw_learned"], arrays["dw_oja"], "Oja's rule"
            )
    return figs


FAMILY = Family(
    name="pca",
    description="linear rate networks learn principal components: Oja's rule, Oja + anti-Hebbian",
    networks=("linear",),
    tasks=("pca",),
    rule="polynomial",
    rules_text=rules_text,
    example=example,
    figures=figures,
    summary_lines=summary_lines,
    headline=headline,
    default_rules={"ff": {"reference": "oja"}},
    tiny={
        "name": "tiny_pca",
        "network": {"n_in": 3, "n_out": 2, "lateral": True},
        "task": {"steps": 10, "batch": 20, "episodes": 2, "heldout_episodes": 2},
        "rules": {"ff": {"reference": "oja"}, "lateral": {"reference": "anti_hebbian"}},
        "meta": {"generations": 2, "popsize": 4},
    },
)
