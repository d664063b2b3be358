"""What the SLA pages share: the refusal page, a form's first error, the order of urgency."""

from __future__ import annotations

from datetime import UTC, datetime

from django.shortcuts import render

from ..models import ClockState

LIVE_CLOCK_STATES = (ClockState.RUNNING, ClockState.AT_RISK)
URGENCY = ("respond_by", "-severity_rank", "created_at", "id")


def refuse(request, why: str):
    return render(request, "sla/refused.html", {"why": why}, status=403)


def first_error(form) -> str:
    for errors in form.errors.values():
        return errors[0]
    return "Check the form."


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
