"""The manager's SLA health: every tenant's SLA, worst first, and the staff and the tenants
each works (managers and admins change them)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib import messages
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from guardian.shortcuts import get_objects_for_user
from guardian.utils import get_user_obj_perms_model

from alerts.intake import log as intake_log
from alerts.models import OPEN_STATUSES, Incident
from tenants.access import Access
from tenants.actions import page_perform
from tenants.administration import STAFF_UPDATE
from tenants.format import percent
from tenants.models import ANALYST_ROLES, StaffRole, Tenant, User
from tenants.views import portal_view

from ..forms import StaffTenantsForm
from ..models import ClockState, SlaClock, Target
from ..selectors import get_sla_targets_by_tenant
from .common import LIVE_CLOCK_STATES, first_error, refuse

HEALTH_DAYS = 30


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
    summaries = get_sla_targets_by_tenant(tenant_ids, now - timedelta(days=HEALTH_DAYS), now)
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
    can_assign = access.manages_staff
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
        "can_assign": access.manages_staff,
    }
    if request.htmx and request.method == "GET":
        return render(request, "sla/_health_live.html", context, status=status)
    tenants = {row["tenant"].pk: row["tenant"] for row in rows}
    context["staff"] = _staff_rows(access, tenants, forms=staff_forms)
    # What waits in the intake log (counts across every customer): managers and admins
    context["intake_log"] = intake_log.backlog() if access.sees_all_tenants else None
    return render(request, "sla/health.html", context, status=status)


@portal_view
def sla_health(request, access):
    if not access.is_supervisor:
        return refuse(request, "SLA health is for MSSP leads, managers and admins.")
    return _health_page(request, access)


@require_POST
@portal_view
def staff_tenants(request, access, pk):
    """Set the tenants a staff member works (and a lead leads): the staff API's PATCH
    /api/v1/staff/{id}/ {"tenants", "leads"}, one Action (tenants.administration)."""
    if not access.manages_staff:
        return refuse(request, "Only MSSP managers and admins change who works which tenant.")
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
        messages.error(request, f"Nothing changed: {first_error(form)}")
        return _health_page(request, access, status=400, staff_forms={member.pk: form})
    slugs = {t.pk: t.slug for t in tenants}
    change = {"tenants": [slugs[pk] for pk in form.cleaned_data["tenants"]]}
    # Only when the form showed the leads boxes: a page from before the member became a lead
    # has none, and posting it must not take away the tenants they lead.
    if is_lead and request.POST.get("leads_present"):
        change["leads"] = [slugs[pk] for pk in form.cleaned_data.get("leads") or ()]
    done, _ = page_perform(request, STAFF_UPDATE, access=access, target=member, data=change)
    if not done:
        return _health_page(request, access, status=400, staff_forms={member.pk: form})
    return redirect(reverse("sla-health") + "#staff")
