"""Typed experiment configuration, read from TOML and validated by pydantic."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from plastix.rules import REFERENCES, SIDES, SPIKE_TRACE_NAMES

# Which named reference rules belong to which rule family (a reference is a
# theta of its family, so only those can be an angle's other end or a start).
FAMILY_REFERENCES = {"polynomial": ("anti_hebbian", "hebb", "oja"), "spike_trace": ("vogels_istdp",)}
# The default `kind` of each section, so configs written before a section had
# several kinds keep validating unchanged.
DEFAULT_KINDS = {"network": "linear", "task": "pca", "rule": "polynomial"}


class UserError(Exception):
    """Bad input from the user: reported as one line, exit code 2."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LinearNetworkConfig(_Section):
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


class LifNetworkConfig(_Section):
    """``[network]`` with ``kind = "lif"``: one conductance LIF neuron (:func:`plastix.networks.lif`)."""

    kind: Literal["lif"]
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
        from plastix.networks import VOGELS_2011

        bad = sorted(set(v) - set(VOGELS_2011))
        if bad:
            raise ValueError(f"unknown LIF parameter(s) {bad}; allowed: {sorted(VOGELS_2011)}")
        return v

    @model_validator(mode="after")
    def _groups(self):
        if self.n_exc % self.n_groups or self.n_inh % self.n_groups:
            raise ValueError(
                f"n_exc ({self.n_exc}) and n_inh ({self.n_inh}) "
                f"must be multiples of n_groups ({self.n_groups})"
            )
        return self


NetworkConfig = Annotated[LinearNetworkConfig | LifNetworkConfig, Field(discriminator="kind")]


class PcaTaskConfig(_Section):
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


class TargetRateTaskConfig(_Section):
    """``[task]`` with ``kind = "target_rate"``: :func:`plastix.tasks.target_rate` (needs network 'lif').

    Times in seconds, rates in Hz; the neuron's sizes and ``dt`` come from ``[network]``.
    """

    kind: Literal["target_rate"]
    train_time: float = Field(60.0, gt=0, description="simulated training time with plasticity, s")
    score_time: float = Field(30.0, gt=0, description="scoring phase after training, s")
    window: float = Field(10.0, gt=0, description="scored window (random start inside the scoring phase), s")
    target: float = Field(5.0, gt=0, description="target postsynaptic rate r_tg, Hz")
    bin_size: float = Field(1.0, gt=0, description="spike-count bin, s (window and times are multiples)")
    baseline: float = Field(5.0, ge=0, description="input rate floor, Hz")
    peak_rate: float = Field(50.0, ge=0, description="input rate added at a signal's peak, Hz")
    tau_input: float = Field(0.05, gt=0, description="time constant of the input signals, s")
    rate_dt: float = Field(1e-3, gt=0, description="grid of the input rates, s")
    sparsify: bool = Field(True, description="remove every second input bump (Vogels et al. 2011)")
    chunk: int = Field(1000, ge=1, description="inner steps whose input spikes are drawn at once")
    episodes: int = Field(4, ge=1, description="training datasets (input rate draws) per generation")
    heldout_episodes: int = Field(8, ge=1, description="fresh datasets for the final score")
    resample: bool = Field(True, description="draw fresh training datasets every generation")


TaskConfig = Annotated[PcaTaskConfig | TargetRateTaskConfig, Field(discriminator="kind")]


class _RuleSection(_Section):
    # Shared by every rule kind; each declares its own `reference` field.
    @field_validator("reference", check_fields=False)
    @classmethod
    def _reference(cls, v):
        if v is not None and v not in REFERENCES:
            raise ValueError(f"unknown reference rule {v!r}; allowed: {sorted(REFERENCES)}")
        return v


