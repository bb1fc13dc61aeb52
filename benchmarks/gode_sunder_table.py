"""The Gode-Sunder reference table of docs/markets.md: the paper's efficiencies beside ours.

    .venv/bin/python benchmarks/gode_sunder_table.py            # print the tables (about a minute)
    .venv/bin/python benchmarks/gode_sunder_table.py --write    # and replace them in docs/markets.md

Runs ``examples/gode_sunder.toml`` (each arm, each of the five markets, 20 seeds: the seeds of the
example's own cells, so the middle activity level reproduces ``flagship run`` of the example) at
three activity levels (shouts per trader per period = arrival rate x period), in this process.
Intervals are the project's (``flagship.telemetry._stats.summarise``: t, or Wilson for a ratio
that does not vary). ``tests/docs/test_reference_table.py`` regenerates the tables and fails when
the document's differ, so the numbers in the docs are always those this script prints.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from flagship.sandbox._runner import run
from flagship.sandbox._scenario import load_scenario
from flagship.sandbox._sweep import cell_seeds
from flagship.telemetry._inference import Inference
from flagship.telemetry._stats import Estimate, summarise

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "examples" / "gode_sunder.toml"
DOC = REPO / "docs" / "markets.md"
BEGIN, END = "<!-- gode-sunder-table:begin", "<!-- gode-sunder-table:end -->"
MARKET_PATH = "populations.traders.params.market"
RATE_PATH = "populations.traders.arrival.rate"
SEEDS = 20
ACTIVITY = (3, 15, 60)  # shouts per trader per period; 60 is the example's (rate 2/s, 30 s periods)
ARMS = ("zi_c", "zi_u", "zip")
# Gode and Sunder (1993), Table 2, efficiency (%) per market 1-5 (docs/markets.md says where
# each row comes from and how sure it is).
PAPER = {
    "zi_c": (99.9, 99.2, 99.0, 98.2, 97.1),
    "zi_u": (90.0, 90.0, 76.7, 48.8, 86.0),
    "human": (99.7, 99.1, 100.0, 99.1, 90.2),
}


def estimates(seeds: int = SEEDS) -> dict[tuple[int, str, int], dict[str, Estimate]]:
    """(activity, arm, market) -> {"efficiency", "smith_alpha"} over ``seeds`` seeds."""
    base = load_scenario(SCENARIO)
    period = float(base.population_params["traders"].model_dump()["period"])
    inference = Inference(0.95)
    table: dict[tuple[int, str, int], dict[str, Estimate]] = {}
    for activity in ACTIVITY:
        for market in range(1, 6):
            cell_seed = cell_seeds(base.scenario.seed, {MARKET_PATH: market}, seeds)
            rate = f"{RATE_PATH}={activity / period!r}"
            resolved = load_scenario(SCENARIO, [f"{MARKET_PATH}={market}", rate])
            for arm in ARMS:
                scenario = resolved.with_arm(arm)
                runs = [run(scenario, seed).measures() for seed in cell_seed]
                table[(activity, arm, market)] = {
                    name: summarise([r[f"traders.{name}"] for r in runs], proportion=False,
                                    inference=inference, stream=f"{name}/{arm}/{market}/{activity}")
                    for name in ("efficiency", "smith_alpha")}
    return table


def _pct(est: Estimate) -> str:
    return f"{100 * est.mean:.1f} [{100 * est.low:.1f}, {100 * est.high:.1f}]"


def render(table: dict[tuple[int, str, int], dict[str, Estimate]]) -> str:
    """The two Markdown tables of docs/markets.md (between the generated-block markers)."""
    main = ACTIVITY[-1]
    lines = [
        f"Efficiency (%) per market at {main} shouts per trader and period: the paper's, and ours as the "
        f"mean [95% interval] over {SEEDS} seeds (t; Wilson where every seed gives the same value). "
        "Smith's alpha (%): ours, mean over the same seeds; the paper's was not found.",
        "",
        "| market | paper ZI-C | ours ZI-C | paper ZI-U | ours ZI-U | ours ZIP | paper human "
        "| alpha ZI-C | alpha ZI-U | alpha ZIP |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for market in range(1, 6):
        cells = {arm: table[(main, arm, market)] for arm in ARMS}
        lines.append(
            f"| {market} | {PAPER['zi_c'][market - 1]:.1f} | {_pct(cells['zi_c']['efficiency'])} "
            f"| {PAPER['zi_u'][market - 1]:.1f} | {_pct(cells['zi_u']['efficiency'])} "
            f"| {_pct(cells['zip']['efficiency'])} | {PAPER['human'][market - 1]:.1f} | "
            + " | ".join(f"{cells[arm]['smith_alpha'].mean:.1f}" for arm in ARMS) + " |")
    lines += [
        "",
        "How activity moves it: mean efficiency (%) per market at "
        + ", ".join(str(a) for a in ACTIVITY) + " shouts per trader and period (same seeds).",
        "",
        "| market | " + " | ".join(f"{arm} @ {a}" for arm in ARMS for a in ACTIVITY) + " |",
        "| --- | " + " | ".join("---" for _ in ARMS for _ in ACTIVITY) + " |",
    ]
    for market in range(1, 6):
        means = (table[(a, arm, market)]["efficiency"].mean for arm in ARMS for a in ACTIVITY)
        lines.append(f"| {market} | " + " | ".join(f"{100 * mean:.1f}" for mean in means) + " |")
    return "\n".join(lines) + "\n"


def _span(text: str) -> tuple[int, int]:
    start = text.index(BEGIN)
    return text.index("\n", start) + 1, text.index(END)


def document_block(text: str) -> str:
    """The generated tables as they stand in ``text`` (docs/markets.md), between the markers."""
    start, end = _span(text)
    return text[start:end]


def replace_block(text: str, tables: str) -> str:
    """``text`` with the generated tables replaced by ``tables``."""
    start, end = _span(text)
    return text[:start] + tables + text[end:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="replace the tables in docs/markets.md")
    args = parser.parse_args()
    started = time.perf_counter()
    tables = render(estimates())
    sys.stdout.write(tables)
    print(f"({len(ACTIVITY) * len(ARMS) * 5 * SEEDS} runs in {time.perf_counter() - started:.1f} s)",
          file=sys.stderr)
    if args.write:
        DOC.write_text(replace_block(DOC.read_text(encoding="utf-8"), tables), encoding="utf-8")


if __name__ == "__main__":
    main()
