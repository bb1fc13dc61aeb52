"""The live pilot's commands: ``serve``, ``verify``, ``replay``, ``export-metrics``, ``export-responses``.

Registered on the main Typer ``app`` of :mod:`flagship.sandbox.cli` when that module imports
this one. Bad input exits 2 with one line per problem; a failed verification, a
diverging replay or an unreachable store exits 1, and so does a ``serve`` of a trial another
server is serving (one line naming the trial and its holder: see
:mod:`flagship.sandbox._live._lease`). The read-only commands take no lease.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from flagship.sandbox._cli_app import StoreArg, StoreOpt, chosen_store, out

if TYPE_CHECKING:
    from flagship.sandbox._live import ConnectionLimits
    from flagship.sandbox._replay import ReplayReport
    from flagship.sandbox._scenario import ResolvedScenario
    from flagship.telemetry import MeasureValue, SeriesPoint
    from flagship.telemetry._receipts import Audit
    from flagship.telemetry._trial_log import Trial

__all__ = ["export_metrics", "export_responses", "register", "replay", "serve", "verify"]


TrialOpt = Annotated[str | None, typer.Option("--trial", help="trial id (or a unique prefix)")]


class LogFormatChoice(StrEnum):
    """How ``flagship serve`` logs (see :mod:`flagship.sandbox._live._logs`)."""

    TEXT = "text"
    JSON = "json"


def store_url(db: str, *, must_exist: bool = True) -> str:
    """A SQLAlchemy URL from a URL or a SQLite file path (which must exist when reading)."""
    import sqlalchemy as sa  # noqa: PLC0415
    from sqlalchemy.exc import ArgumentError  # noqa: PLC0415

    from flagship.mechanisms import InputError, Problem  # noqa: PLC0415

    if "://" in db:
        try:
            sa.make_url(db)
        except ArgumentError:
            raise InputError([Problem("db", f"expected a store URL or a SQLite file, got {db!r}")]) from None
        return db
    path = Path(db).expanduser()
    if must_exist and not path.is_file():
        raise InputError([Problem("db", f"no such file: {db}")])
    return f"sqlite:///{path.resolve()}"


def serve(
    scenario: Annotated[str, typer.Argument(help="scenario file (.toml or .json), with an optional \\[live] "
                                                 "table")],
    db: Annotated[str | None, typer.Option("--db", help="store URL (default: the scenario's store)")] = None,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on", min=0, max=65535)] = 8000,
    time_factor: Annotated[float | None, typer.Option(
        "--time-factor", help="sim seconds per wall second for a new trial (default: \\[live] "
                              "time_factor, else 1)")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="override a scenario field: dotted.path=value")] = None,
    shadow: Annotated[list[str] | None, typer.Option(
        "--shadow", help="run a counterfactual copy with this override (path=value) on live traffic "
                         "and export its measures with arm=\"shadow\"")] = None,
    arm: Annotated[str | None, typer.Option(help="serve this arm of the scenario")] = None,
    trial: TrialOpt = None,
    new_trial: Annotated[bool, typer.Option(
        "--new-trial", help="start a new trial even if one of this scenario is running")] = False,
    key_dir: Annotated[Path | None, typer.Option(
        "--key-dir", help="directory of the trials' private checkpoint keys (default: beside the "
                          "SQLite file, else the working directory)")] = None,
    tick: Annotated[float, typer.Option(help="wall seconds between clock advances", min=0.001)] = 0.05,
    measures_interval: Annotated[float, typer.Option(
        "--measures-interval", help="wall seconds between measure refreshes (0: off)", min=0.0)] = 10.0,
    checkpoint_seconds: Annotated[float, typer.Option(
        "--checkpoint-seconds", help="wall seconds between signed checkpoints", min=0.01)] = 10.0,
    db_timeout: Annotated[float, typer.Option(
        "--db-timeout", help="seconds a commit may wait for the database before answering 503",
        min=0.01)] = 5.0,
    idempotency_window: Annotated[int, typer.Option(
        "--idempotency-window", help="idempotency keys whose committed outcomes stay in memory; a retry "
                                     "under an older key is answered from the store", min=1)] = 100_000,
    history_window: Annotated[int, typer.Option(
        "--history-window", help="commits of the trial's history kept in memory for replays; older ones "
                                 "are read from the store", min=1)] = 100_000,
    access_log: Annotated[bool, typer.Option("--access-log", help="log every request")] = False,
    log_format: Annotated[LogFormatChoice, typer.Option(
        "--log-format", help="text lines, or one JSON object per line (for a log shipper)")
    ] = LogFormatChoice.TEXT,
    witness: Annotated[str | None, typer.Option(
        "--witness", help="append every signed checkpoint head to this file (JSON lines) or POST it to "
                          "this http(s) URL; a witness file is checked against the log at start")] = None,
    max_connections: Annotated[int, typer.Option(
        "--max-connections", help="open client connections in all (one more: 503 and closed)")] = 1024,
    max_connections_per_address: Annotated[int, typer.Option(
        "--max-connections-per-address", help="open connections from one client IP address (behind a "
                                              "reverse proxy: as many as --max-connections)")] = 128,
    header_timeout: Annotated[float, typer.Option(
        "--header-timeout", help="seconds for a request's head to arrive (408 after)")] = 10.0,
    body_timeout: Annotated[float, typer.Option(
        "--body-timeout", help="seconds for a request's body to arrive after its head (408 after)")] = 30.0,
    workers: Annotated[int, typer.Option(
        "--workers", help="worker processes that parse, authenticate, validate and answer requests beside "
                          "the process that sequences and commits (0: one process does all)",
        min=0, max=256)] = 0,
) -> None:
    """Serve a live trial of a scenario over HTTP (resuming its trial after a restart)."""
    from flagship.sandbox._live import EngineOptions, run_server  # noqa: PLC0415

    connections = _connection_limits(max_connections=max_connections,
                                    max_connections_per_address=max_connections_per_address,
                                    header_timeout=header_timeout, body_timeout=body_timeout)

    run_server(scenario, db=db, host=host, port=port, time_factor=time_factor, overrides=set_ or [],
               shadow=shadow or [], arm=arm, trial=trial, new_trial=new_trial, key_dir=key_dir,
               options=EngineOptions(tick_seconds=tick, measures_seconds=measures_interval,
                                     checkpoint_seconds=checkpoint_seconds, db_timeout=db_timeout,
                                     idempotency_window=idempotency_window, history_window=history_window),
               access_log=access_log, log_format=log_format.value, witness=witness,
               connections=connections, workers=workers)


def _connection_limits(**options: float) -> ConnectionLimits:
    """``serve``'s connection options as limits; bad values are one problem each, named by option."""
    from pydantic import ValidationError  # noqa: PLC0415

    from flagship.mechanisms import InputError, Problem  # noqa: PLC0415
    from flagship.sandbox._live import ConnectionLimits as Limits  # noqa: PLC0415

    try:
        return Limits.model_validate(options)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "max_connections_per_address"
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(Problem("--" + field.replace("_", "-"), message))
        raise InputError(problems) from None


