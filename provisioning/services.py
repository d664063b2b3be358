"""SCIM's changes to a tenant's users and groups, each audited with the SCIM token as the
actor. Every function takes the `Caller` (the token and its tenant) and touches that tenant's
rows only: the token decides the tenant, never the URL or the body.

A SCIM User is a Membership of the tenant; its login is `<tenant-slug>/<userName>` (as for
members a customer admin adds, tenants.models.member_username), so a userName never meets, and
never reveals, an account of another tenant or of the MSSP's staff.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from tenants import audit, sessions
from tenants.jobs import enqueue
from tenants.models import ApiToken, Membership, Tenant, User, UserSession, member_username
from tenants.services import member_remove, sync_responder_permission

from . import roles
from .models import ScimGroup, ScimGroupMember, ScimToken, ScimUser
from .scim import patch, schemas
from .scim.errors import ScimError, bad_request

USER_NAME = re.compile(r"^[\w.@+-]{1,100}\Z")


@dataclass(frozen=True)
class Caller:
    token: ScimToken
    tenant: Tenant
    request: HttpRequest | None
    base: str  # the SCIM base URL, e.g. https://portal.example/scim/v2


def record(caller: Caller, action: str, obj: Any, summary: str, **data: Any) -> None:
    """An audit entry whose actor is the SCIM token (no person acted)."""
    event = audit.entry(
        action,
        tenant=caller.tenant,
        obj=obj,
        request=caller.request,
        summary=summary,
        data={"scim_token": str(caller.token.pk), "token_prefix": caller.token.prefix, **data},
    )
    event.actor = None
    event.actor_name = caller.token.actor_name
    event.save(force_insert=True)


def etag_of(document: dict[str, Any]) -> str:
    body = json.dumps({k: v for k, v in document.items() if k != "meta"}, sort_keys=True)
    return 'W/"' + hashlib.sha256(body.encode()).hexdigest()[:20] + '"'


def _stamp(value: Any) -> str:
    return value.isoformat().replace("+00:00", "Z") if value else ""


# --- users -------------------------------------------------------------------------------------
def user_name_of(membership: Membership) -> str:
    """The SCIM userName of a member: their login without the tenant's prefix."""
    scim = _scim_of(membership)
    if scim is not None:
        return scim.user_name
    prefix = membership.tenant.slug + "/"
    username = membership.user.username
    return username[len(prefix) :] if username.startswith(prefix) else username


def _scim_of(membership: Membership) -> ScimUser | None:
    try:
        return membership.scim
    except ScimUser.DoesNotExist:
        return None


def members(caller: Caller) -> Any:
    return (
        Membership.objects.for_tenant(caller.tenant)
        .select_related("user", "tenant", "scim")
        .order_by("created_at", "pk")
    )


def user_filter_attrs(caller: Caller) -> Any:
    from .scim.filters import bool_q, string_q

    name_q = string_q("scim__user_name")
    login_q = string_q("user__username")
    prefix = caller.tenant.slug + "/"

    def user_name(op: str, value: Any) -> Q:
        # members SCIM never named: their login, without the tenant's prefix when it has one
        unnamed = Q(scim__isnull=True)
        if op in ("eq", "ne", "sw") and isinstance(value, str):
            inner = name_q("eq" if op == "ne" else op, value) | (
                unnamed & (login_q("eq" if op == "ne" else op, prefix + value))
            )
            if op in ("eq", "ne"):
                inner |= unnamed & login_q("eq", value) & ~Q(user__username__startswith=prefix)
            return ~inner if op == "ne" else inner
        return name_q(op, value) | (unnamed & login_q(op, value))

    return {
        "username": user_name,
        "externalid": string_q("scim__external_id", case_exact=True),
        "id": string_q("id", case_exact=True),
        "active": bool_q("user__is_active"),
        "displayname": string_q("scim__display_name"),
        "emails": string_q("user__email"),
        "emails.value": string_q("user__email"),
        "name.givenname": string_q("user__first_name"),
        "name.familyname": string_q("user__last_name"),
    }


