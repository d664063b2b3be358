"""The embedded mode's notification worker. Without a broker, Celery runs a task on the
thread that enqueued it, which for deliveries is the SLA sweep's (after its commit): a
customer's webhook that takes its time, or a slow mail server, stalled the sweep, and with it
the scheduler's heartbeat. Here deliveries (of every registered outbox: tenants.outbox) run
on threads of their own, woken by the delivery tasks: the thread that fired never waits for a
receiver. An outbox that sends many rows at once (channel deliveries: NOTIFICATIONS_CONCURRENCY
of them, tenants taking turns) is drained by one thread with its own pool; one that sends one
row at a time (SLA notices) by SENDERS threads at once. Either way one slow receiver does not
hold up everyone else's notices. With a broker, workers on the `notifications` queue do this
instead.

Each delivery is bounded (tenants.webhooks.DEADLINE, EMAIL_TIMEOUT); rows are claimed in the
table (tenants.outbox), so the delivery threads of the server and of the scheduler never send
the same row twice, and one that dies mid-send leaves the row to be taken up again."""

from __future__ import annotations

import logging
import math
import threading
from concurrent.futures import ThreadPoolExecutor, wait

from django.db import connections

from tenants.outbox import Outbox, registered

logger = logging.getLogger("mssp.notify")
SENDERS = 4  # drains at once of an outbox that sends one row at a time (SLA notices)

_lock = threading.Lock()
_wake = threading.Event()  # work may be due
_idle = threading.Event()  # nothing asked for is left undone
_idle.set()
_thread: threading.Thread | None = None


def nudge() -> None:
    """Have the delivery thread send what is due (starting it if need be); returns at once."""
    global _thread
    with _lock:
        _idle.clear()
        _wake.set()
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="notification-delivery", daemon=True)
            _thread.start()


def wait_idle(timeout: float | None = None) -> bool:
    """Wait until every nudge so far has been acted on; False if `timeout` passed first."""
    return _idle.wait(timeout)


def _run() -> None:
    while True:
        _wake.wait()
        _wake.clear()
        _send_what_is_due()
        with _lock:
            if not _wake.is_set():
                _idle.set()


def _send_what_is_due() -> None:
    from . import notify  # noqa: F401 - registers the SLA notices' outbox

    # SLA notices, and every other app's (tenants.outbox): one drain of an outbox that sends
    # many rows at once itself, SENDERS of one that sends one at a time (SKIP LOCKED splits)
    drains = [
        outbox for outbox in registered() for _ in range(1 if outbox.workers() > 1 else SENDERS)
    ]
    with ThreadPoolExecutor(len(drains), thread_name_prefix="notification-drain") as pool:
        wait([pool.submit(_drain, outbox) for outbox in drains])


def _drain(outbox: Outbox) -> None:
    try:
        outbox.drain(max_seconds=math.inf)  # until nothing is due: this thread has no deadline
    except Exception:  # the next nudge (at the latest the 10-second beat) tries again
        logger.exception("notification delivery failed")
    finally:
        connections.close_all()  # this thread's own connections
