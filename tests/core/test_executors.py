"""Stopping a local process pool on Ctrl-C or SIGTERM: the driver exits, whatever its workers were doing.

The end-to-end check is tests/experiments/test_sweep_resume.py (a real sweep signalled while
it runs); here the one moment that made it hang, once in a few dozen signals, is made to happen
every time: a worker dies halfway through writing its result to the pool's result pipe.
"""

from __future__ import annotations

import os
import struct
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from flagship.sandbox._executors import _stop_workers
from flagship.sandbox._runner import default_executor


def _die_halfway_through_sending(ready: str) -> None:
    """A job that writes the first bytes of a result message (a header announcing a 1 MiB
    result, then four bytes of it) to its pool's result pipe, as a worker killed in the middle
    of sending a large result leaves it, then waits to be killed."""
    frame = sys._getframe(1)
    while "result_queue" not in frame.f_locals:  # the pool's worker loop, which called this job
        if frame.f_back is None:
            raise RuntimeError("not run by a process pool's worker")
        frame = frame.f_back
    writer = frame.f_locals["result_queue"]._writer
    os.write(writer.fileno(), struct.pack("!i", 1 << 20) + b"half")
    Path(ready).touch()
    time.sleep(600)


def test_a_worker_killed_halfway_through_a_result_does_not_hang_the_stop(tmp_path: Path) -> None:
    executor = default_executor(n_jobs=1)
    assert isinstance(executor, ProcessPoolExecutor)
    ready = tmp_path / "ready"
    future = executor.submit(_die_halfway_through_sending, str(ready))
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)
    time.sleep(0.2)  # the pool's manager thread is now waiting for the rest of the message
    stopper = threading.Thread(target=_stop_workers, args=(executor,), daemon=True)
    stopper.start()
    stopper.join(timeout=30)
    if stopper.is_alive():  # what the driver did before: wait for ever (unblocked here to clean up)
        executor._result_queue._writer.close()  # type: ignore[attr-defined]
        stopper.join(timeout=30)
        pytest.fail("stopping the pool hung on the half-written result")
    assert isinstance(future.exception(timeout=10), BrokenProcessPool)
