"""Components: each rule, network, task and optimiser kind is a registered config section that builds it.

A section states its contract (:mod:`._base`): what a network gives each plastic
projection and each task, what a rule needs, what a task requires. A config
may combine any components whose contracts fit. Importing this package
registers the shipped components; user code adds its own with :func:`register`.
"""

from plastix.experiment.components import networks, optimizers, rules, tasks  # noqa: F401  (they register)
from plastix.experiment.components._base import (
    REGISTRY,
    ROLES,
    Component,
    Footprint,
    NetworkSection,
    OptimizerSection,
    Projection,
    RuleSection,
    Section,
    TaskSection,
    components,
    get,
    itemsize,
    kind_of,
    register,
    rule_misfit,
    task_misfit,
    unregister,
)

__all__ = [
    "REGISTRY",
    "ROLES",
    "Component",
    "Footprint",
    "NetworkSection",
    "OptimizerSection",
    "Projection",
    "RuleSection",
    "Section",
    "TaskSection",
    "components",
    "get",
    "itemsize",
    "kind_of",
    "register",
    "rule_misfit",
    "task_misfit",
    "unregister",
]
