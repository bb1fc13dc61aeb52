"""Compare panel-selection algorithms on a registry: ``python -m flagship.democracy.panel_selection``.

Usage::

    python -m flagship.democracy.panel_selection REGISTRY.csv [--strata region,age_band]
        [--panel-size 40] [--draws 2000] [--seed 21]
    python -m flagship.democracy.panel_selection --generate 600 --seed 21 > registry.csv

A registry is a CSV file with a header: one row per registrant, a ``person`` column and
one column per attribute. ``--strata`` names the quota attributes; every other attribute
(a non-stratified attribute, the voters' first preference) is measured but never
constrained. For each algorithm ("stratified", "leximin") the command prints the minimum
and maximum individual selection probability (exact, from the algorithm's distribution),
the minimum's ratio to the uniform ``k / n``, how many registrants' exact probability
falls outside the 95% Wilson interval of their frequency over ``--draws`` seeded draws,
and the mean TVD between panel and registry on each attribute. ``--generate N`` writes
the synthetic registry the docs use (``examples/citizens_registry.csv`` is
``--generate 600 --seed 21``).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from flagship.democracy._representativeness import SelectionReport, selection_report
from flagship.mechanisms import ContractError

__all__ = ["SELECTIONS", "compare", "format_table", "generate_registry", "main", "read_registry"]

SELECTIONS = ("stratified", "leximin")
_REGIONS = {"north": 0.3, "south": 0.3, "east": 0.2, "west": 0.2}
_AGES = {"18-34": 0.3, "35-54": 0.35, "55+": 0.35}
_DEGREE = {"18-34": 0.5, "35-54": 0.35, "55+": 0.2}
"""Share with a degree per age band: education is correlated with a quota variable, not one."""
_FIRST = ("pause_deployment", "restrict", "monitor", "no_action")
_FIRST_WEIGHTS = {
    ("55+", "degree"): (0.35, 0.4, 0.15, 0.1),
    ("55+", "no_degree"): (0.5, 0.2, 0.1, 0.2),
    ("young", "degree"): (0.15, 0.45, 0.3, 0.1),
    ("young", "no_degree"): (0.2, 0.25, 0.25, 0.3),
}
"""First preference by age (55+ or younger) and education: opinions depend on a non-quota attribute."""


def generate_registry(n: int, seed: int) -> str:
    """A synthetic registry of ``n`` citizens as CSV text (person, region, age_band, education,
    first_preference), a pure function of ``(n, seed)``."""
    rng = np.random.default_rng(seed)
    regions = rng.choice(list(_REGIONS), size=n, p=list(_REGIONS.values()))
    ages = rng.choice(list(_AGES), size=n, p=list(_AGES.values()))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["person", "region", "age_band", "education", "first_preference"])
    for i in range(n):
        age = str(ages[i])
        education = "degree" if rng.random() < _DEGREE[age] else "no_degree"
        weights = _FIRST_WEIGHTS[("55+" if age == "55+" else "young", education)]
        first = _FIRST[int(rng.choice(len(_FIRST), p=weights))]
        writer.writerow([f"citizen-{i}", str(regions[i]), age, education, first])
    return out.getvalue()


def read_registry(text: str, strata: Sequence[str]) -> dict[str, list[str]]:
    """The attribute columns of a registry CSV (``person`` dropped); names the missing strata."""
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        raise ContractError("registry: expected a header and at least one registrant")
    names = [name for name in rows[0] if name != "person"]
    missing = [key for key in strata if key not in names]
    if missing:
        raise ContractError(f"--strata: {missing} are not registry columns ({', '.join(names)})")
    return {name: [row[name] for row in rows] for name in names}


def compare(
    attributes: dict[str, list[str]], strata: Sequence[str], size: int, draws: int, seed: int
) -> list[SelectionReport]:
    """One report per algorithm, each with draws from ``default_rng(seed)`` (paired seeds)."""
    return [selection_report(name, attributes, strata, size, draws, seed) for name in SELECTIONS]


def format_table(reports: Sequence[SelectionReport], strata: Sequence[str]) -> str:
    """The side-by-side table: one row per algorithm, one TVD column per attribute (quota ones marked *)."""
    first = reports[0]
    names = sorted(first.tvd)
    header = ["selection", "min P", "max P", "min/(k/n)", "outside 95% Wilson"]
    header += [f"TVD {name}{'*' if name in strata else ''}" for name in names]
    lines = [
        f"{first.registrants} registrants, panel of {first.size}, uniform k/n = {first.uniform:.4f}, "
        f"{first.draws} draws; * = quota attribute",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for report in reports:
        cells = [
            report.selection,
            f"{report.minimum:.4f}",
            f"{report.maximum:.4f}",
            f"{report.ratio_to_uniform:.3f}",
            f"{report.outside_wilson}/{report.registrants}",
        ]
        cells += [f"{report.tvd[name][0]:.4f} ± {report.tvd[name][1]:.4f}" for name in names]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flagship.democracy.panel_selection", description=__doc__)
    parser.add_argument("registry", nargs="?", type=Path, help="registry CSV (person + attributes)")
    parser.add_argument("--strata", default="region,age_band", help="quota attributes, comma-separated")
    parser.add_argument("--panel-size", type=int, default=40, help="panel members k")
    parser.add_argument("--draws", type=int, default=2000, help="seeded draws per algorithm (>= 2)")
    parser.add_argument("--seed", type=int, default=21, help="seed of the draws (or of --generate)")
    parser.add_argument("--generate", type=int, metavar="N", help="write a synthetic registry of N citizens")
    args = parser.parse_args(argv)
    if args.generate is not None:
        if args.generate < 1:
            parser.error(f"--generate: expected a positive count, got {args.generate}")
        sys.stdout.write(generate_registry(args.generate, args.seed))
        return 0
    if args.registry is None:
        parser.error("registry: expected a CSV path (or --generate N)")
    if args.panel_size < 1:
        parser.error(f"--panel-size: expected a positive size, got {args.panel_size}")
    if args.draws < 2:
        parser.error(f"--draws: expected at least 2, got {args.draws}")
    strata = [key for key in args.strata.split(",") if key]
    try:
        attributes = read_registry(args.registry.read_text(encoding="utf-8"), strata)
    except (OSError, ContractError) as error:
        parser.error(str(error))
    print(format_table(compare(attributes, strata, args.panel_size, args.draws, args.seed), strata))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
