"""Experiment families: the one registry the loader, builder, runner, CLI and figures dispatch through.

A :class:`Family` declares what one kind of experiment needs; everything else
in :mod:`plastix.experiment` is generic. Adding an experiment is a module under
``plastix/experiment/families/`` and one :func:`register` line in its
``__init__`` (or a :func:`register` call from user code, before loading).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple, Union

import jax
from pydantic import Field, create_model

from plastix.experiment._config import Config, RuleSection, Section, UserError, kind_of

if TYPE_CHECKING:
    from plastix.experiment._build import Experiment
    from plastix.networks import Network
    from plastix.rules import Rule
    from plastix.tasks import Task


class Parts(NamedTuple):
    """What a family builds from a validated config.

    Attributes:
        network, task: the inner network and the task.
        rules: one rule per plastic projection of ``network``.
        loss_options: extra keyword arguments of :func:`plastix.tasks.meta_loss`
            (e.g. ``chunk`` for long spiking episodes).
        heldout_task: the task of the held-out score, when it draws from
            another distribution than training (e.g. classes never seen in
            meta-training); ``None``: ``task`` (fresh episodes of it).
    """

    network: Network
    task: Task
    rules: Mapping[str, Rule]
    loss_options: Mapping[str, Any] = {}
    heldout_task: Task | None = None


class History(NamedTuple):
    """A run's per-generation record, as the figures read it from ``metrics.csv``.

    Attributes:
        generations: ``[G]`` generation numbers.
        theta: projection -> ``[G, size]`` mean theta per generation.
        rows: the metrics rows themselves (column -> value).
    """

    generations: Any
    theta: Mapping[str, Any]
    rows: list[dict[str, float]]


class Memory(NamedTuple):
    """The arrays of one episode that a family's memory estimate counts, in bytes (:attr:`Family.memory`).

    Attributes:
        data: per episode, shared by every candidate scored on it: the episode's
            dataset (or input rates) and one step's inputs (one chunk's, when
            they are drawn a chunk at a time).
        state: per candidate and episode, live through the whole episode:
            weights, the network's and the rules' state; what a meta-gradient
            keeps per stored inner step.
        step: per candidate and episode, the temporaries of one inner step:
            activity, errors, the rules' terms or moments.
        steps: inner steps per episode.
        chunk: with inputs drawn ``chunk`` steps at a time, that chunk (a
            meta-gradient with remat then stores ``steps / chunk + chunk``
            states), else ``None`` (it stores one per step).
        coefficients: the rules' coefficients, all projections together.
        what: the sizes behind these numbers, for the message of a refusal.
        fixed: held once per run whatever the population (a dataset in memory).
    """

    data: int
    state: int
    step: int
    steps: int
    chunk: int | None
    coefficients: int
    what: str
    fixed: int = 0


def itemsize(cfg: Config) -> int:
    """Bytes of one number of ``cfg``'s dtype."""
    return 8 if cfg.dtype == "float64" else 4


def _no_check(cfg: Config) -> None:
    return None


def _no_lines(summary: dict) -> list[str]:
    return []


def headline(summary: dict) -> dict[str, float | None]:
    """The metrics every run reports: final training loss, held-out loss, angle to each reference rule.

    The default :attr:`Family.headline`; a family's own adds its metrics to these.
    """
    out = {"loss": summary.get("loss"), "heldout_loss": summary.get("heldout_loss")}
    out.update({f"angle_{k}": v for k, v in summary.get("angles", {}).items()})
    return out


