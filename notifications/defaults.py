"""A tenant's starting subscriptions, by service model (what a new customer hears before it
has chosen): an outsourced customer hears of high and critical incidents, every shared comment
and its SLA at risk or breached; a hybrid or in-house customer's team also hears of every
hand-off and what becomes of it, whatever the severity. Every customer hears of a
post-incident report shared with it."""

from __future__ import annotations

from tenants.models import Tenant, User

from .models import Channel, Event, Kind, Subscription

BY_SERVICE_MODEL: dict[str, list[tuple[list[str], str]]] = {
    # (events, min severity) subscriptions of the tenant's first channel
    Tenant.ServiceModel.OUTSOURCED: [
        ([Event.INCIDENT_OPENED], "high"),
        (
            [
                Event.INCIDENT_COMMENT,
                Event.SLA_AT_RISK,
                Event.SLA_BREACHED,
                Event.INCIDENT_REPORT_SHARED,
            ],
            "",
        ),
    ],
    Tenant.ServiceModel.HYBRID: [
        ([Event.INCIDENT_OPENED], "high"),
        (
            [
                Event.INCIDENT_COMMENT,
                Event.ESCALATION_REQUESTED,
                Event.ESCALATION_EXPIRED,
                Event.SLA_BREACHED,
                Event.INCIDENT_REPORT_SHARED,
            ],
            "",
        ),
    ],
    Tenant.ServiceModel.IN_HOUSE: [
        ([Event.INCIDENT_OPENED], "medium"),
        (
            [
                Event.ESCALATION_REQUESTED,
                Event.ESCALATION_EXPIRED,
                Event.SLA_BREACHED,
                Event.INCIDENT_REPORT_SHARED,
            ],
            "",
        ),
    ],
}


def subscribe_defaults(
    tenant: Tenant, email: str, *, name: str = "Security mailbox", by: User | None = None
) -> Channel:
    """An e-mail channel to `email` with the service model's default subscriptions."""
    channel: Channel = Channel.objects.create(
        tenant=tenant, name=name, kind=Kind.EMAIL, target=email, created_by=by
    )
    for events, min_severity in BY_SERVICE_MODEL.get(tenant.service_model, []):
        Subscription.objects.create(
            tenant=tenant, channel=channel, events=list(events), min_severity=min_severity
        )
    return channel
