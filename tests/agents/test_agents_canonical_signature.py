"""The canonical fast path of signature verification, checked request by request against the library.

``RequestVerifier`` accepts a canonically serialised signature without ``http-message-signatures``
parsing or building anything (``flagship.agents._canonical_signature``). Its claim: it only
accepts what the library's own path accepts, with the same agent, nonce and times, and every
refusal is the library's. Here every request, signed then edited by one of many mutations
(hypothesis picks the request and the edit), goes through two verifiers: the real one, and one
whose fast path is switched off. Their answers must be equal. Signed, unedited requests must
take the fast path, or it would be dead code that the differential check passes trivially.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flagship.agents import (
    AgentIdentity,
    AgentRegistry,
    RequestRejected,
    RequestRejectReason,
    RequestVerifier,
    VerifiedRequest,
    WebBotAuth,
    _signatures,
)
from flagship.agents import _canonical_signature as canonical
from tests._benchmarks import load_benchmark

T0 = 1_700_000_000
AGENT = AgentIdentity.from_seed(bytes(range(32)))
STRANGER = AgentIdentity.from_seed(b"\x05" * 32)  # not registered
Fields = dict[str, str]
Request = tuple[str, str, Fields, bytes]  # method, url, fields, body


class LibraryOnly(RequestVerifier):
    """The verifier with its fast path switched off: the library's path for every request."""

    def _canonical(self, *arguments: Any) -> None:
        return None


def verifiers() -> tuple[RequestVerifier, RequestVerifier]:
    return RequestVerifier(AgentRegistry([AGENT])), LibraryOnly(AgentRegistry([AGENT]))


def signed(method: str, url: str, body: bytes, idempotency_key: str | None,
           identity: AgentIdentity = AGENT) -> Request:
    headers = {"content-type": "application/json"}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    request = httpx.Request(method, url, content=body, headers=headers)
    WebBotAuth(identity, clock=lambda: T0).sign(request)
    return method, str(request.url), dict(request.headers.items()), body


def took_fast_path(verifier: RequestVerifier, request: Request, now: float = T0 + 1) -> bool:
    method, url, fields, body = request
    lines: dict[str, list[str]] = {}
    for name, value in fields.items():
        lines.setdefault(name.lower(), []).append(value)
    has_query = bool(url.partition("#")[0].partition("?")[2])  # as verify() reads it
    shape = _signatures._Shape("content-digest" in lines, has_query, "idempotency-key" in lines)
    message = _signatures._Request(method=method, url=url, headers=fields)
    return verifier._canonical(message, lines, body, now, shape) is not None


def both(request: Request, now: float = T0 + 1) -> tuple[Any, Any]:
    fast, library = verifiers()
    method, url, fields, body = request
    return (fast.verify(method, url, fields, body, now=now),
            library.verify(method, url, fields, body, now=now))


def field(fields: Fields, name: str) -> str:
    return next(key for key in fields if key.lower() == name)


def edit(name: str, change: Callable[[str], str]) -> Callable[[Request], Request]:
    def mutate(request: Request) -> Request:
        method, url, fields, body = request
        key = field(fields, name)
        return method, url, {**fields, key: change(fields[key])}, body
    return mutate


def other_signature(request: Request) -> Request:
    method, url, fields, body = request
    forged = signed(method, url, body, None, STRANGER)[2]
    # the stranger's signature over the same request, presented under the agent's keyid
    signature_input = fields[field(fields, "signature-input")]
    return method, url, {**fields, field(fields, "signature"): forged["signature"],
                         field(fields, "signature-input"): signature_input}, body


