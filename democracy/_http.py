"""Live-pilot HTTP routes of the ``emergency_vote`` mechanism (``EmergencyVote.http``).

Routes (fixed paths under ``/v1/votes``; see ``docs/democracy.md`` "Live routes" and
``docs/live.md`` for idempotency, limits and problem+json):

* ``POST /v1/votes/registrations`` (registrars only): register a voter; 201 with the new
  voter id and the voter's token (see :mod:`flagship.democracy._tokens`).
* ``GET /v1/votes``: every vote so far (timetable, status, counts, decided measure) and
  the decision in force.
* ``GET /v1/votes/me`` (voters only): the caller's own registration and, per vote,
  whether they were convened and whether they have cast, never how.
* ``GET /v1/votes/{vote_id}``: a vote's status and timetable and, once counted, the
  result with its explanation (rule, winners, tie-break, the rule's details, turnout
  and quorum, struck measures, the decision and its sunset).
* ``POST /v1/votes/{vote_id}/ballots`` (voters only): cast a ballot in the vote's rule,
  ``{"ranking": [...]}`` (a ranked rule) or ``{"approvals": [...]}`` (``approval``).
* ``POST /v1/votes/decisions/{decision_id}/appeals`` (voters only): sign an appeal of the
  decision in force.

Ballots are secret: no route says who cast what (the public views give counts and
aggregates only; the mechanism drops who-ranked-what at the count), and per-voter data
(convened or not, cast or not, strata) is served only to that voter by ``/me``, which
takes no voter id: the only identity a voter route knows is the token's. Registrars
register and do nothing else; votes are cast with voter tokens only.

Actions go through ``gateway.act``: a refusal is problem+json with the mechanism's reason code
and the status ``EmergencyVote.reason_status`` declares (:mod:`flagship.democracy._reasons`),
with a plain-English detail when the mechanism gave a bare code: 404 ``UNKNOWN_VOTE`` and
``UNKNOWN_DECISION`` (an id never taken), 403 ``NOT_REGISTERED``, ``NOT_CONVENED``,
``NOT_PERMITTED`` and the routes' own ``NOT_REGISTRAR`` and ``NOT_A_VOTER``, 422 for
malformed ballots and payloads (``BALLOT_*``, ``INVALID_PAYLOAD``), 409 for the rest, which
are conflicts with the vote's state (``SECOND_BALLOT``, ``BALLOT_CLOSED``, ``BALLOT_NOT_OPEN``,
``DUPLICATE_IDENTITY``, ``ALREADY_APPEALED``, ``UNKNOWN_DECISION`` for a decision no longer
in force...).

FastAPI is imported inside the factory, so the mechanism imports where it is not
installed. No ``from __future__ import annotations``: FastAPI reads the handlers'
annotations at runtime.
"""

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol, cast

from pydantic import BaseModel, ConfigDict, Field, model_validator

from flagship.mechanisms import ActionRejected, ContractError, Gateway, Outcome, Principal, RoutesFactory

from ._config import EmergencyVoteConfig
from ._reasons import REASON_DETAIL, VoteReason
from ._tokens import SECRET_PURPOSE, is_registrar, is_voter, issue_token, new_voter_id, token_sha256

if TYPE_CHECKING:
    from fastapi import APIRouter

__all__ = [
    "AppealSigned",
    "BallotCast",
    "BallotRequest",
    "DecisionView",
    "InForce",
    "MyVote",
    "Registered",
    "RegistrationRequest",
    "ResultView",
    "TallyView",
    "Timetable",
    "VoteList",
    "VoteReader",
    "VoteSummary",
    "VoteView",
    "VoterStatus",
    "routes",
]

_MAX_TEXT = 256
ID_PATTERN = r"^[A-Za-z0-9._~-]{1,256}$"
"""Vote and decision ids over HTTP (the mechanism's are ``<name>-vote-<n>``, ``<name>-decision-<n>``)."""
Text = Annotated[str, Field(min_length=1, max_length=_MAX_TEXT)]
Phase = Literal["deliberation", "ballot_open", "ballot_closed", "counted"]



