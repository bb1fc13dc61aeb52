"""The ``flagship`` CLI as users run it: a subprocess, wide output, a timeout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FLAGSHIP = [sys.executable, "-m", "flagship.sandbox"]


def flagship(*args: str, cwd: Path, timeout: float = 180,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``flagship ARGS`` in ``cwd`` and return the finished process (never raises on exit codes).

    ``env`` adds variables to the inherited environment (wide output is always set)."""
    environment = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run([*FLAGSHIP, *args], capture_output=True, text=True, cwd=cwd, env=environment,
                          timeout=timeout, check=False)
