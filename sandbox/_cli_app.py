"""The ``flagship`` Typer app that every command module adds its commands to.

Lifecycle: :mod:`flagship.sandbox.cli` imports this module and the command modules
(``_run_cli``, ``_experiment_cli``, ``_live_cli``, ``_results_cli``, ``_catalog_cli``), calls
each one's ``register(app)`` in the order ``--help`` lists them, then runs the app. Command
modules import at the top only what ``flagship --help`` needs (Typer and Rich: not even the
contract); what a command needs to do its work (the runner, the store, the live
server, matplotlib) is imported when the command runs, so help and validation start fast.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

if TYPE_CHECKING:
    from flagship.mechanisms import Problem

__all__ = ["DEFAULT_STORE_URL", "NO_ARM", "DbOpt", "ScenarioArg", "SetOpt", "StoreArg", "StoreOpt", "app",
           "chosen_store", "err", "out", "parse_each", "progress"]

_Parsed = TypeVar("_Parsed")

#: The embedded default store (as :data:`flagship.telemetry.DEFAULT_URL`, which a test pins equal).
DEFAULT_STORE_URL = "sqlite:///flagship.db"

app = typer.Typer(
    name="flagship",
    help="Prototype, stress-test and pilot alignment mechanisms.",
    add_completion=True,  # --install-completion and --show-completion for bash, zsh, fish, PowerShell
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version  # noqa: PLC0415

        out.print(f"flagship {version('flagship-sandbox')}", highlight=False)
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="print the version and exit")] = False,
) -> None:
    """Prototype, stress-test and pilot alignment mechanisms."""

NO_ARM = "default"  # the arm name shown when a scenario declares no arms

err = Console(stderr=True)
# Piped output (CI logs, files) gets a wide page instead of rich's 80-column default,
# so measure tables with several arms are not folded into unreadable columns.
out = Console() if Console().is_terminal else Console(width=200)

ScenarioArg = Annotated[str, typer.Argument(help="scenario file (.toml or .json)")]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", help="override a scenario field: dotted.path=value (value read as TOML)")]
DbOpt = Annotated[str | None, typer.Option(
    "--db", help=f"store URL (default: the scenario's store, else {DEFAULT_STORE_URL})")]


#: A store named as the command's first argument (kept for the commands that always took one) ...
StoreArg = Annotated[str | None, typer.Argument(
    metavar="DB", show_default=False, help="store URL or SQLite file; the same as --db")]
#: ... or, as in every command, with --db.
StoreOpt = Annotated[str | None, typer.Option(
    "--db", help=f"store URL (sqlite:///… or postgresql+psycopg://…) or the path of a SQLite file "
                 f"(default {DEFAULT_STORE_URL})")]


def chosen_store(positional: str | None, option: str | None) -> str:
    """The store a command names, as ``DB`` or ``--db`` (one of them), else the default."""
    if positional is not None and option is not None and positional != option:
        from flagship.mechanisms import InputError, Problem  # noqa: PLC0415

        raise InputError([Problem("--db", f"name the store once: DB {positional!r} or --db {option!r}")])
    return positional or option or DEFAULT_STORE_URL


def progress(quiet: bool) -> Progress:
    """A transient progress bar on stderr (disabled when ``quiet``, e.g. with ``--json``)."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=err, transient=True, disable=quiet)


def parse_each(texts: Sequence[str] | None, parse: Callable[[str], _Parsed],
               problems: list[Problem]) -> list[_Parsed]:
    """Parse every text of a repeated option, adding each one's problems to ``problems``.

    A command reports every bad value at once (one line each) rather than the first, so the
    caller raises ``InputError(problems)`` after parsing all its options.
    """
    from flagship.mechanisms import InputError  # noqa: PLC0415 - keeps --help free of the contract

    parsed: list[_Parsed] = []
    for text in texts or []:
        try:
            parsed.append(parse(text))
        except InputError as exc:
            problems.extend(exc.problems)
    return parsed
