"""``python -m flagship.sandbox._live._worker_main ARGS``: one worker of a split server (:mod:`._workers`).

A module of its own, which the package never imports, so that running it does not import the
module it runs twice.
"""

from __future__ import annotations

import json
import os
import sys

from flagship.sandbox._live._workers import worker_main

if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    worker_main(json.loads(sys.argv[1]))
