"""What PagerDuty and Opsgenie send back: a responder who acknowledges (or resolves, closes)
the portal's page in the vendor's app acknowledges the portal's incident too, as themselves,
so the portal stops paging and the SLA acknowledge clock stops.

    POST /integrations/pagerduty/<channel id>/   PagerDuty Webhooks v3 (inbound_pagerduty)
    POST /integrations/opsgenie/<channel id>/    Opsgenie outgoing webhook (inbound_opsgenie)

The vendor parsers only read a body into an Inbound; every decision is here, once:

    the body is JSON of at most INBOUND_MAX_BYTES (256 KiB)                  415 / 413
    the URL names an active channel of this vendor's kind          404
    the channel has a webhook secret, and the request proves it    403 / 401
    the body is the vendor's shape, and not stale                  400
    an event other than acknowledged / resolved                    202, nothing done
    the same event again (the vendor retries)                      200, nothing done again
    the subject key names no incident of the channel's tenant      202, audited, nothing done
    the vendor's user maps to no one person of that tenant         200, recorded, not applied
    the portal's own action, as that person, with every check     200, applied or not

The channel alone decides the tenant: the incident is looked for among its tenant's only (a
key naming another tenant's incident reads as no incident), and the person must work that
tenant. The person is whoever has a contact method of the vendor's kind whose target names
the vendor's user (a PagerDuty user id; an Opsgenie username): their own claim, so the action
is checked exactly as if they clicked in the portal, and a viewer's acknowledgement is refused.

"Resolved" in the vendor is not a resolution in the portal, which needs one (true or false
positive, benign, duplicate) that the vendor does not give: it acknowledges a new incident and
says so on the timeline, and the analyst resolves in the portal.

Each event is recorded once, in the audit log ("paging.inbound", its object id the digest of
channel and event id), under a lock on the channel's row: a retried event finds it and does
nothing again."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from alerts.actions import ACKNOWLEDGE
from alerts.models import Incident, IncidentEvent, IncidentStatus
from tenants import audit, rls
from tenants.access import access_for
from tenants.actions import ActionError, error_sentence, perform
from tenants.models import AuditEvent, User
from tenants.sealed import SecretsUnreadable, unseal
from tenants.text import single_line

from .models import Channel, ContactMethod, Kind

logger = logging.getLogger("mssp.notify")

# A vendor's event is a few kilobytes; anything much larger is not one.
MAX_BYTES = 256 * 1024
# PagerDuty retries a failed delivery for a while; an event older than this is not acted on.
MAX_AGE = 6 * 3600


def max_bytes() -> int:
    return int(getattr(settings, "INBOUND_MAX_BYTES", MAX_BYTES))


AUDIT_ACTION = "paging.inbound"
EVENT_OBJECT = "notifications.inbound_event"
ACKNOWLEDGED, RESOLVED = "acknowledge", "resolve"
VENDOR: dict[str, str] = {Kind.PAGERDUTY: "PagerDuty", Kind.OPSGENIE: "Opsgenie"}
PAST = {ACKNOWLEDGED: "Acknowledged", RESOLVED: "Resolved"}


class Refused(Exception):
    """The request is not one to act on: its status and a sentence for the vendor's log."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


@dataclass(frozen=True)
class Inbound:
    """One vendor event as the portal needs it. `verb` is "" for an event it ignores."""

    event_id: str
    verb: str  # ACKNOWLEDGED, RESOLVED or ""
    event_type: str
    subject_key: str = ""  # PagerDuty's incident_key (the dedup_key sent), Opsgenie's alias
    agent: str = ""  # the vendor's user: a PagerDuty user id, an Opsgenie username
    agent_name: str = ""  # their name as the vendor says it, for the record
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class Outcome:
    status: int
    result: str  # ignored, duplicate, unknown_incident, applied, not_applied
    detail: str = ""

    def response(self) -> JsonResponse:
        return JsonResponse({"status": self.result, "detail": self.detail}, status=self.status)


# --- reading the request -----------------------------------------------------------------------
def read_json(request: HttpRequest) -> bytes:
    """The raw body: JSON, within INBOUND_MAX_BYTES (the declared length, then what came)."""
    media_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise Refused(415, f"Send application/json, not {media_type or 'no content type'}.")
    limit = max_bytes()
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise Refused(400, "Content-Length is not a number.") from None
    if declared > limit:
        raise Refused(413, f"The body is larger than {limit} bytes.")
    try:
        body = request.body
    except RequestDataTooBig:
        raise Refused(413, f"The body is larger than {limit} bytes.") from None
    if len(body) > limit:
        raise Refused(413, f"The body is larger than {limit} bytes.")
    return body


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "The body is not JSON.") from None
    if not isinstance(data, dict):
        raise Refused(400, "The body is not a JSON object.")
    return data


