"""What an import's records do to the tenant's findings: their hosts found or made assets,
the findings inserted or updated in one statement a chunk (a rescan reopens what it finds
again and withdraws a claim it refutes), and, at the import's end, what a rescan no longer
finds remediated or, from a customer's scan, proposed for the MSSP to verify."""

from __future__ import annotations

import hashlib
from datetime import datetime

from django.db.models import Q

from alerts.models import SEVERITY_RANK
from tenants import audit
from tenants.models import AuditEvent

from . import clocks
from .models import (
    OPEN_FINDING_STATUSES,
    Asset,
    Finding,
    FindingEvent,
    FindingStatus,
    RemediationClock,
    ScanImport,
)
from .workflow import VERIFIED_FIELDS


def dedup_key(scanner: str, asset_id, plugin_id: str, port: str) -> str:
    raw = "\x1f".join([scanner, str(asset_id), plugin_id, port])
    return hashlib.sha256(raw.encode()).hexdigest()


def assets_for_hosts(tenant_id: int, hosts: list, now: datetime) -> dict[str, Asset]:
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


def upsert_findings(scan: ScanImport, rows: dict[str, tuple], now: datetime) -> None:
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
            if before.status == FindingStatus.REMEDIATED:
                # The rescan still finds it: the fix did not hold (or never happened).
                finding.status = FindingStatus.OPEN
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

    def event(finding: Finding, kind: str, summary: str, **data) -> FindingEvent:
        """A timeline entry of this import for one finding."""
        return FindingEvent(
            tenant_id=tenant_id,
            finding_id=finding.pk,
            at=now,
            kind=kind,
            summary=summary,
            data={"import": str(scan.pk), **data},
        )

    found_by = f"Found by the {scan.get_kind_display()} import of {scan.file_name}"
    timeline = [event(finding, "imported", found_by) for finding in created]
    for finding, _before in reopened:
        clocks.resume(finding, now, targets)
        summary = f"Reopened: the import of {scan.file_name} still finds it"
        timeline.append(event(finding, "reopened", summary, cause="rescan"))
    for finding in refuted:
        summary = (
            f"Still found by the import of {scan.file_name}: the remediation "
            "awaiting verification did not hold"
        )
        timeline.append(event(finding, "remediation_refuted", summary, cause="rescan"))
    for finding, old in rerated:
        clocks.retarget(finding, targets)
        summary = f"Severity {old} → {finding.severity} (import of {scan.file_name})"
        timeline.append(
            event(finding, "severity_changed", summary, **{"from": old, "to": finding.severity})
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


def close_missing(scan: ScanImport, now: datetime) -> None:
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
            Q(status__in=OPEN_FINDING_STATUSES)
            | Q(status=FindingStatus.REMEDIATED, verified_at=None)
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
            if was == FindingStatus.REMEDIATED:
                kind, summary = "verified", f"Verified: {not_found}"
            else:
                kind, summary = "remediated", f"Remediated: {not_found}"
                finding.status, finding.remediated_at = FindingStatus.REMEDIATED, now
                finding.remediated_by_id = finding.remediation_claimed_by_id
                clocks.stop(finding, now, met=True)
                scan.closed_count += 1
            finding.verified_at, finding.verified_by = now, None
            finding.remediation_claimed_at = finding.remediation_claimed_by = None
            finding.save(update_fields=VERIFIED_FIELDS)
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
