"""The outbox sends many deliveries at once (tenants.outbox): against real HTTP receivers on
loopback that take their time, a hundred deliveries go out in about the time of a few, each
exactly once; a receiver that fails is tried again later, and a worker that dies mid-batch
leaves its rows to be sent once more after the lease, under the same delivery id; tenants take
turns, so one customer's backlog (or its slow receiver) does not hold up another's page; and
two workers never send the same row."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connections
from django.utils import timezone

from notifications import delivery
from notifications.message import Message
from notifications.models import Channel, Delivery
from notifications.senders import new_signing_secret
from tenants.outbox import PER_TENANT
from tenants.rls import rls_bypass
from tenants.sealed import seal
from tests.factories import TenantFactory

OUTBOX = delivery.OUTBOX


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the listen backlog: dozens of connections arrive at once


class Receiver:
    """A customer's webhook endpoint on 127.0.0.1: counts what arrives by its `webhook-id`
    (the delivery id, the receiver's key to drop repeats), answers `status` after `delay`
    seconds, and remembers how many requests it held at once."""

    def __init__(self, delay: float = 0.0, status: int = 204):
        self.delay, self.status = delay, status
        self.seen: Counter[str] = Counter()
        self.arrived: dict[str, float] = {}  # first arrival, time.monotonic()
        self.holding = self.most_at_once = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.seen[self.headers["webhook-id"]] += 1
                    receiver.arrived.setdefault(self.headers["webhook-id"], time.monotonic())
                    receiver.holding += 1
                    receiver.most_at_once = max(receiver.most_at_once, receiver.holding)
                time.sleep(receiver.delay)
                with receiver.lock:
                    receiver.holding -= 1
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the receivers are on loopback
    settings.NOTIFICATIONS_CONCURRENCY = 32
    made: list[Receiver] = []

    def make(delay: float = 0.0, status: int = 204) -> Receiver:
        made.append(Receiver(delay, status))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def webhook_channel(tenant, url: str) -> Channel:
    with rls_bypass("test fixture: channels"):
        return Channel.objects.create(
            tenant=tenant,
            name="SOC webhook",
            kind="webhook",
            sealed_secrets=seal({"url": url, "signing_secret": new_signing_secret()}),
        )


def queue(channel: Channel, count: int, due=None, event_type="sla.breached") -> list[Delivery]:
    """`count` deliveries of `event_type` to `channel`, due at `due` (now)."""
    due = due or timezone.now()
    message = Message(
        event_type="sla.breached",
        subject_key=f"test:{channel.pk}",
        tenant_name=channel.tenant.name,
        title="SLA acknowledge breached",
        text="",
        severity="high",
        url="https://portal.example/",
    )
    rows = [
        Delivery(
            tenant=channel.tenant,
            channel=channel,
            kind=channel.kind,
            event_type=event_type,
            title=message.title,
            message=asdict(message),
            key=f"test:{uuid.uuid4()}",
            next_attempt_at=due,
            created_at=due,
        )
        for n in range(count)
    ]
    with rls_bypass("test fixture: deliveries"):
        return Delivery.objects.bulk_create(rows)


def rows(*channels: Channel) -> list[Delivery]:
    with rls_bypass("test"):
        return list(Delivery.objects.dangerously_unscoped("test").filter(channel__in=channels))


@pytest.mark.django_db
def test_a_hundred_deliveries_to_a_slow_receiver_go_out_at_once_each_exactly_once(receivers):
    receiver = receivers(delay=0.1)
    channels = [webhook_channel(TenantFactory(), receiver.url) for _ in range(4)]
    outsider = webhook_channel(TenantFactory(), receivers().url)
    made = [row for channel in channels for row in queue(channel, 25)]
    taken, sent = OUTBOX.drain()
    assert [row.last_error for row in rows(*channels) if row.last_error] == []
    assert (taken, sent) == (100, 100)
    # At once, not one after another (how fast is bench/notify_storm.py's to measure, not a
    # unit test's: a timed bound here failed on a loaded CI machine).
    assert receiver.most_at_once > 8
    assert receiver.seen == Counter({str(row.pk): 1 for row in made})
    assert {row.status for row in rows(*channels)} == {"sent"}
    assert {row.attempts for row in rows(*channels)} == {1}
    assert rows(outsider) == []


@pytest.mark.django_db
def test_with_concurrency_one_deliveries_go_one_at_a_time(receivers, settings):
    settings.NOTIFICATIONS_CONCURRENCY = 1
    receiver = receivers(delay=0.02)
    channel = webhook_channel(TenantFactory(), receiver.url)
    made = queue(channel, 5)
    assert OUTBOX.deliver_batch() == (5, 5)
    assert receiver.most_at_once == 1
    assert receiver.seen == Counter({str(row.pk): 1 for row in made})


@pytest.mark.django_db
def test_a_receiver_that_answers_500_is_tried_again_later_not_lost(receivers):
    failing, working = receivers(status=500), receivers()
    broken = webhook_channel(TenantFactory(), failing.url)
    fine = webhook_channel(TenantFactory(), working.url)
    queue(broken, 3)
    queue(fine, 3)
    now = timezone.now()
    assert OUTBOX.deliver_batch(now) == (6, 3)
    waiting = rows(broken)
    assert {(row.status, row.attempts) for row in waiting} == {("pending", 1)}
    assert all("500" in row.last_error for row in waiting)
    assert all(row.next_attempt_at >= now + timedelta(seconds=59) for row in waiting)
    assert {row.status for row in rows(fine)} == {"sent"}
    # not due again before its backoff; then the receiver is back
    assert OUTBOX.deliver_batch(now + timedelta(seconds=30)) == (0, 0)
    failing.status = 204
    assert OUTBOX.deliver_batch(now + timedelta(seconds=61)) == (3, 3)
    assert {(row.status, row.attempts) for row in rows(broken)} == {("sent", 2)}
    assert failing.seen == Counter({str(row.pk): 2 for row in waiting})
    assert working.seen == Counter({str(row.pk): 1 for row in rows(fine)})


@pytest.mark.django_db
def test_rows_of_a_worker_that_died_mid_batch_are_sent_once_more_after_the_lease(receivers):
    receiver = receivers()
    channel = webhook_channel(TenantFactory(), receiver.url)
    queue(channel, 6)
    now = timezone.now()
    # the worker claims, sends half, and dies before it records anything
    claimed = OUTBOX.claim_batch(now, 10)
    assert len(claimed) == 6 and {row.attempts for row in claimed} == {1}
    for row in claimed[:3]:
        OUTBOX.send(row)
    # its claim holds until the lease lapses: nobody sends them meanwhile
    assert OUTBOX.deliver_batch(now + OUTBOX.lease - timedelta(seconds=1)) == (0, 0)
    assert OUTBOX.deliver_batch(now + OUTBOX.lease + timedelta(seconds=1)) == (6, 6)
    assert {(row.status, row.attempts) for row in rows(channel)} == {("sent", 2)}
    # at least once: the three it had sent arrive again, under the same id to drop them by
    sent_twice = {str(row.pk) for row in claimed[:3]}
    assert receiver.seen == Counter(
        {str(row.pk): 1 + (str(row.pk) in sent_twice) for row in claimed}
    )


@pytest.mark.django_db
def test_a_late_outcome_of_a_lapsed_claim_does_not_overwrite_the_next_workers(receivers):
    channel = webhook_channel(TenantFactory(), receivers().url)
    queue(channel, 1)
    now = timezone.now()
    (first,) = OUTBOX.claim_batch(now, 5)
    (second,) = OUTBOX.claim_batch(now + OUTBOX.lease + timedelta(seconds=1), 5)
    assert second.attempts == 2
    OUTBOX.record(first, now, RuntimeError("the first worker's late failure"))
    (row,) = rows(channel)
    assert row.attempts == 2 and row.last_error == ""


@pytest.mark.django_db
def test_a_tenants_backlog_does_not_hold_up_another_tenants_page(receivers):
    receiver = receivers()
    noisy = webhook_channel(TenantFactory(), receiver.url)
    quiet = webhook_channel(TenantFactory(), receiver.url)
    now = timezone.now()
    queue(noisy, 500, due=now - timedelta(minutes=5))
    (page,) = queue(quiet, 1, due=now)  # created after all of them, and due last
    with rls_bypass("test"):
        oldest = list(
            Delivery.objects.dangerously_unscoped("test")
            .filter(channel=noisy)
            .order_by("next_attempt_at", "pk")
            .values_list("pk", flat=True)[:PER_TENANT]
        )
    claimed = OUTBOX.claim_batch(now, 32)
    assert page.pk in {row.pk for row in claimed}
    assert Counter(row.tenant_id for row in claimed) == {
        noisy.tenant_id: PER_TENANT,
        quiet.tenant_id: 1,
    }
    # the noisy tenant's oldest go first among its own
    assert {row.pk for row in claimed if row.tenant_id == noisy.tenant_id} == set(oldest)


@pytest.mark.django_db
def test_one_at_a_time_still_takes_the_oldest_row_first(receivers, settings):
    settings.NOTIFICATIONS_CONCURRENCY = 1
    channel = webhook_channel(TenantFactory(), receivers().url)
    now = timezone.now()
    older = queue(channel, 1, due=now - timedelta(minutes=1))[0]
    queue(channel, 1, due=now)
    assert OUTBOX.claim(now).pk == older.pk


# --- two threads, two database connections: what is committed is what the others see ----------
def _in_thread(function, *args):
    """Run `function` on a thread of its own (its own database connection); its result."""
    result: list = []

    def run():
        try:
            result.append(function(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            result.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


@pytest.mark.slow
@pytest.mark.services("postgresql")
@pytest.mark.django_db(transaction=True)
def test_a_slow_receiver_of_one_tenant_does_not_hold_up_another_tenants_page(receivers):
    """A tenant whose receiver takes half a second has 100 deliveries in flight: a page of
    another tenant that comes due meanwhile goes out at the next free thread, not after
    them (about 6 s at PER_TENANT of the noisy tenant at once)."""
    slow, fast = receivers(delay=0.5), receivers()
    noisy = webhook_channel(TenantFactory(), slow.url)
    quiet = webhook_channel(TenantFactory(), fast.url)
    queue(noisy, 100)
    started = time.monotonic()
    thread, result = _in_thread(OUTBOX.drain)
    time.sleep(0.3)
    (page,) = queue(quiet, 1)
    thread.join(timeout=60)
    assert result == [(101, 101)]
    waited = fast.arrived[str(page.pk)] - started
    assert waited < 2.5, waited
    # the noisy tenant never held more threads than its share
    assert slow.most_at_once <= 2 * PER_TENANT
    assert len(slow.seen) == 100 and set(slow.seen.values()) == {1}


@pytest.mark.slow
@pytest.mark.services("postgresql")
@pytest.mark.django_db(transaction=True)
def test_two_workers_draining_at_once_never_send_the_same_row(receivers):
    receiver = receivers(delay=0.05)
    channels = [webhook_channel(TenantFactory(), receiver.url) for _ in range(10)]
    made = [row for channel in channels for row in queue(channel, 30)]
    first, first_result = _in_thread(OUTBOX.drain)
    second, second_result = _in_thread(OUTBOX.drain)
    first.join(timeout=60)
    second.join(timeout=60)
    (one,), (two,) = first_result, second_result
    assert one[0] + two[0] == 300 and one[1] + two[1] == 300
    assert one[0] > 0 and two[0] > 0  # both took a share
    assert receiver.seen == Counter({str(row.pk): 1 for row in made})
    assert {(row.status, row.attempts) for row in rows(*channels)} == {("sent", 1)}


@pytest.mark.django_db
@pytest.mark.parametrize("concurrency", [1, 32])
def test_a_tenant_over_its_rate_waits_for_the_next_minute_and_loses_nothing(
    receivers, settings, concurrency
):
    """A customer's flood is sent at its per-minute rate, the rest held (its attempt given
    back, never dead-lettered), while another customer's messages and its own pages go at
    once."""
    from tenants import ratelimit

    settings.NOTIFICATIONS_CONCURRENCY = concurrency
    settings.NOTIFICATIONS_TENANT_RATE_PER_MINUTE = 10
    receiver = receivers()
    noisy = webhook_channel(TenantFactory(), receiver.url)
    quiet = webhook_channel(TenantFactory(), receiver.url)
    now = timezone.now()
    flood = queue(noisy, 25, due=now - timedelta(minutes=1))
    pages = queue(noisy, 4, due=now, event_type="page")
    others = queue(quiet, 3, due=now)
    OUTBOX.drain(now)
    sent = set(receiver.seen)
    assert {str(row.pk) for row in pages + others} <= sent
    assert len(sent & {str(row.pk) for row in flood}) == 10
    held = [row for row in rows(noisy) if row.status == "pending"]
    assert len(held) == 15
    assert all(row.attempts == 0 and row.next_attempt_at > now for row in held)
    assert all("10 messages a minute" in row.last_error for row in held)
    # the next minutes (the windows reset) send the rest, each once
    for minute in (1, 2):
        ratelimit.limiter().storage.reset()
        OUTBOX.drain(now + timedelta(minutes=minute, seconds=1))
    assert all(row.status == "sent" for row in rows(noisy, quiet))
    assert set(receiver.seen.values()) == {1} and len(receiver.seen) == 32
