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

import functools
import math
import os
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import Field, field_validator

from plastix import networks, plotting, rules, tasks
from plastix.experiment._config import SEED_LIMIT, RuleSection, Section, TaskSection, UserError
from plastix.experiment._datasets import EMNIST_ENV, digits, emnist
from plastix.experiment._family import Family, Memory, Parts, itemsize
from plastix.experiment._family import headline as generic_headline


class MlpNetworkConfig(Section):
    """``[network]`` with ``kind = "mlp"``: :func:`plastix.networks.mlp`."""

    kind: Literal["mlp"] = "mlp"
    sizes: list[int] = Field([64, 40, 30, 20, 10], description="layer sizes, input first (no biases)")
    beta: float = Field(10.0, gt=0, description="softplus smoothness: f(z) = log(1 + exp(beta z)) / beta")
    feedback: Literal["random", "symmetric", "direct"] = "random"
    w_max: float = Field(100.0, gt=0, description="weight bound; reaching it marks a rule unstable")

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, v):
        if len(v) < 2 or min(v) < 1:
            raise ValueError(f"need at least an input and an output layer, each >= 1 unit; got {v}")
        return v


class FewShotTaskConfig(TaskSection):
    """``[task]`` with ``kind = "few_shot"``: :func:`plastix.tasks.few_shot` on a dataset's classes."""

    kind: Literal["few_shot"] = "few_shot"
    dataset: Literal["digits", "emnist"] = Field("digits", description="digits (bundled) or emnist (files)")
    data_dir: str | None = Field(
        None, description="emnist: directory of the IDX files (else $PLASTIX_EMNIST)"
    )
    ways: int = Field(5, ge=2, description="classes per episode M")
    shots: int = Field(50, ge=1, description="training images per class K (online, one per step)")
    queries: int = Field(10, ge=1, description="query images per class Q")
    split: bool = Field(True, description="meta-test classes disjoint from meta-training ones")
    meta_test_classes: int = Field(5, ge=1, description="classes held out for meta-testing (with split)")
    split_seed: int = Field(
        0, ge=0, lt=SEED_LIMIT, description="seed of the class split (fixed across run seeds)"
    )
    episodes: int = Field(1, ge=1, description="episodes per meta-step")
    heldout_episodes: int = Field(50, ge=1, description="meta-test episodes for the final score")
    resample: bool = Field(True, description="fresh episodes every meta-step")


class TermLibraryRuleConfig(RuleSection):
    """``[rules.ff]`` with ``kind = "term_library"``: :func:`plastix.rules.term_library`."""

    references = ("pseudo_gradient",)
    prunable = True

    kind: Literal["term_library"] = "term_library"
    terms: list[str] = Field(list(rules.TERMS), description="terms of the pool, by name")
    per_layer: bool = Field(False, description="a coefficient set per layer (default: shared)")
    init_pseudo_grad: float = Field(1e-3, description="theta0 of the pseudo-gradient (learned too)")
    init_std: float = Field(0.0, ge=0, description="noise on the other coefficients' zero start")

    @field_validator("terms")
    @classmethod
    def _terms(cls, v):
        bad = [t for t in v if t not in rules.TERMS]
        if bad or not v or len(set(v)) != len(v):
            raise ValueError(f"terms must be distinct names from {list(rules.TERMS)}; got {v}")
        return v

    def rule(self, layers: int | None = None) -> rules.Rule:
        return rules.term_library(self.terms, layers, self.init_pseudo_grad, self.init_std)


# [classes, images per class (the smallest class's count), pixels] of each dataset, so a
# config is checked without reading the data (EMNIST balanced: 2400 training images per
# class; user files with fewer are accepted as long as shots + queries fit).
SHAPES = {"digits": (10, 174, 64), "emnist": (47, 2400, 784)}


@functools.lru_cache(maxsize=2)
def _grouped(dataset: str, where: str | None) -> np.ndarray:
    """``[C, n, D]`` images by class, once per process and dataset (every task of a run shares it)."""
    images, labels = digits() if dataset == "digits" else emnist(where)
    return tasks.by_class(images, labels)[0]