def text(value: Any, limit: int = 300) -> str:
    """A vendor's string field, one line and bounded ("" for anything else)."""
    return single_line(value, limit) if isinstance(value, str) else ""


def check_fresh(occurred_at: datetime | None) -> None:
    """Refused when the event is older than INBOUND_MAX_AGE, or from the future."""
    if occurred_at is None:
        return
    now = timezone.now()
    if occurred_at < now - timedelta(seconds=getattr(settings, "INBOUND_MAX_AGE", MAX_AGE)):
        raise Refused(400, "The event is stale: it happened too long ago to act on.")
    if occurred_at > now + timedelta(minutes=5):
        raise Refused(400, "The event is dated in the future.")


# --- the channel and its secret ------------------------------------------------------------------
def channel_for(kind: str, channel_id: uuid.UUID) -> tuple[Channel, str]:
    """The active channel the URL names, of this kind, and its webhook secret. Before its tenant
    is known the channel is read past row-level security, by its id alone (a random UUID)."""
    nowhere = Refused(404, f"No {VENDOR[kind]} channel here.")
    with rls.rls_bypass("inbound paging webhook: the channel its URL names"):
        channel: Channel | None = (
            Channel.objects.dangerously_unscoped("inbound webhook: the channel its URL names")
            .select_related("tenant")
            .filter(pk=channel_id)
            .first()
        )
    if channel is None or channel.kind != kind or not channel.is_active:
        raise nowhere
    if not channel.tenant.is_active:
        raise Refused(403, "This customer's channels are suspended.")
    try:
        secret = unseal(channel.sealed_secrets).get("webhook_secret", "")
    except SecretsUnreadable:
        secret = ""
    if not secret:
        raise Refused(
            403, "This channel has no webhook secret: set one on its settings page first."
        )
    return channel, secret


# --- acting ------------------------------------------------------------------------------------
Verify = Callable[[str], None]  # raises Refused(401) unless the request proves the secret
Parse = Callable[[dict[str, Any]], Inbound]


def receive(
    kind: str, channel_id: uuid.UUID, request: HttpRequest, verify: Verify, parse: Parse
) -> Outcome:
    """One request through the steps of the module docstring."""
    body = read_json(request)
    channel, secret = channel_for(kind, channel_id)
    verify(secret)
    event = parse(parse_json(body))
    if not event.verb:
        return Outcome(202, "ignored", f"{event.event_type or 'This event'} is not acted on.")
    check_fresh(event.occurred_at)
    return apply(channel, event)


def event_digest(channel: Channel, event: Inbound) -> str:
    return hashlib.sha256(f"{channel.kind}:{channel.pk}:{event.event_id}".encode()).hexdigest()


def apply(channel: Channel, event: Inbound) -> Outcome:
    """Act on `event` for `channel`'s tenant, once per event id."""
    tenant_id = channel.tenant_id
    digest = event_digest(channel, event)
    with rls.tenant_scope([tenant_id]):
        # one event of a channel at a time: a retry waits for the first, then finds it done
        Channel.objects.for_tenant(tenant_id).select_for_update().filter(pk=channel.pk).first()
        seen = AuditEvent.objects.for_tenant(tenant_id).filter(
            action=AUDIT_ACTION, object_type=EVENT_OBJECT, object_id=digest
        )
        if seen.exists():
            return Outcome(200, "duplicate", "This event was received before.")
        incident = _incident(tenant_id, event.subject_key)
        if incident is None:
            _record(channel, event, digest, None, None, "unknown_incident")
            return Outcome(202, "unknown_incident", "No incident of this channel's customer.")
        user, problem = _person(channel, event)
        if user is not None:
            problem = _perform(channel, event, incident, user)
        result = "not_applied" if problem else "applied"
        _record(channel, event, digest, incident, user, result, problem)
        return Outcome(200, result, problem or f"{PAST[event.verb]} in the portal.")


