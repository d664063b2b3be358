from celery import shared_task
from django.conf import settings

from . import escalation, heartbeat, services


@shared_task(ignore_result=True)
def sweep_clocks() -> tuple[int, int]:
    """Every second (beat, or run_periodic in the embedded mode)."""
    fired = services.sweep()
    escalation.sweep()
    services.sweep_others()  # remediation clocks of findings, registered by their app
    heartbeat.beat()  # only after a sweep that completed
    return fired


@shared_task(ignore_result=True)
def deliver_notifications() -> int:
    """After each firing's commit, and every 10 s (beat) for retries and lost tasks. In the
    embedded mode this runs on the thread that enqueued it (the sweep's): it only wakes the
    delivery thread, which sends."""
    if settings.CELERY_TASK_ALWAYS_EAGER and settings.NOTIFICATIONS_BACKGROUND_THREAD:
        from .delivery_thread import nudge

        nudge()
        return 0
    from .notify import deliver_due

    return deliver_due()
