"""Seconds to compute the LEXIMIN panel distribution, and per draw, on the shipped registry.

Plain script: ``python benchmarks/bench_leximin.py [--repeat 3] [--draws 2000]``.
The registry is ``examples/citizens_registry.csv`` (600 citizens, quotas on region and
age band, 12 cells), the panel 40. Each distribution timing is the best of ``--repeat``
computations with the cache cleared (column generation: MILP pricing with
``scipy.optimize.milp``, max-min LPs with ``linprog``, both HiGHS); the quotas are the
default proportional ones (cells and margins) and then per-value quotas as a config would
give them. Per-draw timings (distribution cached, as within a run) compare with the
stratified draw. The same registry with a third quota attribute (education: 24 cells)
shows how the cost grows with the number of cells.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flagship.democracy._leximin import leximin_distribution, quotas_for, select_panel, types_of
from flagship.democracy.panel_selection import read_registry

REGISTRY = Path(__file__).resolve().parents[1] / "examples" / "citizens_registry.csv"
SIZE = 40
CONFIG_QUOTAS = {
    "region": {"north": (11, 13), "south": (11, 13), "east": (7, 9), "west": (7, 9)},
    "age_band": {"18-34": (11, 13), "35-54": (13, 15), "55+": (13, 15)},
}


def time_distribution(cells: list[tuple[str, ...]], keys: list[str],
                      quotas: Mapping[str, Mapping[str, tuple[int, int]]] | None, repeat: int) -> str:
    ordered, counts, _ = types_of(cells)
    chosen = quotas_for(ordered, counts, SIZE, keys, quotas)
    best = float("inf")
    for _ in range(max(1, repeat)):
        leximin_distribution.cache_clear()
        start = time.perf_counter()
        distribution = leximin_distribution(ordered, counts, SIZE, chosen)
        best = min(best, time.perf_counter() - start)
    panels = len(distribution.panels)
    low = min(distribution.type_probabilities().values())
    return f"{best:8.3f} s  {len(ordered):3d} cells  {panels:3d} panels in support  min P {low:.4f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--draws", type=int, default=2000)
    args = parser.parse_args()
    attributes = read_registry(REGISTRY.read_text(encoding="utf-8"), ["region", "age_band"])
    n = len(attributes["region"])
    two = [(attributes["region"][i], attributes["age_band"][i]) for i in range(n)]
    three = [(*two[i], attributes["education"][i]) for i in range(n)]
    print(f"{REGISTRY.name}: {n} registrants, panel {SIZE}, best of {args.repeat}")
    print("distribution, default quotas (region x age band): " + time_distribution(
        two, ["region", "age_band"], None, args.repeat))
    print("distribution, config quotas (per value):           " + time_distribution(
        two, ["region", "age_band"], CONFIG_QUOTAS, args.repeat))
    print("distribution, default quotas (+ education):        " + time_distribution(
        three, ["region", "age_band", "education"], None, args.repeat))
    rng = np.random.default_rng(0)
    for selection in ("stratified", "leximin"):
        select_panel(selection, two, SIZE, rng)  # warm the cache
        start = time.perf_counter()
        for _ in range(args.draws):
            select_panel(selection, two, SIZE, rng)
        per_draw = (time.perf_counter() - start) / args.draws
        print(f"per draw, {selection:<10}: {per_draw * 1e3:.3f} ms ({args.draws} draws)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