class Family(NamedTuple):
    """One kind of experiment, declared in one place (the optax style: a NamedTuple of functions).

    Attributes:
        name: the family's name (``family = "..."`` in a config; ``plastix list``).
        description: one line for ``plastix list``.
        network: the ``[network]`` section model; its ``kind`` says which
            network the family simulates, and a config whose network has that
            kind belongs to this family.
        task: the ``[task]`` section model (one task kind).
        rules: the ``[rules.<projection>]`` section models the family accepts;
            the first is the default kind.
        build: ``config -> Parts``; may raise ``ValueError`` (reported as a
            config error before any run directory exists).
        rules_text: ``(experiment, theta) -> {projection: equation}``.
        example: ``(experiment, theta, key, heldout) -> (arrays, summary)``:
            ``arrays`` (one example episode trained with the final rule) go to
            ``final.npz``, ``summary`` entries into ``summary.json``;
            ``heldout`` holds the held-out metrics per episode.
        figures: ``(experiment, history, arrays | None) -> {file name: figure}``,
            beside the generic ``loss.png``.
        check: ``config -> None``, cross-section checks (raise ``ValueError``).
        ready: ``config -> None``, checks of what lies outside the config (data
            files), run by ``plastix run`` before it makes a run directory; raise
            :class:`UserError`. Validation does not run them, so ``plastix check``
            and ``show`` work without the data.
        columns: ``(experiment, theta) -> {column: value}``, extra metrics
            columns per generation, or ``None``.
        summary_lines: ``summary -> [line]``, what ``plastix show`` prints
            beyond the generic lines.
        exporters: format -> ``(config, summary, duration) -> text``, for
            ``plastix export --<format>``.
        default_rules: the raw ``[rules]`` of a config that names none.
        tiny: a raw config of this family that runs in seconds: the contract
            tests run every registered family on it.
        memory: ``config -> Memory``, the family's arrays by size, computed
            from the config alone (nothing is built or allocated), or ``None``;
            :func:`check_joint` refuses a run whose estimate
            (:func:`memory_estimate`) exceeds the machine's memory. It runs
            before ``check``: it may rely on each section being valid, not on
            the sections agreeing (it may raise ``ValueError`` itself).
        headline: ``summary -> {metric: value}``, the numbers of a finished
            run that ``plastix sweep`` averages over seeds (default
            :func:`headline`: loss, held-out loss, angles).
    """

    name: str
    description: str
    network: type[Section]
    task: type[Section]
    rules: tuple[type[RuleSection], ...]
    build: Callable[[Config], Parts]
    rules_text: Callable[[Experiment, Mapping[str, Any]], dict[str, str]]
    example: Callable[..., tuple[dict, dict]]
    figures: Callable[[Experiment, History, Any], dict[str, Any]]
    check: Callable[[Config], None] = _no_check
    ready: Callable[[Config], None] = _no_check
    columns: Callable[[Experiment, Mapping[str, Any]], dict[str, float]] | None = None
    summary_lines: Callable[[dict], list[str]] = _no_lines
    exporters: Mapping[str, Callable[[Config, dict, float | None], str]] = {}
    default_rules: Mapping[str, Mapping[str, Any]] = {}
    tiny: Mapping[str, Any] = {}
    memory: Callable[[Config], Memory] | None = None
    headline: Callable[[dict], dict[str, float | None]] = headline


FAMILIES: dict[str, Family] = {}
CMA_FULL_MAX = 2000  # coefficients beyond which full CMA-ES is refused (its covariance is dim x dim)
_DEFAULT: list[str] = []  # the family of a config that names no network kind
_MODELS: dict[str, type[Config]] = {}


def register(family: Family, replace: bool = False, default: bool = False) -> Family:
    """Add ``family`` to the registry; its network kind must not belong to another family.

    With ``default`` it becomes the family of configs that name no ``[network]`` kind.
    """
    _builtins()
    if family.name in FAMILIES and not replace:
        raise ValueError(f"family {family.name!r} is already registered")
    net = kind_of(family.network)
    owner = [f.name for f in FAMILIES.values() if kind_of(f.network) == net and f.name != family.name]
    if owner:
        raise ValueError(f"network {net!r} already belongs to family {owner[0]!r}")
    FAMILIES[family.name] = family
    _MODELS.pop(family.name, None)
    if default:
        _DEFAULT[:] = [family.name]
    return family


def unregister(name: str) -> None:
    FAMILIES.pop(name, None)
    _MODELS.pop(name, None)


def _builtins() -> None:
    # The shipped families register themselves on import.
    import plastix.experiment.families  # noqa: F401


def registry() -> dict[str, Family]:
    """The registered families by name."""
    _builtins()
    return FAMILIES


