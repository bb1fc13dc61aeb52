"""Finding results again: ``runs``, ``sweeps``, ``trials``, ``show`` and ``rerun``.

``runs``, ``sweeps`` and ``trials`` list what a store holds (filterable, ``--json``), so a run id
never has to be dug out of SQL; ``show`` prints one run; ``rerun`` proves it reproduces.

A run's manifest holds the fully resolved scenario of its arm (arm overrides applied, defaults
filled in), the seed it ran with and the versions it ran under. :func:`run_scenario` turns it
into a scenario file that runs exactly that run (its seed, one replication); ``rerun`` runs it
in this process and compares the action log's digest, the final state's digest and every
measure with what the store holds.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from flagship.sandbox._cli_app import DEFAULT_STORE_URL, err, out


class ExportFormat(StrEnum):
    """What ``flagship export`` writes."""

    CSV = "csv"
    PARQUET = "parquet"


__all__ = ["export", "register", "rerun", "run_scenario", "runs", "show", "sweeps", "trials"]


def run_scenario(manifest: dict[str, Any], seed: int) -> dict[str, Any]:
    """The scenario that reruns exactly this run: its arm's resolved data, its seed, one replication."""
    scenario = dict(manifest["scenario"])
    scenario["seed"] = seed
    scenario["replications"] = 1
    scenario.pop("arms", None)  # the manifest holds one arm's scenario already
    return scenario


DbOption = Annotated[str, typer.Option("--db", help="store URL, or the path of a SQLite file")]


def _store_url(db: str) -> str:
    from flagship.sandbox._live_cli import store_url  # noqa: PLC0415

    return store_url(db)


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if hasattr(value, "strftime") else str(value)


