"""Typed experiment configuration, read from TOML and validated by pydantic.

``[meta]`` (the outer loop) and the top level live here; ``[network]``,
``[task]`` and ``[rules.*]`` are the sections of registered components
(:mod:`plastix.experiment.components`). :func:`validate` finds the config's
family (:func:`resolve`), validates each section with its component's model
and checks that the components fit together (:func:`check_joint`). Validation
builds nothing: the builders run in :func:`plastix.experiment.build`.
"""

from __future__ import annotations

import tomllib
import warnings
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import tomli_w
from pydantic import Field, ValidationError, ValidationInfo, create_model, model_validator

from plastix.experiment import _family, components
from plastix.experiment._errors import SEED_LIMIT, UserError
from plastix.experiment._files import (  # noqa: F401  (re-exported: plastix.experiment names them)
    config_dir,
    did_you_mean,
    read_toml,
    shipped_config,
    shipped_configs,
)
from plastix.experiment.components import OptimizerSection, RuleSection, Section, TaskSection, kind_of
from plastix.experiment.components.optimizers import CMA_FULL_MAX, CmaEsConfig, optax_optimizers

__all__ = [
    "CMA_FULL_MAX",
    "SEED_LIMIT",
    "RuleSection",
    "Section",
    "TaskSection",
    "UserError",
    "kind_of",
    "optax_optimizers",
]


#: ``[meta]``: the fields every outer loop shares; each optimiser's section derives from it.
MetaConfig = OptimizerSection


