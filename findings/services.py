"""Findings workflows: scanner imports (upsert, close what a rescan no longer finds), the
status changes people make (start remediation, mark remediated, verify, accept risk, reopen,
false positive), risk acceptances that expire, remediation SLA firings, and raising the
priority of incidents on hosts with overdue critical findings.

Statuses and who moves them (findings.selectors.allowed_actions says the same to pages and API):

    open ──start──► in_remediation ──mark-remediated (MSSP) / verify (MSSP)──► remediated
      │                   │
      │                   └─ a customer's mark-remediated, or its scan no longer finding it:
      │                      a claim; the status and the clock stay until the MSSP verifies
      ├── accept-risk ────┴──► risk_accepted (until a date; expires → open)
      └── false-positive (MSSP) ──► false_positive        reopen (MSSP) ◄── any closed status

- A customer's responders and admins start remediation, claim a finding remediated (it stays
  open, its remediation clock runs, until MSSP staff verify it or reject the claim, or an MSSP
  scan no longer finds it; any scan that still finds it withdraws the claim) and accept its
  risk (reason and expiry date required). Their scans propose in the same way: what a
  customer's upload no longer finds awaits verification; it is never verified by it.
- MSSP staff do all of that; their "remediated", and their scans', are verified at once. They
  also verify or reject a customer's claim, mark false positives and reopen anything.
- Every change is on the finding's timeline and in the audit log, and pushed to the stream.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import islice

from django.conf import settings
from django.db import OperationalError, connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from alerts.models import SEVERITY_RANK, Alert, Incident, IncidentEvent
from sla.models import ClockState
from tenants import audit, events
from tenants.actions import Invalid
from tenants.jobs import enqueue
from tenants.models import AuditEvent, Tenant, User
from tenants.rls import rls_bypass, tenant_scope

from . import clocks, importers
from .assets import _names_hit, asset_names, open_incident_ids_on_assets
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


class FindingError(Invalid):
    """A change the finding's state does not allow; the message says why (a 400, as the API
    has always answered it, or a message above the page's form)."""


class UploadTooLarge(Exception):
    """The upload is larger than FINDINGS_IMPORT_MAX_BYTES (a 413)."""


# --- imports ---------------------------------------------------------------------------------
def max_upload_bytes() -> int:
    return settings.FINDINGS_IMPORT_MAX_BYTES


def check_upload(data: bytes, file_name: str, kind: str = "") -> str:
    """The upload's format (named or detected), after the checks that need only the file's
    size and beginning: too large (UploadTooLarge), not the format or hostile XML in its
    prolog, such as entity declarations (importers.FileRefused). The request reads no
    further: the whole file is read by the import's worker, which fails the import with why
    when it cannot be read to its end (import_run)."""
    if len(data) > max_upload_bytes():
        raise UploadTooLarge(
            f"The file is {len(data):,} bytes; imports take at most {max_upload_bytes():,}."
        )
    kind = kind or importers.detect(data, file_name)
    importers.check_head(kind, data)
    return kind


