"""The embedded mode's scheduler: runs CELERY_BEAT_SCHEDULE's tasks in-process on their
intervals (with a broker, Celery beat does this instead). Started by `make run`.

Each entry runs on a thread of its own, so a slow one (a scheduled hunt over much data, an
import taken up again) delays only its own next run, never the once-a-second SLA sweep,
whose heartbeat /healthz watches. Tasks run eagerly in this mode; the deliveries a sweep
queues are sent on the delivery thread (sla.delivery_thread), not on the sweep's."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from celery import current_app
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

logger = logging.getLogger("mssp.periodic")
MIN_PAUSE = 0.1  # seconds between two runs of one entry, however long the run took


def run_once(name: str, job: Callable[[], object]) -> None:
    try:
        job()
    except Exception:  # one failing run must not stop the schedule
        logger.exception("periodic task %s failed", name)


def run_lane(name: str, job: Callable[[], object], interval: float, stop: threading.Event) -> None:
    """Run `job` every `interval` seconds (from the start of one run to the next) until
    `stop` is set; a run longer than the interval is followed by the next at once."""
    while not stop.is_set():
        started = time.monotonic()
        run_once(name, job)
        close_old_connections()  # this thread's: a broken one is not kept for the next run
        stop.wait(max(MIN_PAUSE, interval - (time.monotonic() - started)))


def run_schedule(
    schedule: dict[str, tuple[Callable[[], object], float]], stop: threading.Event
) -> None:
    """Every entry on its own thread until `stop` is set."""
    lanes = [
        threading.Thread(target=run_lane, args=(name, job, interval, stop), name=f"periodic-{name}")
        for name, (job, interval) in schedule.items()
    ]
    for lane in lanes:
        lane.start()
    logger.info("running %d periodic tasks in-process: %s", len(lanes), ", ".join(schedule))
    try:
        while not stop.wait(1.0):
            pass
    finally:
        stop.set()
        for lane in lanes:
            lane.join()


class Command(BaseCommand):
    help = "Run the periodic tasks in-process (embedded mode, no Celery beat)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Run every task once, exit.")

    def handle(self, *args: Any, once: bool = False, **options: Any) -> None:
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            raise CommandError("A broker is configured: run `celery -A mssp beat` instead.")
        current_app.loader.import_default_modules()  # the apps' tasks modules (autodiscovery)
        schedule = {
            name: (current_app.tasks[entry["task"]].apply, float(entry["schedule"]))
            for name, entry in settings.CELERY_BEAT_SCHEDULE.items()
        }
        if once:
            for name, (job, _interval) in schedule.items():
                run_once(name, job)
            return
        stop = threading.Event()
        try:
            run_schedule(schedule, stop)
        except KeyboardInterrupt:
            stop.set()
