from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from allauth.mfa.models import Authenticator
from axes.exceptions import AxesBackendPermissionDenied
from axes.handlers.proxy import AxesProxyHandler
from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpRequest, HttpResponse
from drf_spectacular.utils import extend_schema, inline_serializer
from guardian.utils import get_user_obj_perms_model
from rest_framework import mixins, serializers, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import SAFE_METHODS, AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from .. import audit, mfa, policy, services, sessions
from ..access import Access
from ..administration import (
    CHANGE_REFUSED,
    CONTACT_CREATE,
    CONTACT_DELETE,
    CONTACT_UPDATE,
    MEMBER_ADD,
    MEMBER_REMOVE,
    MEMBER_SET_ROLE,
    MFA_REQUIRED_SET,
    SECOND_FACTOR_RESET,
    SESSION_END,
    SESSION_LIMITS_SET,
    SESSIONS_END_OTHERS,
    STAFF_SESSION_END,
    STAFF_UPDATE,
    TOKEN_ISSUE,
    TOKEN_REVOKE,
    USER_SESSIONS_END,
    save_staff,
)
from ..auth import LoginThrottle, lockout_response
from ..models import (
    ApiToken,
    AuditEvent,
    Contact,
    Membership,
    Tenant,
    User,
    UserSession,
    Webhook,
)
from ..permissions import ADMIN, ADMIN_TO_CHANGE, IsMsspAdminOrReadOnly, StaffPermission
from ..selectors import get_staff_accounts
from .actions import api_perform, require_step_up
from .base import (
    CallerScopedViewSet,
    ScopedGenericAPIView,
    TenantNestedViewSet,
    TenantScopedViewSet,
)
from .errors import error_response
from .filters import AuditEventFilter
from .serializers import (
    AuditEventSerializer,
    ContactSerializer,
    LoginSerializer,
    LoginTokenSerializer,
    MemberCreateSerializer,
    MemberSerializer,
    MemberUpdateSerializer,
    SecondFactorPolicySerializer,
    SessionLimitsSerializer,
    SessionSerializer,
    StaffSerializer,
    StaffWriteSerializer,
    TenantSerializer,
    TenantUpdateSerializer,
    TokenCreatedSerializer,
    TokenCreateSerializer,
    TokenSerializer,
    WebhookCreatedSerializer,
    WebhookSerializer,
)

# what ending several sessions answers: how many ended
ENDED = inline_serializer("SessionsEnded", {"ended": serializers.IntegerField()})
RESET = inline_serializer(
    "SecondFactorReset",
    {
        "removed": serializers.ListField(child=serializers.CharField()),
        "sessions_ended": serializers.IntegerField(),
    },
)