def verify(
    trial: TrialOpt = None,
    public_key: Annotated[str | None, typer.Option(
        "--public-key", help="expected checkpoint public key (hex) instead of the stored one")] = None,
    receipts: Annotated[Path | None, typer.Option(
        "--receipts", help="directory of receipts clients kept (one JSON file each): each must "
                           "match the log")] = None,
    witness: Annotated[Path | None, typer.Option(
        "--witness", help="witness file (JSON lines of signed heads, `flagship serve --witness`): "
                          "the log must hold every witnessed head")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the results as JSON")] = False,
    db: StoreArg = None,
    db_option: StoreOpt = None,
) -> None:
    """Check trial logs' hash chains, signed checkpoints, receipts and witnessed heads.

    Exit 0: every trial verifies and every entry is covered by a signature; 1: a chain,
    checkpoint, receipt or witnessed head fails (one line each, naming the seq); 3: it
    verifies, but entries after the last signature are unsigned (a crash, or an append
    nobody signed); 2: bad input.
    """
    from flagship.telemetry import Store  # noqa: PLC0415
    from flagship.telemetry._receipts import audit_trial, load_receipts, load_witness  # noqa: PLC0415
    from flagship.telemetry._trial_log import TrialLog  # noqa: PLC0415

    kept = load_receipts(receipts) if receipts is not None else []
    heads = load_witness(witness) if witness is not None else []
    with Store.open(store_url(chosen_store(db, db_option))) as store:
        log = TrialLog(store)
        chosen = [log.trial(trial)] if trial else log.trials()
        audits = [audit_trial(t, log.entries(t.id), log.checkpoints(t.id), receipts=kept, witnessed=heads,
                              public_key=public_key) for t in chosen]
    known = {t.id for t in chosen}
    strays = sorted({r.trial for r in kept} - known) if not trial else []
    if as_json:
        sys.stdout.write(json.dumps([{**a.chain.__dict__, "findings": a.findings, "receipts": a.receipts,
                                      "witnessed": a.witnessed, "unsigned": a.unsigned} for a in audits],
                                    indent=2) + "\n")
    elif not audits:
        out.print("no trials in this store", highlight=False)
    failed = bool(strays)
    for audit in audits:
        failed = failed or not audit.chain.ok or bool(audit.findings)
        if as_json:
            continue
        _print_audit(audit)
    for stray in strays:
        out.print(f"trial {stray}: FAILED: receipts name this trial, the store has no such trial",
                  highlight=False, markup=False, soft_wrap=True)
    if failed:
        raise typer.Exit(1)
    if any(a.unsigned for a in audits):
        raise typer.Exit(3)


def _print_audit(audit: Audit) -> None:
    result = audit.chain
    evidence = "".join([f", {audit.receipts} receipts" if audit.receipts else "",
                        f", {audit.witnessed} witnessed heads" if audit.witnessed else ""])
    if result.ok and not audit.findings:
        out.print(f"trial {result.trial_id}: ok ({result.size} entries, {result.checkpoints} "
                  f"signed checkpoints{evidence}, head {result.head_hash[:16]})", highlight=False,
                  soft_wrap=True)
    elif not result.ok:
        where = f"first bad entry: seq {result.first_bad}: " if result.first_bad is not None else ""
        out.print(f"trial {result.trial_id}: FAILED: {where}{result.problem}", highlight=False,
                  markup=False, soft_wrap=True)
    else:
        out.print(f"trial {result.trial_id}: FAILED: {len(audit.findings)} of the outside evidence "
                  f"contradict the log ({result.size} entries{evidence})", highlight=False, markup=False,
                  soft_wrap=True)
    for finding in audit.findings:
        out.print(f"  {finding}", highlight=False, markup=False, soft_wrap=True)
    if audit.unsigned:
        out.print(f"  warning: the last {audit.unsigned} entries (seq {result.size - audit.unsigned} to "
                  f"{result.size - 1}) are unsigned: no checkpoint, receipt or witnessed head covers "
                  "them (a crash before the next checkpoint, or entries appended since)",
                  highlight=False, markup=False, soft_wrap=True)


def _trial_scenario(trial: Trial, overrides: Sequence[str]) -> ResolvedScenario:
    from flagship.sandbox._scenario import apply_overrides, parse_override, resolve  # noqa: PLC0415

    data = trial.scenario["scenario"]
    parsed = [parse_override(o) for o in overrides]
    return resolve(apply_overrides(data, parsed), overrides=tuple(overrides))


def _measure_rows(measures: Sequence[MeasureValue]) -> dict[str, MeasureValue]:
    return {f"{m.scope}.{m.name}": m for m in measures}


def replay(
    trial: Annotated[str, typer.Option("--trial", help="trial id (or a unique prefix)")],
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="counterfactual override: dotted.path=value")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
    db: StoreArg = None,
    db_option: StoreOpt = None,
) -> None:
    """Re-run a recorded trial's actions at their recorded times; with --set, the counterfactual.

    Without overrides every recorded outcome and state hash must be reproduced
    (divergences are listed, exit 1). With overrides the clients' actions are
    replayed against the changed scenario and its measures shown beside the real ones.
    """
    from flagship.sandbox._replay import commits_from_entries, replay_scenario  # noqa: PLC0415
    from flagship.telemetry import Store  # noqa: PLC0415
    from flagship.telemetry._trial_log import TrialLog  # noqa: PLC0415

    with Store.open(store_url(chosen_store(db, db_option))) as store:
        log = TrialLog(store)
        recorded = log.trial(trial)
        commits = commits_from_entries(log.entries(recorded.id), trial_id=recorded.id)
    real_scenario = _trial_scenario(recorded, [])
    _, real, real_telemetry = replay_scenario(real_scenario, recorded.seed, commits, check=True, finish=True)
    counter: ReplayReport | None = None
    counter_measures: dict[str, MeasureValue] = {}
    if set_:
        _, counter, counter_telemetry = replay_scenario(_trial_scenario(recorded, set_), recorded.seed,
                                                        commits, check=False, finish=True)
        counter_measures = _measure_rows(counter_telemetry.measures if counter_telemetry else ())
    real_measures = _measure_rows(real_telemetry.measures if real_telemetry else ())
    if as_json:
        sys.stdout.write(json.dumps({
            "trial": recorded.id, "entries": real.entries, "external": real.external,
            "exact": real.exact, "divergences": [str(d) for d in real.divergences],
            "state_sha256": real.state_sha256, "clock": real.clock,
            "measures": {k: m.value for k, m in real_measures.items()},
            "counterfactual": None if counter is None else {
                "overrides": list(set_ or []), "entries": counter.entries,
                "state_sha256": counter.state_sha256,
                "measures": {k: m.value for k, m in counter_measures.items()}},
        }, indent=2) + "\n")
    else:
        verdict = "every outcome and state hash reproduced" if real.exact else \
            f"DIVERGED ({len(real.divergences)} shown)"
        out.print(f"trial {recorded.id}: replayed {real.entries} entries ({real.external} from clients) "
                   f"to sim time {real.clock:g}: {verdict}", highlight=False, markup=False, soft_wrap=True)
        for divergence in real.divergences:
            out.print(f"  {divergence}", highlight=False, markup=False, soft_wrap=True)
        table = Table(title="measures" + (f" (counterfactual: {', '.join(set_)})" if set_ else ""),
                      title_justify="left")
        for column in ("measure", "area", "real", *(("counterfactual", "delta") if set_ else ())):
            table.add_column(column, justify="left" if column in ("measure", "area") else "right")
        for name, m in sorted(real_measures.items()):
            cells = [name, m.area, _fmt(m.value)]
            if set_:
                other = counter_measures.get(name)
                value = other.value if other else None
                delta = None if value is None or m.value is None else value - m.value
                cells += [_fmt(value), _fmt(delta)]
            table.add_row(*cells)
        out.print(table)
    if not real.exact:
        raise typer.Exit(1)


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.6g}"


