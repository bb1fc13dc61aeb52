"""Operator actions: signed pause/resume/close/set over HTTP and the CLI, logged, verified, replayed."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from flagship.agents import AgentIdentity, WebBotAuth
from flagship.mechanisms import Action, NoConfig
from flagship.sandbox import Host
from flagship.sandbox._live import load_live_scenario
from flagship.sandbox._live._operator_auth import OperatorSigner, public_key_text
from flagship.sandbox._replay import commits_from_entries, replay_scenario
from flagship.sandbox._trial_control import OPERATOR
from flagship.telemetry import Store
from flagship.telemetry._trial_log import TrialLog
from tests.live._support import auth, build_live, flagship_command, serving, write_scenario


def operator_key(directory: Path, name: str = "ops.pem") -> tuple[Path, Ed25519PrivateKey]:
    key = Ed25519PrivateKey.generate()
    path = directory / name
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path, key


def operator_scenario(directory: Path, key: Ed25519PrivateKey, **kwargs: Any) -> Path:
    listed = public_key_text(key.public_key())
    return write_scenario(directory, limits=f'\n[live.operators]\nops = "{listed}"\n', **kwargs)


def signer(key: Ed25519PrivateKey) -> OperatorSigner:
    return OperatorSigner(public_key_text(key.public_key()), key)


def problem(response: httpx.Response, status: int, reason: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["reason"] == reason, response.text


def buy(client: httpx.Client, key: str, offer: int = 120) -> httpx.Response:
    return client.post("/v1/shop/purchases", json={"offer": offer},
                       headers={**auth(), "Idempotency-Key": key})


def test_operator_actions_are_signed_logged_verified_and_replayed(store_url: str, tmp_path: Path) -> None:
    _, key = operator_key(tmp_path)
    scenario = operator_scenario(tmp_path, key, shoppers=2, rate=0.5, time_factor=20.0)
    live = build_live(store_url, scenario, tmp_path)
    trial_id = live.engine.trial.id
    ops = signer(key)
    stranger = signer(Ed25519PrivateKey.generate())  # a participant's key, not an operator's
    with serving(live) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        assert buy(client, "b-1").status_code == 201
        body = {"trial": trial_id}
        problem(client.post("/v1/operator/pause", json=body), 401, "UNAUTHENTICATED")
        problem(client.post("/v1/operator/pause", json=body, headers=auth()), 401, "UNAUTHENTICATED")
        problem(client.post("/v1/operator/pause", json=body, auth=stranger), 403, "NOT_OPERATOR")
        participant = WebBotAuth(AgentIdentity(key))  # even the operator's key, in a participant's profile
        problem(client.post("/v1/operator/pause", json=body, auth=participant), 403, "NOT_OPERATOR")
        forged = client.build_request("POST", "/v1/operator/pause", json=body)
        signed = next(ops.auth_flow(forged))
        tampered = client.build_request("POST", "/v1/operator/pause", json={"trial": trial_id, "note": "x"},
                                        headers={k: v for k, v in signed.headers.items()
                                                 if k.lower() in ("signature", "signature-input",
                                                                  "content-digest")})
        problem(client.send(tampered), 401, "BAD_SIGNATURE")  # the body is not the one signed
        problem(client.post("/v1/operator/pause", json={"trial": "another"}, auth=ops), 409, "WRONG_TRIAL")
        assert client.get("/v1/operator").json()["status"] == "running"

        paused = client.post("/v1/operator/pause", json={**body, "note": "drill"}, auth=ops)
        assert paused.status_code == 200 and paused.json()["status"] == "paused", paused.text
        problem(client.post("/v1/operator/pause", json=body, auth=ops), 409, "ALREADY_PAUSED")
        problem(buy(client, "b-2"), 409, "TRIAL_PAUSED")

        problem(client.post("/v1/operator/set", json={**body, "mechanism": "posted_price",
                                                      "parameter": "stock", "value": 5}, auth=ops),
                422, "NOT_LIVE_PARAMETER")
        problem(client.post("/v1/operator/set", json={**body, "mechanism": "posted_price",
                                                      "parameter": "price", "value": -1}, auth=ops),
                422, "INVALID_VALUE")
        changed = client.post("/v1/operator/set", json={**body, "mechanism": "posted_price",
                                                        "parameter": "price", "value": 150}, auth=ops)
        assert changed.json()["changed"] == {"posted_price": {"price": 150}}, changed.text
        assert client.post("/v1/operator/resume", json=body, auth=ops).json()["status"] == "running"
        problem(client.post("/v1/operator/resume", json=body, auth=ops), 409, "NOT_PAUSED")
        problem(buy(client, "b-3", offer=120), 409, "BELOW_PRICE")  # the live price is 150 now
        assert buy(client, "b-4", offer=150).json()["price"] == 150

        assert client.post("/v1/operator/close", json=body, auth=ops).json()["status"] == "closed"
        problem(buy(client, "b-5"), 409, "TRIAL_CLOSED")
        problem(client.post("/v1/operator/resume", json=body, auth=ops), 409, "TRIAL_CLOSED")
        served_state = client.get("/v1/trial").json()["state_sha256"]

    with Store.open(store_url) as store:
        log = TrialLog(store)
        assert log.verify(trial_id).ok
        assert log.trial(trial_id).status == "finished"  # closed: a restart does not resume it
        entries = list(log.entries(trial_id))
    operator = [(e.kind, e.accepted, e.reason, e.actor) for e in entries if e.origin == OPERATOR]
    assert operator == [("pause", True, None, "ops"), ("pause", False, "ALREADY_PAUSED", "ops"),
                        ("set", False, "NOT_LIVE_PARAMETER", "ops"), ("set", False, "INVALID_VALUE", "ops"),
                        ("set", True, None, "ops"), ("resume", True, None, "ops"),
                        ("resume", False, "NOT_PAUSED", "ops"), ("close", True, None, "ops"),
                        ("resume", False, "TRIAL_CLOSED", "ops")]
    assert all(e.mechanism == OPERATOR for e in entries if e.origin == OPERATOR)
    assert '"note":"drill"' in next(e.payload for e in entries if e.origin == OPERATOR)
    refused = [e.reason for e in entries if e.origin == "http" and not e.accepted]
    assert refused == ["TRIAL_PAUSED", "BELOW_PRICE", "TRIAL_CLOSED"]

    # Replay feeds the operator's entries like clients' ones: every entry and state hash reproduced.
    resolved = load_live_scenario(scenario).resolved
    host, report, _ = replay_scenario(resolved, live.engine.trial.seed,
                                      commits_from_entries(entries, trial_id=trial_id))
    assert report.exact, report.divergences[:3]
    assert host.control.status == "closed" and host.control.changed == {"posted_price": {"price": 150}}
    assert report.state_sha256 == served_state

    # Recovery of the same trial (what a restart does) replays the operator's entries too.
    again = build_live(store_url, scenario, tmp_path, trial_id=trial_id)
    try:
        again.engine.recover()
        assert again.engine.recovered_entries == len(entries)
        assert again.engine.host is not None and again.engine.host.control.status == "closed"
    finally:
        again.store.close()


def test_a_paused_host_refuses_all_but_the_kinds_its_mechanism_declares() -> None:
    from tests.live.test_live_replay import Deadline  # a registered test mechanism

    class Cancellable(Deadline):
        kinds_while_paused = frozenset({"cancel"})

    host = Host(0)
    host.add_mechanism("m", Cancellable, NoConfig())
    host.start()
    before = host.state_sha256()
    assert host.submit(OPERATOR, Action(0.0, "ops", "pause")).accepted
    assert host.submit("m", Action(0.0, "a", "take")).reason == "TRIAL_PAUSED"
    assert host.submit("m", Action(0.0, "a", "cancel")).accepted  # declared: still taken
    assert host.state_sha256() != before  # the operator's state is part of the state from now on
    assert host.submit(OPERATOR, Action(0.0, "ops", "jump")).reason == "UNKNOWN_KIND"
    with pytest.raises(Exception, match="reserved"):
        Host(0).add_mechanism(OPERATOR, Cancellable, NoConfig())


def test_the_operator_cli_against_a_real_server(tmp_path: Path) -> None:
    key_file, key = operator_key(tmp_path)
    scenario = operator_scenario(tmp_path, key, shoppers=1, rate=0.1)
    live = build_live(f"sqlite:///{tmp_path / 'live.db'}", scenario, tmp_path)
    trial_id = live.engine.trial.id

    def operator(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(flagship_command("operator", *args), capture_output=True, text=True,
                              timeout=120, check=False)

    with serving(live) as server:
        common = ["--trial", trial_id, "--key", str(key_file), "--url", server.url]
        done = operator("pause", *common, "--note", "drill")
        assert done.returncode == 0 and "paused" in done.stdout, done.stderr
        refused = operator("pause", *common)
        assert refused.returncode == 1, refused
        assert refused.stderr.strip().splitlines() == [refused.stderr.strip()]  # one line
        assert "ALREADY_PAUSED" in refused.stderr
        assert operator("set", "posted_price.price=130", *common).returncode == 0
        assert operator("set", "posted_price.stock=1", *common).returncode == 1
        bad = operator("set", "price", *common)
        assert bad.returncode == 2 and "MECHANISM.PARAMETER=VALUE" in bad.stderr
        assert operator("resume", *common).returncode == 0
        assert httpx.get(f"{server.url}/v1/shop").json()["price"] == 130
        assert operator("pause", "--trial", trial_id, "--key", str(tmp_path / "nope.pem"),
                        "--url", server.url).returncode == 2
        assert operator("pause", "--trial", trial_id, "--key", str(key_file),
                        "--url", "ftp://x").returncode == 2
        other, _ = operator_key(tmp_path, "other.pem")
        assert "NOT_OPERATOR" in operator("pause", "--trial", trial_id, "--key", str(other),
                                          "--url", server.url).stderr
    made = operator("keygen", str(tmp_path / "new.pem"))
    assert made.returncode == 0 and len(made.stdout.strip()) == 43
    assert operator("keygen", str(tmp_path / "new.pem")).returncode == 2  # never overwritten


def test_an_operator_signature_captured_before_a_restart_is_refused_after_it(tmp_path: Path) -> None:
    _, key = operator_key(tmp_path)
    scenario = operator_scenario(tmp_path, key, shoppers=2, rate=0.5, time_factor=20.0)
    url = f"sqlite:///{tmp_path / 'live.db'}"
    live = build_live(url, scenario, tmp_path)
    trial_id = live.engine.trial.id
    with serving(live) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        resume = next(signer(key).auth_flow(client.build_request("POST", "/v1/operator/resume",
                                                                 json={"trial": trial_id})))
        paused = client.post("/v1/operator/pause", json={"trial": trial_id}, auth=signer(key))
        assert paused.status_code == 200, paused.text
        assert client.send(resume).json()["status"] == "running"
        problem(client.send(resume), 401, "BAD_SIGNATURE")  # same process: its nonce is remembered
    # created is whole seconds: a restart within the capture's second is not the case under test
    time.sleep(max(0.0, int(time.time()) + 1 - time.time()))
    again = build_live(url, scenario, tmp_path, trial_id=trial_id)
    with serving(again) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        paused = client.post("/v1/operator/pause", json={"trial": trial_id}, auth=signer(key))
        assert paused.status_code == 200, paused.text
        replayed = client.post(resume.url.path, content=resume.content, headers=dict(resume.headers))
        problem(replayed, 401, "CREATED_BEFORE_START")
        assert "created" in replayed.json()["detail"]
        assert client.get("/v1/operator").json()["status"] == "paused"  # the replay resumed nothing
