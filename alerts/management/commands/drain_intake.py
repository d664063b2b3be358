"""The intake log's drain (alerts.intake.log): runs the pipeline on accepted alerts in batches,
woken by the appends' notifications on PostgreSQL and every second whatever it heard. Runs
until SIGTERM or Ctrl-C; `make run` and `python -m mssp.serve` start one. Several may run at
once (on one machine or many): they never take the same row."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from alerts.intake import log

logger = logging.getLogger("mssp.intake")


class Command(BaseCommand):
    help = "Run the intake pipeline on the alerts waiting in the intake log, until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="Drain what is waiting now, then exit."
        )

    def handle(self, *args: Any, once: bool = False, **options: Any) -> None:
        if once:
            taken = log.drain()
            self.stdout.write(f"{taken} intake requests through the pipeline")
            return
        stop = threading.Event()

        def stopping(*_args: Any) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, stopping)
        signal.signal(signal.SIGINT, stopping)
        self.stdout.write(f"intake drain ready (every {log.FALLBACK_SECONDS:g} s at the latest)")
        self.stdout.flush()
        log.run_forever(stop)
