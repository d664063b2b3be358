"""Findings workflows: scanner imports (upsert, close what a rescan no longer finds), the
status changes people make (start remediation, mark remediated, verify, accept risk, reopen,
false positive), risk acceptances that expire, remediation SLA firings, and raising the
priority of incidents on hosts with overdue critical findings.

Statuses and who moves them (findings.selectors.allowed_actions says the same to pages and API):

    open ──start──► in_remediation ──mark-remediated──► remediated ──verify──► (verified)
      │                   │                               │
      ├── accept-risk ────┴──► risk_accepted (until a date; expires → open)
      └── false-positive (MSSP) ──► false_positive        reopen ◄── any closed status

- A customer's responders and admins start remediation, mark a finding remediated (it then
  awaits verification: by the MSSP, or by the next scan that no longer finds it; a scan that
  still finds it reopens it) and accept its risk (reason and expiry date required).
- MSSP staff do all of that; their "remediated" is verified at once. They also verify a
  customer's, mark false positives and reopen anything.
- Every change is on the finding's timeline and in the audit log, and pushed to the stream.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import islice

from django.conf import settings
from django.db import OperationalError, connection, connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from alerts.models import SEVERITY_RANK, Alert, Incident, IncidentEvent
from sla.models import ClockState
from tenants import audit, events
from tenants.models import AuditEvent, Tenant, User
from tenants.rls import rls_bypass

from . import clocks, importers
from .models import (
    OPEN_FINDING_STATUSES,
    Asset,
    Engagement,
    Finding,
    FindingEvent,
    FindingStatus,
    RemediationClock,
    ScanImport,
)

logger = logging.getLogger("mssp.findings")

IMPORT_CHUNK = 1000  # records one task run imports (one transaction: its progress commits)
AUDIENCE = (events.STAFF, events.CUSTOMER)
S = FindingStatus


class FindingError(Exception):
    """A change the finding's state or the caller's role does not allow; the message says why."""


class UploadTooLarge(Exception):
    """The upload is larger than FINDINGS_IMPORT_MAX_BYTES (a 413)."""


# --- imports ---------------------------------------------------------------------------------
def max_upload_bytes() -> int:
    return settings.FINDINGS_IMPORT_MAX_BYTES


def check_upload(data: bytes, file_name: str, kind: str = "") -> str:
    """The upload's format (named or detected), after checking it can be imported at all:
    size first, then a safe read of the whole file (XML without entities or DTD tricks).
    Raises UploadTooLarge or importers.FileRefused."""
    if len(data) > max_upload_bytes():
        raise UploadTooLarge(
            f"The file is {len(data):,} bytes; imports take at most {max_upload_bytes():,}."
        )
    kind = kind or importers.detect(data, file_name)
    importers.check(kind, data)
    return kind


def import_request(
    tenant: Tenant,
    *,
    data: bytes,
    file_name: str,
    kind: str,
    engagement: Engagement | None,
    actor: User | None,
    request=None,
) -> ScanImport:
    """Store a checked upload and queue its import (after commit)."""
    scan = ScanImport.objects.create(
        tenant=tenant,
        kind=kind,
        file_name=file_name[:255] or "upload",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content=data,
        engagement=engagement,
        requested_by=actor,
    )
    audit.record(
        "finding.import_requested",
        actor=actor,
        tenant=tenant,
        obj=scan,
        request=request,
        summary=f"{kind} import of {scan.file_name} ({len(data):,} bytes)",
        data={
            "kind": kind,
            "sha256": scan.sha256,
            "engagement": str(engagement.pk) if engagement else None,
        },
    )
    enqueue_import(tenant.pk, scan.pk)
    return scan


def _embedded_thread() -> bool:
    """The embedded mode (no worker; `make run` sets REPORTS_BACKGROUND_THREAD for it): work
    runs in a thread beside the server, so the page answers at once and shows the progress,
    and the scheduler's SLA sweep never waits for an import."""
    return settings.CELERY_TASK_ALWAYS_EAGER and settings.REPORTS_BACKGROUND_THREAD


