"""Files given with a new incident (the raise form at /incidents/new/): received, limited and
kept exactly as evidence added on the incident's page (cases.evidence, actions.ADD_ATTACHMENT),
and all or nothing with the incident.

Registered on alerts.extensions in CasesConfig.ready(), so the alerts app's form and open
action keep files without importing cases. What differs from one upload on the incident's page:

- the body holds several files, so together they may be at most EVIDENCE_MAX_BYTES (what the
  proxy lets through on this route); a body declared larger is refused before it is read;
- every file is checked against the customer's limits (size each, files per incident) before
  the incident is opened, so a refused file leaves no incident, no row and no stored file;
- a file stored before a later one failed (the store gave up) is removed again.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from alerts.api.serializers import RAISE_MAX_FILES
from alerts.extensions import IncidentFiles
from alerts.models import Incident
from tenants.access import Access
from tenants.actions import Invalid, perform
from tenants.models import User

from . import actions, evidence

NOTHING_RAISED = "Nothing was raised: choose the files again"


def too_much(limit: int) -> str:
    return (
        f"The files together are larger than {evidence.human_size(limit)}, the most one raise "
        f"takes. {NOTHING_RAISED}, fewer or smaller, and add the rest on the incident's page."
    )


class EvidenceOnOpen(IncidentFiles):
    def before_body(self, request: HttpRequest) -> str:
        if evidence.declared_too_large(request):
            return too_much(settings.EVIDENCE_MAX_BYTES)
        evidence.receive_with_hashing(request)
        return ""

    def cut_short(self, request: HttpRequest) -> str:
        handlers = request.upload_handlers
        if any(getattr(h, "too_large", False) for h in handlers):
            return too_much(settings.EVIDENCE_MAX_BYTES)
        return ""

    def check(self, access: Access, tenant_id: int, files: list[Any]) -> None:
        max_bytes, max_count = evidence.limits(tenant_id)
        if len(files) > max_count:
            raise Invalid(
                {
                    "attachments": [
                        f"This customer's incidents hold at most {max_count} evidence files. "
                        f"{NOTHING_RAISED}."
                    ]
                }
            )
        for upload in files:
            if upload.size > max_bytes:
                name = evidence.clean_name(upload.name or "")
                raise Invalid(
                    {
                        "attachments": [
                            f"{name}: {evidence.too_large_message(max_bytes)} {NOTHING_RAISED}."
                        ]
                    },
                    status_code=413,
                )
        if sum(upload.size for upload in files) > settings.EVIDENCE_MAX_BYTES:
            raise Invalid({"attachments": [too_much(settings.EVIDENCE_MAX_BYTES)]}, status_code=413)

    def attach(
        self,
        incident: Incident,
        files: list[Any],
        *,
        actor: User,
        access: Access,
        request: HttpRequest | None,
        visibility: str,
    ) -> list[Any]:
        """Each file through the evidence action (its permission, its visibility rule: a
        customer's files are shared, staff choose; hashing, safe name, audit, timeline)."""
        kept: list[Any] = []
        try:
            for upload in files:
                data: dict[str, Any] = {"file": upload}
                if visibility:
                    data["visibility"] = visibility
                kept.append(
                    perform(
                        actions.ADD_ATTACHMENT,
                        access=access,
                        target=incident,
                        data=data,
                        actor=actor,
                        request=request,
                    )
                )
        except BaseException:
            for attachment in kept:  # their rows roll back with the incident; the files too
                evidence.remove(attachment.storage_key)
            raise
        return kept

    def hint(self) -> str:
        return (
            f"Up to {RAISE_MAX_FILES} files, {evidence.human_size(settings.EVIDENCE_MAX_BYTES)} "
            "in all. Kept as evidence: hashed, never opened."
        )


PROVIDER = EvidenceOnOpen()
