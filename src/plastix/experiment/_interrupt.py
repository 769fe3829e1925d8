"""Ctrl-C and SIGTERM during a run: stop after a complete, checkpointed generation.

A signal that arrives while a generation is in progress (inside pycma's
``tell``, say, which updates the optimiser state in place) only sets a flag;
the generation loop reads it once the generation is done, checkpoints that
generation and stops. Outside the loop (building, compiling, the final
scoring) there is no state a signal could tear, and every write is atomic,
so it stops at once. A second signal never waits.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """A run stopped on a signal; its directory holds a checkpoint of ``generation``.

    A :class:`KeyboardInterrupt`, so that code which already stops on Ctrl-C
    (a notebook, a script's ``except KeyboardInterrupt``) stops on this too.
    """

    def __init__(self, path: Path, generation: int, signum: int):
        super().__init__(f"interrupted after generation {generation}")
        self.path, self.generation, self.signum = path, generation, signum

    @property
    def exit_code(self) -> int:
        """The shell's convention for death by a signal: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum


class Guard:
    """What the generation loop needs to know about signals (see :func:`interruptible`).

    Attributes:
        signum: the first signal received, ``None`` while there was none.
        saved: the generation of the run's last checkpoint, kept up to date by
            the loop: what an interruption reports, and where a resume starts.
    """

    def __init__(self, path: Path, saved: int = 0):
        self.path, self.saved = path, saved
        self.signum: int | None = None
        self._deferring = False

    def defer(self) -> None:
        """From here a first signal only sets :attr:`signum`, for the loop to act on."""
        self._deferring = True

    def deliver(self) -> None:
        """Stop deferring; a signal that came meanwhile raises :class:`Interrupted` now."""
        self._deferring = False
        if self.signum is not None:
            raise Interrupted(self.path, self.saved, self.signum)

    def _handle(self, signum: int, frame) -> None:
        if self.signum is None:
            self.signum = signum
            if self._deferring:
                return
        raise Interrupted(self.path, self.saved, self.signum)


@contextmanager
def interruptible(path: Path, saved: int = 0) -> Iterator[Guard]:
    """SIGINT and SIGTERM handled by a :class:`Guard` inside; the previous handlers after.

    ``saved`` is the generation of the run's checkpoint on entry, which a signal
    before the generation loop reports.

    Signal handlers can only be set from the main thread; elsewhere the guard
    is inert and signals keep their usual effect. A signal ignored on entry
    stays ignored (a job started with ``nohup`` or in the background of a
    non-interactive shell ignores SIGINT, and should go on doing so).
    """
    guard = Guard(path, saved)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for s in SIGNALS:
            old = signal.getsignal(s)
            if old is not signal.SIG_IGN:
                # None: a handler set outside Python, which cannot be put back; the default can.
                previous[s] = signal.SIG_DFL if old is None else old
                signal.signal(s, guard._handle)
    try:
        yield guard
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