def enqueue_import(tenant_id: int, import_id) -> None:
    """Run the import after the current transaction commits: a Celery task per chunk, or in
    the embedded mode a thread that runs the chunks one after another."""
    if _embedded_thread():
        transaction.on_commit(lambda: _import_in_thread(tenant_id, str(import_id)))
    else:
        from .tasks import run_import

        run_import.delay_on_commit(tenant_id, str(import_id))


def _import_in_thread(tenant_id: int, import_id: str) -> None:
    def run() -> None:
        from .tasks import run_import

        try:
            while run_import(tenant_id, import_id):
                pass
        except Exception:  # the import stays running; resume_stalled_imports takes it up
            logger.exception(
                "import %s of tenant %s: background thread failed", import_id, tenant_id
            )
        finally:
            connections.close_all()  # this thread's own connections

    threading.Thread(target=run, name=f"finding-import-{import_id}", daemon=True).start()


def import_run(tenant_id: int, import_id: str) -> bool:
    """Import the next chunk of records of a queued or running import, inside the caller's
    transaction and tenant scope (findings.tasks.run_import). The import row is locked, so a
    redelivered task waits and then finds the chunk done. Returns True when more remain (the
    next chunk is queued after commit)."""
    scan = (
        ScanImport.objects.for_tenant(tenant_id)
        .select_for_update(of=("self",))
        .select_related("tenant")
        .filter(pk=import_id)
        .first()
    )
    if scan is None or scan.is_finished:
        return False
    now = timezone.now()
    data = bytes(scan.content)
    try:
        if scan.status == ScanImport.Status.QUEUED:
            scan.status, scan.started_at = ScanImport.Status.RUNNING, now
            scan.total = sum(1 for _ in importers.parse(scan.kind, data))
        records = list(
            islice(importers.parse(scan.kind, data), scan.position, scan.position + IMPORT_CHUNK)
        )
    except importers.FileRefused as exc:
        _finish(scan, now, failed=str(exc))
        return False
    _import_records(scan, records, now)
    scan.position += len(records)
    if len(records) < IMPORT_CHUNK or scan.position >= (scan.total or 0):
        scan.closed_count = _close_missing(scan, now)
        _finish(scan, now)
        return False
    scan.save()
    if not _embedded_thread():  # the thread goes on by itself
        from .tasks import run_import

        run_import.delay_on_commit(tenant_id, str(scan.pk))
    return True


def import_run_or_fail(tenant_id: int, import_id: str) -> bool:
    """import_run(), and an import that hits an unexpected error (a bug, a value the database
    refuses) is marked failed with a message instead of being retried for ever. Operational
    errors (a lost connection, a deadlock) are raised: the task or the stalled-import check
    tries again."""
    try:
        with transaction.atomic():
            return import_run(tenant_id, import_id)
    except OperationalError:
        raise
    except Exception:
        logger.exception("import %s of tenant %s failed", import_id, tenant_id)
        scan = (
            ScanImport.objects.for_tenant(tenant_id)
            .select_for_update(of=("self",))
            .select_related("tenant")
            .filter(pk=import_id)
            .first()
        )
        if scan is not None and not scan.is_finished:
            _finish(
                scan,
                timezone.now(),
                failed="The import stopped on an unexpected error (it is logged for the MSSP); "
                "the findings of its earlier chunks are kept.",
            )
        return False


def _finish(scan: ScanImport, now: datetime, failed: str = "") -> None:
    scan.status = ScanImport.Status.FAILED if failed else ScanImport.Status.DONE
    scan.detail = failed
    scan.finished_at = now
    scan.content = b""  # the findings hold what it said; the file is not kept
    scan.save()
    summary = (
        f"{scan.file_name}: {scan.created_count} new, {scan.updated_count} updated, "
        f"{scan.closed_count} closed, {scan.rejected_count} rejected"
        if not failed
        else f"{scan.file_name}: failed: {failed}"
    )
    audit.record(
        "finding.import_failed" if failed else "finding.imported",
        actor=scan.requested_by,
        tenant=scan.tenant_id,
        obj=scan,
        summary=summary,
        data={
            "created": scan.created_count,
            "updated": scan.updated_count,
            "closed": scan.closed_count,
            "rejected": scan.rejected_count,
        },
    )
    events.tenant_event(
        scan.tenant_id,
        scan.tenant.slug,
        "finding.imported",
        str(scan.pk),
        {"status": scan.status, "created": scan.created_count, "closed": scan.closed_count},
        audience=AUDIENCE,
    )


