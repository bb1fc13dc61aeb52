"""The registry: mechanisms and populations by name, built in or plugged in.

Built-in and third-party plug-ins are found the same way: through the entry-point
groups ``flagship.mechanisms`` and ``flagship.populations``. An entry point names a
class (or a module whose import registers classes with ``@register``). Classes
defined in a script or a test can also be registered directly with ``@register``.
Entry points are loaded lazily, by name, the first time that name is asked for;
a plug-in that fails to load fails loudly with its entry point named.
"""

from __future__ import annotations

import difflib
import inspect
from importlib.metadata import EntryPoint, entry_points
from typing import Any, TypeVar

from pydantic import BaseModel

from flagship.mechanisms._base import Mechanism, Population
from flagship.mechanisms._errors import ContractError, InputError, Problem, UnknownNameError

__all__ = [
    "MECHANISM_GROUP",
    "POPULATION_GROUP",
    "mechanism",
    "mechanisms",
    "population",
    "populations",
    "register",
    "unregister",
]

MECHANISM_GROUP = "flagship.mechanisms"
POPULATION_GROUP = "flagship.populations"

_mechanisms: dict[str, type[Mechanism[Any]]] = {}
_populations: dict[str, type[Population[Any]]] = {}

T = TypeVar("T", bound=type)


def register(cls: T) -> T:
    """Class decorator: register a Mechanism or Population subclass under its ``name``.

    Registering the same class twice is a no-op; another class under a taken name
    is a :class:`ContractError`.
    """
    if not inspect.isclass(cls):
        raise ContractError(f"register: expected a Mechanism or Population class, got {cls!r}")
    if issubclass(cls, Mechanism):
        _check_common(cls, "Config")
        _add(_mechanisms, cls, "mechanism")
    elif issubclass(cls, Population):
        _check_common(cls, "Params")
        _add(_populations, cls, "population")
    else:
        raise ContractError(f"register: {cls.__qualname__} is neither a Mechanism nor a Population")
    return cls


def unregister(name: str) -> None:
    """Forget a mechanism or population registered under ``name`` (for tests and notebooks)."""
    _mechanisms.pop(name, None)
    _populations.pop(name, None)


def _check_common(cls: type[Any], model_attr: str) -> None:
    name = getattr(cls, "name", "")
    if not isinstance(name, str) or not name.isidentifier():
        raise ContractError(f"{cls.__qualname__}.name: expected an identifier, got {name!r}")
    model = getattr(cls, model_attr)
    if not (inspect.isclass(model) and issubclass(model, BaseModel)):
        raise ContractError(f"{cls.__qualname__}.{model_attr}: expected a pydantic model class")
    if model.model_config.get("extra") != "forbid":
        raise ContractError(
            f"{cls.__qualname__}.{model_attr}: set model_config extra='forbid' so unknown keys are errors"
        )
    seen: set[str] = set()
    for declared in cls.measures:
        if declared.name in seen:
            raise ContractError(f"{cls.__qualname__}.measures: {declared.name!r} declared twice")
        seen.add(declared.name)


def _add(table: dict[str, Any], cls: type[Any], kind: str) -> None:
    existing = table.get(cls.name)
    if existing is not None and existing is not cls:
        raise ContractError(
            f"{kind} name {cls.name!r} is taken by {existing.__module__}.{existing.__qualname__}"
        )
    table[cls.name] = cls


def _entry_points(group: str) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=group)}


def _load(ep: EntryPoint, table: dict[str, Any], kind: str) -> None:
    try:
        target = ep.load()
    except InputError:
        raise  # a setting the user gave is wrong (it names itself): not the plug-in's fault
    except Exception as exc:
        raise ContractError(f"{kind} plug-in {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
    if inspect.isclass(target):
        register(target)
    if ep.name not in table:
        raise ContractError(
            f"{kind} plug-in {ep.name!r} ({ep.value}) registered no {kind} named {ep.name!r}"
        )


def _lookup(name: str, table: dict[str, Any], group: str, kind: str) -> Any:
    if name not in table:
        ep = _entry_points(group).get(name)
        if ep is not None:
            _load(ep, table, kind)
    if name not in table:
        known = sorted(set(table) | set(_entry_points(group)))
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UnknownNameError(
            [Problem(kind, f"unknown {kind} {name!r}{hint}; known: {', '.join(known) or 'none'}")]
        )
    return table[name]


def _all(table: dict[str, Any], group: str, kind: str) -> dict[str, Any]:
    for name, ep in _entry_points(group).items():
        if name not in table:
            _load(ep, table, kind)
    return dict(sorted(table.items()))


def mechanism(name: str) -> type[Mechanism[Any]]:
    """The mechanism class registered as ``name`` (loading its entry point if needed)."""
    cls: type[Mechanism[Any]] = _lookup(name, _mechanisms, MECHANISM_GROUP, "mechanism")
    return cls


def population(name: str) -> type[Population[Any]]:
    """The population class registered as ``name`` (loading its entry point if needed)."""
    cls: type[Population[Any]] = _lookup(name, _populations, POPULATION_GROUP, "population")
    return cls


def mechanisms() -> dict[str, type[Mechanism[Any]]]:
    """Every mechanism, built in and plugged in, by name."""
    return _all(_mechanisms, MECHANISM_GROUP, "mechanism")


def populations() -> dict[str, type[Population[Any]]]:
    """Every population model, built in and plugged in, by name."""
    return _all(_populations, POPULATION_GROUP, "population")
