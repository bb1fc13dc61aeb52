"""Questionnaires as data: versioned TOML instruments of items on scales, grouped into constructs.

An instrument file (``instruments/<name>.toml``, shipped as package data) holds ``name``,
``version``, ``title``, ``[[constructs]]`` (``key``, ``label``) and ``[[items]]``: ``id``,
``construct`` (absent for an unscored free-text item), ``facet``, ``text``, ``scale``
(``likert5``, ``likert7``, ``yes_no`` or ``text``), ``reverse`` (reverse-coded), ``dont_know``
(a "don't know" answer is offered) and ``source`` (the literature the item paraphrases).

Answers and their scores (:meth:`Item.check`, :meth:`Item.score`): a Likert answer is an integer
on its scale, a yes/no answer a boolean, a text answer a string up to :data:`MAX_TEXT_ANSWER`
characters; ``"dont_know"`` where the item offers it; ``None`` (or leaving the item out) is a
missing answer. Scored answers are put on [0, 1] (``(v - low) / (high - low)``; yes is 1),
reverse-coded items flipped (``1 - x``); "don't know" and missing answers have no score.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from flagship.mechanisms import ContractError

__all__ = [
    "CONSTRUCTS",
    "DONT_KNOW",
    "MAX_TEXT_ANSWER",
    "SCALES",
    "Instrument",
    "Item",
    "Questionnaire",
    "instrument",
    "questionnaire",
    "shipped_instruments",
]

CONSTRUCTS = ("procedural_justice", "decision_acceptance", "institutional_trust")
"""The constructs the survey declares measures for (an instrument may cover any of them)."""
SCALES: Mapping[str, tuple[int, int] | None] = {"likert5": (1, 5), "likert7": (1, 7), "yes_no": (0, 1),
                                                  "text": None}
"""Each scale's lowest and highest answer (yes/no as 0/1; text: unscored)."""
DONT_KNOW = "dont_know"
MAX_TEXT_ANSWER = 500


@dataclass(frozen=True, slots=True)
class Item:
    """One question: its scale, how it is scored, and the source it paraphrases."""

    id: str
    construct: str | None
    facet: str
    text: str
    scale: str
    reverse: bool
    dont_know: bool
    source: str

    def check(self, value: Any) -> str | None:
        """Why ``value`` is not an answer to this item (``None``: it is)."""
        if value is None:
            return None
        if value == DONT_KNOW and isinstance(value, str):
            return None if self.dont_know else f"{self.id}: this item offers no 'dont_know'"
        bounds = SCALES[self.scale]
        if bounds is None:
            if isinstance(value, str) and len(value) <= MAX_TEXT_ANSWER:
                return None
            return f"{self.id}: expected text up to {MAX_TEXT_ANSWER} characters"
        if self.scale == "yes_no":
            return None if isinstance(value, bool) else f"{self.id}: expected true or false"
        low, high = bounds
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return None
        return f"{self.id}: expected an integer from {low} to {high}"

    def score(self, value: Any) -> float | None:
        """The answer on [0, 1], reverse-coded items flipped; ``None`` for missing, don't know, text."""
        bounds = SCALES[self.scale]
        if value is None or bounds is None or (isinstance(value, str) and value == DONT_KNOW):
            return None
        low, high = bounds
        x = (float(value) - low) / (high - low)
        return 1.0 - x if self.reverse else x

    def describe(self) -> dict[str, Any]:
        """JSON-able description (for the live routes and the codebook)."""
        bounds = SCALES[self.scale]
        return {"id": self.id, "construct": self.construct, "facet": self.facet, "text": self.text,
                "scale": self.scale, "low": None if bounds is None else bounds[0],
                "high": None if bounds is None else bounds[1], "reverse": self.reverse,
                "dont_know": self.dont_know, "source": self.source}


@dataclass(frozen=True, slots=True)
class Instrument:
    """A versioned questionnaire file."""

    name: str
    version: str
    title: str
    constructs: Mapping[str, str]
    items: tuple[Item, ...]


@dataclass(frozen=True, slots=True)
class Questionnaire:
    """The instruments a survey asks, in order, with their items by id."""

    instruments: tuple[Instrument, ...]
    items: Mapping[str, Item]

    def construct_items(self, construct: str) -> list[Item]:
        """The scored items of ``construct``, in questionnaire order."""
        return [item for item in self.items.values() if item.construct == construct]

    @property
    def versions(self) -> dict[str, str]:
        return {i.name: i.version for i in self.instruments}


def _text(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ContractError(f"{where}: {key}: expected non-empty text")
    return value


def _parse(data: Mapping[str, Any], where: str) -> Instrument:
    constructs: dict[str, str] = {}
    for c in data.get("constructs", []):
        key = _text(c, "key", f"{where} constructs")
        if key not in CONSTRUCTS:
            raise ContractError(f"{where}: construct {key!r}: expected one of {', '.join(CONSTRUCTS)}")
        constructs[key] = _text(c, "label", f"{where} constructs.{key}")
    items: list[Item] = []
    for raw in data.get("items", []):
        item_id = _text(raw, "id", f"{where} items")
        at = f"{where} items.{item_id}"
        scale = _text(raw, "scale", at)
        if scale not in SCALES:
            raise ContractError(f"{at}: scale: expected one of {', '.join(SCALES)}, got {scale!r}")
        construct = raw.get("construct")
        if (construct is None) != (scale == "text") or (construct is not None
                                                        and construct not in constructs):
            raise ContractError(f"{at}: construct: a scored item names a construct of the file; a text "
                                "item names none")
        items.append(Item(item_id, construct, str(raw.get("facet", "")), _text(raw, "text", at), scale,
                          bool(raw.get("reverse", False)), bool(raw.get("dont_know", False)),
                          _text(raw, "source", at)))
    return Instrument(_text(data, "name", where), _text(data, "version", where), _text(data, "title", where),
                      constructs, tuple(items))


def shipped_instruments() -> list[str]:
    """Names of the instruments shipped with Flagship, sorted."""
    folder = resources.files("flagship.democracy._survey").joinpath("instruments")
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


@cache
def instrument(name: str) -> Instrument:
    """The shipped instrument ``name`` (raises ContractError if there is none, or it is malformed)."""
    if name not in shipped_instruments():
        raise ContractError(f"no shipped instrument {name!r} (shipped: {', '.join(shipped_instruments())})")
    path = resources.files("flagship.democracy._survey").joinpath("instruments", f"{name}.toml")
    return _parse(tomllib.loads(path.read_text(encoding="utf-8")), f"instrument {name}")


def questionnaire(names: Sequence[str]) -> Questionnaire:
    """The instruments ``names`` asked together (item ids must be distinct across them)."""
    chosen = tuple(instrument(n) for n in names)
    items: dict[str, Item] = {}
    for inst in chosen:
        for item in inst.items:
            if item.id in items:
                raise ContractError(f"item {item.id!r} is in more than one instrument")
            items[item.id] = item
    return Questionnaire(chosen, items)
