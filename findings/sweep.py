"""The findings' part of the SLA engine's once-a-second sweep (sla.services.register_sweep):
remediation clocks at risk or breached (announced, notified; a breached critical finding
raises the incidents on its host), and risk acceptances whose date has passed (the finding
reopens). Rows are claimed with SKIP LOCKED, so two sweepers never fire one twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from sla.models import ClockState
from tenants import audit, events
from tenants.models import AuditEvent
from tenants.rls import rls_bypass

from . import clocks
from .incidents import raise_incidents_on_assets
from .models import Finding, FindingEvent, FindingStatus, RemediationClock
from .timeline import AUDIENCE, record_change

SWEEP_BATCH = 500


@dataclass
class SweepResult:
    at_risk: int = 0
    breached: int = 0
    risk_expired: int = 0


def sweep(now: datetime | None = None, batch: int = SWEEP_BATCH) -> SweepResult:
    """Registered with the SLA engine's once-a-second sweep (sla.services.register_sweep)."""
    result = SweepResult()
    moment = now or timezone.now()
    result.at_risk = _sweep_clocks(
        Q(state=ClockState.RUNNING, at_risk_fired_at__isnull=True, at_risk_at__lte=moment),
        "at_risk_at",
        "sla.at_risk",
        moment,
        batch,
    )
    result.breached = _sweep_clocks(
        Q(state__in=clocks.LIVE, breach_fired_at__isnull=True, due_at__lte=moment),
        "due_at",
        "sla.breached",
        moment,
        batch,
    )
    result.risk_expired = _expire_risk_acceptances(moment, batch)
    return result


def _sweep_clocks(condition: Q, order: str, event_type: str, now: datetime, batch: int) -> int:
    with transaction.atomic(), rls_bypass("remediation sweep: due clocks of every tenant"):
        claimed = list(
            RemediationClock.objects.dangerously_unscoped("remediation sweep")
            .filter(condition)
            .select_for_update(skip_locked=True, of=("self",))
            .order_by(order)[:batch]
        )
        if not claimed:
            return 0
        findings = (
            Finding.objects.dangerously_unscoped("remediation sweep: claimed clocks")
            .select_related("tenant", "asset")
            .in_bulk({c.finding_id for c in claimed})
        )
        breach = event_type == "sla.breached"
        ids = [c.pk for c in claimed]
        clock_rows = RemediationClock.objects.dangerously_unscoped("claimed").filter(pk__in=ids)
        if breach:
            for clock in claimed:
                clock.state, clock.breach_fired_at, clock.breached_at = (
                    ClockState.BREACHED,
                    now,
                    clock.due_at,
                )
            clock_rows.update(
                state=ClockState.BREACHED, breach_fired_at=now, breached_at=F("due_at")
            )
            Finding.objects.dangerously_unscoped("claimed clocks' findings").filter(
                pk__in=[c.finding_id for c in claimed], overdue_since__isnull=True
            ).update(overdue_since=now)
        else:
            clock_rows.update(state=ClockState.AT_RISK, at_risk_fired_at=now)
        _announce(claimed, findings, event_type)
        if breach:
            critical: dict[int, set] = {}
            for clock in claimed:
                finding = findings[clock.finding_id]
                if finding.severity == "critical" and finding.is_open:
                    critical.setdefault(finding.tenant_id, set()).add(finding.asset_id)
            for tenant_id, asset_ids in critical.items():
                raise_incidents_on_assets(tenant_id, asset_ids)
        return len(claimed)


def _announce(claimed: list[RemediationClock], findings: dict, event_type: str) -> None:
    timeline, audits, notices = [], [], []
    per_tenant: dict[int, tuple[str, list]] = {}
    for clock in claimed:
        finding = findings[clock.finding_id]
        due = f"{clock.due_at:%Y-%m-%d %H:%M} UTC" if clock.due_at else "—"
        if event_type == "sla.breached":
            summary = f"Remediation SLA breached: was due {due}"
        else:
            summary = f"Remediation SLA at risk: due {due}"
        data = {
            "target": "remediate",
            "finding": str(finding.pk),
            "due_at": clock.due_at.isoformat() if clock.due_at else None,
            "clock": str(clock.pk),
            "severity": finding.severity,
        }
        timeline.append(
            FindingEvent(
                tenant_id=finding.tenant_id,
                finding=finding,
                kind=event_type.replace(".", "_"),
                summary=summary,
                data=data,
            )
        )
        audits.append(
            audit.entry(
                event_type, tenant=finding.tenant_id, obj=finding, summary=summary, data=data
            )
        )
        per_tenant.setdefault(finding.tenant_id, (finding.tenant.slug, []))[1].append(
            (event_type, str(finding.pk), data, AUDIENCE)
        )
        notices.append(
            (
                finding.tenant,
                f"finding-clock-{clock.pk}",
                f"{summary}: {finding.title[:150]} on {finding.asset.identifier}",
                {
                    **data,
                    "title": finding.title,
                    "asset": finding.asset.identifier,
                    "cves": finding.cves,
                },
            )
        )
    FindingEvent.objects.bulk_create(timeline)
    AuditEvent.objects.bulk_create(audits)
    events.tenants_events(per_tenant)
    from sla import notify

    notify.queue_for_notices(notices, event_type)


def _expire_risk_acceptances(now: datetime, batch: int) -> int:
    """Risk acceptances whose date has passed: the finding reopens (audited), claimed as the
    clocks are so that two sweepers never reopen one twice."""
    with transaction.atomic(), rls_bypass("risk acceptance expiry of every tenant"):
        expired = list(
            Finding.objects.dangerously_unscoped("risk acceptance expiry")
            .filter(status=FindingStatus.RISK_ACCEPTED, risk_expires_at__lte=now)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("tenant")
            .order_by("risk_expires_at")[:batch]
        )
        for finding in expired:
            until = finding.risk_accepted_until
            finding.status, finding.risk_expires_at = FindingStatus.OPEN, None
            finding.save(update_fields=["status", "risk_expires_at", "updated_at"])
            clocks.resume(finding, now)
            record_change(
                finding,
                None,
                "risk_expired",
                f"Risk acceptance until {until.isoformat() if until else '?'} ended: open again",
                {
                    "until": until.isoformat() if until else None,
                    "accepted_by": finding.risk_accepted_by_id,
                },
            )
        return len(expired)
