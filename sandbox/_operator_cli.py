"""``flagship operator``: pause, resume, close a live trial, set a live parameter or roll staged
cohorts back, as its operator.

Registered on the main Typer ``app`` of :mod:`flagship.sandbox.cli`. Each action command
signs one request with the operator's Ed25519 key (``--key``, a PEM file made by
``flagship operator keygen``) and sends it to ``--url``. Exit codes: 0 done; 1 refused by
the server (one line naming its reason code) or the server unreachable; 2 bad input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from flagship.sandbox._cli_app import out

__all__ = ["register"]

TrialOpt = Annotated[str, typer.Option("--trial", help="the trial acted on (GET /v1/trial tells its id)")]
KeyOpt = Annotated[Path, typer.Option("--key", help="the operator's private key (PEM, from "
                                                    "`flagship operator keygen`)")]
UrlOpt = Annotated[str, typer.Option("--url", help="the server, e.g. http://127.0.0.1:8000")]
NoteOpt = Annotated[str, typer.Option("--note", help="why: kept in the log entry")]


def send(kind: str, *, trial: str, key: Path, url: str, body: dict[str, Any]) -> dict[str, Any]:
    """Sign and send one operator action; the server's answer, or a FlagshipError naming its refusal."""
    import httpx  # noqa: PLC0415 - only the commands that send need it

    from flagship.mechanisms import ActionRejected, InputError, Problem, StoreError  # noqa: PLC0415
    from flagship.sandbox._live._operator_auth import (  # noqa: PLC0415
        OperatorSigner,
        load_private_key,
        public_key_text,
    )

    if not url.startswith(("http://", "https://")):
        raise InputError([Problem("--url", f"expected an http(s) URL, got {url!r}")])
    private = load_private_key(key)
    signer = OperatorSigner(public_key_text(private.public_key()), private)
    try:
        response = httpx.post(f"{url.rstrip('/')}/v1/operator/{kind}", json={"trial": trial, **body},
                              auth=signer, timeout=30.0)
    except httpx.HTTPError as exc:
        raise StoreError(f"cannot reach {url}: {exc}") from None
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if response.status_code >= 400:
        reason = answer.get("reason", str(response.status_code)) if isinstance(answer, dict) else ""
        detail = answer.get("detail", "") if isinstance(answer, dict) else ""
        raise ActionRejected(str(reason), f"{detail} (HTTP {response.status_code})",
                             status=response.status_code)
    return answer if isinstance(answer, dict) else {}


def _report(answer: dict[str, Any]) -> None:
    out.print(f"trial {answer.get('trial_id', '?')}: {answer.get('status', '?')}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``flagship operator …`` to ``app``."""
    group = typer.Typer(name="operator", no_args_is_help=True,
                        help="Act on a live trial as its operator (signed with the operator's key).")

    @group.command()
    def pause(trial: TrialOpt, key: KeyOpt, url: UrlOpt, note: NoteOpt = "") -> None:
        """Pause the trial: participants' new actions are refused with TRIAL_PAUSED."""
        _report(send("pause", trial=trial, key=key, url=url, body={"note": note} if note else {}))

    @group.command()
    def resume(trial: TrialOpt, key: KeyOpt, url: UrlOpt, note: NoteOpt = "") -> None:
        """Resume a paused trial."""
        _report(send("resume", trial=trial, key=key, url=url, body={"note": note} if note else {}))

    @group.command()
    def close(trial: TrialOpt, key: KeyOpt, url: UrlOpt, note: NoteOpt = "") -> None:
        """Close the trial for good: every later action is refused with TRIAL_CLOSED."""
        _report(send("close", trial=trial, key=key, url=url, body={"note": note} if note else {}))

    @group.command()
    def rollback(trial: TrialOpt, key: KeyOpt, url: UrlOpt, note: NoteOpt = "") -> None:
        """Roll staged cohorts back: every participant is served by control from then on."""
        answer = send("rollback", trial=trial, key=key, url=url, body={"note": note} if note else {})
        out.print(f"trial {answer.get('trial_id', '?')}: rolled back to control; "
                  f"{answer.get('status', '?')}", highlight=False)

    @group.command("set")
    def set_parameter(
        assignment: Annotated[str, typer.Argument(help="MECHANISM.PARAMETER=VALUE (VALUE read as JSON, "
                                                       "else as a string)")],
        trial: TrialOpt, key: KeyOpt, url: UrlOpt, note: NoteOpt = "",
    ) -> None:
        """Set a parameter the mechanism declares live-changeable."""
        from flagship.mechanisms import InputError, Problem  # noqa: PLC0415

        target, equals, text = assignment.partition("=")
        mechanism, dot, parameter = target.partition(".")
        if not equals or not dot or not mechanism or not parameter:
            raise InputError([Problem("ASSIGNMENT",
                                      f"expected MECHANISM.PARAMETER=VALUE, got {assignment!r}")])
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        body: dict[str, Any] = {"mechanism": mechanism, "parameter": parameter, "value": value}
        if note:
            body["note"] = note
        _report(send("set", trial=trial, key=key, url=url, body=body))

    @group.command()
    def keygen(path: Annotated[Path, typer.Argument(help="where to write the private key (PEM)")]) -> None:
        """Make an operator key; prints the public key to list in the scenario's [live.operators]."""
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: PLC0415

        from flagship.mechanisms import InputError, Problem  # noqa: PLC0415
        from flagship.sandbox._live._operator_auth import public_key_text  # noqa: PLC0415

        if path.exists():
            raise InputError([Problem("PATH", f"{path} exists; an operator key is never overwritten")])
        key = Ed25519PrivateKey.generate()
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        path.chmod(0o600)
        out.print(public_key_text(key.public_key()), highlight=False)

    app.add_typer(group)
