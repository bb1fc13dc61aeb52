"""The mechanism contract: what every Flagship mechanism and population plug-in implements.

Public surface: :class:`Action` in, :class:`Outcome` out; :class:`Mechanism` and
:class:`Population` base classes with their :class:`Context`; the :class:`Bus`
and its :class:`Event` base (the shared vocabulary is in :mod:`flagship.mechanisms.events`);
:class:`Measure` declarations by :class:`Area`; the registry (:func:`register`);
the exception tree rooted at :class:`FlagshipError`. The conformance kit is
:mod:`flagship.mechanisms.testing`.
"""

from flagship.mechanisms._action import EMPTY, Action, CommonReason, Outcome
from flagship.mechanisms._base import (
    Arrival,
    Context,
    Mechanism,
    NoConfig,
    Population,
    PopulationContext,
    Recorder,
    RecordTable,
    Submit,
    Timer,
)
from flagship.mechanisms._bus import Bus, Event, EventHandler
from flagship.mechanisms._canonical import canonical_bytes, canonical_json, sha256_hex
from flagship.mechanisms._errors import (
    ActionRejected,
    AuthError,
    CommitOutcomeUnknownError,
    ConformanceError,
    ContractError,
    FlagshipError,
    InputError,
    LeaseLostError,
    MechanismFailedError,
    OrderRejected,
    Problem,
    RunFailedError,
    RunNotFoundError,
    ScenarioError,
    ShuttingDownError,
    StoreError,
    StoreUnavailableError,
    TrialEndedError,
    TrialServedError,
    UnknownNameError,
)
from flagship.mechanisms._live import (
    AUTHENTICATOR_GROUP,
    Authenticator,
    Gateway,
    Principal,
    RoutesFactory,
)
from flagship.mechanisms._measures import NON_NEGATIVE, SHARE, SIGNED_SHARE, Area, Measure
from flagship.mechanisms._pages import PAGES_PREFIX, PageSet, PagesFactory, PageSite
from flagship.mechanisms._random import Streams, seed_sequence
from flagship.mechanisms._registry import (
    MECHANISM_GROUP,
    POPULATION_GROUP,
    mechanism,
    mechanisms,
    population,
    populations,
    register,
    unregister,
)
from flagship.mechanisms._stream import RandomStream

__all__ = [
    "AUTHENTICATOR_GROUP",
    "EMPTY",
    "MECHANISM_GROUP",
    "NON_NEGATIVE",
    "PAGES_PREFIX",
    "POPULATION_GROUP",
    "SHARE",
    "SIGNED_SHARE",
    "Action",
    "ActionRejected",
    "Area",
    "Arrival",
    "AuthError",
    "Authenticator",
    "Bus",
    "CommitOutcomeUnknownError",
    "CommonReason",
    "ConformanceError",
    "Context",
    "ContractError",
    "Event",
    "EventHandler",
    "FlagshipError",
    "Gateway",
    "InputError",
    "LeaseLostError",
    "Measure",
    "Mechanism",
    "MechanismFailedError",
    "NoConfig",
    "OrderRejected",
    "Outcome",
    "PageSet",
    "PageSite",
    "PagesFactory",
    "Population",
    "PopulationContext",
    "Principal",
    "Problem",
    "RandomStream",
    "RecordTable",
    "Recorder",
    "RoutesFactory",
    "RunFailedError",
    "RunNotFoundError",
    "ScenarioError",
    "ShuttingDownError",
    "StoreError",
    "StoreUnavailableError",
    "Streams",
    "Submit",
    "Timer",
    "TrialEndedError",
    "TrialServedError",
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
