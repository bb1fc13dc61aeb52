"""The fast path of signature verification: a request signed in the canonical form.

``http-message-signatures`` parses ``Signature-Input`` and ``Signature`` as Structured Fields,
serialises every covered component and the signature parameters again to build the signature
base, and parses ``Content-Digest`` to check the body: about three quarters of a signed
request's verification, in Python that checks every character, where the Ed25519 check itself
is a fifth. A signature whose two fields are already in their canonical serialisation (RFC 8941
section 4.1, which is what every conforming signer writes, our :class:`WebBotAuth` included)
needs none of that: its inner list, as it stands in the field, *is* the ``@signature-params``
line of the base, and its parameters read off with one regular expression.

What this module decides, and what it leaves to the library:

- :func:`parse` accepts only fields whose canonical form it can prove by its grammar: one
  member, a non-empty inner list of distinct plain component names (no component parameters),
  parameters that are the six the profile knows, each at most once and of the type the library
  requires (``created`` and ``expires`` integers without sign or leading zero; ``alg``,
  ``keyid``, ``nonce`` and ``tag`` strings of printable ASCII without ``"`` or ``\\``), and a
  64-byte signature in padded base64. Anything else returns None.
- :func:`signature_base` takes every component's value from the library's own component
  resolver (the same derivation of ``@authority``, ``@path``, ``@query``... and the same field
  joining), applies the library's checks on values (no CR or LF, printable, ASCII), and returns
  None for a derived component it does not list.
- :func:`digest_matches` checks a ``Content-Digest`` that is exactly one ``sha-256`` member;
  any other form returns None.

The verifier (``_signatures.RequestVerifier``) accepts on this path only when the signature
verifies over the base built here and the digest matches; on None, or any refusal, it runs the
library's path from the start, which gives the reason code. So the fast path can only accept
what the library accepts (tests/agents/test_agents_canonical_signature.py checks that, request
by request, against the library on signed, mutated and foreign requests); a field in another
valid serialisation costs the slow path, never a wrong answer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["CanonicalSignature", "digest_matches", "parse", "signature_base"]

_KEY = r"[a-z*][a-z0-9_\-.*]*"  # RFC 8941 key
_STRING = r'"[\x20\x21\x23-\x5b\x5d-\x7e]*"'  # a String that needs no escape
_INTEGER = r"(?:0|[1-9][0-9]{0,14})"  # a non-negative Integer, canonical
_NAME = r'"[a-z0-9@][a-z0-9\-]*"'
_INPUT = re.compile(
    rf"(?P<label>{_KEY})=(?P<params>\((?P<names>{_NAME}(?: {_NAME})*)\)"
    rf"(?P<tail>(?:;{_KEY}=(?:{_STRING}|{_INTEGER}))*))"
)
_PARAMETER = re.compile(rf';({_KEY})=(?:"([^"]*)"|([0-9]+))')
_SIGNATURE = re.compile(rf"(?P<label>{_KEY})=:(?P<value>[A-Za-z0-9+/]{{86}}==):")
_SHA256 = re.compile(r"sha-256=:([A-Za-z0-9+/]{43}=):")
# The parameters the profile knows, each with the type the library requires of it.
_INTEGER_PARAMETERS = frozenset({"created", "expires"})
_STRING_PARAMETERS = frozenset({"alg", "keyid", "nonce", "tag"})
_DERIVED = frozenset({"@method", "@target-uri", "@authority", "@scheme", "@request-target", "@path",
                      "@query"})  # those the library resolves with no parameter


@dataclass(frozen=True, slots=True)
class CanonicalSignature:
    """One signature read from canonical ``Signature-Input`` and ``Signature`` fields."""

    components: tuple[str, ...]
    """The covered component names, in the signed order."""
    parameters: dict[str, str | int]
    """The signature parameters by name (strings and integers, as the library parses them)."""
    signature_params: str
    """The inner list with its parameters exactly as it stands in the field: the base's last line."""
    signature: bytes


def parse(signature_input: str, signature: str) -> CanonicalSignature | None:
    """The one signature of these two field values, or None unless both are canonical."""
    found = _INPUT.fullmatch(signature_input)
    signed = _SIGNATURE.fullmatch(signature)
    if found is None or signed is None or found["label"] != signed["label"]:
        return None
    components = tuple(name[1:-1] for name in found["names"].split(" "))
    if len(set(components)) != len(components):
        return None  # the library refuses a repeated component
    if any(name.startswith("@") and name not in _DERIVED for name in components):
        return None  # ``_NAME`` admits "@" only first: every other name is a field
    parameters: dict[str, str | int] = {}
    for key, text, number in _PARAMETER.findall(found["tail"]):
        if key in parameters:
            return None  # a repeated key serialises once: the field would not be canonical
        if number and key in _INTEGER_PARAMETERS:
            parameters[key] = int(number)
        elif not number and key in _STRING_PARAMETERS:
            parameters[key] = text
        else:
            return None
    raw = base64.b64decode(signed["value"], validate=True)  # the pattern admits only valid base64
    return CanonicalSignature(components, parameters, found["params"], raw)


def signature_base(canonical: CanonicalSignature, resolver: Any) -> bytes | None:
    """The signature base over ``resolver``'s values (the library's component resolver of the
    request), or None where the library would refuse to build it or build it otherwise."""
    lines = []
    derived = resolver.derived_component_resolvers
    headers = resolver.headers
    for name in canonical.components:
        # The library's checks on values: printable (no CR or LF, so one line each), a derived
        # value without surrounding spaces, a field's with tabs allowed.
        if name.startswith("@"):
            value = derived[name](resolver)
            if not isinstance(value, str) or not _printable_derived(value):
                return None
        else:
            value = headers.get(name)
            if not isinstance(value, str) or not value.replace("\t", " ").isprintable():
                return None
        lines.append(f'"{name}": {value}')
    lines.append(f'"@signature-params": {canonical.signature_params}')
    base = "\n".join(lines)
    return base.encode("ascii") if base.isascii() else None


def _printable_derived(value: str) -> bool:
    return not value or (value.isprintable() and value[0] != " " and value[-1] != " ")


def digest_matches(content_digest: str, body: bytes) -> bool | None:
    """Whether a ``sha-256=:...:`` Content-Digest is the body's; None for any other form."""
    found = _SHA256.fullmatch(content_digest)
    if found is None:
        return None
    expected = base64.b64decode(found[1], validate=True)
    return hmac.compare_digest(expected, hashlib.sha256(body).digest())
