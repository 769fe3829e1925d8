"""Tasks: data distributions, the inner loop, and the loss that scores it."""

from plastix.tasks._base import Episode, LossFn, Recorder, Task, meta_loss, sqrt_chunk, unroll
from plastix.tasks._few_shot import by_class, few_shot, split_classes
from plastix.tasks._network import (
    PLAUSIBLE,
    network_recorder,
    network_stability,
    network_statistics,
    plausible,
)
from plastix.tasks._pca import pca, random_rotation, spectrum
from plastix.tasks._supervised import OBJECTIVES, gradient_twin, labelled, supervised, teacher
from plastix.tasks._target_rate import input_rates, spike_counts, target_rate

__all__ = [
    "Episode",
    "LossFn",
    "Recorder",
    "Task",
    "meta_loss",
    "pca",
    "random_rotation",
    "spectrum",
    "sqrt_chunk",
    "unroll",
]
__all__ += ["input_rates", "spike_counts", "target_rate"]
__all__ += ["by_class", "few_shot", "split_classes"]
__all__ += ["OBJECTIVES", "gradient_twin", "labelled", "supervised", "teacher"]
__all__ += ["PLAUSIBLE", "network_recorder", "network_stability", "network_statistics", "plausible"]
