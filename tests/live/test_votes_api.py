"""The emergency vote over HTTP: registration by a registrar, per-voter tokens, ballots, results.

A real uvicorn server on loopback serves an ``emergency_vote`` trial on a clock the test
moves by hand (an incident shock at sim time 100 convenes every registered voter;
deliberation until 150, ballot until 250, count at 250), so every phase is reached
exactly when the test says. Each isolation rule of the issue ("one participant can never
act for another") is a test, and so is ballot secrecy: no GET answer links a voter to a
ballot, and the database never holds a token.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from flagship.democracy import EmergencyVote, EmergencyVoteConfig, VoterTokens
from flagship.mechanisms import Action, CommonReason, ScenarioError
from flagship.sandbox._host import Host
from flagship.sandbox._live import EngineOptions, LiveGateway, LiveSpec, load_authenticators
from flagship.telemetry import Store
from flagship.telemetry._trial_log import TrialLog
from tests.live._support import Live, ThreadServer, build_live, fuzz_api, problem

VOTE = "emergency_vote-vote-1"
REGISTRAR = "clerk-of-the-polity-0123456789"
AGENT = "tok-agent"  # a bearer token of another scheme (the plug-in's), for an AI agent
EPOCH = 1_700_000_000.0
RESTRICT = ["restrict", "monitor", "no_action", "pause_deployment"]
MONITOR = ["monitor", "restrict", "no_action", "pause_deployment"]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Clock:
    """Wall time as the engine sees it: moved by the test, so sim time is exact."""

    now: float = EPOCH

    def __call__(self) -> float:
        return self.now

    def sim(self, seconds: float) -> None:
        self.now = EPOCH + seconds  # time factor 1


def write_vote_scenario(directory: Path, *, appeals: int = 2, incident_at: float = 100.0,
                        deliberation: float = 50.0, ballot: float = 100.0, sunset: float = 1000.0) -> Path:
    """The vote trial: an incident at ``incident_at`` convenes the electorate; deliberation, then the
    ballot, then the count; the decision lapses ``sunset`` later (all in sim seconds)."""
    path = directory / "vote.toml"
    path.write_text(f"""
name = "vote_live"
seed = 5
duration = 1000000.0

[mechanisms.emergency_vote]
candidates = ["pause_deployment", "restrict", "monitor", "no_action"]
rule = "schulze"
convening = "electorate"
strata = ["region"]
quorum = 0.5
deliberation_seconds = {deliberation}
ballot_seconds = {ballot}
sunset_seconds = {sunset}
appeal_signatures = {appeals}

[[shocks]]
at = {incident_at}
kind = "ai_incident"
payload = {{ severity = 0.9, incident_id = "frontier-jailbreak" }}

[live]
authenticators = ["voter_token", "bearer_token"]
time_factor = 1.0

[live.auth.voter_token]
registrar_sha256 = ["{sha(REGISTRAR)}"]

