"""Celery: reliable by configuration (see CELERY_* in settings): late acks, redelivery when a
worker dies, prefetch of one, tasks enqueued only after the transaction that asked commits."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mssp.settings")

app = Celery("mssp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
