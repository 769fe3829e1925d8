"""Family ``pca``: linear rate networks learning principal components (Confavreux et al. 2020, Sec. 3.1-3.2).

Oja's rule rediscovered (one neuron, ``configs/oja.toml``) and Oja +
anti-Hebbian (``M`` outputs with plastic hierarchical lateral connections,
``configs/pca.toml``): a linear network trained by polynomial rules on
Gaussian datasets, scored by the distance of the learned map to the
principal components.
"""

from __future__ import annotations

from typing import Literal

import jax
import numpy as np
from pydantic import Field, field_validator, model_validator

from plastix import analysis, networks, plotting, rules, tasks
from plastix.experiment._config import RuleSection, Section, TaskSection
from plastix.experiment._family import Family, Memory, Parts, itemsize


class LinearNetworkConfig(Section):
    """``[network]`` with ``kind = "linear"``: :func:`plastix.networks.linear`."""

    kind: Literal["linear"] = "linear"
    n_in: int = Field(3, ge=1, description="inputs N")
    n_out: int = Field(1, ge=1, description="outputs M")
    lateral: bool = Field(False, description="plastic hierarchical lateral connections")
    eta: float = Field(1 / 20, gt=0, description="feedforward learning rate")
    eta_lateral: float = Field(1 / 10, gt=0, description="lateral learning rate")
    init_scale: float = Field(0.1, ge=0, description="W0 ~ N(0, init_scale^2 / N)")
    w_max: float = Field(100.0, gt=0, description="weight bound; reaching it marks a rule unstable")

    @model_validator(mode="after")
    def _sizes(self):
        if self.n_out > self.n_in:
            raise ValueError(f"n_out ({self.n_out}) must not exceed n_in ({self.n_in})")
        return self


class PcaTaskConfig(TaskSection):
    """``[task]`` with ``kind = "pca"``: the dataset family and loss of :func:`plastix.tasks.pca`."""

    kind: Literal["pca"] = "pca"
    steps: int = Field(100, ge=1, description="inner steps per episode")
    batch: int = Field(200, ge=1, description="samples per inner step")
    spectrum_scale: float = Field(2.0, gt=0, description="largest eigenvalue")
    spectrum_decay: float = Field(0.7, gt=0, le=1, description="ratio of consecutive eigenvalues")
    scale_spread: float = Field(1.0, ge=1, description="each dataset's spectrum scaled by U_log[1/s, s]")
    samples: int = Field(0, ge=0, description="points per dataset (minibatches drawn from them); 0: stream")
    episodes: int = Field(20, ge=1, description="training datasets per generation")
    heldout_episodes: int = Field(50, ge=1, description="fresh datasets for the final score")
    resample: bool = Field(False, description="draw fresh training datasets every generation")


class PolynomialRuleConfig(RuleSection):
    """``[rules.<projection>]`` with ``kind = "polynomial"``: :func:`plastix.rules.polynomial`."""

    references = ("anti_hebbian", "hebb", "oja")
    prunable = True

    kind: Literal["polynomial"] = "polynomial"
    order: int = Field(2, ge=0, le=4)
    variables: list[str] = ["pre", "post", "w"]
    symbols: dict[str, str] = {}

    @field_validator("variables")
    @classmethod
    def _variables(cls, v):
        bad = [x for x in v if x not in rules.SIDES]
        if bad:
            raise ValueError(f"unknown variable(s) {bad}; allowed: {sorted(rules.SIDES)}")
        return v

    def rule(self, **symbols: str) -> rules.Rule:
        """The rule; ``symbols`` are printing defaults that the section's own ``symbols`` override."""
        return rules.polynomial(
            order=self.order,
            variables=self.variables,
            symbols={**symbols, **self.symbols},
            init_std=self.init_std,
        )


# How the lateral projection's variables print: l_ij from y_j to y_i.
LATERAL_SYMBOLS = {"pre": "y_j", "post": "y_i", "w": "l"}


def check(cfg) -> None:
    n, t = cfg.network, cfg.task
    if 0 < t.samples < n.n_in:
        raise ValueError(f"task.samples ({t.samples}) must be 0 or >= network.n_in ({n.n_in})")


