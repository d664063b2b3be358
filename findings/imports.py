"""Scanner imports: the upload's checks at the request (its size and beginning), the stored
file queued for a worker (or, embedded, a thread beside the server), and the import's run in
two streaming passes, a chunk of records a transaction (findings.reconcile writes them).

Whose scans verify: MSSP staff's and the system's own; what a customer's upload no longer
finds only awaits the MSSP's verification."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from itertools import islice

from django.conf import settings
from django.db import OperationalError, transaction
from django.utils import timezone

from tenants import audit, events, jobs
from tenants.actions import Invalid
from tenants.models import Tenant, User
from tenants.rls import rls_bypass, tenant_scope

from . import importers, reconcile
from .models import Engagement, ScanImport
from .timeline import AUDIENCE

logger = logging.getLogger("mssp.findings")

IMPORT_CHUNK = 1000  # records one task run imports (one transaction: its progress commits)


class UploadTooLarge(Invalid):
    """The upload is larger than FINDINGS_IMPORT_MAX_BYTES (a 413)."""

    status_code = 413


def max_upload_bytes() -> int:
    return settings.FINDINGS_IMPORT_MAX_BYTES


def declared_length(request) -> int:
    """The request body's declared size (its Content-Length), read before the body is."""
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


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


def enqueue_import(tenant_id: int, import_id) -> None:
    """Run the import after the current transaction commits: a Celery task, or in the
    embedded mode a thread beside the server (tenants.jobs.start_after_commit)."""
    jobs.start_after_commit(
        "findings.tasks.run_import", tenant_id, import_id, run_in_thread=import_run_or_fail
    )


STALLED_AFTER = timedelta(minutes=5)


def resume_stalled_imports(now: datetime | None = None) -> int:
    """Imports whose task was lost or whose worker died (no committed chunk for
    STALLED_AFTER) go on from their last committed chunk. Each is marked as taken up now, so
    that the next minute's sweep does not start another chain of tasks for the same import
    while this one is still queued."""
    now = now or timezone.now()
    with transaction.atomic(), rls_bypass("stalled imports of every tenant"):
        imports = ScanImport.objects.dangerously_unscoped("stalled imports")
        stalled = list(
            jobs.stalled(
                imports, now, queued_for=STALLED_AFTER, running_for=STALLED_AFTER
            ).values_list("tenant_id", "pk")[:100]
        )
        imports.filter(pk__in=[pk for _, pk in stalled]).update(updated_at=now)
        for tenant_id, pk in stalled:
            enqueue_import(tenant_id, pk)
    return len(stalled)


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
            scan.updated_at = scan.started_at
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
                scan.total, scan.updated_at = total, timezone.now()
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
                scan.updated_at = now  # the heartbeat: the stalled sweep leaves it alone
                if done:
                    reconcile.close_missing(scan, now)
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
    scan.finished_at = scan.updated_at = now
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
    assets = reconcile.assets_for_hosts(scan.tenant_id, [r.host for r in good], now)
    rows: dict[str, tuple] = {}
    for record in good:
        asset = assets[record.host.identifier]
        key = reconcile.dedup_key(scan.kind, asset.pk, record.plugin_id, record.port)
        rows[key] = (record, asset)  # the same finding twice in one file: the last one counts
    reconcile.upsert_findings(scan, rows, now)
