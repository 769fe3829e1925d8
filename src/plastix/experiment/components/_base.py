"""Config sections of components, their registry, and the contracts that say which combine.

A **component** is one kind of rule, network or task, configured by one
pydantic section (``[rules.<projection>]``, ``[network]``, ``[task]``) that
builds it. Each section states what it offers and what it needs:

* a network section, per plastic projection, the local signals its step gives
  the rule (:class:`Projection`), and what its runs give a task (``gives``:
  ``"linear_map"``, ``"spikes"``, ...);
* a rule section the local signals its rule reads (:meth:`RuleSection.needs`),
  and whether it takes a layered projection (a tuple of weight matrices);
* a task section what it requires of the network (``requires``).

Any rule runs on any network whose projection gives what the rule needs
(:func:`rule_misfit`), and a task runs with a network that gives what the
task requires (:func:`task_misfit`) when a family pairs the two
(:class:`plastix.experiment.Family`): the family holds the reports of such runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple

import jax
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from plastix.experiment._errors import UserError
from plastix.rules import REFERENCES

if TYPE_CHECKING:
    from plastix.networks import Network
    from plastix.rules import Rule
    from plastix.tasks import Task

ROLES = ("rule", "network", "task", "optimizer")


class Section(BaseModel):
    """A config section: unknown keys are errors, assignments are validated.

    NaN and infinity are refused in every float field (TOML writes them
    ``nan``, ``inf``, and reads ``1e400`` as ``inf``): no field means them, and
    one would only surface later as an unstable or never-ending run.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    def unused(self) -> dict[str, str]:
        """The fields that have no effect with this section's other values, each with why
        (``{"eta_lateral": "lateral = false"}``): ``plastix check`` leaves them out."""
        return {}


def kind_of(section: type[Section]) -> str:
    """The ``kind`` a section class stands for (the default of its ``kind`` field; an optimiser's
    ``optimizer``)."""
    fields = section.model_fields
    return fields["kind" if "kind" in fields else "optimizer"].default


class Projection(NamedTuple):
    """One plastic projection as its rule sees it.

    Attributes:
        local: the keys of ``local[projection]`` that the network's step gives.
        shape: ``(post, pre)`` of its weight matrix; for a layered projection
            (a tuple of matrices, :func:`plastix.networks.mlp`) the shape of
            each layer, first to last, in ``layers``.
        layers: per-layer ``(post, pre)`` of a layered projection, else ``None``.
        symbols: how its variables print (``{"pre": "y_j"}`` for a lateral
            projection whose presynaptic partner is another output).
        sparse: its weights are a list of synapses (:func:`plastix.networks.recurrent`'s
            event engine): only a rule that updates them event by event runs on it
            (``RuleSection.sparse``).
    """

    local: tuple[str, ...]
    shape: tuple[int, int]
    layers: tuple[tuple[int, int], ...] | None = None
    symbols: Mapping[str, str] = {}
    sparse: bool = False


def itemsize(cfg) -> int:
    """Bytes of one number of ``cfg``'s dtype."""
    return 8 if cfg.dtype == "float64" else 4


class Footprint(NamedTuple):
    """A component's share of one episode's arrays, in bytes (:func:`plastix.experiment.memory`).

    Attributes:
        data: per episode, shared by every candidate scored on it (a dataset, input rates, one
            step's or one chunk's inputs).
        state: per candidate and episode, live through the whole episode (weights, a recorder's
            carry).
        step: per candidate and episode, one step's temporaries (activity, errors; a task's
            scoring of the final state).
        fixed: held once per run whatever the population (a dataset in memory, a mask).
        what: the sizes behind these numbers, for the message of a refusal.
    """

    data: int = 0
    state: int = 0
    step: int = 0
    fixed: int = 0
    what: str = ""


class Component(Section):
    """Base of every component's section: a ``kind``, a line for ``plastix list``, and ``tiny``,
    the section's values of a run that takes seconds (the contract tests combine them)."""

    role: ClassVar[str]
    description: ClassVar[str] = ""
    tiny: ClassVar[dict[str, Any]] = {}

    kind: str


class NetworkSection(Component):
    """Base of every ``[network]`` section.

    A subclass fixes ``kind`` (a ``Literal`` with that default), lists its
    plastic projections in :meth:`projections`, names what its runs give a task
    in ``gives`` and builds the network in :meth:`network`.
    """

    role: ClassVar[str] = "network"
    gives: ClassVar[tuple[str, ...]] = ()

    def projections(self) -> dict[str, Projection]:
        """Plastic projection -> what its rule can read."""
        raise NotImplementedError(f"{type(self).__name__}.projections")

    def network(self) -> Network:
        """The :class:`plastix.networks.Network`."""
        raise NotImplementedError(f"{type(self).__name__}.network")

    def footprint(self, cfg) -> Footprint:
        """Its arrays in one episode (weights, state, one step's activity), from the config alone."""
        return Footprint()