def runs(
    db: DbOption = DEFAULT_STORE_URL,
    sweep: Annotated[str | None, typer.Option(
        "--sweep", help="only this sweep or batch (id or prefix)")] = None,
    status: Annotated[str | None, typer.Option(help="only runs with this status (completed, failed)")] = None,
    scenario: Annotated[str | None, typer.Option(help="only runs of this scenario name")] = None,
    limit: Annotated[int, typer.Option(help="the newest N (0: all)", min=0)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
) -> None:
    """List stored runs, newest last: id, sweep, scenario, arm, seed, status."""
    from flagship.telemetry import open_store  # noqa: PLC0415

    with open_store(_store_url(db)) as store:
        sweep_id = store.resolve_sweep_id(sweep) if sweep is not None else None
        found = [r for r in store.runs(sweep_id=sweep_id, status=status)
                 if scenario is None or r.scenario == scenario]
    found = found[-limit:] if limit else found
    rows: list[dict[str, Any]] = [
        {"id": r.id, "sweep": r.sweep_id, "scenario": r.scenario, "arm": r.arm or None,
         "cell": r.cell or None, "seed": r.seed, "status": r.status, "n_actions": r.n_actions,
         "created_at": _when(r.created_at)}
        for r in found]
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(title=f"runs ({len(rows)})", title_justify="left")
    for column in ("id", "sweep", "scenario", "arm", "seed", "status", "actions", "created"):
        table.add_column(column, no_wrap=column in ("id", "sweep"))
    for row in rows:
        cells = (row["id"], str(row["sweep"])[:12], row["scenario"], row["arm"] or "-", row["seed"],
                 row["status"], row["n_actions"], row["created_at"])
        table.add_row(*(str(v) for v in cells))
    out.print(table)


def sweeps(
    db: DbOption = DEFAULT_STORE_URL,
    as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
) -> None:
    """List stored sweeps and ``flagship run`` batches, oldest first, with their run counts."""
    from flagship.telemetry import open_store  # noqa: PLC0415

    with open_store(_store_url(db)) as store:
        rows = [{**row, "created_at": _when(row["created_at"])} for row in store.sweep_summaries()]
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(title=f"sweeps ({len(rows)})", title_justify="left")
    for column in ("id", "kind", "scenario", "completed", "failed", "created"):
        table.add_column(column, no_wrap=column == "id")
    for row in rows:
        table.add_row(*(str(row[k]) for k in ("id", "kind", "scenario", "completed", "failed", "created_at")))
    out.print(table)


def trials(
    db: DbOption = DEFAULT_STORE_URL,
    as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
) -> None:
    """List the live trials in a store, oldest first: id, scenario, status, seed, started."""
    from flagship.telemetry import Store  # noqa: PLC0415
    from flagship.telemetry._trial_log import TrialLog  # noqa: PLC0415

    with Store.open(_store_url(db)) as store:
        found = TrialLog(store).trials()
    rows = [{"id": t.id, "scenario": str(t.scenario.get("scenario", {}).get("name", "")), "status": t.status,
             "seed": t.seed, "time_factor": t.time_factor, "created_at": _when(t.created_at)} for t in found]
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(title=f"trials ({len(rows)})", title_justify="left")
    for column in ("id", "scenario", "status", "seed", "created"):
        table.add_column(column, no_wrap=column == "id")
    for row in rows:
        table.add_row(*(str(row[k]) for k in ("id", "scenario", "status", "seed", "created_at")))
    out.print(table)


def export(
    sweep: Annotated[str, typer.Option("--sweep", help="sweep or batch id (or a unique prefix)")],
    db: DbOption = DEFAULT_STORE_URL,
    format_: Annotated[ExportFormat, typer.Option("--format", help="csv or parquet")] = ExportFormat.CSV,
    out_file: Annotated[Path | None, typer.Option(
        "--out", help="file to write (csv: default stdout)")] = None,
) -> None:
    """Write a sweep's results, one row per run x measure, with its cell's parameters, arm and seed."""
    from flagship.mechanisms import InputError, Problem  # noqa: PLC0415
    from flagship.telemetry import open_store  # noqa: PLC0415
    from flagship.telemetry._results import columns_of, parameter_columns, sweep_results  # noqa: PLC0415

    if format_ is ExportFormat.PARQUET and out_file is None:
        raise InputError([Problem("--out", "parquet is binary: name a file to write")])
    with open_store(_store_url(db)) as store:
        rows = sweep_results(store, sweep)
        columns = columns_of(rows, parameter_columns(store, sweep))
    if format_ is ExportFormat.CSV:
        stream = sys.stdout if out_file is None else out_file.open("w", newline="", encoding="utf-8")
        try:
            writer = csv.DictWriter(stream, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        finally:
            if out_file is not None:
                stream.close()
    else:
        try:
            import pyarrow as pa  # noqa: PLC0415 - an optional extra
            import pyarrow.parquet as pq  # noqa: PLC0415
        except ImportError:
            raise InputError([Problem("--format", "parquet needs pyarrow: pip install "
                                                  "'flagship-sandbox[analysis]'")]) from None
        table = pa.Table.from_pylist(rows, schema=None) if rows else pa.table({c: [] for c in columns})
        pq.write_table(table.select(columns) if rows else table, str(out_file))
    if out_file is not None:
        err.print(f"export: {len(rows)} rows to {out_file}", highlight=False)


def _fmt(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.4g}"


def show(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="run id (or a unique prefix)")],
    db: Annotated[str, typer.Option("--db", help="store URL")] = DEFAULT_STORE_URL,
    as_json: Annotated[bool, typer.Option("--json", help="print the whole run as JSON")] = False,
    scenario_only: Annotated[bool, typer.Option(
        "--scenario", help="print only the resolved scenario (JSON), to rerun it exactly")] = False,
) -> None:
    """Show a stored run: status, measures and the manifest that reproduces it."""
    from flagship.telemetry import open_store  # noqa: PLC0415

    with open_store(db) as store:
        stored = store.run(run_id)
    if scenario_only:
        sys.stdout.write(json.dumps(run_scenario(stored.manifest, stored.seed), indent=2) + "\n")
        return
    record = {
        "id": stored.id, "batch": stored.sweep_id, "scenario": stored.scenario,
        "arm": stored.arm or None, "seed": stored.seed, "replication": stored.replication,
        "status": stored.status, "wall_seconds": stored.wall_seconds, "sim_time": stored.sim_time,
        "n_actions": stored.n_actions, "action_log_sha256": stored.action_log_sha256,
        "state_sha256": stored.state_sha256, "events": stored.events, "measures": stored.measures,
        "error": stored.error, "manifest": stored.manifest,
    }
    if as_json:
        sys.stdout.write(json.dumps(record, indent=2, default=str) + "\n")
        return
    table = Table(title=f"run {stored.id}", show_header=False, title_justify="left")
    for key in ("scenario", "arm", "seed", "status", "sim_time", "n_actions", "action_log_sha256",
                "state_sha256"):
        table.add_row(key, str(record[key]))
    for name, value in stored.measures.items():
        table.add_row(name, _fmt(value))
    out.print(table)
    if stored.error:
        out.print(stored.error, markup=False, highlight=False)
    out.print("manifest:", highlight=False)
    out.print_json(json.dumps(stored.manifest, default=str))
    out.print(f"reproduce: flagship rerun {stored.id} --db {db}   (or: flagship show {stored.id} --db {db} "
              f"--scenario > run.json && flagship run run.json)", highlight=False, markup=False)


