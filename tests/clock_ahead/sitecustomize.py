"""Loaded by every Python process of `make test-future` (PYTHONPATH), which runs under
libfaketime with the real monotonic clock (FAKETIME_DONT_FAKE_MONOTONIC=1): faking it too
makes every timed wait (Event.wait, Timer, lock timeouts) sleep until the real clock reaches
the faked deadline, a year away. With the monotonic clock real, libfaketime 0.9.10 answers
Python's absolute-deadline time.sleep (clock_nanosleep on CLOCK_MONOTONIC) with EINVAL, so
time.sleep waits on an event instead: same duration, same clock."""

import threading
import time


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    threading.Event().wait(seconds)


time.sleep = _sleep
