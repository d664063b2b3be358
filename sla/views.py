"""Portal pages of the SLA app.

- `inbox`: the in-house team's pending hand-offs (accept / decline with a reason), the
  incidents it owns, its requests for MSSP assistance, and what was decided lately.
- `sla_health`: the manager's view: every tenant's SLA health, worst first, and the staff and
  the tenants each works (managers and admins change them).
- `dashboard`: a customer's open incidents, SLA compliance, MTTA/MTTC/MTTR and trends, with
  the figures of /api/v1/sla/summary/ for the same period (sla.selectors).
- `escalation_policy`: the tenant's escalation policy, read-only.

Every change goes through the same services and permission checks as the API
(sla.api.escalations, tenants.api.views.StaffViewSet); every read is scoped to the caller's
tenants, so another tenant's id is the same 404 as a missing one.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Prefetch, Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from guardian.shortcuts import get_objects_for_user
from guardian.utils import get_user_obj_perms_model

from alerts.models import OPEN_STATUSES, SEVERITY_RANK, Incident, Severity
from alerts.services import WorkflowError
from tenants import audit, services
from tenants.access import Access
from tenants.format import duration, percent
from tenants.models import ANALYST_ROLES, Membership, StaffRole, Team, Tenant, User
from tenants.views import portal_view

from . import charts, escalation
from .forms import AssistanceForm, DeclineForm, PeriodForm, StaffTenantsForm
from .models import ClockState, Escalation, EscalationPolicy, SlaClock, StepAction, Target
from .selectors import get_sla_summary, get_sla_trend

INBOX_ROLES = (Membership.Role.RESPONDER, Membership.Role.ADMIN)
DECIDED_DAYS = 7
HEALTH_DAYS = 30
LIVE_CLOCK_STATES = (ClockState.RUNNING, ClockState.AT_RISK)
URGENCY = ("respond_by", "-severity_rank", "created_at", "id")
ERRORS = (escalation.EscalationError, WorkflowError)


# --- small helpers ---------------------------------------------------------------------------
def _refuse(request, why: str):
    return render(request, "sla/refused.html", {"why": why}, status=403)


def _first_error(form) -> str:
    for errors in form.errors.values():
        return errors[0]
    return "Check the form."


def _iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- in-house inbox --------------------------------------------------------------------------
def _inbox_allowed(access: Access) -> bool:
    """The in-house team: a customer's responders (who answer) and admins (who look on)."""
    return access.is_customer and access.customer_role in INBOX_ROLES


def _escalations(access: Access):
    # as the API's EscalationViewSet: the caller's tenant, never MSSP-internal tier notices
    return Escalation.objects.for_tenant(access.customer_tenant_id).exclude(
        direction=Escalation.Direction.TO_TIER
    )


def _owned_incidents(tenant: Tenant):
    """Open incidents the in-house team owns: its team's, a member's, accepted hand-offs (and,
    for an in-house tenant, every incident nobody at the MSSP has taken); not those the MSSP
    has taken over on a request for assistance."""
    accepted = Escalation.objects.for_tenant(tenant.pk).filter(
        incident=OuterRef("pk"),
        direction=Escalation.Direction.TO_CUSTOMER,
        status=Escalation.Status.ACCEPTED,
    )
    mine = (
        Q(owner_team__tenant_id=tenant.pk, owner_team__kind=Team.Kind.IN_HOUSE)
        | Q(owner__membership__tenant_id=tenant.pk)
        | Q(Exists(accepted))
    )
    if tenant.service_model == Tenant.ServiceModel.IN_HOUSE:
        mine |= Q(owner__isnull=True)
    return (
        Incident.objects.for_tenant(tenant.pk)
        .filter(status__in=OPEN_STATUSES)
        .filter(mine)
        .exclude(owner__staff_role__gt="")
    )