class VoteReader(Protocol):
    """What the routes read of the ``emergency_vote`` mechanism (``EmergencyVote`` provides it)."""

    @property
    def config(self) -> EmergencyVoteConfig: ...

    @property
    def in_force(self) -> tuple[str, str, float | None] | None: ...

    def votes(self) -> list[dict[str, Any]]: ...

    def vote(self, vote_id: str) -> dict[str, Any] | None: ...

    def participation(self, actor: str) -> list[dict[str, Any]]: ...

    def decision_in_force(self) -> dict[str, Any] | None: ...

    def strata_of(self, actor: str) -> dict[str, str] | None: ...


# -- requests and responses --------------------------------------------------------------------


class RegistrationRequest(BaseModel):
    """A person the registrar has checked, and their strata (every stratum key of the procedure)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    person: Text = Field(description="per-person identity key (one voter per person); it is stored, "
                                     "so send a pseudonym such as a keyed hash of an ID document")
    strata: dict[Text, Text] = Field(max_length=64, description="a value for every stratum key of the "
                                                                "procedure, e.g. {\"region\": \"north\"}")


class Registered(BaseModel):
    voter_id: str
    token: str = Field(description="the voter's bearer token; only its SHA-256 is stored, and a retry "
                                   "of this request (same Idempotency-Key) returns it again")
    registered: int = Field(description="registered voters when this one was registered")


class BallotRequest(BaseModel):
    """A ballot in the vote's rule, ``ranking`` or ``approvals`` (exactly one): the voter is the
    token's holder, never a field of the body. The field the rule does not read is refused by the
    mechanism (``INVALID_PAYLOAD``, 422)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    ranking: list[Text] | None = Field(default=None, max_length=256,
                                       description="a ranked rule's ballot: candidates, most preferred "
                                                   "first; may be truncated (unranked ones come last)")
    approvals: list[Text] | None = Field(default=None, max_length=256,
                                         description="an approval vote's ballot: the candidates you "
                                                     "approve, each once, at least one (any order)")

    @model_validator(mode="after")
    def _one_ballot(self) -> "BallotRequest":
        if (self.ranking is None) == (self.approvals is None):
            raise ValueError("give exactly one of ranking (a ranked rule) or approvals (approval)")
        return self

    def payload(self) -> dict[str, list[str]]:
        """The ``ballot`` action's ballot field, as given."""
        if self.approvals is not None:
            return {"approvals": list(self.approvals)}
        return {"ranking": list(self.ranking or [])}


class BallotCast(BaseModel):
    vote_id: str
    ballots: int = Field(description="ballots cast in this vote so far, yours included")


class AppealSigned(BaseModel):
    decision_id: str
    signatures: int = Field(description="voters who have signed this appeal")
    review_requested: bool = Field(description="your signature completed the appeal: a review is convened")


class Timetable(BaseModel):
    convened_at: float = Field(description="sim time of the convening (deliberation starts)")
    ballot_opens: float
    ballot_closes: float = Field(description="a ballot at this time or later is late; the count is then")


class VoteSummary(BaseModel):
    vote_id: str
    purpose: str = Field(description="incident, renewal or review")
    status: Phase
    ballot_open: bool
    timetable: Timetable
    convened: int = Field(description="members convened (a count; who is private to each)")
    ballots: int = Field(description="ballots cast so far, or counted")
    decided: str | None = Field(description="the measure decided at the count (None: none, or not counted)")


class InForce(BaseModel):
    decision_id: str
    measure: str
    taken_at: float
    sunset: float | None = Field(description="sim time it lapses unless renewed (None: never)")
    vote_id: str
    appeal_signatures: int
    appeal_signatures_needed: int = Field(description="signatures that convene a review (0: no appeals)")
    review_requested: bool


