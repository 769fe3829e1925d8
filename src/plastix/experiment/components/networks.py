"""The network sections shipped with plastix: ``[network]`` of each network kind."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from plastix import networks
from plastix.experiment.components._base import Footprint, NetworkSection, Projection, itemsize, register

# LIF parameters that must be positive (time constants divide, the leak sets the unit) and
# those that must not be negative (conductance per unit weight, the refractory period).
POSITIVE = ("tau_m", "tau_exc", "tau_inh", "g_leak")
NON_NEGATIVE = ("gbar_exc", "gbar_inh", "t_ref")
# How the lateral projection's variables print: l_ij from y_j to y_i.
LATERAL_SYMBOLS = {"pre": "y_j", "post": "y_i", "w": "l"}
RATE = ("pre", "post", "w")


def in_section(section: str, factory, *args, **kwargs):
    """Call a builder; its ``ValueError`` comes back naming the config section."""
    try:
        return factory(*args, **kwargs)
    except ValueError as err:
        raise ValueError(f"{section}: {err}") from None


@register
class LinearNetworkConfig(NetworkSection):
    """``kind = "linear"``: :func:`plastix.networks.linear`, ``y = W x`` (+ hierarchical lateral ``L``)."""

    description = "linear rate neurons y = W x, optionally with plastic hierarchical lateral weights"
    tiny: ClassVar[dict] = {"n_in": 3, "n_out": 2, "lateral": True}
    gives = ("rates", "linear_map")

    kind: Literal["linear"] = "linear"
    n_in: int = Field(3, ge=1, description="inputs N")
    n_out: int = Field(1, ge=1, description="outputs M")
    lateral: bool = Field(False, description="plastic hierarchical lateral connections")
    eta: float = Field(1 / 20, gt=0, description="feedforward learning rate")
    eta_lateral: float = Field(1 / 10, gt=0, description="lateral learning rate")
    init_scale: float = Field(0.1, ge=0, description="W0 ~ N(0, init_scale^2 / N)")
    w_max: float = Field(100.0, gt=0, description="weight bound; reaching it marks a rule unstable")

    def unused(self) -> dict[str, str]:
        return {} if self.lateral else {"eta_lateral": "lateral = false"}

    @model_validator(mode="after")
    def _sizes(self):
        if self.n_out > self.n_in:
            raise ValueError(f"n_out ({self.n_out}) must not exceed n_in ({self.n_in})")
        return self

    def projections(self) -> dict[str, Projection]:
        out = {"ff": Projection(RATE, (self.n_out, self.n_in))}
        if self.lateral:
            out["lateral"] = Projection(RATE, (self.n_out, self.n_out), symbols=LATERAL_SYMBOLS)
        return out

    def footprint(self, cfg) -> Footprint:
        """The weights ``[M, N]`` (and ``[M, M]`` lateral ones), a step's outputs ``[batch, M]``;
        once, the lateral mask."""
        weights = self.n_out * self.n_in + (self.n_out**2 if self.lateral else 0)
        b = itemsize(cfg)
        step = cfg.task.step_batch(cfg) * self.n_out
        return Footprint(0, weights * b, step * b, self.n_out**2 * 4, f"weights {self.n_out} x {self.n_in}")

    def network(self) -> networks.Network:
        return networks.linear(
            self.n_in,
            self.n_out,
            lateral=self.lateral,
            eta=self.eta,
            eta_lateral=self.eta_lateral,
            init_scale=self.init_scale,
            w_max=self.w_max,
        )


@register
class LifNetworkConfig(NetworkSection):
    """``kind = "lif"``: one conductance LIF neuron (:func:`plastix.networks.lif`) with tuned
    excitatory and plastic inhibitory Poisson afferents in groups (Vogels et al. 2011)."""

    description = "a conductance LIF neuron with tuned excitatory and plastic inhibitory afferent groups"
    tiny: ClassVar[dict] = {
        "n_exc": 40,
        "n_inh": 8,
        "n_groups": 4,
        "params": {"gbar_exc": 0.28, "gbar_inh": 0.7},
    }
    gives = ("spikes", "afferent_groups")

    kind: Literal["lif"] = "lif"
    n_exc: int = Field(800, ge=1, description="excitatory afferents")
    n_inh: int = Field(200, ge=1, description="inhibitory (plastic) afferents")
    n_groups: int = Field(8, ge=1, description="input groups (both counts must be multiples)")
    dt: float = Field(1e-4, gt=0, description="time step, s")
    preferred: float = Field(5.0, description="preferred group P of the excitatory tuning (1-based)")
    w_exc_noise: float = Field(0.1, ge=0, description="excitatory weights + U(0, w_exc_noise)")
    w_inh_init: float = Field(0.1, ge=0, description="initial inhibitory weight, units of gbar_inh")
    w_inh_max: float = Field(
        100.0, gt=0, description="inhibitory weight bound; reaching it marks a rule unstable"
    )
    params: dict[str, float] = Field({}, description="overrides of networks.VOGELS_2011 (tau_m = 0.02, ...)")

    @field_validator("params")
    @classmethod
    def _params(cls, v):
        bad = sorted(set(v) - set(networks.VOGELS_2011))
        if bad:
            raise ValueError(f"unknown LIF parameter(s) {bad}; allowed: {sorted(networks.VOGELS_2011)}")
        for k in POSITIVE:
            if k in v and not v[k] > 0:
                raise ValueError(f"{k} must be > 0, got {v[k]}")
        for k in NON_NEGATIVE:
            if k in v and v[k] < 0:
                raise ValueError(f"{k} must be >= 0, got {v[k]}")
        return v

    @model_validator(mode="after")
    def _groups(self):
        if self.n_exc % self.n_groups or self.n_inh % self.n_groups:
            raise ValueError(
                f"n_exc ({self.n_exc}) and n_inh ({self.n_inh}) "
                f"must be multiples of n_groups ({self.n_groups})"
            )
        return self

    def projections(self) -> dict[str, Projection]:
        symbols = {"pre": "S_j", "post": "S_i", "pre_trace": "x_j", "post_trace": "x_i"}
        return {"inh": Projection(("pre", "post", "w", "dt"), (1, self.n_inh), symbols=symbols)}

    def footprint(self, cfg) -> Footprint:
        """The afferents' weights and a few afferent-sized temporaries a step."""
        aff = self.n_exc + self.n_inh
        b = itemsize(cfg)
        return Footprint(0, aff * b, 4 * aff * b, 0, f"{aff} afferents")

    def network(self) -> networks.Network:
        return in_section(
            "network",
            networks.lif,
            self.n_exc,
            self.n_inh,
            self.n_groups,
            dt=self.dt,
            preferred=self.preferred,
            w_exc_noise=self.w_exc_noise,
            w_inh_init=self.w_inh_init,
            w_inh_max=self.w_inh_max,
            **self.params,
        )


