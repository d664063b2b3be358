from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from rest_framework import serializers

from ..models import (
    USERNAME_MAX_LENGTH,
    ApiToken,
    AuditEvent,
    Contact,
    Membership,
    StaffRole,
    Tenant,
    User,
    UserSession,
    Webhook,
    member_username,
)
from ..policy import member_names_namespaced
from ..webhooks import check_destination


class TenantSerializer(serializers.ModelSerializer[Tenant]):
    class Meta:
        model = Tenant
        fields = [
            "slug",
            "name",
            "service_model",
            "timezone",
            "business_hours",
            "holidays",
            "status",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]


class TenantUpdateSerializer(TenantSerializer):
    class Meta(TenantSerializer.Meta):
        # The slug is in every URL and event of the tenant: it does not change.
        read_only_fields = ["slug", "created_at", "updated_at"]


class MemberSerializer(serializers.ModelSerializer[Membership]):
    username = serializers.CharField(source="user.username", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    is_active = serializers.BooleanField(source="user.is_active", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "username", "email", "role", "is_active", "created_at", "invited_at"]
        read_only_fields = ["id", "created_at", "invited_at"]


class MemberCreateSerializer(serializers.Serializer[Any]):
    """context: the member's `tenant` (or the action's `target`) and the caller's `access`:
    a customer admin's new member signs in as `<tenant-slug>/<name>`
    (policy.member_names_namespaced), so the name is compared with their own tenant's names
    only, and the answer says nothing about anyone else's."""

    username = serializers.RegexField(
        r"^[\w.@+-]{1,150}$",
        max_length=150,
        error_messages={"invalid": "Letters, digits and @/./+/-/_ only, at most 150."},
    )
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    password = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=128,
        style={"input_type": "password"},
        help_text="Without one, the user is emailed a set-password link.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        tenant = self.context.get("tenant") or self.context["target"]
        access = self.context.get("access")
        # plain names: MSSP admins only; without a caller, the narrower rule
        namespaced = access is None or member_names_namespaced(access)
        username = attrs["username"]
        if namespaced:
            username = member_username(tenant, username)
            if len(username) > USERNAME_MAX_LENGTH:
                longest = USERNAME_MAX_LENGTH - len(member_username(tenant, ""))
                raise serializers.ValidationError(
                    {"username": f"At most {longest} characters (with '{tenant.slug}/', 150)."}
                )
        if User.objects.filter(username__iexact=username).exists():
            raise serializers.ValidationError(
                {
                    "username": "Your organisation already has a user of that name (a member, "
                    "or a removed one)."
                    if namespaced
                    else "That username is taken."
                }
            )
        attrs["username"] = username
        password = attrs.get("password")
        if password:
            try:
                validate_password(password, User(username=username, email=attrs["email"]))
            except DjangoValidationError as exc:
                raise serializers.ValidationError({"password": list(exc.messages)}) from None
        return attrs


class MemberUpdateSerializer(serializers.Serializer[Any]):
    role = serializers.ChoiceField(choices=Membership.Role.choices)


class TokenSerializer(serializers.ModelSerializer[ApiToken]):
    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "scopes",
            "created_at",
            "expires_at",
            "revoked_at",
            "last_used_at",
        ]
        read_only_fields = fields


