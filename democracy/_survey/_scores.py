"""The survey's measures, computed from its accepted responses: construct means, reliability, response
rates by group, and losers' consent.

* A respondent's **construct score** is the mean of their scored answers to the construct's items
  (each on [0, 1], reverse-coded items flipped), when they answered at least ``min_answered_share``
  of those items; "don't know" and missing answers are not scored. Otherwise it is missing.
* A construct's **mean** is over respondents with a score; **alpha** and **omega** are over
  respondents who answered every item of the construct (listwise), see
  :mod:`~flagship.democracy._survey._reliability`.
* **Response rate**: accepted responses / participants invited, overall and by group (``winner``,
  ``loser``); the difference between groups is non-response that could bias the means.
* **Losers' consent**: the mean decision-acceptance score of respondents whose preferred option
  lost (``loser``; who lost comes from the decision's events, never from an answer), and the
  winner-loser gap: winners' mean acceptance minus losers' (Welch interval within a run).

Every response counts once per survey; a participant affected by two decisions answers twice
(two surveys), and both responses count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flagship.democracy._survey._instruments import CONSTRUCTS, Questionnaire
from flagship.democracy._survey._reliability import (
    Estimate,
    cronbach_alpha,
    mcdonald_omega,
    mean_interval,
    welch_interval,
)
from flagship.mechanisms import SHARE, Area, Measure

__all__ = ["MEASURES", "Response", "Scorer"]

ACCEPTANCE = "decision_acceptance"


def _construct_measures() -> list[Measure]:
    measures: list[Measure] = []
    for c in CONSTRUCTS:
        words = c.replace("_", " ")
        measures += [
            Measure(c, Area.LEGITIMACY, "score", True,
                    f"mean {words} score on [0, 1] over respondents with a score (reverse items flipped)"),
            Measure(f"{c}_alpha", Area.LEGITIMACY, "ratio", True,
                    f"Cronbach's alpha of the {words} items over complete responses"),
            Measure(f"{c}_omega", Area.LEGITIMACY, "ratio", True,
                    f"McDonald's omega total of the {words} items, one-factor principal-axis fit"),
        ]
    return measures


MEASURES: tuple[Measure, ...] = (
    *_construct_measures(),
    Measure("response_rate", Area.LEGITIMACY, "ratio", True, "accepted responses / participants invited",
    bounds=SHARE),
    Measure("response_rate_winners", Area.LEGITIMACY, "ratio", True,
            "accepted responses / invited participants whose preferred option won", bounds=SHARE),
    Measure("response_rate_losers", Area.LEGITIMACY, "ratio", True,
            "accepted responses / invited participants whose preferred option lost", bounds=SHARE),
    Measure("losers_acceptance", Area.LEGITIMACY, "score", True,
            "losers' consent: mean decision-acceptance score of respondents whose preferred option lost"),
    Measure("winners_acceptance", Area.LEGITIMACY, "score", True,
            "mean decision-acceptance score of respondents whose preferred option won"),
    Measure("winner_loser_gap", Area.LEGITIMACY, "score", False,
            "winners' mean decision acceptance minus losers' (0: losers accept as winners do)"),
    Measure("response_rejection_rate", Area.UX, "ratio", False,
            "responses rejected / responses submitted",
            bounds=SHARE),
)


@dataclass(frozen=True, slots=True)
class Response:
    """One accepted response: whose, to which survey, their group, their answers by item id."""

    survey_id: str
    actor: str
    group: str
    answers: Mapping[str, Any]


class Scorer:
    """Scores responses against a questionnaire (see the module doc)."""

    def __init__(self, questionnaire: Questionnaire, min_answered_share: float, confidence: float) -> None:
        self.questionnaire = questionnaire
        self.min_share = min_answered_share
        self.confidence = confidence

    def construct_score(self, construct: str, answers: Mapping[str, Any]) -> float | None:
        """The respondent's score of ``construct`` (``None``: too few items answered, or none asked)."""
        items = self.questionnaire.construct_items(construct)
        if not items:
            return None
        scores = [s for s in (item.score(answers.get(item.id)) for item in items) if s is not None]
        if not scores or len(scores) < math.ceil(self.min_share * len(items) - 1e-9):
            return None
        return sum(scores) / len(scores)

    def _complete(self, construct: str, responses: Sequence[Response]) -> list[list[float]]:
        items = self.questionnaire.construct_items(construct)
        rows = []
        for r in responses:
            row = [item.score(r.answers.get(item.id)) for item in items]
            if all(v is not None for v in row):
                rows.append([float(v) for v in row if v is not None])
        return rows

    def measures(self, responses: Sequence[Response], invited: Mapping[str, int],
                 submitted: int, rejected: int) -> dict[str, float | None]:
        """Every declared measure's value for these responses and invitation counts by group."""
        values: dict[str, float | None] = {}
        for c in CONSTRUCTS:
            scores = [s for s in (self.construct_score(c, r.answers) for r in responses) if s is not None]
            values[c] = sum(scores) / len(scores) if scores else None
            rows = self._complete(c, responses)
            values[f"{c}_alpha"] = cronbach_alpha(rows) if rows else None
            values[f"{c}_omega"] = mcdonald_omega(rows) if rows else None
        total = sum(invited.values())
        values["response_rate"] = len(responses) / total if total else None
        for group, key in (("winner", "response_rate_winners"), ("loser", "response_rate_losers")):
            n = invited.get(group, 0)
            values[key] = sum(1 for r in responses if r.group == group) / n if n else None
        summary = self.acceptance(responses)
        values["losers_acceptance"] = None if summary["loser"] is None else summary["loser"].estimate
        values["winners_acceptance"] = None if summary["winner"] is None else summary["winner"].estimate
        values["winner_loser_gap"] = None if summary["gap"] is None else summary["gap"].estimate
        values["response_rejection_rate"] = rejected / submitted if submitted else None
        return values

    def acceptance(self, responses: Sequence[Response]) -> dict[str, Estimate | None]:
        """Mean decision acceptance of winners and losers with t intervals, and the gap's Welch interval."""
        by_group: dict[str, list[float]] = {"winner": [], "loser": []}
        for r in responses:
            score = self.construct_score(ACCEPTANCE, r.answers)
            if score is not None and r.group in by_group:
                by_group[r.group].append(score)
        return {"winner": mean_interval(by_group["winner"], self.confidence),
                "loser": mean_interval(by_group["loser"], self.confidence),
                "gap": welch_interval(by_group["winner"], by_group["loser"], self.confidence)}

    def summary(self, responses: Sequence[Response], invited: Mapping[str, int]) -> dict[str, Any]:
        """Within-run estimates with intervals (JSON-able): construct means, reliability, rates, consent."""
        constructs: dict[str, Any] = {}
        for c in CONSTRUCTS:
            scores = [s for s in (self.construct_score(c, r.answers) for r in responses) if s is not None]
            rows = self._complete(c, responses)
            mean = mean_interval(scores, self.confidence)
            constructs[c] = {"mean": None if mean is None else mean.to_dict(),
                             "alpha": cronbach_alpha(rows) if rows else None,
                             "omega": mcdonald_omega(rows) if rows else None, "complete": len(rows)}
        rates = {}
        for group in sorted(invited):
            n = invited[group]
            rates[group] = {"invited": n, "responded": sum(1 for r in responses if r.group == group)}
        consent = {k: None if v is None else v.to_dict() for k, v in self.acceptance(responses).items()}
        return {"confidence": self.confidence, "responses": len(responses), "constructs": constructs,
                "response_by_group": rates, "losers_consent": consent}