class RuleConfig(_RuleSection):
    """``[rules.<projection>]`` with ``kind = "polynomial"``: :func:`plastix.rules.polynomial`."""

    kind: Literal["polynomial"] = "polynomial"
    order: int = Field(2, ge=0, le=4)
    variables: list[str] = ["pre", "post", "w"]
    symbols: dict[str, str] = {}
    reference: str | None = Field(None, description="named rule to measure the angle to")
    init: Literal["random", "zero", "reference"] = "random"
    init_std: float = Field(0.1, ge=0, description="theta0 ~ N(0, init_std^2) when init = 'random'")

    @field_validator("variables")
    @classmethod
    def _variables(cls, v):
        bad = [x for x in v if x not in SIDES]
        if bad:
            raise ValueError(f"unknown variable(s) {bad}; allowed: {sorted(SIDES)}")
        return v

    @model_validator(mode="after")
    def _init_needs_reference(self):
        return _check_reference(self)


def _check_reference(rc):
    allowed = FAMILY_REFERENCES[rc.kind]
    if rc.reference is not None and rc.reference not in allowed:
        raise ValueError(f"reference {rc.reference!r} is no {rc.kind} rule; allowed: {list(allowed)}")
    if rc.init == "reference" and rc.reference is None:
        raise ValueError(f"init = 'reference' needs a reference rule (reference = {allowed[0]!r}, ...)")
    return rc


class SpikeTraceRuleConfig(_RuleSection):
    """``[rules.<projection>]`` with ``kind = "spike_trace"``: :func:`plastix.rules.spike_trace`.

    Theta is ``(alpha, beta, gamma, kappa, tau_pre, tau_post)``: four per-spike
    weight increments and two trace time constants in seconds. The angle to the
    reference is taken over the four increments only (:data:`ANGLE_TERMS`):
    with the time constants in, it would mostly compare two numbers in seconds
    with weight increments a hundred times smaller.
    """

    kind: Literal["spike_trace"]
    reference: str | None = Field(None, description="named rule to measure the angle to (vogels_istdp)")
    init: Literal["random", "zero", "reference"] = "random"
    init_std: float = Field(
        1e-3, ge=0, description="random init: increments ~ N(0, init_std^2), taus log-uniform in [5, 50] ms"
    )
    tau_min: float = Field(1e-4, gt=0, description="smallest trace time constant, s")
    tau_max: float = Field(10.0, gt=0, description="largest trace time constant, s")

    @model_validator(mode="after")
    def _check(self):
        if self.init == "zero":
            raise ValueError("init = 'zero' would put both trace time constants at tau_min; use 'random'")
        if self.tau_min >= self.tau_max:
            raise ValueError(f"tau_min ({self.tau_min}) must be below tau_max ({self.tau_max})")
        return _check_reference(self)


AnyRuleConfig = Annotated[RuleConfig | SpikeTraceRuleConfig, Field(discriminator="kind")]
# Coefficients an angle to a reference is taken over, per rule kind (None: all).
ANGLE_TERMS: dict[str, int | None] = {"polynomial": None, "spike_trace": 4}


class MetaConfig(_Section):
    """``[meta]``: the outer loop."""

    optimizer: Literal["cma_es", "gradient", "finite_difference"] = "cma_es"
    generations: int = Field(300, ge=1)
    popsize: int = Field(20, ge=2, description="CMA-ES candidates per generation")
    sigma0: float = Field(0.1, gt=0, description="CMA-ES initial step size")
    cma_options: dict[str, Any] = {}
    learning_rate: float = Field(0.01, gt=0, description="gradient: optax learning rate")
    gradient_optimizer: str = Field("adam", description="gradient: optax optimiser name")
    clip_norm: float | None = Field(1.0, gt=0, description="gradient: global-norm clipping")
    remat: bool = Field(True, description="gradient: rematerialise inner steps (bounded memory)")
    fd_epsilon: float = Field(
        0.05, gt=0, description="finite_difference: half-width of the central difference"
    )
    fd_optimizer: str = Field("adam", description="finite_difference: optax optimiser name")
    fd_clip_norm: float | None = Field(None, gt=0, description="finite_difference: clip the estimate's norm")
    scale: list[float] | None = Field(
        None,
        description="typical size of each coefficient (all rules' thetas, flat, projections sorted): "
        "CMA-ES sigma0, finite_difference epsilon and learning_rate, and the L1 penalty are in these units",
    )
    l1: float = Field(0.0, ge=0, description="L1 penalty on theta")
    prune: list[float] | None = Field(
        None,
        description="after the last generation, zero coefficients below each of these fractions of "
        "their rule's largest and keep the sparser rule if the meta-loss prefers it (polynomial rules)",
    )
    unstable_loss: float = Field(100.0, gt=0, description="loss of an unstable candidate (and the cap)")
    target_loss: float | None = Field(None, description="stop when the generation's best loss is below")
    target_angle: float | None = Field(None, gt=0, description="stop when every reference angle is below")
    checkpoint_every: int = Field(1, ge=1)


