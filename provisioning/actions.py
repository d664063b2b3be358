"""SCIM provisioning's actions, one path for the settings page and the API
(tenants.actions): mint and revoke a tenant's SCIM token, add and remove a group-to-role
mapping. Each is audited; a new mapping re-computes the roles of the group's members."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import requests
from allauth.socialaccount.models import SocialAccount
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.http import HttpRequest
from django.utils import timezone
from rest_framework import serializers

from tenants import audit, sealed, webhooks
from tenants.access import Access
from tenants.actions import Action, Invalid, Refused
from tenants.models import Membership, StaffRole, Tenant, User

from . import policy
from .models import (
    GroupRoleMapping,
    IdentityProvider,
    ScimGroupMember,
    ScimToken,
    SsoDomain,
    StaffGroupRoleMapping,
)
from .services import apply_group_role

REFUSED = "Only this organisation's admins and the MSSP's admins configure SCIM provisioning."
MAX_METADATA_CHARS = 1024 * 1024  # an uploaded SAML metadata document


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


# --- single sign-on: the tenant's identity provider -------------------------------------------
SSO_REFUSED = "Only this organisation's admins and the MSSP's admins configure single sign-on."
VERIFY_REFUSED = "Only the MSSP's admins verify a claim to an e-mail domain."
DOMAIN = re.compile(r"^(?=.{4,253}\Z)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\Z")
# What the audit entry names when they change (the secret by name only, never its value).
CONFIG_FIELDS = (
    "kind",
    "enabled",
    "issuer",
    "discovery_url",
    "client_id",
    "metadata_url",
    "metadata_xml",
    "scopes",
    "username_claim",
    "email_claim",
    "groups_claim",
    "sso_only",
    "default_role",
    "staff_second_factor",
)


def check_manage_sso(access: Access, target: Tenant | IdentityProvider | SsoDomain) -> None:
    tenant_id = target.pk if isinstance(target, Tenant) else target.tenant_id
    if tenant_id is None or not policy.manages_sso(access, tenant_id):  # None: the MSSP's
        raise Refused(SSO_REFUSED)


def check_verify_domain(access: Access, target: SsoDomain) -> None:
    check_manage_sso(access, target)
    if target.tenant_id is None or not policy.verifies_domains(access, target.tenant_id):
        raise Refused(VERIFY_REFUSED)


class ClaimField(TextField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=100, trim_whitespace=True, **kwargs)


class IdentityProviderInput(serializers.Serializer[Any]):
    """A tenant's OpenID Connect provider or SAML 2.0 identity provider. PUT gives all of it
    (the secret may be left out to keep the stored one); PATCH any part.

    OpenID Connect: issuer, client id and secret. SAML: the IdP's metadata, by URL (read now,
    through the SSRF guard, and again whenever the configuration is saved with it) or as the
    document itself; the issuer is then the metadata's entity id."""

    kind = serializers.ChoiceField(choices=IdentityProvider.Kind.choices, default="oidc")
    enabled = serializers.BooleanField(default=True)
    issuer = serializers.URLField(max_length=500, required=False, allow_blank=True)
    discovery_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    client_id = TextField(max_length=255, trim_whitespace=True, required=False, allow_blank=True)
    metadata_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    metadata_xml = TextField(
        max_length=MAX_METADATA_CHARS, required=False, allow_blank=True, trim_whitespace=True
    )
    client_secret = TextField(
        max_length=2000, required=False, allow_blank=True, write_only=True, trim_whitespace=True
    )
    scopes = TextField(max_length=255, default="openid profile email", trim_whitespace=True)
    username_claim = ClaimField(default="preferred_username")
    email_claim = ClaimField(default="email")
    groups_claim = ClaimField(default="groups", allow_blank=True)
    sso_only = serializers.BooleanField(default=False)
    default_role = serializers.ChoiceField(
        choices=Membership.Role.choices, default=Membership.Role.VIEWER
    )

    def _check_url(self, value: str) -> str:
        if not value:
            return value
        if not value.startswith("https://") and not settings.WEBHOOK_ALLOW_PRIVATE:
            raise serializers.ValidationError("Use an https:// address.")
        try:
            webhooks.check_destination(value)
        except webhooks.DestinationRefused as exc:
            raise serializers.ValidationError(f"This address cannot be used: {exc}.") from None
        except webhooks.DeliveryFailed as exc:
            raise serializers.ValidationError(f"This address cannot be reached: {exc}.") from None
        return value

    def validate_issuer(self, value: str) -> str:
        return self._check_url(value)

    def validate_discovery_url(self, value: str) -> str:
        return self._check_url(value)

    def validate_metadata_url(self, value: str) -> str:
        return self._check_url(value)

    def validate_metadata_xml(self, value: str) -> str:
        if value:
            from .saml import MetadataError, parse_metadata

            try:
                parse_metadata(value)
            except MetadataError as exc:
                raise serializers.ValidationError(str(exc)) from None
        return value

    def validate_scopes(self, value: str) -> str:
        scopes = value.split()
        if "openid" not in scopes:
            raise serializers.ValidationError("The scopes must include openid.")
        return " ".join(dict.fromkeys(scopes))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        current = self.instance if isinstance(self.instance, IdentityProvider) else None
        target = self.context.get("target")
        if current is None and isinstance(target, Tenant):
            current = IdentityProvider.objects.for_tenant(target).first()
        if current is None and isinstance(target, IdentityProvider):
            current = None if target._state.adding else target  # the MSSP's, when it exists
        kind = attrs.get("kind") or (current.kind if current else IdentityProvider.Kind.OIDC)
        if kind == IdentityProvider.Kind.SAML:
            return self._validate_saml(attrs, current)
        same_kind = current is not None and current.kind == kind
        for name, says in (("issuer", "Give the issuer."), ("client_id", "Give the client ID.")):
            if not attrs.get(name, getattr(current, name, "") if same_kind else ""):
                raise serializers.ValidationError({name: [says]})
        has_secret = bool(attrs.get("client_secret")) or bool(
            current is not None and current.sealed_secrets
        )
        if not has_secret:
            raise serializers.ValidationError({"client_secret": ["Give the client secret."]})
        return attrs

    def _validate_saml(
        self, attrs: dict[str, Any], current: IdentityProvider | None
    ) -> dict[str, Any]:
        same_kind = current is not None and current.kind == IdentityProvider.Kind.SAML
        if attrs.get("metadata_url") and attrs.get("metadata_xml"):
            raise serializers.ValidationError(
                {"metadata_xml": ["Give the metadata's URL or the metadata, not both."]}
            )
        if not (
            attrs.get("metadata_url")
            or attrs.get("metadata_xml")
            or (same_kind and current is not None and current.metadata_xml)
        ):
            raise serializers.ValidationError(
                {"metadata_url": ["Give the identity provider's metadata URL or its metadata."]}
            )
        for unused in ("client_secret", "discovery_url"):
            attrs.pop(unused, None)
        return attrs