def rerun(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="run id (or a unique prefix)")],
    db: Annotated[str, typer.Option("--db", help="store URL")] = DEFAULT_STORE_URL,
    as_json: Annotated[bool, typer.Option("--json", help="print the comparison as JSON")] = False,
) -> None:
    """Rerun a stored run from its manifest and check it reproduces (exit 1 on any difference).

    Compares the action log's SHA-256 (when the run kept its log), the final state's SHA-256,
    the action count and every measure, bit for bit. Nothing is stored.
    """
    from flagship.sandbox._runner import run  # noqa: PLC0415
    from flagship.sandbox._scenario import resolve  # noqa: PLC0415
    from flagship.telemetry import open_store  # noqa: PLC0415

    with open_store(db) as store:
        stored = store.run(run_id)
    if stored.status != "completed":
        from flagship.mechanisms import InputError, Problem  # noqa: PLC0415

        raise InputError([Problem("run", f"run {stored.id} {stored.status}; only a completed run reruns")])
    manifest = stored.manifest
    resolved = resolve(run_scenario(manifest, stored.seed), source=str(manifest.get("scenario_file", "")),
                       overrides=tuple(manifest.get("overrides", ())), arm=stored.arm or None)
    again = run(resolved, stored.seed)
    measures = again.measures()
    checks: list[tuple[str, Any, Any]] = [
        ("action_log_sha256", stored.action_log_sha256, again.action_log_sha256),
        ("state_sha256", stored.state_sha256, again.state_sha256),
        ("n_actions", stored.n_actions, again.n_actions),
    ]
    checks += [(f"measure {name}", stored.measures.get(name), measures.get(name))
               for name in sorted(stored.measures.keys() | measures.keys())]
    differences = [(what, was, now) for what, was, now in checks if not _same(was, now)]
    versions = {key: (manifest.get(key), value) for key, value in _environment().items()
                if manifest.get(key) != value}
    if as_json:
        sys.stdout.write(json.dumps({
            "run": stored.id, "reproduced": not differences,
            "differences": [{"what": w, "stored": a, "rerun": b} for w, a, b in differences],
            "versions_differ": {k: {"stored": a, "now": b} for k, (a, b) in versions.items()},
        }, indent=2, default=str) + "\n")
    elif not differences:
        out.print(f"run {stored.id}: reproduced (action log {str(stored.action_log_sha256)[:16]}, state "
                  f"{str(stored.state_sha256)[:16]}, {len(stored.measures)} measures equal)",
                  highlight=False, soft_wrap=True)
    else:
        out.print(f"run {stored.id}: DIFFERS in {len(differences)} of {len(checks)} checks", highlight=False)
        for what, was, now in differences:
            out.print(f"  {what}: stored {was!r}, rerun {now!r}", highlight=False, markup=False,
                      soft_wrap=True)
    if versions and not as_json:
        listed = ", ".join(f"{key} {a!r} then, {b!r} now" for key, (a, b) in sorted(versions.items()))
        out.print(f"  note: versions differ from the run's: {listed}", highlight=False, markup=False,
                  soft_wrap=True)
    if differences:
        raise typer.Exit(1)


def _environment() -> dict[str, Any]:
    from flagship.sandbox._manifest import environment  # noqa: PLC0415

    current = environment()
    return {key: current[key] for key in ("flagship_version", "git_commit", "python")}


def _same(stored: Any, rerun: Any) -> bool:
    """Equal, bit for bit; two undefined (None or NaN) measures count as equal."""
    def undefined(value: Any) -> bool:
        return value is None or (isinstance(value, float) and math.isnan(value))

    if undefined(stored) or undefined(rerun):
        return undefined(stored) and undefined(rerun)
    return bool(stored == rerun)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``, in the order ``--help`` lists them."""
    app.command("runs")(runs)
    app.command("sweeps")(sweeps)
    app.command("trials")(trials)
    app.command()(show)
    app.command()(rerun)
    app.command()(export)
