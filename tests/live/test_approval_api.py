"""An approval vote over HTTP: ``{"approvals": [...]}`` ballots on the real server, with the vote's codes.

The served trial of ``test_votes_api`` with ``rule = "approval"``: the same registration, clock and
timetable (ballot from 150 to 250, count at 250).
"""

from __future__ import annotations

from pathlib import Path

from tests.live._support import problem
from tests.live.test_votes_api import VOTE, Clock, pilot, write_vote_scenario


def write_approval_scenario(directory: Path) -> Path:
    """The vote scenario of ``test_votes_api`` with approval ballots."""
    path = write_vote_scenario(directory)
    text = path.read_text()
    path.write_text(text.replace('rule = "schulze"', 'rule = "approval"', 1))
    return path


def test_approval_ballots_are_cast_refused_with_the_vote_codes_and_counted(tmp_path: Path) -> None:
    clock = Clock()
    with pilot(f"sqlite:///{tmp_path / 'live.db'}", tmp_path, clock, write_approval_scenario(tmp_path)) as p:
        voters = [p.register(f"person-{i}", region) for i, region in enumerate(["north", "south"] * 2)]
        clock.sim(160.0)
        tokens = [token for _, token in voters]
        for token, approvals in zip(tokens[:3], [["monitor", "restrict"], ["restrict"], ["monitor"]],
                                    strict=True):
            cast = p.post(f"/v1/votes/{VOTE}/ballots", token, {"approvals": approvals})
            assert cast.status_code == 201, cast.text
        last = tokens[3]
        empty = problem(p.post(f"/v1/votes/{VOTE}/ballots", last, {"approvals": []}), 422, "BALLOT_EMPTY")
        assert empty["detail"] == "approvals: approve at least one measure"
        problem(p.post(f"/v1/votes/{VOTE}/ballots", last, {"approvals": ["monitor", "monitor"]}), 422,
                "BALLOT_DUPLICATE_CANDIDATE")
        problem(p.post(f"/v1/votes/{VOTE}/ballots", last, {"approvals": ["ban_everything"]}), 422,
                "BALLOT_UNKNOWN_CANDIDATE")
        problem(p.ballot(last, ["restrict"]), 422, "INVALID_PAYLOAD")  # a ranking: not this vote's ballot
        both = p.post(f"/v1/votes/{VOTE}/ballots", last, {"ranking": ["restrict"], "approvals": ["restrict"]})
        assert both.status_code == 422 and "exactly one of ranking" in both.text

        clock.sim(260.0)
        result = p.until_counted()["result"]
        tally = result["tally"]
        assert tally["rule"] == "approval" and tally["counted"] == 3
        assert tally["details"]["scores"] == {"pause_deployment": 0, "restrict": 2, "monitor": 2,
                                              "no_action": 0}
        assert tally["winners"] == ["restrict", "monitor"] and tally["tie_break"]["drawn"] is True
        assert result["winner"] == tally["winner"] == result["decision"]["measure"]
        assert "Approval: 3 ballots counted" in result["explanation"]