def _discover(config: IdentityProvider) -> None:
    """The provider's discovery document, read through the SSRF guard: it must answer, and
    name the configured issuer."""
    from .sso import guarded_session

    try:
        with guarded_session() as session:
            response = session.get(config.discovery, timeout=10)
            document = response.json() if response.status_code == 200 else None
    except (requests.RequestException, ValueError):
        document = None
    if not isinstance(document, dict) or not document.get("authorization_endpoint"):
        raise Invalid(
            {"discovery_url": [f"No OpenID Connect discovery document at {config.discovery}."]}
        )
    if document.get("issuer") != config.issuer:
        named = document.get("issuer")
        raise Invalid(
            {"issuer": [f"The provider's discovery document names the issuer {named!r}."]}
        )


def _read_metadata(config: IdentityProvider, fields: dict[str, Any]) -> None:
    """A SAML IdP's metadata: the uploaded document, or the one its URL gives now (read
    through the SSRF guard on every save that names it); its entity id is the issuer."""
    from .saml import MetadataError, fetch_metadata, parse_metadata

    if fields.get("metadata_xml"):
        fields["metadata_url"] = ""
    elif fields.get("metadata_url"):
        try:
            document = fetch_metadata(fields["metadata_url"])
            parse_metadata(document)
        except MetadataError as exc:
            raise Invalid({"metadata_url": [str(exc)]}) from None
        fields["metadata_xml"] = document
    else:
        return
    fields["issuer"] = parse_metadata(fields["metadata_xml"])["idp"]["entityId"][:500]
    config.metadata_read_at = timezone.now()


