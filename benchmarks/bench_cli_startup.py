"""Cold start of the ``flagship`` command: wall seconds per process, medians of N runs.

Each run is a new interpreter (``python -m flagship.sandbox …``) on a warm file cache, as a
user typing the command meets it. Timed, alternating so that machine noise hits every case
alike: a bare interpreter (``python -c pass``, the floor), ``flagship --help`` and ``flagship
validate examples/posted_price.toml`` (which loads the contract and the registered plug-ins).
Run:

    python benchmarks/bench_cli_startup.py [--runs 10] [--python PATH]

``--python`` times another environment's interpreter (a checkout of an older commit, say) in
the same sitting; ``--module`` names its command module (``sandbox`` before the ``flagship``
namespace). The issue's target: ``--help`` median at most 0.4 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "posted_price.toml"
TARGET_HELP_SECONDS = 0.4


def cases(python: str, module: str) -> dict[str, list[str]]:
    return {
        "python -c pass": [python, "-c", "pass"],
        "flagship --help": [python, "-m", module, "--help"],
        "flagship validate": [python, "-m", module, "validate", str(EXAMPLE)],
    }


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--python", default=sys.executable, help="interpreter of the environment to time")
    parser.add_argument("--module", default="flagship.sandbox", help="the module that runs the command line")
    args = parser.parse_args()
    commands = cases(args.python, args.module)
    for command in commands.values():  # warm the file cache and any bytecode
        timed(command)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, command in commands.items():
            times[name].append(timed(command))
    floor = statistics.median(times["python -c pass"])
    print(f"{args.runs} runs each, {args.python}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:20s} median {median:.3f} s  min {min(values):.3f}  max {max(values):.3f}  "
              f"over the bare interpreter {median - floor:+.3f} s")
    help_median = statistics.median(times["flagship --help"])
    verdict = "within" if help_median <= TARGET_HELP_SECONDS else "OVER"
    print(f"flagship --help: median {help_median:.3f} s ({verdict} the {TARGET_HELP_SECONDS} s target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