def dedup_key(scanner: str, asset_id, plugin_id: str, port: str) -> str:
    raw = "\x1f".join([scanner, str(asset_id), plugin_id, port])
    return hashlib.sha256(raw.encode()).hexdigest()


def _import_records(scan: ScanImport, records: list, now: datetime) -> None:
    good = []
    for record in records:
        if isinstance(record, importers.Rejected):
            scan.rejected_count += 1
            if len(scan.errors) < ScanImport.MAX_ERRORS:
                scan.errors.append({"record": record.index + 1, "error": record.error[:500]})
        else:
            good.append(record)
    if not good:
        return
    assets = _assets_for(scan.tenant_id, [r.host for r in good], now)
    rows: dict[str, tuple] = {}
    for record in good:
        asset = assets[record.host.identifier]
        key = dedup_key(scan.kind, asset.pk, record.plugin_id, record.port)
        rows[key] = (record, asset)  # the same finding twice in one file: the last one counts
    _upsert_findings(scan, rows, now)


def _assets_for(tenant_id: int, hosts: list, now: datetime) -> dict[str, Asset]:
    """identifier -> Asset for these hosts: found by any of their names, else created (an
    insert that loses a race to another import finds the winner's row)."""
    by_identifier = {}
    for host in hosts:
        by_identifier.setdefault(host.identifier, host)
    ips = {h.ip for h in by_identifier.values() if h.ip}
    fqdns = {h.fqdn for h in by_identifier.values() if h.fqdn}
    known = list(
        Asset.objects.for_tenant(tenant_id).filter(
            Q(identifier__in=list(by_identifier)) | Q(ip__in=list(ips)) | Q(fqdn__in=list(fqdns))
        )
    )
    found: dict[str, Asset] = {}
    for identifier, host in by_identifier.items():
        match = next((a for a in known if a.identifier == identifier), None)
        match = match or next((a for a in known if host.ip and a.ip == host.ip), None)
        match = match or next((a for a in known if host.fqdn and a.fqdn == host.fqdn), None)
        if match is not None:
            found[identifier] = match
    missing = [h for i, h in by_identifier.items() if i not in found]
    if missing:
        Asset.objects.bulk_create(
            [
                Asset(
                    tenant_id=tenant_id,
                    identifier=h.identifier,
                    ip=h.ip,
                    hostname=h.hostname,
                    fqdn=h.fqdn,
                    os=h.os,
                    first_seen=now,
                    last_seen=now,
                )
                for h in missing
            ],
            ignore_conflicts=True,
        )
        for asset in Asset.objects.for_tenant(tenant_id).filter(
            identifier__in=[h.identifier for h in missing]
        ):
            found[asset.identifier] = asset
    for identifier, asset in found.items():
        host = by_identifier[identifier]
        changed = False
        for name in ("ip", "hostname", "fqdn", "os"):
            value = getattr(host, name)
            if value and not getattr(asset, name):
                setattr(asset, name, value)
                changed = True
        if changed or asset.last_seen < now:
            asset.last_seen = now
            asset.save(update_fields=["ip", "hostname", "fqdn", "os", "last_seen"])
    return found


UPSERT_FIELDS = [
    "asset",
    "engagement",
    "title",
    "severity",
    "severity_rank",
    "cvss_score",
    "cvss_vector",
    "cves",
    "description",
    "solution",
    "evidence",
    "references",
    "status",
    "last_seen",
    "remediated_at",
    "remediated_by",
    "verified_at",
    "verified_by",
    "last_import",
    "updated_at",
]


