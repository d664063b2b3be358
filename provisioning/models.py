"""SCIM 2.0 provisioning of a tenant's users and groups (RFC 7643/7644), and the mapping from
an identity provider's groups to the tenant's roles (provisioning.roles, which single sign-on
reuses).

A SCIM user is a Membership of the token's tenant (its `id` is the membership's); what SCIM
says about the person beyond our User's fields (externalId, display name, phone numbers, the
enterprise extension ...) is kept on ScimUser. A SCIM group is the tenant's ScimGroup; its
members are memberships of the same tenant, so a group can never hold another tenant's user.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone

from tenants.models import (
    Membership,
    MintedSecret,
    StaffRole,
    Tenant,
    TenantOwnedModel,
    new_public_id,
)

# The MSSP's own single sign-on (its staff's identity provider, its e-mail domains, the
# assertions its IdP sent) lives in the tenants' tables as the rows of no tenant (tenant NULL),
# rather than in look-alike tables of its own: the protocol code (provisioning.sso, .saml) and
# its callbacks serve both unchanged, and a domain's one unique column keeps an e-mail domain
# from being both the MSSP's and a customer's, which two tables could only check in code.
# Row-level security: the policy admits such a row only to MSSP staff's transactions (or the
# sign-in's logged rls_bypass), never to a customer's; the API and pages further limit it to
# MSSP admins (provisioning.policy.manages_mssp_sso).
MSSP_ROW_REASON = "The MSSP's own single sign-on (its staff's) belongs to no customer."
MSSP_ROW_FOR_STAFF = (
    "(tenant_id IS NULL AND coalesce(current_setting('mssp.staff', true), '') = 'on')"
)


class ScimToken(MintedSecret, TenantOwnedModel):
    """The bearer token an identity provider's SCIM client presents. It belongs to the tenant,
    not to the admin who minted it (it outlives them), reaches /scim/v2/ and nothing else, and
    decides the tenant of every request. Only its SHA-256 digest is stored."""

    PREFIX = "mssp_scim_"
    SHOWN_CHARS = 6

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="scim_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=24, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    # The token is the credential: a request presenting it may read this one row before any
    # tenant is known (tenants.rls: the presented key's digest, as intake keys do).
    rls_also_visible_when = "digest = nullif(current_setting('mssp.intake_key', true), '')"

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def actor_name(self) -> str:
        """Who the audit log names for this token's changes."""
        return f"SCIM token '{self.name}' ({self.prefix}…)"[:150]


class ScimUser(TenantOwnedModel):
    """What the identity provider said about one member beyond our User's own fields."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    membership = models.OneToOneField(Membership, on_delete=models.CASCADE, related_name="scim")
    user_name = models.CharField(max_length=140)  # the SCIM userName (our login: tenant/name)
    external_id = models.CharField(max_length=255, blank=True)
    display_name = models.CharField(max_length=255, blank=True)
    # Other core and enterprise-extension attributes, as sent (phoneNumbers, title, ...).
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.user_name


class ScimGroup(TenantOwnedModel):
    """A group the tenant's identity provider pushed, with its members."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="scim_groups")
    display_name = models.CharField(max_length=255)
    external_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["display_name"]
        constraints = [
            models.UniqueConstraint(
                "tenant", Lower("display_name"), name="scimgroup_unique_display_name"
            )
        ]

    def __str__(self) -> str:
        return self.display_name