def _inbox_context(request, access: Access, *, decline_forms=None, assistance_forms=None):
    decline_forms, assistance_forms = decline_forms or {}, assistance_forms or {}
    tenant = Tenant.objects.get(pk=access.customer_tenant_id)
    now = timezone.now()
    # may_answer() for a hand-off to this tenant's team, asked once for the whole list
    can_answer = request.user.has_perm("tenants.respond_escalations", tenant)
    escalations = _escalations(access).select_related(
        "incident", "team", "requested_by", "responded_by"
    )
    pending = list(
        escalations.filter(
            direction=Escalation.Direction.TO_CUSTOMER, status=Escalation.Status.PENDING
        ).order_by("respond_by", "requested_at")
    )
    for esc in pending:
        esc.at_risk_at = (
            esc.requested_at + (esc.respond_by - esc.requested_at) * 0.75
            if esc.respond_by
            else None
        )
        esc.decline_form = decline_forms.get(esc.pk) or DeclineForm(auto_id=f"decline-{esc.pk}-%s")
    asked = list(
        escalations.filter(
            direction=Escalation.Direction.TO_MSSP, status=Escalation.Status.PENDING
        ).order_by("respond_by")
    )
    asked_for = {esc.incident_id for esc in asked}
    customer_clocks = SlaClock.objects.for_tenant(tenant.pk).filter(
        owner=SlaClock.Owner.CUSTOMER, state__in=[*LIVE_CLOCK_STATES, ClockState.PAUSED]
    )
    owned_qs = _owned_incidents(tenant)
    owned = list(
        owned_qs.select_related("owner", "owner_team")
        .prefetch_related(Prefetch("sla_clocks", queryset=customer_clocks, to_attr="our_clocks"))
        .order_by(*URGENCY)[:100]
    )
    for incident in owned:
        incident.our_clock = min(
            incident.our_clocks, key=lambda c: c.due_at or incident.respond_by, default=None
        )
        incident.assistance_pending = incident.pk in asked_for
        incident.assistance_form = assistance_forms.get(incident.pk) or AssistanceForm(
            auto_id=f"assist-{incident.pk}-%s"
        )
    decided = list(
        escalations.filter(
            direction__in=[Escalation.Direction.TO_CUSTOMER, Escalation.Direction.TO_MSSP],
            responded_at__gte=now - timedelta(days=DECIDED_DAYS),
        )
        .exclude(status=Escalation.Status.PENDING)
        .order_by("-responded_at")[:50]
    )
    return {
        "tenant": tenant,
        "pending": pending,
        "asked": asked,
        "owned": owned,
        "owned_more": len(owned) == 100,
        "decided": decided,
        "decided_days": DECIDED_DAYS,
        "can_answer": can_answer,
        "can_request": access.customer_role in INBOX_ROLES,
    }


def _inbox_page(request, access: Access, *, status: int = 200, **forms):
    context = _inbox_context(request, access, **forms)
    template = "sla/_inbox_live.html" if request.htmx else "sla/inbox.html"
    return render(request, template, context, status=status)


def _after_change(request, access: Access):
    """POST-redirect-GET; an htmx form gets the re-rendered list (with the message) instead."""
    if request.htmx:
        return _inbox_page(request, access)
    return redirect("inbox")


@portal_view
def inbox(request, access):
    if not _inbox_allowed(access):
        return _refuse(request, "The inbox is for your organisation's in-house team.")
    return _inbox_page(request, access)


def _answerable(request, access: Access, pk):
    """The escalation to answer, or the response refusing it: another tenant's is a 404, one
    the caller may not answer (sla.escalation.may_answer, as the API) a 403."""
    if not _inbox_allowed(access):
        return None, _refuse(request, "The inbox is for your organisation's in-house team.")
    esc = get_object_or_404(_escalations(access).select_related("incident"), pk=pk)
    if not escalation.may_answer(request.user, esc):
        return None, _refuse(request, "Only the team this escalation went to may answer it.")
    return esc, None


@require_POST
@portal_view
def inbox_accept(request, access, pk):
    esc, refused = _answerable(request, access, pk)
    if refused:
        return refused
    try:
        with transaction.atomic():
            escalation.escalation_accept(esc, actor=request.user)
    except ERRORS as exc:
        messages.error(request, f"Not accepted: {exc}")
    else:
        messages.success(request, f"Accepted: “{esc.incident.title}” is now your team's.")
    return _after_change(request, access)


