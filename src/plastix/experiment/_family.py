"""Experiment families: recipes of components, and the reports of their runs.

A :class:`Family` names the network and task kinds it pairs and how its runs
are printed, drawn and summarised; what runs is built from components
(:mod:`plastix.experiment.components`). Adding an experiment is a module
under ``plastix/experiment/families/`` and one :func:`register` line in its
``__init__`` (or a :func:`register` call from user code, before loading).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any, NamedTuple

from plastix.experiment import components
from plastix.experiment._errors import UserError

# A recipe's functions receive the built experiment (plastix.experiment.Experiment) and the
# validated config (plastix.experiment.Config), both of layers above this one: named here only.
Experiment = Any
Config = Any


class History(NamedTuple):
    """A run's per-generation record, as the figures read it from ``metrics.csv``.

    Attributes:
        generations: ``[G]`` generation numbers.
        theta: projection -> ``[G, k]`` the rule's summary numbers per generation (its coefficients,
            per-synapse ones averaged over synapses; :func:`plastix.rules.summarise`).
        rows: the metrics rows themselves (column -> value).
        summary: the run's ``summary.json`` (``None`` before it is written), so that a figure
            shows the numbers the printed summary gives.
    """

    generations: Any
    theta: Mapping[str, Any]
    rows: list[dict[str, float]]
    summary: Mapping[str, Any] | None = None


class Memory(NamedTuple):
    """The arrays of one episode that the memory estimate counts, in bytes (:func:`memory`).

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


def _no_check(cfg: Config) -> None:
    return None


def _no_lines(summary: dict) -> list[str]:
    return []


def headline(summary: dict) -> dict[str, float | None]:
    """The metrics every run reports: final training loss, held-out loss, angle to each reference rule
    (and, pruned, as learned).

    The default :attr:`Family.headline`; a family's own adds its metrics to these.
    """
    out = {"loss": summary.get("loss"), "heldout_loss": summary.get("heldout_loss")}
    out.update({f"angle_{k}": v for k, v in summary.get("angles", {}).items()})
    # A pruned run's angles as learned, before pruning (its ``angle_*`` are the pruned rule's).
    out.update({f"learned_angle_{k}": v for k, v in summary.get("learned", {}).get("angles", {}).items()})
    return out


class Family(NamedTuple):
    """A recipe: which components an experiment pairs by default, and how its runs report.

    What runs is built from components (:mod:`plastix.experiment.components`);
    a family says which network and task kinds it pairs (any of its tasks with
    any of its networks), what a config that names none gets, and how its runs
    are printed, drawn, summarised and exported (the optax style: a
    NamedTuple of functions).

    Attributes:
        name: the family's name (``family = "..."`` in a config; ``plastix list``).
        description: one line for ``plastix list``.
        networks: the ``[network]`` kinds it pairs; the first is the default, and
            a config whose network has one of these kinds belongs to this family
            (the first family that lists it, unless ``family`` says otherwise).
        tasks: the ``[task]`` kinds it pairs; the first is the default.
        rule: the kind of a ``[rules.<projection>]`` section that names none.
        rules_text: ``(experiment, theta) -> {projection: equation}``.
        example: ``(experiment, theta, key, heldout) -> (arrays, summary)``:
            ``arrays`` (one example episode trained with the final rule) go to
            ``final.npz``, ``summary`` entries into ``summary.json``;
            ``heldout`` holds the held-out metrics per episode.
        figures: ``(experiment, history, arrays | None) -> {file name: figure}`` (a figure, or what a
            :mod:`plastix.plotting` function returned: figures compose from them),
            beside the generic ``loss.png``.
        check: ``config -> None``, checks of the recipe's own (raise ``ValueError``);
            the components check themselves.
        columns: ``(experiment, theta) -> {column: value}``, extra metrics
            columns per generation, or ``None``.
        summary_lines: ``summary -> [line]``, what ``plastix show`` prints
            beyond the generic lines.
        exporters: format -> ``(config, summary, duration) -> text``, for
            ``plastix export --<format>``.
        default_rules: the raw ``[rules]`` of a config that names none.
        tiny: a raw config of this family that runs in seconds: the contract
            tests run every registered family on it.
        report_memory: ``(config, Memory) -> bytes`` its reports hold once
            beyond the run's own arrays (the gd_approx learning curves), or
            ``None``; counted in :func:`memory_estimate`.
        headline: ``summary -> {metric: value}``, the numbers of a finished
            run that ``plastix sweep`` averages over seeds (default
            :func:`headline`: loss, held-out loss, angles).
    """

    name: str
    description: str
    networks: tuple[str, ...]
    tasks: tuple[str, ...]
    rule: str
    rules_text: Callable[[Experiment, Mapping[str, Any]], dict[str, str]]
    example: Callable[..., tuple[dict, dict]]
    figures: Callable[[Experiment, History, Any], dict[str, Any]]
    check: Callable[[Config], None] = _no_check
    columns: Callable[[Experiment, Mapping[str, Any]], dict[str, float]] | None = None
    summary_lines: Callable[[dict], list[str]] = _no_lines
    exporters: Mapping[str, Callable[[Config, dict, float | None], str]] = {}
    default_rules: Mapping[str, Mapping[str, Any]] = {}
    tiny: Mapping[str, Any] = {}
    report_memory: Callable[[Config, Memory], int] | None = None
    headline: Callable[[dict], dict[str, float | None]] = headline


