"""Throughput of Web Bot Auth signing and verification, and where verification time goes.

Run: python benchmarks/bench_signatures.py [--requests N]

Prints sign+verify pairs per second through ``flagship.agents.WebBotAuth`` /
``flagship.agents.RequestVerifier`` (http-message-signatures underneath), each half on
its own; verification again with the verifier's canonical fast path switched off (the
library's path for every request: the peer, same batch, same run) and the ratio of the two;
the cost of one bare Ed25519 verify (libsodium, which the verifier uses, against
OpenSSL's in the same run); and a cProfile of each verify path grouped by where the time is
spent.  Single process, single thread: the live
server's budget is about 500 verified requests/s on 2 cores.  Under a minute.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from nacl.signing import VerifyKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flagship.agents import AgentIdentity, AgentRegistry, RequestVerifier, VerifiedRequest, WebBotAuth

NOW = 1_700_000_000.0
URL = "https://market.example/v1/bids"
BODY = b'{"round": 3, "side": "buy", "price": 101.25, "quantity": 40, "note": "%s"}' % (b"x" * 120)


def per_second(count: int, seconds: float) -> str:
    return f"{count / seconds:10,.0f}/s  ({seconds / count * 1e6:7.1f} us each)"


def signed_requests(auth: WebBotAuth, count: int) -> list[httpx.Request]:
    requests = []
    for _ in range(count):
        request = httpx.Request("POST", URL, content=BODY)
        auth.sign(request)
        requests.append(request)
    return requests


class LibraryOnly(RequestVerifier):
    """The verifier with its canonical fast path switched off: the library's path for every request."""

    def _canonical(self, *arguments: object) -> None:
        return None


def verify_all(verifier: RequestVerifier, requests: list[httpx.Request]) -> None:
    for request in requests:
        result = verifier.verify(
            request.method, str(request.url), request.headers, request.content, now=NOW
        )
        if not isinstance(result, VerifiedRequest):
            raise SystemExit(f"benchmark request refused: {result}")


def timed(action: Callable[[], object], repeats: int = 5) -> float:
    """Best of ``repeats`` runs: the least disturbed by other load on a shared machine."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


def bare_ed25519_verify_us(agent: AgentIdentity, rounds: int) -> tuple[float, float]:
    """One bare Ed25519 verify: libsodium (what the verifier uses) and OpenSSL (its peer)."""
    message = b"x" * 300  # about the size of a signature base
    signature = agent.sign(message)
    key = agent.public_key
    sodium = VerifyKey(key.public_bytes_raw())

    def openssl() -> None:
        for _ in range(rounds):
            key.verify(signature, message)

    def libsodium() -> None:
        for _ in range(rounds):
            sodium.verify(message, signature)

    return timed(libsodium) / rounds * 1e6, timed(openssl) / rounds * 1e6


# Stages of the verify path, by (file suffix, function name); their cumulative
# times do not overlap, so the rest is the library's and our glue code.
STAGES = (
    ("parse Signature-Input + Signature (http_sf)", "signatures.py", "_parse_signature_dictionary"),
    ("component resolver setup (URL, headers)", "resolvers.py", "__init__"),
    ("signature base (resolve + SF serialise)", "signatures.py", "_build_signature_base"),
    ("Ed25519 verify (libsodium)", "~", "<built-in method _sodium.crypto_sign_open>"),
    ("Content-Digest check (library)", "signatures.py", "verify_body"),
    ("canonical fields parsed (agents)", "_canonical_signature.py", "parse"),
    ("canonical signature base (agents)", "_canonical_signature.py", "signature_base"),
    ("canonical Content-Digest check (agents)", "_canonical_signature.py", "digest_matches"),
    ("Web Bot Auth policy (agents)", "_signatures.py", "_policy_refusal"),
    ("replay cache (agents)", "_replay.py", "first_use"),
)


def profile_verify(verifier: RequestVerifier, requests: list[httpx.Request]) -> None:
    profiler = cProfile.Profile()
    profiler.runcall(verify_all, verifier, requests)
    stats = pstats.Stats(profiler)
    raw = stats.stats  # type: ignore[attr-defined]
    cumulative = {
        (filename, name): entry[3] for (filename, _, name), entry in raw.items()
    }
    total = next(t for (f, n), t in cumulative.items() if n == "verify_all")
    print(f"\n{type(verifier).__name__}'s verify path, cumulative time by stage ({len(requests)} requests, "
          "cProfile):")
    accounted = 0.0
    for label, suffix, name in STAGES:
        seconds = sum(t for (f, n), t in cumulative.items() if n == name and f.endswith(suffix))
        accounted += seconds
        print(f"  {seconds / total:6.1%}  {label}")
    print(f"  {(total - accounted) / total:6.1%}  rest: library control flow, agents glue")
    print("\ntop functions by own time:")
    stats.sort_stats("tottime").print_stats(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    count = parser.parse_args().requests

    agent = AgentIdentity.from_seed(bytes(range(32)))
    auth = WebBotAuth(agent, clock=lambda: NOW)

    def fresh_verifier() -> RequestVerifier:
        return RequestVerifier(AgentRegistry([agent]))

    signed_requests(auth, 200)  # warm-up
    verify_all(fresh_verifier(), signed_requests(auth, 200))

    sign_seconds = timed(lambda: signed_requests(auth, count))
    batch = signed_requests(auth, count)
    # A fresh verifier per run: the same batch again would be refused as replays.
    verify_seconds = timed(lambda: verify_all(fresh_verifier(), batch))
    library_seconds = timed(lambda: verify_all(LibraryOnly(AgentRegistry([agent])), batch))

    def pairs() -> None:
        verifier = fresh_verifier()
        for _ in range(count):
            request = httpx.Request("POST", URL, content=BODY)
            auth.sign(request)
            verify_all(verifier, [request])

    pair_seconds = timed(pairs)
    bare, openssl = bare_ed25519_verify_us(agent, 2_000)

    print(f"body {len(BODY)} bytes, {count} requests, one thread, best of 5 runs")
    print(f"sign+verify pairs   {per_second(count, pair_seconds)}")
    print(f"sign only           {per_second(count, sign_seconds)}")
    print(f"verify only         {per_second(count, verify_seconds)}")
    print(f"  library's path    {per_second(count, library_seconds)}  (the fast path switched off)")
    print(f"  fast path speed-up {library_seconds / verify_seconds:5.2f}x")
    print(f"bare Ed25519 verify {bare:7.1f} us  ({1e6 / bare:,.0f}/s) with libsodium; "
          f"OpenSSL's (the peer) {openssl:7.1f} us")
    share = bare / (verify_seconds / count * 1e6)
    print(f"Ed25519 share of a full verify: {share:.0%}")

    profiled = signed_requests(auth, min(count, 2000))
    profile_verify(fresh_verifier(), profiled)
    profile_verify(LibraryOnly(AgentRegistry([agent])), profiled)


if __name__ == "__main__":
    main()