class VoteList(BaseModel):
    time: float = Field(description="the trial's sim time")
    votes: list[VoteSummary] = Field(description="oldest first")
    in_force: InForce | None = Field(description="the decision that binds now, if any")


class TieBreakView(BaseModel):
    policy: str = Field(description="random (seeded, reproducible) or lexicographic")
    seed: int
    tied: list[str] = Field(description="the co-winners the tie-break chose among")
    drawn: bool = Field(description="false when there was a single winner")


class TallyView(BaseModel):
    rule: str
    candidates: list[str] = Field(description="the order of the details' matrices")
    winners: list[str] = Field(description="every co-winner before the tie-break")
    winner: str
    tie_break: TieBreakView
    counted: int
    details: dict[str, Any] = Field(description="the rule's workings: kind 'pairwise' (margins, strongest "
                                                "paths or locked edges), 'rounds' (IRV round by round) "
                                                "or 'scores'")


class DecisionView(BaseModel):
    decision_id: str
    measure: str
    taken_at: float
    sunset: float | None
    fallback: bool = Field(description="the fallback measure, taken because the quorum was not met")
    in_force: bool


class ResultView(BaseModel):
    convened: int
    counted: int
    turnout: float | None = Field(description="counted / convened")
    quorum_needed: int = Field(description="counted ballots the quorum required")
    quorum_met: bool
    winner: str | None = Field(description="the measure the count decided (None: no quorum, or nothing)")
    struck: list[str] = Field(description="winners struck for missing their threshold, in order")
    tally: TallyView | None = Field(description="the final count (None without a quorum)")
    decision: DecisionView | None
    explanation: str = Field(description="the whole result in plain English")


class VoteView(BaseModel):
    vote_id: str
    purpose: str = Field(description="incident, renewal or review")
    about_decision: str | None = Field(description="the decision a renewal or review is about")
    incident_ids: list[str]
    severity: float
    status: Phase
    ballot_open: bool
    timetable: Timetable
    mode: str = Field(description="panel (stratified sortition) or electorate")
    draw_seed: int | None = Field(description="re-runs the panel draw (None for a whole electorate)")
    candidates: list[str]
    rule: str
    tie_break: str
    status_quo: str | None
    thresholds: dict[str, float]
    quorum: float = Field(description="share of the convened members whose ballots are needed")
    convened: int
    ballots: int = Field(description="ballots cast so far, or counted")
    result: ResultView | None = Field(description="once counted")


class MyVote(BaseModel):
    vote_id: str
    status: Phase
    ballot_open: bool
    convened: bool = Field(description="you were convened for this vote")
    cast: bool = Field(description="you have cast a ballot in it (how is never shown)")


class VoterStatus(BaseModel):
    voter_id: str
    registered: bool
    strata: dict[str, str]
    votes: list[MyVote] = Field(description="every vote so far, oldest first")


# -- building responses ---------------------------------------------------------------------------


def _phase(record: Mapping[str, Any], now: float) -> Phase:
    if record["counted"]:
        return "counted"
    if now < record["opens"]:
        return "deliberation"
    return "ballot_open" if now < record["closes"] else "ballot_closed"


def _timetable(record: Mapping[str, Any]) -> Timetable:
    return Timetable(convened_at=record["convened_at"], ballot_opens=record["opens"],
                     ballot_closes=record["closes"])


def _summary(record: Mapping[str, Any], now: float) -> VoteSummary:
    phase = _phase(record, now)
    return VoteSummary(vote_id=record["vote_id"], purpose=record["purpose"], status=phase,
                       ballot_open=phase == "ballot_open", timetable=_timetable(record),
                       convened=record["convened"], ballots=record["ballots"],
                       decided=record.get("winner"))


def _share(value: float) -> str:
    return f"{value:.0%}"


