"""The emergency_vote mechanism: triggers, convening, ballots and their rejections, decisions, sunsets."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from flagship.democracy import EmergencyVote, EmergencyVoteConfig, VoteReason, decide
from flagship.democracy._decision_rule import pairwise_margins
from flagship.democracy._sortition import stratified_draw
from flagship.mechanisms import Action, CommonReason, ContractError, Event, FlagshipError, Outcome
from flagship.mechanisms.events import (
    BallotClosed,
    BallotOpened,
    DecisionLapsed,
    DecisionTaken,
    IncidentRaised,
    ShockFired,
    VoteConvened,
)
from flagship.mechanisms.testing import check_conformance
from flagship.sandbox._host import Host

VOTE = "emergency_vote"
CANDIDATES = ["pause_deployment", "restrict", "monitor", "no_action"]
# Small timetable: shock at 10, deliberation [10, 110), ballot [110, 210), sunset at 510.
SMALL: dict[str, Any] = {"strata": ["region"], "panel_size": 50, "deliberation_seconds": 100.0,
                         "ballot_seconds": 100.0, "sunset_seconds": 300.0, "quorum": 0.5}
SHOCK = ShockFired(time=10.0, source="scenario", kind="ai_incident", payload={"severity": 0.9})
REGIONS = ["north", "north", "south", "south", "east"]


def reg(t: float, actor: str, person: str, region: str = "north") -> Action:
    return Action(t, actor, "register", {"person": person, "strata": {"region": region}})


def ballot(t: float, actor: str, ranking: Any, vote_id: str = "emergency_vote-vote-1") -> Action:
    return Action(t, actor, "ballot", {"vote_id": vote_id, "ranking": ranking})


def electorate(n: int = 5, t: float = 0.0) -> list[Action]:
    return [reg(t, f"v{i}", f"p{i}", REGIONS[i % len(REGIONS)]) for i in range(n)]


class World:
    """The mechanism alone in a host, driven by a script of actions and bus events."""

    def __init__(self, seed: int = 0, **config: Any) -> None:
        self.host = Host(seed, keep_events=True)
        self.mechanism = self.host.add_mechanism(VOTE, EmergencyVote, EmergencyVoteConfig(**{**SMALL,
                                                                                             **config}))
        self.host.start()
        self.outcomes: list[Outcome] = []

    def publish_at(self, event: Event) -> None:
        def fire() -> Any:
            yield self.host.env.timeout(event.time - float(self.host.env.now))
            self.host.bus.publish(event)
        self.host.env.process(fire())

    def feed(self, actions: Iterable[Action], until: float | None = None) -> list[Outcome]:
        out = self.host.run_feed(((VOTE, a) for a in actions), until=until)
        self.outcomes += out
        return out

    def events(self, kind: type[Event]) -> list[Any]:
        return [e for e in self.host.bus.log or [] if isinstance(e, kind)]

    def measures(self) -> dict[str, float | None]:
        return {k.split(".", 1)[1]: v for k, v in self.host.finish().measure_map().items()}


def reasons(outcomes: list[Outcome]) -> list[str | None]:
    return [o.reason for o in outcomes]


# -- the conformance kit --------------------------------------------------------------------------


def conformance_script() -> list[Action]:
    """Every reason code at least once, and a full vote with an appeal."""
    return [
        *electorate(5),
        reg(0.0, "v0", "p0"),                                  # ALREADY_REGISTERED
        reg(0.0, "sybil-1", "p1"),                             # DUPLICATE_IDENTITY
        Action(0.0, "x", "register", {"person": "p9"}),        # INVALID_PAYLOAD (no strata)
        Action(0.0, "x", "register", {"person": "p9", "strata": {"region": 3}}),  # INVALID_PAYLOAD
        Action(0.0, "x", "dance", {}),                         # UNKNOWN_KIND
        ballot(5.0, "v0", CANDIDATES),                         # UNKNOWN_VOTE (nothing convened yet)
        reg(20.0, "late", "p-late", "east"),                   # registered after the convening
        ballot(50.0, "v0", CANDIDATES),                        # BALLOT_NOT_OPEN (deliberation)
        ballot(120.0, "v0", ["restrict", "monitor"]),          # accepted (truncated)
        ballot(121.0, "v0", CANDIDATES),                       # SECOND_BALLOT
        ballot(122.0, "v1", ["restrict", "no_action", "monitor", "pause_deployment"]),
        ballot(123.0, "v2", ["pause_deployment", "restrict"]),
        ballot(124.0, "sybil-1", CANDIDATES),                  # NOT_REGISTERED (a blocked sybil)
        ballot(125.0, "late", CANDIDATES),                     # NOT_CONVENED
        ballot(126.0, "v3", "restrict"),                       # BALLOT_MALFORMED
        ballot(127.0, "v3", []),                               # BALLOT_EMPTY
        ballot(128.0, "v3", ["ban_everything"]),               # BALLOT_UNKNOWN_CANDIDATE
        ballot(129.0, "v3", ["monitor", "monitor"]),           # BALLOT_DUPLICATE_CANDIDATE
        ballot(130.0, "v3", ["monitor", "restrict"]),
        Action(131.0, "v4", "ballot", {"ranking": CANDIDATES}),  # INVALID_PAYLOAD (no vote id)
        ballot(210.0, "v4", CANDIDATES),                       # BALLOT_CLOSED (at the close itself)
        ballot(215.0, "v4", CANDIDATES),                       # BALLOT_CLOSED (counted)
        Action(220.0, "v0", "appeal", {"decision_id": "nope"}),  # UNKNOWN_DECISION
        Action(221.0, "v0", "appeal", {"decision_id": "emergency_vote-decision-1"}),
        Action(222.0, "v0", "appeal", {"decision_id": "emergency_vote-decision-1"}),  # ALREADY_APPEALED
        Action(223.0, "stranger", "appeal", {"decision_id": "emergency_vote-decision-1"}),  # NOT_REGISTERED
    ]


def test_conformance_kit_passes_and_sees_every_reason() -> None:
    report = check_conformance(EmergencyVote, {**SMALL, "appeal_signatures": 3}, conformance_script(),
                               seed=3, events=[SHOCK], until=1000.0)
    assert report.reasons_seen == {str(r) for r in VoteReason} | {
        CommonReason.INVALID_PAYLOAD, CommonReason.UNKNOWN_KIND}
    assert report.n_accepted == 5 + 1 + 4 + 1  # registrations, late one, ballots, one appeal
    # Blocked attacks are scored as shares by the attacker populations, who know what they tried.
    assert "emergency_vote.sybil_ballots_blocked" not in report.measures


def test_conformance_kit_passes_for_a_whole_electorate_vote() -> None:
    check_conformance(VOTE, {**SMALL, "convening": "electorate", "deliberation_seconds": 0.0},
                      conformance_script(), seed=1, events=[SHOCK], until=1000.0)


def test_each_rejection_has_its_own_code_and_changes_nothing() -> None:
    world = World(appeal_signatures=3)
    world.publish_at(SHOCK)
    outcomes = world.feed(conformance_script(), until=1000.0)
    expected = [None] * 5 + [
        VoteReason.ALREADY_REGISTERED, VoteReason.DUPLICATE_IDENTITY, CommonReason.INVALID_PAYLOAD,
        CommonReason.INVALID_PAYLOAD, CommonReason.UNKNOWN_KIND, VoteReason.UNKNOWN_VOTE, None,
        VoteReason.BALLOT_NOT_OPEN, None, VoteReason.SECOND_BALLOT, None, None, VoteReason.NOT_REGISTERED,
        VoteReason.NOT_CONVENED, VoteReason.BALLOT_MALFORMED, VoteReason.BALLOT_EMPTY,
        VoteReason.BALLOT_UNKNOWN_CANDIDATE, VoteReason.BALLOT_DUPLICATE_CANDIDATE, None,
        CommonReason.INVALID_PAYLOAD, VoteReason.BALLOT_CLOSED, VoteReason.BALLOT_CLOSED,
        VoteReason.UNKNOWN_DECISION, None, VoteReason.ALREADY_APPEALED, VoteReason.NOT_REGISTERED,
    ]
    assert reasons(outcomes) == expected
    closed = world.events(BallotClosed)[0]
    assert closed.counted == 4 and closed.convened == 5  # the late registrant was not convened
    assert sorted(closed.record) == sorted([("restrict", "monitor"), ("monitor", "restrict"),
                                            ("pause_deployment", "restrict"),
                                            ("restrict", "no_action", "monitor", "pause_deployment")])


def test_appeals_are_refused_when_the_procedure_takes_none() -> None:
    world = World()
    world.publish_at(SHOCK)
    world.feed([*electorate(5), *(ballot(120.0 + i, f"v{i}", CANDIDATES) for i in range(5))])
    out = world.feed([Action(300.0, "v0", "appeal", {"decision_id": "emergency_vote-decision-1"})])
    assert reasons(out) == [CommonReason.NOT_PERMITTED]


# -- triggers -----------------------------------------------------------------------------------


def test_incidents_below_min_severity_are_ignored_and_bad_severity_fails_loudly() -> None:
    world = World(min_severity=0.7)
    world.feed(electorate(3))
    world.publish_at(IncidentRaised(time=5.0, source="market", incident_id="i-1", kind="spoofing",
                                    severity=0.5))
    world.publish_at(ShockFired(time=6.0, source="scenario", kind="liquidity_shock",
                                payload={"severity": 1.0}))
    world.feed([], until=50.0)
    assert world.events(VoteConvened) == []
    world.publish_at(ShockFired(time=60.0, source="scenario", kind="ai_incident", payload={}))
    with pytest.raises(ContractError, match="severity"):
        world.feed([], until=70.0)


def test_incidents_while_a_vote_is_open_are_merged_into_it() -> None:
    world = World()
    world.feed(electorate(5))
    world.publish_at(IncidentRaised(time=10.0, source="market", incident_id="i-1", kind="spoofing",
                                    severity=0.6))
    world.publish_at(IncidentRaised(time=50.0, source="market", incident_id="i-2", kind="spoofing",
                                    severity=0.95))
    world.publish_at(IncidentRaised(time=60.0, source="market", incident_id="i-1", kind="spoofing",
                                    severity=0.95))  # seen before: ignored
    world.feed([ballot(120.0 + i, f"v{i}", CANDIDATES) for i in range(5)], until=400.0)
    assert len(world.events(VoteConvened)) == 1
    taken = world.events(DecisionTaken)
    assert len(taken) == 1
    procedure = taken[0].params["procedure"]
    assert procedure["incident_ids"] == ["i-1", "i-2"] and procedure["severity"] == 0.95
    # delays: 210 - 10 and 210 - 50
    assert world.measures()["incident_to_decision_seconds"] == pytest.approx((200.0 + 160.0) / 2)


# -- convening: the seeded, recorded draw -------------------------------------------------------


def panel_of(seed: int) -> tuple[VoteConvened, dict[str, Any]]:
    world = World(seed, panel_size=6, strata=["region"])
    world.publish_at(SHOCK)
    world.feed([reg(0.0, f"v{i}", f"p{i}", ["north", "south", "east"][i % 3]) for i in range(30)],
               until=20.0)
    return world.events(VoteConvened)[0], world.mechanism.snapshot()


def test_the_panel_draw_is_seeded_recorded_and_verifiable() -> None:
    convened, snapshot = panel_of(5)
    again, _ = panel_of(5)
    assert again.members == convened.members and again.draw_seed == convened.draw_seed
    other = {panel_of(seed)[0].members for seed in range(6, 10)}
    assert len(other) > 1  # other seeds, other panels
    assert snapshot["open"]["members"] == list(convened.members)
    assert snapshot["open"]["draw_seed"] == convened.draw_seed
    # Anyone can re-run the draw from the recorded seed and the registry.
    actors = list(snapshot["voters"])
    cells = [tuple(snapshot["voters"][a][1]) for a in actors]
    assert convened.draw_seed is not None
    draw = stratified_draw(cells, 6, np.random.default_rng(convened.draw_seed))
    assert tuple(actors[i] for i in draw.members) == convened.members
    regions = [snapshot["voters"][a][1][0] for a in convened.members]
    assert sorted(regions) == ["east", "east", "north", "north", "south", "south"]  # proportional


def test_a_whole_electorate_vote_convenes_every_registered_voter() -> None:
    world = World(convening="electorate", deliberation_seconds=0.0)
    world.publish_at(SHOCK)
    world.feed(electorate(5), until=20.0)
    convened = world.events(VoteConvened)[0]
    assert convened.members == tuple(f"v{i}" for i in range(5)) and convened.draw_seed is None
    assert convened.ballot_opens == convened.time == 10.0
    assert world.events(BallotOpened)[0].time == 10.0
    assert world.measures()["panel_representativeness_tvd"] == 0.0


# -- counting and deciding ----------------------------------------------------------------------


def vote_and_close(rankings: list[list[str]], *, until: float = 400.0, **config: Any) -> World:
    world = World(**config)
    world.publish_at(SHOCK)
    world.feed([*electorate(len(rankings)),
                *(ballot(120.0 + i, f"v{i}", r) for i, r in enumerate(rankings))], until=until)
    return world


def test_the_decision_is_published_with_its_sunset_and_lapses_at_it() -> None:
    world = vote_and_close([["restrict", "monitor"]] * 3 + [["monitor"]] * 2, until=1000.0,
                           measure_params={"restrict": {"exam_threshold_delta": 0.1}})
    closed = world.events(BallotClosed)[0]
    assert (closed.time, closed.winner, closed.quorum_met, closed.counted) == (210.0, "restrict", True, 5)
    taken = world.events(DecisionTaken)
    assert len(taken) == 1
    decision = taken[0]
    assert (decision.time, decision.measure, decision.sunset) == (210.0, "restrict", 510.0)
    assert decision.params["exam_threshold_delta"] == 0.1
    assert decision.params["procedure"]["tally_seed"] == closed.tally_seed
    lapsed = world.events(DecisionLapsed)
    assert [(e.time, e.decision_id, e.measure) for e in lapsed] == [(510.0, decision.decision_id,
                                                                      "restrict")]
    assert world.mechanism.in_force is None  # type: ignore[attr-defined]
    closed = world.mechanism.snapshot()["closed"]["emergency_vote-vote-1"]
    assert closed["members"] == list(world.events(VoteConvened)[0].members)  # the draw stays on record


def test_a_renewal_vote_re_decides_before_the_sunset_without_a_gap() -> None:
    world = World(renewals=1, renew_lead_seconds=20.0)
    world.publish_at(SHOCK)
    # decision at 210, sunset 510: the renewal convenes at 510 - 20 - 200 = 290, closes at 490.
    world.feed([*electorate(3), *(ballot(120.0 + i, f"v{i}", ["monitor"]) for i in range(3)),
                *(ballot(400.0 + i, f"v{i}", ["monitor"], "emergency_vote-vote-2") for i in range(3))],
               until=2000.0)
    convened = world.events(VoteConvened)
    assert [(e.purpose, e.time) for e in convened] == [("incident", 10.0), ("renewal", 290.0)]
    flow = [(type(e).__name__, e.time, e.decision_id) for e in world.host.bus.log or []
            if isinstance(e, DecisionTaken | DecisionLapsed)]
    first, second = "emergency_vote-decision-1", "emergency_vote-decision-2"
    # Same measure renewed: the new decision is published before the old one lapses.
    assert flow == [("DecisionTaken", 210.0, first), ("DecisionTaken", 490.0, second),
                    ("DecisionLapsed", 490.0, first), ("DecisionLapsed", 790.0, second)]
    assert world.events(DecisionTaken)[1].params["procedure"]["supersedes"] == first


def test_a_renewal_without_quorum_lets_the_decision_lapse_at_its_sunset() -> None:
    world = World(renewals=1, renew_lead_seconds=20.0)
    world.publish_at(SHOCK)
    world.feed([*electorate(3), *(ballot(120.0 + i, f"v{i}", ["monitor"]) for i in range(3))],
               until=2000.0)
    assert [e.quorum_met for e in world.events(BallotClosed)] == [True, False]
    assert [(e.time, e.measure) for e in world.events(DecisionLapsed)] == [(510.0, "monitor")]
    assert world.measures()["quorum_met"] == 0.5


def test_no_quorum_means_no_decision_unless_a_fallback_is_declared() -> None:
    world = World(quorum=0.6)
    world.publish_at(SHOCK)
    world.feed([*electorate(5), *(ballot(120.0 + i, f"v{i}", ["restrict"]) for i in range(2))],
               until=400.0)
    assert world.events(BallotClosed)[0].quorum_met is False
    assert world.events(DecisionTaken) == []
    assert world.measures()["turnout"] == pytest.approx(0.4)
    world = World(quorum=0.6, fallback_measure="monitor")
    world.publish_at(SHOCK)
    world.feed([*electorate(5), *(ballot(120.0 + i, f"v{i}", ["restrict"]) for i in range(2))],
               until=400.0)
    (taken,) = world.events(DecisionTaken)
    assert taken.measure == "monitor" and taken.params["procedure"]["fallback"] is True


def test_a_supermajority_threshold_strikes_a_drastic_measure() -> None:
    rankings = [["pause_deployment", "restrict", "no_action"]] * 3 + [["no_action", "restrict"]] * 2
    plain = vote_and_close(rankings)
    assert plain.events(DecisionTaken)[0].measure == "pause_deployment"  # 3 of 5 rank it above no_action
    strict = vote_and_close(rankings, thresholds={"pause_deployment": 0.7})
    closed = strict.events(BallotClosed)[0]
    assert closed.winner == "restrict" and closed.details["struck"] == ["pause_deployment"]


def test_legitimacy_measures_on_a_known_count() -> None:
    rankings = [["restrict", "monitor", "no_action", "pause_deployment"]] * 3 + \
               [["monitor", "no_action", "restrict", "pause_deployment"]] * 2
    world = World(rule="borda")
    world.publish_at(SHOCK)
    world.feed([*electorate(6), *(ballot(120.0 + i, f"v{i}", r) for i, r in enumerate(rankings))],
               until=400.0)
    # Borda: monitor 12, restrict 11; restrict is the Condorcet winner (beats monitor 3-2).
    assert world.events(DecisionTaken)[0].measure == "monitor"
    measures = world.measures()
    assert measures["turnout"] == pytest.approx(5 / 6)
    assert measures["quorum_met"] == 1.0
    assert measures["condorcet_efficiency"] == 0.0
    assert measures["winner_margin"] == pytest.approx(-1 / 5)
    assert measures["top_choice_won_share"] == pytest.approx(2 / 5)
    # 6 convened x 100 s of deliberation + 5 ballots x 300 s, per registered voter
    assert measures["time_burden_seconds_per_voter"] == pytest.approx((600 + 1500) / 6)


def test_condorcet_efficiency_is_undefined_under_a_condorcet_consistent_rule() -> None:
    # Schulze picks B, the Condorcet winner (beats A 5-4 and C 7-2); plurality picks A.
    a, b, c = "pause_deployment", "restrict", "monitor"
    rankings = [[a, b, c]] * 4 + [[b, c, a]] * 3 + [[c, b, a]] * 2
    world = vote_and_close(rankings, status_quo=None)
    assert world.events(DecisionTaken)[0].measure == b
    measures = world.measures()
    assert measures["condorcet_efficiency"] is None  # Schulze claims CONDORCET_WINNER: 1 by construction
    assert measures["winner_margin"] == pytest.approx(1 / 9)
    assert measures["top_choice_won_share"] == pytest.approx(3 / 9)
    plurality = vote_and_close(rankings, status_quo=None, rule="plurality")
    assert plurality.events(DecisionTaken)[0].measure == a
    assert plurality.measures()["condorcet_efficiency"] == 0.0  # the measure fails here
    assert plurality.measures()["winner_margin"] == pytest.approx(-1 / 9)


def test_appeal_signatures_convene_a_review_vote() -> None:
    world = World(appeal_signatures=2)
    world.publish_at(SHOCK)
    decision = "emergency_vote-decision-1"
    out = world.feed([*electorate(3), *(ballot(120.0 + i, f"v{i}", ["restrict"]) for i in range(3)),
                      Action(300.0, "v0", "appeal", {"decision_id": decision}),
                      Action(301.0, "v1", "appeal", {"decision_id": decision}),
                      *(ballot(402.0 + i, f"v{i}", ["monitor"], "emergency_vote-vote-2") for i in range(3))],
                     until=600.0)
    assert out[-5].effects == {"decision_id": decision, "signatures": 1, "review_requested": False}
    assert out[-4].effects["review_requested"] is True
    convened = world.events(VoteConvened)
    assert [(e.purpose, e.time) for e in convened] == [("incident", 10.0), ("review", 301.0)]
    taken = world.events(DecisionTaken)
    assert [t.measure for t in taken] == ["restrict", "monitor"]
    # Another measure: the old decision lapses before the new one is published.
    flow = [type(e).__name__ for e in world.host.bus.log or []
            if isinstance(e, DecisionTaken | DecisionLapsed)]
    assert flow[:3] == ["DecisionTaken", "DecisionLapsed", "DecisionTaken"]


def test_a_ballot_at_the_closing_time_is_late_whatever_the_event_order() -> None:
    world = World()
    world.publish_at(SHOCK)
    out = world.feed([*electorate(2), ballot(110.0, "v0", ["monitor"]), ballot(210.0, "v1", ["monitor"])])
    assert reasons(out)[-2:] == [None, VoteReason.BALLOT_CLOSED]


# -- the pure parts ------------------------------------------------------------------------------


def test_decide_reruns_without_struck_measures_and_keeps_the_status_quo() -> None:
    rankings = [["pause_deployment"]] * 3 + [["no_action"]] * 2
    decision = decide("plurality", rankings, CANDIDATES, seed=0, status_quo="no_action",
                      thresholds={"pause_deployment": 0.8})
    assert decision is not None and decision.measure == "no_action"
    assert decision.struck == ("pause_deployment",)
    assert decide("plurality", [], CANDIDATES, seed=0) is None


def test_pairwise_margins_treat_unranked_candidates_as_last() -> None:
    margins = pairwise_margins([["a"], ["b", "a"]], ["a", "b", "c"])
    assert margins.tolist() == [[0, 0, 2], [0, 0, 1], [-2, -1, 0]]


@pytest.mark.parametrize("config", [
    {"rule": "referendum"}, {"rule": "nonsense"}, {"candidates": ["a", "a"]},
    {"thresholds": {"no_action": 0.6}}, {"thresholds": {"restrict": 1.5}},
    {"status_quo": None, "thresholds": {"restrict": 0.6}}, {"fallback_measure": "ban"},
    {"measure_params": {"restrict": {"procedure": 1}}}, {"strata": ["region", "region"]},
    {"unknown_key": 1},
])
def test_bad_configs_are_refused(config: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        EmergencyVoteConfig(**config)


def test_errors_derive_from_flagship_error() -> None:
    assert issubclass(ContractError, FlagshipError)