[live.auth.bearer_token]
tokens = {{ "{AGENT}" = "agent-1" }}
""")
    return path


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}




@dataclass
class Pilot:
    """A served vote trial: an HTTP client, the clock, and helpers for the usual requests."""

    client: httpx.Client
    clock: Clock
    live: Live
    keys: Iterator[int] = field(default_factory=lambda: iter(range(1, 10**6)))

    def post(self, path: str, token: str | None, json: Any = None, key: str | None = None) -> httpx.Response:
        headers = {"Idempotency-Key": key or f"k{next(self.keys)}", **(bearer(token) if token else {})}
        return self.client.post(path, json=json, headers=headers)

    def register(self, person: str, region: str = "north", key: str | None = None) -> tuple[str, str]:
        response = self.post("/v1/votes/registrations", REGISTRAR,
                             {"person": person, "strata": {"region": region}}, key)
        assert response.status_code == 201, response.text
        body = response.json()
        return body["voter_id"], body["token"]

    def ballot(self, token: str, ranking: Any, vote_id: str = VOTE) -> httpx.Response:
        return self.post(f"/v1/votes/{vote_id}/ballots", token, {"ranking": ranking})

    def me(self, token: str) -> dict[str, Any]:
        response = self.client.get("/v1/votes/me", headers=bearer(token))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def vote(self, vote_id: str = VOTE) -> dict[str, Any]:
        response = self.client.get(f"/v1/votes/{vote_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def until_counted(self, vote_id: str = VOTE) -> dict[str, Any]:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # the writer counts on its next tick
            view = self.vote(vote_id)
            if view["status"] == "counted":
                return view
            time.sleep(0.02)
        raise AssertionError(f"{vote_id} was not counted")


@contextlib.contextmanager
def pilot(url: str, tmp_path: Path, clock: Clock, scenario: Path | None = None) -> Iterator[Pilot]:
    scenario = scenario or write_vote_scenario(tmp_path)
    live = build_live(url, scenario, tmp_path, clock=clock,
                      options=EngineOptions(tick_seconds=0.01, measures_seconds=0))
    try:
        with ThreadServer(live.app) as server, httpx.Client(base_url=server.url, timeout=10) as client:
            yield Pilot(client, clock, live)
    finally:
        live.store.close()


# -- the whole procedure -------------------------------------------------------------------------


def test_register_vote_and_read_the_explained_result(tmp_path: Path) -> None:
    clock = Clock()
    with pilot(f"sqlite:///{tmp_path / 'live.db'}", tmp_path, clock) as p:
        voters = [p.register(f"person-{i}", region) for i, region in enumerate(["north", "south"] * 2)]
        ids = [voter_id for voter_id, _ in voters]
        assert len(set(ids)) == 4 and all(token.startswith(f"{v}.") for v, token in voters)
        assert p.client.get("/v1/votes").json() == {"time": 0.0, "votes": [], "in_force": None}
        problem(p.client.get(f"/v1/votes/{VOTE}"), 404, "UNKNOWN_VOTE")

        clock.sim(120.0)  # the incident at 100 convened everyone registered; deliberation until 150
        problem(p.ballot(voters[0][1], RESTRICT), 409, "BALLOT_NOT_OPEN")
        listed = p.client.get("/v1/votes").json()["votes"]
        assert [(v["vote_id"], v["status"], v["convened"]) for v in listed] == [(VOTE, "deliberation", 4)]
        assert listed[0]["timetable"] == {"convened_at": 100.0, "ballot_opens": 150.0, "ballot_closes": 250.0}

        clock.sim(160.0)
        for (_, token), ranking in zip(voters[:3], [RESTRICT, RESTRICT, MONITOR], strict=True):
            cast = p.ballot(token, ranking)
            assert cast.status_code == 201, cast.text
        assert cast.json() == {"vote_id": VOTE, "ballots": 3}
        problem(p.ballot(voters[3][1], ["restrict", "nonsense"]), 422, "BALLOT_UNKNOWN_CANDIDATE")
        problem(p.ballot(voters[3][1], ["monitor", "monitor"]), 422, "BALLOT_DUPLICATE_CANDIDATE")
        problem(p.ballot(voters[3][1], []), 422, "BALLOT_EMPTY")
        problem(p.ballot(voters[3][1], RESTRICT, "emergency_vote-vote-9"), 404, "UNKNOWN_VOTE")
        open_view = p.vote()
        assert (open_view["status"], open_view["ballot_open"], open_view["ballots"]) == \
            ("ballot_open", True, 3)
        assert open_view["result"] is None and open_view["mode"] == "electorate"
        assert open_view["incident_ids"] == ["frontier-jailbreak"] and open_view["severity"] == 0.9
        only_open = p.client.get("/v1/votes", params={"status": "ballot_open"}).json()["votes"]
        assert [v["vote_id"] for v in only_open] == [VOTE]

        clock.sim(260.0)
        problem(p.ballot(voters[3][1], RESTRICT), 409, "BALLOT_CLOSED")
        result = p.until_counted()["result"]
        assert (result["convened"], result["counted"], result["turnout"]) == (4, 3, 0.75)
        assert (result["quorum_needed"], result["quorum_met"], result["winner"]) == (2, True, "restrict")
        tally = result["tally"]
        assert tally["rule"] == "schulze" and tally["winners"] == ["restrict"] and tally["counted"] == 3
        assert tally["tie_break"]["drawn"] is False and tally["details"]["kind"] == "pairwise"
        margins = tally["details"]["margins"]
        i, j = tally["candidates"].index("restrict"), tally["candidates"].index("monitor")
        assert margins[i][j] == 1 and margins[j][i] == -1  # 2 ballots to 1
        decision = result["decision"]
        assert decision == {"decision_id": "emergency_vote-decision-1", "measure": "restrict",
                            "taken_at": 250.0, "sunset": 1250.0, "fallback": False, "in_force": True}
        explanation = result["explanation"]
        assert explanation.startswith("3 of 4 convened members cast a ballot (turnout 75%)")
        assert "restrict" in explanation and "1250" in explanation and "Schulze" in explanation
        in_force = p.client.get("/v1/votes").json()["in_force"]
        assert in_force["decision_id"] == decision["decision_id"]
        assert in_force["appeal_signatures_needed"] == 2

        # Appeals of the decision in force: one signature per voter; two convene a review.
        appeals = f"/v1/votes/decisions/{decision['decision_id']}/appeals"
        first = p.post(appeals, voters[0][1])
        assert first.status_code == 201 and first.json() == {
            "decision_id": decision["decision_id"], "signatures": 1, "review_requested": False}
        problem(p.post(appeals, voters[0][1]), 409, "ALREADY_APPEALED")
        problem(p.post(appeals, REGISTRAR), 403, "NOT_A_VOTER")
        problem(p.post("/v1/votes/decisions/emergency_vote-decision-7/appeals", voters[1][1]), 404,
                "UNKNOWN_DECISION")
        assert p.post(appeals, voters[1][1]).json()["review_requested"] is True
        review = p.client.get("/v1/votes").json()["votes"][-1]
        assert review["vote_id"] == "emergency_vote-vote-2" and review["purpose"] == "review"
        assert p.vote("emergency_vote-vote-2")["about_decision"] == decision["decision_id"]


def test_one_voter_can_never_act_for_another(tmp_path: Path) -> None:
    clock = Clock()
    with pilot(f"sqlite:///{tmp_path / 'live.db'}", tmp_path, clock) as p:
        alice, alice_token = p.register("alice")
        bob, bob_token = p.register("bob", "south")
        # Registering is the registrar's: not a voter's, an agent's, or an anonymous caller's.
        form = {"person": "mallory", "strata": {"region": "north"}}
        problem(p.post("/v1/votes/registrations", alice_token, form), 403, "NOT_REGISTRAR")
        problem(p.post("/v1/votes/registrations", AGENT, form), 403, "NOT_REGISTRAR")
        problem(p.post("/v1/votes/registrations", None, form), 401, "UNAUTHENTICATED")
        # A person registers once (a second voter id for alice would be a sybil): no token then.
        again = {"person": "alice", "strata": {"region": "east"}}
        problem(p.post("/v1/votes/registrations", REGISTRAR, again), 409, "DUPLICATE_IDENTITY")

        clock.sim(160.0)
        assert p.ballot(alice_token, RESTRICT).status_code == 201
        problem(p.ballot(alice_token, MONITOR), 409, "SECOND_BALLOT")  # vote twice: refused
        # The voter is the token's holder and nothing else: a body naming bob is malformed.
        smuggled = p.post(f"/v1/votes/{VOTE}/ballots", alice_token, {"ranking": MONITOR, "voter_id": bob})
        assert {e["path"] for e in problem(smuggled, 422, "INVALID_REQUEST")["errors"]} == {"body.voter_id"}
        # Registrars and other schemes' principals cannot vote, even though they authenticate.
        problem(p.ballot(REGISTRAR, RESTRICT), 403, "NOT_A_VOTER")
        problem(p.ballot(AGENT, RESTRICT), 403, "NOT_A_VOTER")
        problem(p.client.get("/v1/votes/me", headers=bearer(REGISTRAR)), 403, "NOT_A_VOTER")
        assert p.vote()["ballots"] == 1  # the tally holds alice's one ballot

        # Each voter reads their own status only: nothing names another voter.
        mine = p.me(alice_token)
        assert mine == {"voter_id": alice, "registered": True, "strata": {"region": "north"},
                        "votes": [{"vote_id": VOTE, "status": "ballot_open", "ballot_open": True,
                                   "convened": True, "cast": True}]}
        assert p.client.get("/v1/votes/me", params={"voter_id": bob},
                            headers=bearer(alice_token)).json()["voter_id"] == alice
        assert p.me(bob_token)["votes"][0]["cast"] is False
        problem(p.client.get(f"/v1/votes/{bob}"), 404, "UNKNOWN_VOTE")
        problem(p.client.get("/v1/votes/me"), 401, "UNAUTHENTICATED")

        # Forged tokens: right shape, wrong MAC; a real voter id with another's MAC; junk.
        forged = f"{alice}.{'A' * 43}"
        problem(p.client.get("/v1/votes/me", headers=bearer(forged)), 401, "INVALID_TOKEN")
        problem(p.ballot(f"{bob}.{alice_token.split('.')[1]}", RESTRICT), 401, "INVALID_TOKEN")
        # Junk is not a voter token: voter_token passes it on, and the agents' bearer scheme refuses it.
        junk = problem(p.client.get("/v1/votes/me", headers=bearer("v-123")), 401, "INVALID_TOKEN")
        assert junk["detail"] == "the bearer token is not known"
        # A token with a valid MAC whose voter was never registered (the refused sybil, say).
        secret = p.live.app.state.gateway.secret("voter_token")
        mac = base64.urlsafe_b64encode(hmac.new(secret, b"v-" + b"0" * 24, hashlib.sha256).digest())
        unregistered = "v-" + "0" * 24 + "." + mac.rstrip(b"=").decode()
        problem(p.client.get("/v1/votes/me", headers=bearer(unregistered)), 401, "INVALID_TOKEN")

        # Bob votes for himself; then the count. No public answer ever names a voter.
        assert p.ballot(bob_token, MONITOR).status_code == 201
        clock.sim(260.0)
        counted = p.until_counted()
        assert counted["result"]["counted"] == 2
        for text in (p.client.get("/v1/votes").text, p.client.get(f"/v1/votes/{VOTE}").text):
            assert alice not in text and bob not in text


# -- tokens: derived, hashed, retried, durable ------------------------------------------------------


def _rows_of_every_table(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        metadata = sa.MetaData()
        metadata.reflect(bind=engine)
        with engine.connect() as conn:
            return [repr(tuple(row)) for table in metadata.sorted_tables
                    for row in conn.execute(sa.select(table))]
    finally:
        engine.dispose()


def test_a_retried_registration_is_one_voter_only_hashes_are_stored_and_tokens_survive_restarts(
        store_url: str, tmp_path: Path) -> None:
    clock = Clock()
    form = {"person": "carol", "strata": {"region": "north"}}
    with pilot(store_url, tmp_path, clock) as p:
        first = p.post("/v1/votes/registrations", REGISTRAR, form, key="reg-carol")
        again = p.post("/v1/votes/registrations", REGISTRAR, form, key="reg-carol")
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
        problem(p.post("/v1/votes/registrations", REGISTRAR, {**form, "person": "dan"}, key="reg-carol"),
                422, "IDEMPOTENCY_KEY_REUSED")
        carol, token = first.json()["voter_id"], first.json()["token"]
        assert first.json()["registered"] == 1
        dave, dave_token = p.register("dave")
        trial_id = p.live.engine.trial.id
    with Store.open(store_url) as store:
        entries = list(TrialLog(store).entries(trial_id))
    registrations = [e for e in entries if e.kind == "register"]
    assert [(e.actor, e.accepted) for e in registrations] == [(carol, True), (dave, True)]  # carol once
    assert sha(token) in registrations[0].payload  # the hash is what the log keeps...
    rows = _rows_of_every_table(store_url)
    assert any(sha(token) in row for row in rows)  # the scan does read the log's rows
    for secret in (token, token.split(".")[1], dave_token, dave_token.split(".")[1], REGISTRAR):
        assert not any(secret in row for row in rows), "a token is stored in plaintext"  # ...never the token

    with pilot(store_url, tmp_path, clock) as p:  # a restart: the trial resumes by replaying its log
        assert p.live.engine.trial.id == trial_id and p.live.engine.recovered_entries == len(entries)
        assert p.me(token)["voter_id"] == carol and p.me(dave_token)["voter_id"] == dave
        problem(p.client.get("/v1/votes/me", headers=bearer(f"{carol}.{'B' * 43}")), 401, "INVALID_TOKEN")
        clock.sim(160.0)
        assert p.ballot(token, RESTRICT).status_code == 201
        retried = p.post("/v1/votes/registrations", REGISTRAR, form, key="reg-carol")
        assert retried.json()["token"] == token  # still the same voter and token after the restart


# -- the authenticator's options, the mechanism's side, the API's documentation -------------------------


def test_voter_token_options_are_validated_naming_each_option(tmp_path: Path) -> None:
    clock = Clock()
    live = build_live(f"sqlite:///{tmp_path / 'live.db'}", write_vote_scenario(tmp_path), tmp_path,
                      clock=clock)
    try:
        gateway = LiveGateway(live.engine)
        cases: list[tuple[dict[str, Any], set[str]]] = [
            ({}, {"live.auth.voter_token.registrar_sha256"}),
            ({"registrar_sha256": "abc"}, {"live.auth.voter_token.registrar_sha256"}),
            ({"registrar_sha256": [sha("x"), "not-hex"]}, {"live.auth.voter_token.registrar_sha256.1"}),
            ({"registrar_sha256": [sha("x")], "mechanism": 3, "tokens": {}},
             {"live.auth.voter_token.tokens"}),
            ({"registrar_sha256": [sha("x")], "mechanism": ""}, {"live.auth.voter_token.mechanism"}),
        ]
        for options, paths in cases:
            with pytest.raises(ScenarioError) as caught:
                load_authenticators(LiveSpec(authenticators=["voter_token"], auth={"voter_token": options}),
                                    gateway)
            assert {p.path for p in caught.value.problems} == paths, options
        built = load_authenticators(LiveSpec(authenticators=["voter_token"], auth={"voter_token": {
            "registrar_sha256": [sha("x").upper()], "mechanism": "emergency_vote"}}), gateway)
        assert isinstance(built[0], VoterTokens) and built[0].scheme == "voter_token"
    finally:
        live.store.close()


def _mechanism() -> tuple[Host, EmergencyVote]:
    host = Host(0)
    vote = host.add_mechanism("emergency_vote", EmergencyVote, EmergencyVoteConfig(strata=["region"]))
    host.start()
    return host, vote  # type: ignore[return-value]


def test_the_mechanism_keeps_only_a_token_hash_and_binds_it_to_one_voter() -> None:
    host, vote = _mechanism()

    def register(actor: str, person: str, **extra: Any) -> Any:
        action = Action(0.0, actor, "register", {"person": person, "strata": {"region": "n"}, **extra})
        return host.submit("emergency_vote", action)

    digest = sha("some token")
    assert register("v1", "p1", token_sha256=digest).effects == {"registered": 1, "voter": "v1"}
    assert vote.voter_of_token(digest) == "v1" and vote.snapshot()["tokens"] == {digest: "v1"}
    for bad in ("A" * 64, "ab", 7, digest + "0"):
        refused = register("v2", "p2", token_sha256=bad)
        assert refused.reason == CommonReason.INVALID_PAYLOAD and "token_sha256" in refused.detail
    assert register("v2", "p2", token_sha256=digest).reason == CommonReason.INVALID_PAYLOAD  # in use
    assert register("v2", "p2").effects == {"registered": 2, "voter": "v2"}  # tokens are optional
    assert vote.voter_of_token(sha("other")) is None and vote.snapshot()["tokens"] == {digest: "v1"}


def test_openapi_lists_the_vote_routes_and_the_voter_token_scheme(tmp_path: Path) -> None:
    with pilot(f"sqlite:///{tmp_path / 'live.db'}", tmp_path, Clock()) as p:
        spec = p.client.get("/openapi.json").json()
    paths = spec["paths"]
    expected = {"/v1/votes": {"get"}, "/v1/votes/me": {"get"}, "/v1/votes/registrations": {"post"},
                "/v1/votes/{vote_id}": {"get"}, "/v1/votes/{vote_id}/ballots": {"post"},
                "/v1/votes/decisions/{decision_id}/appeals": {"post"}}
    for path, methods in expected.items():
        assert set(paths[path]) == methods, path
    ballot = paths["/v1/votes/{vote_id}/ballots"]["post"]
    assert {"403", "404", "409", "422", "default"} <= set(ballot["responses"])
    assert any(p["name"] == "Idempotency-Key" and p["required"] for p in ballot["parameters"])
    assert spec["components"]["securitySchemes"]["voter_token"]["scheme"] == "bearer"


# -- fuzzing the vote routes --------------------------------------------------------------------


@pytest.mark.slow
def test_fuzzing_the_vote_routes_finds_no_server_error_and_no_schema_violation(tmp_path: Path) -> None:
    clock = Clock()
    limits = "\n[live.limits]\nrate_per_second = 100000.0\nburst = 100000\n"
    scenario = write_vote_scenario(tmp_path)
    scenario.write_text(scenario.read_text() + limits)
    with pilot(f"sqlite:///{tmp_path / 'live.db'}", tmp_path, clock, scenario) as p:
        _, token = p.register("fuzzer")
        clock.sim(160.0)  # the ballot is open: ballots are really cast and refused
        url = str(p.client.base_url).rstrip("/")
        for tag, bearer in (("voter", token), ("registrar", REGISTRAR)):
            fuzz_api(url, bearer, tmp_path / f"st-{tag}", paths="^/v1/votes", seconds=10)