@require_POST
@portal_view
def inbox_decline(request, access, pk):
    esc, refused = _answerable(request, access, pk)
    if refused:
        return refused
    form = DeclineForm(request.POST, auto_id=f"decline-{esc.pk}-%s")
    if not form.is_valid():
        messages.error(request, f"Not declined: {_first_error(form)}")
        return _inbox_page(
            request, access, status=200 if request.htmx else 400, decline_forms={esc.pk: form}
        )
    try:
        with transaction.atomic():
            escalation.escalation_decline(
                esc, actor=request.user, reason=form.cleaned_data["reason"]
            )
    except ERRORS as exc:
        messages.error(request, f"Not declined: {exc}")
    else:
        messages.success(
            request, f"Declined: “{esc.incident.title}” goes back to the MSSP with your reason."
        )
    return _after_change(request, access)


@require_POST
@portal_view
def inbox_assistance(request, access, pk):
    """Ask the MSSP for help with an incident (POST /api/v1/incidents/{id}/escalate/
    {"to": "mssp"}): on the MSSP's acknowledge clock."""
    if not _inbox_allowed(access):
        return _refuse(request, "Only your organisation's responders and admins ask the MSSP.")
    incident = get_object_or_404(Incident.objects.for_tenant(access.customer_tenant_id), pk=pk)
    form = AssistanceForm(request.POST, auto_id=f"assist-{incident.pk}-%s")
    if not form.is_valid():
        messages.error(request, f"Not sent: {_first_error(form)}")
        return _inbox_page(
            request,
            access,
            status=200 if request.htmx else 400,
            assistance_forms={incident.pk: form},
        )
    try:
        with transaction.atomic():
            escalation.escalate_as(
                access,
                incident,
                "mssp",
                actor=request.user,
                respond_minutes=form.cleaned_data.get("respond_minutes"),
                note=form.cleaned_data.get("note") or "",
            )
    except escalation.NotAllowed as exc:
        return _refuse(request, str(exc))
    except ERRORS as exc:
        messages.error(request, f"Not sent: {exc}")
    else:
        messages.success(request, f"The MSSP has been asked to help with “{incident.title}”.")
    return _after_change(request, access)


@require_POST
@portal_view
def inbox_withdraw(request, access, pk):
    """Withdraw the team's own pending request for assistance (the API's withdraw/: only the
    side that asked)."""
    if not _inbox_allowed(access):
        return _refuse(request, "The inbox is for your organisation's in-house team.")
    esc = get_object_or_404(_escalations(access).select_related("incident"), pk=pk)
    try:
        with transaction.atomic():
            escalation.withdraw_as(access, esc, actor=request.user)
    except escalation.NotAllowed as exc:
        return _refuse(request, str(exc))
    except ERRORS as exc:
        messages.error(request, f"Not withdrawn: {exc}")
    else:
        messages.success(
            request, f"Your request for help with “{esc.incident.title}” is withdrawn."
        )
    return _after_change(request, access)


# --- manager: SLA health and staff -------------------------------------------------------------
def _supervises(access: Access) -> bool:
    return access.is_superuser or access.staff_role in (
        StaffRole.LEAD,
        StaffRole.MANAGER,
        StaffRole.ADMIN,
    )


def _assigns_staff(access: Access) -> bool:
    return access.is_mssp_admin or access.staff_role == StaffRole.MANAGER


def _health_tenant_ids(request, access: Access) -> frozenset[int]:
    """Managers and admins: every tenant; a lead: only the tenants they lead."""
    if access.sees_all_tenants:
        return access.tenant_ids
    led = get_objects_for_user(
        request.user,
        "tenants.lead_tenant",
        klass=Tenant,
        accept_global_perms=False,
        with_superuser=False,
    ).values_list("pk", flat=True)
    return access.tenant_ids & frozenset(led)


