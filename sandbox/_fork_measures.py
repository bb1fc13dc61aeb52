"""The measures a host would report if it finished now, taken without finishing it.

Finishing is final (mechanisms record their end-of-run measures), and a SimPy world cannot
be copied in Python (its processes are generators), but a fork copies it for the price of
its page tables. Used by the live measure worker (each refresh of a replayed trial) and by
a simulated trial that rehearses its guardrails (each judgment, in simulated time). The
child only finishes the copy, sends the measures and leaves with ``os._exit``: it runs none
of the parent's cleanup, so a fork from a process with threads touches none of their locks.
"""

from __future__ import annotations

import os
import pickle
import traceback
from typing import Any, cast

from flagship.mechanisms import RunFailedError
from flagship.sandbox._host import Host
from flagship.telemetry import MeasureValue

__all__ = ["finished_measures"]


def finished_measures(host: Host) -> list[MeasureValue]:
    """``host.finish()``'s measures, taken in a forked copy so ``host`` can go on running."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the copy: finish, send, exit without running any of the parent's cleanup
        os.close(read)
        try:
            result: tuple[bool, Any] = (True, list(host.finish().measures))
        except BaseException as exc:  # the parent must hear of it, whatever it is
            result = (False, (f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        with os.fdopen(write, "wb") as out:
            out.write(pickle.dumps(result))
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as incoming:
        data = incoming.read()
    os.waitpid(pid, 0)
    if not data:
        raise RunFailedError("the forked copy of the trial died before sending its measures")
    ok, value = pickle.loads(data)
    if not ok:
        message, where = value
        raise RunFailedError(f"finishing the copy of the trial raised {message}", where)
    return cast(list[MeasureValue], value)
