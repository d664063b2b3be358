"""Hunts: saved searches over normalised alert fields and observables, run across the tenants
the runner works (the API's, the pages' and the scheduled runs' one query).

What a hunt may find is decided at every run by the runner's Access, never by the hunt: the
alerts are read with `for_tenants(access.tenant_ids)` inside the runner's row-level-security
scope, and a hunt naming tenants only narrows that set."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from rest_framework import serializers

from tenants import audit
from tenants.access import Access, access_for
from tenants.actions import Action, Refused
from tenants.models import Tenant
from tenants.rls import tenant_scope

from . import tlp
from .models import Alert, Hunt, HuntRun, IncidentObservable, Severity, SourceKind

logger = logging.getLogger("mssp.hunts")

OBSERVABLE_TYPES = ("ip", "domain", "url", "hostname", "user", "hash", "email")
SCHEDULE_EVERY = {Hunt.Schedule.HOURLY: timedelta(hours=1), Hunt.Schedule.DAILY: timedelta(days=1)}
MAX_LOOKBACK_DAYS = 90


class HuntQuery(serializers.Serializer):
    """What a hunt looks for; every field narrows (AND), empty ones are ignored."""

    q = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="Text in title or rule."
    )
    severity = serializers.ListField(
        child=serializers.ChoiceField(choices=Severity.choices), required=False, max_length=5
    )
    source_kind = serializers.ChoiceField(
        choices=SourceKind.choices, required=False, allow_blank=True
    )
    category = serializers.CharField(max_length=100, required=False, allow_blank=True)
    rule = serializers.CharField(
        max_length=255, required=False, allow_blank=True, help_text="Rule id or name contains."
    )
    mitre = serializers.RegexField(
        r"^T\d{4}(\.\d{3})?$",
        required=False,
        allow_blank=True,
        help_text="A MITRE ATT&CK technique id, e.g. T1110 or T1059.001.",
    )
    observable_type = serializers.ChoiceField(
        choices=[(t, t) for t in OBSERVABLE_TYPES], required=False, allow_blank=True
    )
    observable_value = serializers.CharField(max_length=500, required=False, allow_blank=True)
    tenants = serializers.ListField(
        child=serializers.SlugField(max_length=63),
        required=False,
        max_length=500,
        help_text="Slugs of tenants to search; none: every tenant the runner works.",
    )

    def validate(self, attrs):
        if attrs.get("observable_type") and not attrs.get("observable_value"):
            raise serializers.ValidationError(
                {"observable_value": "Give the value to look for with its type."}
            )
        if not any(v for k, v in attrs.items() if k != "tenants"):
            raise serializers.ValidationError(
                "A hunt needs at least one condition (text, severity, rule, observable ...)."
            )
        return {k: v for k, v in attrs.items() if v not in ("", [], None)}


class HuntSerializer(serializers.ModelSerializer):
    """A saved hunt, as the API shows and takes it (and the pages post it, see
    alerts.views.hunts._form_data)."""

    owner = serializers.CharField(source="owner.username", read_only=True)
    query = HuntQuery()
    lookback_days = serializers.IntegerField(min_value=1, max_value=MAX_LOOKBACK_DAYS, default=7)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)

    class Meta:
        model = Hunt
        fields = [
            "id",
            "name",
            "description",
            "owner",
            "query",
            "lookback_days",
            "shared",
            "schedule",
            "next_run_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "owner", "next_run_at", "created_at", "updated_at"]


def hunt_alerts(access: Access, query: dict, lookback_days: int, now: datetime | None = None):
    """The alerts `query` finds in the last `lookback_days` days, of the tenants `access` works
    (and the hunt names, if it names any), newest first. Run it inside the caller's scope."""
    now = now or timezone.now()
    tenant_ids = set(access.tenant_ids)
    if query.get("tenants"):
        named = Tenant.objects.filter(slug__in=query["tenants"], pk__in=tenant_ids)
        tenant_ids = set(named.values_list("pk", flat=True))
    alerts: QuerySet = Alert.objects.for_tenants(tenant_ids).filter(
        received_at__gte=now - timedelta(days=lookback_days)
    )
    if query.get("q"):
        alerts = alerts.filter(Q(title__icontains=query["q"]) | Q(rule_name__icontains=query["q"]))
    if query.get("severity"):
        alerts = alerts.filter(severity__in=query["severity"])
    if query.get("source_kind"):
        alerts = alerts.filter(source__kind=query["source_kind"])
    if query.get("category"):
        alerts = alerts.filter(category__iexact=query["category"])
    if query.get("rule"):
        alerts = alerts.filter(
            Q(rule_id__icontains=query["rule"]) | Q(rule_name__icontains=query["rule"])
        )
    if query.get("mitre"):
        alerts = _json_contains(alerts, "mitre", [query["mitre"]], query["mitre"])
    if query.get("observable_value"):
        value = query["observable_value"].strip()
        wanted = {"value": value}
        if query.get("observable_type"):
            wanted["type"] = query["observable_type"]
        alerts = _json_contains(alerts, "observables", [wanted], value)
    if len(tenant_ids) > 1:
        alerts = _comparable_across_customers(alerts, sorted(tenant_ids), query)
    return alerts


