"""30 simultaneous uploads against the server scripts/start.sh starts: none is reset.

Before issue 16 start.sh served with runserver (listen backlog 10), which reset 2-6 of 30
simultaneous uploads in 2 of 4 runs. It now starts gunicorn (backlog 2048, gunicorn.conf.py).
The figures for 30 and 100 uploads, and runserver's for comparison, are in
docs/reliability.md (``python -m tests.hostile.burst``).
"""
from __future__ import annotations

import pytest

from tests.hostile.burst import measure

pytestmark = pytest.mark.slow


def test_thirty_simultaneous_uploads_are_all_answered_by_gunicorn():
    (run,) = measure("gunicorn", uploads=30, runs=1)

    assert run["resets"] == 0, run
    assert sum(run["outcomes"].values()) == 30
    assert all(outcome.isdigit() and int(outcome) < 500 for outcome in run["outcomes"]), run