def _upsert_findings(scan: ScanImport, rows: dict[str, tuple], now: datetime) -> None:
    """One INSERT ... ON CONFLICT (tenant, dedup_key) DO UPDATE for the chunk: the unique
    constraint decides what is new, never a lookup. Existing rows are read (locked) first only
    to keep what a re-import must not overwrite (status, first seen, engagement) and to count."""
    tenant_id = scan.tenant_id
    existing = {
        f.dedup_key: f
        for f in Finding.objects.for_tenant(tenant_id)
        .select_for_update()
        .filter(dedup_key__in=list(rows))
        .order_by("dedup_key")  # one lock order for concurrent imports: no deadlock
    }
    objects, reopened, rerated = [], [], []
    for key, (record, asset) in sorted(rows.items()):
        before = existing.get(key)
        finding = Finding(
            tenant_id=tenant_id,
            asset=asset,
            engagement_id=scan.engagement_id or (before.engagement_id if before else None),
            scanner=scan.kind,
            plugin_id=record.plugin_id,
            port=record.port,
            dedup_key=key,
            title=record.title,
            severity=record.severity,
            severity_rank=SEVERITY_RANK[record.severity],
            cvss_score=record.cvss_score,
            cvss_vector=record.cvss_vector,
            cves=record.cves,
            description=record.description,
            solution=record.solution,
            evidence=record.evidence,
            references=record.references,
            # When the scanner saw it (never later than now); the remediation clock starts at
            # the import all the same (findings.clocks).
            first_seen=min(record.seen_at or now, now),
            last_seen=min(record.seen_at or now, now),
            last_import=scan,
            created_at=now,
            updated_at=now,
        )
        if before is not None:
            finding.pk = before.pk
            finding.last_seen = max(finding.last_seen, before.last_seen)
            finding.status = before.status
            finding.remediated_at, finding.remediated_by_id = (
                before.remediated_at,
                before.remediated_by_id,
            )
            finding.verified_at, finding.verified_by_id = before.verified_at, before.verified_by_id
            if before.status == S.REMEDIATED:
                # The rescan still finds it: the fix did not hold (or never happened).
                finding.status = S.OPEN
                finding.remediated_at = finding.remediated_by_id = None
                finding.verified_at = finding.verified_by_id = None
                reopened.append((finding, before))
            if before.severity != record.severity:
                rerated.append((finding, before.severity))
        objects.append(finding)
    Finding.objects.bulk_create(
        objects,
        update_conflicts=True,
        unique_fields=["tenant", "dedup_key"],
        update_fields=UPSERT_FIELDS,
    )
    # Which rows this statement inserted: those carrying this chunk's creation time (an
    # update leaves created_at alone), exact even when another import raced this one.
    stored = {
        key: (pk, created_at)
        for key, pk, created_at in Finding.objects.for_tenant(tenant_id)
        .filter(dedup_key__in=list(rows))
        .values_list("dedup_key", "pk", "created_at")
    }
    for finding in objects:
        finding.pk = stored[finding.dedup_key][0]
    created = [f for f in objects if stored[f.dedup_key][1] == now]
    scan.created_count += len(created)
    scan.updated_count += len(objects) - len(created)
    targets = clocks.remediation_targets(tenant_id)
    RemediationClock.objects.bulk_create(
        clocks.new_clocks(created, now, targets), ignore_conflicts=True
    )
    timeline = [
        FindingEvent(
            tenant_id=tenant_id,
            finding_id=f.pk,
            at=now,
            kind="imported",
            summary=f"Found by the {scan.get_kind_display()} import of {scan.file_name}",
            data={"import": str(scan.pk)},
        )
        for f in created
    ]
    for finding, _before in reopened:
        clocks.resume(finding, now, targets)
        timeline.append(
            FindingEvent(
                tenant_id=tenant_id,
                finding_id=finding.pk,
                at=now,
                kind="reopened",
                summary=f"Reopened: the import of {scan.file_name} still finds it",
                data={"import": str(scan.pk), "cause": "rescan"},
            )
        )
    for finding, old in rerated:
        clocks.retarget(finding, targets)
        timeline.append(
            FindingEvent(
                tenant_id=tenant_id,
                finding_id=finding.pk,
                at=now,
                kind="severity_changed",
                summary=f"Severity {old} → {finding.severity} (import of {scan.file_name})",
                data={"import": str(scan.pk), "from": old, "to": finding.severity},
            )
        )
    FindingEvent.objects.bulk_create(timeline)
    if reopened:
        AuditEvent.objects.bulk_create(
            [
                audit.entry(
                    "finding.reopened",
                    tenant=tenant_id,
                    obj=finding,
                    summary=f"{finding.title[:200]}: found again by {scan.file_name}",
                    data={"import": str(scan.pk), "cause": "rescan"},
                )
                for finding, _ in reopened
            ]
        )


