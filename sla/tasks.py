from celery import shared_task

from . import heartbeat, services


@shared_task(ignore_result=True)
def sweep_clocks() -> tuple[int, int]:
    """Every second (beat, or run_periodic in the embedded mode)."""
    fired = services.sweep()
    heartbeat.beat()  # only after a sweep that completed
    return fired
