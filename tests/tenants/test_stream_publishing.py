"""Publishing to the Redis channel layer from synchronous code (a gunicorn worker thread, a
Celery task) reuses one event loop per process and so its connections: a new loop per call
(async_to_sync) opened a new Redis connection per published event."""

from __future__ import annotations

import os
import threading

import pytest
import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from tenants import events

pytestmark = pytest.mark.services("redis")

PUBLISHES = 40


def connections_made() -> int:
    return int(redis.Redis.from_url(settings.REDIS_URL).info("stats")["total_connections_received"])


def publish_from_worker_threads(count: int) -> None:
    """As a thread pool's request threads do: no event loop of their own."""

    def publish(n: int) -> None:
        events._send("stream-publishing-test", {"type": "stream.events", "n": n})

    threads = [threading.Thread(target=publish, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
        thread.join()


def test_publishing_from_threads_reuses_its_connections():
    publish_from_worker_threads(2)  # the process's loop and its pool exist from here on
    before = connections_made()
    publish_from_worker_threads(PUBLISHES)
    # the one INFO connection of connections_made() itself, and a little slack
    assert connections_made() - before <= 3


def test_messages_still_arrive_in_order():
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)("stream-publishing-order", channel)
    try:
        for n in range(5):
            events._send("stream-publishing-order", {"type": "stream.events", "n": n})
        got = [async_to_sync(layer.receive)(channel)["n"] for _ in range(5)]
        assert got == [0, 1, 2, 3, 4]
    finally:
        async_to_sync(layer.group_discard)("stream-publishing-order", channel)


def test_a_forked_child_publishes_on_a_loop_of_its_own():
    publish_from_worker_threads(1)
    parent_loop = events._publishing.loop()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's publishing thread was not copied
        try:
            events._send("stream-publishing-test", {"type": "stream.events", "n": 0})
            ok = events._publishing.loop() is not parent_loop
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.waitpid(pid, 0)
    assert answer == b"1"