def _comparable_across_customers(alerts: QuerySet, tenant_ids: list[int], query: dict):
    """A hunt over several customers compares their data: it leaves out what PAP keeps with
    its customer (alerts.tlp, Use.CROSS_CUSTOMER): the alerts of a PAP:RED incident, and, when
    it looks for a value, those of an incident where that value is a PAP:RED observable."""
    barred = tlp.pap_barred(tlp.Use.CROSS_CUSTOMER)
    alerts = alerts.exclude(incident__pap__in=barred)
    value = (query.get("observable_value") or "").strip()
    if value:
        red = IncidentObservable.objects.for_tenants(tenant_ids).filter(
            incident_id=OuterRef("incident_id"), value=value, pap__in=barred
        )
        alerts = alerts.exclude(Exists(red))
    return alerts


def _json_contains(alerts: QuerySet, field: str, document: list, text: str) -> QuerySet:
    """jsonb containment on PostgreSQL (exact, and served by the document's own structure);
    the embedded mode's SQLite has no such operator, so there it is a text search of the
    stored JSON (a value found under another key matches too)."""
    if connection.vendor == "postgresql":
        return alerts.filter(**{f"{field}__contains": document})
    return alerts.annotate(**{f"{field}_text": Cast(field, TextField())}).filter(
        **{f"{field}_text__icontains": text}
    )


def hunts_for(access: Access) -> QuerySet:
    """The hunts a member of MSSP staff may see: their own and the shared ones."""
    if not access.is_mssp_staff:
        return Hunt.objects.none()
    return Hunt.objects.filter(Q(owner_id=access.user_id) | Q(shared=True))


def hunt_run(hunt: Hunt, access: Access, *, scheduled: bool = False) -> HuntRun:
    """Counts the hunt's hits per tenant, as `access` sees them, and records the run. Call it
    in `access`'s scope (a request's, or run_due_hunts')."""
    previous = hunt.runs.filter(status=HuntRun.Status.DONE).order_by("-started_at").first()
    run = HuntRun.objects.create(hunt=hunt, run_by_id=access.user_id, scheduled=scheduled)
    alerts = hunt_alerts(access, hunt.query, hunt.lookback_days, now=run.started_at)
    per_tenant = _per_tenant(alerts)
    run.per_tenant = per_tenant
    run.hits = sum(per_tenant.values())
    run.new_per_tenant = (
        _per_tenant(alerts.filter(received_at__gt=previous.started_at))
        if previous
        else dict(per_tenant)
    )
    run.new_hits = sum(run.new_per_tenant.values())
    run.status = HuntRun.Status.DONE
    run.finished_at = timezone.now()
    run.save()
    return run


def _per_tenant(alerts: QuerySet) -> dict[str, int]:
    return dict(
        alerts.order_by()
        .values_list("tenant__slug")
        .annotate(n=Count("id"))
        .values_list("tenant__slug", "n")
    )


def viewer_slugs(access: Access) -> frozenset[str]:
    """The slugs of the tenants `access` works: what a run's counts are cut down to."""
    return frozenset(Tenant.objects.filter(pk__in=access.tenant_ids).values_list("slug", flat=True))


def run_counts(run: HuntRun, mine: frozenset[str]) -> dict:
    """What a viewer who works the tenants `mine` is shown of a run, whoever ran it: hits per
    tenant, hits and new hits, all over the viewer's tenants only (a shared hunt's run by
    someone who works more tenants must not tell the viewer about the others, not even as a
    total). `new_hits` is None on a run recorded before new hits were kept per tenant, unless
    every tenant it counted is the viewer's."""
    per_tenant = {slug: n for slug, n in (run.per_tenant or {}).items() if slug in mine}
    if run.new_per_tenant is not None:
        new_hits = sum(n for slug, n in run.new_per_tenant.items() if slug in mine)
    elif set(run.per_tenant or {}) <= mine:  # every hit it counted (hence every new one)
        new_hits = run.new_hits
    else:
        new_hits = None
    return {"per_tenant": per_tenant, "hits": sum(per_tenant.values()), "new_hits": new_hits}


def schedule_next(hunt: Hunt, now: datetime | None = None) -> None:
    every = SCHEDULE_EVERY.get(hunt.schedule)
    hunt.next_run_at = (now or timezone.now()) + every if every else None


def _run_scheduled(hunt: Hunt, access: Access) -> None:
    """One scheduled run in a savepoint of its own: a run that fails is recorded as failed,
    and the schedule goes on (its next run is already moved), rather than the hunt failing
    the task every minute."""
    try:
        with tenant_scope(access.tenant_ids, user_id=access.user_id, staff=True):
            hunt_run(hunt, access, scheduled=True)
    except DatabaseError as exc:
        logger.exception("scheduled hunt %s failed", hunt.pk)
        HuntRun.objects.create(
            hunt=hunt,
            run_by_id=access.user_id,
            scheduled=True,
            status=HuntRun.Status.FAILED,
            finished_at=timezone.now(),
            error=str(exc)[:2000],
        )


