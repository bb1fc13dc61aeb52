"""``flagship list`` and ``flagship events``: what is installed, and how it talks.

``list`` shows the registered mechanisms, population models and the measures they declare,
built in and plugged in alike (``list mechanisms``, ``list populations``, ``list measures``,
optionally one ``NAME``); ``events`` draws the event flow from the declarations.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from flagship.sandbox._cli_app import out

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["events", "list_", "register"]


class Kind(StrEnum):
    """What ``flagship list`` lists."""

    ALL = "all"
    MECHANISMS = "mechanisms"
    POPULATIONS = "populations"
    MEASURES = "measures"


def events(
    with_populations: Annotated[bool, typer.Option(
        "--populations", help="also draw the population models (dotted arrows)")] = False,
) -> None:
    """Print the event flow between mechanisms as a Mermaid flowchart, from their declarations."""
    from flagship.mechanisms import mechanisms, populations  # noqa: PLC0415
    from flagship.sandbox._diagram import event_flow, render_mermaid  # noqa: PLC0415

    sys.stdout.write(render_mermaid(event_flow(mechanisms(), populations() if with_populations else None)))


def list_(
    kind: Annotated[Kind, typer.Argument(help="what to list")] = Kind.ALL,
    name: Annotated[str | None, typer.Argument(help="only this mechanism or population model")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
) -> None:
    """List mechanisms and population models with their config fields and declared measures."""
    listing = catalogue(kind, name)
    if as_json:
        sys.stdout.write(json.dumps(listing, indent=2) + "\n")
        return
    for section, entries in listing.items():
        if section == "measures":
            _print_measures(entries)
            continue
        table = Table(title=section, show_lines=False, title_justify="left")
        for column in ("name", "module", "field", "type", "default", "description"):
            table.add_column(column)
        for entry_name, entry in entries.items():
            fields = entry["fields"] or [{"name": "-", "type": "", "default": "", "description": ""}]
            for index, f in enumerate(fields):
                table.add_row(entry_name if index == 0 else "", entry["module"] if index == 0 else "",
                              escape(f["name"]), escape(f["type"]), escape(json.dumps(f["default"])),
                              escape(f["description"]))  # "[lo, hi]" is text, not Rich markup
        out.print(table)


def catalogue(kind: Kind = Kind.ALL, name: str | None = None) -> dict[str, Any]:
    """The installed mechanisms, populations and measures as JSON-able data (what ``list`` prints).

    ``name`` keeps one mechanism or population model (and its measures); an unknown name is bad
    input that names the closest known one.
    """
    from flagship.mechanisms import Problem, UnknownNameError, mechanisms, populations  # noqa: PLC0415
    from flagship.sandbox._scenario import did_you_mean  # noqa: PLC0415

    classes: dict[str, dict[str, Any]] = {"mechanisms": mechanisms(), "populations": populations()}
    if name is not None:
        known = sorted({*classes["mechanisms"], *classes["populations"]})
        if name not in known:
            hint = did_you_mean(name, known)
            raise UnknownNameError([Problem("NAME", f"no mechanism or population model {name!r}{hint}; "
                                                    f"known: {', '.join(known)}")])
        classes = {section: {n: c for n, c in entries.items() if n == name}
                   for section, entries in classes.items()}
    listing: dict[str, Any] = {}
    if kind in (Kind.ALL, Kind.MECHANISMS):
        listing["mechanisms"] = {n: _describe(c, c.Config) for n, c in classes["mechanisms"].items()}
    if kind in (Kind.ALL, Kind.POPULATIONS):
        listing["populations"] = {n: _describe(c, c.Params) for n, c in classes["populations"].items()}
    if kind in (Kind.ALL, Kind.MEASURES):
        listing["measures"] = [
            {"owner": owner, "kind": section[:-1], "name": m.name, "qualified": m.qualified,
             "area": m.area.value, "unit": m.unit, "higher_is_better": m.higher_is_better,
             "definition": m.definition}
            for section in ("mechanisms", "populations") for owner, cls in classes[section].items()
            for m in cls.measures]
    return listing


def _describe(cls: type[Any], model: type[BaseModel]) -> dict[str, Any]:
    fields = []
    for name, info in model.model_fields.items():
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        fields.append({
            "name": name,
            "type": getattr(info.annotation, "__name__", str(info.annotation)).replace("typing.", ""),
            "default": json.loads(json.dumps(default, default=str)),
            "description": info.description or "",
        })
    return {"module": cls.__module__, "doc": (cls.__doc__ or "").strip().split("\n")[0], "fields": fields,
            "measures": [m.name for m in cls.measures]}


def _print_measures(measures: list[dict[str, Any]]) -> None:
    table = Table(title="measures", title_justify="left")
    for column in ("owner", "measure", "area", "unit", "better", "definition"):
        table.add_column(column)
    for m in measures:
        table.add_row(m["owner"], m["name"], m["area"], m["unit"], "↑" if m["higher_is_better"] else "↓",
                      escape(m["definition"]))
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``, in the order ``--help`` lists them."""
    app.command("list")(list_)
    app.command()(events)
