"""Operator request signatures: RFC 9421 HTTP Message Signatures with an operator's Ed25519 key.

The same signature profile participants use (covering ``@method @authority @path
content-digest``, with ``created``, ``expires`` and a ``nonce``), tagged
``flagship-operator`` and checked against the operator keys the scenario lists in
``[live.operators]`` (``name = "<base64url raw public key>"``), never a participant's. The
signature's ``keyid`` is the public key itself (as listed), so a key file is all a client needs.

Lifecycle: the CLI (or a test) builds an :class:`OperatorSigner` from a private key file and
signs each request with it (an ``httpx.Auth``); the operator routes build one
:class:`OperatorVerifier` per app and call :meth:`OperatorVerifier.verify` per request,
which returns the operator's name or raises :class:`~flagship.mechanisms.AuthError`
(401 unsigned or a bad signature, 403 signed by a key that is not an operator's).
"""

from __future__ import annotations

import base64
import datetime
import math
import secrets
import time
from collections.abc import Callable, Generator, Mapping
from pathlib import Path
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature as BadCryptoSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    InvalidSignature,
    algorithms,
)
from http_message_signatures.exceptions import HTTPMessageSignaturesException

from flagship.mechanisms import AuthError, InputError, Problem

__all__ = ["OPERATOR_TAG", "OperatorSigner", "OperatorVerifier", "load_private_key", "public_key_text"]

OPERATOR_TAG = "flagship-operator"
"""The ``tag`` signature parameter of an operator's signature."""

_COVERED = ("@method", "@authority", "@path", "content-digest")
_LABEL = "op1"


def public_key_text(key: Ed25519PublicKey) -> str:
    """The form ``[live.operators]`` lists a key in: base64url of the raw 32 bytes, unpadded."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _public_key(text: str) -> Ed25519PublicKey:
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return Ed25519PublicKey.from_public_bytes(raw)


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """An operator's private key from a PEM (PKCS#8) file; InputError naming the file otherwise."""
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise InputError([Problem("--key", f"cannot read an Ed25519 private key from {path}: "
                                           f"{exc}")]) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError([Problem("--key", f"{path} holds a {type(key).__name__}, not an Ed25519 key")])
    return key


