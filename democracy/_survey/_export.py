"""The anonymised response table of a survey (``flagship export-responses``) and its codebook.

One row per accepted response, in acceptance order: ``response`` (1, 2, ...), ``survey_id``,
``decision`` (what was surveyed), ``kind`` (``vote`` or ``gate``), ``respondent`` (``R1``,
``R2``... numbered by first response: the same participant keeps one number across surveys,
and no actor id is written), ``group`` (``winner``, ``loser``, ``no_stake``, from the decision's
events), ``winner`` (1, 0, or empty for no stake), ``voice`` (1 if the respondent deliberated or
was heard on appeal), ``responded_at`` (sim seconds), one column per item (the answer as given:
an integer, 1/0 for yes/no, text, ``DK`` for don't know, empty when missing) and one per construct
(the respondent's score on [0, 1], empty when missing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flagship.democracy._survey._instruments import CONSTRUCTS, DONT_KNOW, SCALES, Questionnaire
from flagship.democracy._survey._scores import Response, Scorer
from flagship.democracy._survey._state import Survey
from flagship.mechanisms import RecordTable

__all__ = ["response_table"]

_FIXED: tuple[tuple[str, str, str], ...] = (
    ("response", "response number, in the order responses were accepted", "1, 2, ..."),
    ("survey_id", "the survey", "<mechanism>-survey-<n>"),
    ("decision", "the decision surveyed", "<publisher>:<vote id>, or <gate>:<event>:<agent>"),
    ("kind", "kind of decision", "vote, gate"),
    ("respondent", "pseudonymous respondent, numbered by first response (no actor id)", "R1, R2, ..."),
    ("group", "the respondent's side of the decision, from the mechanism's events",
     "winner, loser, no_stake"),
    ("winner", "1 if the respondent's preferred option won (or the gate decided for them)", "1, 0, empty"),
    ("voice", "1 if the respondent deliberated or was heard on appeal before the decision", "1, 0"),
    ("responded_at", "sim time of the response, seconds", "number"),
)


def _answer(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and value == DONT_KNOW:
        return "DK"
    return value


def response_table(questionnaire: Questionnaire, scorer: Scorer, responses: Sequence[Response],
                   times: Sequence[float], surveys: Mapping[str, Survey]) -> RecordTable:
    """The table and codebook described in the module doc."""
    items = list(questionnaire.items.values())
    constructs = [c for c in CONSTRUCTS if questionnaire.construct_items(c)]
    columns = (*(name for name, _, _ in _FIXED), *(i.id for i in items), *(f"score_{c}" for c in constructs))
    numbers: dict[str, str] = {}
    rows = []
    for n, (response, time) in enumerate(zip(responses, times, strict=True), start=1):
        survey = surveys[response.survey_id]
        respondent = numbers.setdefault(response.actor, f"R{len(numbers) + 1}")
        winner = "" if response.group == "no_stake" else int(response.group == "winner")
        scores = [scorer.construct_score(c, response.answers) for c in constructs]
        rows.append((n, survey.survey_id, survey.subject, survey.kind, respondent, response.group, winner,
                     int(response.actor in survey.voice), time,
                     *(_answer(response.answers.get(i.id)) for i in items),
                     *("" if s is None else round(s, 6) for s in scores)))
    codebook: list[Mapping[str, str]] = [{"column": c, "label": label, "values": values, "construct": "",
                                          "reverse": "", "source": ""} for c, label, values in _FIXED]
    for item in items:
        bounds = SCALES[item.scale]
        values = ("free text" if bounds is None else "1 yes, 0 no" if item.scale == "yes_no"
                  else f"integer {bounds[0]}-{bounds[1]}")
        values += "; DK don't know" if item.dont_know else ""
        codebook.append({"column": item.id, "label": item.text, "values": values + "; empty missing",
                         "construct": item.construct or "", "reverse": "yes" if item.reverse else "no",
                         "source": item.source})
    for c in constructs:
        codebook.append({"column": f"score_{c}", "label": f"{c.replace('_', ' ')} score (mean of answered "
                         "items on [0, 1], reverse items flipped)", "values": "0-1; empty missing",
                         "construct": c, "reverse": "", "source": ""})
    return RecordTable(columns, tuple(rows), tuple(codebook))
