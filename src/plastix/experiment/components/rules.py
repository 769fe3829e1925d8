"""The rule sections shipped with plastix: ``[rules.<projection>]`` of each rule kind."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from plastix import rules
from plastix.experiment.components._base import Projection, RuleSection, register


@register
class PolynomialRuleConfig(RuleSection):
    """``kind = "polynomial"``: :func:`plastix.rules.polynomial`, one coefficient per monomial."""

    description = "a coefficient per monomial of the local variables (Oja, anti-Hebbian, Hebb)"
    tiny: ClassVar[dict] = {"init_std": 0.01}
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

    def needs(self) -> tuple[str, ...]:
        # Its update reads w for the shape of dw, whether or not w is a variable.
        return tuple(self.variables) + (() if "w" in self.variables else ("w",))

    def rule(self, projection: Projection) -> rules.Rule:
        """The rule; the projection's symbols are printing defaults that the section's own override."""
        return rules.polynomial(
            order=self.order,
            variables=self.variables,
            symbols={**projection.symbols, **self.symbols},
            init_std=self.init_std,
        )

    def coefficients(self, projection: Projection) -> int:
        return (self.order + 1) ** len(self.variables)

    def temporaries(self, projection: Projection, batch: int) -> int:
        # Powers of the batch variables, and the moments [(order + 1)^2, post, pre].
        post, pre = projection.shape
        k = self.order + 1
        return k * batch * (post + pre) + k * k * post * pre


@register
class SpikeTraceRuleConfig(RuleSection):
    """``kind = "spike_trace"``: :func:`plastix.rules.spike_trace`.

    Theta is ``(alpha, beta, gamma, kappa, tau_pre, tau_post)``: four per-spike
    weight increments and two trace time constants in seconds. The angle to the
    reference is taken over the four increments only (``angle_terms``): with
    the time constants in, it would mostly compare two numbers in seconds with
    weight increments a hundred times smaller.
    """

    description = "pair-based spike-timing rule on exponential traces, 4 increments and 2 time constants"
    tiny: ClassVar[dict] = {"init_std": 0.01}
    references = ("vogels_istdp",)
    angle_terms = 4
    sparse = True

    kind: Literal["spike_trace"] = "spike_trace"
    reference: str | None = Field(None, description="named rule to measure the angle to (vogels_istdp)")
    init_std: float = Field(
        1e-3, ge=0, description="random init: increments ~ N(0, init_std^2), taus log-uniform in [5, 50] ms"
    )
    tau_min: float = Field(1e-4, gt=0, description="smallest trace time constant (a floor), s")
    tau_max: float = Field(10.0, gt=0, description="largest trace time constant, s")
    signs: bool = Field(False, description="impose alpha <= 0 <= beta (a stable rate fixed point)")
    increment_max: float | None = Field(
        None, gt=0, description="bound on |alpha|, |beta|, |gamma|, |kappa|, weight units per spike"
    )
    l1: float = Field(0.0, ge=0, description="L1 prior on the four increments, per weight unit")

    @model_validator(mode="after")
    def _taus(self):
        if self.init == "zero":
            raise ValueError("init = 'zero' would put both trace time constants at tau_min; use 'random'")
        if self.tau_min >= self.tau_max:
            raise ValueError(f"tau_min ({self.tau_min}) must be below tau_max ({self.tau_max})")
        return self

    def needs(self) -> tuple[str, ...]:
        return ("pre", "post", "w", "dt")

    def rule(self, projection: Projection) -> rules.Rule:
        return rules.spike_trace(
            tau_min=self.tau_min,
            tau_max=self.tau_max,
            init_std=self.init_std,
            signs=self.signs,
            increment_max=self.increment_max,
            l1=self.l1,
        )

    def coefficients(self, projection: Projection) -> int:
        return len(rules.SPIKE_TRACE_NAMES)

    def temporaries(self, projection: Projection, batch: int) -> int:
        # Its outer products of spikes and traces, [post, pre] a few times; on a sparse projection
        # the changes of the synapses of neurons that spiked, which the network's footprint counts.
        post, pre = projection.shape
        return 0 if projection.sparse else 2 * post * pre

    def state_size(self, projection: Projection) -> int:
        return sum(projection.shape)  # a trace per presynaptic and per postsynaptic neuron


@register
class TermLibraryRuleConfig(RuleSection):
    """``kind = "term_library"``: :func:`plastix.rules.term_library` on a layered projection."""

    description = "a coefficient per term of a pool of pseudo-gradient and Hebbian terms, per layer"
    tiny: ClassVar[dict] = {"init_std": 0.01}
    references = ("pseudo_gradient",)
    prunable = True
    layered = True

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

    def needs(self) -> tuple[str, ...]:
        return ("pre", "post", "error", "pre_error", "w")

    def rule(self, projection: Projection) -> rules.Rule:
        layers = len(projection.layers or (projection.shape,))
        return rules.term_library(
            self.terms, layers if self.per_layer else None, self.init_pseudo_grad, self.init_std
        )

    def coefficients(self, projection: Projection) -> int:
        return len(self.terms) * (len(projection.layers or (projection.shape,)) if self.per_layer else 1)

    def temporaries(self, projection: Projection, batch: int) -> int:
        # Three outer products per layer (its terms are sums of them).
        return 3 * sum(post * pre for post, pre in projection.layers or (projection.shape,))


@register
class SoftBoundRuleConfig(RuleSection):
    """``kind = "soft_bound_hebb"``: :func:`plastix.rules.soft_bound_hebb`, shared or per synapse."""

    description = "soft-bound Hebbian growth, decay and drift; one set of 3 or one per synapse"
    tiny: ClassVar[dict] = {"init_spread": 0.01}

    kind: Literal["soft_bound_hebb"] = "soft_bound_hebb"
    per_synapse: bool = Field(True, description="a coefficient set per synapse (False: one shared set)")
    parametrisation: Literal["free", "mean_deviation"] = "free"
    deviation_penalty: float = Field(0.0, ge=0, description="mean_deviation: lambda on mean |deviation|^2")
    init_spread: float = Field(0.0, ge=0, description="per-synapse sd added to the initial coefficients")
    init_mean: list[float] = Field(
        [0.05, 0.05, 0.0], description="mean of the initial (g2, g0, b): a stable start (decay g0 > 0)"
    )
    init_std: float = Field(0.01, ge=0, description="theta0 ~ N(init_mean, init_std^2) when init = 'random'")

    @field_validator("init_mean")
    @classmethod
    def _three(cls, v):
        if len(v) != 3:
            raise ValueError(f"init_mean needs the 3 coefficients (g2, g0, b), got {v}")
        return v

    def needs(self) -> tuple[str, ...]:
        return ("pre", "post", "w")

    def shared(self) -> rules.Rule:
        return rules.soft_bound_hebb(tuple(self.init_mean), self.init_std)

    def rule(self, projection: Projection) -> rules.Rule:
        if not self.per_synapse:
            return self.shared()
        return rules.per_synapse(
            self.shared(), projection.shape, self.parametrisation, self.deviation_penalty, self.init_spread
        )

    def coefficients(self, projection: Projection) -> int:
        post, pre = projection.shape
        return 3 * (post * pre if self.per_synapse else 1)

    def temporaries(self, projection: Projection, batch: int) -> int:
        # A few per-synapse terms (:func:`plastix.rules.per_synapse`), whether shared or not.
        post, pre = projection.shape
        return 12 * post * pre


@register
class MlpRuleConfig(RuleSection):
    """``kind = "mlp"``: :func:`plastix.rules.mlp`, ``dw = scale * MLP_theta(local signals)`` per synapse.

    ``inputs`` are chosen by name from what the network gives the projection
    (``pre, post, w`` for rate networks); ``pre_trace``/``post_trace`` are
    traces the rule keeps of a spiking network's ``pre``/``post`` spikes.
    ``gates`` switch one output each (``["pre", "post"]``: a change at each
    pre- and postsynaptic spike). Theta is the MLP's weights, a pytree;
    ``metrics.csv`` keeps the norm of each weight array.
    """

    description = "dw = scale * MLP(local signals), elementwise per synapse; theta: the MLP's weights"
    tiny: ClassVar[dict] = {"hidden": [4], "scale": 0.01}

    kind: Literal["mlp"] = "mlp"
    inputs: list[str] = Field(["pre", "post", "w"], description="local signals the MLP reads")
    hidden: list[int] = Field([16], description="hidden layer sizes")
    gates: list[str] = Field([], description="signals that gate one output each (spikes)")
    scale: float = Field(1.0, gt=0, description="dw per unit of the MLP's output")
    activation: Literal["tanh", "relu", "softplus", "sigmoid"] = "tanh"
    tau_pre: float = Field(0.02, gt=0, description="pre_trace time constant, s (traces the rule keeps)")
    tau_post: float = Field(0.02, gt=0, description="post_trace time constant, s")
    init_std: float = Field(0.1, ge=0, description="scale of the output layer's initial weights")

    @field_validator("inputs", "gates")
    @classmethod
    def _signals(cls, v):
        bad = [x for x in v if x not in rules.MLP_SIDES]
        if bad or len(set(v)) != len(v):
            raise ValueError(f"distinct signals from {sorted(rules.MLP_SIDES)}; got {v}")
        return v

    @field_validator("hidden")
    @classmethod
    def _hidden(cls, v):
        if any(h < 1 for h in v):
            raise ValueError(f"hidden sizes must be >= 1, got {v}")
        return v

    @model_validator(mode="after")
    def _some_input(self):
        if not self.inputs:
            raise ValueError("inputs: the MLP needs at least one signal")
        if self.init == "zero":
            raise ValueError("init = 'zero' makes every hidden unit alike (no gradient separates them)")
        return self

    def _rule(self, symbols=None) -> rules.Rule:
        return rules.mlp(
            self.inputs, self.hidden, self.gates, self.scale, self.init_std, self.activation,
            self.tau_pre, self.tau_post, symbols,
        )  # fmt: skip

    def needs(self) -> tuple[str, ...]:
        return self._rule().needs

    def rule(self, projection: Projection) -> rules.Rule:
        return self._rule(projection.symbols)

    def coefficients(self, projection: Projection) -> int:
        sizes = (len(self.inputs), *self.hidden, max(len(self.gates), 1))
        return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))

    def temporaries(self, projection: Projection, batch: int) -> int:
        post, pre = projection.shape
        return max(batch, 1) * post * pre * (len(self.inputs) + 2 * sum(self.hidden) + 2)

    def state_size(self, projection: Projection) -> int:
        traced = any(v in ("pre_trace", "post_trace") for v in self.inputs)
        return sum(projection.shape) if traced else 0