def verifies_remediation(actor: User | None) -> bool:
    """Whose scans verify what they no longer find: MSSP staff's, and the system's own (no
    person: a scanner integration). A customer's upload only proposes it."""
    return actor is None or actor.is_superuser or bool(actor.staff_role)


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
    """Store an upload (checked by check_upload) and queue its import (after commit)."""
    verifies = verifies_remediation(actor)
    scan = ScanImport.objects.create(
        tenant=tenant,
        kind=kind,
        file_name=file_name[:255] or "upload",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content=data,
        engagement=engagement,
        verifies_remediation=verifies,
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
            "verifies_remediation": verifies,
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
    """Run the import after the current transaction commits: a Celery task, or in the
    embedded mode a thread beside the server."""
    if _embedded_thread():
        transaction.on_commit(lambda: _import_in_thread(tenant_id, str(import_id)))
    else:
        enqueue("findings.tasks.run_import", tenant_id, str(import_id))


def _import_in_thread(tenant_id: int, import_id: str) -> None:
    def run() -> None:
        try:
            import_run_or_fail(tenant_id, import_id)
        except Exception:  # the import stays running; resume_stalled_imports takes it up
            logger.exception(
                "import %s of tenant %s: background thread failed", import_id, tenant_id
            )
        finally:
            connections.close_all()  # this thread's own connections

    threading.Thread(target=run, name=f"finding-import-{import_id}", daemon=True).start()


# A chunk is this many records, or fewer when their text is long: what one transaction
# writes, and what the worker holds at once beside the file.
CHUNK_TEXT = 4_000_000


def _scans(tenant_id: int):
    # The file is read once per run, not with every chunk's lock.
    return ScanImport.objects.for_tenant(tenant_id).defer("content").select_related("tenant")


def _locked_scan(tenant_id: int, import_id: str) -> ScanImport | None:
    return _scans(tenant_id).select_for_update(of=("self",)).filter(pk=import_id).first()


def import_run(tenant_id: int, import_id: str) -> bool:
    """Run a queued or running import to its end (findings.tasks.run_import), in two
    streaming passes over the file, neither inside a transaction (so no database lock is held
    while the file is read, and memory does not grow with it):

    1. check: the whole file is read and its records counted, nothing kept. A file that
       cannot be read to its end (malformed, too many elements or records, not UTF-8) fails
       the import with why, before anything is imported.
    2. import: a chunk of records at a time, each chunk one short transaction in the tenant's
       scope that writes its findings and the import's progress. The file is read once, not
       again for every chunk.

    The import's row is locked for each chunk and its position re-checked, so a second runner
    of the same import (a redelivered task, the stalled-import sweep) stops at its first
    chunk; a runner that takes over from a dead one reads past the records already imported
    and goes on. Returns False: nothing is left for the caller to queue."""
    with tenant_scope([tenant_id]):
        scan = _scans(tenant_id).filter(pk=import_id).first()
        if scan is None or scan.is_finished:
            return False
        data = bytes(
            ScanImport.objects.for_tenant(tenant_id)
            .filter(pk=import_id)
            .values_list("content", flat=True)
            .get()
        )
        if scan.status == ScanImport.Status.QUEUED:  # the stalled sweep counts from now
            scan.status, scan.started_at = ScanImport.Status.RUNNING, timezone.now()
            scan.save(update_fields=["status", "started_at", "updated_at"])
    kind, position, total = scan.kind, scan.position, scan.total
    if total is None:
        try:
            total = importers.check(kind, data)
        except importers.FileRefused as exc:
            _fail(tenant_id, import_id, str(exc))
            return False
        with tenant_scope([tenant_id]):
            scan = _locked_scan(tenant_id, import_id)
            if scan is None or scan.is_finished:
                return False
            if scan.total is None:
                scan.total = total
                scan.save(update_fields=["total", "updated_at"])
    records = importers.parse(kind, data)
    try:
        for _ in islice(records, position):  # imported by an earlier runner
            pass
        done = False
        while not done:
            chunk, done = _next_chunk(records)
            with tenant_scope([tenant_id]):
                scan = _locked_scan(tenant_id, import_id)
                if scan is None or scan.is_finished or scan.position != position:
                    return False  # another runner has it
                now = timezone.now()
                _import_records(scan, chunk, now)
                scan.position = position = position + len(chunk)
                if done:
                    _close_missing(scan, now)
                    _finish(scan, now)
                else:
                    scan.save()
    except importers.FileRefused as exc:  # not expected: the check read the same file whole
        _fail(tenant_id, import_id, str(exc))
    return False


def _next_chunk(records) -> tuple[list, bool]:
    """The next chunk of records, and whether the file has no more."""
    chunk, text_length = [], 0
    for record in records:
        chunk.append(record)
        if isinstance(record, importers.ScanRecord):
            text_length += (
                len(record.description)
                + len(record.solution)
                + len(record.evidence)
                + sum(map(len, record.references))
            )
        if len(chunk) >= IMPORT_CHUNK or text_length >= CHUNK_TEXT:
            return chunk, False
    return chunk, True


def _fail(tenant_id: int, import_id: str, detail: str) -> None:
    with tenant_scope([tenant_id]):
        scan = _locked_scan(tenant_id, import_id)
        if scan is not None and not scan.is_finished:
            _finish(scan, timezone.now(), failed=detail)


def import_run_or_fail(tenant_id: int, import_id: str) -> bool:
    """import_run(), and an import that hits an unexpected error (a bug, a value the database
    refuses) is marked failed with a message instead of being retried for ever. Operational
    errors (a lost connection, a deadlock) are raised: the task or the stalled-import check
    tries again."""
    try:
        return import_run(tenant_id, import_id)
    except OperationalError:
        raise
    except Exception:
        logger.exception("import %s of tenant %s failed", import_id, tenant_id)
        _fail(
            tenant_id,
            import_id,
            "The import stopped on an unexpected error (it is logged for the MSSP); "
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
        f"{scan.closed_count} closed, {scan.proposed_count} awaiting verification, "
        f"{scan.rejected_count} rejected"
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
            "proposed": scan.proposed_count,
            "rejected": scan.rejected_count,
        },
    )
    events.tenant_event(
        scan.tenant_id,
        scan.tenant.slug,
        "finding.imported",
        str(scan.pk),
        {
            "status": scan.status,
            "created": scan.created_count,
            "closed": scan.closed_count,
            "proposed": scan.proposed_count,
        },
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
    # Looked up by name, not by a scan of the known assets for every host (a chunk of a
    # thousand hosts made that a million comparisons).
    known_by: dict[str, dict[str, Asset]] = {"identifier": {}, "ip": {}, "fqdn": {}}
    for asset in known:
        for name, index in known_by.items():
            if getattr(asset, name):
                index.setdefault(getattr(asset, name), asset)
    found: dict[str, Asset] = {}
    for identifier, host in by_identifier.items():
        match = known_by["identifier"].get(identifier)
        match = match or (known_by["ip"].get(host.ip) if host.ip else None)
        match = match or (known_by["fqdn"].get(host.fqdn) if host.fqdn else None)
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
    "remediation_claimed_at",
    "remediation_claimed_by",
    "last_import",
    "updated_at",
]