def _write_config(
    config: IdentityProvider,
    fields: dict[str, Any],
    *,
    created: bool,
    actor: User | None,
    request: HttpRequest | None,
) -> IdentityProvider:
    if fields.get("kind", config.kind) == IdentityProvider.Kind.SAML:
        _read_metadata(config, fields)
    kind_changed = not created and "kind" in fields and fields["kind"] != config.kind
    changed = [
        name for name in CONFIG_FIELDS if name in fields and getattr(config, name) != fields[name]
    ]
    for name in changed:
        setattr(config, name, fields[name])
    secret = fields.get("client_secret")
    if secret:
        config.sealed_secrets = sealed.seal({"client_secret": secret})
        config.secret_hint = sealed.hint(secret)
        changed.append("client_secret")
    if not changed and not created:
        return config
    if config.kind == IdentityProvider.Kind.OIDC and (
        created or {"kind", "issuer", "discovery_url"} & set(changed)
    ):
        _discover(config)
    config.updated_at = timezone.now()
    config.save()
    if kind_changed and config.kind == IdentityProvider.Kind.SAML:
        config.sealed_secrets, config.secret_hint = "", ""
        config.save(update_fields=["sealed_secrets", "secret_hint"])
    if kind_changed:
        # Another kind of provider names its subjects differently (sub, NameID): the members'
        # old identities are unlinked, and each is linked again by its name at its next sign-in.
        SocialAccount.objects.filter(provider=config.provider_id).delete()
    summary = (
        "single sign-on configured" if created else "single sign-on changed: " + ", ".join(changed)
    )
    if "sso_only" in changed:
        summary += " (SSO only " + ("on" if config.sso_only else "off") + ")"
    audit.record(
        "sso.config_changed",
        actor=actor,
        tenant=config.tenant_id,
        obj=config,
        request=request,
        summary=summary,
        data={"changed": sorted(changed), "created": created, "sso_only": config.sso_only},
    )
    return config


def save_config(
    tenant: Tenant,
    *,
    actor: User | None,
    access: Access,
    request: HttpRequest | None,
    **fields: Any,
) -> IdentityProvider:
    config = IdentityProvider.objects.for_tenant(tenant).first()
    created = config is None
    if config is None:
        config = IdentityProvider(tenant=tenant)
    fields.setdefault("discovery_url", "")
    if fields.get("kind") == IdentityProvider.Kind.SAML:
        fields.setdefault("client_id", "")
    else:
        fields.update(metadata_url="", metadata_xml="")
    return _write_config(config, fields, created=created, actor=actor, request=request)


SSO_SAVE = Action(
    name="sso.config_changed",
    do=save_config,
    check=check_manage_sso,
    serializer=IdentityProviderInput,
    done="Single sign-on saved.",
    step_up=True,  # who may sign in to the tenant (tenants.mfa)
)


def update_config(
    config: IdentityProvider,
    *,
    actor: User | None,
    access: Access,
    request: HttpRequest | None,
    **fields: Any,
) -> IdentityProvider:
    return _write_config(config, fields, created=False, actor=actor, request=request)


SSO_UPDATE = Action(
    name="sso.config_changed",
    do=update_config,
    check=check_manage_sso,
    serializer=IdentityProviderInput,
    changes_target=True,
    done="Single sign-on saved.",
    step_up=True,
)


def remove_config(
    config: IdentityProvider, *, actor: User | None, access: Access, request: HttpRequest | None
) -> IdentityProvider:
    audit.record(
        "sso.config_changed",
        actor=actor,
        tenant=config.tenant_id,
        obj=config,
        request=request,
        summary="single sign-on removed",
        data={"changed": ["removed"], "created": False, "sso_only": False},
    )
    IdentityProvider.objects.for_tenant(config.tenant_id).filter(pk=config.pk).delete()
    return config


SSO_REMOVE = Action(
    name="sso.config_changed",
    do=remove_config,
    check=check_manage_sso,
    done="Single sign-on removed: members sign in with their passwords.",
    step_up=True,
)


# --- single sign-on: e-mail domains ------------------------------------------------------------
class DomainInput(serializers.Serializer[Any]):
    domain = TextField(max_length=253, trim_whitespace=True)

    def validate_domain(self, value: str) -> str:
        domain = value.strip().rstrip(".").lower()
        if domain.startswith("@"):
            domain = domain[1:]
        if not DOMAIN.match(domain):
            raise serializers.ValidationError("Give a domain name such as example.com.")
        return domain


