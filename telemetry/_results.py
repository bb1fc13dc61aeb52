"""A sweep's results as tidy rows: one row per run and measure, ready for pandas, R or a CSV.

Each row names the sweep, the run, its cell (with one column per swept parameter, named by
its dotted path), its arm, seed and replication, and one measure with its declared area,
unit and better direction, and its value (``None`` when the run left it undefined). Rows
come in a stable order (cell in design order, arm, seed, measure), so the same store gives
the same file byte for byte.

    >>> from flagship.telemetry import open_store, sweep_results       # doctest: +SKIP
    >>> with open_store("sqlite:///flagship.db") as store:             # doctest: +SKIP
    ...     rows = sweep_results(store, "3fa8")                        # a sweep id or unique prefix

:func:`sweep_frame` returns the same rows as a pandas DataFrame (``pip install
'flagship-sandbox[analysis]'``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from flagship.mechanisms._errors import InputError, Problem
from flagship.telemetry._store_protocol import RunStore

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RESULT_COLUMNS", "parameter_columns", "sweep_frame", "sweep_results"]

#: The columns every row has, in order; the swept parameters' columns follow ``cell``.
RESULT_COLUMNS = ("sweep", "run_id", "scenario", "cell", "arm", "seed", "replication", "scope", "measure",
                  "area", "unit", "higher_is_better", "value")


def parameter_columns(store: RunStore, sweep_id: str) -> list[str]:
    """The dotted paths a sweep varies across its cells, in design order."""
    sweep = store.sweep(sweep_id)
    paths: dict[str, None] = {}
    for cell in sweep.spec.get("cells", []):
        for path in cell.get("assignment", {}):
            paths.setdefault(str(path), None)
    return list(paths)


def sweep_results(store: RunStore, sweep_id: str) -> list[dict[str, Any]]:
    """Every measure of every completed run of a sweep (or ``flagship run`` batch), one row each."""
    sweep = store.sweep(sweep_id)
    cells = {str(c["key"]): dict(c.get("assignment", {})) for c in sweep.spec.get("cells", [])}
    order = {key: index for index, key in enumerate(cells)}
    params = parameter_columns(store, sweep.id)
    scenario_of = {run.id: run.scenario for run in store.runs(sweep_id=sweep.id)}
    rows = []
    for row in store.sweep_measures(sweep.id):
        assignment = cells.get(str(row["cell"]), {})
        rows.append({
            "sweep": sweep.id, "run_id": row["run_id"], "scenario": scenario_of.get(row["run_id"], ""),
            "cell": row["cell"], **{path: assignment.get(path) for path in params},
            "arm": row["arm"], "seed": int(row["seed"]), "replication": int(row["replication"]),
            "scope": row["scope"], "measure": row["name"], "area": row["area"], "unit": row["unit"],
            "higher_is_better": bool(row["higher_is_better"]), "value": row["value"],
        })
    rows.sort(key=lambda r: (order.get(str(r["cell"]), len(order)), str(r["cell"]), str(r["arm"]), r["seed"],
                             r["scope"], r["measure"]))
    return rows


def columns_of(rows: Sequence[dict[str, Any]], params: Sequence[str]) -> list[str]:
    """The column order of :func:`sweep_results` rows: fixed columns, swept parameters after ``cell``."""
    at = RESULT_COLUMNS.index("cell") + 1
    return [*RESULT_COLUMNS[:at], *params, *RESULT_COLUMNS[at:]]


def sweep_frame(store: RunStore, sweep_id: str) -> pd.DataFrame:
    """:func:`sweep_results` as a pandas DataFrame (one row per run and measure)."""
    try:
        import pandas as pd  # noqa: PLC0415 - an optional extra
    except ImportError:
        raise InputError([Problem("pandas", "not installed: pip install "
                                            "'flagship-sandbox[analysis]'")]) from None
    rows = sweep_results(store, sweep_id)
    return pd.DataFrame(rows, columns=columns_of(rows, parameter_columns(store, sweep_id)))