class ScopeField(serializers.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=ApiToken.Scope.choices, **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if data in ApiToken.RETIRED_SCOPES:
            raise serializers.ValidationError(
                f"'{data}' is not a token scope: a SIEM or sensor sends alerts with its intake "
                "source's own intake key (POST /api/v1/intake/{source}/), not a user's token."
            )
        return super().to_internal_value(data)


class TokenCreateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=ScopeField(),
        required=False,
        allow_empty=False,
        max_length=len(ApiToken.Scope.values),
        help_text="read: safe methods; write: changes; admin: administration (tenants, "
        "members, staff, intake sources, contacts, webhooks, policies, the audit log, API "
        "tokens). Default: every scope your role allows (with a token: the token's).",
    )
    expires_in_days = serializers.IntegerField(
        min_value=1,
        max_value=settings.API_TOKEN_MAX_TTL.days,
        required=False,
        help_text=f"Default {settings.API_TOKEN_DEFAULT_TTL.days}.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        days = attrs.pop("expires_in_days", None)
        ttl = timedelta(days=days) if days else settings.API_TOKEN_DEFAULT_TTL
        attrs["expires_at"] = timezone.now() + ttl
        return attrs


class TokenCreatedSerializer(TokenSerializer):
    token = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(TokenSerializer.Meta):
        fields = ["token", *TokenSerializer.Meta.fields]
        read_only_fields = fields


class LoginSerializer(serializers.Serializer[Any]):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, style={"input_type": "password"})
    otp = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="The current code of the account's authenticator app, or one of its unused "
        "recovery codes (spent by this). Required when the account has a second factor.",
    )


class LoginTokenSerializer(serializers.Serializer[Any]):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()


class StaffSerializer(serializers.ModelSerializer[User]):
    tenants = serializers.SerializerMethodField(help_text="Slugs of the tenants this user works.")
    leads = serializers.SerializerMethodField(help_text="Slugs of the tenants this user leads.")

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "first_name",
            "last_name",
            "staff_role",
            "is_active",
            "tenants",
            "leads",
        ]
        read_only_fields = fields

    def get_tenants(self, user: User) -> list[str]:
        return sorted(self.context["worked"].get(user.pk, ()))

    def get_leads(self, user: User) -> list[str]:
        return sorted(self.context["led"].get(user.pk, ()))


class TenantSlugsField(serializers.ListField):
    child = serializers.SlugField(max_length=63)

    def to_internal_value(self, data: Any) -> list[Tenant]:
        slugs = set(super().to_internal_value(data))
        tenants = list(Tenant.objects.filter(slug__in=slugs))
        missing = slugs - {t.slug for t in tenants}
        if missing:
            raise serializers.ValidationError(f"No such tenant: {', '.join(sorted(missing))}.")
        return tenants


class StaffWriteSerializer(serializers.Serializer[Any]):
    username = serializers.RegexField(r"^[\w.@+-]{1,150}$", max_length=150, required=False)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    staff_role = serializers.ChoiceField(choices=StaffRole.choices, required=False)
    password = serializers.CharField(write_only=True, required=False, max_length=128)
    is_active = serializers.BooleanField(required=False)
    tenants = TenantSlugsField(required=False, max_length=10000)
    leads = TenantSlugsField(required=False, max_length=10000)

    def validate_username(self, value: str) -> str:
        existing = User.objects.filter(username__iexact=value)
        if self.instance is not None:
            existing = existing.exclude(pk=self.instance.pk)
        if existing.exists():
            raise serializers.ValidationError("That username is taken.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is None:
            for required in ("username", "staff_role"):
                if required not in attrs:
                    raise serializers.ValidationError({required: ["This field is required."]})
        if attrs.get("password"):
            user = self.instance or User(username=attrs.get("username", ""))
            try:
                validate_password(attrs["password"], user)
            except DjangoValidationError as exc:
                raise serializers.ValidationError({"password": list(exc.messages)}) from None
        return attrs


class AuditEventSerializer(serializers.ModelSerializer[AuditEvent]):
    tenant: serializers.SlugRelatedField[Tenant] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "at",
            "actor_name",
            "tenant",
            "action",
            "object_type",
            "object_id",
            "summary",
            "data",
            "ip",
        ]
        read_only_fields = fields


class ContactSerializer(serializers.ModelSerializer[Contact]):
    class Meta:
        model = Contact
        fields = ["id", "name", "email", "phone", "notify_sla", "receive_reports", "created_at"]
        read_only_fields = ["id", "created_at"]


class ContactUpdateSerializer(ContactSerializer):
    """A change to a contact: the fields sent change, the others stay (the API's PATCH; the
    page sends them all, an unticked box as false)."""

    class Meta(ContactSerializer.Meta):
        extra_kwargs = {"name": {"required": False}, "email": {"required": False}}


