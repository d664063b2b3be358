"""Intake sources: what a tenant's admins do with their SIEMs and sensors (create one, change
it, rotate its key, revoke it), one action each for the settings pages and the API
(tenants.actions). The writes, audit entries included, are alerts.services' source_*."""

from __future__ import annotations

from typing import NamedTuple

from django.db import IntegrityError, transaction

from tenants.access import Access
from tenants.actions import Action, Invalid, Refused
from tenants.models import Tenant

from . import services
from .api.serializers import IntakeSourceSerializer, IntakeSourceUpdateSerializer
from .models import IntakeSource

NAME_TAKEN = "This tenant already has a source of that name."


def may_administer_sources(access: Access, target: Tenant | IntakeSource) -> bool:
    """A tenant's intake sources are administered by its own admins and MSSP admins."""
    tenant_id = target.pk if isinstance(target, Tenant) else target.tenant_id
    return access.can_administer(tenant_id)


def check_administers(access: Access, target: Tenant | IntakeSource) -> None:
    if not may_administer_sources(access, target):
        raise Refused("Only MSSP admins and this customer's admins may change this.")


class SourceKey(NamedTuple):
    """A source and its intake key, which is shown this once."""

    source: IntakeSource
    key: str


def create_source(tenant: Tenant, *, actor, access, request, **fields) -> SourceKey:
    source = IntakeSource(tenant=tenant, **fields)
    try:
        key = services.source_create(source, request=request)
    except IntegrityError:  # the same name, created a moment ago by someone else
        raise Invalid({"name": NAME_TAKEN}) from None
    return SourceKey(source, key)


def update_source(source: IntakeSource, *, actor, access, request, **changes) -> IntakeSource:
    for field, value in changes.items():
        setattr(source, field, value)
    try:
        with transaction.atomic():
            source.save()
    except IntegrityError:
        raise Invalid({"name": NAME_TAKEN}) from None
    services.source_updated(source, changes, request=request)
    return source


def rotate_source_key(source: IntakeSource, *, actor, access, request) -> SourceKey:
    """A new key; the old one stops working at once (and a revoked source is active again)."""
    return SourceKey(source, services.source_rotate_key(source, request=request))


def revoke_source(source: IntakeSource, *, actor, access, request) -> IntakeSource:
    """Disable the source and void its key; its alerts stay."""
    services.source_revoke(source, request=request)
    return source


# The serializers read the tenant from their context's `tenant` (a name is unique per tenant).
CREATE_SOURCE = Action(
    "intake_source.create",
    do=create_source,
    check=check_administers,
    serializer=IntakeSourceSerializer,
    done=lambda made: f"'{made.source.name}' created: its key is shown below, this once.",
    step_up=True,  # a second factor given recently (tenants.mfa)
)
UPDATE_SOURCE = Action(
    "intake_source.update",
    do=update_source,
    check=check_administers,
    serializer=IntakeSourceUpdateSerializer,
    changes_target=True,
    done=lambda source: f"'{source.name}' saved.",
)
ROTATE_SOURCE_KEY = Action(
    "intake_source.rotate_key",
    do=rotate_source_key,
    check=check_administers,
    done=lambda made: f"'{made.source.name}' has a new key: it is shown below, this once.",
    step_up=True,  # a second factor given recently (tenants.mfa)
)
REVOKE_SOURCE = Action(
    "intake_source.revoke",
    do=revoke_source,
    check=check_administers,
    done=lambda source: (
        f"'{source.name}' disabled and its key revoked. Rotate its key to use it again."
    ),
)
