"""pref_voting, the oracle of the differential tests, is the ``oracle`` extra, not the test extra.

Every pref_voting release pins numba < 0.63, which pins numpy < 2.4: below the numpy ``pip install .``
gives users, so the test extra leaves it out and the suite runs on the users' numpy. The modules that
compare against it (``test_democracy_pref_voting.py``, ``test_democracy_profile_study.py``) are marked
``oracle`` and skip themselves without it; CI runs them in a second phase with the extra installed
(``.ci/run``: ``pytest -m "not oracle"``, then the oracle extra's requirements and
``pytest -m oracle``). This test makes that phase fail, rather than skip everything, when the oracle is
missing under CI (``CI=true``), as the tests that need promtool or chromium do.
"""

from __future__ import annotations

import os
from importlib.util import find_spec

import pytest

pytestmark = pytest.mark.oracle


def test_the_oracle_is_installed() -> None:
    if find_spec("pref_voting") is None:
        message = "pref_voting is not installed (pip install -e '.[oracle]'): the differential tests need it"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