def explain(record: Mapping[str, Any], vote: VoteReader) -> str:
    """A counted vote's result in plain English: turnout and quorum, the count, strikes, the decision."""
    config = vote.config
    convened, counted, needed = record["convened"], record["ballots"], record["quorum_needed"]
    parts = [f"{counted} of {convened} convened members cast a ballot"
             + (f" (turnout {_share(counted / convened)})" if convened else "")
             + f"; the quorum of {needed} {'ballot' if needed == 1 else 'ballots'} was "
             + ("met." if record["quorum_met"] else "not met.")]
    if record["quorum_met"]:
        if record.get("explanation"):
            parts.append(str(record["explanation"]))
        above = ("approved it and not" if config.ballot_field == "approvals" else "ranked it above")
        for measure in record["struck"]:
            parts.append(f"{measure} was struck: fewer than {_share(config.thresholds[measure])} of the "
                         f"counted ballots {above} {config.status_quo}, so the count was rerun "
                         "without it.")
    decision = record.get("decision")
    in_force = vote.in_force
    if decision is None:
        parts.append("No measure was decided.")
    else:
        how = ("Without a quorum the fallback measure" if decision["fallback"] else "The vote decided")
        until = ("with no sunset" if decision["sunset"] is None
                 else f"until its sunset at sim time {decision['sunset']:g} unless renewed")
        parts.append(f"{how} {decision['measure']} ({decision['decision_id']}, taken at sim time "
                     f"{decision['taken_at']:g}), in force {until}"
                     + ("." if in_force is not None and in_force[0] == decision["decision_id"]
                        else "; it is no longer in force."))
    return " ".join(parts)


def _result(record: Mapping[str, Any], vote: VoteReader) -> ResultView:
    tally = record.get("tally")
    tally_view = None
    if tally is not None:
        tie = tally["tie_break"]
        tally_view = TallyView(
            rule=tally["rule"], candidates=list(tally["candidates"]), winners=list(tally["winners"]),
            winner=tally["winner"], counted=tally["counted"], details=dict(tally["details"]),
            tie_break=TieBreakView(policy=tie["policy"], seed=tie["seed"], tied=list(tie["tied"]),
                                   drawn=tie["drawn"]))
    decision = record.get("decision")
    decision_view = None
    if decision is not None:
        in_force = vote.in_force
        decision_view = DecisionView(
            decision_id=decision["decision_id"], measure=decision["measure"],
            taken_at=decision["taken_at"], sunset=decision["sunset"], fallback=decision["fallback"],
            in_force=in_force is not None and in_force[0] == decision["decision_id"])
    convened, counted = record["convened"], record["ballots"]
    return ResultView(convened=convened, counted=counted, turnout=counted / convened if convened else None,
                      quorum_needed=record["quorum_needed"], quorum_met=record["quorum_met"],
                      winner=record["winner"], struck=list(record["struck"]), tally=tally_view,
                      decision=decision_view, explanation=explain(record, vote))


def _view(record: Mapping[str, Any], vote: VoteReader, now: float) -> VoteView:
    config = vote.config
    phase = _phase(record, now)
    return VoteView(
        vote_id=record["vote_id"], purpose=record["purpose"], about_decision=record["target"],
        incident_ids=list(record["incident_ids"]), severity=record["severity"], status=phase,
        ballot_open=phase == "ballot_open", timetable=_timetable(record), mode=config.convening,
        draw_seed=record["draw_seed"], candidates=list(config.candidates), rule=config.rule,
        tie_break=config.tie_break, status_quo=config.status_quo, thresholds=dict(config.thresholds),
        quorum=config.quorum, convened=record["convened"], ballots=record["ballots"],
        result=_result(record, vote) if record["counted"] else None)


def _decision_ids(records: Sequence[Mapping[str, Any]]) -> set[str]:
    return {r["decision"]["decision_id"] for r in records if r.get("decision")}


