"""Remediation clocks: started when a finding first reaches the portal, paused while its risk
is accepted or it is a false positive, met when it is remediated, resumed when it reopens, and
fired (at risk, breached) exactly once by the sweep, in the SLA engine's once-a-second pass.

Days are calendar days (24x7): remediation targets are contractual days, not business hours.
The clock starts at the import that first brought the finding in, not when the scanner saw it:
a customer cannot remediate what it has not been told about.

Why this is not `sla.SlaClock` with a `finding` column: SlaClock belongs to the SLA app, which
lies below this one (findings → sla → alerts → tenants); a foreign key from it to findings
would turn that around. The clock below has SlaClock's shape and is claimed the same way
(FOR UPDATE SKIP LOCKED on a partial deadline index, `*_fired_at` markers), and its sweep is
registered with the SLA engine (`sla.services.register_sweep`), so `sla.tasks.sweep_clocks`
fires incident and finding deadlines in the same pass, and firings go through the same outbox
(`sla.notify`), audit log and live stream.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sla.models import ClockState

from .models import (
    DEFAULT_REMEDIATION_DAYS,
    Finding,
    RemediationClock,
    RemediationPolicy,
)

LIVE = (ClockState.RUNNING, ClockState.AT_RISK)


def remediation_targets(tenant_id: int) -> dict[str, tuple[int | None, int]]:
    """severity -> (days, at-risk percent): the tenant's own policy, else the default."""
    targets: dict[str, tuple[int | None, int]] = {
        severity: (days, 75) for severity, days in DEFAULT_REMEDIATION_DAYS.items()
    }
    for policy in RemediationPolicy.objects.for_tenant(tenant_id):
        targets[policy.severity] = (policy.days, policy.at_risk_percent)
    return targets


def _deadlines(clock: RemediationClock) -> None:
    total = clock.target_days * 86400
    remaining = total - clock.consumed_seconds
    clock.due_at = clock.resumed_at + timedelta(seconds=max(remaining, 0))
    risk_remaining = total * clock.at_risk_percent / 100 - clock.consumed_seconds
    clock.at_risk_at = (
        clock.resumed_at + timedelta(seconds=risk_remaining) if risk_remaining > 0 else None
    )


def new_clocks(findings: list[Finding], at: datetime, targets) -> list[RemediationClock]:
    """Unsaved clocks for new findings whose severity has a target."""
    clocks = []
    for finding in findings:
        days, at_risk = targets.get(finding.severity, (None, 75))
        if days is None:
            continue
        clock = RemediationClock(
            tenant_id=finding.tenant_id,
            finding_id=finding.pk,
            target_days=days,
            at_risk_percent=at_risk,
            started_at=at,
            resumed_at=at,
        )
        _deadlines(clock)
        clocks.append(clock)
    return clocks


def _clock(finding: Finding) -> RemediationClock | None:
    return (
        RemediationClock.objects.for_tenant(finding.tenant_id)
        .select_for_update()
        .filter(finding_id=finding.pk)
        .first()
    )


def stop(finding: Finding, at: datetime, *, met: bool) -> None:
    """Remediated (met) or set aside (risk accepted, false positive: paused). A breached clock
    stays breached: the breach happened."""
    clock = _clock(finding)
    if clock is None or clock.state not in (*LIVE, ClockState.BREACHED):
        return
    if clock.state != ClockState.BREACHED:
        clock.consumed_seconds += max((at - clock.resumed_at).total_seconds(), 0)
        clock.state = ClockState.MET if met else ClockState.PAUSED
        clock.due_at = clock.at_risk_at = None
    if met:
        clock.met_at = at
    else:
        clock.paused_at = at
    clock.save()


def resume(finding: Finding, at: datetime, targets=None) -> None:
    """The finding is open again: its clock runs on from where it stopped (the time it was
    set aside does not count), or starts now if it never had one."""
    clock = _clock(finding)
    if clock is None:
        targets = targets or remediation_targets(finding.tenant_id)
        for new in new_clocks([finding], at, targets):
            new.save(force_insert=True)
        return
    if clock.state in (ClockState.MET, ClockState.PAUSED):
        clock.state = ClockState.AT_RISK if clock.at_risk_fired_at else ClockState.RUNNING
        clock.resumed_at, clock.paused_at, clock.met_at = at, None, None
        _deadlines(clock)
        clock.save()
    elif clock.state == ClockState.BREACHED:
        clock.met_at = None
        clock.save(update_fields=["met_at"])


def retarget(finding: Finding, targets) -> None:
    """The scanner re-rated the finding: a clock that has not breached takes the new
    severity's target (same start, same time used)."""
    clock = _clock(finding)
    days, at_risk = targets.get(finding.severity, (None, 75))
    if clock is None or days is None or clock.breach_fired_at is not None:
        return
    if clock.target_days == days:
        return
    clock.target_days, clock.at_risk_percent = days, at_risk
    if clock.state in LIVE:
        _deadlines(clock)
    clock.save()
