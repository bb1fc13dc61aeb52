"""The agent's side of Web Bot Auth: :class:`WebBotAuth` signs every request it sends.

What a signature covers and carries is the profile that ``_signatures`` states and verifies
(its module docstring); this module only makes signatures, with ``http-message-signatures``
building the signature base and the Content-Digest.
"""

from __future__ import annotations

import base64
import datetime
import math
import secrets
import time
from collections.abc import Callable, Generator

import httpx
from http_message_signatures import (
    HTTPMessageSignaturesException,
    HTTPMessageSigner,
    MappingKeyResolver,
    algorithms,
)

from flagship.agents._checks import finite_number
from flagship.agents._identity import AgentIdentity
from flagship.agents._signatures import (
    COVERED_COMPONENTS,
    IDEMPOTENCY_KEY,
    QUERY,
    SIGNATURE_AGENT,
    SIGNATURE_LABEL,
    WEB_BOT_AUTH_TAG,
)
from flagship.mechanisms._errors import InputError, Problem

__all__ = ["WebBotAuth"]

# 256 bits cannot collide by chance; longer nonces only cost time, since the
# structured-field code checks every character each time it parses or writes one.
_NONCE_BYTES = 32


def _timestamp(seconds: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)


class WebBotAuth(httpx.Auth):
    """httpx authentication that signs every request as the agent (Web Bot Auth profile).

    Works with ``httpx.Client`` and ``httpx.AsyncClient``.  Each request gets a
    Content-Digest of its body (the empty body's digest when it has none), ``@query``
    covered when the URL has a query string, ``idempotency-key`` when it is set and
    ``signature-agent`` when it is set (``signature_agent``: the operator's origin, which
    the live server groups identities' rate limits by),
    ``created`` = the clock's whole second, ``expires`` = created + ``ttl``, and a
    fresh nonce of 32 random bytes (base64url).  A Content-Digest the caller
    already set is kept if it matches the body; one that does not is an error.
    ``clock`` (unix seconds) exists for tests and simulations.

    Redirects that httpx follows are sent with the original request's signature,
    which covers the original path, so a verifier refuses them: sign-then-follow
    needs ``follow_redirects=False`` and a new request per hop.
    """

    requires_request_body = True

    def __init__(
        self,
        identity: AgentIdentity,
        *,
        ttl: int = 60,
        clock: Callable[[], float] = time.time,
        signature_agent: str | None = None,
    ) -> None:
        if not isinstance(identity, AgentIdentity):
            raise InputError(Problem("identity", "expected an AgentIdentity"))
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
            raise InputError(Problem("ttl", "expected a whole number of seconds > 0"))
        if signature_agent is not None and (not isinstance(signature_agent, str) or not signature_agent
                                            or '"' in signature_agent):
            raise InputError(Problem("signature_agent", "expected the operator's URL, e.g. "
                                                        "\"https://operator.example\""))
        self._agent_id = identity.agent_id
        self._key = identity.private_key
        self._signature_agent = None if signature_agent is None else f'"{signature_agent}"'
        self._ttl = ttl
        self._clock = clock
        self._signer = HTTPMessageSigner(
            signature_algorithm=algorithms.ED25519,
            key_resolver=MappingKeyResolver(
                public_keys={}, private_keys={identity.agent_id: identity.private_key}
            ),
        )

    @property
    def agent_id(self) -> str:
        """The key id every signature carries."""
        return self._agent_id

    def sign(self, request: httpx.Request) -> None:
        """Sign ``request`` in place (replacing any earlier signature); its body must be read."""
        created = math.floor(finite_number(self._clock(), "clock()"))
        if self._signature_agent is not None:
            request.headers["Signature-Agent"] = self._signature_agent
        try:
            # prepare() builds the signature base and parameters (what the library does well);
            # its sign() would then re-parse them and rebuild the base to guard an external
            # signer against a message changed meanwhile, doubling the cost of an in-process
            # signature. Signing here and writing the two fields is the whole of the rest.
            prepared = self._signer.prepare(
                request,
                key_id=self._agent_id,
                created=_timestamp(created),
                expires=_timestamp(created + self._ttl),
                nonce=secrets.token_urlsafe(_NONCE_BYTES),
                label=SIGNATURE_LABEL,
                tag=WEB_BOT_AUTH_TAG,
                covered_component_ids=(*COVERED_COMPONENTS,
                                       *((QUERY,) if request.url.query else ()),
                                       *((IDEMPOTENCY_KEY,) if IDEMPOTENCY_KEY in request.headers
                                         else ()),
                                       *((SIGNATURE_AGENT,) if SIGNATURE_AGENT in request.headers
                                         else ())),
                body=request.content,
                # Re-signing a retried request finds our own digest: keep it if it matches.
                use_existing_digest=True,
            )
        except HTTPMessageSignaturesException as exc:
            raise InputError(Problem("request", f"cannot sign this request: {exc}")) from exc
        signature = base64.b64encode(self._key.sign(prepared.signature_base)).decode("ascii")
        request.headers["Signature-Input"] = f"{prepared.label}={prepared.signature_params}"
        request.headers["Signature"] = f"{prepared.label}=:{signature}:"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """httpx hook: sign, then send."""
        self.sign(request)
        yield request