# What imports read of the findings they update or close: their state, not their texts
# (description, solution and evidence run to 20,000 characters each).
_WORKFLOW_FIELDS = (
    "id",
    "tenant_id",
    "engagement_id",
    "title",
    "severity",
    "severity_rank",
    "cvss_score",
    "cvss_vector",
    "status",
    "last_seen",
    "remediated_at",
    "remediated_by_id",
    "verified_at",
    "verified_by_id",
    "remediation_claimed_at",
    "remediation_claimed_by_id",
)


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
        .only(*_WORKFLOW_FIELDS, "dedup_key")  # the chunk's records carry the texts
    }
    objects, reopened, rerated, refuted = [], [], [], []
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
            if not scan.verifies_remediation:
                # A customer's scan neither moves a finding to another engagement (out of the
                # reach of the MSSP's rescans of its own) nor lowers its severity (which would
                # loosen its remediation target); raising it is taken.
                finding.engagement_id = before.engagement_id
                if finding.severity_rank < before.severity_rank:
                    finding.severity, finding.severity_rank = before.severity, before.severity_rank
                    finding.cvss_score = before.cvss_score
                    finding.cvss_vector = before.cvss_vector
            finding.pk = before.pk
            finding.last_seen = max(finding.last_seen, before.last_seen)
            finding.status = before.status
            finding.remediated_at, finding.remediated_by_id = (
                before.remediated_at,
                before.remediated_by_id,
            )
            finding.verified_at, finding.verified_by_id = before.verified_at, before.verified_by_id
            finding.remediation_claimed_at = before.remediation_claimed_at
            finding.remediation_claimed_by_id = before.remediation_claimed_by_id
            if before.is_open and before.remediation_claimed_at is not None:
                # Whoever's scan it is, it still finds it: the claimed fix did not hold.
                finding.remediation_claimed_at = finding.remediation_claimed_by_id = None
                refuted.append(finding)
            if before.status == S.REMEDIATED:
                # The rescan still finds it: the fix did not hold (or never happened).
                finding.status = S.OPEN
                finding.remediated_at = finding.remediated_by_id = None
                finding.verified_at = finding.verified_by_id = None
                reopened.append((finding, before))
            if before.severity != finding.severity:
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
    for finding in refuted:
        timeline.append(
            FindingEvent(
                tenant_id=tenant_id,
                finding_id=finding.pk,
                at=now,
                kind="remediation_refuted",
                summary=f"Still found by the import of {scan.file_name}: the remediation "
                "awaiting verification did not hold",
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
    if reopened or refuted:
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
            + [
                audit.entry(
                    "finding.remediation_refuted",
                    tenant=tenant_id,
                    obj=finding,
                    summary=f"{finding.title[:200]}: still found by {scan.file_name}",
                    data={"import": str(scan.pk), "cause": "rescan"},
                )
                for finding in refuted
            ]
        )


def _close_missing(scan: ScanImport, now: datetime) -> None:
    """What a rescan no longer finds. Its scope: the findings of the same scanner and the same
    engagement (or, for an import without one, those without one), on the hosts this file
    covers (those it brought at least one finding of), that this import did not see, nor
    another import running beside it (each finding's last import is whichever wrote it last).
    Risk acceptances and false positives are left alone.

    An import that verifies (verifies_remediation: an MSSP's, or the system's) remediates and
    verifies them, meeting their clocks, and verifies the customer claims among them. A
    customer's import only proposes: they await MSSP verification, still open on their
    clocks. An import that brought in no finding at all (every record rejected) closes
    nothing: it says nothing about what is gone."""
    if scan.created_count + scan.updated_count == 0:
        return
    tenant_id = scan.tenant_id
    covered = Finding.objects.for_tenant(tenant_id).filter(last_import=scan).values("asset_id")
    beside = list(  # imports that ran (or run) while this one did
        ScanImport.objects.for_tenant(tenant_id)
        .filter(
            Q(status__in=[ScanImport.Status.QUEUED, ScanImport.Status.RUNNING])
            | Q(finished_at__gte=scan.started_at or scan.created_at)
        )
        .exclude(pk=scan.pk)
        .values_list("pk", flat=True)
    )
    scope = Finding.objects.for_tenant(tenant_id).filter(
        scanner=scan.kind, engagement_id=scan.engagement_id, asset_id__in=covered
    )
    if scan.verifies_remediation:
        scope = scope.filter(
            Q(status__in=OPEN_FINDING_STATUSES) | Q(status=S.REMEDIATED, verified_at=None)
        )
    else:  # a claim already awaiting verification stays as it is
        scope = scope.filter(status__in=OPEN_FINDING_STATUSES, remediation_claimed_at=None)
    gone = list(
        scope.exclude(last_import=scan)
        .exclude(last_import_id__in=beside)
        .select_for_update()
        .order_by("pk")
        .only(*_WORKFLOW_FIELDS)  # not their texts: a rescan may close thousands
    )
    timeline, audits = [], []
    actor = scan.requested_by
    for finding in gone:
        was = finding.status
        data = {"import": str(scan.pk), "from": was, "cause": "rescan"}
        not_found = f"the import of {scan.file_name} no longer finds it"
        if not scan.verifies_remediation:
            kind, summary = "remediation_claimed", f"Awaiting verification: {not_found}"
            finding.remediation_claimed_at, finding.remediation_claimed_by = now, scan.requested_by
            finding.save(
                update_fields=["remediation_claimed_at", "remediation_claimed_by", "updated_at"]
            )
            scan.proposed_count += 1
        else:
            if was == S.REMEDIATED:
                kind, summary = "verified", f"Verified: {not_found}"
            else:
                kind, summary = "remediated", f"Remediated: {not_found}"
                finding.status, finding.remediated_at = S.REMEDIATED, now
                finding.remediated_by_id = finding.remediation_claimed_by_id
                clocks.stop(finding, now, met=True)
                scan.closed_count += 1
            finding.verified_at, finding.verified_by = now, None
            finding.remediation_claimed_at = finding.remediation_claimed_by = None
            finding.save(
                update_fields=[
                    "status",
                    "remediated_at",
                    "remediated_by",
                    "verified_at",
                    "verified_by",
                    "remediation_claimed_at",
                    "remediation_claimed_by",
                    "updated_at",
                ]
            )
        timeline.append(
            FindingEvent(
                tenant_id=tenant_id,
                finding=finding,
                at=now,
                actor=actor,
                actor_name=getattr(actor, "username", ""),
                kind=kind,
                summary=summary,
                data=data,
            )
        )
        audits.append(
            audit.entry(
                f"finding.{kind}",
                actor=actor,
                tenant=tenant_id,
                obj=finding,
                summary=f"{finding.title[:200]}: {summary}",
                data=data,
            )
        )
    FindingEvent.objects.bulk_create(timeline)
    AuditEvent.objects.bulk_create(audits)


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


_CLAIM_FIELDS = ["remediation_claimed_at", "remediation_claimed_by"]


def _drop_claim(finding: Finding) -> None:
    finding.remediation_claimed_at = finding.remediation_claimed_by = None


@transaction.atomic
def finding_mark_remediated(
    finding: Finding, *, actor: User, verified: bool, note: str = "", request=None
) -> Finding:
    """Remediated. By MSSP staff (`verified`): remediated and verified at once, the
    remediation clock met. By a customer: a claim, awaiting MSSP verification; the finding
    stays open (or in remediation) and its clock runs until then."""
    finding = _locked(finding)
    if finding.status not in OPEN_FINDING_STATUSES:
        raise FindingError(
            f"Only an open or in-remediation finding can be marked remediated; this one is "
            f"{finding.status}."
        )
    now = timezone.now()
    was = finding.status
    if not verified:
        if finding.remediation_claimed_at is not None:
            raise FindingError("The finding is already marked remediated, awaiting verification.")
        finding.remediation_claimed_at, finding.remediation_claimed_by = now, actor
        finding.save(update_fields=[*_CLAIM_FIELDS, "updated_at"])
        summary = "Marked remediated, awaiting verification by the MSSP"
        _record(
            finding,
            actor,
            "remediation_claimed",
            summary + (f": {note}" if note else ""),
            {"status": was, "note": note},
            request,
        )
        return finding
    finding.status, finding.remediated_at = S.REMEDIATED, now
    finding.remediated_by = actor
    finding.verified_at, finding.verified_by = now, actor
    _drop_claim(finding)
    finding.save(
        update_fields=[
            "status",
            "remediated_at",
            "remediated_by",
            "verified_at",
            "verified_by",
            *_CLAIM_FIELDS,
            "updated_at",
        ]
    )
    clocks.stop(finding, now, met=True)
    _record(
        finding,
        actor,
        "remediated",
        "Remediated" + (f": {note}" if note else ""),
        {"from": was, "verified": True, "note": note},
        request,
    )
    return finding


@transaction.atomic
def finding_verify(finding: Finding, *, actor: User, request=None) -> Finding:
    """MSSP staff confirm a customer's claim: the finding is remediated now, its clock met
    now (the claim's time stays on the timeline)."""
    finding = _locked(finding)
    if not finding.awaits_verification:
        raise FindingError(
            "Only a finding marked remediated and awaiting verification can be verified."
        )
    now = timezone.now()
    was, claimed_at = finding.status, finding.remediation_claimed_at
    finding.verified_at, finding.verified_by = now, actor
    if finding.is_open:
        finding.status, finding.remediated_at = S.REMEDIATED, now
        finding.remediated_by_id = finding.remediation_claimed_by_id
        clocks.stop(finding, now, met=True)
    _drop_claim(finding)
    finding.save(
        update_fields=[
            "status",
            "remediated_at",
            "remediated_by",
            "verified_at",
            "verified_by",
            *_CLAIM_FIELDS,
            "updated_at",
        ]
    )
    data = {"from": was, "claimed_at": claimed_at.isoformat() if claimed_at else None}
    _record(finding, actor, "verified", "Remediation verified", data, request)
    return finding


@transaction.atomic
def finding_reject_remediation(
    finding: Finding, *, actor: User, reason: str, request=None
) -> Finding:
    """MSSP staff do not confirm a customer's claim: it is withdrawn, with why; the finding
    stays as it was, open on its clock."""
    finding = _locked(finding)
    reason = reason.strip()
    if not (finding.is_open and finding.awaits_verification):
        raise FindingError(
            "Only a finding marked remediated and awaiting verification can be refused."
        )
    if not reason:
        raise FindingError("Say why the remediation is not confirmed: a reason is required.")
    claimed_by = finding.remediation_claimed_by_id
    _drop_claim(finding)
    finding.save(update_fields=[*_CLAIM_FIELDS, "updated_at"])
    _record(
        finding,
        actor,
        "remediation_rejected",
        f"Remediation not confirmed: {reason}",
        {"reason": reason, "claimed_by": claimed_by},
        request,
    )
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
    _drop_claim(finding)
    finding.save(
        update_fields=[
            *_CLAIM_FIELDS,
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
    _drop_claim(finding)
    finding.save(update_fields=["status", *_CLAIM_FIELDS, "updated_at"])
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