class Config(Section):
    """A whole experiment: one TOML file in ``configs/``.

    Each family has its own subclass (:func:`config_model`) whose ``network``,
    ``task`` and ``rules`` are the sections of the components it may pair; the
    checks that join sections run in :meth:`_joint` (:func:`check_joint`).
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
    track: list[Literal["tensorboard"]] = Field(
        [],
        description="trackers that receive metrics.csv's rows as they are written, e.g. ['tensorboard'] "
        "(event files in <run dir>/tensorboard/; pip install 'plastix[track]')",
    )
    network: Any = None
    task: Any = None
    rules: dict[str, Any] = {}
    meta: Any = None
    versions: dict[str, str] = Field({}, description="written by plastix: package versions of the run")

    @property
    def spec(self) -> _family.Family:
        """The :class:`plastix.experiment.Family` this config belongs to."""
        return _family.get(self.family)

    @model_validator(mode="after")
    def _joint(self, info: ValidationInfo):
        check_joint(self, memory=(info.context or {}).get("memory", True))
        return self


_MODELS: dict[tuple, type[Config]] = {}


class ConfigWarning(UserWarning):
    """A config read with a change: a key migrated from an earlier plastix, or ignored."""


def _union(sections: list[type[Section]], discriminator: str = "kind") -> Any:
    if len(sections) == 1:
        return sections[0]
    return Annotated[Union[tuple(sections)], Field(discriminator=discriminator)]  # noqa: UP007


def config_model(family: _family.Family) -> type[Config]:
    """The :class:`Config` subclass of ``family``: the sections of its network and task kinds, and of
    every registered rule kind."""
    nets = [components.get("network", k) for k in family.networks]
    tasks = [components.get("task", k) for k in family.tasks]
    rules = list(components.components("rule").values())
    optimizers = list(components.components("optimizer").values())
    key = (family.name, *nets, *tasks, *rules, *optimizers)
    if key not in _MODELS:
        _MODELS[key] = create_model(
            f"{family.name.title().replace('_', '')}Config",
            __base__=Config,
            __doc__=f"A config of family {family.name!r}: {family.description}",
            network=(_union(nets), nets[0]()),
            task=(_union(tasks), tasks[0]()),
            rules=(dict[str, _union(rules)], ...),
            meta=(_union(optimizers, "optimizer"), CmaEsConfig()),
        )
    return _MODELS[key]


def _kind(loc: str, section: Any, default: str, role: str) -> str:
    """The ``kind`` of a raw section (``default`` when it names none); :class:`UserError` if unknown."""
    kind = section.get("kind", default) if isinstance(section, dict) else default
    known = sorted(components.components(role))
    if not isinstance(kind, str) or kind not in known:
        raise UserError(f"config error: {loc}.kind: unknown {role} {kind!r}; allowed: {known}")
    return kind


def resolve(raw: Any) -> tuple[_family.Family, Any]:
    """The family of a raw config, and the raw config with every section's ``kind`` filled in.

    The family is the one named by ``family``, else the first that pairs the
    ``[network]`` kind (and the ``[task]`` kind, when given), else the default
    family. Sections without a ``kind`` get the family's default (configs
    written before a section had several kinds validate unchanged). A kind the
    family does not pair is refused here, with the reason when the components'
    contracts do not fit (:func:`plastix.experiment.components.task_misfit`).
    """
    fams = _family.registry()
    if not isinstance(raw, dict):
        return _family.default(), raw
    raw = dict(raw)
    net = raw.get("network") if isinstance(raw.get("network"), dict) else {}
    task = raw.get("task") if isinstance(raw.get("task"), dict) else {}
    if raw.get("family") is not None:
        if not isinstance(raw["family"], str) or raw["family"] not in fams:
            raise UserError(
                f"config error: family: unknown family {raw['family']!r}; allowed: {sorted(fams)}"
            )
        family = fams[raw["family"]]
    elif "kind" in net:
        kind = _kind("network", net, "", "network")
        pairs = [f for f in fams.values() if kind in f.networks]
        if not pairs:
            raise UserError(
                f"config error: network.kind: no family runs network {kind!r}; families: "
                + ", ".join(f"{f.name} ({', '.join(f.networks)})" for f in fams.values())
            )
        family = next((f for f in pairs if task.get("kind") in f.tasks), pairs[0])
    else:
        family = _family.default()
    raw["family"] = family.name
    n_kind = _kind("network", net, family.networks[0], "network")
    t_kind = _kind("task", task, family.tasks[0], "task")
    who = f"family {family.name!r}"
    if n_kind not in family.networks:
        raise UserError(
            f"config error: network.kind: {who} runs network {_one(family.networks)}; got {n_kind!r}"
        )
    if t_kind not in family.tasks:
        misfit = components.task_misfit(components.get("task", t_kind), components.get("network", n_kind))
        raise UserError(
            f"config error: task.kind: {misfit or f'{who} pairs task {_one(family.tasks)}; got {t_kind!r}'}"
        )
    if isinstance(raw.get("network", {}), dict):
        raw["network"] = {**raw.get("network", {}), "kind": n_kind}
    if isinstance(raw.get("task", {}), dict):
        raw["task"] = {**raw.get("task", {}), "kind": t_kind}
    rules = raw.get("rules", family.default_rules)
    if isinstance(rules, dict):
        raw["rules"] = {
            p: {**r, "kind": _kind(f"rules.{p}", r, family.rule, "rule")} if isinstance(r, dict) else r
            for p, r in rules.items()
        }
    if isinstance(raw.get("meta"), dict):
        raw["meta"] = migrate_meta(raw["meta"])
    return family, raw


def migrate_meta(raw: dict) -> dict:
    """``[meta]`` in this version's format: the shared fields and the chosen optimiser's.

    Until plastix 0.1 ``[meta]`` was one flat section with every optimiser's
    fields, some of them prefixed (``fd_epsilon``, ``es_strategy``,
    ``gradient_optimizer``). A section that holds such a key is read in that
    format: the chosen optimiser's settings under their new names
    (:attr:`~plastix.experiment.components.OptimizerSection.legacy`; the
    finite-difference ``clip_norm`` is the old ``fd_clip_norm``, never the
    gradient's ``clip_norm``), every other optimiser's dropped. A renamed key
    whose value is not its default gives a :class:`ConfigWarning` (a run
    directory of that version holds every key, mostly at its default, and
    reads back quietly). In this version's format a key of another optimiser
    (``popsize`` with ``optimizer = "gradient"``, as a config keeps when
    ``--set meta.optimizer=...`` switches) is dropped, as it was always ignored.
    """
    table = components.components("optimizer")
    name = raw.get("optimizer", kind_of(CmaEsConfig))
    if not isinstance(name, str) or name not in table:
        return raw  # pydantic names the allowed optimisers
    mine = table[name]
    shared = set(OptimizerSection.model_fields)
    every = {k for s in table.values() for k in (*s.model_fields, *s.legacy)}
    flat = any(k in raw for s in table.values() for k, new in s.legacy.items() if k != new)
    out = {"optimizer": name}
    for key, value in raw.items():
        if key in shared or (not flat and key in mine.model_fields):
            out[key] = value
        elif flat and key in mine.legacy:
            new = mine.legacy[key]
            out[new] = value
            if new != key and value != mine.model_fields[new].default:
                warnings.warn(f"meta.{key} is now meta.{new} (read as such)", ConfigWarning, stacklevel=2)
        elif not flat and key in mine.legacy:  # one prefixed key in a config of this format
            out.setdefault(mine.legacy[key], value)
            warnings.warn(
                f"meta.{key} is now meta.{mine.legacy[key]} (read as such)", ConfigWarning, stacklevel=2
            )
        elif key not in every:
            out[key] = value  # unknown to every optimiser: pydantic refuses it
    return out


def _one(kinds) -> str:
    return repr(kinds[0]) if len(kinds) == 1 else repr(list(kinds))


def check_joint(cfg: Config, memory: bool = True) -> None:
    """The checks that join sections; ``ValueError`` with a one-line message. Builds nothing.

    First refuses a run whose memory estimate (:func:`plastix.experiment.memory_estimate`)
    exceeds the machine's memory (``memory=False`` skips this, for a run that
    was already made): a size too large for the machine is said as such,
    whatever else it breaks. Then rules for exactly the network's plastic
    projections, each fitting its projection
    (:func:`plastix.experiment.components.rule_misfit`); the task's, the
    family's and the optimiser's own checks (no full CMA-ES over more than
    :data:`CMA_FULL_MAX` coefficients); ``meta.scale`` with one entry per
    coefficient; ``meta.prune`` only on prunable rules.
    """
    estimate = _family.memory_estimate(cfg) if memory else None
    have = _family.machine_memory()
    if estimate is not None and have is not None and estimate[0] > have:
        raise ValueError(
            f"this run needs about {_family.human_bytes(estimate[0])} of memory ({estimate[1]}); "
            f"this machine has {_family.human_bytes(have)}"
        )
    projections = cfg.network.projections()
    want, got = sorted(projections), sorted(cfg.rules)
    if want != got:
        raise ValueError(
            f"rules must be given for exactly the plastic projections {want} "
            f"of network {cfg.network.kind!r}, got {got}"
        )
    for p, rc in sorted(cfg.rules.items()):
        misfit = components.rule_misfit(rc, cfg.network, p)
        if misfit:
            raise ValueError(f"rules.{p}: {misfit}")
    cfg.task.check(cfg)
    cfg.spec.check(cfg)
    m = cfg.meta
    dim = sum(rc.coefficients(projections[p]) for p, rc in cfg.rules.items())
    m.check(dim)
    if m.scale is not None and len(m.scale) != dim:
        raise ValueError(f"meta.scale has {len(m.scale)} entries; the rules have {dim} coefficients")
    if m.prune is not None:
        bad = sorted(p for p, r in cfg.rules.items() if not r.prunable)
        if bad:
            prunable = sorted(k for k, r in components.components("rule").items() if r.prunable)
            raise ValueError(
                f"meta.prune thresholds only {' or '.join(prunable)} rules; "
                f"rules.{bad[0]} is {cfg.rules[bad[0]].kind!r}"
            )
        if not m.prune or any(not 0 < t < 1 for t in m.prune):
            raise ValueError(f"meta.prune must be fractions in (0, 1), got {m.prune}")


def listing() -> list[dict[str, Any]]:
    """``plastix list``: per family its description, kinds, reference rules and shipped configs."""
    configs: dict[str, list[str]] = {}
    for name, path in shipped_configs().items():
        # Only its family is resolved: validating each (pycma started for its options, ...) would
        # make `plastix list` wait; `plastix check NAME` validates one, and the tests all.
        configs.setdefault(resolve(read_toml(path))[0].name, []).append(name)
    rules = components.components("rule")
    return [
        {
            "name": f.name,
            "description": f.description,
            "networks": list(f.networks),
            "tasks": list(f.tasks),
            "rule": f.rule,
            "references": list(rules[f.rule].references),
            "configs": configs.get(f.name, []),
        }
        for f in _family.registry().values()
    ]


def component_listing() -> dict[str, list[dict[str, Any]]]:
    """``plastix list``: every registered component by role, with its description and contract."""
    out: dict[str, list[dict[str, Any]]] = {}
    for role in components.ROLES:
        rows = []
        for kind, section in sorted(components.components(role).items()):
            row: dict[str, Any] = {"kind": kind, "description": section.description}
            if role == "network":
                row["gives"] = list(section.gives)
            elif role == "task":
                row["requires"] = list(section.requires)
            elif role == "rule":
                row["references"] = list(section.references)
            rows.append(row)
        out[role] = rows
    return out


def _short(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters: an error line quotes a value, not a whole file."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _keys(loc: list[str], top: set[str]) -> set[str]:
    """The keys a config may hold where ``loc`` points (the last part is the key itself), over
    every kind of that section: what a misspelt key is compared with."""
    role = {"meta": "optimizer", "network": "network", "task": "task", "rules": "rule"}.get(loc[0])
    if len(loc) == 1 or role is None:
        return top
    return {f for section in components.components(role).values() for f in section.model_fields}


def _format(err: ValidationError, top: set[str] = frozenset()) -> str:
    """The first error of ``err`` in one line, ``section.key: what``; ``top``: the top-level keys."""
    e = err.errors()[0]
    # A discriminated union of kinds puts the kind into the location
    # (rules.ff.polynomial.order, network.lif.dt); users wrote rules.ff.order.
    at = {"rules": 2, "network": 1, "task": 1, "meta": 1}
    tags = {k for role in components.ROLES for k in components.components(role)}
    loc_parts = [str(x) for i, x in enumerate(e["loc"]) if not (i == at.get(e["loc"][0]) and x in tags)]
    if e["type"] == "union_tag_invalid":
        loc_parts.append("optimizer" if loc_parts == ["meta"] else "kind")
    loc = ".".join(loc_parts) or "config"
    # One line whatever a message quotes (a library's own message may span several).
    msg = " ".join(line.strip() for line in e["msg"].removeprefix("Value error, ").splitlines())
    extra = (
        f" (got {_short(repr(e['input']))})"
        if e["type"] not in ("missing",) and not isinstance(e["input"], dict)
        else ""
    )
    more = f" [+{len(err.errors()) - 1} more]" if len(err.errors()) > 1 else ""
    if e["type"] == "extra_forbidden":  # a typo, most often: name the key it is closest to
        return f"{loc}: unknown key{extra}{did_you_mean(loc_parts[-1], _keys(loc_parts, top))}{more}"
    if not e["loc"] and e["type"] == "value_error":  # a check joining sections names its fields itself
        return f"{msg}{more}"
    return f"{loc}: {msg}{extra}{more}"


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


def _applicable(section: Any, dumped: Any, where: str, left_out: list[str]) -> Any:
    """``dumped`` (a section's ``model_dump``) without the fields :meth:`Section.unused` names, nor
    empty tables and lists; what was left out, with why, is appended to ``left_out``."""
    if not isinstance(dumped, dict):
        return dumped
    unused = section.unused() if isinstance(section, Section) else {}
    out = {}
    for k, v in dumped.items():
        if k in unused:
            left_out.append(f"{where}{k} ({unused[k]})")
            continue
        child = section.get(k) if isinstance(section, dict) else getattr(section, k, None)
        v = _applicable(child, v, f"{where}{k}.", left_out)
        if v is None or (isinstance(v, dict | list) and not v):
            continue
        out[k] = v
    return out


def dump_applicable(cfg: Config) -> str:
    """The options that apply to the config's components, as TOML: those that have no effect
    with the values given (a lateral rate without lateral weights) and empty tables are left out,
    and named in a closing comment. For reading; :func:`dump_config` is what a run stores."""
    left_out: list[str] = []
    body = _applicable(cfg, cfg.model_dump(), "", left_out)
    note = f"\n# without effect here, left out: {', '.join(left_out)}\n" if left_out else ""
    return tomli_w.dumps(body) + note


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

    ``memory=False`` skips the memory estimate (:func:`check_joint`), for a
    config read back from a run that was made, perhaps on a larger machine.
    """
    family, raw = resolve(raw)
    try:
        model = config_model(family)
        return model.model_validate(raw, context={"memory": memory})
    except ValidationError as err:
        raise UserError(f"config error: {_format(err, set(model.model_fields))}") from None


def load(path: str | Path, overrides: list[str] = ()) -> Config:
    """Read, override and validate a config file; :class:`UserError` on bad input."""
    return validate(apply_overrides(read_toml(path), list(overrides)))