MUTATIONS: dict[str, Callable[[Request], Request]] = {
    "none": lambda request: request,
    "body byte": lambda r: (r[0], r[1], r[2], r[3][:-1] + bytes([r[3][-1] ^ 1]) if r[3] else b"x"),
    "path": lambda r: (r[0], r[1].replace("/v1/", "/v2/", 1), r[2], r[3]),
    "query added": lambda r: (r[0], r[1] + ("&" if "?" in r[1] else "?") + "limit=1000", r[2], r[3]),
    "method": lambda r: ("PUT" if r[0] != "PUT" else "POST", r[1], r[2], r[3]),
    "authority": lambda r: (r[0], r[1].replace("market.example", "evil.example", 1), r[2], r[3]),
    "default port": lambda r: (r[0], r[1].replace("market.example", "market.example:443", 1), r[2], r[3]),
    "upper-case host": lambda r: (r[0], r[1].replace("market.example", "MARKET.example", 1), r[2], r[3]),
    "fragment": lambda r: (r[0], r[1] + "#top", r[2], r[3]),
    "lower-case method": lambda r: (r[0].lower(), r[1], r[2], r[3]),
    "stranger's signature": other_signature,
    "created with a leading zero": edit("signature-input", lambda v: v.replace("created=", "created=0")),
    "parameters reordered": edit("signature-input", lambda v: re.sub(
        r";(created=\d+);(keyid=\"[^\"]*\")", r";\2;\1", v)),
    "space after a semicolon": edit("signature-input", lambda v: v.replace(";created", "; created")),
    "space before the value": edit("signature-input", lambda v: " " + v),
    "unknown parameter": edit("signature-input", lambda v: v + ';extra="1"'),
    "repeated parameter": edit("signature-input", lambda v: v + ';tag="web-bot-auth"'),
    "integer nonce": edit("signature-input", lambda v: re.sub(r'nonce="[^"]*"', "nonce=12", v)),
    "other tag": edit("signature-input", lambda v: v.replace('"web-bot-auth"', '"other"')),
    "upper-case component": edit("signature-input", lambda v: v.replace('"@path"', '"@PATH"')),
    "component parameter": edit("signature-input", lambda v: v.replace('"content-digest"',
                                                                       '"content-digest";sf')),
    "repeated component": edit("signature-input", lambda v: v.replace('"@path"', '"@path" "@path"')),
    "unknown derived component": edit("signature-input", lambda v: v.replace('"@path"', '"@status"')),
    "uncovered field": edit("signature-input", lambda v: v.replace('"@path"', '"x-absent"')),
    "second label": edit("signature-input", lambda v: v + ", " + v.replace("sig1=", "sig2=", 1)),
    "label renamed": edit("signature", lambda v: v.replace("sig1=", "sig2=", 1)),
    "signature truncated": edit("signature", lambda v: v[:-4] + ":"),
    "signature bit": edit("signature", lambda v: v[:6] + ("A" if v[6] != "A" else "B") + v[7:]),
    "digest spaced": edit("content-digest", lambda v: f"  {v}  "),
    "digest with sha-512": edit("content-digest", lambda v: v + ", sha-512=:" + base64.b64encode(
        hashlib.sha512(b"").digest()).decode() + ":"),
    "digest of another body": edit("content-digest", lambda v: "sha-256=:" + base64.b64encode(
        hashlib.sha256(b"other").digest()).decode() + ":"),
    "covered field with a tab": edit("content-type", lambda v: v + "\tcharset=utf-8"),
    "idempotency key changed": lambda r: (r[0], r[1], {**r[2], "idempotency-key": "another"}, r[3]),
}

# URL characters as RFC 3986 allows them in a path or query, percent-escapes included
_PATH = [*"abcXYZ019-._~!$&'()*+,;=:@", "%2F", "%41", "%e2%82%ac"]
segments = st.lists(st.sampled_from(_PATH), min_size=1, max_size=8).map("".join)
paths = st.lists(segments, min_size=1, max_size=3)
queries = st.none() | st.lists(st.sampled_from([*_PATH, "/", "?", "=", "&"]), max_size=12).map("".join)
requests = st.builds(
    lambda method, segments, query, body, key: signed(
        method, "https://market.example/v1/" + "/".join(segments) + ("" if query is None else "?" + query),
        body, key),
    st.sampled_from(["POST", "PUT", "DELETE", "GET"]), paths, queries, st.binary(max_size=64),
    st.none() | st.text("abcdef0123456789-", min_size=1, max_size=16),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=requests, mutation=st.sampled_from(sorted(MUTATIONS)),
       skew=st.sampled_from([1, -10, 70]))
def test_the_fast_path_answers_exactly_as_the_library(request: Request, mutation: str, skew: int) -> None:
    try:
        mutated = MUTATIONS[mutation](request)
    except (IndexError, StopIteration, httpx.InvalidURL):
        return  # an edit that does not apply to this request (no such field)
    fast, library = both(mutated, now=T0 + skew)
    assert fast == library, mutation