SPIKE_SYMBOLS = {"pre": "S_j", "post": "S_i", "pre_trace": "x_j", "post_trace": "x_i"}
SPARSE_LOCAL = ("pre", "post", "w", "dt", "pre_index", "out", "pre_events", "post_events")


@register
class RecurrentNetworkConfig(NetworkSection):
    """``kind = "recurrent"``: :func:`plastix.networks.recurrent`, E and I conductance LIF neurons
    with sparse random pathways ``ee, ei, ie, ii`` (presynaptic first), any of them plastic.

    Weights are conductance jumps in nS; defaults after Vogels et al. (2011)
    (:data:`plastix.networks.VOGELS_2011_NETWORK`).
    """

    description = "a recurrent network of E and I conductance LIF neurons with sparse plastic pathways"
    tiny: ClassVar[dict] = {
        "n_exc": 40, "n_inh": 10, "p": 0.2, "plastic": ["ee", "ie"], "max_events": 1.0,
    }  # fmt: skip
    gives = ("spikes", "recurrent")

    kind: Literal["recurrent"] = "recurrent"
    n_exc: int = Field(800, ge=2, description="excitatory neurons")
    n_inh: int = Field(200, ge=2, description="inhibitory neurons")
    plastic: list[Literal["ee", "ei", "ie", "ii"]] = Field(["ie"], description="plastic pathways (pre, post)")
    p: float | dict[str, float] = Field(0.02, description="connection probability (one, or per pathway)")
    k: dict[str, int] = Field({}, description="fixed in-degree per pathway (replaces p there)")
    w: dict[str, float] = Field(
        dict(networks.VOGELS_2011_NETWORK["w"]), description="initial weight per pathway, nS"
    )
    w_max: float = Field(300.0, gt=0, description="upper bound of plastic weights, nS")
    i_ext: float | list[float] = Field(20.0, description="constant drive, mV (one, or [E, I])")
    n_ext: int = Field(0, ge=0, description="Poisson inputs (rate drawn by the task)")
    k_ext: int = Field(0, ge=0, description="Poisson inputs into each neuron")
    w_ext: float = Field(0.0, ge=0, description="weight of the Poisson inputs, nS")
    dt: float = Field(1e-4, gt=0, description="time step, s")
    rate_range: list[float] | None = Field(
        [0.1, 100.0], description="blow-up guard: the E rate (Hz, filtered) must stay inside; null: off"
    )
    tau_guard: float = Field(1.0, gt=0, description="time constant of the guard's rate filter, s")
    guard_after: float | None = Field(
        None, ge=0, description="the guard acts from here on, s (default tau_guard)"
    )
    engine: Literal["event", "dense"] = Field("event", description="spike propagation and plasticity")
    max_events: float = Field(
        0.05, gt=0, le=1, description="spikes per population and step the event engine takes, a fraction"
    )
    params: dict[str, float] = Field({}, description="overrides of networks.VOGELS_2011 (tau_m, v_th, ...)")

    @field_validator("params")
    @classmethod
    def _params(cls, v):
        return LifNetworkConfig._params(v)

    @field_validator("p")
    @classmethod
    def _p(cls, v):
        for q, x in v.items() if isinstance(v, dict) else [("p", v)]:
            if q != "p" and q not in networks.PATHWAYS:
                raise ValueError(f"unknown pathway {q!r}; allowed: {list(networks.PATHWAYS)}")
            if not 0 < x <= 1:
                raise ValueError(f"connection probability must be in (0, 1], got {q} = {x}")
        return v

    @field_validator("k", "w")
    @classmethod
    def _pathways(cls, v):
        bad = sorted(set(v) - set(networks.PATHWAYS))
        if bad:
            raise ValueError(f"unknown pathway(s) {bad}; allowed: {list(networks.PATHWAYS)}")
        if any(x < 0 for x in v.values()):
            raise ValueError(f"need values >= 0, got {v}")
        return v

    @field_validator("plastic")
    @classmethod
    def _plastic(cls, v):
        if not v:
            raise ValueError("name at least one plastic pathway (ee, ei, ie, ii)")
        if len(set(v)) != len(v):
            raise ValueError(f"a pathway is named twice: {v}")
        return v

    @model_validator(mode="after")
    def _steps(self):
        t_ref = {**networks.VOGELS_2011, **self.params}["t_ref"]
        guard = self.tau_guard if self.guard_after is None else self.guard_after
        for name, value in (("params.t_ref", t_ref), ("tau_guard", self.tau_guard), ("guard_after", guard)):
            if not value / self.dt <= 2**31 - 1:  # the step counter is int32
                steps = value / self.dt
                raise ValueError(
                    f"{name} ({value:g} s) is {steps:.3g} steps of dt ({self.dt:g} s); at most 2^31 - 1"
                )
        return self

    @model_validator(mode="after")
    def _degrees(self):
        for q, k in self.k.items():
            pool = self.size(q[0]) - (q[0] == q[1])
            if k > pool:
                raise ValueError(f"k.{q}: in-degree {k} exceeds the {pool} possible partners")
        return self

    def unused(self) -> dict[str, str]:
        out = {}
        if self.engine == "dense":
            out["max_events"] = 'engine = "dense"'
        if self.rate_range is None:
            out.update(tau_guard="rate_range = null", guard_after="rate_range = null")
        if not self.n_ext:
            out.update(k_ext="n_ext = 0", w_ext="n_ext = 0")
        return out

    def size(self, q: str) -> int:
        return self.n_exc if q == "e" else self.n_inh

    def degree(self, q: str) -> int:
        """In-degree of pathway ``q`` as stored (a probability's 1e-12 tail)."""
        if q in self.k:
            return self.k[q]
        p = self.p.get(q, 0.02) if isinstance(self.p, dict) else self.p
        return networks.binomial_tail(self.size(q[0]) - (q[0] == q[1]), p)

    def projections(self) -> dict[str, Projection]:
        sparse = self.engine == "event"
        local = SPARSE_LOCAL if sparse else ("pre", "post", "w", "dt")
        return {
            q: Projection(local, (self.size(q[1]), self.size(q[0])), symbols=SPIKE_SYMBOLS, sparse=sparse)
            for q in networks.PATHWAYS
            if q in self.plastic
        }

    def footprint(self, cfg) -> Footprint:
        """Per pathway its synapses (weight, partner, outgoing index; ``[post, pre]`` dense), the
        neurons' state; a step's events (spikes x degree, twice) or dense products."""
        b = itemsize(cfg)
        n = self.n_exc + self.n_inh
        synapses = sum(self.size(q[1]) * self.degree(q) for q in networks.PATHWAYS)
        if self.engine == "dense":
            state = sum(self.size(q[1]) * self.size(q[0]) for q in networks.PATHWAYS) * b + synapses * 4
            step = 2 * sum(self.size(q[1]) * self.size(q[0]) for q in self.plastic) * b
        else:
            state = synapses * (b + 8)
            step = 2 * self.max_events * synapses * (b + 4)
        return Footprint(0, int(state + 6 * n * b), int(step), 0, f"{n} neurons, {synapses} synapses")

    def network(self) -> networks.Network:
        return in_section(
            "network",
            networks.recurrent,
            self.n_exc,
            self.n_inh,
            plastic=tuple(self.plastic),
            p=self.p,
            k=self.k or None,
            w=self.w,
            w_max=self.w_max,
            i_ext=tuple(self.i_ext) if isinstance(self.i_ext, list) else self.i_ext,
            n_ext=self.n_ext,
            k_ext=self.k_ext,
            w_ext=self.w_ext,
            dt=self.dt,
            rate_range=tuple(self.rate_range) if self.rate_range is not None else None,
            tau_guard=self.tau_guard,
            guard_after=self.guard_after,
            engine=self.engine,
            max_events=self.max_events,
            **self.params,
        )


