"""Who may see what: tenants, MSSP staff, customer memberships, teams, API tokens, audit log."""

from __future__ import annotations

import hashlib
import secrets
import uuid
import zoneinfo
from datetime import datetime, time
from typing import Any, ClassVar

import uuid_utils.compat as uuid_compat
from django.contrib.auth.models import AbstractUser
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.deconstruct import deconstructible
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from .querysets import TenantScopedManager


def new_public_id() -> uuid.UUID:
    """Time-ordered UUIDv7: unguessable in URLs, and kind to B-tree indexes on insert."""
    return uuid_compat.uuid7()


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def default_business_hours() -> dict[str, list[list[str]]]:
    return {day: [["09:00", "17:00"]] for day in WEEKDAYS[:5]} | {"sat": [], "sun": []}


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"'{value}' is not an IANA time zone such as 'Europe/Berlin'.")


def _parse_hhmm(value: object) -> time:
    if not isinstance(value, str):
        raise ValidationError(f"'{value}' is not a time of day as HH:MM.")
    if value == "24:00":
        return time.max
    try:
        return datetime.strptime(value, "%H:%M").time()  # noqa: DTZ007 (a wall-clock time)
    except ValueError:
        raise ValidationError(f"'{value}' is not a time of day as HH:MM.") from None


def validate_business_hours(value: object) -> None:
    """{"mon": [["09:00", "17:00"]], ...}: each weekday a list of non-overlapping intervals."""
    if not isinstance(value, dict):
        raise ValidationError("Business hours are an object keyed by weekday (mon ... sun).")
    unknown = set(value) - set(WEEKDAYS)
    if unknown:
        raise ValidationError(f"Unknown weekday(s): {', '.join(sorted(unknown))}.")
    for day, intervals in value.items():
        if not isinstance(intervals, list):
            raise ValidationError(f"{day}: a list of [start, end] intervals.")
        previous_end = time.min
        for interval in intervals:
            if not isinstance(interval, list | tuple) or len(interval) != 2:
                raise ValidationError(f'{day}: each interval is ["HH:MM", "HH:MM"].')
            start, end = (_parse_hhmm(part) for part in interval)
            if start >= end:
                raise ValidationError(f"{day}: {interval[0]}-{interval[1]} ends before it starts.")
            if start < previous_end:
                raise ValidationError(f"{day}: intervals overlap or are out of order.")
            previous_end = end


def validate_holidays(value: object) -> None:
    """[{"date": "2026-12-25", "name": "Christmas Day"}, ...]"""
    if not isinstance(value, list):
        raise ValidationError('Holidays are a list of {"date", "name"} objects.')
    seen = set()
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("date"), str):
            raise ValidationError('Each holiday is {"date": "YYYY-MM-DD", "name": "..."}.')
        try:
            day = datetime.strptime(item["date"], "%Y-%m-%d").date()  # noqa: DTZ007
        except ValueError:
            raise ValidationError(f"'{item['date']}' is not a date as YYYY-MM-DD.") from None
        if day in seen:
            raise ValidationError(f"{item['date']} is listed twice.")
        seen.add(day)
        if len(str(item.get("name", ""))) > 200:
            raise ValidationError("A holiday name is at most 200 characters.")


