"""The portal's settings plus one bench-only route: the baseline intake endpoint
(bench/baseline.py). Used by the benchmark process and by the daphne processes that serve the
baseline; the portal's own figures are measured with mssp.settings, unchanged."""

from mssp.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
