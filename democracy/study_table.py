"""The impartial-culture table of ``docs/democracy.md``, from the stored runs' JSON.

Usage (reads ``flagship run ... --json`` on standard input, prints a Markdown table)::

    flagship run examples/impartial_culture.toml --json | python -m flagship.democracy.study_table

Each row is a published figure beside our estimate: the mean over the runs of the
per-run shares and its interval, as ``flagship run`` computed them (the JSON's
``aggregate``). The wing reads that JSON and nothing of the sandbox or telemetry.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from flagship.mechanisms._errors import InputError, Problem

__all__ = ["PUBLISHED", "Published", "main", "render"]


@dataclass(frozen=True, slots=True)
class Published:
    """One published limit (n -> infinity, three candidates, impartial culture)."""

    figure: str
    arm: str
    measure: str
    value: float
    source: str


PUBLISHED = (
    Published("P(Condorcet winner exists)", "plurality", "condorcet_winner_share", 0.9123,
              "Guilbaud (1952): 3/4 + 3/(2π)·asin(1/3)"),
    Published("Condorcet efficiency of plurality", "plurality", "condorcet_efficiency", 0.757,
              "Gehrlein and Fishburn"),
    Published("Condorcet efficiency of Borda", "borda", "condorcet_efficiency", 0.901,
              "Gehrlein and Fishburn"),
    Published("Condorcet efficiency of plurality with runoff (IRV)", "irv", "condorcet_efficiency", 0.96,
              "Gehrlein"),
)


def _entry(aggregate: Mapping[str, Any], arm: str, measure: str) -> Mapping[str, Any]:
    try:
        cell = aggregate[arm]
        return next(value for key, value in cell.items() if key.rsplit(".", 1)[-1] == measure)
    except (KeyError, StopIteration, AttributeError):
        raise InputError([Problem(f"aggregate.{arm}", f"expected the measure {measure!r}")]) from None


def render(result: Mapping[str, Any]) -> str:
    """The Markdown table for a ``flagship run --json`` result of the impartial-culture example."""
    aggregate = result.get("aggregate")
    if not isinstance(aggregate, Mapping):
        raise InputError([Problem("aggregate", "expected the JSON of `flagship run --json`")])
    lines = ["| figure | published (n → ∞) | ours | 95% interval | runs | source |",
             "| --- | --- | --- | --- | --- | --- |"]
    for row in PUBLISHED:
        entry = _entry(aggregate, row.arm, row.measure)
        lines.append(f"| {row.figure} | {row.value:g} | {entry['mean']:.4f} | "
                     f"[{entry['ci_low']:.4f}, {entry['ci_high']:.4f}] {entry['method']} | "
                     f"{entry['n']} | {row.source} |")
    lines.append("")
    lines.append("| rule | manipulable by a coalition | by one voter | ties broken |")
    lines.append("| --- | --- | --- | --- |")
    for arm in aggregate:
        cells = [_entry(aggregate, arm, name)["mean"]
                 for name in ("manipulable_share", "individually_manipulable_share", "tie_share")]
        lines.append(f"| {arm} | " + " | ".join(f"{value:.4f}" for value in cells) + " |")
    return "\n".join(lines)


def main(stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    """Read the JSON on ``stdin``, print the table on ``stdout``; 2 on bad input."""
    try:
        result = json.load(stdin)
        if not isinstance(result, Mapping):
            raise InputError([Problem("", "expected a JSON object")])
        stdout.write(render(result) + "\n")
    except json.JSONDecodeError as exc:
        sys.stderr.write(f"study_table: standard input is not JSON: {exc}\n")
        return 2
    except InputError as exc:
        sys.stderr.write(f"study_table: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