class TaskSection(Component):
    """Base of every ``[task]`` section: the episode counts the generic runner reads.

    A subclass fixes ``kind``, names what it requires of the network in
    ``requires``, and builds its tasks in :meth:`tasks`; it may change these
    fields' defaults.
    """

    role: ClassVar[str] = "task"
    requires: ClassVar[tuple[str, ...]] = ()

    episodes: int = Field(20, ge=1, description="training episodes per generation")
    heldout_episodes: int = Field(50, ge=1, description="fresh episodes for the final score")
    resample: bool = Field(False, description="draw fresh training episodes every generation")

    def tasks(self, cfg) -> tuple[Task, Task | None]:
        """The training task and, when held-out episodes come from another distribution
        (classes never seen in meta-training), the held-out one; else ``None``."""
        raise NotImplementedError(f"{type(self).__name__}.tasks")

    def loss_options(self, cfg) -> dict[str, Any]:
        """Extra keyword arguments of :func:`plastix.tasks.meta_loss` (e.g. ``chunk``)."""
        return {}

    def check(self, cfg) -> None:
        """Checks that join this section with the network or ``[meta]`` (raise ``ValueError``)."""

    def ready(self, cfg) -> None:
        """Checks of what lies outside the config (data files), run by ``plastix run`` before it
        makes a run directory, never by validation; raise :class:`UserError`."""

    def footprint(self, cfg) -> Footprint:
        """Its arrays in one episode (the episode's data, what it records, its scoring), from the
        config alone; it may rely on each section being valid, not on the sections agreeing."""
        return Footprint()

    def inner_steps(self, cfg) -> int | None:
        """Inner steps per episode; ``None`` (a task that does not say): no memory estimate."""
        return None

    def input_chunk(self, cfg) -> int | None:
        """Steps whose inputs are drawn at once (a meta-gradient with remat then stores ``steps /
        chunk + chunk`` states), else ``None``."""
        return None

    def step_batch(self, cfg) -> int:
        """Samples each step gives a rule (a batch of inputs), for the rules' temporaries."""
        return 1


class RuleSection(Component):
    """Base of every ``[rules.<projection>]`` section.

    A subclass fixes ``kind``, says which local signals its rule reads
    (:meth:`needs`), builds the rule for a projection (:meth:`rule`) and states,
    as class attributes, which named reference rules are thetas of its kind
    (``references``), how many leading coefficients an angle to a reference is
    taken over (``angle_terms``, ``None``: all), whether :func:`plastix.meta.prune`
    applies (``prunable``), whether it takes a layered projection (``layered``) and
    whether it updates a sparse one event by event (``sparse``).
    """

    role: ClassVar[str] = "rule"
    references: ClassVar[tuple[str, ...]] = ()
    angle_terms: ClassVar[int | None] = None
    prunable: ClassVar[bool] = False
    layered: ClassVar[bool] = False
    sparse: ClassVar[bool] = False

    reference: str | None = Field(None, description="named rule to measure the angle to")
    init: Literal["random", "zero", "reference"] = "random"
    init_std: float = Field(0.1, ge=0, description="theta0 ~ N(0, init_std^2) when init = 'random'")

    def needs(self) -> tuple[str, ...]:
        """The keys of ``local`` the rule reads."""
        raise NotImplementedError(f"{type(self).__name__}.needs")

    def rule(self, projection: Projection) -> Rule:
        """The :class:`plastix.rules.Rule` this section describes, for ``projection``."""
        raise NotImplementedError(f"{type(self).__name__}.rule")

    def coefficients(self, projection: Projection) -> int:
        """How many numbers theta has on ``projection`` (shapes only; nothing is allocated)."""
        shapes = jax.eval_shape(self.rule(projection).init_theta, jax.random.PRNGKey(0))
        return sum(s.size for s in jax.tree.leaves(shapes))

    def temporaries(self, projection: Projection, batch: int) -> int:
        """Numbers one step of the rule holds on ``projection`` with ``batch`` samples a step (for a
        memory estimate): by default a few ``[batch, post, pre]`` arrays."""
        post, pre = projection.shape
        return 4 * max(batch, 1) * post * pre

    def state_size(self, projection: Projection) -> int:
        """Numbers of the rule's own state (traces) on ``projection``."""
        return 0

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
        if self.init == "reference" and not allowed:
            raise ValueError(f"init = 'reference': {self.kind} has no reference rule")
        if self.init == "reference" and self.reference is None:
            raise ValueError(f"init = 'reference' needs a reference rule (reference = {allowed[0]!r}, ...)")
        return self


