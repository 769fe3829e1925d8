"""The stages of a run, timed, and the two ways of showing them: a live view and plain lines.

A run goes through named stages (:data:`STAGES`): building the experiment, the
generations of the outer loop, the final scoring of the learned rule, the
figures. :class:`Stages` times each one, wall clock and the part of it JAX spent
tracing and compiling (``jax.monitoring``'s compile events), so that a summary
can say where the time went; a display (:class:`Live` on a terminal,
:class:`Lines` otherwise, or none) shows each stage with its progress and an
estimate of the time left. Nothing here imports JAX until a run starts.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TextIO

#: The stages a run goes through, in order; ``timings`` in ``summary.json`` has one entry each.
STAGES = ("build", "generations", "final scoring", "figures")

#: JAX's duration events of compilation: tracing to a jaxpr, lowering to MLIR, XLA's compile.
_COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)


class Display(Protocol):
    """What shows the stages: told when each starts, advances and ends."""

    def start(self, stage: str, total: int | None, done: int = 0, uniform: bool = True) -> None: ...

    def update(self, stage: str, done: int, info: str = "") -> None: ...

    def end(self, stage: str, wall_s: float, compile_s: float) -> None: ...


def clock(seconds: float | None) -> str:
    """``1:02:03`` / ``2:03``; ``-:--`` when unknown."""
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "-:--"
    s = int(round(seconds))
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


def seconds(s: float) -> str:
    """A duration to a readable precision: ``0.42 s``, ``12.3 s``, ``227 s``, ``1:02:03``."""
    if s < 10:
        return f"{s:.2g} s" if s < 1 else f"{s:.1f} s"
    return f"{s:.0f} s" if s < 600 else clock(s)


class Stages:
    """Times the stages of a run and tells a display about them.

    ``with stages("generations", total=G, done=g0) as advance: advance(g, info)``. Each stage's
    wall time and the JAX compile time inside it accumulate in :meth:`timings`. The first
    steps of a stage (a generation that compiles) are left out of its estimate of time left.
    """

    def __init__(self, display: Display | None = None):
        self.display = display
        self.wall: dict[str, float] = {}
        self.compile: dict[str, float] = {}
        self._current: str | None = None
        self._listening = False

    def _on_event(self, event: str, duration: float, **_) -> None:
        if event in _COMPILE_EVENTS:  # between stages (an optimiser's set-up): counted in the total
            stage = self._current or "between stages"
            self.compile[stage] = self.compile.get(stage, 0.0) + duration

    @contextmanager
    def listening(self) -> Iterator[Stages]:
        """Count JAX's compile time while inside (a run); listeners are process-wide."""
        import jax.monitoring

        jax.monitoring.register_event_duration_secs_listener(self._on_event)
        self._listening = True
        try:
            yield self
        finally:
            self._listening = False
            jax.monitoring.unregister_event_duration_listener(self._on_event)

    @contextmanager
    def __call__(self, name: str, total: int | None = None, done: int = 0, uniform: bool = True):
        outer, self._current = self._current, name
        if self.display:
            self.display.start(name, total, done, uniform)
        t0 = time.perf_counter()

        def advance(completed: int, info: str = "") -> None:
            if self.display:
                self.display.update(name, completed, info)

        try:
            yield advance
        finally:
            wall = time.perf_counter() - t0
            self.wall[name] = self.wall.get(name, 0.0) + wall
            self._current = outer
            if self.display:
                self.display.end(name, wall, self.compile.get(name, 0.0))

    def timings(self) -> dict[str, float]:
        """``{stage}_s`` (wall, compilation included) and ``{stage}_compile_s`` per stage,
        ``compile_s`` over all stages, ``total_s``."""
        out = {}
        for k, v in self.wall.items():
            out[f"{k.replace(' ', '_')}_s"] = v
            out[f"{k.replace(' ', '_')}_compile_s"] = self.compile.get(k, 0.0)
        out["compile_s"] = sum(self.compile.values())
        out["total_s"] = sum(self.wall.values())
        return out


def breakdown(timings: dict[str, float]) -> str:
    """``227 s (compile 80 s, build 1 s, generations 36 s, final scoring 99 s, figures 11 s)`` (each stage
    without the compilation inside it, which is counted once under ``compile``)."""
    if not timings:
        return ""
    compiled = timings.get("compile_s", 0.0)
    parts = [f"compile {seconds(compiled)}"] if compiled else []
    for stage in STAGES:
        key = stage.replace(" ", "_")
        if f"{key}_s" in timings:
            own = timings[f"{key}_s"] - timings.get(f"{key}_compile_s", 0.0)
            parts.append(f"{stage} {seconds(max(own, 0.0))}")
    return f"{seconds(timings['total_s'])} ({', '.join(parts)})"


def sig(x: float | None, digits: int = 4) -> str:
    """``x`` to ``digits`` significant digits (``0.07512``, ``2.1e-06``, ``1234``); ``n/a`` for None.

    A fixed number of decimals prints ``0.0000`` for ``2e-6``: a non-zero value must never read
    as zero.
    """
    return "n/a" if x is None else f"{x:.{digits}g}"