def _incident(tenant_id: int, subject_key: str) -> Incident | None:
    """The incident the subject key names ("incident:<id>"), among the tenant's only."""
    prefix, _, raw = subject_key.partition(":")
    if prefix != "incident":
        return None
    try:
        incident_id = uuid.UUID(raw)
    except ValueError:
        return None
    found: Incident | None = (
        Incident.objects.for_tenant(tenant_id)
        .select_related("tenant")
        .filter(pk=incident_id)
        .first()
    )
    return found


def _person(channel: Channel, event: Inbound) -> tuple[User | None, str]:
    """The one active person of the channel's tenant whose contact method of this kind names
    the vendor's user; else why not. (Contact methods are people's, not tenant rows.)"""
    vendor = VENDOR[channel.kind]
    if not event.agent:
        return None, f"{vendor} named no user who did it."
    target = event.agent.upper() if channel.kind == Kind.PAGERDUTY else event.agent.lower()
    claimed = (
        ContactMethod.objects.filter(kind=channel.kind, target=target, user__is_active=True)
        .select_related("user")
        .order_by("created_at")
    )
    people = {method.user.pk: method.user for method in claimed}
    working = [user for user in people.values() if channel.tenant_id in access_for(user).tenant_ids]
    if not working:
        return None, f"no portal user of this customer is {vendor} user {target}."
    if len(working) > 1:
        return None, f"more than one portal user claims {vendor} user {target}."
    return working[0], ""


def _perform(channel: Channel, event: Inbound, incident: Incident, user: User) -> str:
    """The portal's own acknowledge, as `user`, with every check; "" when done, else why not."""
    if incident.status != IncidentStatus.NEW:
        return f"the incident is already {IncidentStatus(incident.status).label.lower()}."
    access = access_for(user)
    try:
        with (
            transaction.atomic(),
            rls.tenant_scope([channel.tenant_id], user_id=user.pk, staff=access.is_mssp_staff),
        ):
            perform(ACKNOWLEDGE, access=access, target=incident, actor=user)
    except ActionError as exc:
        return error_sentence(exc.detail)
    return ""


def _record(
    channel: Channel,
    event: Inbound,
    digest: str,
    incident: Incident | None,
    user: User | None,
    result: str,
    problem: str = "",
) -> None:
    vendor = VENDOR[channel.kind]
    who = event.agent_name or event.agent or "someone"
    said = f"{PAST.get(event.verb, event.verb)} in {vendor} by {who}"
    if result == "unknown_incident":
        summary = f"{said}: {event.subject_key or 'no key'} names no incident of this customer"
    elif problem:
        summary = f"{said}, not applied: {problem}"
    elif event.verb == RESOLVED:
        summary = f"{said}: acknowledged here; resolve it in the portal (a resolution is needed)"
    else:
        summary = f"{said}: acknowledged here"
    entry = audit.entry(
        AUDIT_ACTION,
        actor=user,
        tenant=channel.tenant_id,
        summary=summary,
        data={
            "channel": str(channel.pk),
            "vendor": channel.kind,
            "event": event.event_id[:200],
            "event_type": event.event_type,
            "subject_key": event.subject_key[:300],
            "agent": event.agent[:200],
            "result": result,
            "incident": str(incident.pk) if incident else None,
        },
    )
    entry.object_type, entry.object_id = EVENT_OBJECT, digest
    entry.save(force_insert=True)
    if incident is not None:
        IncidentEvent.objects.create(
            tenant_id=incident.tenant_id,
            incident=incident,
            actor=user,
            actor_name=getattr(user, "username", "") or "",
            kind="paging.inbound",
            summary=summary[:500],
            data={"vendor": channel.kind, "agent": event.agent[:200], "result": result},
        )
    logger.info("inbound %s event %s: %s", channel.kind, result, channel.pk)


# --- the two endpoints ---------------------------------------------------------------------------
def endpoint(kind: str, verify_with: Callable[[HttpRequest, str], None], parse: Parse) -> Any:
    """The view of one vendor: no session, no CSRF token (the secret proves the sender)."""

    @csrf_exempt
    @require_POST
    def view(request: HttpRequest, channel_id: uuid.UUID) -> JsonResponse:
        try:
            outcome = receive(
                kind, channel_id, request, lambda secret: verify_with(request, secret), parse
            )
        except Refused as refused:  # raised before anything was written
            return JsonResponse(
                {"status": "refused", "detail": refused.detail}, status=refused.status
            )
        return outcome.response()

    return view