class Tenant(models.Model):
    """One customer organisation."""

    class ServiceModel(models.TextChoices):
        OUTSOURCED = "outsourced", "Outsourced"
        HYBRID = "hybrid", "Hybrid"
        IN_HOUSE = "in_house", "In-house"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=63, unique=True)
    service_model = models.CharField(max_length=20, choices=ServiceModel.choices)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    business_hours = models.JSONField(
        default=default_business_hours, validators=[validate_business_hours]
    )
    holidays = models.JSONField(default=list, blank=True, validators=[validate_holidays])
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    # Alerts per minute this tenant may send; empty means the portal's default
    # (INTAKE_QUOTA_PER_MINUTE). One noisy tenant is answered 429, the others go on.
    intake_quota_per_minute = models.PositiveIntegerField(null=True, blank=True)
    # Stricter session limits for this tenant's users than the MSSP's (SESSION_IDLE_MINUTES,
    # SESSION_ABSOLUTE_MINUTES); empty means the MSSP's. Never looser (tenants.sessions).
    session_idle_minutes = models.PositiveIntegerField(null=True, blank=True)
    session_absolute_minutes = models.PositiveIntegerField(null=True, blank=True)
    # Every user of this tenant must have a second factor (tenants.mfa); MSSP staff always do.
    mfa_required = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("work_tenant", "Works this tenant's queue (MSSP analyst)"),
            ("lead_tenant", "Leads the analysts of this tenant (MSSP lead)"),
            ("respond_escalations", "Accepts or declines escalations (in-house responder)"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class TenantUserObjectPermission(UserObjectPermissionBase):
    """guardian's direct-FK permission row: this user holds this permission on this tenant."""

    content_object = models.ForeignKey(Tenant, on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        abstract = False


class TenantGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Tenant, on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        abstract = False


class StaffRole(models.TextChoices):
    ANALYST_L1 = "analyst_l1", "Analyst L1"
    ANALYST_L2 = "analyst_l2", "Analyst L2"
    ANALYST_L3 = "analyst_l3", "Analyst L3"
    LEAD = "lead", "Lead"
    MANAGER = "manager", "Manager"
    ADMIN = "admin", "Admin"


ANALYST_ROLES = frozenset({StaffRole.ANALYST_L1, StaffRole.ANALYST_L2, StaffRole.ANALYST_L3})


@deconstructible
class UsernameValidator(UnicodeUsernameValidator):
    """Django's rule, plus the tenant prefix of a member a customer admin added: their login
    is `<tenant-slug>/<name>` (member_username()), so a name is only ever compared
    with the names of the same tenant."""

    regex = r"^(?:[-a-zA-Z0-9_]+/)?[\w.@+-]+\Z"
    message = (
        "Enter a valid username: letters, digits and @ . + - _ only, optionally after a "
        "tenant's slug and a slash (tenant-a/carol)."
    )


USERNAME_MAX_LENGTH = 150


def member_username(tenant: Tenant, name: str) -> str:
    """The login of a member a customer admin adds: unique within the tenant by its prefix."""
    return f"{tenant.slug}/{name}"


class User(AbstractUser):
    """A person: MSSP staff when `staff_role` is set, otherwise a customer user (Membership)."""

    username_validator = UsernameValidator()
    username = models.CharField(
        "username",
        max_length=USERNAME_MAX_LENGTH,
        unique=True,
        help_text="Required. 150 characters or fewer. Letters, digits and @/./+/-/_ only; "
        "members added by their organisation's admins: <tenant-slug>/<name>.",
        validators=[username_validator],
        error_messages={"unique": "A user with that username already exists."},
    )
    staff_role = models.CharField(max_length=20, choices=StaffRole.choices, blank=True, default="")
    # An e-mail when this account signs in from a device it never used before (tenants.sessions).
    notify_new_device = models.BooleanField(default=True)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"

    @property
    def is_mssp_staff(self) -> bool:
        return bool(self.staff_role) or self.is_superuser

    @property
    def is_mssp_admin(self) -> bool:
        return self.is_superuser or self.staff_role == StaffRole.ADMIN


class TenantOwnedModel(models.Model):
    """Base of every row that belongs to exactly one tenant.

    The tenant is never null, the default manager refuses unscoped queries, and on PostgreSQL
    the table gets row-level security (tenants.rls) from the same declaration.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")

    objects = TenantScopedManager()

    # Extra SQL (OR-ed into the row-level policy) for rows a caller may see outside its
    # tenants; see Membership. Empty for almost every model.
    rls_also_visible_when: str = ""

    class Meta:
        abstract = True


class Membership(TenantOwnedModel):
    """A customer user's place in exactly one tenant."""

    class Role(models.TextChoices):
        VIEWER = "viewer", "Viewer"
        RESPONDER = "responder", "Responder"
        ADMIN = "admin", "Admin"

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="membership")
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    # When the set-password link went out (users added without a password).
    invited_at = models.DateTimeField(null=True, blank=True)

    # A user reads their own membership before any tenant is known (it is how the tenant
    # becomes known).
    rls_also_visible_when = "user_id = nullif(current_setting('mssp.user_id', true), '')::bigint"

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"{self.user} ({self.role} of {self.tenant_id})"


class Team(models.Model):
    """Something an incident can be escalated to: an MSSP tier, an in-house team, a NOC.

    MSSP tiers belong to no tenant; an in-house team belongs to its tenant; a NOC may be the
    MSSP's or a tenant's own.
    """

    class Kind(models.TextChoices):
        MSSP_TIER = "mssp_tier", "MSSP tier"
        IN_HOUSE = "in_house", "In-house team"
        NOC = "noc", "NOC"

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="teams"
    )
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    email = models.EmailField(blank=True)
    members = models.ManyToManyField(User, blank=True, related_name="teams")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedManager()
    tenant_nullable_reason = "MSSP tiers and the MSSP's NOC belong to no customer."
    rls_also_visible_when = "tenant_id IS NULL"

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                name="team_in_house_has_tenant",
                condition=~models.Q(kind="in_house") | models.Q(tenant__isnull=False),
            ),
            models.CheckConstraint(
                name="team_mssp_tier_has_no_tenant",
                condition=~models.Q(kind="mssp_tier") | models.Q(tenant__isnull=True),
            ),
            models.UniqueConstraint(fields=["tenant", "name"], name="team_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def usable(self) -> ApiTokenQuerySet:
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class MintedSecret:
    """A bearer secret shown once when minted: only its SHA-256 digest is stored, and its
    prefix plus a few characters tell tokens apart on the pages (ApiToken, SCIM tokens)."""

    PREFIX: ClassVar[str]
    SHOWN_CHARS: ClassVar[int] = 8  # characters after the prefix that the pages show

    @staticmethod
    def digest_of(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @classmethod
    def generate(cls) -> tuple[str, str, str]:
        """A new raw token, its display prefix and its digest."""
        raw = cls.PREFIX + secrets.token_urlsafe(32)
        return raw, raw[: len(cls.PREFIX) + cls.SHOWN_CHARS], cls.digest_of(raw)


class ApiToken(MintedSecret, models.Model):
    """A bearer token for the REST API. Only its SHA-256 digest is stored.

    The token is 32 random bytes, so a fast digest is the right tool (a slow password hash
    would only slow every request); the prefix lets a user tell their tokens apart.
    """

    class Scope(models.TextChoices):
        READ = "read", "Read"
        WRITE = "write", "Write"
        ADMIN = "admin", "Admin"

    # Once a scope, never one: SIEMs send alerts with their source's intake key, which no user
    # token replaces. Tokens minted with it before keep their other scopes (migration 0006).
    RETIRED_SCOPES = frozenset({"intake"})

    PREFIX = "mssp_"

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # The token that minted this one through the API (none for a login or a session): a child
    # has at most its parent's scopes and lifetime, and is revoked with it.
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="children"
    )

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_usable(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()

    @property
    def granted_scopes(self) -> frozenset[str]:
        """The scopes this token carries that mean something today."""
        return frozenset(self.scopes) & frozenset(self.Scope.values)


class AuditEvent(models.Model):
    """Append-only: who did what to which object, when, from where.

    Not a TenantOwnedModel: events about the MSSP itself (staff, failed logins of unknown
    users) have no tenant. The app role may only INSERT and SELECT this table (tenants.rls).
    """

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        User,
        on_delete=models.DO_NOTHING,
        null=True,
        blank=True,
        db_constraint=False,
        related_name="+",
    )
    actor_name = models.CharField(max_length=150, blank=True)
    tenant = models.ForeignKey(
        Tenant, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    summary = models.CharField(max_length=300, blank=True)
    data = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    objects = TenantScopedManager()
    tenant_nullable_reason = "Events about the MSSP itself belong to no customer."
    # Anyone may append (a failed login has no tenant context yet); reading follows the
    # tenants, and MSSP-level events are for MSSP staff only.
    rls_policy_sql = (
        "CREATE POLICY {policy}_read ON {table} FOR SELECT USING ("
        "mssp_tenant_visible(tenant_id) OR (tenant_id IS NULL AND "
        "coalesce(current_setting('mssp.staff', true), '') = 'on'))",
        "CREATE POLICY {policy}_append ON {table} FOR INSERT WITH CHECK (true)",
    )

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["tenant", "-at"], name="audit_tenant_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValidationError("The audit log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise ValidationError("The audit log is append-only.")


class Contact(TenantOwnedModel):
    """A person at the customer the SOC tells things: SLA warnings and breaches, reports."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=200)
    email = models.EmailField()
    phone = models.CharField(max_length=50, blank=True)
    notify_sla = models.BooleanField(default=True, help_text="SLA at-risk and breach notices.")
    receive_reports = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class Webhook(TenantOwnedModel):
    """An outgoing webhook of the customer's: events are POSTed as JSON, signed with HMAC-SHA256
    over "<timestamp>." + body (X-MSSP-Timestamp, X-MSSP-Signature: sha256=<hex>)."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=100, editable=False)
    events = models.JSONField(default=list, help_text="Event types; empty means all.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return self.is_active and (not self.events or event_type in self.events)


class UserSession(models.Model):
    """One signed-in browser session of a user: what the sessions page lists and ends.

    Keyed by the digest of the session key (tenants.events.session_digest), never the key
    itself. The session's data names this row (tenants.sessions.SESSION_RECORD), so a key
    that rotates (a password change) keeps its row. Not tenant-owned: a user's own rows, like
    their API tokens; a customer admin reaches their members' through the membership.
    """

    class AuthMethod(models.TextChoices):
        PASSWORD = "password", "Password"
        SSO = "sso", "Single sign-on"

    class EndReason(models.TextChoices):
        LOGOUT = "logout", "Logged out"
        USER = "user", "Ended by the user"
        ADMIN = "admin", "Ended by an administrator"
        IDLE = "idle", "Idle timeout"
        ABSOLUTE = "absolute", "Absolute timeout"

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="user_sessions")
    key_digest = models.CharField(max_length=64, db_index=True, editable=False)
    signed_in_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    device = models.CharField(max_length=100, blank=True)
    # How it signed in, and when this session last gave a second factor (tenants.mfa).
    auth_method = models.CharField(
        max_length=20, choices=AuthMethod.choices, default=AuthMethod.PASSWORD
    )
    second_factor_at = models.DateTimeField(null=True, blank=True)
    # The user's tenant's stricter limits when it has any (copied here so that a request
    # reads one row; changed with the tenant's), in minutes.
    idle_minutes = models.PositiveIntegerField(null=True, blank=True)
    absolute_minutes = models.PositiveIntegerField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=20, choices=EndReason.choices, blank=True)
    ended_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-last_seen_at"]
        indexes = [models.Index(fields=["user", "ended_at"], name="usersession_user_open")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.device} since {self.signed_in_at:%Y-%m-%d %H:%M}"


class KnownDevice(models.Model):
    """A browser a user has signed in from: its long-lived device cookie's digest (the cookie
    is 32 random bytes; only the digest is kept). A sign-in from one not listed is a new
    device (tenants.sessions)."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="known_devices")
    digest = models.CharField(max_length=64, editable=False)
    device = models.CharField(max_length=100, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_seen_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "digest"], name="knowndevice_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.device}"