_PROBLEMS: dict[int | str, dict[str, Any]] = {
    403: {"description": "NOT_A_VOTER / NOT_REGISTRAR (the wrong kind of token), NOT_CONVENED, "
                         "NOT_REGISTERED, NOT_PERMITTED"},
    404: {"description": "UNKNOWN_VOTE or UNKNOWN_DECISION: no such id"},
    409: {"description": "a conflict with the vote's state: SECOND_BALLOT, BALLOT_NOT_OPEN, BALLOT_CLOSED, "
                         "DUPLICATE_IDENTITY, ALREADY_APPEALED, UNKNOWN_DECISION (no longer in force)..."},
    422: {"description": "a malformed request (each field named) or ballot (BALLOT_EMPTY, "
                         "BALLOT_UNKNOWN_CANDIDATE, BALLOT_DUPLICATE_CANDIDATE...)"},
}


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: _PROBLEMS[code] for code in codes}


def _routes(name: str, gateway: Gateway) -> "APIRouter":
    """The vote's routes for mechanism ``name`` of a live trial (see the module docstring)."""
    from fastapi import APIRouter, Depends, HTTPException, Path, Query  # noqa: PLC0415 - the server's deps

    router = APIRouter(prefix="/v1/votes", tags=["votes"])
    # Who calls: the server has authenticated the request; each route then checks the role.
    Caller = Annotated[Principal, Depends(gateway.principal)]  # noqa: N806 - a type, named as one

    def procedure() -> VoteReader:
        return cast(VoteReader, gateway.mechanism(name))  # fetched per request: a rebuild replaces it

    def registrar(principal: Principal) -> Principal:
        if not is_registrar(principal):
            raise HTTPException(403, detail={"reason": "NOT_REGISTRAR",
                                             "detail": "only a registrar's token registers voters"})
        return principal

    def voter(principal: Principal) -> Principal:
        if not is_voter(principal):
            raise HTTPException(403, detail={"reason": "NOT_A_VOTER",
                                             "detail": "this route takes a voter token (registrars do "
                                                       "not vote)"})
        return principal

    async def act(kind: str, payload: dict[str, Any], actor: str) -> Outcome:
        """``gateway.act``, with two refinements of a refusal: a bare reason code gets its plain-English
        detail, and an appeal of a decision that was taken but no longer binds is a 409 conflict."""
        try:
            return await gateway.act(name, kind, payload, actor=actor)
        except ActionRejected as refused:
            status, detail = refused.status, refused.detail or REASON_DETAIL.get(refused.reason, "")
            if refused.reason == VoteReason.UNKNOWN_DECISION and payload["decision_id"] in _decision_ids(
                    procedure().votes()):
                status = 409  # it was taken, but is no longer in force: a conflict, not an unknown id
            raise ActionRejected(refused.reason, detail, status=status) from refused

    @router.post("/registrations", status_code=201, response_model=Registered,
                 summary="Register a voter (registrars)", responses=_responses(403, 409, 422))
    async def register(body: RegistrationRequest, caller: Caller) -> Registered:
        """A fresh voter id and its token. Only the token's SHA-256 is submitted (and stored); a
        retry under the same Idempotency-Key returns the same voter and token, registered once."""
        principal = registrar(caller)
        secret = gateway.secret(SECRET_PURPOSE)
        minted = new_voter_id()
        payload = {"person": body.person, "strata": dict(body.strata),
                   "token_sha256": token_sha256(issue_token(secret, minted)), "registrar": principal.actor}
        outcome = await act("register", payload, minted)
        voter_id = outcome.effects.get("voter")  # on a retry: the voter the first request registered
        if not isinstance(voter_id, str):
            raise ContractError(f"{name}: an accepted register names no voter in its effects")
        return Registered(voter_id=voter_id, token=issue_token(secret, voter_id),
                          registered=int(outcome.effects.get("registered", 0)))

    @router.get("", response_model=VoteList, summary="Every vote, and the decision in force")
    async def votes(
        status: Annotated[Phase | None, Query(description="only the votes in this phase")] = None,
    ) -> VoteList:
        vote, now = procedure(), gateway.now
        found = [_summary(record, now) for record in vote.votes()]
        current = vote.decision_in_force()
        in_force = None if current is None else InForce(
            decision_id=current["decision_id"], measure=current["measure"], taken_at=current["taken_at"],
            sunset=current["sunset"], vote_id=current["vote_id"], appeal_signatures=current["signatures"],
            appeal_signatures_needed=vote.config.appeal_signatures,
            review_requested=current["review_requested"])
        return VoteList(time=now, votes=[s for s in found if status is None or s.status == status],
                        in_force=in_force)

    @router.get("/me", response_model=VoterStatus, summary="Your own registration and participation",
                responses=_responses(403))
    async def me(caller: Caller) -> VoterStatus:
        """Only the caller's data: there is no route that takes another voter's id."""
        principal = voter(caller)
        vote, now = procedure(), gateway.now
        strata = vote.strata_of(principal.actor)
        phases = {record["vote_id"]: _phase(record, now) for record in vote.votes()}
        mine = [MyVote(vote_id=p["vote_id"], status=phases[p["vote_id"]],
                       ballot_open=phases[p["vote_id"]] == "ballot_open", convened=p["convened"],
                       cast=p["cast"]) for p in vote.participation(principal.actor)]
        return VoterStatus(voter_id=principal.actor, registered=strata is not None, strata=strata or {},
                           votes=mine)

    @router.get("/{vote_id}", response_model=VoteView, summary="A vote's status, timetable and result",
                responses=_responses(404, 422))
    async def vote_status(
        vote_id: Annotated[str, Path(pattern=ID_PATTERN, description="e.g. emergency_vote-vote-1")],
    ) -> VoteView:
        """Counts and aggregates only: never who was convened or who cast what."""
        vote = procedure()
        record = vote.vote(vote_id)
        if record is None:
            raise HTTPException(404, detail={"reason": "UNKNOWN_VOTE", "detail": f"no vote {vote_id!r}"})
        return _view(record, vote, gateway.now)

    @router.post("/{vote_id}/ballots", status_code=201, response_model=BallotCast,
                 summary="Cast your ballot (voters)", responses=_responses(403, 404, 409, 422))
    async def ballot(
        body: BallotRequest, caller: Caller,
        vote_id: Annotated[str, Path(pattern=ID_PATTERN, description="e.g. emergency_vote-vote-1")],
    ) -> BallotCast:
        """One ballot per convened voter, during the ballot window; it cannot be changed."""
        principal = voter(caller)
        outcome = await act("ballot", {"vote_id": vote_id, **body.payload()}, principal.actor)
        return BallotCast(vote_id=vote_id, ballots=int(outcome.effects.get("cast", 0)))

    @router.post("/decisions/{decision_id}/appeals", status_code=201, response_model=AppealSigned,
                 summary="Sign an appeal of the decision in force (voters)",
                 responses=_responses(403, 404, 409, 422))
    async def appeal(
        caller: Caller,
        decision_id: Annotated[str, Path(pattern=ID_PATTERN, description="e.g. emergency_vote-decision-1")],
    ) -> AppealSigned:
        """Enough registered voters' signatures convene a review vote of the decision."""
        principal = voter(caller)
        outcome = await act("appeal", {"decision_id": decision_id}, principal.actor)
        effects = outcome.effects
        return AppealSigned(decision_id=decision_id, signatures=int(effects.get("signatures", 0)),
                            review_requested=bool(effects.get("review_requested", False)))

    return router


routes: RoutesFactory = _routes
"""``EmergencyVote.http``: typed as the factory protocol, so a class attribute does not bind it."""