@register
class MlpNetworkConfig(NetworkSection):
    """``kind = "mlp"``: :func:`plastix.networks.mlp`, a softplus perceptron whose errors reach the
    hidden layers through a feedback pathway (random, symmetric or direct)."""

    description = "a softplus perceptron whose errors reach hidden layers through fixed feedback"
    tiny: ClassVar[dict] = {"sizes": [64, 12, 10]}
    gives = ("classifier",)

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

    def projections(self) -> dict[str, Projection]:
        s = self.sizes
        layers = tuple(zip(s[1:], s[:-1], strict=True))
        local = ("pre", "post", "error", "pre_error", "w")
        return {"ff": Projection(local, layers[0], layers=layers)}

    def footprint(self, cfg) -> Footprint:
        """The weights and the feedback matrices; a step's activity and error of every layer."""
        s = self.sizes
        weights = sum(a * b for a, b in zip(s[:-1], s[1:], strict=False))
        feedback = {"random": weights, "direct": sum(a * s[-1] for a in s[1:-1]), "symmetric": 0}
        b = itemsize(cfg)
        return Footprint(0, (weights + feedback[self.feedback]) * b, 4 * sum(s) * b, 0, f"layers {s}")

    def network(self, feedback: str | None = None) -> networks.Network:
        """The network; ``feedback`` replaces the section's (the baselines score other pathways)."""
        return networks.mlp(self.sizes, self.beta, feedback or self.feedback, self.w_max)


