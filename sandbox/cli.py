"""The ``flagship`` command line.

Bad input (a scenario that does not validate, an unknown option, a bad ``--set``)
prints one line per problem on stderr and exits with code 2, without a
traceback; a failure while running (a failed replication, an unreachable store)
exits with code 1. ``run --criteria`` prints the scorecard of the runs it just made but
its exit code does not depend on the verdict: ``flagship evaluate`` is the gate for CI.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

from flagship.sandbox import (
    _catalog_cli,
    _experiment_cli,
    _live_cli,
    _operator_cli,
    _results_cli,
    _run_cli,
    _tune_cli,
)
from flagship.sandbox._cli_app import app, err

__all__ = ["app", "main"]

#: The command modules, in the order ``flagship --help`` lists their commands: one scenario (run,
#: validate), experiments (sweep, evaluate, report; tune), the live pilot (serve, verify, replay,
#: export-metrics, export-responses), results (runs, sweeps, trials, show, rerun), what is installed
#: (list, events).
COMMAND_MODULES = (_run_cli, _experiment_cli, _tune_cli, _live_cli, _operator_cli, _results_cli, _catalog_cli)
for _module in COMMAND_MODULES:
    _module.register(app)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``flagship`` console script."""
    try:
        code = app(args=list(argv) if argv is not None else None, prog_name="flagship",
                   standalone_mode=False)
    except typer.Abort:
        err.print("flagship: aborted", highlight=False)
        sys.exit(130)
    except typer.TyperException as exc:
        # Usage errors (unknown option, bad value, no arguments): one line, exit code 2.
        # Typer vendors click, so its exception types are reached through typer's public base.
        if type(exc).__name__ != "NoArgsIsHelpError":  # that one has printed the help already
            format_message = getattr(exc, "format_message", None)
            message = format_message() if callable(format_message) else str(exc)
            err.print(f"flagship: {' '.join(str(message).split())}", markup=False,
                       highlight=False, soft_wrap=True)
        sys.exit(int(getattr(exc, "exit_code", 2)))
    except Exception as exc:
        # The contract is imported by whatever raised, so importing it here costs nothing then,
        # and nothing at all for ``--help`` (which never needs it).
        from flagship.mechanisms import FlagshipError, InputError  # noqa: PLC0415

        if isinstance(exc, InputError):
            for line in exc.lines():
                err.print(line, markup=False, highlight=False, soft_wrap=True)
            sys.exit(2)
        if isinstance(exc, FlagshipError):
            err.print(f"flagship: {exc}".splitlines()[0], markup=False, highlight=False,
                       soft_wrap=True)
            sys.exit(1)
        raise
    sys.exit(code if isinstance(code, int) else 0)
