"""Configs, run directories, the generation loop, resume: the only layer with I/O.

Everything here is generic. What runs is built from registered components
(:mod:`plastix.experiment.components`: rule, network, task and optimiser sections);
how a kind of experiment reports is a :class:`Family` recipe
(``plastix/experiment/families/``), found through the registry
(:func:`registry`, :func:`register`).
"""

from plastix.experiment import components, families  # noqa: F401  (importing them registers the shipped ones)
from plastix.experiment._backend import BACKENDS, Backend, Placement, open_backend
from plastix.experiment._build import OPTIMIZERS, Experiment, Parts, build, parts, thetas
from plastix.experiment._config import (
    Config,
    ConfigWarning,
    MetaConfig,
    apply_overrides,
    component_listing,
    config_dir,
    config_model,
    dump_config,
    listing,
    load,
    shipped_config,
    shipped_configs,
    validate,
)
from plastix.experiment._errors import UserError
from plastix.experiment._export import brian2_script
from plastix.experiment._family import (
    Family,
    History,
    Memory,
    memory,
    memory_estimate,
    register,
    registry,
    unregister,
)
from plastix.experiment._figures import write_figures
from plastix.experiment._interrupt import Interrupted
from plastix.experiment._runner import execute, resume, run
from plastix.experiment._sweep import SweepFailed, parse_seeds, resume_sweep, sweep
from plastix.experiment.components import (
    NetworkSection,
    Projection,
    RuleSection,
    Section,
    TaskSection,
    kind_of,
)
from plastix.experiment.components.networks import in_section

__all__ = [
    "BACKENDS",
    "Backend",
    "OPTIMIZERS",
    "Placement",
    "open_backend",
    "parse_seeds",
    "Config",
    "ConfigWarning",
    "Experiment",
    "Family",
    "History",
    "Interrupted",
    "Memory",
    "NetworkSection",
    "Projection",
    "MetaConfig",
    "Parts",
    "RuleSection",
    "Section",
    "SweepFailed",
    "TaskSection",
    "UserError",
    "apply_overrides",
    "brian2_script",
    "build",
    "component_listing",
    "components",
    "parts",
    "config_dir",
    "config_model",
    "dump_config",
    "execute",
    "registry",
    "in_section",
    "kind_of",
    "listing",
    "load",
    "memory",
    "memory_estimate",
    "register",
    "resume",
    "resume_sweep",
    "run",
    "shipped_config",
    "shipped_configs",
    "sweep",
    "thetas",
    "unregister",
    "validate",
    "write_figures",
]