def get(name: str) -> Family:
    fams = registry()
    if name not in fams:
        raise UserError(f"unknown family {name!r}; registered: {sorted(fams)}")
    return fams[name]


def listing() -> list[dict[str, Any]]:
    """``plastix list``: per family its description, kinds, reference rules and shipped configs."""
    from plastix.experiment._config import read_toml, shipped_configs, validate

    configs: dict[str, list[str]] = {}
    for name, path in shipped_configs().items():
        # Listed whatever this machine's memory: a config too large for it is still shipped.
        configs.setdefault(validate(read_toml(path), memory=False).family, []).append(name)
    return [
        {
            "name": f.name,
            "description": f.description,
            "network": kind_of(f.network),
            "task": kind_of(f.task),
            "rules": [kind_of(r) for r in f.rules],
            "references": sorted({ref for r in f.rules for ref in r.references}),
            "configs": configs.get(f.name, []),
        }
        for f in registry().values()
    ]


def rule_kinds() -> set[str]:
    return {kind_of(r) for f in registry().values() for r in f.rules}


def config_model(family: Family) -> type[Config]:
    """The :class:`Config` subclass of ``family``: its sections in place of the generic ones."""
    if family.name not in _MODELS:
        rule = (
            family.rules[0]
            if len(family.rules) == 1
            else Annotated[Union[tuple(family.rules)], Field(discriminator="kind")]  # noqa: UP007
        )
        _MODELS[family.name] = create_model(
            f"{family.name.title().replace('_', '')}Config",
            __base__=Config,
            __doc__=f"A config of family {family.name!r}: {family.description}",
            network=(family.network, family.network()),
            task=(family.task, family.task()),
            rules=(dict[str, rule], ...),
        )
    return _MODELS[family.name]


def _kinds(sections: list[type[Section]]) -> list[str]:
    return sorted({kind_of(s) for s in sections})


def resolve(raw: Any) -> tuple[Family, Any]:
    """The family of a raw config, and the raw config with every section's ``kind`` filled in.

    The family is the one named by ``family``, else the one whose network has
    the ``[network]`` kind, else the default family. Sections without a
    ``kind`` get the family's (configs written before a section had several
    kinds validate unchanged). A kind of another family is refused here, in
    one format for every section.
    """
    fams = registry()
    if not isinstance(raw, dict):
        return fams[_DEFAULT[0]], raw
    raw = dict(raw)
    net = raw.get("network") if isinstance(raw.get("network"), dict) else {}
    by_network = {kind_of(f.network): f for f in fams.values()}
    if raw.get("family") is not None:
        if not isinstance(raw["family"], str) or raw["family"] not in fams:
            raise UserError(
                f"config error: family: unknown family {raw['family']!r}; allowed: {sorted(fams)}"
            )
        family = fams[raw["family"]]
    elif "kind" in net:
        if not isinstance(net["kind"], str) or net["kind"] not in by_network:
            raise UserError(
                f"config error: network.kind: unknown network {net['kind']!r}; allowed: {sorted(by_network)}"
            )
        family = by_network[net["kind"]]
    else:
        family = fams[_DEFAULT[0]]
    mine = kind_of(family.network)
    who = (
        f"family {family.name!r}"
        if raw.get("family") is not None
        else f"network {mine!r} belongs to family {family.name!r}, which"
    )
    raw["family"] = family.name

    def fill(loc: str, section: Any, allowed: list[str], everywhere: list[str], what: str) -> Any:
        if not isinstance(section, dict):
            return section
        kind = section.get("kind", allowed[0])
        if kind not in everywhere:
            raise UserError(f"config error: {loc}.kind: unknown {what} {kind!r}; allowed: {everywhere}")
        if kind not in allowed:
            need = allowed[0] if len(allowed) == 1 else allowed
            raise UserError(f"config error: {loc}.kind: {who} needs {what} {need!r}; got {kind!r}")
        return {**section, "kind": kind}

    raw["network"] = fill("network", raw.get("network", {}), [mine], sorted(by_network), "network")
    all_tasks = _kinds([f.task for f in fams.values()])
    raw["task"] = fill("task", raw.get("task", {}), [kind_of(family.task)], all_tasks, "task")
    rules = raw.get("rules", family.default_rules)
    if isinstance(rules, dict):
        mine_rules = [kind_of(r) for r in family.rules]
        all_rules = sorted(rule_kinds())
        raw["rules"] = {p: fill(f"rules.{p}", r, mine_rules, all_rules, "rule") for p, r in rules.items()}
    return family, raw