def memory(cfg) -> Memory:
    """The arrays of a pca episode (:class:`plastix.experiment.Memory`).

    Per episode: the ``N x N`` rotation, the dataset's points and a step's
    batch of inputs ``[batch, N]``. Per candidate: the weights ``[M, N]`` (and
    ``[M, M]`` lateral ones); per step the outputs ``[batch, M]``, each rule's
    powers of its batch variables and its moments ``[(order + 1)^2, post,
    pre]`` (:func:`plastix.rules.polynomial`). Once: the lateral mask ``[M, M]``.
    """
    n, t = cfg.network, cfg.task
    shapes = {"ff": (n.n_out, n.n_in), "lateral": (n.n_out, n.n_out)}
    weights = n.n_out * n.n_in + (n.n_out**2 if n.lateral else 0)
    step, coefficients = t.batch * n.n_out, 0
    for p, rc in cfg.rules.items():
        post, pre = shapes.get(p, (0, 0))
        k = rc.order + 1
        step += k * t.batch * (post + pre) + k * k * post * pre
        coefficients += k ** len(rc.variables)
    data = n.n_in**2 + t.samples * n.n_in + t.batch * n.n_in
    what = f"weights {n.n_out} x {n.n_in}, batches of {t.batch} x {n.n_in} inputs"
    if t.samples:
        what += f", datasets of {t.samples} points"
    b = itemsize(cfg)
    return Memory(data * b, weights * b, step * b, t.steps, None, coefficients, what, n.n_out**2 * 4)


def build(cfg) -> Parts:
    n, t = cfg.network, cfg.task
    network = networks.linear(
        n.n_in,
        n.n_out,
        lateral=n.lateral,
        eta=n.eta,
        eta_lateral=n.eta_lateral,
        init_scale=n.init_scale,
        w_max=n.w_max,
    )
    task = tasks.pca(
        n.n_in,
        n.n_out,
        num_steps=t.steps,
        batch=t.batch,
        scale=t.spectrum_scale,
        decay=t.spectrum_decay,
        scale_spread=t.scale_spread,
        samples=t.samples,
    )
    rule_set = {p: rc.rule(**(LATERAL_SYMBOLS if p == "lateral" else {})) for p, rc in cfg.rules.items()}
    return Parts(network, task, rule_set)


def rules_text(exp, theta) -> dict[str, str]:
    """``dw = eta (...)`` for the feedforward rule, ``dl = eta_l (...)`` for the lateral one."""
    return {
        p: analysis.pretty(
            theta[p],
            exp.rules[p],
            lhs="dl" if p == "lateral" else "dw",
            scale="eta_l" if p == "lateral" else "eta",
        )
        for p in sorted(theta)
    }


def example(exp, theta, key, heldout) -> tuple[dict, dict]:
    """One held-out dataset trained with the final rule: the map it learned and the true PCs."""
    k_ep, k_run = jax.random.split(key)
    episode = exp.task.sample(k_ep)
    final = tasks.unroll(exp.rules, exp.network, exp.task, theta, episode, k_run)
    return {
        "w_effective": np.asarray(networks.effective_weights(final)),
        "pcs": np.asarray(episode["pcs"]),
    }, {}


def figures(exp, history, arrays) -> dict:
    """``coefficients.png`` (reference terms in colour) and ``weights.png`` (learned vectors vs PCs)."""
    names = {p: rule.names for p, rule in exp.rules.items()}
    refs = {p: (name, np.asarray(ref)) for p, (name, ref) in exp.references.items()}
    figs = {"coefficients.png": plotting.coefficients(history.generations, history.theta, names, refs)}
    if arrays is not None:
        figs["weights.png"] = plotting.weights_vs_pcs(arrays["w_effective"], arrays["pcs"])
    return figs


FAMILY = Family(
    name="pca",
    description="linear rate networks learn principal components: Oja's rule, Oja + anti-Hebbian",
    network=LinearNetworkConfig,
    task=PcaTaskConfig,
    rules=(PolynomialRuleConfig,),
    build=build,
    check=check,
    rules_text=rules_text,
    example=example,
    figures=figures,
    memory=memory,
    default_rules={"ff": {"reference": "oja"}},
    tiny={
        "name": "tiny_pca",
        "network": {"n_in": 3, "n_out": 2, "lateral": True},
        "task": {"steps": 10, "batch": 20, "episodes": 2, "heldout_episodes": 2},
        "rules": {"ff": {"reference": "oja"}, "lateral": {"reference": "anti_hebbian"}},
        "meta": {"generations": 2, "popsize": 4},
    },
)
