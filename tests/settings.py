"""The test run's settings: mssp.settings, after pointing the environment at the PostgreSQL and
Redis on this machine when they are reachable (tests.services)."""

import os

from tests.services import configure_environment

configure_environment()
os.environ.setdefault("DB_POOL", "0")  # the test process swaps roles on its connection

from mssp.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast, tests only
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# The test process runs tasks in-process; tests of the real worker start one (tests/live.py).
CELERY_TASK_ALWAYS_EAGER = True
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