def _epoch(text: str | None, default: float) -> float:
    from flagship.mechanisms import InputError, Problem  # noqa: PLC0415

    if text is None:
        return default
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InputError([Problem("--epoch", f"expected unix seconds or an ISO 8601 time, got {text!r}")]) \
            from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def export_metrics(
    run: Annotated[str | None, typer.Option("--run", help="run id (or a unique prefix)")] = None,
    trial: TrialOpt = None,
    epoch: Annotated[str | None, typer.Option(
        "--epoch", help="wall time of sim time 0: unix seconds or ISO 8601 (default: a run's "
                        "creation time minus its sim time; a trial's epoch)")] = None,
    db: StoreArg = None,
    db_option: StoreOpt = None,
) -> None:
    """Write a run's (or a trial's) sim-time series and measures as OpenMetrics on stdout.

    The file feeds ``promtool tsdb create-blocks-from openmetrics run.om DIR``.
    """
    from flagship.mechanisms import InputError, Problem  # noqa: PLC0415
    from flagship.sandbox._replay import commits_from_entries, replay_scenario  # noqa: PLC0415
    from flagship.telemetry import MeasureValue, Store  # noqa: PLC0415
    from flagship.telemetry._prometheus import openmetrics_for_run  # noqa: PLC0415
    from flagship.telemetry._trial_log import TrialLog  # noqa: PLC0415

    if (run is None) == (trial is None):
        raise InputError([Problem("--run", "give exactly one of --run or --trial")])
    series: Sequence[SeriesPoint]
    measures: Sequence[MeasureValue]
    with Store.open(store_url(chosen_store(db, db_option))) as store:
        if run is not None:
            stored = store.run(run)
            if stored.status != "completed":
                raise InputError([Problem("--run", f"run {stored.id} did not complete ({stored.status})")])
            series = store.run_series(stored.id)
            measures = [MeasureValue(str(r["scope"]), str(r["name"]), str(r["area"]), str(r["unit"]),
                                     bool(r["higher_is_better"]), r["value"])
                        for r in store.measure_rows([stored.id])]
            final = stored.sim_time
            start = _epoch(epoch, stored.created_at.timestamp() - final)
            arm = stored.arm
        else:
            log = TrialLog(store)
            recorded = log.trial(trial or "")
            commits = commits_from_entries(log.entries(recorded.id), trial_id=recorded.id)
            host, _, telemetry = replay_scenario(_trial_scenario(recorded, []), recorded.seed, commits,
                                                 check=False, finish=True)
            series = telemetry.series if telemetry else ()
            measures = telemetry.measures if telemetry else ()
            final = float(host.env.now)
            start = _epoch(epoch, recorded.epoch)
            arm = "live"
    sys.stdout.write(openmetrics_for_run(series, measures, epoch=start, final_time=final, arm=arm))