def tenant_summaries(tenant_ids, start: datetime, end: datetime, owner=SlaClock.Owner.MSSP):
    """{tenant id: the `targets` of get_sla_summary([tenant id], start, end)} in one grouped
    query (the same filters and aggregates as the selector, grouped by tenant too)."""
    from django.db.models import Avg

    rows = (
        SlaClock.objects.for_tenants(tenant_ids)
        .filter(started_at__gte=start, started_at__lt=end, owner=owner)
        .values("tenant_id", "target")
        .annotate(
            total=Count("id"),
            met=Count("id", filter=Q(state=ClockState.MET)),
            breached=Count("id", filter=Q(state=ClockState.BREACHED)),
            open=Count(
                "id",
                filter=Q(state__in=[ClockState.RUNNING, ClockState.AT_RISK, ClockState.PAUSED]),
            ),
            mean_met_seconds=Avg("consumed_seconds", filter=Q(state=ClockState.MET)),
        )
        .order_by("tenant_id", "target")
    )
    found: dict[int, dict] = {tenant_id: {} for tenant_id in tenant_ids}
    for row in rows:
        decided = row["met"] + row["breached"]
        found[row["tenant_id"]][row["target"]] = {
            "clocks": row["total"],
            "met": row["met"],
            "breached": row["breached"],
            "open": row["open"],
            "compliance": round(row["met"] / decided, 4) if decided else None,
            "mean_seconds_to_met": row["mean_met_seconds"],
        }
    return found