class OptimizerSection(Section):
    """Base of every ``[meta]`` section: the fields every outer loop shares, and the questions
    generic code asks an optimiser.

    A subclass fixes ``optimizer`` (a ``Literal`` with that default), adds its
    own fields, builds its :class:`plastix.meta.MetaOptimizer` in :meth:`build`
    and says how many thetas a generation scores (:meth:`candidates`).
    ``legacy`` maps the keys of the flat ``[meta]`` of plastix 0.1 that were
    this optimiser's settings to its fields (``fd_epsilon`` -> ``epsilon``);
    configs and run directories of that format are migrated on reading.
    """

    role: ClassVar[str] = "optimizer"
    description: ClassVar[str] = ""
    legacy: ClassVar[dict[str, str]] = {}

    optimizer: str
    generations: int = Field(300, ge=1)
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

    @field_validator("scale")
    @classmethod
    def _scale(cls, v):
        if v is not None and any(x <= 0 for x in v):
            raise ValueError("every entry must be > 0 (a coefficient's typical size)")
        return v

    def unused(self) -> dict[str, str]:
        if self.validate_every is None:
            return {"validate_episodes": "no validate_every", "select": "no validate_every"}
        return {}

    @model_validator(mode="after")
    def _select(self):
        if self.select == "best" and self.validate_every is None:
            raise ValueError("meta.select = 'best' needs meta.validate_every")
        return self

    def build(self, bounds) -> Any:
        """The :class:`plastix.meta.MetaOptimizer`; ``bounds``: the rules' bounds as two pytrees
        like theta, or ``None`` when no rule is bounded."""
        raise NotImplementedError(f"{type(self).__name__}.build")

    def candidates(self, dim: int) -> int:
        """Thetas a generation scores, for ``dim`` coefficients."""
        raise NotImplementedError(f"{type(self).__name__}.candidates")

    def loss_options(self) -> dict[str, Any]:
        """Keyword arguments of the training :func:`plastix.tasks.meta_loss` (``remat``)."""
        return {}

    def stored(self, mem) -> int:
        """Bytes a candidate keeps per episode beyond one step's (a meta-gradient's stored states),
        from a :class:`plastix.experiment.Memory`."""
        return 0

    def outer_memory(self, dim: int, episodes: int) -> int:
        """Bytes the outer loop itself keeps: flat thetas in float64 on the host and a device copy."""
        return self.candidates(dim) * dim * 16

    def who(self, dim: int) -> str:
        """How the memory message names the candidates (``"popsize 20 x "``)."""
        n = self.candidates(dim)
        return f"popsize {n} x " if n > 1 else ""

    def check(self, dim: int) -> None:
        """Checks of the optimiser against the rules' ``dim`` coefficients (raise ``ValueError``)."""


_BASES: dict[str, type[Section]] = {
    "rule": RuleSection,
    "network": NetworkSection,
    "task": TaskSection,
    "optimizer": OptimizerSection,
}
REGISTRY: dict[str, dict[str, type[Section]]] = {role: {} for role in ROLES}


def register(section: type[Section], replace: bool = False) -> type[Section]:
    """Add a component's section to the registry (usable as a class decorator)."""
    role = next((r for r, base in _BASES.items() if issubclass(section, base)), None)
    if role is None:
        raise TypeError(f"{section.__name__} derives from none of {[b.__name__ for b in _BASES.values()]}")
    kind = kind_of(section)
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"{section.__name__}.kind needs a default: the kind it stands for")
    if kind in REGISTRY[role] and REGISTRY[role][kind] is not section and not replace:
        raise ValueError(f"{role} {kind!r} is already registered")
    REGISTRY[role][kind] = section
    return section


def unregister(role: str, kind: str) -> None:
    REGISTRY[role].pop(kind, None)


def components(role: str) -> dict[str, type[Section]]:
    """The registered sections of ``role`` (``rule``, ``network``, ``task``, ``optimizer``) by kind."""
    return REGISTRY[role]


def get(role: str, kind: str) -> type[Section]:
    table = REGISTRY[role]
    if kind not in table:
        raise UserError(f"unknown {role} {kind!r}; registered: {sorted(table)}")
    return table[kind]


def rule_misfit(rule: RuleSection, network: NetworkSection, projection: str) -> str | None:
    """Why ``rule`` cannot run on ``network``'s ``projection`` (one line), or ``None`` when it can."""
    proj = network.projections()[projection]
    missing = [s for s in rule.needs() if s not in proj.local]
    if missing:
        return (
            f"rule {rule.kind!r} needs {missing[0]!r}, which network {network.kind!r} does not give "
            f"for projection {projection!r} (it gives: {', '.join(proj.local)})"
        )
    if proj.sparse and not type(rule).sparse:
        return (
            f"rule {rule.kind!r} updates a weight matrix; projection {projection!r} of network "
            f"{network.kind!r} is a list of synapses (rules that update synapses event by event: "
            f"{', '.join(sorted(k for k, r in REGISTRY['rule'].items() if r.sparse))}; or "
            f'network.engine = "dense")'
        )
    if proj.layers is not None and not type(rule).layered:
        return (
            f"rule {rule.kind!r} takes one weight matrix; projection {projection!r} of network "
            f"{network.kind!r} is {len(proj.layers)} layers (rules for layered projections: "
            f"{', '.join(sorted(k for k, r in REGISTRY['rule'].items() if r.layered))})"
        )
    return None


def task_misfit(task: type[TaskSection], network: type[NetworkSection]) -> str | None:
    """Why ``task`` cannot score ``network`` (one line), or ``None`` when it can."""
    missing = [s for s in task.requires if s not in network.gives]
    if missing:
        return (
            f"task {kind_of(task)!r} needs {missing[0]!r}, which network {kind_of(network)!r} "
            f"does not give (it gives: {', '.join(network.gives) or 'nothing'})"
        )
    return None
