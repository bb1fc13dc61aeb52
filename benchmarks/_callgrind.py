"""Instruction counts of one phase of a benchmark, under valgrind's callgrind: a deterministic figure.

Wall and CPU time on a shared machine scatter by tens of percent; the number of instructions a
phase executes does not depend on the neighbours. What the benchmarks that count share:

Lifecycle of one count (:func:`count_instructions`): the parent starts a child benchmark under
``valgrind --tool=callgrind`` with instrumentation and collection off (:func:`callgrind_command`:
start-up, imports and the set-up then run several times faster than instrumented); the child
builds what the phase needs, prints ``ready`` and waits for a line on stdin (:func:`handshake`);
the parent turns instrumentation on (``callgrind_control --instr=on PID``: valgrind runs the
program in its own process, so the child's pid is valgrind's) and writes the line; the child
runs the phase through ``operator.call``, and callgrind collects only inside that C function
(``--toggle-collect``: no client requests, no compiled helper); the count is the ``totals:``
line of the output file (:func:`parse_totals`). What the child prints after the phase (a result
to check, say) is handed back with the count (:func:`count_with_output`). With ``cache_sim`` the
child also runs through callgrind's cache simulator and every event of the ``totals:`` line comes
back by name (:func:`count_events`, :func:`parse_events`): ``Ir`` (instructions), ``D1mr`` and
``D1mw`` (first-level data cache read and write misses), the I1 and LL misses; a deterministic
stand-in for the cache misses that CPU time includes and instruction counts leave out.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["TOGGLE", "callgrind_command", "count_events", "count_instructions", "count_with_output",
           "handshake", "parse_events", "parse_totals"]

TOGGLE = "_operator_call"
"""The C function of ``operator.call``, inside which callgrind collects (see the docstring)."""


def parse_totals(text: str) -> int:
    """The instruction count of a callgrind output file (the first event of its ``totals:`` line,
    else of its ``summary:`` line)."""
    return next(iter(parse_events(text).values()))


def parse_events(text: str) -> dict[str, int]:
    """Every event of a callgrind output file by name (its ``events:`` line over its ``totals:``)."""
    names = re.search(r"^events:\s*(.+)$", text, re.MULTILINE)
    if names is None:
        raise ValueError("no events: line in the callgrind output")
    for key in ("totals", "summary"):
        found = re.search(rf"^{key}:\s*([\d ]+)$", text, re.MULTILINE)
        if found:
            counts = [int(word) for word in found.group(1).split()]
            # the format lets a cost line leave out trailing zeros
            return {name: counts[i] if i < len(counts) else 0
                    for i, name in enumerate(names.group(1).split())}
    raise ValueError("no totals: or summary: line in the callgrind output")


def callgrind_command(script: Path | str, arguments: Sequence[str], out: Path | str, *,
                      cache_sim: bool = False) -> list[str]:
    """The valgrind command that runs ``script arguments`` and counts its phase into ``out``."""
    return [
        "valgrind", "--tool=callgrind", "--instr-atstart=no", "--collect-atstart=no",
        *(["--cache-sim=yes"] if cache_sim else []),
        f"--toggle-collect={TOGGLE}", f"--callgrind-out-file={out}", sys.executable, str(script),
        *arguments,
    ]


def handshake() -> None:
    """In the child, between set-up and phase: say ``ready``, wait for the parent's line."""
    print("ready", flush=True)
    sys.stdin.readline()


def count_instructions(script: Path | str, arguments: Sequence[str], what: str) -> int:
    """Instructions of the phase ``script arguments`` runs (it must call :func:`handshake` before
    the phase and run the phase through ``operator.call``); ``what`` names it in an error."""
    return count_with_output(script, arguments, what)[0]


def count_with_output(script: Path | str, arguments: Sequence[str], what: str) -> tuple[int, str]:
    """As :func:`count_instructions`, with what the child printed after its ``ready`` line."""
    events, printed = count_events(script, arguments, what)
    return events["Ir"], printed


def count_events(script: Path | str, arguments: Sequence[str], what: str, *,
                 cache_sim: bool = False) -> tuple[dict[str, int], str]:
    """The phase's events by name (``Ir`` alone, or with ``cache_sim`` the simulated caches'
    misses too) and what the child printed after its ``ready`` line."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        command = callgrind_command(script, arguments, out, cache_sim=cache_sim)
        child = subprocess.Popen(command, env=env, text=True,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if child.stdin is None or child.stdout is None:  # pragma: no cover - both are pipes
            raise RuntimeError("no pipes to the valgrind child")
        if child.stdout.readline().strip() == "ready":
            subprocess.run(["callgrind_control", "--instr=on", str(child.pid)], check=True,
                           capture_output=True)
            child.stdin.write("go\n")
            child.stdin.flush()
        printed, errors = child.communicate()
        if child.returncode != 0:
            raise SystemExit(f"valgrind on {what} failed ({child.returncode}):\n{errors[-2000:]}")
        return parse_events(out.read_text()), printed