def _data(t: FewShotTaskConfig) -> np.ndarray:
    data = _grouped(t.dataset, t.data_dir or os.environ.get(EMNIST_ENV))
    n_classes, _, pixels = SHAPES[t.dataset]
    if data.shape[0] != n_classes or data.shape[2] != pixels or data.shape[1] < t.shots + t.queries:
        raise UserError(
            f"{t.dataset}: {data.shape[0]} classes of {data.shape[1]} images of {data.shape[2]} pixels; "
            f"need {n_classes} classes of >= {t.shots + t.queries} images of {pixels} pixels"
        )
    return data


def ready(cfg) -> None:
    """The dataset can be read (EMNIST: the IDX files are where the config says)."""
    _data(cfg.task)


def pools(t: FewShotTaskConfig, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Meta-training and meta-test class pools; without ``split`` both are every class."""
    if not t.split:
        every = np.arange(n_classes)
        return every, every
    return tasks.split_classes(n_classes, t.meta_test_classes, t.split_seed)


def _angle(a: jax.Array, b: jax.Array) -> jax.Array:
    cos = jnp.sum(a * b) / (jnp.linalg.norm(a) * jnp.linalg.norm(b) + 1e-12)
    return jnp.degrees(jnp.arccos(jnp.clip(cos, -1.0, 1.0)))


def alignment(beta: float, feedback: str):
    """Query-set metrics: per hidden layer ``l``, the angle between the feedback error ``e_l`` and
    backprop's (``angle_error_<l>``), and between ``B_l`` and ``W_{l+1}^T`` (``angle_wb_<l>``; not
    for direct feedback); degrees, 90 = unaligned, 0 = backprop."""

    def metrics(state, x, y):
        w, fb = state.w["ff"], state.aux["feedback"]
        ys, logits = networks.mlp_forward(w, x, beta)
        errs = networks.mlp_errors(w, fb, ys, logits, y, beta, feedback)
        bp = networks.mlp_errors(w, (), ys, logits, y, beta, "symmetric")
        out = {}
        for l in range(1, len(w)):
            out[f"angle_error_{l}"] = _angle(errs[l], bp[l])
            if feedback == "random":
                out[f"angle_wb_{l}"] = _angle(fb[l], w[l].T)
        return out

    return metrics


def check(cfg) -> None:
    n, t = cfg.network, cfg.task
    n_classes, n_per, pixels = SHAPES[t.dataset]
    if n.sizes[0] != pixels:
        raise ValueError(f"network.sizes starts with {n.sizes[0]} inputs; {t.dataset} images have {pixels}")
    if t.shots + t.queries > n_per:
        raise ValueError(
            f"task.shots + task.queries ({t.shots + t.queries}) exceed {n_per} ({t.dataset} images per class)"
        )
    if t.split and t.meta_test_classes >= n_classes:
        raise ValueError(
            f"task.meta_test_classes ({t.meta_test_classes}) must be below the {n_classes} classes"
        )
    if n.sizes[-1] < t.ways:
        raise ValueError(f"network.sizes ends in {n.sizes[-1]} outputs; task.ways is {t.ways}")
    if t.split and t.ways > t.meta_test_classes:
        raise ValueError(
            f"task.ways ({t.ways}) exceeds task.meta_test_classes ({t.meta_test_classes}): "
            "meta-test episodes could not be drawn"
        )


def few_shot_tasks(cfg, feedback: str | None = None) -> tuple[tasks.Task, tasks.Task]:
    """Meta-training and meta-test tasks of ``cfg``; their alignment metrics are those of ``feedback``.

    ``feedback`` (default: the config's) must be the feedback of the network the tasks score.
    """
    n, t = cfg.network, cfg.task
    shape = SHAPES[t.dataset]
    train_pool, test_pool = pools(t, shape[0])
    mode = feedback or n.feedback

    def predict(state, x):
        return networks.mlp_forward(state.w["ff"], x, n.beta)[1]

    def task(pool):
        load = lambda: _data(t)  # noqa: E731  (read on first use, once per process)
        return tasks.few_shot(load, pool, predict, t.ways, t.shots, t.queries, alignment(n.beta, mode), shape)

    return task(train_pool), task(test_pool)


def memory(cfg) -> Memory:
    """The arrays of a few-shot episode (:class:`plastix.experiment.Memory`).

    Per episode: its images ``[ways (shots + queries), pixels]``. Per
    candidate: the weights and the feedback matrices; per step every layer's
    activity and error, the rule's three outer products per layer
    (:func:`plastix.rules.term_library`) and, at the end, the query set's
    activity. Once: the dataset. Chunks of ~ sqrt(steps) (:func:`plastix.tasks.sqrt_chunk`).
    """
    n, t = cfg.network, cfg.task
    s = n.sizes
    weights = sum(a * b for a, b in zip(s[:-1], s[1:], strict=False))
    feedback = {"random": weights, "direct": sum(a * s[-1] for a in s[1:-1]), "symmetric": 0}[n.feedback]
    steps = t.ways * t.shots
    step = 3 * weights + 4 * sum(s) + t.ways * t.queries * sum(s)
    coefficients = sum(len(rc.terms) * (len(s) - 1 if rc.per_layer else 1) for rc in cfg.rules.values())
    classes, per_class, pixels = SHAPES[t.dataset]
    b = itemsize(cfg)
    what = f"layers {s}, {steps} steps, episodes of {t.ways * (t.shots + t.queries)} images"
    return Memory(
        t.ways * (t.shots + t.queries) * s[0] * b,
        (weights + feedback) * b,
        step * b,
        steps,
        max(math.isqrt(steps), 1),
        coefficients,
        what,
        classes * per_class * pixels * 4,
    )


def build(cfg) -> Parts:
    n = cfg.network
    network = networks.mlp(n.sizes, n.beta, n.feedback, n.w_max)
    train, test = few_shot_tasks(cfg)
    layers = len(n.sizes) - 1
    rule_set = {p: rc.rule(layers if rc.per_layer else None) for p, rc in cfg.rules.items()}
    # Inputs drawn a chunk at a time (few_shot's stream needs no key, so the episode is the
    # same): with remat the meta-gradient then keeps ~2 sqrt(steps) carries, not one per step.
    chunk = tasks.sqrt_chunk(train.num_steps)
    return Parts(network, train, rule_set, loss_options={"chunk": chunk}, heldout_task=test)


KEEP = 0.05  # a term counts as kept (and is printed) above this fraction of the largest coefficient


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


def _baseline(exp, feedback: str, heldout_key, tune_key) -> dict:
    """The pseudo-gradient (``F_1``) alone through ``feedback``, its coefficient tuned on meta-training data.

    The coefficient is the best of a log grid by the meta-training loss (other
    episodes than the held-out ones); the score is on the held-out loss's own
    meta-test episodes, as the learned rule's.
    """
    cfg = exp.config
    n, t = cfg.network, cfg.task
    net = networks.mlp(n.sizes, n.beta, feedback, n.w_max)
    rule = {"ff": rules.term_library(["pseudo_grad"])}
    train, test = few_shot_tasks(cfg, feedback)
    kw = dict(unstable_loss=cfg.meta.unstable_loss)
    tune = jax.jit(tasks.meta_loss(rule, net, train, t.heldout_episodes, **kw))
    score = jax.jit(tasks.meta_loss(rule, net, test, t.heldout_episodes, **kw))
    grid = [float(x) for x in np.geomspace(1e-3, 0.3, 6)]
    losses = [float(tune({"ff": jnp.array([lr])}, tune_key)[0]) for lr in grid]
    lr = grid[int(np.argmin(losses))]
    _, m = score({"ff": jnp.array([lr])}, heldout_key)
    return {"accuracy": float(m["accuracy"]), "loss": float(m["task_loss"]), "pseudo_grad": lr}


def example(exp, theta, key, heldout) -> tuple[dict, dict]:
    """Meta-test accuracy of the learned rule and the two baselines; weights after one meta-test episode."""
    from plastix.experiment._runner import HELDOUT, PRUNE, _key

    cfg = exp.config
    k_ep, k_run = jax.random.split(key)
    episode = exp.heldout_task.sample(k_ep)
    final = tasks.unroll(exp.rules, exp.network, exp.heldout_task, theta, episode, k_run)
    held, tune = _key(cfg, HELDOUT), _key(cfg, PRUNE)  # the held-out loss's episodes; training ones to tune
    fa = _baseline(exp, "random", held, tune)
    bp = _baseline(exp, "symmetric", held, tune)
    acc = np.asarray(heldout["accuracy"], np.float64)
    arrays = {f"w_{l + 1}": np.asarray(w) for l, w in enumerate(final.w["ff"])}
    arrays.update(accuracy_fa=np.asarray(fa["accuracy"]), accuracy_bp=np.asarray(bp["accuracy"]))
    names = exp.rules["ff"].names
    summary = {
        "heldout_accuracy": {
            "learned": float(acc.mean()),
            "feedback_alignment": fa["accuracy"],
            "backprop": bp["accuracy"],
        },
        "heldout_accuracy_se": float(acc.std(ddof=1) / np.sqrt(acc.size)) if acc.size > 1 else 0.0,
        "baselines": {"feedback_alignment": fa, "backprop": bp},
        "terms_kept": [names[i] for i in kept(theta["ff"], names)],
        "angles_error_signal": {
            k.removeprefix("angle_error_"): float(np.mean(v))
            for k, v in heldout.items()
            if k.startswith("angle_error_")
        },
    }
    return arrays, summary


def figures(exp, history, arrays) -> dict:
    """Coefficients; query accuracy per meta-step with the FA and BP levels; alignment angles per layer."""
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
        levels = {}
        if arrays is not None:
            levels = {
                "feedback alignment": float(arrays["accuracy_fa"]),
                "backprop": float(arrays["accuracy_bp"]),
            }
        figs["feedback.png"] = plotting.feedback_learning(history.generations, metric, levels)
    return figs


def headline(summary: dict) -> dict[str, float | None]:
    """The generic metrics, meta-test accuracy of the learned rule and of both baselines, and the
    error-signal angle to backprop per hidden layer."""
    out = generic_headline(summary)
    out.update({f"accuracy_{k}": v for k, v in summary.get("heldout_accuracy", {}).items()})
    out.update({f"angle_error_{k}": v for k, v in summary.get("angles_error_signal", {}).items()})
    return out


def summary_lines(summary: dict) -> list[str]:
    acc = summary["heldout_accuracy"]
    angles = ", ".join(f"{k}: {v:.1f}°" for k, v in summary["angles_error_signal"].items())
    return [
        f"meta-test accuracy: learned {acc['learned']:.3f} ± {summary['heldout_accuracy_se']:.3f}, "
        f"feedback alignment {acc['feedback_alignment']:.3f}, backprop {acc['backprop']:.3f}",
        f"error-signal angle to backprop per hidden layer: {angles or '-'}",
        f"terms kept: {', '.join(summary['terms_kept']) or '-'}",
    ]


FAMILY = Family(
    name="feedback",
    description="an MLP learns few-shot classification online through fixed random feedback",
    network=MlpNetworkConfig,
    task=FewShotTaskConfig,
    rules=(TermLibraryRuleConfig,),
    build=build,
    check=check,
    ready=ready,
    rules_text=rules_text,
    example=example,
    figures=figures,
    summary_lines=summary_lines,
    headline=headline,
    memory=memory,
    default_rules={"ff": {"reference": "pseudo_gradient"}},
    tiny={
        "name": "tiny_feedback",
        "network": {"kind": "mlp", "sizes": [64, 12, 10]},
        "task": {"ways": 3, "shots": 4, "queries": 3, "meta_test_classes": 3, "heldout_episodes": 2},
        "rules": {"ff": {"reference": "pseudo_gradient", "init_std": 0.01}},
        "meta": {"generations": 2, "optimizer": "gradient", "learning_rate": 1e-3, "popsize": 4},
    },
)