@register
class ClampedNetworkConfig(NetworkSection):
    """``kind = "clamped"``: :func:`plastix.networks.clamped`, a tanh network learning with its
    output clamped (or nudged) to the target; projections ``l1 .. lL``."""

    description = "a tanh network learning with its output clamped or nudged to the target"
    tiny: ClassVar[dict] = {"sizes": [4, 2]}
    gives = ("regressor",)

    kind: Literal["clamped"] = "clamped"
    sizes: list[int] = Field([20, 5], description="layer sizes, input first; projections l1 .. lL")
    strength: float = Field(
        1.0, gt=0, le=1, description="output moved this far toward the target (1: clamped)"
    )
    feedback: float = Field(0.0, ge=0, description="top-down drive of hidden layers in the target phase")
    eta: float = Field(1.0, gt=0, description="W += eta * dW")
    init_scale: float = Field(0.5, ge=0, description="W0 ~ N(0, init_scale^2 / n_pre)")
    w_max: float = Field(100.0, gt=0, description="weight bound; reaching it marks a rule unstable")

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, v):
        if len(v) < 2 or min(v) < 1:
            raise ValueError(f"need an input and an output layer, each >= 1 unit; got {v}")
        return v

    def shapes(self) -> dict[str, tuple[int, int]]:
        names = networks.layer_names(len(self.sizes) - 1)
        return {p: (self.sizes[l + 1], self.sizes[l]) for l, p in enumerate(names)}

    def projections(self) -> dict[str, Projection]:
        local = ("pre", "post", "post_free", "error", "w")
        symbols = {"pre": "v_j", "post": "v_i"}
        return {p: Projection(local, shape, symbols=symbols) for p, shape in self.shapes().items()}

    def footprint(self, cfg) -> Footprint:
        """The weights; a step's activity of every layer in the free and the target phase."""
        synapses = sum(a * b for a, b in self.shapes().values())
        b = itemsize(cfg)
        return Footprint(0, synapses * b, 2 * sum(self.sizes) * b, 0, f"layers {self.sizes}")

    def network(self) -> networks.Network:
        n = self
        return networks.clamped(n.sizes, n.strength, n.feedback, n.eta, n.init_scale, n.w_max)
