"""What the ballot and survey forms submit, as the pages turn it into actions' payloads."""

from __future__ import annotations

import pytest

from flagship.democracy._pages import ballot_approvals, ballot_ranking
from flagship.democracy._survey._pages import survey_answers
from flagship.mechanisms import InputError

MEASURES = ["pause_deployment", "restrict", "monitor", "no_action"]


def test_positions_become_a_ranking_and_unranked_measures_are_left_out() -> None:
    fields = {"rank_monitor": "1", "rank_restrict": "3", "rank_no_action": "", "rank_pause_deployment": "2"}
    assert ballot_ranking(fields, MEASURES, "schulze") == ["monitor", "pause_deployment", "restrict"]


@pytest.mark.parametrize(("fields", "message"), [
    ({"rank_monitor": "1", "rank_restrict": "1"}, "both at position 1"),
    ({"rank_monitor": "5"}, "from 1 to 4"),
    ({"rank_monitor": "-1"}, "from 1 to 4"),
    ({}, "rank at least one"),
])
def test_a_form_that_is_no_strict_order_is_refused(fields: dict[str, str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        ballot_ranking(fields, MEASURES, "schulze")


def test_plurality_is_choose_one() -> None:
    assert ballot_ranking({"choice": "restrict", "rank_monitor": "1"}, MEASURES, "plurality") == ["restrict"]
    with pytest.raises(InputError, match="choose one"):
        ballot_ranking({"choice": "nonsense"}, MEASURES, "plurality")


def test_ticked_boxes_become_approvals_in_candidate_order() -> None:
    fields = {"approve_no_action": "yes", "approve_restrict": "yes", "rank_monitor": "1"}
    assert ballot_approvals(fields, MEASURES) == ["restrict", "no_action"]
    assert ballot_approvals({}, MEASURES) == []  # none ticked: the vote refuses it, BALLOT_EMPTY
    with pytest.raises(InputError, match="the box approving monitor sends 'yes', not 'on'"):
        ballot_approvals({"approve_monitor": "on"}, MEASURES)


def test_survey_answers_by_scale() -> None:
    items = [{"id": "comply", "scale": "likert5", "dont_know": True},
             {"id": "again", "scale": "yes_no", "dont_know": False},
             {"id": "comment", "scale": "text", "dont_know": False},
             {"id": "skipped", "scale": "likert7", "dont_know": True}]
    fields = {"answer_comply": "dont_know", "answer_again": "no", "answer_comment": " fair ",
              "answer_skipped": ""}
    assert survey_answers(fields, items) == {"comply": "dont_know", "again": False, "comment": "fair"}
    assert survey_answers({"answer_comply": "4"}, items) == {"comply": 4}
    with pytest.raises(InputError, match="again: not one of the offered answers"):
        survey_answers({"answer_again": "dont_know"}, items)  # this item offers no "don't know"