def _close_missing(scan: ScanImport, now: datetime) -> int:
    """What the rescan no longer finds is remediated (verified by the rescan): the findings of
    the same scanner and engagement, or without an engagement, of the same scanner on the
    hosts this scan covered, that this import did not see. Risk acceptances and false
    positives are left alone. An import that brought in no finding at all (every record
    rejected) closes nothing: it says nothing about what is gone."""
    if scan.created_count + scan.updated_count == 0:
        return 0
    scope = Finding.objects.for_tenant(scan.tenant_id).filter(scanner=scan.kind)
    if scan.engagement_id:
        scope = scope.filter(engagement_id=scan.engagement_id)
    else:
        covered = Finding.objects.for_tenant(scan.tenant_id).filter(last_import=scan)
        scope = scope.filter(asset_id__in=covered.values("asset_id"))
    gone = list(
        scope.filter(Q(status__in=OPEN_FINDING_STATUSES) | Q(status=S.REMEDIATED, verified_at=None))
        .exclude(last_import=scan)
        .select_for_update()
    )
    timeline, audits, closed = [], [], 0
    for finding in gone:
        was = finding.status
        summary = f"The import of {scan.file_name} no longer finds it"
        if was == S.REMEDIATED:
            kind, summary = "verified", f"Verified: {summary[0].lower()}{summary[1:]}"
        else:
            kind, summary = "remediated", f"Remediated: {summary[0].lower()}{summary[1:]}"
            finding.status, finding.remediated_at = S.REMEDIATED, now
            clocks.stop(finding, now, met=True)
            closed += 1
        finding.verified_at, finding.verified_by = now, None
        finding.save(
            update_fields=["status", "remediated_at", "verified_at", "verified_by", "updated_at"]
        )
        data = {"import": str(scan.pk), "from": was, "cause": "rescan"}
        timeline.append(
            FindingEvent(
                tenant_id=scan.tenant_id,
                finding=finding,
                at=now,
                kind=kind,
                summary=summary,
                data=data,
            )
        )
        audits.append(
            audit.entry(
                f"finding.{kind}",
                tenant=scan.tenant_id,
                obj=finding,
                summary=f"{finding.title[:200]}: {summary}",
                data=data,
            )
        )
    FindingEvent.objects.bulk_create(timeline)
    AuditEvent.objects.bulk_create(audits)
    return closed


# --- what people do --------------------------------------------------------------------------
def _locked(finding: Finding) -> Finding:
    return (
        Finding.objects.for_tenant(finding.tenant_id)
        .select_for_update(of=("self",))
        .select_related("tenant", "asset")
        .get(pk=finding.pk)
    )