def human_bytes(n: float) -> str:
    """``n`` bytes in decimal units: ``512 B``, ``3.2 MB``, ``3.7 TB``."""
    units = ("B", "kB", "MB", "GB", "TB", "PB")
    n, i = float(min(n, 10**300)), 0  # an int from absurd sizes may not fit a float
    while n >= 1000 and i < len(units) - 1:
        n, i = n / 1000, i + 1
    return f"{n:.3g} {units[i]}"


def machine_memory() -> int | None:
    """The machine's physical memory in bytes; ``None`` where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows), or no such name
        return None


def memory_estimate(cfg: Config) -> tuple[int, str] | None:
    """Bytes ``cfg``'s run keeps live at its peak, and how they add up (``None``: no :attr:`Family.memory`).

    The peak is the largest of one generation, the held-out score and a
    validation. A generation trains ``candidates x task.episodes`` networks in
    one call (the candidates: the ES population, ``2 d + 1`` finite-difference
    thetas for ``d`` coefficients, or one theta for gradient descent), each
    with its :class:`Memory` ``state`` and one step's temporaries, on each
    episode's ``data``. A meta-gradient also stores states for the backward
    pass (one per step; ``steps / chunk + chunk`` with remat and chunks; every
    step's temporaries too without remat), and the outer loop keeps its
    population of flat thetas (full CMA-ES also its ``d x d`` covariance). The
    held-out score and a validation train one theta on their episodes.

    An order-of-magnitude upper bound, not a measurement: every array the
    family names counts whole and live at once, where XLA's fusion and buffer
    reuse often keep less; compiled code and the runtime's own memory are not
    counted.
    """
    family = cfg.spec
    if family.memory is None:
        return None
    mem = family.memory(cfg)
    m, t = cfg.meta, cfg.task
    d = mem.coefficients
    stored = 0
    if m.optimizer == "gradient":
        n, who = 1, ""
        if not m.remat:
            stored = mem.steps * (mem.state + mem.step)
        elif mem.chunk:
            stored = (mem.steps // mem.chunk + mem.chunk) * mem.state
        else:
            stored = mem.steps * mem.state
    elif m.optimizer == "finite_difference":
        n, who = 2 * d + 1, f"{2 * d + 1} finite-difference thetas x "
    else:
        n, who = m.popsize, f"popsize {m.popsize} x "
    each = mem.state + mem.step + stored
    # Flat thetas in float64 on the host and a copy on the device; a meta-gradient's
    # per-episode cotangents; full CMA-ES's covariance, eigenvectors and their product.
    outer = n * d * 16 + (t.episodes * d * 8 if m.optimizer == "gradient" else 0)
    if m.optimizer == "cma_es" and not m.cma_options.get("CMA_diagonal"):
        outer += 3 * d * d * 8
    one = mem.data + mem.state + mem.step
    peaks = [
        (
            t.episodes * mem.data + n * t.episodes * each + outer,
            n * t.episodes,
            f"{who}episodes {t.episodes}",
        ),
        (t.heldout_episodes * one, t.heldout_episodes, f"held-out episodes {t.heldout_episodes}"),
    ]
    if m.validate_every is not None:
        peaks.append(
            (m.validate_episodes * one, m.validate_episodes, f"validation episodes {m.validate_episodes}")
        )
    total, count, how = max(peaks)
    once = f", and {human_bytes(mem.fixed)} once" if mem.fixed * 100 >= total else ""  # if it counts
    return mem.fixed + total, f"{how} x {human_bytes(total // count)} each{once}: {mem.what}; {cfg.dtype}"


def check_joint(cfg: Config, memory: bool = True) -> None:
    """The checks that join sections, for every family; ``ValueError`` with a one-line message.

    First refuses a run whose memory estimate (:func:`memory_estimate`)
    exceeds the machine's memory (``memory=False`` skips this, for a run that
    was already made): a size too large for the machine is said as such,
    whatever else it breaks. Then runs the family's own checks, builds the
    family's parts once (so the builders' own checks, such as a
    time grid, become config errors), checks that the rules cover exactly
    the network's plastic projections, ``meta.scale`` has one entry per
    coefficient, ``meta.prune`` names only prunable rules and full CMA-ES is not
    asked for over more than :data:`CMA_FULL_MAX` coefficients.
    """
    family = cfg.spec
    estimate = memory_estimate(cfg) if memory else None
    have = machine_memory()
    if estimate is not None and have is not None and estimate[0] > have:
        raise ValueError(
            f"this run needs about {human_bytes(estimate[0])} of memory ({estimate[1]}); "
            f"this machine has {human_bytes(have)}"
        )
    family.check(cfg)
    parts = family.build(cfg)
    want, got = sorted(parts.network.plastic), sorted(cfg.rules)
    if want != got:
        raise ValueError(
            f"rules must be given for exactly the plastic projections {want} "
            f"of network {kind_of(family.network)!r}, got {got}"
        )
    m = cfg.meta
    key = jax.random.PRNGKey(0)
    dim = sum(
        s.size for r in parts.rules.values() for s in jax.tree.leaves(jax.eval_shape(r.init_theta, key))
    )
    if m.optimizer == "cma_es" and dim > CMA_FULL_MAX and not m.cma_options.get("CMA_diagonal"):
        raise ValueError(
            f"meta.optimizer = 'cma_es' over {dim} coefficients keeps a {dim} x {dim} covariance; "
            "set meta.cma_options = {CMA_diagonal = true} (sep-CMA-ES) or meta.optimizer = 'evosax'"
        )
    if m.optimizer == "cma_es" and m.cma_options:
        _try_cma_options(m, dim)
    if m.scale is not None:
        size = sum(r.size for r in parts.rules.values())
        if len(m.scale) != size:
            raise ValueError(f"meta.scale has {len(m.scale)} entries; the rules have {size} coefficients")
    if m.prune is not None:
        bad = sorted(p for p, r in cfg.rules.items() if not r.prunable)
        if bad:
            prunable = sorted({kind_of(r) for f in registry().values() for r in f.rules if r.prunable})
            raise ValueError(
                f"meta.prune thresholds only {' or '.join(prunable)} rules; "
                f"rules.{bad[0]} is {cfg.rules[bad[0]].kind!r}"
            )
        if not m.prune or any(not 0 < t < 1 for t in m.prune):
            raise ValueError(f"meta.prune must be fractions in (0, 1), got {m.prune}")


def _try_cma_options(m, dim: int) -> None:
    """Start pycma once with ``meta.cma_options``, as the run will: its values are expressions
    (``"100 * N / popsize"``) that only pycma can judge, and it would otherwise refuse them at
    the first generation, inside a run directory."""
    import warnings

    import cma
    import numpy as np

    options = {"popsize": m.popsize, "verbose": -9, **m.cma_options}
    if m.scale is not None:
        options.setdefault("CMA_stds", list(m.scale))
    with warnings.catch_warnings():
        # pycma only warns about an option it cannot evaluate, then fails later on.
        warnings.simplefilter("error")
        try:
            cma.CMAEvolutionStrategy(np.zeros(dim), m.sigma0, options)
        except Exception as err:  # whatever pycma raises about its options: reported, not a traceback
            msg = " ".join(str(err).split())
            raise ValueError(f"meta.cma_options: pycma refuses them: {msg[:200]}") from None


def in_section(section: str, factory: Callable, *args, **kwargs):
    """Call a builder; its ``ValueError`` comes back naming the config section."""
    try:
        return factory(*args, **kwargs)
    except ValueError as err:
        raise ValueError(f"{section}: {err}") from None
