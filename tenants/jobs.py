"""Enqueueing background work by task name.

Services decide that work must happen; tasks (workers) call services. Enqueueing by the task's
registered name keeps that one-way: a services module never imports its app's tasks module,
which imports the services (the import cycle every app had). The name is looked up in Celery's
registry, so the embedded mode's eager execution and the queues' routing apply as they do to
`task.delay()`, and a name that is not a task fails loudly instead of being sent nowhere.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from celery import current_app
from django.db import transaction


@cache
def _registry() -> Any:  # Celery's TaskRegistry (celery ships no type information)
    # Celery imports the apps' tasks modules when a worker starts; a web process (and the
    # embedded mode's eager tasks) may not have imported them yet.
    current_app.loader.import_default_modules()
    return current_app.tasks


def enqueue(task: str, *args: Any, on_commit: bool = True) -> None:
    """Send `task` (its registered name, "app.tasks.function") with `args`: after the current
    transaction commits (the default, so a worker never looks for a row not yet visible), or
    at once with `on_commit=False`."""
    registered = _registry()[task]  # KeyError: not a task

    def send() -> None:
        registered.delay(*args)

    if on_commit:
        transaction.on_commit(send)
    else:
        send()