def _record(
    finding: Finding,
    actor: User | None,
    kind: str,
    summary: str,
    data: dict | None = None,
    request=None,
) -> None:
    FindingEvent.objects.create(
        tenant_id=finding.tenant_id,
        finding=finding,
        actor=actor,
        actor_name=getattr(actor, "username", "") or "",
        kind=kind,
        summary=summary[:500],
        data=data or {},
    )
    audit.record(
        f"finding.{kind}",
        actor=actor,
        tenant=finding.tenant_id,
        obj=finding,
        request=request,
        summary=f"{finding.title[:200]}: {summary}"[:300],
        data=data or {},
    )
    events.tenant_event(
        finding.tenant_id,
        finding.tenant.slug,
        "finding.updated",
        str(finding.pk),
        {"change": kind, "status": finding.status},
        audience=AUDIENCE,
    )


@transaction.atomic
def finding_start_remediation(finding: Finding, *, actor: User, request=None) -> Finding:
    finding = _locked(finding)
    if finding.status != S.OPEN:
        raise FindingError(
            f"Only an open finding goes into remediation; this one is {finding.status}."
        )
    finding.status = S.IN_REMEDIATION
    finding.save(update_fields=["status", "updated_at"])
    _record(finding, actor, "remediation_started", "Remediation started", {"from": S.OPEN}, request)
    return finding


@transaction.atomic
def finding_mark_remediated(
    finding: Finding, *, actor: User, verified: bool, note: str = "", request=None
) -> Finding:
    """Remediated: by MSSP staff, verified at once; by the customer, awaiting verification
    (the MSSP's, or the next scan's). The remediation clock is met now."""
    finding = _locked(finding)
    if finding.status not in OPEN_FINDING_STATUSES:
        raise FindingError(
            f"Only an open or in-remediation finding can be marked remediated; this one is "
            f"{finding.status}."
        )
    now = timezone.now()
    was = finding.status
    finding.status, finding.remediated_at, finding.remediated_by = S.REMEDIATED, now, actor
    finding.verified_at = now if verified else None
    finding.verified_by = actor if verified else None
    finding.save(
        update_fields=[
            "status",
            "remediated_at",
            "remediated_by",
            "verified_at",
            "verified_by",
            "updated_at",
        ]
    )
    clocks.stop(finding, now, met=True)
    summary = "Remediated" + ("" if verified else ", awaiting verification")
    if note:
        summary += f": {note}"
    _record(
        finding,
        actor,
        "remediated",
        summary,
        {"from": was, "verified": verified, "note": note},
        request,
    )
    return finding


@transaction.atomic
def finding_verify(finding: Finding, *, actor: User, request=None) -> Finding:
    finding = _locked(finding)
    if not finding.awaits_verification:
        raise FindingError("Only a remediated finding awaiting verification can be verified.")
    finding.verified_at, finding.verified_by = timezone.now(), actor
    finding.save(update_fields=["verified_at", "verified_by", "updated_at"])
    _record(finding, actor, "verified", "Remediation verified", {}, request)
    return finding


def risk_expiry(tenant: Tenant, until: date) -> datetime:
    """A risk accepted until a date is accepted to the end of that day in the tenant's zone."""
    zone = zoneinfo.ZoneInfo(tenant.timezone or "UTC")
    return datetime.combine(until + timedelta(days=1), time.min, tzinfo=zone)


MAX_RISK_ACCEPTANCE_DAYS = 366


@transaction.atomic
def finding_accept_risk(
    finding: Finding, *, actor: User, reason: str, until: date, request=None
) -> Finding:
    finding = _locked(finding)
    reason = reason.strip()
    if not reason:
        raise FindingError("Say why the risk is accepted: a reason is required.")
    if finding.status not in OPEN_FINDING_STATUSES:
        raise FindingError(
            f"Only an open or in-remediation finding's risk can be accepted; this one is "
            f"{finding.status}."
        )
    now = timezone.now()
    # The bound first: the end of a day in year 9999 is past what a datetime holds.
    if until > timezone.localdate(now) + timedelta(days=MAX_RISK_ACCEPTANCE_DAYS):
        raise FindingError(
            f"A risk is accepted for at most {MAX_RISK_ACCEPTANCE_DAYS} days; "
            "accept it again later."
        )
    expires = risk_expiry(finding.tenant, until)
    if expires <= now:
        raise FindingError("The acceptance must end in the future.")
    was = finding.status
    finding.status = S.RISK_ACCEPTED
    finding.risk_accepted_until, finding.risk_expires_at = until, expires
    finding.risk_reason, finding.risk_accepted_by, finding.risk_accepted_at = reason, actor, now
    finding.save(
        update_fields=[
            "status",
            "risk_accepted_until",
            "risk_expires_at",
            "risk_reason",
            "risk_accepted_by",
            "risk_accepted_at",
            "updated_at",
        ]
    )
    clocks.stop(finding, now, met=False)
    _record(
        finding,
        actor,
        "risk_accepted",
        f"Risk accepted until {until.isoformat()}: {reason}",
        {"from": was, "until": until.isoformat(), "reason": reason},
        request,
    )
    return finding


