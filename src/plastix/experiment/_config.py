"""Typed experiment configuration, read from TOML and validated by pydantic.

The generic sections live here: the base classes every family's sections
derive from, ``[meta]`` (the outer loop) and the top level. Which ``[network]``,
``[task]`` and ``[rules.*]`` sections a config may have is the business of its
family (:mod:`plastix.experiment.families`); :func:`validate` finds the family
from the network's ``kind`` and validates the config with that family's model.
"""

from __future__ import annotations

import functools
import inspect
import sys
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Literal

import tomli_w
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from plastix.rules import REFERENCES


class UserError(Exception):
    """Bad input from the user: reported as one line, exit code 2."""


class Section(BaseModel):
    """A config section: unknown keys are errors, assignments are validated.

    NaN and infinity are refused in every float field (TOML writes them
    ``nan``, ``inf``, and reads ``1e400`` as ``inf``): no field means them, and
    one would only surface later as an unstable or never-ending run.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


#: Seeds are below this: pycma takes ``seed + 1``, which must fit in 32 bits.
SEED_LIMIT = 2**32 - 1


def kind_of(section: type[Section]) -> str:
    """The ``kind`` a section class stands for (the default of its ``kind`` field)."""
    return section.model_fields["kind"].default


class TaskSection(Section):
    """Base of every ``[task]`` section: the episode counts the generic runner reads.

    A subclass fixes ``kind`` and may change these fields' defaults.
    """

    kind: str
    episodes: int = Field(20, ge=1, description="training episodes per generation")
    heldout_episodes: int = Field(50, ge=1, description="fresh episodes for the final score")
    resample: bool = Field(False, description="draw fresh training episodes every generation")


class RuleSection(Section):
    """Base of every ``[rules.<projection>]`` section.

    A subclass fixes ``kind`` (a ``Literal`` with that default), builds its rule
    in :meth:`rule` and says, as class attributes, which named reference rules
    are thetas of its kind (``references``), how many leading coefficients an
    angle to a reference is taken over (``angle_terms``, ``None``: all) and
    whether :func:`plastix.meta.prune` applies (``prunable``).
    """

    references: ClassVar[tuple[str, ...]] = ()
    angle_terms: ClassVar[int | None] = None
    prunable: ClassVar[bool] = False

    kind: str
    reference: str | None = Field(None, description="named rule to measure the angle to")
    init: Literal["random", "zero", "reference"] = "random"
    init_std: float = Field(0.1, ge=0, description="theta0 ~ N(0, init_std^2) when init = 'random'")

    def rule(self, **overrides: Any):
        """The :class:`plastix.rules.Rule` this section describes."""
        raise NotImplementedError(f"{type(self).__name__}.rule")

    @field_validator("reference")
    @classmethod
    def _known_reference(cls, v):
        if v is not None and v not in REFERENCES:
            raise ValueError(f"unknown reference rule {v!r}; allowed: {sorted(REFERENCES)}")
        return v

    @model_validator(mode="after")
    def _reference_of_this_kind(self):
        allowed = self.references
        if self.reference is not None and self.reference not in allowed:
            raise ValueError(f"reference {self.reference!r} is no {self.kind} rule; allowed: {list(allowed)}")
        if self.init == "reference" and self.reference is None:
            raise ValueError(f"init = 'reference' needs a reference rule (reference = {allowed[0]!r}, ...)")
        return self


@functools.cache
def optax_optimizers() -> list[str]:
    """The optax optimisers a config may name: optax's functions whose first argument is ``learning_rate``.

    Not ``lbfgs``: its update needs the loss function itself, which the outer loops do not pass.
    """
    import optax

    names = []
    for name in dir(optax):
        f = getattr(optax, name)
        if name.startswith("_") or name == "lbfgs" or not inspect.isfunction(f):
            continue
        if next(iter(inspect.signature(f).parameters), None) == "learning_rate":
            names.append(name)
    return names


#: pycma options plastix sets itself: the population from ``meta.popsize``, and a seeded
#: generator of its own so that a checkpoint resumes bit for bit.
CMA_OWN = {"popsize": "meta.popsize", "seed": "seed", "randn": "seed", "verbose": None}


class MetaConfig(Section):
    """``[meta]``: the outer loop."""

    optimizer: Literal["cma_es", "gradient", "finite_difference", "evosax"] = "cma_es"
    generations: int = Field(300, ge=1)
    popsize: int = Field(20, ge=2, description="CMA-ES / evosax candidates per generation")
    sigma0: float = Field(0.1, gt=0, description="CMA-ES / evosax initial step size")
    cma_options: dict[str, Any] = Field(
        {},
        description="pycma options, e.g. {CMA_diagonal = true} (sep-CMA-ES, for thousands of coefficients)",
    )
    es_strategy: str = Field(
        "Open_ES", description="evosax: the strategy (Open_ES, PGPE, SNES, Sep_CMA_ES, ...)"
    )
    es_optimizer: str = Field("adam", description="evosax: optax optimiser of gradient-type strategies")
    learning_rate: float = Field(0.01, gt=0, description="gradient / evosax: optax learning rate")
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
        "their rule's largest and keep the sparser rule if the meta-loss prefers it (prunable rules)",
    )
    unstable_loss: float = Field(100.0, gt=0, description="loss of an unstable candidate (and the cap)")
    target_loss: float | None = Field(None, description="stop when the generation's best loss is below")
    target_angle: float | None = Field(None, gt=0, description="stop when every reference angle is below")
    checkpoint_every: int = Field(1, ge=1)
    validate_every: int | None = Field(
        None,
        ge=1,
        description="score theta every this many generations on fixed validation episodes "
        "(training distribution, a key stream of their own); column validation_loss",
    )
    validate_episodes: int = Field(20, ge=1, description="episodes of each validation")
    select: Literal["last", "best"] = Field(
        "last",
        description="final rule: the last theta, or the one of lowest validation loss (needs validate_every)",
    )

    @field_validator("gradient_optimizer", "fd_optimizer", "es_optimizer")
    @classmethod
    def _optax(cls, v):
        if v not in optax_optimizers():
            raise ValueError(f"unknown optax optimiser {v!r}; allowed: {optax_optimizers()}")
        return v

    @field_validator("cma_options")
    @classmethod
    def _cma_options(cls, v):
        import cma

        known = cma.CMAOptions()
        for name in v:
            if name in CMA_OWN:
                instead = f" (set {CMA_OWN[name]})" if CMA_OWN[name] else ""
                raise ValueError(f"{name!r} is set by plastix{instead}")
            if name not in known:
                raise ValueError(
                    f"unknown pycma option {name!r}; see cma.CMAOptions() for the {len(known)} options"
                )
        return v

    @field_validator("scale")
    @classmethod
    def _scale(cls, v):
        if v is not None and any(x <= 0 for x in v):
            raise ValueError("every entry must be > 0 (a coefficient's typical size)")
        return v

    @model_validator(mode="after")
    def _es(self):
        if self.optimizer == "evosax":
            from plastix.meta import evosax_strategies

            try:
                strategies = evosax_strategies()
            except ImportError as err:  # evosax is an extra
                raise ValueError(str(err)) from None
            if self.es_strategy not in strategies:
                raise ValueError(f"unknown evosax strategy {self.es_strategy!r}; allowed: {strategies}")
            if self.popsize % 2:
                raise ValueError(
                    f"evosax strategies sample antithetic pairs: popsize must be even, got {self.popsize}"
                )
        return self

    @model_validator(mode="after")
    def _select(self):
        if self.select == "best" and self.validate_every is None:
            raise ValueError("meta.select = 'best' needs meta.validate_every")
        return self


class Config(Section):
    """A whole experiment: one TOML file in ``configs/``.

    Each family has its own subclass (:func:`plastix.experiment.config_model`)
    with its ``network``, ``task`` and ``rules`` sections; the checks that join
    sections run in :meth:`_joint`, generically, plus the family's own ``check``.
    """

    name: str = "experiment"
    family: str | None = Field(None, description="the experiment family (default: the network's)")
    seed: int = Field(0, ge=0, lt=SEED_LIMIT)
    dtype: Literal["float32", "float64"] = "float32"
    devices: int | None = Field(
        None,
        ge=1,
        description="local devices a generation is spread over (default: all); "
        "the results do not depend on it",
    )
    network: Any = None
    task: Any = None
    rules: dict[str, Any] = {}
    meta: MetaConfig = MetaConfig()
    versions: dict[str, str] = Field({}, description="written by plastix: package versions of the run")

    @property
    def spec(self):
        """The :class:`plastix.experiment.Family` this config belongs to."""
        from plastix.experiment._family import get

        return get(self.family)

    @model_validator(mode="after")
    def _joint(self, info: ValidationInfo):
        from plastix.experiment._family import check_joint

        check_joint(self, memory=(info.context or {}).get("memory", True))
        return self


def _short(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters: an error line quotes a value, not a whole file."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _format(err: ValidationError, tags: set[str]) -> str:
    e = err.errors()[0]
    # A discriminated union of rule kinds puts the kind into the location
    # (rules.ff.polynomial.order); users wrote rules.ff.order.
    loc_parts = [
        str(x) for i, x in enumerate(e["loc"]) if not (i == 2 and e["loc"][0] == "rules" and x in tags)
    ]
    if e["type"] == "union_tag_invalid":
        loc_parts.append("kind")
    loc = ".".join(loc_parts) or "config"
    # One line whatever a message quotes (a library's own message may span several).
    msg = " ".join(line.strip() for line in e["msg"].removeprefix("Value error, ").splitlines())
    extra = (
        f" (got {_short(repr(e['input']))})"
        if e["type"] not in ("missing",) and not isinstance(e["input"], dict)
        else ""
    )
    more = f" [+{len(err.errors()) - 1} more]" if len(err.errors()) > 1 else ""
    if not e["loc"] and e["type"] == "value_error":  # a check joining sections names its fields itself
        return f"{msg}{more}"
    return f"{loc}: {msg}{extra}{more}"


def config_dir() -> Path:
    """The shipped configs: package data of plastix (``plastix/configs/*.toml``)."""
    return Path(str(resources.files("plastix") / "configs"))


def shipped_configs() -> dict[str, Path]:
    """Shipped config name -> file."""
    d = config_dir()
    return {p.stem: p for p in sorted(d.glob("*.toml"))} if d.is_dir() else {}


def shipped_config(name: str | Path) -> Path:
    """``name`` as a path; a bare name that is no file is the shipped config of that name."""
    path = Path(name)
    try:
        exists = path.exists()
    except OSError:  # e.g. a name too long for the file system: no such file, and no shipped name
        return path
    if exists or path.suffix == ".toml":
        return path
    return shipped_configs().get(str(name), path)


def _toml_safe(obj: Any) -> Any:
    """TOML has no null: drop ``None`` values (they are the defaults anyway)."""
    if isinstance(obj, dict):
        return {k: _toml_safe(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_toml_safe(v) for v in obj]
    return obj


def dump_config(cfg: Config) -> str:
    """The resolved config as TOML: loading it gives ``cfg`` again."""
    return tomli_w.dumps(_toml_safe(cfg.model_dump()))


def parse_value(text: str) -> Any:
    """A ``--set`` value as TOML (``3``, ``0.1``, ``true``, ``[1, 2]``), else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    # TOMLDecodeError is a ValueError, as is an integer too long for Python to convert;
    # RecursionError: nested too deeply for tomllib.
    except (ValueError, RecursionError):
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


def validate(raw: dict, memory: bool = True) -> Config:
    """Validate a raw config with its family's model; :class:`UserError` on bad input.

    ``memory=False`` skips the memory estimate (:func:`plastix.experiment.check_joint`),
    for a config read back from a run that was made, perhaps on a larger machine.
    """
    from plastix.experiment._family import config_model, resolve, rule_kinds

    family, raw = resolve(raw)
    try:
        return config_model(family).model_validate(raw, context={"memory": memory})
    except ValidationError as err:
        raise UserError(f"config error: {_format(err, rule_kinds())}") from None


def read_toml(path: str | Path) -> dict:
    """A TOML file's table; :class:`UserError` naming the file when it cannot be read or parsed."""
    path = Path(path)
    try:
        if path.is_dir():
            raise UserError(f"{path}: is a directory, not a config file")
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"config file not found: {path}") from None
    except OSError as err:  # permission denied, a name too long, ...
        raise UserError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        text = data.decode("utf-8")  # TOML is UTF-8 whatever the locale's encoding
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not UTF-8 text (byte {err.start} is {data[err.start]:#04x})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{path}: invalid TOML: {err}") from None
    except ValueError:  # tomllib's int() of a digit string beyond Python's conversion limit
        limit = sys.get_int_max_str_digits()
        raise UserError(f"{path}: invalid TOML: an integer of more than {limit} digits") from None
    except RecursionError:
        raise UserError(f"{path}: invalid TOML: arrays or tables nested too deeply") from None


def load(path: str | Path, overrides: list[str] = ()) -> Config:
    """Read, override and validate a config file; :class:`UserError` on bad input."""
    return validate(apply_overrides(read_toml(path), list(overrides)))