def user_document(caller: Caller, membership: Membership) -> dict[str, Any]:
    user = membership.user
    scim = _scim_of(membership)
    attributes = dict(scim.attributes) if scim is not None else {}
    extension = attributes.pop(schemas.ENTERPRISE, None)
    document: dict[str, Any] = {"schemas": [schemas.USER], "id": str(membership.pk)}
    if scim is not None and scim.external_id:
        document["externalId"] = scim.external_id
    document["userName"] = user_name_of(membership)
    name = dict(attributes.pop("name", None) or {})
    name.update({"givenName": user.first_name, "familyName": user.last_name})
    name = {k: v for k, v in name.items() if v not in (None, "")}
    if name:
        name.setdefault("formatted", " ".join(p for p in (user.first_name, user.last_name) if p))
        document["name"] = name
    display = (scim.display_name if scim is not None else "") or user.get_full_name()
    if display:
        document["displayName"] = display
    emails = attributes.pop("emails", None)
    if user.email and not emails:
        emails = [{"value": user.email, "type": "work", "primary": True}]
    if emails:
        document["emails"] = emails
    document["active"] = user.is_active
    document.update(attributes)
    if extension:
        document["schemas"] = [schemas.USER, schemas.ENTERPRISE]
        document[schemas.ENTERPRISE] = extension
    groups = (
        ScimGroupMember.objects.for_tenant(caller.tenant)
        .filter(member=membership)
        .select_related("group")
    )
    group_list = [
        {
            "value": str(row.group_id),
            "display": row.group.display_name,
            "$ref": f"{caller.base}/Groups/{row.group_id}",
            "type": "direct",
        }
        for row in groups
    ]
    if group_list:
        document["groups"] = group_list
    document["meta"] = {
        "resourceType": "User",
        "created": _stamp(membership.created_at),
        "lastModified": _stamp(scim.updated_at if scim is not None else membership.created_at),
        "location": f"{caller.base}/Users/{membership.pk}",
    }
    document["meta"]["version"] = etag_of(document)
    return document


@dataclass
class UserInput:
    user_name: str
    external_id: str
    display_name: str
    given_name: str
    family_name: str
    email: str
    active: bool
    attributes: dict[str, Any]


USER_SCHEMA = patch.Schema(
    core=schemas.USER,
    names=schemas.canonical_names(schemas.USER_ATTRIBUTES),
    subs=schemas.sub_names(schemas.USER_ATTRIBUTES),
    multi=frozenset(a["name"] for a in schemas.USER_ATTRIBUTES if a["multiValued"]),
    extensions={
        schemas.ENTERPRISE: (
            schemas.canonical_names(schemas.ENTERPRISE_ATTRIBUTES),
            schemas.sub_names(schemas.ENTERPRISE_ATTRIBUTES),
        )
    },
)
GROUP_SCHEMA = patch.Schema(
    core=schemas.GROUP,
    names=schemas.canonical_names(schemas.GROUP_ATTRIBUTES),
    subs=schemas.sub_names(schemas.GROUP_ATTRIBUTES),
    multi=frozenset({"members"}),
    extensions={},
)