@transaction.atomic
def finding_mark_false_positive(
    finding: Finding, *, actor: User, reason: str, request=None
) -> Finding:
    finding = _locked(finding)
    reason = reason.strip()
    if not reason:
        raise FindingError("Say why it is a false positive: a reason is required.")
    if finding.status == S.FALSE_POSITIVE:
        raise FindingError("The finding is already a false positive.")
    was = finding.status
    finding.status = S.FALSE_POSITIVE
    finding.save(update_fields=["status", "updated_at"])
    clocks.stop(finding, timezone.now(), met=False)
    _record(
        finding,
        actor,
        "false_positive",
        f"False positive: {reason}",
        {"from": was, "reason": reason},
        request,
    )
    return finding


@transaction.atomic
def finding_reopen(
    finding: Finding, *, actor: User | None, reason: str, cause: str = "manual", request=None
) -> Finding:
    finding = _locked(finding)
    reason = reason.strip()
    if finding.status in OPEN_FINDING_STATUSES:
        raise FindingError(f"The finding is already {finding.status}.")
    if not reason:
        raise FindingError("Say why it is reopened: a reason is required.")
    now = timezone.now()
    was = finding.status
    finding.status = S.OPEN
    finding.remediated_at = finding.verified_at = None
    finding.remediated_by = finding.verified_by = None
    finding.risk_expires_at = None
    finding.save(
        update_fields=[
            "status",
            "remediated_at",
            "remediated_by",
            "verified_at",
            "verified_by",
            "risk_expires_at",
            "updated_at",
        ]
    )
    clocks.resume(finding, now)
    _record(
        finding,
        actor,
        "reopened",
        f"Reopened: {reason}",
        {"from": was, "cause": cause, "reason": reason},
        request,
    )
    return finding


