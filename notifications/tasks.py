from celery import shared_task
from django.conf import settings


@shared_task(ignore_result=True)
def deliver_deliveries() -> int:
    """After each commit that queued deliveries, and every 10 s (beat) for retries and lost
    tasks: sends what is due, NOTIFICATIONS_CONCURRENCY at once, until nothing is left (or for
    30 s: the next task goes on). In the embedded mode it only wakes the delivery thread
    (sla.delivery_thread), so that whoever published the event never waits for a receiver."""
    if settings.CELERY_TASK_ALWAYS_EAGER and settings.NOTIFICATIONS_BACKGROUND_THREAD:
        from sla.delivery_thread import nudge

        nudge()
        return 0
    from .delivery import drain

    return drain()[1]


@shared_task(ignore_result=True)
def sweep_pages() -> int:
    """Every 5 s (beat, or run_periodic in the embedded mode), and after a page starts: the
    next rule of every due page becomes a delivery."""
    from .paging import sweep

    return sweep()