class AuthTokenView(ScopedGenericAPIView):
    """Exchange a username and password for an API token (locked out like the login page)."""

    permission_classes = [AllowAny]
    authentication_classes: list[type[BaseAuthentication]] = []
    throttle_classes = [LoginThrottle]
    serializer_class = LoginSerializer

    @extend_schema(request=LoginSerializer, responses={201: LoginTokenSerializer})
    def post(self, request: Request) -> HttpResponse:
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        credentials = serializer.validated_data
        django_request = request._request
        if AxesProxyHandler.is_locked(
            django_request, credentials={"username": credentials["username"]}
        ):
            return lockout_response(django_request)
        otp = credentials.pop("otp", "")
        try:
            user = authenticate(django_request, **credentials)
        except AxesBackendPermissionDenied:
            return lockout_response(django_request)
        except ValidationError as refusal:
            # a right password that may not sign in here, and why (a tenant that signs in
            # with single sign-on only: provisioning.sso.SsoOnlyPasswordBackend)
            return error_response(403, " ".join(refusal.messages), code="password_login_refused")
        if getattr(django_request, "axes_locked_out", False):
            return lockout_response(django_request)
        if user is None:
            return error_response(
                400, "Unknown username or wrong password.", code="invalid_credentials"
            )
        refused = self.second_factor_refusal(django_request, user, otp)
        if refused is not None:
            return refused
        raw, token = services.token_issue(user, name="login", request=django_request)
        audit.record(
            "auth.login",
            actor=user,
            obj=user,
            request=django_request,
            tenant=services.tenant_id_of(user),
            summary=f"{user.username} got an API token",
        )
        return Response({"token": raw, "expires_at": token.expires_at}, status=201)

    @staticmethod
    def second_factor_refusal(request: HttpRequest, user: User, otp: str) -> HttpResponse | None:
        """The answer when the password is not enough (tenants.mfa): an account with a second
        factor sends its code as `otp`, a wrong or missing one counting towards the lockout
        like a wrong password; an account that must enrol does so in the browser first."""
        if mfa.has_factor(user):
            authenticator = mfa.verify_code(user, otp) if otp else None
            if authenticator is not None:
                authenticator.record_usage()
                if authenticator.type == Authenticator.Type.RECOVERY_CODES:
                    audit.record(
                        "auth.recovery_code_used",
                        actor=user,
                        obj=user,
                        request=request,
                        tenant=services.tenant_id_of(user),
                        summary=f"{user.username} used a recovery code",
                    )
                return None
            user_login_failed.send(
                sender=__name__, credentials={"username": user.username}, request=request
            )
            if getattr(request, "axes_locked_out", False):
                return lockout_response(request)
            if not otp:
                return error_response(
                    400,
                    "This account has a second factor: send the current code of its "
                    'authenticator app (or a recovery code) as "otp".',
                    code="otp_required",
                )
            return error_response(
                400, "The second-factor code is wrong or was used already.", code="invalid_otp"
            )
        if mfa.must_have(user):
            return error_response(
                403,
                f"{mfa.why_must(user)}: sign in at /login/ in a browser and set one up, "
                "then ask for a token with its code.",
                code="second_factor_enrolment_required",
            )
        return None


class MeView(ScopedGenericAPIView):
    """Who the caller is and what it may see."""

    @extend_schema(
        responses=inline_serializer(
            "Me",
            {
                "username": serializers.CharField(),
                "staff_role": serializers.CharField(),
                "customer_role": serializers.CharField(),
                "tenants": serializers.ListField(child=serializers.CharField()),
                "scopes": serializers.ListField(child=serializers.CharField(), allow_null=True),
            },
        )
    )
    def get(self, request: Request) -> Response:
        slugs = Tenant.objects.filter(pk__in=self.access.tenant_ids).values_list("slug", flat=True)
        scopes = self.access.token_scopes
        return Response(
            {
                "username": request.user.username,
                "staff_role": self.access.staff_role,
                "customer_role": self.access.customer_role,
                "tenants": sorted(slugs),
                "scopes": sorted(scopes) if scopes is not None else None,
            }
        )


class TokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CallerScopedViewSet):
    """The caller's own API tokens. Creating one shows it once; deleting one revokes it."""

    scoped_model = ApiToken
    serializer_class = TokenSerializer
    cursor_ordering = "-created_at"
    required_scope = ADMIN  # managing tokens is administration, reading them too

    def rows_for(self, access: Access) -> models.QuerySet[ApiToken]:
        if access.user_id is None:  # not reached: get_queryset asks only for a signed-in caller
            return ApiToken.objects.none()
        return ApiToken.objects.filter(user_id=access.user_id)

    @extend_schema(request=TokenCreateSerializer, responses={201: TokenCreatedSerializer})
    def create(self, request: Request) -> Response:
        """With a token (which needs `admin`), the new one is its child: at most its scopes
        and lifetime, revoked with it."""
        issued = api_perform(self, TOKEN_ISSUE, request.user)
        body = TokenCreatedSerializer(issued.token).data
        body["token"] = issued.raw
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        api_perform(self, TOKEN_REVOKE, self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class TenantViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    CallerScopedViewSet,
):
    """Customers. Everyone sees the tenants they may work with; MSSP admins create and edit.
    Tenants are suspended (status), never deleted: their history stays."""

    scoped_model = Tenant
    serializer_class = TenantSerializer
    permission_classes = [*CallerScopedViewSet.permission_classes, IsMsspAdminOrReadOnly]
    required_scope = ADMIN_TO_CHANGE
    lookup_field = "slug"
    lookup_value_regex = "[-a-zA-Z0-9_]+"
    cursor_ordering = "slug"
    filterset_fields = ["service_model", "status"]

    def rows_for(self, access: Access) -> models.QuerySet[Tenant]:
        return Tenant.objects.filter(pk__in=access.tenant_ids)

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        if self.action in ("update", "partial_update"):
            return TenantUpdateSerializer
        return TenantSerializer

    def perform_create(self, serializer: BaseSerializer[Tenant]) -> None:
        tenant = serializer.save()
        audit.record(
            "tenant.created",
            tenant=tenant,
            obj=tenant,
            request=self.request._request,
            summary=f"tenant {tenant.slug} created",
            data=serializer.data,
        )

    def perform_update(self, serializer: BaseSerializer[Tenant]) -> None:
        before = TenantSerializer(serializer.instance).data
        tenant = serializer.save()
        after = TenantSerializer(tenant).data
        changed = {
            k: {"from": before[k], "to": after[k]}
            for k in after
            if before.get(k) != after[k] and k != "updated_at"
        }
        audit.record(
            "tenant.updated",
            tenant=tenant,
            obj=tenant,
            request=self.request._request,
            summary=f"tenant {tenant.slug} changed: {', '.join(changed) or 'nothing'}",
            data=changed,
        )

    @extend_schema(request=SessionLimitsSerializer, responses=SessionLimitsSerializer)
    @action(
        detail=True,
        methods=["get", "patch"],
        url_path="session-limits",
        permission_classes=CallerScopedViewSet.permission_classes,
    )
    def session_limits(self, request: Request, slug: str | None = None) -> Response:
        """The tenant's session limits (minutes): whoever sees the tenant reads them; its
        customer admins and MSSP admins set stricter ones than the MSSP's, never looser."""
        tenant = cast(Tenant, self.get_object())
        if request.method == "PATCH":
            tenant = api_perform(self, SESSION_LIMITS_SET, tenant)
        return Response(SessionLimitsSerializer(tenant).data)

    @extend_schema(request=SecondFactorPolicySerializer, responses=SecondFactorPolicySerializer)
    @action(
        detail=True,
        methods=["get", "patch"],
        url_path="second-factor",
        permission_classes=CallerScopedViewSet.permission_classes,
    )
    def second_factor(self, request: Request, slug: str | None = None) -> Response:
        """Whether every user of the tenant must have a second factor: whoever sees the
        tenant reads it; its customer admins and MSSP admins set it (audited)."""
        tenant = cast(Tenant, self.get_object())
        if request.method == "PATCH":
            tenant = api_perform(self, MFA_REQUIRED_SET, tenant)
        return Response(SecondFactorPolicySerializer(tenant).data)


if TYPE_CHECKING:  # the views it is mixed into; at run time a plain mixin
    _AdministeredView = TenantNestedViewSet
else:
    _AdministeredView = object


class TenantAdministeredMixin(_AdministeredView):
    """Read: whoever sees the tenant (customer admins and MSSP staff). Write: MSSP admins and
    the tenant's own customer admins, with a token only if it has the `admin` scope."""

    required_scope = ADMIN_TO_CHANGE

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if not policy.reads_tenant_administration(self.access):
            raise PermissionDenied("Only your organisation's admins manage this.")
        if request.method not in SAFE_METHODS and not policy.administers(self.access, self.tenant):
            raise PermissionDenied(CHANGE_REFUSED)


