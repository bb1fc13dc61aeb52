"""Property-based API testing: schemathesis fuzzes every operation of /openapi.json on a real server.

Every check is on (server errors, status codes, content types and bodies conform to
the documented schemas, problem+json included) except "schema-valid data must be
accepted": a schema-valid POST may legitimately be refused (a reused
Idempotency-Key with another body is 422, a sold-out shop 409). Bounded by
examples per operation and by time.
"""

from __future__ import annotations

from pathlib import Path

from flagship.sandbox._live import EngineOptions
from tests.live._support import auth, build_live, fuzz_api, serving, write_scenario


def test_fuzzing_the_api_finds_no_server_error_and_no_schema_violation(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, shoppers=1, rate=0.2, time_factor=5.0,
                              limits="[live.limits]\nrate_per_second = 100000.0\nburst = 100000\n")
    live = build_live(f"sqlite:///{tmp_path / 'live.db'}", scenario, tmp_path,
                      options=EngineOptions(tick_seconds=0.05, measures_seconds=0))
    with serving(live) as server:
        fuzz_api(server.url, auth()["Authorization"].removeprefix("Bearer "), tmp_path / "st")