class ScimGroupMember(TenantOwnedModel):
    """One membership in one group, both of the same tenant."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey(ScimGroup, on_delete=models.CASCADE, related_name="memberships")
    member = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="scim_groups")

    class Meta:
        ordering = ["group", "member"]
        constraints = [
            models.UniqueConstraint(fields=["group", "member"], name="scimgroupmember_unique")
        ]

    def __str__(self) -> str:
        return f"{self.member_id} in {self.group_id}"


class GroupRoleMapping(TenantOwnedModel):
    """An identity provider's group (by its display name, case-insensitive) and the tenant
    role its members get. Read by provisioning.roles for SCIM, and by single sign-on for the
    groups claim of a login."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="group_roles")
    group_name = models.CharField(max_length=255)
    role = models.CharField(max_length=20, choices=Membership.Role.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["group_name"]
        constraints = [
            models.UniqueConstraint(
                "tenant", Lower("group_name"), name="grouprolemapping_unique_group"
            )
        ]

    def __str__(self) -> str:
        return f"{self.group_name} → {self.role}"


# --- single sign-on ----------------------------------------------------------------------------
class IdentityProvider(TenantOwnedModel):
    """A tenant's single sign-on: its OpenID Connect provider or SAML 2.0 identity provider
    (one per tenant), how to read the claims (attributes) of a login, and whether passwords
    still work for its users. The client secret is sealed (tenants.sealed) and never shown
    again after it was given, only its last characters (`secret_hint`).

    SAML: `issuer` is the IdP's entity id, read with its single sign-on address and signing
    certificates from its metadata (`metadata_xml`: uploaded, or fetched from `metadata_url`
    when saved); `client_id` and the secret are unused."""

    class Kind(models.TextChoices):
        OIDC = "oidc", "OpenID Connect"
        SAML = "saml", "SAML 2.0"

    class StaffSecondFactor(models.TextChoices):
        PORTAL = "portal", "The portal's own second factor, after the IdP"
        IDP = "idp", "The IdP's multi-factor sign-in, when its assertion proves it"

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    # None: the MSSP's own identity provider, which signs in MSSP staff and nobody else.
    tenant = models.OneToOneField(  # type: ignore[assignment]  # nullable: the MSSP's
        Tenant,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="identity_provider",
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.OIDC)
    enabled = models.BooleanField(default=True)
    # The issuer (the `iss` of its tokens); its discovery document is read from
    # `discovery_url`, by default <issuer>/.well-known/openid-configuration.
    issuer = models.URLField(max_length=500)
    discovery_url = models.URLField(max_length=500, blank=True)
    client_id = models.CharField(max_length=255, blank=True)
    metadata_url = models.URLField(max_length=500, blank=True)
    metadata_xml = models.TextField(blank=True)
    metadata_read_at = models.DateTimeField(null=True, blank=True)
    sealed_secrets = models.TextField(blank=True, editable=False)  # {"client_secret": ...}
    secret_hint = models.CharField(max_length=8, blank=True, editable=False)
    scopes = models.CharField(max_length=255, default="openid profile email")
    username_claim = models.CharField(max_length=100, default="preferred_username")
    email_claim = models.CharField(max_length=100, default="email")
    groups_claim = models.CharField(max_length=100, default="groups")
    sso_only = models.BooleanField(default=False)
    default_role = models.CharField(
        max_length=20, choices=Membership.Role.choices, default=Membership.Role.VIEWER
    )
    # The MSSP's provider only (provisioning.sso.staff_second_factor): what is a staff
    # sign-in's second factor. The portal's own unless set otherwise.
    staff_second_factor = models.CharField(
        max_length=10, choices=StaffSecondFactor.choices, default=StaffSecondFactor.PORTAL
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    tenant_nullable_reason = MSSP_ROW_REASON
    rls_also_visible_when = MSSP_ROW_FOR_STAFF

    class Meta:
        ordering = ["created_at"]
        constraints = [
            # one per tenant (the one-to-one), and one of the MSSP's (tenant ids start at 1)
            models.UniqueConstraint(
                Coalesce("tenant", models.Value(0)), name="identityprovider_one_of_the_mssp"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.issuer}"

    @property
    def is_mssp(self) -> bool:
        """The MSSP's own provider: it signs in MSSP staff, never a tenant's member."""
        return self.tenant_id is None

    @property
    def organisation(self) -> str:
        return self.tenant.name if self.tenant is not None else "MSSP staff"

    @property
    def provider_id(self) -> str:
        """allauth's sub-provider id: a login's `sub` is stored under it, so the same subject
        at two tenants' providers is two accounts."""
        return f"sso-{self.pk}"

    @property
    def discovery(self) -> str:
        if self.discovery_url:
            return self.discovery_url
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"


class SeenAssertion(TenantOwnedModel):
    """A SAML assertion the portal accepted, kept until it expires so that the same assertion
    (its ID) is never accepted twice."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    # None: an assertion of the MSSP's own identity provider
    tenant = models.ForeignKey(  # type: ignore[assignment]  # nullable: the MSSP's
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    provider = models.ForeignKey(IdentityProvider, on_delete=models.CASCADE, related_name="+")
    assertion_id = models.CharField(max_length=255)
    expires_at = models.DateTimeField(db_index=True)

    tenant_nullable_reason = MSSP_ROW_REASON
    rls_also_visible_when = MSSP_ROW_FOR_STAFF

    class Meta:
        ordering = ["expires_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "assertion_id"], name="seenassertion_unique_id"
            )
        ]

    def __str__(self) -> str:
        return self.assertion_id


def verification_token() -> str:
    return secrets.token_urlsafe(24)


class SsoDomain(TenantOwnedModel):
    """An e-mail domain a tenant claims for its single sign-on. A domain belongs to at most one
    tenant (the database says so); it sends its users to the tenant's provider only once the
    claim is verified: by the tenant's TXT record in the domain's DNS, or by an MSSP admin."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    # None: one of the MSSP's own domains, whose users are sent to the MSSP's provider (staff)
    tenant = models.ForeignKey(  # type: ignore[assignment]  # nullable: the MSSP's
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="sso_domains"
    )
    # Unique over the MSSP's and every tenant's: a domain is never both.
    domain = models.CharField(max_length=253, unique=True)  # lower case, no trailing dot
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Proof of ownership by DNS (provisioning.dns_verify): the TXT record
    # `_mssp-verify.<domain>` holds `mssp-verify=<verification_token>`.
    verification_token = models.CharField(max_length=64, default=verification_token)
    verified_method = models.CharField(
        max_length=10, blank=True, choices=[("dns", "DNS record"), ("manual", "MSSP admin")]
    )
    dns_checked_at = models.DateTimeField(null=True, blank=True)

    tenant_nullable_reason = MSSP_ROW_REASON
    rls_also_visible_when = MSSP_ROW_FOR_STAFF

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain

    @property
    def verified(self) -> bool:
        return self.verified_at is not None


class StaffGroupRoleMapping(models.Model):
    """A group of the MSSP's own identity provider (by its name, case-insensitive) and the
    staff role its members get when they sign in (provisioning.sso): the MSSP's counterpart
    of a tenant's GroupRoleMapping. Not tenant-owned: it grants staff roles and nothing of a
    tenant. A staff sign-in whose groups map to no role is refused."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    group_name = models.CharField(max_length=255)
    role = models.CharField(max_length=20, choices=StaffRole.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["group_name"]
        constraints = [
            models.UniqueConstraint(Lower("group_name"), name="staffgrouprolemapping_unique_group")
        ]

    def __str__(self) -> str:
        return f"{self.group_name} → {self.role}"
