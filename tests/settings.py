"""The test run's settings: mssp.settings, after pointing the environment at the PostgreSQL and
Redis on this machine when they are reachable (tests.services)."""

import os

from tests.services import configure_environment

configure_environment()
os.environ.setdefault("DB_POOL", "0")  # the test process swaps roles on its connection
# The test process is a developer's machine even on PostgreSQL and Redis, where DEBUG would
# default to off (mssp.settings); pytest-django turns it off while each test runs.
os.environ.setdefault("DEBUG", "1")

from mssp.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast, tests only
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# The test process runs tasks in-process; tests of the real worker start one (tests/live.py).
CELERY_TASK_ALWAYS_EAGER = True
# ... and deliver notifications at once, on the test's thread (tests of the embedded mode's
# delivery thread turn it on).
NOTIFICATIONS_BACKGROUND_THREAD = False
# ... and run the intake pipeline inside the request, so that a test reads the incident its
# post opened at once; the intake log's own tests (tests/intake/test_intake_log*.py) set "log".
INTAKE_MODE = "direct"
# ... and enrich observables without asking the machine's resolver (tests/connectors turn it on).
ENRICHMENT_DNS = False
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
# This run's own test database (tests.services.claim_slot), beside any other run's.
if os.environ.get("MSSP_TEST_SLOT"):
    DATABASES["default"]["TEST"] = {"NAME": f"test_mssp_{os.environ['MSSP_TEST_SLOT']}"}  # noqa: F405
if CACHES["default"]["BACKEND"].endswith("FileBasedCache"):  # noqa: F405
    # The embedded run's cache is its own, not the files of the developer's `make run`.
    import tempfile

    CACHES["default"]["LOCATION"] = tempfile.mkdtemp(prefix="mssp-test-cache-")  # noqa: F405
# Evidence files (cases.evidence) of this run in a directory of its own, not the developer's var/.
import tempfile as _tempfile  # noqa: E402
from pathlib import Path as _Path  # noqa: E402

MEDIA_ROOT = _Path(_tempfile.mkdtemp(prefix="mssp-test-media-"))
