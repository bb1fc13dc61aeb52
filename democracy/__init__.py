"""Voting rules, tallying and axiom checks for Flagship's democracy mechanisms.

The rules' entry point::

    from flagship.democracy import tally
    result = tally("schulze", ballots, candidates, seed=0)
    result.winners      # every co-winner, in candidates' order
    result.winner       # after the recorded tie-break (result.tie_break)
    result.explain()    # a plain-English paragraph
    result.to_dict()    # JSON-able

Ranked rules: ``plurality``, ``borda``, ``irv``, ``schulze``, ``ranked_pairs``,
``copeland``, ``minimax``; ``approval`` reads approval ballots and
``referendum`` yes/no ballots (see :func:`referendum`).  Rules are plain
functions registered with :func:`voting_rule`; :func:`rules` lists them with the
properties they claim, which :mod:`flagship.democracy.axioms` checks.

The emergency AI-regulator vote built on them is the mechanism :class:`EmergencyVote`
(``emergency_vote``; its parts are listed in ``docs/democracy.md``, "Code map") with its
voter populations :class:`Citizens`, :class:`StrategicCoalition` and :class:`Sybils`.
:class:`ProfileStudy` (``profile_study``) scores rules on thousands of random
three-candidate profiles per run (the impartial-culture results, ``docs/democracy.md``).
"""

from __future__ import annotations

from ._ballots import YES_NO_CHOICES, BallotReason, BallotType, validate_ballot
from ._config import EmergencyVoteConfig
from ._decision_rule import decide
from ._details import (
    Details,
    IrvRound,
    PairwiseDetails,
    ReferendumDetails,
    RoundsDetails,
    ScoreDetails,
)

# The emergency procedure and its voter populations (importing them registers them).
from ._leximin import select_panel
from ._mechanism import EmergencyVote
from ._populations import (
    Citizens,
    CitizensParams,
    CoalitionParams,
    StrategicCoalition,
    SybilParams,
    Sybils,
)
from ._profile_study import ProfileStudy, ProfileStudyConfig
from ._profiles import ApprovalProfile, RankedProfile, YesNoProfile
from ._reasons import VoteReason
from ._registry import Property, RuleInfo, RuleOutcome, get_rule, rules, voting_rule
from ._result import RejectedBallot, TallyResult, TieBreak, TieBreakPolicy
from ._sortition import stratified_draw

# The legitimacy survey and its simulated respondents (importing registers them).
from ._survey import LegitimacySurvey, RespondentParams, SurveyConfig, SurveyRespondents, shipped_instruments
from ._tally import referendum, tally
from ._tokens import VoterTokens

__all__ = [
    "YES_NO_CHOICES",
    "ApprovalProfile",
    "BallotReason",
    "BallotType",
    "Citizens",
    "CitizensParams",
    "CoalitionParams",
    "Details",
    "EmergencyVote",
    "EmergencyVoteConfig",
    "IrvRound",
    "LegitimacySurvey",
    "PairwiseDetails",
    "ProfileStudy",
    "ProfileStudyConfig",
    "Property",
    "RankedProfile",
    "ReferendumDetails",
    "RejectedBallot",
    "RespondentParams",
    "RoundsDetails",
    "RuleInfo",
    "RuleOutcome",
    "ScoreDetails",
    "StrategicCoalition",
    "SurveyConfig",
    "SurveyRespondents",
    "SybilParams",
    "Sybils",
    "TallyResult",
    "TieBreak",
    "TieBreakPolicy",
    "VoteReason",
    "VoterTokens",
    "YesNoProfile",
    "decide",
    "get_rule",
    "referendum",
    "rules",
    "select_panel",
    "shipped_instruments",
    "stratified_draw",
    "tally",
    "validate_ballot",
    "voting_rule",
]
