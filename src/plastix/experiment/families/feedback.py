"""Family ``feedback``: plasticity with random feedback (Shervani-Tabar & Rosenbaum 2023, Nat. Commun. 14).

A multilayer perceptron (:func:`plastix.networks.mlp`) learns a few-shot
classification episode online (:func:`plastix.tasks.few_shot`) through a fixed
feedback pathway, with a term-library rule (:func:`plastix.rules.term_library`);
the outer loop learns the rule's coefficients, by gradient descent through the
unrolled inner loop (or CMA-ES). Held-out episodes draw from classes that
meta-training never saw (``task.meta_test_classes``); ``task.split = false``
is the published protocol (one pool for both).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from plastix import meta, plotting, rules, tasks
from plastix.experiment._family import Family
from plastix.experiment._family import headline as generic_headline
from plastix.experiment._progress import sig
from plastix.experiment._seeds import HELDOUT, PRUNE, stream

KEEP = 0.05  # a term counts as kept (and is printed) above this fraction of the largest coefficient
#: The terms of the rule Shervani-Tabar & Rosenbaum (2023) report meta-learned from the pool (Fig. 3).
PUBLISHED_TERMS = ("pseudo_grad", "error_hebb", "oja")


def kept(theta, names) -> list[int]:
    """Indices of the coefficients at least ``KEEP`` times the largest, largest first."""
    c = np.abs(np.asarray(theta, np.float64).ravel())
    big = c.max() if c.size else 0.0
    return [int(i) for i in np.argsort(-c, kind="stable") if big > 0 and c[i] >= KEEP * big]


def rules_text(exp, theta) -> dict[str, str]:
    """``dW = 0.01 pseudo_grad - 0.003 error_hebb ...`` over the kept terms."""
    out = {}
    for p in sorted(theta):
        c = np.asarray(theta[p], np.float64).ravel()
        names = exp.rules[p].names
        terms = [f"{'-' if c[i] < 0 else '+'} {abs(c[i]):.3g} {names[i]}" for i in kept(c, names)]
        if terms:  # the leading sign without its space: "dW = -0.1 error_hebb + ..."
            terms[0] = terms[0].removeprefix("+ ").replace("- ", "-", 1)
        out[p] = "dW = " + (" ".join(terms) or "0")
    return out


def _baseline(exp, feedback: str, heldout_key, tune_key, adam: bool = False) -> dict:
    """The pseudo-gradient (``F_1``) alone through ``feedback``, its coefficient tuned on meta-training data;
    with ``adam``, Adam's step on it (:func:`plastix.rules.adam_step`), its step size tuned likewise.

    The coefficient is the one of highest query accuracy, the metric the run reports, on
    meta-training episodes (other episodes than the held-out ones), found on a log grid from 1e-3
    to 0.3 extended until its best is interior and refined until that best moves by less than 2 %
    (:func:`plastix.meta.tune_scalar`); the score is on the held-out loss's own meta-test
    episodes, as the learned rule's. The tuning curve is kept (``tuning``).
    """
    cfg = exp.config
    t = cfg.task
    net = cfg.network.network(feedback=feedback)
    pseudo_grad = rules.term_library(["pseudo_grad"])
    rule = {"ff": rules.adam_step(pseudo_grad) if adam else pseudo_grad}
    train, test = t.tasks(cfg, feedback)
    kw = dict(unstable_loss=cfg.meta.unstable_loss)
    tune = jax.jit(tasks.meta_loss(rule, net, train, t.heldout_episodes, **kw))
    score = jax.jit(tasks.meta_loss(rule, net, test, t.heldout_episodes, **kw))

    def error(lr: float) -> float:  # 1 - meta-training accuracy: lower is better
        return 1.0 - float(tune({"ff": jnp.array([lr])}, tune_key)[1]["accuracy"])

    found = meta.tune_scalar(error, *((1e-5, 0.03) if adam else (1e-3, 0.3)), points=6)
    _, m = score({"ff": jnp.array([found.best])}, heldout_key)
    return {
        "accuracy": float(m["accuracy"]),
        "loss": float(m["task_loss"]),
        "pseudo_grad": found.best,
        "tuning": {
            "pseudo_grad": list(found.values),
            "accuracy": [1.0 - e for e in found.scores],
            "interior": found.interior,
        },
    }


def example(exp, theta, key, heldout) -> tuple[dict, dict]:
    """Meta-test accuracy of the learned rule and the two baselines; weights after one meta-test episode."""
    cfg = exp.config
    k_ep, k_run = jax.random.split(key)
    episode = exp.heldout_task.sample(k_ep)
    final = tasks.unroll(exp.rules, exp.network, exp.heldout_task, theta, episode, k_run)
    held, tune = (
        stream(cfg.seed, HELDOUT),
        stream(cfg.seed, PRUNE),
    )  # the held-out loss's episodes; training ones to tune
    fa = _baseline(exp, "random", held, tune)
    bp = _baseline(exp, "symmetric", held, tune)
    bp_adam = _baseline(exp, "symmetric", held, tune, adam=True)
    acc = np.asarray(heldout["accuracy"], np.float64)
    arrays = {f"w_{l + 1}": np.asarray(w) for l, w in enumerate(final.w["ff"])}
    arrays.update(
        accuracy_fa=np.asarray(fa["accuracy"]),
        accuracy_bp=np.asarray(bp["accuracy"]),
        accuracy_bp_adam=np.asarray(bp_adam["accuracy"]),
    )
    names = exp.rules["ff"].names
    summary = {
        "heldout_accuracy": {
            "learned": float(acc.mean()),
            "feedback_alignment": fa["accuracy"],
            "backprop": bp["accuracy"],
            "backprop_adam": bp_adam["accuracy"],
        },
        "heldout_accuracy_se": float(acc.std(ddof=1) / np.sqrt(acc.size)) if acc.size > 1 else 0.0,
        "baselines": {"feedback_alignment": fa, "backprop": bp, "backprop_adam": bp_adam},
        "terms_kept": [names[i] for i in kept(theta["ff"], names)],
        "chance": 1.0 / cfg.task.ways,
        "heldout_classes_unseen": bool(cfg.task.split),
        "angles_error_signal": {
            k.removeprefix("angle_error_"): float(np.mean(v))
            for k, v in heldout.items()
            if k.startswith("angle_error_")
        },
    }
    return arrays, summary


METHODS = {
    "learned": "learned",
    "feedback_alignment": "feedback alignment",
    "backprop": "backprop",
    "backprop_adam": "backprop (Adam)",
}


def figures(exp, history, arrays) -> dict:
    """Coefficients; the meta-test accuracy of the learned rule beside feedback alignment and backprop
    (the summary's numbers), query accuracy per meta-step, alignment angles per layer; the
    baselines' tuning curves."""
    names = {p: rule.names for p, rule in exp.rules.items()}
    refs = {p: (name, np.asarray(ref)) for p, (name, ref) in exp.references.items()}
    figs = {"coefficients.png": plotting.coefficients(history.generations, history.theta, names, refs)}
    rows = history.rows
    metric = {
        k[5:]: np.array([r[k] for r in rows])
        for k in rows[0]
        if k.startswith("task_") and k != "task_loss_best"
    }
    if "accuracy" in metric:
        summary = history.summary or {}
        acc = summary.get("heldout_accuracy", {})
        meta_test = {METHODS.get(k, k): float(v) for k, v in acc.items()}
        se = {"learned": summary["heldout_accuracy_se"]} if "heldout_accuracy_se" in summary else None
        if not acc and arrays is not None and "accuracy_fa" in arrays:  # no summary: the baselines
            meta_test = {
                "feedback alignment": float(arrays["accuracy_fa"]),
                "backprop": float(arrays["accuracy_bp"]),
            }
        figs["feedback.png"] = plotting.feedback_learning(
            history.generations, metric, meta_test, se, chance=summary.get("chance")
        )
    baselines = (history.summary or {}).get("baselines", {})
    curves = {
        METHODS.get(k, k): (b["tuning"]["pseudo_grad"], b["tuning"]["accuracy"], b["pseudo_grad"])
        for k, b in baselines.items()
        if "tuning" in b  # a summary written before the curves were kept has none
    }
    if curves:
        figs["tuning.png"] = plotting.tuning_curves(
            curves, "pseudo-gradient coefficient (Adam: its step size)", "meta-training query accuracy"
        )
    return figs


def headline(summary: dict) -> dict[str, float | None]:
    """The generic metrics, meta-test accuracy of the learned rule and of both baselines, the
    error-signal angle to backprop per hidden layer, and how many terms the rule keeps (of the
    published three, and others)."""
    out = generic_headline(summary)
    out.update({f"accuracy_{k}": v for k, v in summary.get("heldout_accuracy", {}).items()})
    out.update({f"angle_error_{k}": v for k, v in summary.get("angles_error_signal", {}).items()})
    if "terms_kept" in summary:  # the published rule keeps three: pseudo_grad, error_hebb and oja
        kept = set(summary["terms_kept"])
        out["terms_kept"] = len(kept)
        out["published_terms_kept"] = len(kept & set(PUBLISHED_TERMS))
        out["other_terms_kept"] = len(kept - set(PUBLISHED_TERMS))
    return out


def criterion(summary: dict) -> str:
    """How to read a feedback run: the meta-test accuracy is the result, the baselines its yardsticks."""
    chance = f" (chance {sig(summary['chance'], 3)})" if "chance" in summary else ""
    classes = (
        "classes never seen in meta-training"
        if summary.get("heldout_classes_unseen", True)
        else "classes drawn from the meta-training pool"
    )
    return (
        f"criterion: meta-test query accuracy on {classes}{chance}; success is the learned rule above "
        "feedback alignment (the pseudo-gradient alone through the same random feedback) and near "
        "backprop; the angles and the meta-training accuracy of the figures are diagnostics"
    )


def summary_lines(summary: dict) -> list[str]:
    acc = summary["heldout_accuracy"]
    angles = ", ".join(f"{k}: {sig(v, 3)}°" for k, v in summary["angles_error_signal"].items())
    return [
        f"meta-test accuracy: learned {acc['learned']:.3f} ± {summary['heldout_accuracy_se']:.3f}, "
        f"feedback alignment {acc['feedback_alignment']:.3f}, backprop {acc['backprop']:.3f}"
        + (f", backprop with Adam {acc['backprop_adam']:.3f}" if "backprop_adam" in acc else ""),
        criterion(summary),
        f"error-signal angle to backprop per hidden layer: {angles or '-'}",
        f"terms kept: {', '.join(summary['terms_kept']) or '-'}",
    ]


FAMILY = Family(
    name="feedback",
    description="an MLP learns few-shot classification online through fixed random feedback",
    networks=("mlp",),
    tasks=("few_shot",),
    rule="term_library",
    rules_text=rules_text,
    example=example,
    figures=figures,
    summary_lines=summary_lines,
    headline=headline,
    default_rules={"ff": {"reference": "pseudo_gradient"}},
    tiny={
        "name": "tiny_feedback",
        "network": {"kind": "mlp", "sizes": [64, 12, 10]},
        "task": {"ways": 3, "shots": 4, "queries": 3, "meta_test_classes": 3, "heldout_episodes": 2},
        "rules": {"ff": {"reference": "pseudo_gradient", "init_std": 0.01}},
        "meta": {"generations": 2, "optimizer": "gradient", "learning_rate": 1e-3},
    },
)