class Config(_Section):
    """A whole experiment: one TOML file in ``configs/``."""

    name: str = "experiment"
    seed: int = Field(0, ge=0)
    dtype: Literal["float32", "float64"] = "float32"
    network: NetworkConfig = LinearNetworkConfig()
    task: TaskConfig = PcaTaskConfig()
    rules: dict[str, AnyRuleConfig] = {"ff": RuleConfig(reference="oja")}
    meta: MetaConfig = MetaConfig()
    versions: dict[str, str] = Field({}, description="written by plastix: package versions of the run")

    @model_validator(mode="before")
    @classmethod
    def _default_kinds(cls, raw):
        # Sections without a `kind` get the original one (linear / pca / polynomial).
        if not isinstance(raw, dict):
            return raw
        raw = dict(raw)
        for sec in ("network", "task"):
            if isinstance(raw.get(sec), dict) and "kind" not in raw[sec]:
                raw[sec] = {"kind": DEFAULT_KINDS[sec], **raw[sec]}
        if isinstance(raw.get("rules"), dict):
            raw["rules"] = {
                p: {"kind": DEFAULT_KINDS["rule"], **r} if isinstance(r, dict) and "kind" not in r else r
                for p, r in raw["rules"].items()
            }
        return raw

    @model_validator(mode="after")
    def _projections(self):
        self._sections()
        scale = self.meta.scale
        if scale is not None:
            from plastix.rules import polynomial

            size = sum(
                len(SPIKE_TRACE_NAMES) if r.kind == "spike_trace" else polynomial(r.order, r.variables).size
                for r in self.rules.values()
            )
            if len(scale) != size:
                raise ValueError(f"meta.scale has {len(scale)} entries; the rules have {size} coefficients")
        if self.meta.prune is not None:
            if any(r.kind != "polynomial" for r in self.rules.values()):
                raise ValueError("meta.prune thresholds only polynomial rules")
            if not self.meta.prune or any(not 0 < t < 1 for t in self.meta.prune):
                raise ValueError(f"meta.prune must be fractions in (0, 1), got {self.meta.prune}")
        return self

    def _sections(self):
        if self.network.kind == "lif":
            return self._spiking()
        if self.task.kind != "pca":
            raise ValueError(f"task {self.task.kind!r} needs network 'lif'")
        bad = sorted(p for p, r in self.rules.items() if r.kind != "polynomial")
        if bad:
            raise ValueError(f"rules {bad}: network 'linear' needs kind = 'polynomial'")
        want = {"ff", "lateral"} if self.network.lateral else {"ff"}
        if set(self.rules) != want:
            raise ValueError(
                f"rules must be given for exactly the plastic projections {sorted(want)}, "
                f"got {sorted(self.rules)}"
            )
        if 0 < self.task.samples < self.network.n_in:
            raise ValueError(
                f"task.samples ({self.task.samples}) must be 0 or >= network.n_in ({self.network.n_in})"
            )
        return self

    def _spiking(self):
        n, t = self.network, self.task
        if t.kind != "target_rate":
            raise ValueError(f"network 'lif' needs task 'target_rate', got {t.kind!r}")
        if set(self.rules) != {"inh"}:
            raise ValueError(
                f"network 'lif' has one plastic projection ['inh'], got rules {sorted(self.rules)}"
            )
        if self.rules["inh"].kind != "spike_trace":
            raise ValueError("rules.inh: network 'lif' needs kind = 'spike_trace'")
        # The builders check the time grid (multiples of dt and bin_size, window
        # inside the scoring phase, input rates below 1 / dt); their one-line
        # messages become config errors here, before any run directory exists.
        from plastix import networks, tasks

        try:
            networks.lif(n.n_exc, n.n_inh, n.n_groups, n.dt, **n.params)
        except ValueError as err:
            raise ValueError(f"network: {err}") from None
        try:
            task = tasks.target_rate(**_target_rate_args(n, t))
        except ValueError as err:
            raise ValueError(f"task: {err}") from None
        if task.num_steps % t.chunk:
            raise ValueError(f"task.chunk ({t.chunk}) must divide the {task.num_steps} inner steps")
        silent = t.target**2 / 0.1
        if self.meta.unstable_loss <= silent:
            raise ValueError(
                f"meta.unstable_loss ({self.meta.unstable_loss}) must exceed the loss of a silent neuron "
                f"({silent:g}), e.g. 300 for target = 5 Hz"
            )
        return self