# --- the sweep: remediation clocks and expiring risk acceptances ----------------------------
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
            .filter(status=S.RISK_ACCEPTED, risk_expires_at__lte=now)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("tenant")
            .order_by("risk_expires_at")[:batch]
        )
        for finding in expired:
            until = finding.risk_accepted_until
            finding.status, finding.risk_expires_at = S.OPEN, None
            finding.save(update_fields=["status", "risk_expires_at", "updated_at"])
            clocks.resume(finding, now)
            _record(
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


# --- incidents on hosts with overdue critical findings --------------------------------------
# The rule: an open incident whose alerts carry an `ip` or `hostname` observable naming an asset
# with an open critical finding past its remediation due date is raised to at least `high`,
# once (alerts.services.incident_raise_severity, timeline entry naming the findings). Checked
# when an incident opens, and when a critical finding's remediation clock breaches.
RAISE_TO = "high"
RAISE_CAUSE = "findings"


def _overdue_critical(tenant_id: int):
    return Finding.objects.for_tenant(tenant_id).filter(
        severity="critical", status__in=OPEN_FINDING_STATUSES, overdue_since__isnull=False
    )


def asset_names(assets: Iterable[Asset]) -> dict[tuple[str, str], Asset]:
    """(observable type, value) -> asset, for matching alert observables."""
    found = {}
    for asset in assets:
        if asset.ip:
            found[("ip", asset.ip)] = asset
        for name in (asset.hostname, asset.fqdn):
            if name:
                found[("hostname", name)] = asset
                found[("domain", name)] = asset
        kind = "ip" if asset.ip == asset.identifier else "hostname"
        found.setdefault((kind, asset.identifier), asset)
    return found


def open_incident_ids_on_assets(tenant_id: int, assets: list[Asset]) -> set:
    """The open incidents of this tenant whose alerts' observables name these assets. On
    PostgreSQL the alerts are found by JSON containment; elsewhere (the embedded mode's
    SQLite) the open incidents' alerts are read and matched here."""
    names = asset_names(assets)
    if not names:
        return set()
    alerts = Alert.objects.for_tenant(tenant_id).filter(
        incident__status__in=_open_incident_statuses(), incident__isnull=False
    )
    if connection.vendor == "postgresql":
        match = Q()
        for kind, value in names:
            match |= Q(observables__contains=[{"type": kind, "value": value}])
        alerts = alerts.filter(match)
    incident_ids = set()
    for incident_id, observables in alerts.values_list("incident_id", "observables").iterator():
        if _names_hit(observables, names):
            incident_ids.add(incident_id)
    return incident_ids


def raise_incidents_on_assets(tenant_id: int, asset_ids: set) -> int:
    """Raise the open incidents of this tenant whose observables name these assets."""
    assets = list(Asset.objects.for_tenant(tenant_id).filter(pk__in=list(asset_ids)))
    return _raise(tenant_id, open_incident_ids_on_assets(tenant_id, assets))


def incidents_opened(sender, tenant_id, incident_ids, at, details=None, **kwargs) -> None:
    """alerts.signals.incidents_opened: a new incident on a host with an overdue critical
    finding is raised at once. One indexed EXISTS per intake batch that opens incidents when
    the tenant has no such finding (the usual case)."""
    if not _overdue_critical(tenant_id).exists():
        return
    overdue_assets = set(_overdue_critical(tenant_id).values_list("asset_id", flat=True))
    names = asset_names(Asset.objects.for_tenant(tenant_id).filter(pk__in=list(overdue_assets)))
    hits = set()
    rows = Alert.objects.for_tenant(tenant_id).filter(incident_id__in=list(incident_ids))
    for incident_id, observables in rows.values_list("incident_id", "observables"):
        if _names_hit(observables, names):
            hits.add(incident_id)
    _raise(tenant_id, hits)


def _names_hit(observables, names) -> bool:
    for item in observables or []:
        if isinstance(item, dict) and (item.get("type"), item.get("value")) in names:
            return True
    return False


def _open_incident_statuses() -> list[str]:
    from alerts.models import OPEN_STATUSES

    return [s.value for s in OPEN_STATUSES]


def _raise(tenant_id: int, incident_ids: set) -> int:
    from alerts.services import incident_raise_severity

    if not incident_ids:
        return 0
    already = set(
        IncidentEvent.objects.for_tenant(tenant_id)
        .filter(incident_id__in=list(incident_ids), kind="severity_raised", data__cause=RAISE_CAUSE)
        .values_list("incident_id", flat=True)
    )
    raised = 0
    for incident in (
        Incident.objects.for_tenant(tenant_id)
        .filter(pk__in=list(incident_ids - already))
        .select_related("tenant")
    ):
        titles = _overdue_titles(tenant_id, incident)
        changed = incident_raise_severity(
            incident,
            RAISE_TO,
            reason="the host has critical findings past their remediation due date",
            data={"cause": RAISE_CAUSE, "findings": titles},
        )
        raised += int(changed)
    return raised


def _overdue_titles(tenant_id: int, incident: Incident) -> list[str]:
    observables = []
    for item in (
        Alert.objects.for_tenant(tenant_id)
        .filter(incident=incident)
        .values_list("observables", flat=True)[:200]
    ):
        observables += item or []
    from .selectors import assets_for_observables

    assets = assets_for_observables(tenant_id, observables)
    return list(
        _overdue_critical(tenant_id).filter(asset__in=assets).values_list("title", flat=True)[:10]
    )
