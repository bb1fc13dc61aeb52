"""The ``flagship`` CLI as users run it: a subprocess, wide output, a timeout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FLAGSHIP = [sys.executable, "-m", "flagship.sandbox"]


def flagship(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run ``flagship ARGS`` in ``cwd`` and return the finished process (never raises on exit codes)."""
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([*FLAGSHIP, *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=timeout, check=False)