def run_due_hunts(now: datetime | None = None, batch: int = 20) -> int:
    """Runs the scheduled hunts that are due, each as its owner (with the tenants the owner
    works now; an owner who left MSSP staff runs nothing). Each hunt is claimed with
    FOR UPDATE SKIP LOCKED and its next run moved before it runs, so two schedulers never
    run one twice."""
    now = now or timezone.now()
    done = 0
    while True:
        with transaction.atomic():
            hunt = (
                Hunt.objects.select_for_update(skip_locked=True)
                .select_related("owner")
                .filter(next_run_at__lte=now)
                .order_by("next_run_at")
                .first()
            )
            if hunt is None:
                return done
            schedule_next(hunt, now)
            hunt.save(update_fields=["next_run_at"])
            access = access_for(hunt.owner)
            if access.is_mssp_staff and access.tenant_ids:
                _run_scheduled(hunt, access)
            done += 1
        if done >= batch:
            return done


# --- actions: what MSSP staff do with hunts, from a page or the API (tenants.actions) ---------

HUNTS_ARE_FOR_STAFF = "Hunts are for MSSP staff."


def may_change_hunt(access: Access, hunt: Hunt) -> bool:
    """Anyone of MSSP staff may run a shared hunt; only its owner changes or deletes it."""
    return access.is_mssp_staff and hunt.owner_id == access.user_id


def check_hunter(access: Access, target=None) -> None:
    if not access.is_mssp_staff:
        raise Refused(HUNTS_ARE_FOR_STAFF)


def check_hunt_owner(access: Access, hunt: Hunt) -> None:
    check_hunter(access)
    if not may_change_hunt(access, hunt):
        raise Refused("Only its owner changes a hunt; you may run it.")


def _save_scheduled(hunt: Hunt) -> Hunt:
    schedule_next(hunt)
    hunt.save()
    return hunt


def create_hunt(_target, *, actor, access, request, **fields) -> Hunt:
    hunt = _save_scheduled(Hunt(owner=actor, **fields))
    audit.record("hunt.created", obj=hunt, request=request, summary=hunt.name)
    return hunt


def update_hunt(hunt: Hunt, *, actor, access, request, **changes) -> Hunt:
    for field, value in changes.items():
        setattr(hunt, field, value)
    _save_scheduled(hunt)
    audit.record("hunt.updated", obj=hunt, request=request, summary=hunt.name)
    return hunt


def delete_hunt(hunt: Hunt, *, actor, access, request) -> Hunt:
    audit.record("hunt.deleted", obj=hunt, request=request, summary=hunt.name)
    hunt.delete()
    return hunt


def run_hunt_now(hunt: Hunt, *, actor, access, request) -> HuntRun:
    """The run, with what its runner is shown of it (`visible_counts`, see run_counts)."""
    run = hunt_run(hunt, access)
    run.visible_counts = run_counts(run, viewer_slugs(access))
    return run


def _run_done(run: HuntRun) -> str:
    counts = run.visible_counts
    return f"Run: {counts['hits']} hit(s), {counts['new_hits']} new since the last run."


class OpenIncidentSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        error_messages={"max_length": "At most 500 characters of text."},
    )


def open_incident_for_alert(alert: Alert, *, actor, access, request, reason: str = ""):
    """A hunt's hit made an incident in its tenant: (incident, created)."""
    from .services import incident_open_for_alert

    return incident_open_for_alert(alert, actor=actor, reason=reason)


def _opened(result) -> str:
    incident, created = result
    if created:
        return f"Incident opened in {incident.tenant.name}."
    return "This alert already belongs to an open incident."


def check_opens_incidents(access: Access, alert: Alert) -> None:
    if not access.is_mssp_staff:
        raise Refused("MSSP staff open incidents from alerts.")


CREATE_HUNT = Action(
    "hunt.create",
    do=create_hunt,
    check=check_hunter,
    serializer=HuntSerializer,
    done=lambda hunt: f"Hunt “{hunt.name}” saved.",
)
UPDATE_HUNT = Action(
    "hunt.update",
    do=update_hunt,
    check=check_hunt_owner,
    serializer=HuntSerializer,
    changes_target=True,
    done="Hunt saved.",
)
DELETE_HUNT = Action(
    "hunt.delete",
    do=delete_hunt,
    check=check_hunt_owner,
    done=lambda hunt: f"Hunt “{hunt.name}” deleted.",
)
RUN_HUNT = Action("hunt.run", do=run_hunt_now, check=check_hunter, done=_run_done)
# Its API twin is POST /api/v1/alerts/{id}/open-incident/ (alerts.api.views.AlertViewSet).
OPEN_INCIDENT_FROM_ALERT = Action(
    "alert.open_incident",
    do=open_incident_for_alert,
    check=check_opens_incidents,
    serializer=OpenIncidentSerializer,
    done=_opened,
)
