"""The mechanism contract: what every Flagship mechanism and population plug-in implements.

Public surface: :class:`Action` in, :class:`Outcome` out; :class:`Mechanism` and
:class:`Population` base classes with their :class:`Context`; the :class:`Bus`
and its :class:`Event` base (the shared vocabulary is in :mod:`mechanisms.events`);
:class:`Measure` declarations by :class:`Area`; the registry (:func:`register`);
the exception tree rooted at :class:`FlagshipError`. The conformance kit is
:mod:`mechanisms.testing`.
"""

from mechanisms._action import EMPTY, Action, CommonReason, Outcome
from mechanisms._base import (
    Arrival,
    Context,
    Mechanism,
    NoConfig,
    Population,
    PopulationContext,
    Recorder,
    Submit,
)
from mechanisms._bus import Bus, Event, EventHandler
from mechanisms._canonical import canonical_bytes, canonical_json, sha256_hex
from mechanisms._errors import (
    ConformanceError,
    ContractError,
    FlagshipError,
    InputError,
    Problem,
    RunFailedError,
    RunNotFoundError,
    ScenarioError,
    StoreError,
    UnknownNameError,
)
from mechanisms._live import (
    AUTHENTICATOR_GROUP,
    Authenticator,
    AuthError,
    Gateway,
    Principal,
    RoutesFactory,
)
from mechanisms._measures import Area, Measure
from mechanisms._random import Streams, seed_sequence
from mechanisms._registry import (
    MECHANISM_GROUP,
    POPULATION_GROUP,
    mechanism,
    mechanisms,
    population,
    populations,
    register,
    unregister,
)

__all__ = [
    "AUTHENTICATOR_GROUP",
    "EMPTY",
    "MECHANISM_GROUP",
    "POPULATION_GROUP",
    "Action",
    "Area",
    "Arrival",
    "AuthError",
    "Authenticator",
    "Bus",
    "CommonReason",
    "ConformanceError",
    "Context",
    "ContractError",
    "Event",
    "EventHandler",
    "FlagshipError",
    "Gateway",
    "InputError",
    "Measure",
    "Mechanism",
    "NoConfig",
    "Outcome",
    "Population",
    "PopulationContext",
    "Principal",
    "Problem",
    "Recorder",
    "RoutesFactory",
    "RunFailedError",
    "RunNotFoundError",
    "ScenarioError",
    "StoreError",
    "Streams",
    "Submit",
    "UnknownNameError",
    "canonical_bytes",
    "canonical_json",
    "mechanism",
    "mechanisms",
    "population",
    "populations",
    "register",
    "seed_sequence",
    "sha256_hex",
    "unregister",
]