def _check_schemas(document: Any, core: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise ScimError(400, "The body is a JSON object.", "invalidSyntax")
    named = document.get("schemas")
    if not isinstance(named, list) or core not in named:
        raise ScimError(400, f"The body's schemas must include {core}.", "invalidSyntax")
    unknown = [uri for uri in named if uri not in allowed]
    if unknown:
        raise ScimError(400, f"Unknown schema {unknown[0]!r}.", "invalidSyntax")
    return document


def _text(value: Any, field: str, limit: int = 255) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise bad_request(f"{field} is a string.")
    if len(value) > limit:
        raise bad_request(f"{field} is at most {limit} characters.")
    return value


def _boolean(value: Any) -> bool:
    # Entra ID sends "True"/"False" as strings in PATCH values.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise bad_request("active is true or false.")


def parse_user(document: Any) -> UserInput:
    document = _check_schemas(document, schemas.USER, {schemas.USER, schemas.ENTERPRISE})
    names = USER_SCHEMA.names
    attributes: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for key, value in document.items():
        if key == schemas.ENTERPRISE or key.lower() == schemas.ENTERPRISE.lower():
            if not isinstance(value, dict):
                raise bad_request("The enterprise extension is an object.")
            ext_names = USER_SCHEMA.extensions[schemas.ENTERPRISE][0]
            unknown = [k for k in value if k.lower() not in ext_names]
            if unknown:
                raise ScimError(
                    400, f"Unknown enterprise attribute {unknown[0]!r}.", "invalidSyntax"
                )
            attributes[schemas.ENTERPRISE] = {ext_names[k.lower()]: v for k, v in value.items()}
            continue
        canonical = names.get(key.lower())
        if canonical is None:
            raise ScimError(400, f"Unknown attribute {key!r} for a User.", "invalidSyntax")
        values[canonical] = value
    user_name = values.get("userName")
    if not isinstance(user_name, str) or not user_name.strip():
        raise bad_request("userName is required.")
    user_name = user_name.strip()
    if not USER_NAME.match(user_name):
        raise bad_request(
            "userName is at most 100 letters, digits and @ . + - _ (an e-mail address works)."
        )
    name = values.get("name") or {}
    if not isinstance(name, dict):
        raise bad_request("name is an object.")
    emails = values.get("emails") or []
    if not isinstance(emails, list) or not all(isinstance(e, dict) for e in emails):
        raise bad_request("emails is a list of objects.")
    email = ""
    for candidate in sorted(emails, key=lambda e: not e.get("primary")):
        email = _text(candidate.get("value"), "emails.value", 254)
        if email:
            try:
                validate_email(email)
            except ValidationError:
                raise bad_request(f"{email!r} is not an e-mail address.") from None
            break
    for key in (
        "emails",
        "phoneNumbers",
        "ims",
        "photos",
        "addresses",
        "entitlements",
        "roles",
        "x509Certificates",
    ):
        if key in values and values[key] is not None:
            if not isinstance(values[key], list):
                raise bad_request(f"{key} is a list.")
            attributes[key] = values[key]
    for key in (
        "nickName",
        "profileUrl",
        "title",
        "userType",
        "preferredLanguage",
        "locale",
        "timezone",
    ):
        if values.get(key) is not None:
            attributes[key] = _text(values[key], key)
    extra_name = {k: v for k, v in name.items() if k not in ("givenName", "familyName")}
    if extra_name:
        attributes["name"] = extra_name
    return UserInput(
        user_name=user_name,
        external_id=_text(values.get("externalId"), "externalId"),
        display_name=_text(values.get("displayName"), "displayName"),
        given_name=_text(name.get("givenName"), "name.givenName", 150),
        family_name=_text(name.get("familyName"), "name.familyName", 150),
        email=email,
        active=_boolean(values["active"]) if values.get("active") is not None else True,
        attributes=attributes,
    )


def _user_name_taken(caller: Caller, user_name: str, exclude: Membership | None) -> bool:
    others = members(caller)
    if exclude is not None:
        others = others.exclude(pk=exclude.pk)
    attrs = user_filter_attrs(caller)
    return bool(others.filter(attrs["username"]("eq", user_name)).exists())


def create_user(caller: Caller, document: Any) -> Membership:
    data = parse_user(document)
    if _user_name_taken(caller, data.user_name, None):
        raise ScimError(409, f"A user named {data.user_name!r} already exists.", "uniqueness")
    login = member_username(caller.tenant, data.user_name)
    if User.objects.filter(username__iexact=login).exists():
        # a former member's login still held (member removed outside SCIM): never attach
        raise ScimError(409, f"A user named {data.user_name!r} already exists.", "uniqueness")
    user = User(
        username=login,
        email=data.email,
        first_name=data.given_name,
        last_name=data.family_name,
        is_active=data.active,
    )
    user.set_unusable_password()  # they sign in by single sign-on or a reset link
    try:
        with transaction.atomic():
            user.save()
            role = roles.role_for_groups(caller.tenant, []) or roles.LEAST_ROLE
            membership: Membership = Membership.objects.create(
                tenant=caller.tenant, user=user, role=role
            )
    except IntegrityError:
        raise ScimError(
            409, f"A user named {data.user_name!r} already exists.", "uniqueness"
        ) from None
    sync_responder_permission(membership)
    now = timezone.now()
    ScimUser.objects.create(
        tenant=caller.tenant,
        membership=membership,
        user_name=data.user_name,
        external_id=data.external_id,
        display_name=data.display_name,
        attributes=data.attributes,
        created_at=now,
        updated_at=now,
    )
    record(
        caller,
        "scim.user_created",
        membership,
        f"{data.user_name} provisioned as {role}",
        user_name=data.user_name,
        role=role,
        active=data.active,
    )
    if data.active and data.email:
        # until the tenant signs in by single sign-on: a link to choose a password, as for
        # members a customer admin adds (tenants.services.member_add)
        enqueue("tenants.tasks.send_set_password_link", caller.tenant.pk, str(membership.pk))
    created: Membership = members(caller).get(pk=membership.pk)
    return created


def replace_user(
    caller: Caller, membership: Membership, document: Any, *, via: str = "put"
) -> Membership:
    data = parse_user(document)
    if _user_name_taken(caller, data.user_name, membership):
        raise ScimError(409, f"A user named {data.user_name!r} already exists.", "uniqueness")
    user = membership.user
    changes: list[str] = []
    if data.user_name != user_name_of(membership):
        login = member_username(caller.tenant, data.user_name)
        if User.objects.filter(username__iexact=login).exclude(pk=user.pk).exists():
            raise ScimError(409, f"A user named {data.user_name!r} already exists.", "uniqueness")
        user.username = login
        changes.append("userName")
    for field, value, name in (
        ("email", data.email, "emails"),
        ("first_name", data.given_name, "name.givenName"),
        ("last_name", data.family_name, "name.familyName"),
    ):
        if getattr(user, field) != value:
            setattr(user, field, value)
            changes.append(name)
    deactivating = user.is_active and not data.active
    reactivating = not user.is_active and data.active
    if changes:
        user.save(update_fields=["username", "email", "first_name", "last_name"])
    scim = _scim_of(membership) or ScimUser(tenant=caller.tenant, membership=membership)
    before = (scim.user_name, scim.external_id, scim.display_name, scim.attributes)
    scim.user_name, scim.external_id = data.user_name, data.external_id
    scim.display_name, scim.attributes = data.display_name, data.attributes
    if before != (scim.user_name, scim.external_id, scim.display_name, scim.attributes):
        changes += [
            name
            for name, old, new in (
                ("externalId", before[1], scim.external_id),
                ("displayName", before[2], scim.display_name),
                ("attributes", before[3], scim.attributes),
            )
            if old != new
        ]
    scim.updated_at = timezone.now()
    scim.save()
    if changes:
        record(
            caller,
            "scim.user_updated",
            membership,
            f"{data.user_name} changed ({', '.join(sorted(set(changes)))})",
            changed=sorted(set(changes)),
            via=via,
        )
    if deactivating:
        deactivate(caller, membership)
    elif reactivating:
        user.is_active = True
        user.save(update_fields=["is_active"])
        record(caller, "scim.user_reactivated", membership, f"{data.user_name} reactivated")
    replaced: Membership = members(caller).get(pk=membership.pk)
    return replaced


def patch_user(caller: Caller, membership: Membership, body: Any) -> Membership:
    current = user_document(caller, membership)
    for key in ("id", "meta", "groups"):
        current.pop(key, None)
    return replace_user(caller, membership, patch.apply(current, body, USER_SCHEMA), via="patch")


def _end_access(caller: Caller, user: User) -> int:
    """Sessions ended (sockets closed with them) and API tokens revoked, now."""
    ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    return sessions.end_all(
        user.pk, UserSession.EndReason.ADMIN, actor=None, request=caller.request
    )


def deactivate(caller: Caller, membership: Membership) -> None:
    """`active: false`: the account can no longer sign in, and is signed out everywhere now."""
    user = membership.user
    user.is_active = False
    user.save(update_fields=["is_active"])  # its sockets re-check (tenants.signals)
    ended = _end_access(caller, user)
    record(
        caller,
        "scim.user_deactivated",
        membership,
        f"{user_name_of(membership)} deactivated; {ended} session(s) ended",
        sessions_ended=ended,
    )


def delete_user(caller: Caller, membership: Membership) -> None:
    """DELETE: the membership goes (tenants.services.member_remove ends the account), every
    session now, and the login is freed for a later user of the same name."""
    user = membership.user
    user_name = user_name_of(membership)
    ended = _end_access(caller, user)
    record(
        caller,
        "scim.user_deleted",
        membership,
        f"{user_name} deprovisioned; {ended} session(s) ended",
        user_name=user_name,
        sessions_ended=ended,
    )
    member_remove(membership, request=caller.request)
    freed = f"{caller.tenant.slug}/removed.{secrets.token_hex(6)}.{user_name}"[:150]
    User.objects.filter(pk=user.pk).update(username=freed)


# --- groups ------------------------------------------------------------------------------------
def groups(caller: Caller) -> Any:
    return ScimGroup.objects.for_tenant(caller.tenant).order_by("created_at", "pk")


def group_filter_attrs() -> Any:
    from .scim.filters import string_q

    return {
        "displayname": string_q("display_name"),
        "externalid": string_q("external_id", case_exact=True),
        "id": string_q("id", case_exact=True),
        "members": string_q("memberships__member_id", case_exact=True),
        "members.value": string_q("memberships__member_id", case_exact=True),
    }


def group_document(
    caller: Caller, group: ScimGroup, *, with_members: bool = True
) -> dict[str, Any]:
    document: dict[str, Any] = {"schemas": [schemas.GROUP], "id": str(group.pk)}
    if group.external_id:
        document["externalId"] = group.external_id
    document["displayName"] = group.display_name
    if with_members:
        rows = (
            ScimGroupMember.objects.for_tenant(caller.tenant)
            .filter(group=group)
            .select_related("member__user", "member__scim", "member__tenant")
            .order_by("member__created_at")
        )
        document["members"] = [
            {
                "value": str(row.member_id),
                "display": user_name_of(row.member),
                "$ref": f"{caller.base}/Users/{row.member_id}",
                "type": "User",
            }
            for row in rows
        ]
    document["meta"] = {
        "resourceType": "Group",
        "created": _stamp(group.created_at),
        "lastModified": _stamp(group.updated_at),
        "location": f"{caller.base}/Groups/{group.pk}",
    }
    document["meta"]["version"] = etag_of(document)
    return document


@dataclass
class GroupInput:
    display_name: str
    external_id: str
    member_ids: list[str] | None  # None: not given (keep)


def parse_group(caller: Caller, document: Any) -> GroupInput:
    document = _check_schemas(document, schemas.GROUP, {schemas.GROUP})
    values: dict[str, Any] = {}
    for key, value in document.items():
        canonical = GROUP_SCHEMA.names.get(key.lower())
        if canonical is None:
            raise ScimError(400, f"Unknown attribute {key!r} for a Group.", "invalidSyntax")
        values[canonical] = value
    display_name = _text(values.get("displayName"), "displayName").strip()
    if not display_name:
        raise bad_request("displayName is required.")
    member_ids: list[str] | None = None
    if "members" in values:
        raw = values["members"] or []
        if not isinstance(raw, list) or not all(
            isinstance(m, dict) and isinstance(m.get("value"), str) for m in raw
        ):
            raise bad_request('members is a list of {"value": "<user id>"}.')
        member_ids = list(dict.fromkeys(m["value"] for m in raw))
    return GroupInput(display_name, _text(values.get("externalId"), "externalId"), member_ids)


def _memberships_named(caller: Caller, ids: list[str]) -> list[Membership]:
    """The tenant's memberships with these ids; any other id (another tenant's user, staff, a
    typo) is refused alike, and nothing is added."""
    found: dict[str, Membership] = {}
    valid = []
    for value in ids:
        try:
            valid.append(uuid.UUID(value))
        except ValueError:
            raise bad_request(f"No user {value!r} in this tenant.") from None
    for membership in members(caller).filter(pk__in=valid):
        found[str(membership.pk)] = membership
    for value, key in zip(ids, valid, strict=True):
        if str(key) not in found:
            raise bad_request(f"No user {value!r} in this tenant.")
    return [found[str(key)] for key in valid]


def _check_group_name(caller: Caller, name: str, exclude: ScimGroup | None) -> None:
    clash = groups(caller).filter(display_name__iexact=name)
    if exclude is not None:
        clash = clash.exclude(pk=exclude.pk)
    if clash.exists():
        raise ScimError(409, f"A group named {name!r} already exists.", "uniqueness")


def _save_group(group: ScimGroup) -> None:
    """Saved, or 409 when a concurrent request took the name between the check and now."""
    try:
        with transaction.atomic():
            group.save()
    except IntegrityError:
        raise ScimError(
            409, f"A group named {group.display_name!r} already exists.", "uniqueness"
        ) from None


def create_group(caller: Caller, document: Any) -> ScimGroup:
    data = parse_group(caller, document)
    _check_group_name(caller, data.display_name, None)
    chosen = _memberships_named(caller, data.member_ids or [])
    now = timezone.now()
    group = ScimGroup(
        tenant=caller.tenant,
        display_name=data.display_name,
        external_id=data.external_id,
        created_at=now,
        updated_at=now,
    )
    _save_group(group)
    ScimGroupMember.objects.bulk_create(
        ScimGroupMember(tenant=caller.tenant, group=group, member=m) for m in chosen
    )
    record(
        caller,
        "scim.group_created",
        group,
        f"group {data.display_name} created with {len(chosen)} member(s)",
        members=[str(m.pk) for m in chosen],
    )
    recompute_roles(caller, chosen)
    return group


def replace_group(
    caller: Caller, group: ScimGroup, document: Any, *, via: str = "put"
) -> ScimGroup:
    data = parse_group(caller, document)
    _check_group_name(caller, data.display_name, group)
    renamed = data.display_name != group.display_name
    current = {
        row.member_id: row.member
        for row in ScimGroupMember.objects.for_tenant(caller.tenant)
        .filter(group=group)
        .select_related("member__user", "member__tenant")
    }
    added: list[Membership] = []
    removed: list[Membership] = []
    if data.member_ids is not None:
        chosen = _memberships_named(caller, data.member_ids)
        wanted = {m.pk for m in chosen}
        added = [m for m in chosen if m.pk not in current]
        removed = [m for pk, m in current.items() if pk not in wanted]
        if removed:
            ScimGroupMember.objects.for_tenant(caller.tenant).filter(
                group=group, member_id__in=[m.pk for m in removed]
            ).delete()
        ScimGroupMember.objects.bulk_create(
            ScimGroupMember(tenant=caller.tenant, group=group, member=m) for m in added
        )
    old_name = group.display_name
    group.display_name, group.external_id = data.display_name, data.external_id
    group.updated_at = timezone.now()
    _save_group(group)
    if renamed or added or removed:
        summary = f"group {data.display_name}: +{len(added)} / -{len(removed)} member(s)"
        if renamed:
            summary = f"group {old_name} renamed {data.display_name}; " + summary.split(": ", 1)[1]
        record(
            caller,
            "scim.group_updated",
            group,
            summary,
            added=[str(m.pk) for m in added],
            removed=[str(m.pk) for m in removed],
            renamed_from=old_name if renamed else "",
            via=via,
        )
    affected = added + removed + (list(current.values()) if renamed else [])
    recompute_roles(caller, affected)
    return group


def patch_group(caller: Caller, group: ScimGroup, body: Any) -> ScimGroup:
    current = group_document(caller, group)
    for key in ("id", "meta"):
        current.pop(key, None)
    return replace_group(caller, group, patch.apply(current, body, GROUP_SCHEMA), via="patch")


def delete_group(caller: Caller, group: ScimGroup) -> None:
    former = [
        row.member
        for row in ScimGroupMember.objects.for_tenant(caller.tenant)
        .filter(group=group)
        .select_related("member__user", "member__tenant")
    ]
    record(caller, "scim.group_deleted", group, f"group {group.display_name} deleted")
    group.delete()
    recompute_roles(caller, former)


# --- roles from groups -------------------------------------------------------------------------
def recompute_roles(caller: Caller, affected: list[Membership]) -> None:
    """Each affected member's role from their groups, now (provisioning.roles)."""
    seen: set[Any] = set()
    for membership in affected:
        if membership.pk in seen:
            continue
        seen.add(membership.pk)
        apply_group_role(
            caller.tenant, membership, actor_name=caller.token.actor_name, caller=caller
        )


def apply_group_role(
    tenant: Tenant,
    membership: Membership,
    *,
    actor_name: str,
    caller: Caller | None = None,
    request: HttpRequest | None = None,
) -> str:
    """Set the member's role from their SCIM groups and the tenant's mapping; the role it has
    afterwards. The tenant's last active admin is never demoted by a mapping (someone must be
    able to fix it)."""
    names = list(
        ScimGroupMember.objects.for_tenant(tenant)
        .filter(member=membership)
        .values_list("group__display_name", flat=True)
    )
    role = roles.role_for_groups(tenant, names)
    previous = membership.role
    if role is None or role == previous:
        return previous
    if previous == Membership.Role.ADMIN:
        others = (
            Membership.objects.for_tenant(tenant)
            .filter(role=Membership.Role.ADMIN, user__is_active=True)
            .exclude(pk=membership.pk)
        )
        if not others.exists():
            entry = audit.entry(
                "scim.role_kept",
                tenant=tenant,
                obj=membership,
                request=caller.request if caller else request,
                summary=f"{membership.user.username} stays admin: the tenant's only admin",
                data={"mapped_role": role, "groups": names},
            )
            entry.actor_name = actor_name
            entry.save(force_insert=True)
            return previous
    membership.role = role
    membership.save(update_fields=["role"])  # its sockets re-check (tenants.signals)
    sync_responder_permission(membership)
    entry = audit.entry(
        "scim.role_changed",
        tenant=tenant,
        obj=membership,
        request=caller.request if caller else request,
        summary=f"{membership.user.username}: {previous} → {role} (groups)",
        data={"from": previous, "to": role, "groups": names},
    )
    entry.actor_name = actor_name
    if caller is not None:
        entry.data["scim_token"] = str(caller.token.pk)
    entry.save(force_insert=True)
    return role
