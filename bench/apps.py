"""Bench only: the intel app without its intake receiver (bench/settings_nointel.py)."""

from intel.apps import IntelConfig


class IntelWithoutMatching(IntelConfig):
    def ready(self) -> None:  # no alerts_ingested receiver: intake as before intel
        return None