def claim_domain(
    tenant: Tenant | None,  # None: one of the MSSP's own domains
    *,
    actor: User | None,
    access: Access,
    request: HttpRequest | None,
    domain: str,
) -> SsoDomain:
    try:
        with transaction.atomic():
            claim: SsoDomain = SsoDomain.objects.create(
                tenant=tenant, domain=domain, created_by=actor
            )
    except IntegrityError:
        # never which tenant holds it: the same answer for every holder
        raise Invalid(
            {"domain": ["This domain cannot be claimed: it is claimed already."]}
        ) from None
    audit.record(
        "sso.domain_claimed",
        actor=actor,
        tenant=tenant,
        obj=claim,
        request=request,
        summary=f"e-mail domain {domain} claimed for single sign-on (pending verification)",
        data={"domain": domain},
    )
    return claim


SSO_DOMAIN_CLAIM = Action(
    name="sso.domain_claimed",
    do=claim_domain,
    check=check_manage_sso,
    serializer=DomainInput,
    done=lambda d: (
        f"{d.domain} claimed. Publish its TXT record and check it (or ask an MSSP "
        "admin to verify it) before it is used."
    ),
    step_up=True,
)


def _claim_rows(claim: SsoDomain) -> Any:
    """The claim's row, in its tenant's scope; one of the MSSP's own is a row of no tenant."""
    if claim.tenant_id is None:
        return SsoDomain.objects.dangerously_unscoped("one of the MSSP's domains").filter(
            tenant__isnull=True, pk=claim.pk
        )
    return SsoDomain.objects.for_tenant(claim.tenant_id).filter(pk=claim.pk)


def verify_domain(
    claim: SsoDomain, *, actor: User | None, access: Access, request: HttpRequest | None
) -> SsoDomain:
    if claim.verified_at is not None:
        raise Invalid(f"{claim.domain} is verified already.", status_code=409)
    claim.verified_at = timezone.now()
    claim.verified_by = actor
    claim.verified_method = "manual"
    _claim_rows(claim).update(
        verified_at=claim.verified_at, verified_by=actor, verified_method="manual"
    )
    audit.record(
        "sso.domain_verified",
        actor=actor,
        tenant=claim.tenant_id,
        obj=claim,
        request=request,
        summary=f"e-mail domain {claim.domain} verified: its users sign in with single sign-on",
        data={"domain": claim.domain, "method": "manual"},
    )
    return claim


def _dns_verified(claim: SsoDomain, *, actor: User | None, request: HttpRequest | None) -> bool:
    """Look the claim's TXT record up; verify the claim when it holds the token."""
    from . import dns_verify

    published = dns_verify.published(claim.domain, claim.verification_token)
    now = timezone.now()
    rows = _claim_rows(claim)
    if not published:
        rows.update(dns_checked_at=now)
        return False
    # only a claim still pending (a concurrent check or an MSSP admin may have been first)
    if not rows.filter(verified_at__isnull=True).update(
        verified_at=now, verified_by=actor, verified_method="dns", dns_checked_at=now
    ):
        return False
    claim.verified_at, claim.verified_by, claim.verified_method = now, actor, "dns"
    audit.record(
        "sso.domain_verified",
        actor=actor,
        tenant=claim.tenant_id,
        obj=claim,
        request=request,
        summary=f"e-mail domain {claim.domain} verified by its DNS record: its users sign in "
        "with single sign-on",
        data={"domain": claim.domain, "method": "dns"},
    )
    return True


def check_domain_dns(
    claim: SsoDomain, *, actor: User | None, access: Access, request: HttpRequest | None
) -> SsoDomain:
    from . import dns_verify

    if claim.verified_at is not None:
        raise Invalid(f"{claim.domain} is verified already.", status_code=409)
    try:
        verified = _dns_verified(claim, actor=actor, request=request)
    except dns_verify.DnsUnavailable:
        raise Invalid(
            f"DNS could not be asked about {claim.domain} just now. Try again in a minute.",
            status_code=503,
        ) from None
    if not verified:
        raise Invalid(
            f"No TXT record {dns_verify.record_name(claim.domain)} holding "
            f"{dns_verify.record_value(claim.verification_token)} was found. DNS changes can "
            "take a while to be seen; the portal also checks again every 15 minutes."
        )
    return claim