def row_info(row: dict) -> str:
    """A generation's line: best and mean loss, the angles to the reference rules, unstable candidates."""
    angles = "  ".join(f"∠{k[6:]} {v:.1f}°" for k, v in row.items() if k.startswith("angle_"))
    unstable = int(row.get("n_unstable", 0))
    text = f"best {sig(row['loss_best'])}  mean {sig(row['loss_mean'])}"
    return text + (f"  {angles}" if angles else "") + (f"  unstable {unstable}" if unstable else "")


class _Eta:
    """Time left in a stage from the rate of its steps after the first one taken here (the first
    compiles: in the rate it would put the estimate minutes off)."""

    def __init__(self, total: int | None, done: int, uniform: bool = True):
        self.total, self.t0, self.t1, self.d1, self.done = total, time.perf_counter(), None, done, done
        self.uniform = uniform  # steps of one cost; otherwise no estimate (the rate would mislead)

    def step(self, done: int) -> None:
        if self.t1 is None and done > self.done:  # the first step ends: start the clock of the rate
            self.t1, self.d1 = time.perf_counter(), done
        self.done = done

    def left(self) -> float | None:
        if not self.uniform or self.total is None or self.t1 is None or self.done <= self.d1:
            return None
        rate = (time.perf_counter() - self.t1) / (self.done - self.d1)
        return rate * (self.total - self.done)

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0


class Lines:
    """Plain progress lines, for a log file (stdout not a terminal: nohup, SLURM, ``> log``).

    A line when a stage starts and ends, and in a stage with steps, one every ``every`` steps
    (a tenth of the stage) or ``period`` seconds, whichever comes first; each line is flushed.
    """

    def __init__(self, stream: TextIO | None = None, period: float = 30.0, prefix: str = "plastix: "):
        self.stream = stream or sys.stdout
        self.period, self.prefix = period, prefix
        self._eta: dict[str, _Eta] = {}
        self._last: dict[str, tuple[float, int]] = {}

    def say(self, text: str) -> None:
        self.stream.write(f"{self.prefix}{text}\n")
        self.stream.flush()

    def start(self, stage: str, total: int | None, done: int = 0, uniform: bool = True) -> None:
        self._eta[stage] = _Eta(total, done, uniform)
        self._last[stage] = (time.perf_counter(), done)
        of = f" ({total - done} of {total} to go)" if total and done else f" ({total})" if total else ""
        self.say(f"{stage}{of} ...")

    def update(self, stage: str, done: int, info: str = "") -> None:
        eta = self._eta[stage]
        eta.step(done)
        t_last, d_last = self._last[stage]
        every = max(1, (eta.total or 10) // 10)
        now = time.perf_counter()
        if done - d_last < every and now - t_last < self.period and done != eta.total:
            return
        self._last[stage] = (now, done)
        of = f"{done}/{eta.total} ({100 * done / eta.total:.0f}%) " if eta.total else f"{done} "
        left = f", left {clock(eta.left())}" if eta.uniform else ""
        self.say(f"{stage} {of}elapsed {clock(eta.elapsed())}{left}" + (f"  {info}" if info else ""))

    def end(self, stage: str, wall_s: float, compile_s: float) -> None:
        c = f" (compile {seconds(compile_s)})" if compile_s >= 0.05 else ""
        self.say(f"{stage} done in {seconds(wall_s)}{c}")


class Live:
    """A live view on a terminal (rich): a row per stage with its bar, steps, elapsed time and
    time left, and the latest step's line (losses, angles) below, wrapped to the terminal."""

    def __init__(self, console=None):
        from rich.console import Console, Group
        from rich.live import Live as _Live
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        from rich.text import Text

        self.console = console or Console(stderr=False)
        self.progress = Progress(
            TextColumn("{task.description:<13}"),
            BarColumn(bar_width=None if self.console.width > 100 else 20),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("left {task.fields[left]}"),
            console=self.console,
            expand=False,
        )
        self.info = Text("", overflow="fold")
        self.live = _Live(Group(self.progress, self.info), console=self.console, refresh_per_second=4)
        self._tasks: dict[str, int] = {}
        self._eta: dict[str, _Eta] = {}
        self._started = False

    def start(self, stage: str, total: int | None, done: int = 0, uniform: bool = True) -> None:
        if not self._started:  # only now: an error before the first stage stands alone
            self.live.start()
            self._started = True
        self._eta[stage] = _Eta(total, done, uniform)
        self._tasks[stage] = self.progress.add_task(stage, total=total, completed=done, left="-:--")
        if stage == "generations" and total and done < total:
            self.info.plain = "first generation: compiling the inner loop ..."

    def update(self, stage: str, done: int, info: str = "") -> None:
        eta = self._eta[stage]
        eta.step(done)
        self.progress.update(self._tasks[stage], completed=done, left=clock(eta.left()))
        if info:
            self.info.plain = info

    def end(self, stage: str, wall_s: float, compile_s: float) -> None:
        task = self._tasks[stage]
        total = self.progress.tasks[task].total
        self.progress.update(task, completed=total if total is not None else 1, total=total or 1, left="0:00")
        if stage != "generations":
            self.info.plain = ""

    def stop(self) -> None:
        if self._started:
            self.live.stop()
            self._started = False