def _health_rows(tenant_ids, now: datetime) -> list[dict]:
    tenants = list(Tenant.objects.filter(pk__in=sorted(tenant_ids)).order_by("name"))
    open_counts = dict(
        Incident.objects.for_tenants(tenant_ids)
        .filter(status__in=OPEN_STATUSES)
        .values("tenant_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("tenant_id", "n")
    )
    live = Q(state__in=LIVE_CLOCK_STATES)
    clocks = (
        SlaClock.objects.for_tenants(tenant_ids)
        .filter(
            incident__status__in=OPEN_STATUSES,
            owner__in=[SlaClock.Owner.MSSP, SlaClock.Owner.CUSTOMER],
        )
        .values("tenant_id", "owner")
        .annotate(
            breached=Count("id", filter=Q(state=ClockState.BREACHED) | (live & Q(due_at__lte=now))),
            at_risk=Count(
                "id",
                filter=live
                & Q(due_at__gt=now)
                & (Q(state=ClockState.AT_RISK) | Q(at_risk_at__lte=now)),
            ),
        )
        .order_by()
    )
    now_by = {(row["tenant_id"], row["owner"]): row for row in clocks}
    summaries = tenant_summaries(tenant_ids, now - timedelta(days=HEALTH_DAYS), now)
    rows = []
    for tenant in tenants:
        targets = summaries.get(tenant.pk, {})
        met = sum(t["met"] for t in targets.values())
        decided = met + sum(t["breached"] for t in targets.values())
        mssp = now_by.get((tenant.pk, SlaClock.Owner.MSSP), {})
        customer = now_by.get((tenant.pk, SlaClock.Owner.CUSTOMER), {})
        compliance = round(met / decided, 4) if decided else None
        rows.append(
            {
                "tenant": tenant,
                "open": open_counts.get(tenant.pk, 0),
                "breached": mssp.get("breached", 0),
                "at_risk": mssp.get("at_risk", 0),
                "customer_breached": customer.get("breached", 0),
                "customer_at_risk": customer.get("at_risk", 0),
                "targets": targets,
                "compliance": compliance,
                "compliance_text": percent(compliance),
                "per_target": [
                    (label, percent(targets[value]["compliance"]) if value in targets else "—")
                    for value, label in Target.choices
                ],
                "decided": decided,
            }
        )
    rows.sort(
        key=lambda r: (
            -r["breached"],
            -r["at_risk"],
            r["compliance"] if r["compliance"] is not None else 2,
            -r["open"],
            r["tenant"].name,
        )
    )
    return rows


def _staff_rows(access: Access, tenants: dict[int, Tenant], *, forms=None) -> list[dict]:
    """Staff and the tenants each works and leads (one permission query, as the staff API);
    for a lead, only the staff of the tenants they lead."""
    forms = forms or {}
    worked: dict[int, set[int]] = {}
    led: dict[int, set[int]] = {}
    perms = (
        get_user_obj_perms_model()
        .objects.filter(permission__codename__in=["work_tenant", "lead_tenant"])
        .values_list("user_id", "permission__codename", "content_object_id")
    )
    for user_id, codename, tenant_id in perms:
        if tenant_id in tenants:
            (worked if codename == "work_tenant" else led).setdefault(user_id, set()).add(tenant_id)
    staff = User.objects.filter(Q(staff_role__gt="") | Q(is_superuser=True)).order_by("username")
    choices = [(t.pk, t.name) for t in sorted(tenants.values(), key=lambda t: t.name)]
    can_assign = _assigns_staff(access)
    rows = []
    for member in staff:
        if not access.sees_all_tenants and not (worked.get(member.pk) or led.get(member.pk)):
            continue
        role = member.staff_role or StaffRole.ADMIN
        works_all = member.is_superuser or role in (StaffRole.MANAGER, StaffRole.ADMIN)
        mine = worked.get(member.pk, set())
        form = None
        if can_assign and not works_all:
            form = forms.get(member.pk) or StaffTenantsForm(
                initial={"tenants": sorted(mine), "leads": sorted(led.get(member.pk, ()))},
                tenant_choices=choices,
                with_leads=role == StaffRole.LEAD,
                auto_id=f"staff-{member.pk}-%s",
            )
        rows.append(
            {
                "user": member,
                "role": StaffRole(role).label,
                "works_all": works_all,
                "worked": sorted((tenants[i] for i in mine), key=lambda t: t.name),
                "led": sorted((tenants[i] for i in led.get(member.pk, ())), key=lambda t: t.name),
                "form": form,
                "assignable": role in ANALYST_ROLES or role == StaffRole.LEAD,
            }
        )
    return rows


def _health_page(request, access: Access, *, status: int = 200, staff_forms=None):
    tenant_ids = _health_tenant_ids(request, access)
    now = timezone.now()
    rows = _health_rows(tenant_ids, now)
    context = {
        "rows": rows,
        "now": now,
        "days": HEALTH_DAYS,
        "is_lead_view": not access.sees_all_tenants,
        "can_assign": _assigns_staff(access),
    }
    if request.htmx and request.method == "GET":
        return render(request, "sla/_health_live.html", context, status=status)
    tenants = {row["tenant"].pk: row["tenant"] for row in rows}
    context["staff"] = _staff_rows(access, tenants, forms=staff_forms)
    return render(request, "sla/health.html", context, status=status)


@portal_view
def sla_health(request, access):
    if not _supervises(access):
        return _refuse(request, "SLA health is for MSSP leads, managers and admins.")
    return _health_page(request, access)


@require_POST
@portal_view
def staff_tenants(request, access, pk):
    """Set the tenants a staff member works: what PATCH /api/v1/staff/{id}/ {"tenants"} does
    (an audited staff.updated, then tenants.services.staff_set_tenants, audited per change)."""
    if not _assigns_staff(access):
        return _refuse(request, "Only MSSP managers and admins change who works which tenant.")
    member = get_object_or_404(
        User.objects.filter(Q(staff_role__gt="") | Q(is_superuser=True)), pk=pk
    )
    tenants = list(Tenant.objects.filter(pk__in=sorted(access.tenant_ids)).order_by("name"))
    is_lead = member.staff_role == StaffRole.LEAD and not member.is_superuser
    form = StaffTenantsForm(
        request.POST,
        tenant_choices=[(t.pk, t.name) for t in tenants],
        with_leads=is_lead,
        auto_id=f"staff-{member.pk}-%s",
    )
    if not form.is_valid():
        messages.error(request, f"Nothing changed: {_first_error(form)}")
        return _health_page(request, access, status=400, staff_forms={member.pk: form})
    chosen = set(form.cleaned_data["tenants"])
    leads = set(form.cleaned_data.get("leads") or ())
    with transaction.atomic():
        audit.record(
            "staff.updated",
            obj=member,
            request=request,
            summary=f"staff {member.username} ({member.staff_role})",
            data={},
        )
        services.staff_set_tenants(member, [t for t in tenants if t.pk in chosen], request=request)
        # Only when the form showed the leads boxes: a page from before the member became a
        # lead has none, and posting it must not take away the tenants they lead.
        if is_lead and request.POST.get("leads_present"):
            services.staff_set_tenants(
                member, [t for t in tenants if t.pk in leads], perm="lead_tenant", request=request
            )
    names = ", ".join(t.name for t in tenants if t.pk in chosen) or "no tenant"
    message = f"{member.username} now works {names}"
    if is_lead:
        message += " and leads " + (", ".join(t.name for t in tenants if t.pk in leads) or "none")
    messages.success(request, message + ".")
    return redirect(reverse("sla-health") + "#staff")


# --- the customer's dashboard ------------------------------------------------------------------
def _dashboard_tenant(request, access: Access) -> Tenant | None:
    """The customer's own tenant; for MSSP staff, ?tenant=<slug> among those they work."""
    slug = request.GET.get("tenant", "")
    if access.is_customer:
        tenant = Tenant.objects.get(pk=access.customer_tenant_id)
        if slug and slug != tenant.slug:
            raise Http404
        return tenant
    if not slug:
        return None
    return get_object_or_404(Tenant, slug=slug, pk__in=sorted(access.tenant_ids))


def _open_incidents_context(tenant: Tenant) -> dict:
    scoped = Incident.objects.for_tenant(tenant.pk).filter(status__in=OPEN_STATUSES)
    by_severity = dict(
        scoped.values("severity").annotate(n=Count("id")).order_by().values_list("severity", "n")
    )
    counts = [
        (value, label, by_severity.get(value, 0))
        for value, label in sorted(Severity.choices, key=lambda c: -SEVERITY_RANK[c[0]])
    ]
    latest = list(scoped.select_related(None).order_by(*URGENCY)[:10])
    return {
        "tenant": tenant,
        "open_total": sum(by_severity.values()),
        "severity_counts": counts,
        "open_latest": latest,
        "severity_svg": charts.to_svg(
            charts.severity_chart(by_severity, title="Open incidents by severity")
        ),
    }


def _summary_rows(summary: dict) -> list[dict]:
    rows = []
    for value, label in Target.choices:
        figures = summary["targets"].get(value)
        rows.append(
            {
                "target": value,
                "label": label,
                "figures": figures,
                "compliance": percent(figures["compliance"]) if figures else "—",
                "mean": duration(figures["mean_seconds_to_met"]) if figures else "—",
            }
        )
    return rows


def _figures(tenant: Tenant, start, end, severity, owner: str, label: str) -> dict:
    summary = get_sla_summary([tenant.pk], start, end, severity=severity, owner=owner)
    trend = get_sla_trend([tenant.pk], start, end, severity=severity, owner=owner)
    query = {"tenant": tenant.slug, "from": _iso_z(start), "to": _iso_z(end), "owner": owner}
    if severity:
        query["severity"] = severity
    return {
        "owner": owner,
        "label": label,
        "summary": summary,
        "rows": _summary_rows(summary),
        "mtta": duration(summary["mtta_seconds"]),
        "mttc": duration(summary["mttc_seconds"]),
        "mttr": duration(summary["mttr_seconds"]),
        "trend": trend,
        "chart": charts.to_svg(
            charts.compliance_chart(trend, title=f"SLA compliance over time ({label})")
        ),
        "api_url": reverse("sla-summary") + "?" + urlencode(query),
    }


@portal_view
def dashboard(request, access):
    if not (access.is_customer or access.is_mssp_staff):
        return _refuse(request, "The dashboard is for a customer's users and the MSSP's staff.")
    tenant = _dashboard_tenant(request, access)
    if tenant is None:  # MSSP staff choose which customer's dashboard to open
        tenants = Tenant.objects.filter(pk__in=sorted(access.tenant_ids)).order_by("name")
        return render(request, "sla/dashboard_choose.html", {"tenants": list(tenants)})
    incidents = _open_incidents_context(tenant)
    if request.htmx and request.GET.get("part") == "incidents":
        return render(request, "sla/_dashboard_incidents.html", incidents)
    query = request.GET.copy()
    query.setdefault("days", "30")
    form = PeriodForm(query)
    if not form.is_valid():
        messages.error(request, f"Showing the last 30 days: {_first_error(form)}")
        form = PeriodForm({"days": "30"})
    start, end = form.period(tenant.timezone)
    severity = form.cleaned_data.get("severity") or None
    figures = [_figures(tenant, start, end, severity, SlaClock.Owner.MSSP, "MSSP")]
    if tenant.service_model == Tenant.ServiceModel.HYBRID:  # hand-offs give the team clocks
        figures.append(
            _figures(tenant, start, end, severity, SlaClock.Owner.CUSTOMER, "your in-house team")
        )
    context = {
        **incidents,
        "form": form,
        "start": start,
        "end": end,
        "severity": severity,
        "figures": figures,
        "staff_view": access.is_mssp_staff,
        "live_url": reverse("dashboard")
        + "?"
        + urlencode({"tenant": tenant.slug, "part": "incidents"}),
    }
    return render(request, "sla/dashboard.html", context)


# --- escalation policy (read-only) -------------------------------------------------------------
def _minutes(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _step_rows(steps, teams: dict[str, Team]) -> list[dict]:
    rows = []
    for number, step in enumerate(steps if isinstance(steps, list) else [], start=1):
        if not isinstance(step, dict):
            continue
        action = step.get("action")
        conditions = step.get("if") if isinstance(step.get("if"), dict) else {}
        when = []
        if conditions.get("severity"):
            when.append("severity is " + " or ".join(map(str, conditions["severity"])))
        if conditions.get("category"):
            when.append("category is " + " or ".join(map(str, conditions["category"])))
        if conditions.get("unacknowledged"):
            when.append("nobody has acknowledged the incident yet")
        team = teams.get(str(step.get("team") or ""))
        respond = step.get("respond_minutes")
        if action == StepAction.HANDOFF_IN_HOUSE and not respond:
            respond = escalation.DEFAULT_RESPOND_MINUTES
        rows.append(
            {
                "number": number,
                "action": StepAction(action).label if action in StepAction.values else action,
                "team": team.name
                if team
                else ("your in-house team" if action == StepAction.HANDOFF_IN_HOUSE else ""),
                "wait": duration(_minutes(step.get("wait_minutes")) * 60)
                if _minutes(step.get("wait_minutes"))
                else "at once",
                "respond": duration(_minutes(respond) * 60)
                if action == StepAction.HANDOFF_IN_HOUSE
                else "",
                "when": when,
            }
        )
    return rows


@portal_view
def escalation_policy(request, access):
    if not _inbox_allowed(access):
        return _refuse(
            request, "Your organisation's admins and responders read its escalation policy."
        )
    tenant = Tenant.objects.get(pk=access.customer_tenant_id)
    policy = EscalationPolicy.objects.for_tenant(tenant.pk).filter(is_active=True).first()
    steps = policy.steps if policy and isinstance(policy.steps, list) else []
    team_ids = {str(step["team"]) for step in steps if isinstance(step, dict) and step.get("team")}
    teams = {}
    valid = []
    for value in team_ids:
        try:
            valid.append(uuid.UUID(value))
        except ValueError:
            continue
    if valid:
        teams = {
            str(team.pk): team
            for team in Team.objects.dangerously_unscoped("the MSSP's teams and this tenant's")
            .filter(pk__in=valid)
            .filter(Q(tenant__isnull=True) | Q(tenant_id=tenant.pk))
        }
    return render(
        request,
        "sla/escalation_policy.html",
        {
            "tenant": tenant,
            "policy": policy,
            "steps": _step_rows(steps, teams),
        },
    )
