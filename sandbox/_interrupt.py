"""Stopping a long command on Ctrl-C or SIGTERM without orphans, and saying how to resume.

Lifecycle: :func:`stop_on_signals` is entered around the part of a command that runs jobs.
While inside, SIGTERM is raised in the main thread as :class:`KeyboardInterrupt`, as SIGINT
(Ctrl-C) already is, so one ``except KeyboardInterrupt`` handles both and
:func:`flagship.sandbox._executors.open_executor` shuts the workers down on the way out
(process-pool workers are terminated and joined; they ignore SIGINT themselves, so a
terminal's Ctrl-C reaches only the driver). Results stored before the signal stay stored.
On exit the previous SIGTERM handler is restored. The command then prints one line with
the resume command and exits with 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

__all__ = ["Received", "ignore_interrupts", "stop_on_signals"]


@dataclass
class Received:
    """The signal that stopped the command (None while none has)."""

    signum: int | None = None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

    @property
    def exit_code(self) -> int:
        """128 + the signal's number, the shell's convention for a command a signal stopped."""
        return 128 + (self.signum or signal.SIGINT)


@contextmanager
def stop_on_signals() -> Iterator[Received]:
    """Raise SIGTERM as KeyboardInterrupt while inside; record which signal stopped the command."""
    received = Received()

    def on_terminate(signum: int, frame: FrameType | None) -> None:
        received.signum = signum
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_terminate)
    try:
        yield received
    except KeyboardInterrupt:
        if received.signum is None:
            received.signum = signal.SIGINT
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def ignore_interrupts() -> None:
    """A worker process's initializer: Ctrl-C goes to the whole terminal group, but only the
    driver decides to stop (it then terminates the workers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