SSO_DOMAIN_CHECK = Action(
    name="sso.domain_verified",
    do=check_domain_dns,
    check=check_manage_sso,
    done=lambda d: f"{d.domain} verified by its DNS record.",
    step_up=True,
)


def recheck_pending_domains() -> int:
    """Every tenant's pending claims, looked up in DNS again (the periodic task); the number
    verified."""
    from tenants.rls import rls_bypass, tenant_scope

    from . import dns_verify

    with rls_bypass("sso: pending e-mail domain claims, checked in DNS"):
        pending = list(
            SsoDomain.objects.dangerously_unscoped("pending claims of every tenant")
            .filter(verified_at__isnull=True)
            .order_by("dns_checked_at", "created_at")[:500]
        )
    verified = 0
    for claim in pending:
        scope: Any = (
            tenant_scope([claim.tenant_id])
            if claim.tenant_id is not None
            else rls_bypass("sso: one of the MSSP's pending domains, checked in DNS")
        )
        try:
            with scope, transaction.atomic():
                verified += _dns_verified(claim, actor=None, request=None)
        except dns_verify.DnsUnavailable:
            continue
    return verified


SSO_DOMAIN_VERIFY = Action(
    name="sso.domain_verified",
    do=verify_domain,
    check=check_verify_domain,
    done=lambda d: f"{d.domain} verified.",
    step_up=True,
)


def remove_domain(
    claim: SsoDomain, *, actor: User | None, access: Access, request: HttpRequest | None
) -> SsoDomain:
    audit.record(
        "sso.domain_removed",
        actor=actor,
        tenant=claim.tenant_id,
        obj=claim,
        request=request,
        summary=f"e-mail domain {claim.domain} removed from single sign-on",
        data={"domain": claim.domain},
    )
    _claim_rows(claim).delete()
    return claim


SSO_DOMAIN_REMOVE = Action(
    name="sso.domain_removed",
    do=remove_domain,
    check=check_manage_sso,
    done=lambda d: f"{d.domain} removed.",
    step_up=True,
)


# --- the MSSP's own single sign-on (its staff's identity provider) ------------------------------
MSSP_SSO_REFUSED = "Only the MSSP's admins configure the MSSP's own single sign-on."


def check_manage_mssp_sso(access: Access, target: Any) -> None:
    if not policy.manages_mssp_sso(access):
        raise Refused(MSSP_SSO_REFUSED)


class MsspIdentityProviderInput(IdentityProviderInput):
    """The MSSP's own provider: a tenant's options (its default_role is unused: a staff login's
    role comes from its groups only), and what counts as a staff login's second factor."""

    staff_second_factor = serializers.ChoiceField(
        choices=IdentityProvider.StaffSecondFactor.choices,
        default=IdentityProvider.StaffSecondFactor.PORTAL,
        help_text="portal: staff give the portal's own second factor after the IdP (the "
        "default); idp: the IdP's multi-factor sign-in counts, when its ID token's amr or its "
        "assertion's AuthnContextClassRef proves it.",
    )


def save_mssp_config(
    config: IdentityProvider,
    *,
    actor: User | None,
    access: Access,
    request: HttpRequest | None,
    **fields: Any,
) -> IdentityProvider:
    """Set all of the MSSP's provider (`config`: the stored one, or a new one of no tenant)."""
    created = config._state.adding
    fields.setdefault("discovery_url", "")
    if fields.get("kind") == IdentityProvider.Kind.SAML:
        fields.setdefault("client_id", "")
    else:
        fields.update(metadata_url="", metadata_xml="")
    try:
        with transaction.atomic():
            return _write_config(config, fields, created=created, actor=actor, request=request)
    except IntegrityError:  # another admin configured it at the same moment
        raise Invalid(
            "The MSSP's single sign-on was configured meanwhile.", status_code=409
        ) from None


MSSP_SSO_SAVE = Action(
    name="sso.config_changed",
    do=save_mssp_config,
    check=check_manage_mssp_sso,
    serializer=MsspIdentityProviderInput,
    done="The MSSP's single sign-on saved.",
    step_up=True,  # who becomes MSSP staff
)
MSSP_SSO_UPDATE = Action(
    name="sso.config_changed",
    do=update_config,
    check=check_manage_mssp_sso,
    serializer=MsspIdentityProviderInput,
    changes_target=True,
    done="The MSSP's single sign-on saved.",
    step_up=True,
)


