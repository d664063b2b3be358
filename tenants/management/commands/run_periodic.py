"""The embedded mode's scheduler: runs CELERY_BEAT_SCHEDULE's tasks in-process on their
intervals (with a broker, Celery beat does this instead). Started by `make run`."""

from __future__ import annotations

import logging
import time

from celery import current_app
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

logger = logging.getLogger("mssp.periodic")


class Command(BaseCommand):
    help = "Run the periodic tasks in-process (embedded mode, no Celery beat)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Run every task once, exit.")

    def handle(self, *args, once: bool = False, **options):
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            raise CommandError("A broker is configured: run `celery -A mssp beat` instead.")
        schedule = {
            name: (entry["task"], float(entry["schedule"]))
            for name, entry in settings.CELERY_BEAT_SCHEDULE.items()
        }
        current_app.loader.import_default_modules()  # the apps' tasks modules (autodiscovery)
        next_run = dict.fromkeys(schedule, 0.0)
        while True:
            now = time.monotonic()
            for name, (task, interval) in schedule.items():
                if now >= next_run[name]:
                    next_run[name] = now + interval
                    try:
                        current_app.tasks[task].apply()
                    except Exception:  # one failing run must not stop the schedule
                        logger.exception("periodic task %s failed", name)
            if once:
                return
            time.sleep(max(0.5, min(next_run.values()) - time.monotonic()))
