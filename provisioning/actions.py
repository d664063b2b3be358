"""SCIM provisioning's actions, one path for the settings page and the API
(tenants.actions): mint and revoke a tenant's SCIM token, add and remove a group-to-role
mapping. Each is audited; a new mapping re-computes the roles of the group's members."""

from __future__ import annotations

from typing import Any, NamedTuple

from django.db.models.functions import Lower
from django.http import HttpRequest
from django.utils import timezone
from rest_framework import serializers

from tenants import audit
from tenants.access import Access
from tenants.actions import Action, Invalid, Refused
from tenants.models import Membership, Tenant, User

from . import policy
from .models import GroupRoleMapping, ScimGroupMember, ScimToken
from .services import apply_group_role

REFUSED = "Only this organisation's admins and the MSSP's admins configure SCIM provisioning."


def check_manage(access: Access, target: Tenant | ScimToken | GroupRoleMapping) -> None:
    tenant_id = target.pk if isinstance(target, Tenant) else target.tenant_id
    if not policy.manages_provisioning(access, tenant_id):
        raise Refused(REFUSED)


# --- tokens ------------------------------------------------------------------------------------
class TextField(serializers.CharField):
    """A name given as a JSON string, not a number or a list DRF would turn into one."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class ScimTokenInput(serializers.Serializer[Any]):
    name = TextField(max_length=100, trim_whitespace=True)


class MintedToken(NamedTuple):
    token: ScimToken
    raw: str


def mint_token(
    tenant: Tenant,
    *,
    actor: User | None,
    access: Access,
    request: HttpRequest | None,
    name: str,
) -> MintedToken:
    raw, prefix, digest = ScimToken.generate()
    token = ScimToken.objects.create(
        tenant=tenant, name=name, prefix=prefix, digest=digest, created_by=actor
    )
    audit.record(
        "scim.token_created",
        actor=actor,
        tenant=tenant,
        obj=token,
        request=request,
        summary=f"SCIM token '{name}' ({prefix}…) created",
        data={"prefix": prefix},
    )
    return MintedToken(token, raw)


SCIM_TOKEN_MINT = Action(
    name="scim.token_created",
    do=mint_token,
    check=check_manage,
    serializer=ScimTokenInput,
    done=lambda minted: f"SCIM token '{minted.token.name}' created.",
    step_up=True,  # a second factor given recently (tenants.mfa)
)


def revoke_token(
    token: ScimToken, *, actor: User | None, access: Access, request: HttpRequest | None
) -> ScimToken:
    if token.revoked_at is not None:
        raise Invalid(f"'{token.name}' was already revoked.", status_code=409)
    token.revoked_at = timezone.now()
    ScimToken.objects.for_tenant(token.tenant_id).filter(pk=token.pk).update(
        revoked_at=token.revoked_at
    )
    audit.record(
        "scim.token_revoked",
        actor=actor,
        tenant=token.tenant_id,
        obj=token,
        request=request,
        summary=f"SCIM token '{token.name}' ({token.prefix}…) revoked",
        data={"prefix": token.prefix},
    )
    return token


SCIM_TOKEN_REVOKE = Action(
    name="scim.token_revoked",
    do=revoke_token,
    check=check_manage,
    done=lambda token: f"SCIM token '{token.name}' revoked: it stops working now.",
)


# --- group -> role mappings --------------------------------------------------------------------
class MappingInput(serializers.Serializer[Any]):
    group_name = TextField(max_length=255, trim_whitespace=True)
    role = serializers.ChoiceField(choices=Membership.Role.choices)

    def validate_group_name(self, value: str) -> str:
        tenant = self.context.get("target")
        taken = (
            GroupRoleMapping.objects.for_tenant(tenant)
            .annotate(lower=Lower("group_name"))
            .filter(lower=value.lower())
            .exists()
        )
        if taken:
            raise serializers.ValidationError(f"The group '{value}' is mapped already.")
        return value


def _reapply(
    tenant: Tenant, group_name: str, actor: User | None, request: HttpRequest | None
) -> int:
    """The members of the mapped group (and, once a tenant maps anything, everyone in a SCIM
    group) get their role from the mapping now."""
    rows = (
        ScimGroupMember.objects.for_tenant(tenant)
        .select_related("member__user", "member__tenant")
        .order_by("member_id")
    )
    changed = 0
    seen = set()
    for row in rows:
        if row.member_id in seen:
            continue
        seen.add(row.member_id)
        before = row.member.role
        after = apply_group_role(
            tenant,
            row.member,
            actor_name=getattr(actor, "username", "") or "",
            request=request,
        )
        changed += before != after
    return changed


def add_mapping(
    tenant: Tenant,
    *,
    actor: User | None,
    access: Access,
    request: HttpRequest | None,
    group_name: str,
    role: str,
) -> GroupRoleMapping:
    mapping: GroupRoleMapping = GroupRoleMapping.objects.create(
        tenant=tenant, group_name=group_name, role=role
    )
    audit.record(
        "scim.group_role_mapped",
        actor=actor,
        tenant=tenant,
        obj=mapping,
        request=request,
        summary=f"group '{group_name}' gives the role {role}",
        data={"group": group_name, "role": role},
    )
    _reapply(tenant, group_name, actor, request)
    return mapping


SCIM_MAPPING_ADD = Action(
    name="scim.group_role_mapped",
    do=add_mapping,
    check=check_manage,
    serializer=MappingInput,
    done=lambda m: f"Members of '{m.group_name}' are now {m.role}s.",
    step_up=True,  # a second factor given recently (tenants.mfa)
)


def remove_mapping(
    mapping: GroupRoleMapping,
    *,
    actor: User | None,
    access: Access,
    request: HttpRequest | None,
) -> GroupRoleMapping:
    tenant = Tenant.objects.get(pk=mapping.tenant_id)
    audit.record(
        "scim.group_role_unmapped",
        actor=actor,
        tenant=tenant,
        obj=mapping,
        request=request,
        summary=f"group '{mapping.group_name}' no longer gives the role {mapping.role}",
        data={"group": mapping.group_name, "role": mapping.role},
    )
    GroupRoleMapping.objects.for_tenant(tenant).filter(pk=mapping.pk).delete()
    _reapply(tenant, mapping.group_name, actor, request)
    return mapping


SCIM_MAPPING_REMOVE = Action(
    name="scim.group_role_unmapped",
    do=remove_mapping,
    check=check_manage,
    done=lambda m: f"The mapping of '{m.group_name}' was removed.",
    step_up=True,  # a second factor given recently (tenants.mfa)
)
