"""Cold start of the ``flagship`` command: wall seconds per process, medians of N runs.

Each run is a new interpreter (``python -m flagship.sandbox …``) on a warm file cache, as a
user typing the command meets it. Timed, alternating so that machine noise hits every case
alike: a bare interpreter (``python -c pass``, the floor), ``flagship --help``, ``flagship
validate examples/posted_price.toml`` (which loads the contract and the registered plug-ins),
``flagship operator keygen`` (a command that needs neither the store nor a run), one
replication of ``examples/emergency_vote.toml`` in one process (a run that scores a survey, so
it pays for SciPy if it imports ``scipy.stats``) and ``flagship verify`` of that store (the
store's SQLAlchemy and Alembic). Run:

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
import tempfile
import time
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE = EXAMPLES / "posted_price.toml"
TARGET_HELP_SECONDS = 0.4


def cases(python: str, module: str, scratch: Path, attempt: int) -> dict[str, list[str]]:
    """The commands of one round; ``attempt`` names the files a command must not find there."""
    store = f"sqlite:///{scratch / f'run{attempt}.db'}"
    return {
        "python -c pass": [python, "-c", "pass"],
        "flagship --help": [python, "-m", module, "--help"],
        "flagship validate": [python, "-m", module, "validate", str(EXAMPLE)],
        "operator keygen": [python, "-m", module, "operator", "keygen", str(scratch / f"key{attempt}.pem")],
        "run (1 replication)": [python, "-m", module, "run", str(EXAMPLES / "emergency_vote.toml"),
                                "--replications", "1", "--workers", "1", "--db", store],
        "verify": [python, "-m", module, "verify", "--db", store],
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
    with tempfile.TemporaryDirectory() as directory:
        scratch = Path(directory)
        for command in cases(args.python, args.module, scratch, -1).values():  # warm the caches
            timed(command)
        times: dict[str, list[float]] = {name: [] for name in cases(args.python, args.module, scratch, 0)}
        for attempt in range(args.runs):
            for name, command in cases(args.python, args.module, scratch, attempt).items():
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
