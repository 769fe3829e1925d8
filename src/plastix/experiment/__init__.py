"""Configs, run directories, the generation loop, resume: the only layer with I/O.

Everything here is generic; what differs between experiments is declared by
a :class:`Family` (``plastix/experiment/families/``) and found through the
registry (:func:`registry`, :func:`register`).
"""

from plastix.experiment._backend import BACKENDS, Backend, Placement, open_backend
from plastix.experiment._build import OPTIMIZERS, Experiment, build, thetas
from plastix.experiment._config import (
    Config,
    MetaConfig,
    RuleSection,
    Section,
    TaskSection,
    UserError,
    apply_overrides,
    config_dir,
    dump_config,
    kind_of,
    load,
    shipped_config,
    shipped_configs,
    validate,
)
from plastix.experiment._export import brian2_script
from plastix.experiment._family import (
    Family,
    History,
    Memory,
    Parts,
    config_model,
    in_section,
    listing,
    memory_estimate,
    register,
    registry,
    unregister,
)
from plastix.experiment._figures import write_figures
from plastix.experiment._interrupt import Interrupted
from plastix.experiment._runner import execute, resume, run
from plastix.experiment._sweep import SweepFailed, parse_seeds, resume_sweep, sweep

__all__ = [
    "BACKENDS",
    "Backend",
    "OPTIMIZERS",
    "Placement",
    "open_backend",
    "parse_seeds",
    "Config",
    "Experiment",
    "Family",
    "History",
    "Interrupted",
    "Memory",
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
    "config_dir",
    "config_model",
    "dump_config",
    "execute",
    "registry",
    "in_section",
    "kind_of",
    "listing",
    "load",
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
