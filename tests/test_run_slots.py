"""Two runs of the suite on one machine never share a test database or a Redis database
(tests.services.claim_slot)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests import services

ROOT = Path(__file__).resolve().parent.parent


def _claim_in_another_process() -> int:
    code = "from tests.services import claim_slot; print(claim_slot())"
    out = subprocess.run(  # noqa: S603 - our own interpreter, fixed code
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


def test_another_run_gets_another_slot_and_so_its_own_databases(settings):
    ours = services.claim_slot()  # the slot this run holds (the embedded run claims one here)
    theirs = _claim_in_another_process()
    assert theirs != ours
    assert services.SLOT_REDIS_DBS[theirs - 1] != services.SLOT_REDIS_DBS[ours - 1]
    if os.environ.get("MSSP_TEST_SLOT"):  # this run's test database is named by its slot
        assert settings.DATABASES["default"]["TEST"]["NAME"] == f"test_mssp_{ours}"


def test_a_slot_is_free_again_when_its_run_ends():
    """The lock is the kernel's, released with the process, however it ended."""
    first = _claim_in_another_process()
    assert _claim_in_another_process() == first
