"""bench_telemetry_overhead.py and benchmarks/_callgrind.py: the callgrind mode's parts, without valgrind.

Under valgrind even the smallest case takes most of a minute, so the counting itself is not
run here (CI installs no valgrind either): what is checked is that every case's phase, the
one each valgrind child runs, still runs with telemetry on and off and records only when on;
that the child's command toggles collection on the function the phase is called through; and
that the count is read from callgrind's output file.
"""

from __future__ import annotations

import operator

import pytest

from tests._benchmarks import load_benchmark

bench = load_benchmark("bench_telemetry_overhead")
callgrind = load_benchmark("_callgrind")

CALLGRIND_OUT = """\
# callgrind format
version: 1
creator: callgrind-3.19.0
cmd:  python bench_telemetry_overhead.py --phase busy --telemetry on --seed 1
events: Ir
summary: 701226079
fl=(1) ???
fn=(1) 0x0000000000020a40
5 3

totals: 701226079
"""


def test_the_count_is_the_totals_line_of_the_output_file() -> None:
    assert callgrind.parse_totals(CALLGRIND_OUT) == 701_226_079
    assert callgrind.parse_totals("events: Ir\nsummary: 12\n") == 12
    with pytest.raises(ValueError, match="no totals"):
        callgrind.parse_totals("events: Ir\n")


def test_with_the_cache_simulator_every_event_comes_back_by_name() -> None:
    text = ("events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw\n"
            "summary: 900 300 100 5 40 7\ntotals: 900 300 100 5 40 7\n")
    assert callgrind.parse_events(text) == {"Ir": 900, "Dr": 300, "Dw": 100, "I1mr": 5, "D1mr": 40, "D1mw": 7,
                                            "ILmr": 0, "DLmr": 0, "DLmw": 0}
    assert callgrind.parse_totals(text) == 900
    assert "--cache-sim=yes" in callgrind.callgrind_command("b.py", [], "out", cache_sim=True)
    assert "--cache-sim=yes" not in callgrind.callgrind_command("b.py", [], "out")


def test_overhead_is_relative_to_the_phase_with_telemetry_off() -> None:
    assert bench.overhead(103.0, 100.0) == pytest.approx(0.03)
    assert bench.overhead(100.0, 100.0) == 0.0


def test_the_child_collects_only_inside_the_phase_call() -> None:
    command = bench.phase_command("pilot", False, 101, "/tmp/out")
    assert command[:6] == ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--collect-atstart=no",
                           "--toggle-collect=_operator_call", "--callgrind-out-file=/tmp/out"]
    assert command[-6:] == ["--phase", "pilot", "--telemetry", "off", "--seed", "101"]
    assert operator.call.__name__ == "call" and type(operator.call).__name__ == "builtin_function_or_method"


@pytest.mark.parametrize("case", bench.CASES)
def test_every_case_runs_its_phase_and_records_only_with_telemetry_on(case: str) -> None:
    recorded = {}
    for telemetry in (True, False):
        host = bench.one_phase(case, telemetry, 101 if case == "pilot" else 1, duration=2.0)
        result = host.finish()
        assert host.n_actions > 0
        recorded[telemetry] = len(result.counters) + len(result.summaries)
    assert recorded[True] > 0 and recorded[False] == 0


def test_the_handshake_says_ready_after_the_build_and_waits_for_a_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    read: list[str] = []

    class Stdin:
        def readline(self) -> str:
            read.append(capsys.readouterr().out)  # what the child had said when it waited
            return "go\n"

    monkeypatch.setattr("sys.stdin", Stdin())
    host = bench.one_phase("busy", True, 1, duration=1.0, handshake=True)
    assert read == ["ready\n"]
    assert host.env.now == 1.0
