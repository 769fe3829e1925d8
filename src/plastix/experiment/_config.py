"""Typed experiment configuration, read from TOML and validated by pydantic."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from plastix.rules import REFERENCES, SIDES


class UserError(Exception):
    """Bad input from the user: reported as one line, exit code 2."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class NetworkConfig(_Section):
    """``[network]``: the inner network (:func:`plastix.networks.linear`)."""

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


class TaskConfig(_Section):
    """``[task]``: the dataset family and loss (:func:`plastix.tasks.pca`)."""

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


class RuleConfig(_Section):
    """``[rules.<projection>]``: one plastic projection's rule."""

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

    @field_validator("reference")
    @classmethod
    def _reference(cls, v):
        if v is not None and v not in REFERENCES:
            raise ValueError(f"unknown reference rule {v!r}; allowed: {sorted(REFERENCES)}")
        return v

    @model_validator(mode="after")
    def _init_needs_reference(self):
        if self.init == "reference" and self.reference is None:
            raise ValueError("init = 'reference' needs a reference rule (reference = 'oja', ...)")
        return self


class MetaConfig(_Section):
    """``[meta]``: the outer loop."""

    optimizer: Literal["cma_es", "gradient"] = "cma_es"
    generations: int = Field(300, ge=1)
    popsize: int = Field(20, ge=2, description="CMA-ES candidates per generation")
    sigma0: float = Field(0.1, gt=0, description="CMA-ES initial step size")
    cma_options: dict[str, Any] = {}
    learning_rate: float = Field(0.01, gt=0, description="gradient: optax learning rate")
    gradient_optimizer: str = Field("adam", description="gradient: optax optimiser name")
    clip_norm: float | None = Field(1.0, gt=0, description="gradient: global-norm clipping")
    remat: bool = Field(True, description="gradient: rematerialise inner steps (bounded memory)")
    l1: float = Field(0.0, ge=0, description="L1 penalty on theta")
    unstable_loss: float = Field(100.0, gt=0, description="loss of an unstable candidate (and the cap)")
    target_loss: float | None = Field(None, description="stop when the generation's best loss is below")
    target_angle: float | None = Field(None, gt=0, description="stop when every reference angle is below")
    checkpoint_every: int = Field(1, ge=1)


class Config(_Section):
    """A whole experiment: one TOML file in ``configs/``."""

    name: str = "experiment"
    seed: int = Field(0, ge=0)
    dtype: Literal["float32", "float64"] = "float32"
    network: NetworkConfig = NetworkConfig()
    task: TaskConfig = TaskConfig()
    rules: dict[str, RuleConfig] = {"ff": RuleConfig(reference="oja")}
    meta: MetaConfig = MetaConfig()
    versions: dict[str, str] = Field({}, description="written by plastix: package versions of the run")

    @model_validator(mode="after")
    def _projections(self):
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
        if self.task.kind == "pca" and self.network.kind != "linear":
            raise ValueError("task 'pca' needs network 'linear'")
        return self


def _format(err: ValidationError) -> str:
    e = err.errors()[0]
    loc = ".".join(str(x) for x in e["loc"]) or "config"
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
