"""The embedded mode's scheduler (`manage.py run_periodic`): each schedule entry on a thread
of its own, so a slow one never delays the once-a-second SLA sweep."""

from __future__ import annotations

import threading
import time

from tenants.management.commands.run_periodic import run_schedule


def run_for(seconds: float, schedule) -> None:
    stop = threading.Event()
    runner = threading.Thread(target=run_schedule, args=(schedule, stop))
    runner.start()
    time.sleep(seconds)
    stop.set()
    runner.join(timeout=10)
    assert not runner.is_alive()


def test_a_slow_entry_does_not_delay_the_sweep():
    sweeps: list[float] = []
    hunts: list[float] = []

    def sweep():
        sweeps.append(time.monotonic())

    def slow_hunt():
        hunts.append(time.monotonic())
        time.sleep(1.5)

    run_for(3.0, {"sla-sweep": (sweep, 0.25), "scheduled-hunts": (slow_hunt, 0.25)})
    assert len(hunts) == 2  # at 0 s and 1.5 s: back to back, the interval being shorter
    assert len(sweeps) >= 10, sweeps
    assert max(b - a for a, b in zip(sweeps, sweeps[1:], strict=False)) < 0.75


def test_a_failing_entry_goes_on_running_and_stops_no_other():
    runs = {"failing": 0, "other": 0}

    def failing():
        runs["failing"] += 1
        raise RuntimeError("broken task")

    def other():
        runs["other"] += 1

    run_for(1.2, {"failing": (failing, 0.2), "other": (other, 0.2)})
    assert runs["failing"] >= 4 and runs["other"] >= 4