def remove_mssp_config(
    config: IdentityProvider, *, actor: User | None, access: Access, request: HttpRequest | None
) -> IdentityProvider:
    audit.record(
        "sso.config_changed",
        actor=actor,
        obj=config,
        request=request,
        summary="the MSSP's single sign-on removed: staff sign in with their passwords",
        data={"changed": ["removed"], "created": False, "sso_only": False, "mssp": True},
    )
    IdentityProvider.objects.dangerously_unscoped("the MSSP's provider").filter(
        tenant__isnull=True, pk=config.pk
    ).delete()
    return config


MSSP_SSO_REMOVE = Action(
    name="sso.config_changed",
    do=remove_mssp_config,
    check=check_manage_mssp_sso,
    done="The MSSP's single sign-on removed: staff sign in with their passwords.",
    step_up=True,
)

# The MSSP's e-mail domains: claimed (target None: the MSSP's), proved by their DNS TXT record
# like a tenant's (no manual verification: nobody above the MSSP vouches for it), removed.
MSSP_DOMAIN_CLAIM = Action(
    name="sso.domain_claimed",
    do=claim_domain,
    check=check_manage_mssp_sso,
    serializer=DomainInput,
    done=lambda d: f"{d.domain} claimed. Publish its TXT record and check it before it is used.",
    step_up=True,
)
MSSP_DOMAIN_CHECK = Action(
    name="sso.domain_verified",
    do=check_domain_dns,
    check=check_manage_mssp_sso,
    done=lambda d: f"{d.domain} verified by its DNS record.",
    step_up=True,
)
MSSP_DOMAIN_REMOVE = Action(
    name="sso.domain_removed",
    do=remove_domain,
    check=check_manage_mssp_sso,
    done=lambda d: f"{d.domain} removed.",
    step_up=True,
)


class StaffMappingInput(serializers.Serializer[Any]):
    group_name = TextField(max_length=255, trim_whitespace=True)
    role = serializers.ChoiceField(choices=StaffRole.choices)

    def validate_group_name(self, value: str) -> str:
        if not value:
            raise serializers.ValidationError("Give the group's name.")
        return value


def add_staff_mapping(
    target: Any,
    *,
    actor: User | None,
    access: Access,
    request: HttpRequest | None,
    group_name: str,
    role: str,
) -> StaffGroupRoleMapping:
    try:
        with transaction.atomic():
            mapping = StaffGroupRoleMapping.objects.create(
                group_name=group_name, role=role, created_by=actor
            )
    except IntegrityError:
        raise Invalid(
            {"group_name": [f"The group {group_name!r} is mapped already."]}, status_code=409
        ) from None
    audit.record(
        "sso.staff_mapping_added",
        actor=actor,
        obj=mapping,
        request=request,
        summary=f"the MSSP's group {group_name!r} gives the staff role {role}",
        data={"group_name": group_name, "role": role},
    )
    return mapping


MSSP_GROUP_ROLE_ADD = Action(
    name="sso.staff_mapping_added",
    do=add_staff_mapping,
    check=check_manage_mssp_sso,
    serializer=StaffMappingInput,
    done=lambda m: f"Members of {m.group_name} sign in as {m.get_role_display()}.",
    step_up=True,
)


def remove_staff_mapping(
    mapping: StaffGroupRoleMapping,
    *,
    actor: User | None,
    access: Access,
    request: HttpRequest | None,
) -> StaffGroupRoleMapping:
    audit.record(
        "sso.staff_mapping_removed",
        actor=actor,
        obj=mapping,
        request=request,
        summary=f"the MSSP's group {mapping.group_name!r} no longer gives a staff role "
        "(its members lose it at their next sign-in)",
        data={"group_name": mapping.group_name, "role": mapping.role},
    )
    StaffGroupRoleMapping.objects.filter(pk=mapping.pk).delete()
    return mapping


MSSP_GROUP_ROLE_REMOVE = Action(
    name="sso.staff_mapping_removed",
    do=remove_staff_mapping,
    check=check_manage_mssp_sso,
    done=lambda m: f"{m.group_name} no longer gives a staff role.",
    step_up=True,
)