FAMILIES: dict[str, Family] = {}
_DEFAULT: list[str] = []  # the family of a config that names no network kind


def register(family: Family, replace: bool = False, default: bool = False) -> Family:
    """Add ``family`` to the registry; the kinds it pairs must be registered components.

    With ``default`` it becomes the family of configs that name no ``[network]`` kind.
    """
    _shipped()  # first, so that a shipped family never replaces a user's of the same name later
    if family.name in FAMILIES and not replace:
        raise ValueError(f"family {family.name!r} is already registered")
    for role, kinds in (("network", family.networks), ("task", family.tasks), ("rule", (family.rule,))):
        if not kinds:
            raise ValueError(f"family {family.name!r} pairs no {role}")
        unknown = [k for k in kinds if k not in components.components(role)]
        if unknown:
            raise ValueError(
                f"family {family.name!r}: {role} {unknown[0]!r} is no registered component "
                f"(plastix.experiment.components.register its section first)"
            )
    FAMILIES[family.name] = family
    if default or not _DEFAULT:
        _DEFAULT[:] = [family.name]
    return family


def unregister(name: str) -> None:
    _shipped()
    FAMILIES.pop(name, None)


#: The entry-point group of modules that register families when imported (``pyproject.toml``:
#: plastix's own ``plastix.experiment.families``; another package may add its own).
ENTRY_POINTS = "plastix.families"
_LOADED = [False]


def _shipped() -> None:
    """Register the installed families on first use: import each module of the entry-point group
    :data:`ENTRY_POINTS`.

    The registry names no family module itself (the recipes sit above it and import it), and
    ``plastix.experiment`` imports nothing until a name is used, so that the command line starts
    at once; the families are loaded by the first lookup instead.
    """
    if _LOADED[0]:
        return
    _LOADED[0] = True  # first: a family module's own register() calls come back here
    for ep in entry_points(group=ENTRY_POINTS):
        ep.load()


def registry() -> dict[str, Family]:
    """The registered families by name."""
    _shipped()
    return FAMILIES


def default() -> Family:
    """The family of a config that names neither a family nor a network kind."""
    _shipped()
    return FAMILIES[_DEFAULT[0]]


def get(name: str) -> Family:
    _shipped()
    if name not in FAMILIES:
        raise UserError(f"unknown family {name!r}; registered: {sorted(FAMILIES)}")
    return FAMILIES[name]


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


def memory(cfg: Config) -> Memory | None:
    """One episode's arrays by size, from the components' footprints; from the config alone
    (nothing is built or allocated).

    The network's and the task's :class:`~plastix.experiment.components.Footprint`, and per
    projection its rule's coefficients (held by every candidate), state (traces) and one step's
    temporaries (:meth:`~plastix.experiment.components.RuleSection.temporaries`, for the task's
    samples per step). It runs before the checks that join sections: it may rely on each section
    being valid, not on the sections agreeing (it may raise ``ValueError`` itself). ``None`` when
    the task does not say how many steps an episode has (a plugin task that estimates nothing).
    """
    n, t = cfg.network, cfg.task
    if t.inner_steps(cfg) is None:
        return None
    b = components.itemsize(cfg)
    net, task = n.footprint(cfg), t.footprint(cfg)
    projections = n.projections()
    mine = {p: (rc, projections[p]) for p, rc in cfg.rules.items() if p in projections}
    coefficients = sum(rc.coefficients(proj) for rc, proj in mine.values())
    rules_state = sum(rc.state_size(proj) for rc, proj in mine.values()) + coefficients
    batch = t.step_batch(cfg)
    rules_step = sum(rc.temporaries(proj, batch) for rc, proj in mine.values())
    mem = Memory(
        net.data + task.data,
        net.state + task.state + rules_state * b,
        net.step + task.step + rules_step * b,
        t.inner_steps(cfg),
        t.input_chunk(cfg),
        coefficients,
        ", ".join(w for w in (net.what, task.what) if w),
        net.fixed + task.fixed,
    )
    report = get(cfg.family).report_memory
    return mem if report is None else mem._replace(fixed=mem.fixed + report(cfg, mem))


def memory_estimate(cfg: Config) -> tuple[int, str] | None:
    """Bytes ``cfg``'s run keeps live at its peak, and how they add up (``None``: see :func:`memory`).

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
    mem = memory(cfg)
    if mem is None:
        return None
    m, t = cfg.meta, cfg.task
    d = mem.coefficients
    n, who = m.candidates(d), m.who(d)
    each = mem.state + mem.step + m.stored(mem)
    outer = m.outer_memory(d, t.episodes)
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
