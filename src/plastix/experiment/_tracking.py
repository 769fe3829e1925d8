"""Experiment trackers: a run's metrics rows mirrored to TensorBoard as they are written.

``metrics.csv`` is the record of a run: :func:`plastix.experiment.resume` reads
it back, ``plastix show`` summarises it. A tracker receives the same rows, one
per generation, so that a long run can be watched in a tracking tool while it
goes (``tensorboard --logdir runs/``) and runs compared there; nothing is ever
read back from it. A config asks for trackers with its top-level ``track``
key, e.g. ``track = ["tensorboard"]``: the event files go to
``<run dir>/tensorboard/``. The trackers are optional dependencies
(``pip install 'plastix[track]'``); without them, a config that asks for one
is a one-line error before anything runs.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from plastix.experiment._errors import UserError

#: The tracker kinds a config's ``track`` may name, and the package each needs (the ``track`` extra).
PACKAGES = {"tensorboard": "tensorboardX"}
KINDS = tuple(PACKAGES)

#: Where :func:`open_tracker` writes TensorBoard's event files, inside the run directory.
TENSORBOARD_DIR = "tensorboard"

#: A row's step column: the step axis of every scalar, not a scalar of its own.
STEP_COLUMN = "generation"


class Tracker(NamedTuple):
    """Where a run's metrics rows go besides ``metrics.csv``.

    Attributes:
        log: ``log(step, row)``: one generation's row (``{column: value}``, the
            columns of ``metrics.csv``) at step ``step``. Values that are not
            finite numbers (the ``validation_loss`` of a generation that was not
            validated is NaN) are left out: a tracker plots points, not gaps.
        close: flush and release what the tracker holds; call it once, at the end.
    """

    log: Callable[[int, Mapping[str, float]], None]
    close: Callable[[], None]


def _scalars(row: Mapping[str, float]) -> dict[str, float]:
    """The entries of ``row`` a tracker plots: finite numbers, the step column aside."""
    out = {}
    for k, v in row.items():
        if k == STEP_COLUMN or isinstance(v, bool | str):
            continue
        try:
            v = float(v)  # Python and numpy numbers, 0-d arrays
        except (TypeError, ValueError):
            continue
        if math.isfinite(v):
            out[k] = v
    return out


def _nothing() -> Tracker:
    """A tracker that keeps nothing (``track = []``): the runner calls it all the same."""
    return Tracker(log=lambda step, row: None, close=lambda: None)


def _tensorboard(path: Path, start: int) -> Tracker:
    """TensorBoard event files in ``path/tensorboard/``, written by tensorboardX.

    tensorboardX writes the event format without TensorFlow or PyTorch. Each
    row is flushed as it is logged, so that the event file holds what
    ``metrics.csv`` holds even after a crash. ``start`` > 0 (a resumed run)
    asks TensorBoard to hide the events of steps from ``start`` on that an
    interrupted run wrote before its last checkpoint, as resume drops those rows
    from ``metrics.csv``: the plotted curves then equal an uninterrupted run's.
    """
    require(["tensorboard"])
    from tensorboardX import SummaryWriter

    logdir = path / TENSORBOARD_DIR
    try:
        # The file name holds the time in whole seconds and the host; the first generation
        # keeps a resume within the same second from overwriting the file before it, and
        # zero-padded it keeps TensorBoard's reading order (by name) the order of writing.
        writer = SummaryWriter(
            logdir=str(logdir),
            purge_step=start if start > 0 else None,
            filename_suffix=f".from{start:09d}",
        )
    except OSError as err:
        raise UserError(f"cannot write {logdir}: {err.strerror}") from None

    def log(step: int, row: Mapping[str, float]) -> None:
        for k, v in _scalars(row).items():
            writer.add_scalar(k, v, global_step=int(step))
        writer.flush()

    return Tracker(log=log, close=writer.close)


def _all(trackers: Sequence[Tracker]) -> Tracker:
    """One tracker that hands each row to every tracker of ``trackers``."""

    def log(step: int, row: Mapping[str, float]) -> None:
        for t in trackers:
            t.log(step, row)

    def close() -> None:
        for t in trackers:
            t.close()

    return Tracker(log=log, close=close)


def require(kinds: Sequence[str]) -> None:
    """Refuse trackers that cannot be opened: an unknown kind, or one whose package is missing.

    Opens and writes nothing, so that a run can refuse before it makes its
    directory; :func:`open_tracker` checks the same.

    Raises:
        UserError: one line, naming ``pip install 'plastix[track]'`` for a missing package.
    """
    for kind in kinds:
        if kind not in PACKAGES:
            raise UserError(f"track: unknown tracker {kind!r} (allowed: {', '.join(KINDS)})")
        try:
            importlib.import_module(PACKAGES[kind])
        except ImportError:
            raise UserError(
                f"track = [{kind!r}] needs {PACKAGES[kind]}: pip install 'plastix[track]'"
            ) from None


def open_tracker(kinds: Sequence[str], path: Path, start: int = 0) -> Tracker:
    """The tracker of a run directory: every kind of ``kinds`` at once (none: a no-op).

    Args:
        kinds: tracker kinds (:data:`KINDS`), the config's ``track``.
        path: the run directory; each tracker writes into a folder of its own there.
        start: the first generation this process logs (a resumed run's
            checkpoint): what a tracker holds from that step on is superseded.

    Raises:
        UserError: an unknown kind, or a kind whose package is not installed
            (``pip install 'plastix[track]'``).
    """
    require(kinds)
    openers = {"tensorboard": _tensorboard}
    return _all([openers[k](Path(path), start) for k in dict.fromkeys(kinds)]) if kinds else _nothing()
