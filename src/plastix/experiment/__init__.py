"""Configs, run directories, the generation loop, resume: the only layer with I/O."""

from plastix.experiment._build import NETWORKS, OPTIMIZERS, RULES, TASKS, Experiment, build
from plastix.experiment._config import Config, UserError, apply_overrides, load, validate
from plastix.experiment._export import brian2_script
from plastix.experiment._figures import write_figures
from plastix.experiment._runner import execute, resume, run

__all__ = [
    "NETWORKS",
    "OPTIMIZERS",
    "RULES",
    "TASKS",
    "Config",
    "Experiment",
    "UserError",
    "apply_overrides",
    "brian2_script",
    "build",
    "execute",
    "load",
    "resume",
    "run",
    "validate",
    "write_figures",
]