@settings(max_examples=100, deadline=None)
@given(request=requests)
def test_every_request_our_signer_writes_takes_the_fast_path(request: Request) -> None:
    fast, _ = verifiers()
    assert took_fast_path(fast, request)
    assert isinstance(fast.verify(*request, now=T0 + 1), VerifiedRequest)


@pytest.mark.parametrize("mutation", ["created with a leading zero", "space before the value",
                                      "digest with sha-512", "parameters reordered", "second label"])
def test_a_valid_signature_in_another_serialisation_takes_the_librarys_path(mutation: str) -> None:
    request = MUTATIONS[mutation](signed("POST", "https://market.example/v1/bids", b"{}", "k1"))
    fast, library = both(request)
    assert not took_fast_path(verifiers()[0], request)
    assert fast == library  # verified or refused, as the library decides


def test_the_library_accepts_what_only_it_can_read_and_the_fast_path_defers() -> None:
    # A leading zero in an integer is valid RFC 8941 that the library re-serialises canonically, so
    # the signature still verifies there: the fast path must defer, not refuse.
    request = MUTATIONS["created with a leading zero"](signed("POST", "https://market.example/v1/x", b"1",
                                                              None))
    fast, library = both(request)
    assert isinstance(fast, VerifiedRequest) and fast == library


@pytest.mark.parametrize(("mutation", "reason"), [
    ("body byte", RequestRejectReason.DIGEST_MISMATCH),
    ("path", RequestRejectReason.BAD_SIGNATURE),
    ("stranger's signature", RequestRejectReason.BAD_SIGNATURE),
    ("other tag", RequestRejectReason.WRONG_TAG),
    ("integer nonce", RequestRejectReason.MALFORMED),
])
def test_refusals_keep_the_librarys_reason_codes(mutation: str, reason: RequestRejectReason) -> None:
    request = MUTATIONS[mutation](signed("POST", "https://market.example/v1/bids", b"{}", "k1"))
    fast, library = both(request)
    assert isinstance(fast, RequestRejected) and fast.reason is reason and fast == library


def test_parse_reads_parameters_by_type_and_refuses_what_it_cannot_prove_canonical() -> None:
    signature = "sig1=:" + base64.b64encode(bytes(64)).decode() + ":"
    good = '("@method" "content-digest");created=5;keyid="k";nonce="n";tag="web-bot-auth"'
    parsed = canonical.parse("sig1=" + good, signature)
    assert parsed is not None
    assert parsed.components == ("@method", "content-digest")
    assert parsed.parameters == {"created": 5, "keyid": "k", "nonce": "n", "tag": "web-bot-auth"}
    assert parsed.signature_params == good and parsed.signature == bytes(64)
    for bad in (good.replace("created=5", 'created="5"'), good.replace('keyid="k"', "keyid=5"),
                good.replace("created=5", "created=-5"), good + ";created=6", "()" + good[24:],
                good.replace('"@method"', '"@method";req')):
        assert canonical.parse("sig1=" + bad, signature) is None, bad
    assert canonical.parse("sig2=" + good, signature) is None  # labels differ
    assert canonical.parse("sig1=" + good, signature.replace("==:", "=:")) is None


def test_digest_matches_only_a_lone_sha256_member() -> None:
    value = "sha-256=:" + base64.b64encode(hashlib.sha256(b"body").digest()).decode() + ":"
    assert canonical.digest_matches(value, b"body") is True
    assert canonical.digest_matches(value, b"Body") is False
    assert canonical.digest_matches(value + ", sha-512=:AAAA:", b"body") is None
    assert canonical.digest_matches(" " + value, b"body") is None


def test_the_benchmarks_peer_verifies_the_same_batch_on_the_librarys_path() -> None:
    bench = load_benchmark("bench_signatures")
    batch = bench.signed_requests(WebBotAuth(AGENT, clock=lambda: bench.NOW), 3)
    bench.verify_all(RequestVerifier(AgentRegistry([AGENT])), batch)  # SystemExit on a refusal
    bench.verify_all(bench.LibraryOnly(AgentRegistry([AGENT])), batch)
    first: Request = (batch[0].method, str(batch[0].url), dict(batch[0].headers.items()), batch[0].content)
    assert took_fast_path(RequestVerifier(AgentRegistry([AGENT])), first, bench.NOW)
    assert not took_fast_path(bench.LibraryOnly(AgentRegistry([AGENT])), first, bench.NOW)
