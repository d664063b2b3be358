"""What a user can do with threat intelligence, one Action each, run by the pages (intel.views)
and the API (intel.api.views) alike: the API's serializer states the input's rules, `check`
asks intel.policy, `do` calls the service in intel.services (tenants.actions explains the
split).

There is no action to start a retro-hunt by hand: a hunt starts when an indicator, or an
import's list, becomes active (intel.services.indicator_create / import_run).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from django.conf import settings
from django.http import HttpRequest

from alerts.models import Incident
from tenants.access import Access
from tenants.actions import Action, Invalid, Refused
from tenants.models import Tenant, User

from . import parsing, policy, services
from .api.serializers import (
    ImportUploadSerializer,
    IndicatorCreateSerializer,
    IndicatorUpdateSerializer,
)
from .models import Indicator, IndicatorImport, IndicatorMatch, RetroHunt

USE_REFUSAL = "Threat intelligence is managed by MSSP staff and admins."
RAISE_REFUSAL = "Raising an incident from a match is for MSSP staff."


def check_uses_intel(access: Access, _target: Any = None) -> None:
    """The intel pages and management API as a whole (the adapters ask it before anything)."""
    if not policy.may_use_intel(access):
        raise Refused(USE_REFUSAL)


def _refuse_unless_manages(access: Access, tenant_id: int | None, refusal: str) -> None:
    if not policy.may_manage(access, tenant_id):
        raise Refused(refusal)


def indicator_refusal(tenant_id: int | None) -> str:
    if tenant_id is None:
        return "Global indicators are managed by MSSP admins, managers, leads and L2/L3 analysts."
    return "You may read this tenant's indicators but not change them."


# --- indicators ---------------------------------------------------------------------------------
class Saved(NamedTuple):
    """An indicator saved by `INDICATOR_CREATE`: new or updated, and the hunt it started."""

    indicator: Indicator
    created: bool
    retro_hunt: RetroHunt | None


def _create_indicator(
    _target: None, *, actor: User, access: Access, request: HttpRequest | None, **validated: Any
) -> Saved:
    # The scope is in the input (the serializer resolves the tenant's slug), so who may
    # manage it is asked once the input is read.
    tenant_id = validated.pop("tenant_id")
    validated.pop("tenant", None)
    _refuse_unless_manages(access, tenant_id, indicator_refusal(tenant_id))
    kind, value = validated.pop("type"), validated.pop("value")
    return Saved(*services.indicator_create(tenant_id, kind, value, validated, actor=actor))


def _saved_message(saved: Saved) -> str:
    indicator = saved.indicator
    return f"{'Added' if saved.created else 'Updated'} {indicator.type} {indicator.value}" + (
        "; a retro-hunt searches earlier alerts." if saved.retro_hunt else "."
    )


INDICATOR_CREATE = Action(
    name="intel.indicator_create",
    check=check_uses_intel,
    serializer=IndicatorCreateSerializer,
    do=_create_indicator,
    done=_saved_message,
)


def _check_manages_indicator(access: Access, indicator: Indicator) -> None:
    _refuse_unless_manages(access, indicator.tenant_id, indicator_refusal(indicator.tenant_id))


def _update_indicator(
    indicator: Indicator,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None,
    **changes: Any,
) -> Indicator:
    return services.indicator_update(indicator, changes, actor=actor)


def _updated_message(indicator: Indicator) -> str:
    if indicator.status == Indicator.Status.REVOKED:
        return f"Revoked {indicator.type} {indicator.value}: it no longer matches."
    return f"Saved {indicator.type} {indicator.value}."


INDICATOR_UPDATE = Action(
    name="intel.indicator_update",
    check=_check_manages_indicator,
    serializer=IndicatorUpdateSerializer,
    changes_target=True,
    do=_update_indicator,
    done=_updated_message,
)


def _delete_indicator(
    indicator: Indicator, *, actor: User, access: Access, request: HttpRequest | None
) -> None:
    services.indicator_delete(indicator)


INDICATOR_DELETE = Action(
    name="intel.indicator_delete",
    check=_check_manages_indicator,
    do=_delete_indicator,
    done="Deleted the indicator; its matches stay.",
)


# --- imports --------------------------------------------------------------------------------------
class ImportTooLarge(Invalid):
    """A list above INTEL_IMPORT_MAX_BYTES (413). Raised by the adapters as they read the
    body, before the action runs: a body too large is refused before it is read."""

    status_code = 413


def refuse_too_large(size: int) -> None:
    """Refuse a list of `size` bytes above the limit; `size` may be the declared length."""
    limit = settings.INTEL_IMPORT_MAX_BYTES
    if size > limit:
        raise ImportTooLarge(
            f"The list is larger than {limit // 1024} KiB (INTEL_IMPORT_MAX_BYTES); split it."
        )


def refuse_declared_too_large(content_length: str | None) -> None:
    """A Content-Length well above the limit (the multipart wrapping allowed for) is refused
    before Django reads the body."""
    declared = content_length or "0"
    if declared.isdigit() and int(declared) > settings.INTEL_IMPORT_MAX_BYTES + 64 * 1024:
        refuse_too_large(int(declared))


@dataclass(frozen=True)
class Upload:
    """An uploaded list as the adapter read it (a multipart file, or the API's raw body)."""

    content: bytes
    filename: str = ""


def _import_tenant(access: Access, slug: str) -> int | None:
    """The scope of an import: a customer's own tenant, a tenant the caller sees by slug, or
    global (no slug)."""
    if access.customer_tenant_id is not None:  # access.is_customer, spelled so mypy narrows
        own = Tenant.objects.get(pk=access.customer_tenant_id)
        if slug and slug != own.slug:
            raise Invalid({"tenant": [f"No such tenant: '{slug}'."]})
        return own.pk
    if not slug:
        return None
    tenant = Tenant.objects.filter(slug=slug, pk__in=access.tenant_ids).first()
    if tenant is None:
        raise Invalid({"tenant": [f"No such tenant: '{slug}'."]})
    return tenant.pk


def _create_import(
    upload: Upload, *, actor: User, access: Access, request: HttpRequest | None, **options: Any
) -> IndicatorImport:
    if not upload.content.strip():
        raise Invalid({"file": ["The list is empty."]})
    tenant_id = _import_tenant(access, options.pop("tenant", "") or "")
    _refuse_unless_manages(
        access,
        tenant_id,
        "Global imports are for MSSP admins, managers, leads and L2/L3 analysts."
        if tenant_id is None
        else "You may not import indicators for this tenant.",
    )
    fmt = options.pop("kind")
    options.pop("file", None)
    try:
        content = parsing.decode(upload.content)
        return services.import_create(
            tenant_id, fmt, content, filename=upload.filename, defaults=options, actor=actor
        )
    except parsing.UnreadableImport as exc:
        raise Invalid({"file": [str(exc)]}) from None


IMPORT_CREATE = Action(
    name="intel.import_create",
    check=check_uses_intel,
    serializer=ImportUploadSerializer,
    do=_create_import,
    done="Uploaded; the list is read in the background.",
)


# --- matches ----------------------------------------------------------------------------------
def check_raises_by_hand(access: Access, _match: IndicatorMatch | None = None) -> None:
    """Raising an incident from a match is an analyst's decision. Asked before the match is
    looked up too, so that a customer is refused (403) whether or not they see the match."""
    if not access.is_mssp_staff:
        raise Refused(RAISE_REFUSAL)


def _raise_severity(
    match: IndicatorMatch, *, actor: User, access: Access, request: HttpRequest | None
) -> Incident:
    return services.match_raise_severity(match, actor=actor)


MATCH_RAISE = Action(
    name="intel.match_raise",
    check=check_raises_by_hand,
    do=_raise_severity,
    done=lambda incident: f"The incident is now {incident.severity}.",
)
