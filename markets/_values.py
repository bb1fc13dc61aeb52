"""Value attestations, the community's vocabulary, and the norm policies of a ``value_market``.

An order may carry an *attestation*: tags from the market's declared vocabulary (in the
spirit of values cards: each tag names a value or norm the trade engages), an externality
estimate (ticks of harm per lot) and optionally the name of a third-party attestor. Without a
third party, the participant attests for itself (provenance ``"self"``).

The community declares which tags are *aligned* (values it holds: an order carrying one and no
prohibited tag is aligned) and which are *prohibited* (norms it forbids breaching: an order
carrying one breaches it). A tag in neither set is a neutral descriptor, recorded and disclosed.
Regulator decisions may prohibit further norms for a while (see :class:`NormBook`).

The built-in norm policies, any combination of which a scenario declares (``policies = [...]``;
each is implemented in its own module of ``markets/_policies/``):

``baseline``
    Plain price-time priority; attestations are only recorded (the control arm). Declaring
    ``baseline`` is the same as declaring no policy, and it combines with nothing.
``screen``
    An order that breaches a prohibited norm is rejected with ``NORM_PROHIBITED`` (the detail
    names the norm), and so is one attesting an externality above ``externality_cap``; resting
    orders that breach a norm prohibited later are cancelled, so nothing prohibited ever trades.
``externality_fee``
    Each side of a trade pays ``round(fee_rate * externality)`` ticks per lot of its order's
    attested externality into a community pool, redistributed by the declared rule. Every
    amount is an integer number of ticks, so the accounting balances exactly.
``value_priority``
    At an equal price, aligned orders match before neutral ones and neutral ones before
    breaching ones (price, alignment, time priority): the engine's ``priority`` is +1 / 0 / -1.
    Price priority is untouched: the policy changes who trades, never at which price.
``disclosure``
    Every fill in an outcome carries the provenance of both sides' attestations, and the
    market keeps a disclosed tape of them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "DEFAULT_ALIGNED",
    "DEFAULT_PROHIBITED",
    "DEFAULT_VOCABULARY",
    "NO_ATTESTATION",
    "Attestation",
    "NormBook",
    "Policy",
    "Redistribution",
    "parse_attestation",
]

MAX_TAGS = 16  # bounds the work and memory one order can cost; no values card set needs more
MAX_TEXT = 64


class Policy(StrEnum):
    """The built-in norm policies a scenario may declare (they compose, except ``baseline``).

    Each is a module of ``markets/_policies/``; a plug-in policy registered with
    :func:`~flagship.markets.register_policy` is declared by its name the same way.
    """

    BASELINE = "baseline"
    SCREEN = "screen"
    EXTERNALITY_FEE = "externality_fee"
    VALUE_PRIORITY = "value_priority"
    DISCLOSURE = "disclosure"


class Redistribution(StrEnum):
    """How the community pool of ``externality_fee`` is paid out, every ``redistribution_interval``.

    ``retain``: never paid out (a community fund). ``equal``: split equally among the accounts
    that traded since the last payout (sorted by id; each gets ``pool // n``). ``aligned_volume``:
    split pro rata to the aligned lots each account traded since the last payout (each gets
    ``pool * lots // total``). Integer division: what is not paid out stays in the pool.
    """

    RETAIN = "retain"
    EQUAL = "equal"
    ALIGNED_VOLUME = "aligned_volume"


DEFAULT_VOCABULARY: tuple[str, ...] = (
    "fair_labour", "low_carbon", "biodiversity", "community_benefit", "animal_welfare",
    "high_carbon", "child_labour", "deforestation", "data_exploitation",
)
DEFAULT_ALIGNED: tuple[str, ...] = ("fair_labour", "low_carbon", "biodiversity", "community_benefit")
DEFAULT_PROHIBITED: tuple[str, ...] = ("child_labour", "deforestation")


@dataclass(frozen=True, slots=True)
class Attestation:
    """What an order attests: sorted distinct ``tags``, ``externality`` (ticks of harm per lot,
    >= 0) and the third-party ``attestor`` ("" when self-attested)."""

    tags: tuple[str, ...] = ()
    externality: float = 0.0
    attestor: str = ""

    def provenance(self) -> dict[str, Any]:
        """The attestation as disclosed on the tape: tags, externality and who attested it."""
        return {"values": list(self.tags), "externality": self.externality,
                "attested_by": self.attestor or "self"}

    def to_json(self) -> list[Any]:
        return [list(self.tags), self.externality, self.attestor]


NO_ATTESTATION = Attestation()
"""The attestation of an order that attests nothing (shared: most orders carry none)."""


def parse_attestation(payload: Mapping[str, Any], vocabulary: frozenset[str], max_externality: float,
                      trusted_attestors: frozenset[str],
                      cache: dict[tuple[Any, ...], Attestation]) -> Attestation | tuple[str, str]:
    """The attestation in ``payload``, or ``(reason code, detail)`` saying why it is malformed.

    Reason codes: ``UNKNOWN_VALUE_TAG`` (a tag outside the vocabulary), ``UNTRUSTED_ATTESTOR``
    (an attestor not in a non-empty ``trusted_attestors``) and ``INVALID_ATTESTATION`` (wrong
    types, NaN, a negative or too large externality, too many tags). Equal attestations are
    shared through ``cache`` so a market holds one object per distinct attestation.
    """
    values = payload.get("values", ())
    externality = payload.get("externality", 0.0)
    attestor = payload.get("attestor", "")
    if type(values) is not list and type(values) is not tuple:
        return "INVALID_ATTESTATION", "values: expected a list of tags"
    if len(values) > MAX_TAGS:
        return "INVALID_ATTESTATION", f"values: at most {MAX_TAGS} tags"
    for tag in values:
        if type(tag) is not str:
            return "INVALID_ATTESTATION", f"values: expected tags as strings, got {tag!r}"
        if tag not in vocabulary:
            return "UNKNOWN_VALUE_TAG", f"tag {tag!r} is not in the market's vocabulary"
    if isinstance(externality, bool) or not isinstance(externality, int | float):
        return "INVALID_ATTESTATION", "externality: expected a number"
    ext = float(externality)
    if not (math.isfinite(ext) and 0.0 <= ext <= max_externality):
        return "INVALID_ATTESTATION", f"externality: expected a finite number in 0..{max_externality}"
    if type(attestor) is not str or len(attestor) > MAX_TEXT:
        return "INVALID_ATTESTATION", f"attestor: expected a name of at most {MAX_TEXT} characters"
    if attestor and trusted_attestors and attestor not in trusted_attestors:
        return "UNTRUSTED_ATTESTOR", f"attestor {attestor!r} is not one the market recognises"
    tags = tuple(sorted(set(values)))
    key = (tags, ext, attestor)
    found = cache.get(key)
    if found is None:
        found = cache[key] = Attestation(tags, ext, attestor)
    return found


class NormBook:
    """The community's norms in force and what they make of an attestation.

    ``prohibited`` is the declared set plus every norm a binding regulator decision restricts
    (:meth:`restrict` / :meth:`lift`). Classification results are cached per attestation and
    dropped whenever the prohibited set changes.
    """

    __slots__ = ("_aligned", "_cache", "_declared", "_restrictions", "prohibited")

    def __init__(self, aligned: Iterable[str], prohibited: Iterable[str]) -> None:
        self._aligned = frozenset(aligned)
        self._declared = frozenset(prohibited)
        self._restrictions: dict[str, tuple[str, ...]] = {}
        self.prohibited = self._declared
        self._cache: dict[Attestation, tuple[bool, str | None]] = {}

    def classify(self, attestation: Attestation) -> tuple[bool, str | None]:
        """``(aligned, breached norm)``: the first prohibited tag (alphabetically), if any;
        aligned when some tag is aligned and none is prohibited."""
        found = self._cache.get(attestation)
        if found is None:
            tags = attestation.tags
            breach = next((tag for tag in tags if tag in self.prohibited), None)
            aligned = breach is None and any(tag in self._aligned for tag in tags)
            found = self._cache[attestation] = (aligned, breach)
        return found

    def priority(self, attestation: Attestation, require_attestor: bool) -> int:
        """The engine priority under ``value_priority``: +1 aligned, -1 breaching, else 0.

        With ``require_attestor`` only third-party attested alignment earns +1 (self-attested
        alignment is then neutral); a breach costs priority whoever attests it.
        """
        if not attestation.tags:
            return 0
        aligned, breach = self.classify(attestation)
        if breach is not None:
            return -1
        if aligned and (attestation.attestor or not require_attestor):
            return 1
        return 0

    def restrict(self, decision_id: str, norms: tuple[str, ...]) -> frozenset[str]:
        """Prohibit ``norms`` while decision ``decision_id`` binds; return the newly prohibited ones."""
        before = self.prohibited
        self._restrictions[decision_id] = norms
        self._refresh()
        return self.prohibited - before

    def lift(self, decision_id: str) -> bool:
        """End restriction ``decision_id`` (False if there was none)."""
        if self._restrictions.pop(decision_id, None) is None:
            return False
        self._refresh()
        return True

    def _refresh(self) -> None:
        restricted = {norm for norms in self._restrictions.values() for norm in norms}
        self.prohibited = self._declared | restricted
        self._cache.clear()

    def to_json(self) -> dict[str, Any]:
        return {"prohibited": sorted(self.prohibited),
                "restrictions": {key: list(value) for key, value in sorted(self._restrictions.items())}}


def fee_per_lot(attestation: Attestation, rate: float) -> int:
    """Ticks per lot an order pays under ``externality_fee``: ``rate * externality`` rounded half up."""
    if attestation.externality <= 0.0 or rate <= 0.0:
        return 0
    return math.floor(rate * attestation.externality + 0.5)


def split_pool(pool: int, shares: Mapping[str, int], rule: Redistribution) -> dict[str, int]:
    """What each account gets when ``pool`` ticks are paid out by ``rule``.

    ``shares`` maps each account that traded since the last payout to its aligned lots
    (``aligned_volume``) or to anything positive (``equal``). Payouts are integers summing to
    at most ``pool``; accounts with nothing due are left out.
    """
    if pool <= 0 or rule is Redistribution.RETAIN:
        return {}
    if rule is Redistribution.EQUAL:
        accounts = sorted(account for account, share in shares.items() if share > 0)
        if not accounts:
            return {}
        each = pool // len(accounts)
        return {account: each for account in accounts} if each else {}
    total = sum(share for share in shares.values() if share > 0)
    if total <= 0:
        return {}
    paid = {account: pool * share // total for account, share in sorted(shares.items()) if share > 0}
    return {account: amount for account, amount in paid.items() if amount}