class OperatorSigner(httpx.Auth):
    """httpx authentication signing every request with ``key`` under ``keyid`` (:func:`public_key_text`)."""

    requires_request_body = True

    def __init__(self, keyid: str, key: Ed25519PrivateKey, *, ttl: int = 60,
                 clock: Callable[[], float] = time.time) -> None:
        self.keyid = keyid
        self._key = key
        self._ttl = ttl
        self._clock = clock
        self._signer = HTTPMessageSigner(signature_algorithm=algorithms.ED25519,
                                         key_resolver=_Keys({}))

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign ``request``, then send it."""
        created = math.floor(self._clock())
        prepared = self._signer.prepare(
            request, key_id=self.keyid, created=_at(created), expires=_at(created + self._ttl),
            nonce=secrets.token_urlsafe(32), label=_LABEL, tag=OPERATOR_TAG,
            covered_component_ids=_COVERED, body=request.content)
        signature = base64.b64encode(self._key.sign(prepared.signature_base)).decode("ascii")
        request.headers["Signature-Input"] = f"{prepared.label}={prepared.signature_params}"
        request.headers["Signature"] = f"{prepared.label}=:{signature}:"
        yield request


def _at(seconds: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)


class _NotOperator(InvalidSignature):
    """Carries "not an operator's key" out through the library, which re-raises InvalidSignature as is."""


class _Keys(HTTPSignatureKeyResolver):
    def __init__(self, keys: Mapping[str, Ed25519PublicKey]) -> None:
        self.keys = keys

    def resolve_public_key(self, key_id: str) -> Ed25519PublicKey:
        key = self.keys.get(key_id)
        if key is None:
            raise _NotOperator(f"key {key_id!r} is not an operator's of this trial")
        return key


class _Message:
    def __init__(self, method: str, url: str, headers: Mapping[str, str]) -> None:
        self.method = method
        self.url = url
        self.headers = dict(headers)


class OperatorVerifier:
    """Checks operator signatures against the scenario's operator keys (see the module docstring)."""

    def __init__(self, operators: Mapping[str, str], *, max_age: float = 60.0, clock_skew: float = 5.0,
                 clock: Callable[[], float] = time.time, not_before: float | None = None) -> None:
        """``not_before``: the server's start (unix seconds). Nonces live in memory, so a
        signature created before that whole second is refused (``CREATED_BEFORE_START``): the
        process before a restart may have accepted it already."""
        problems: list[Problem] = []
        keys: dict[str, Ed25519PublicKey] = {}
        self._names: dict[str, str] = {}
        for name, text in sorted(operators.items()):
            try:
                keys[text] = _public_key(text)
                self._names[text] = name
            except (ValueError, TypeError):
                problems.append(Problem(f"live.operators.{name}",
                                        "expected base64url of a raw 32-byte Ed25519 public key"))
        if problems:
            raise InputError(problems)
        self._resolver = _Keys(keys)
        self._max_age = max_age
        self._skew = clock_skew
        self._clock = clock
        self._nonces: dict[tuple[str, str], float] = {}
        self._not_before = None if not_before is None else math.floor(not_before)

    def verify(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> str:
        """The operator who signed this request, or AuthError (401, or 403 for a non-operator key)."""
        lowered = {name.lower() for name in headers}
        if "signature" not in lowered or "signature-input" not in lowered:
            raise AuthError("UNAUTHENTICATED", "operator actions need an operator's request signature")
        verifier = HTTPMessageVerifier(signature_algorithm=algorithms.ED25519, key_resolver=self._resolver)
        message = _Message(method, url, headers)
        try:
            results: list[Any] = verifier.verify(message, max_age=datetime.timedelta(
                seconds=self._max_age + self._skew), expect_tag=OPERATOR_TAG)
            verifier.verify_body(message, results, body)
        except _NotOperator as exc:
            raise AuthError("NOT_OPERATOR", str(exc), status=403) from None
        except (HTTPMessageSignaturesException, BadCryptoSignature) as exc:
            if not any(name.lower() == "signature-input" and f'tag="{OPERATOR_TAG}"' in value
                       for name, value in headers.items()):
                # Signed, but in another profile (a participant's Web Bot Auth signature, say).
                raise AuthError("NOT_OPERATOR", "the request is signed, but not as an operator "
                                                f"(no signature tagged {OPERATOR_TAG})", status=403) from None
            raise AuthError("BAD_SIGNATURE", f"the operator signature does not verify: {exc}") from None
        if len(results) != 1:
            raise AuthError("BAD_SIGNATURE", "expected exactly one operator signature")
        params = results[0].parameters
        covered = {str(c) for c in results[0].covered_components}
        missing = [c for c in _COVERED if not any(item.startswith(f'"{c}"') for item in covered)]
        if missing:
            raise AuthError("BAD_SIGNATURE", f"the signature does not cover {missing}")
        keyid, nonce = str(params["keyid"]), str(params.get("nonce", ""))
        created = params.get("created")
        if self._not_before is not None and (not isinstance(created, int) or created < self._not_before):
            raise AuthError("CREATED_BEFORE_START", f"the signature's created parameter ({created}) is "
                                                    f"before this server started ({self._not_before}); "
                                                    "sign the request again")
        now = self._clock()
        self._nonces = {k: until for k, until in self._nonces.items() if until >= now}
        if not nonce or (keyid, nonce) in self._nonces:
            raise AuthError("BAD_SIGNATURE", "the signature's nonce is missing or was used already")
        self._nonces[(keyid, nonce)] = now + self._max_age + 2 * self._skew
        return self._names[keyid]
