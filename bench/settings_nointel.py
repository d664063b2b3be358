"""The portal's settings with intake's threat-intelligence matching switched off (the intel
app's models load, its intake receiver is not connected): the "before" of the intake
benchmarks' --intel both runs. Bench only."""

from mssp.settings import *  # noqa: F403
from mssp.settings import INSTALLED_APPS

INSTALLED_APPS = [
    "bench.apps.IntelWithoutMatching" if app == "intel" else app for app in INSTALLED_APPS
]