class WebhookSerializer(serializers.ModelSerializer[Webhook]):
    events = serializers.ListField(
        child=serializers.CharField(max_length=40),
        required=False,
        max_length=20,
        help_text="Event types; empty means all.",
    )

    class Meta:
        model = Webhook
        fields = ["id", "url", "events", "is_active", "created_at"]
        read_only_fields = ["id", "created_at"]

    def validate_url(self, value: str) -> str:
        try:
            check_destination(value)
        except (ValueError, OSError) as exc:
            raise serializers.ValidationError(f"Not a reachable public URL: {exc}") from None
        return value


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(read_only=True, help_text="The signing secret, shown once.")

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]


class SessionSerializer(serializers.ModelSerializer[UserSession]):
    """A signed-in session. `current`: the one this request came with; `expires_at`: when it
    ends if nothing more happens (its idle or absolute limit)."""

    current = serializers.SerializerMethodField()
    expires_at = serializers.SerializerMethodField()

    class Meta:
        model = UserSession
        fields = [
            "id",
            "device",
            "ip",
            "user_agent",
            "auth_method",
            "signed_in_at",
            "last_seen_at",
            "expires_at",
            "current",
        ]
        read_only_fields = fields

    def get_current(self, record: UserSession) -> bool:
        return str(record.pk) == str(self.context.get("current_session") or "")

    def get_expires_at(self, record: UserSession) -> Any:
        from ..sessions import deadline

        return serializers.DateTimeField().to_representation(deadline(record))


class SecondFactorPolicySerializer(serializers.ModelSerializer[Tenant]):
    """Whether every user of the tenant must have a second factor (MSSP staff always do)."""

    mfa_required = serializers.BooleanField(required=True)

    class Meta:
        model = Tenant
        fields = ["mfa_required"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "mfa_required" not in attrs:  # a PATCH is partial: it must still say which
            raise serializers.ValidationError({"mfa_required": "Required: true or false."})
        return attrs


class SessionLimitsSerializer(serializers.ModelSerializer[Tenant]):
    """A tenant's own session limits, in minutes: empty for the MSSP's, never looser than
    the MSSP's (SESSION_IDLE_MINUTES, SESSION_ABSOLUTE_MINUTES)."""

    session_idle_minutes = serializers.IntegerField(min_value=1, allow_null=True, required=False)
    session_absolute_minutes = serializers.IntegerField(
        min_value=1, allow_null=True, required=False
    )
    mssp_idle_minutes = serializers.SerializerMethodField()
    mssp_absolute_minutes = serializers.SerializerMethodField()

    class Meta:
        model = Tenant
        fields = [
            "session_idle_minutes",
            "session_absolute_minutes",
            "mssp_idle_minutes",
            "mssp_absolute_minutes",
        ]

    def get_mssp_idle_minutes(self, tenant: Tenant) -> int:
        return int(settings.SESSION_IDLE_MINUTES)

    def get_mssp_absolute_minutes(self, tenant: Tenant) -> int:
        return int(settings.SESSION_ABSOLUTE_MINUTES)

    def validate_session_idle_minutes(self, value: int | None) -> int | None:
        limit = int(settings.SESSION_IDLE_MINUTES)
        if value is not None and value > limit:
            raise serializers.ValidationError(
                f"At most {limit} minutes: the MSSP's idle limit. A tenant's limits may only "
                "be stricter."
            )
        return value

    def validate_session_absolute_minutes(self, value: int | None) -> int | None:
        limit = int(settings.SESSION_ABSOLUTE_MINUTES)
        if value is not None and value > limit:
            raise serializers.ValidationError(
                f"At most {limit} minutes: the MSSP's session length. A tenant's limits may "
                "only be stricter."
            )
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError(
                "Give session_idle_minutes, session_absolute_minutes or both (a number of "
                "minutes, or null for the MSSP's)."
            )
        return attrs


class DeviceNoticeSerializer(serializers.Serializer[Any]):
    notify_new_device = serializers.BooleanField()