def _target_rate_args(n: LifNetworkConfig, t: TargetRateTaskConfig) -> dict[str, Any]:
    """Keyword arguments of :func:`plastix.tasks.target_rate` from the two config sections."""
    return dict(
        train_time=t.train_time,
        score_time=t.score_time,
        window=t.window,
        target=t.target,
        dt=n.dt,
        bin_size=t.bin_size,
        n_exc=n.n_exc,
        n_inh=n.n_inh,
        n_groups=n.n_groups,
        baseline=t.baseline,
        peak_rate=t.peak_rate,
        tau_input=t.tau_input,
        rate_dt=t.rate_dt,
        sparsify=t.sparsify,
    )


_TAGS = {"linear", "lif", "pca", "target_rate", "polynomial", "spike_trace"}


def _format(err: ValidationError) -> str:
    e = err.errors()[0]
    # A discriminated union puts the section's kind into the location
    # (network.lif.n_exc); users wrote network.n_exc.
    loc_parts = [
        str(x)
        for i, x in enumerate(e["loc"])
        if not (
            x in _TAGS
            and ((i == 1 and e["loc"][0] in ("network", "task")) or (i == 2 and e["loc"][0] == "rules"))
        )
    ]
    if e["type"] == "union_tag_invalid":
        loc_parts.append("kind")
    loc = ".".join(loc_parts) or "config"
    msg = e["msg"].removeprefix("Value error, ")
    extra = (
        f" (got {e['input']!r})" if e["type"] not in ("missing",) and not isinstance(e["input"], dict) else ""
    )
    more = f" [+{len(err.errors()) - 1} more]" if len(err.errors()) > 1 else ""
    return f"{loc}: {msg}{extra}{more}"


def parse_value(text: str) -> Any:
    """A ``--set`` value as TOML (``3``, ``0.1``, ``true``, ``[1, 2]``), else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply ``section.key=value`` overrides to a raw config dict."""
    for item in overrides:
        if "=" not in item:
            raise UserError(f"--set {item!r}: expected section.key=value")
        path, value = item.split("=", 1)
        keys = path.strip().split(".")
        node = raw
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise UserError(f"--set {item!r}: {k!r} is not a section")
        node[keys[-1]] = parse_value(value.strip())
    return raw


def validate(raw: dict) -> Config:
    try:
        return Config.model_validate(raw)
    except ValidationError as err:
        raise UserError(f"config error: {_format(err)}") from None


def load(path: str | Path, overrides: list[str] = ()) -> Config:
    """Read, override and validate a config file; :class:`UserError` on bad input."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{path}: invalid TOML: {err}") from None
    return validate(apply_overrides(raw, list(overrides)))