class MemberViewSet(
    TenantAdministeredMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantNestedViewSet
):
    """Customer users of one tenant and their roles."""

    scoped_model = Membership
    serializer_class = MemberSerializer
    cursor_ordering = "-created_at"
    filterset_fields = ["role"]

    def scope_queryset(self, queryset: models.QuerySet[Any]) -> models.QuerySet[Any]:
        return queryset.select_related("user")

    @extend_schema(request=MemberCreateSerializer, responses={201: MemberSerializer})
    def create(self, request: Request, tenant_slug: str | None = None) -> Response:
        """A customer admin's new member signs in as `<tenant-slug>/<username>` (the
        response's `username`): names are their tenant's own, whatever exists elsewhere."""
        membership = api_perform(self, MEMBER_ADD, self.tenant)
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=MemberUpdateSerializer, responses=MemberSerializer)
    def partial_update(
        self, request: Request, tenant_slug: str | None = None, pk: str | None = None
    ) -> Response:
        change = api_perform(self, MEMBER_SET_ROLE, self.get_object())
        return Response(MemberSerializer(change.membership).data)

    @extend_schema(responses={204: None})
    def destroy(
        self, request: Request, tenant_slug: str | None = None, pk: str | None = None
    ) -> Response:
        api_perform(self, MEMBER_REMOVE, self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(methods=["GET"], responses=SessionSerializer(many=True))
    @extend_schema(methods=["DELETE"], responses={200: ENDED})
    @action(detail=True, methods=["get", "delete"], url_path="sessions", pagination_class=None)
    def sessions(
        self, request: Request, tenant_slug: str | None = None, pk: str | None = None
    ) -> Response:
        """The member's signed-in sessions (GET) or ending every one of them (DELETE: how many
        ended, `{"ended": 2}`): the tenant's customer admins and MSSP admins only."""
        membership = cast(Membership, self.get_object())
        return user_sessions_response(self, membership, membership.user_id)

    @extend_schema(request=None, responses={200: RESET})
    @action(
        detail=True,
        methods=["post"],
        url_path="second-factor/reset",
        url_name="second-factor-reset",
    )
    def reset_second_factor(
        self, request: Request, tenant_slug: str | None = None, pk: str | None = None
    ) -> Response:
        """Delete the member's second factor (authenticator app, security keys, recovery
        codes) and end their sessions: a lost phone. The tenant's customer admins and MSSP
        admins; a step-up in a browser session. Where a second factor is mandatory for the
        member, their next login takes them to enrolment."""
        return second_factor_reset_response(self, cast(Membership, self.get_object()))


class StaffViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CallerScopedViewSet):
    """MSSP staff and the tenants each one works (read: leads, managers, admins; write: admins;
    managers change assignments: which tenants each works and leads)."""

    scoped_model = User
    serializer_class = StaffSerializer
    permission_classes = [*CallerScopedViewSet.permission_classes, StaffPermission]
    required_scope = ADMIN_TO_CHANGE
    cursor_ordering = "username"
    lookup_value_converter = "int"
    filterset_fields = ["staff_role", "is_active"]

    def rows_for(self, access: Access) -> models.QuerySet[User]:
        if not policy.reads_staff_list(access):
            raise PermissionDenied("Only MSSP leads, managers and admins see the staff list.")
        return get_staff_accounts()

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        worked: dict[int, set[str]] = {}
        led: dict[int, set[str]] = {}
        # guardian types its model as type[Model]: its default manager is its `objects`.
        rows = (
            get_user_obj_perms_model()
            ._default_manager.filter(permission__codename__in=["work_tenant", "lead_tenant"])
            .values_list("user_id", "permission__codename", "content_object__slug")
        )
        for user_id, codename, slug in rows:
            (worked if codename == "work_tenant" else led).setdefault(user_id, set()).add(slug)
        return {**context, "worked": worked, "led": led}

    @extend_schema(request=StaffWriteSerializer, responses={201: StaffSerializer})
    def create(self, request: Request) -> Response:
        serializer = StaffWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = save_staff(User(), serializer.validated_data, created=True, request=request._request)
        return Response(
            StaffSerializer(user, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=StaffWriteSerializer, responses=StaffSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        change = api_perform(self, STAFF_UPDATE, self.get_object())
        return Response(StaffSerializer(change.member, context=self.get_serializer_context()).data)

    @extend_schema(methods=["GET"], responses=SessionSerializer(many=True))
    @extend_schema(methods=["DELETE"], responses={200: ENDED})
    @action(detail=True, methods=["get", "delete"], url_path="sessions", pagination_class=None)
    def sessions(self, request: Request, pk: str | None = None) -> Response:
        """A staff member's signed-in sessions (GET) or ending every one of them (DELETE: how
        many ended, `{"ended": 2}`): MSSP admins only."""
        user = cast(User, self.get_object())
        return user_sessions_response(self, user, user.pk)

    @extend_schema(operation_id="v1_staff_session_destroy", responses={204: None})
    @action(
        detail=True,
        methods=["delete"],
        url_path=r"sessions/(?P<session_id>[0-9a-fA-F-]{36})",
        url_name="session",
    )
    def end_session(
        self, request: Request, pk: str | None = None, session_id: str | None = None
    ) -> Response:
        """End one live session of a staff member (MSSP admins only): its browser is signed
        out at its next request, its sockets close now."""
        user = cast(User, self.get_object())
        record = next(
            (r for r in sessions.live_sessions(user.pk) if str(r.pk) == str(session_id).lower()),
            None,
        )
        if record is None:
            raise NotFound("No such session.")
        api_perform(self, STAFF_SESSION_END, record, data={})
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: RESET})
    @action(
        detail=True,
        methods=["post"],
        url_path="second-factor/reset",
        url_name="second-factor-reset",
    )
    def reset_second_factor(self, request: Request, pk: str | None = None) -> Response:
        """Delete a staff member's second factor and end their sessions (MSSP admins only):
        their next login takes them to enrolment."""
        return second_factor_reset_response(self, cast(User, self.get_object()))