def export_responses(
    trial: Annotated[str, typer.Option("--trial", help="trial id (or a unique prefix)")],
    out_dir: Annotated[str, typer.Option("--out", help="directory for the CSV files")] = ".",
    db: StoreArg = None,
    db_option: StoreOpt = None,
) -> None:
    """Write each mechanism's participant responses (a survey's) as an anonymised CSV and a codebook.

    The trial is replayed from its verified log; every mechanism that offers response records
    (``Mechanism.response_records``) gets ``<mechanism>_responses.csv`` (one row per response, no
    actor ids) and ``<mechanism>_codebook.csv`` (one row per column) in ``--out``.
    """
    import csv  # noqa: PLC0415

    from flagship.mechanisms import InputError, Problem  # noqa: PLC0415
    from flagship.sandbox._replay import commits_from_entries, replay_scenario  # noqa: PLC0415
    from flagship.telemetry import Store  # noqa: PLC0415
    from flagship.telemetry._trial_log import TrialLog  # noqa: PLC0415

    with Store.open(store_url(chosen_store(db, db_option))) as store:
        log = TrialLog(store)
        recorded = log.trial(trial)
        commits = commits_from_entries(log.entries(recorded.id))
    host, report, _ = replay_scenario(_trial_scenario(recorded, []), recorded.seed, commits, check=True)
    if not report.exact:
        raise InputError([Problem("--trial", f"trial {recorded.id} does not replay exactly: "
                                             f"{report.divergences[0] if report.divergences else ''}")])
    tables = {name: t for name, m in host.mechanisms.items() if (t := m.response_records()) is not None}
    if not tables:
        raise InputError([Problem("--trial", f"no mechanism of trial {recorded.id} records responses")])
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        with (folder / f"{name}_responses.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(table.columns)
            writer.writerows(table.rows)
        keys = list(dict.fromkeys(k for entry in table.codebook for k in entry))
        with (folder / f"{name}_codebook.csv").open("w", newline="", encoding="utf-8") as handle:
            book = csv.DictWriter(handle, fieldnames=keys)
            book.writeheader()
            book.writerows(table.codebook)
        out.print(f"{name}: {len(table.rows)} responses -> {folder / f'{name}_responses.csv'} "
                  f"(codebook {folder / f'{name}_codebook.csv'})", highlight=False, markup=False,
                  soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``, in the order ``--help`` lists them."""
    app.command()(serve)
    app.command()(verify)
    app.command()(replay)
    app.command("export-metrics")(export_metrics)
    app.command("export-responses")(export_responses)