def second_factor_reset_response(view: Any, target: Membership | User) -> Response:
    reset = api_perform(view, SECOND_FACTOR_RESET, target, data={})
    return Response({"removed": reset.removed, "sessions_ended": reset.sessions_ended})


def user_sessions_response(view: Any, target: Membership | User, user_id: int) -> Response:
    if view.request.method == "DELETE":
        return Response({"ended": api_perform(view, USER_SESSIONS_END, target, data={})})
    allowed = (
        policy.may_end_member_sessions(view.access, target)
        if isinstance(target, Membership)
        else policy.may_end_staff_sessions(view.access, target)
    )
    if not allowed:
        raise PermissionDenied("Only this user's administrators see their sessions.")
    return Response(SessionSerializer(sessions.live_sessions(user_id), many=True).data)


class MySessionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CallerScopedViewSet):
    """The caller's own signed-in sessions: list them, end one (DELETE), or end every one but
    the session this request came with (DELETE others/)."""

    scoped_model = UserSession
    serializer_class = SessionSerializer
    required_scope = ADMIN_TO_CHANGE
    cursor_ordering = "-last_seen_at"

    def rows_for(self, access: Access) -> models.QuerySet[UserSession]:
        live = [record.pk for record in sessions.live_sessions(access.user_id or 0)]
        return UserSession.objects.filter(pk__in=live)

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        context["current_session"] = self.request.session.get(sessions.SESSION_RECORD, "")
        return context

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        api_perform(self, SESSION_END, self.get_object(), data={})
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: ENDED})
    @action(detail=False, methods=["delete"], url_path="others")
    def others(self, request: Request) -> Response:
        """How many sessions ended: `{"ended": 2}`."""
        return Response({"ended": api_perform(self, SESSIONS_END_OTHERS, request.user, data={})})


class AuditEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """The audit log: MSSP admins read all of it, a customer admin their own tenant's."""

    scoped_model = AuditEvent
    serializer_class = AuditEventSerializer
    include_mssp_rows = True
    required_scope = ADMIN
    cursor_ordering = "-id"
    filterset_class = AuditEventFilter  # ?at__gte= / ?at__lt= in UTC (tenants.api.filters)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if not policy.reads_audit_log(self.access):
            raise PermissionDenied("Only MSSP admins and customer admins read the audit log.")

    def tenant_ids(self) -> frozenset[int]:
        slug = self.request.query_params.get("tenant")
        if slug:
            return frozenset(
                Tenant.objects.filter(slug=slug, pk__in=self.access.tenant_ids).values_list(
                    "pk", flat=True
                )
            )
        return self.access.tenant_ids

    def scope_queryset(self, queryset: models.QuerySet[Any]) -> models.QuerySet[Any]:
        if not self.access.is_mssp_admin or self.request.query_params.get("tenant"):
            queryset = queryset.exclude(tenant__isnull=True)
        return queryset.select_related("tenant")


class TenantSettingViewSet(
    TenantAdministeredMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    TenantNestedViewSet,
):
    """Per-tenant settings rows, audited: read by MSSP staff and the customer's admins,
    written by MSSP admins and the customer's admins."""

    cursor_ordering = "-created_at"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    audit_name = "setting"

    def _audit(self, action: str, obj: models.Model) -> None:
        audit.record(
            f"{self.audit_name}.{action}",
            tenant=self.tenant,
            obj=obj,
            request=self.request._request,
            summary=f"{self.audit_name} {obj} {action}",
            data=self.get_serializer(obj).data,
        )

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        self._audit("created", serializer.save(tenant=self.tenant))

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        self._audit("updated", serializer.save())

    def perform_destroy(self, instance: models.Model) -> None:
        self._audit("deleted", instance)
        instance.delete()


class ContactViewSet(TenantSettingViewSet):
    """Who at the customer is told of SLA warnings and breaches, and receives reports. Each
    change is the settings page's own action (tenants.administration)."""

    scoped_model = Contact
    serializer_class = ContactSerializer
    audit_name = "contact"

    @extend_schema(request=ContactSerializer, responses={201: ContactSerializer})
    def create(self, request: Request, tenant_slug: str | None = None) -> Response:
        contact = api_perform(self, CONTACT_CREATE, self.tenant)
        return Response(ContactSerializer(contact).data, status=status.HTTP_201_CREATED)

    def partial_update(
        self, request: Request, tenant_slug: str | None = None, pk: str | None = None
    ) -> Response:
        contact = api_perform(self, CONTACT_UPDATE, self.get_object())
        return Response(ContactSerializer(contact).data)

    def destroy(
        self, request: Request, tenant_slug: str | None = None, pk: str | None = None
    ) -> Response:
        api_perform(self, CONTACT_DELETE, self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookViewSet(TenantSettingViewSet):
    """The customer's outgoing webhooks. The signing secret is shown once, at creation."""

    scoped_model = Webhook
    serializer_class = WebhookSerializer
    audit_name = "webhook"

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """Adding, changing or removing a webhook needs a recent second factor in a session,
        like the actions marked step_up (tenants.actions)."""
        super().initial(request, *args, **kwargs)
        if request.method not in SAFE_METHODS:
            require_step_up(request)

    @extend_schema(request=WebhookSerializer, responses={201: WebhookCreatedSerializer})
    def create(self, request: Request, tenant_slug: str | None = None) -> Response:
        import secrets

        serializer = WebhookSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        hook = serializer.save(tenant=self.tenant, secret=secrets.token_urlsafe(32))
        self._audit("created", hook)
        body = WebhookSerializer(hook).data
        body["secret"] = hook.secret
        return Response(body, status=status.HTTP_201_CREATED)
