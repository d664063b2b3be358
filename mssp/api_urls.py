"""/api/v1/: the apps' API views wired together (dependencies point one way, mssp/ joins them)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from alerts.api.hunts import HuntViewSet
from alerts.api.intake import IntakeView
from alerts.api.observables import IncidentObservableViewSet
from alerts.api.rules import CorrelationRuleViewSet, SuppressionRuleViewSet
from alerts.api.sources import IntakeSourceViewSet
from alerts.api.views import AlertViewSet, IncidentViewSet, QueueViewSet
from cases.api.custom_fields import CustomFieldViewSet
from cases.api.field_library import LibraryFieldViewSet
from cases.api.views import (
    AttachmentViewSet,
    CaseTemplateViewSet,
    IncidentAttachmentViewSet,
    IncidentTaskViewSet,
    TaskViewSet,
)
from connectors.api.views import ConnectorViewSet, IncidentEnrichmentViewSet
from findings.api.views import (
    EngagementViewSet,
    FindingViewSet,
    RemediationPolicyViewSet,
    ScanImportViewSet,
)
from intel.api.views import (
    ImportViewSet,
    IndicatorViewSet,
    MatchViewSet,
    RetroHuntViewSet,
    SightingsView,
)
from notifications.api.views import (
    ChannelViewSet,
    ContactMethodViewSet,
    DeliveryViewSet,
    NotificationRuleViewSet,
    SubscriptionViewSet,
    TeamChannelViewSet,
)
from oncall.api.views import OverrideViewSet, ScheduleViewSet
from provisioning.api import GroupRoleViewSet, ScimTokenViewSet
from provisioning.mssp_sso_api import (
    MsspGroupRoleViewSet,
    MsspIdentityProviderViewSet,
    MsspSsoDomainViewSet,
)
from provisioning.sso_api import IdentityProviderViewSet, SsoDomainViewSet
from reports.api.incident import IncidentReportViewSet
from reports.api.views import ReportViewSet
from response.api.views import (
    ActionPolicyViewSet,
    IncidentResponseViewSet,
    ResponseActionViewSet,
)
from sla.api.escalations import (
    EscalationPolicyViewSet,
    EscalationViewSet,
    IncidentEscalationViewSet,
)
from sla.api.views import SlaPolicyViewSet, SlaSummaryView
from tenants.api.views import (
    AuditEventViewSet,
    AuthTokenView,
    ContactViewSet,
    MemberViewSet,
    MeView,
    MySessionViewSet,
    StaffViewSet,
    TenantViewSet,
    TokenViewSet,
    WebhookViewSet,
)

TENANT = r"tenants/(?P<tenant_slug>[-a-zA-Z0-9_]+)"

router = SimpleRouter()
router.register("tokens", TokenViewSet, basename="token")
router.register("tenants", TenantViewSet, basename="tenant")
router.register(f"{TENANT}/members", MemberViewSet, basename="member")
router.register(f"{TENANT}/contacts", ContactViewSet, basename="contact")
router.register(f"{TENANT}/webhooks", WebhookViewSet, basename="webhook")
router.register(f"{TENANT}/channels", ChannelViewSet, basename="channel")
router.register(f"{TENANT}/subscriptions", SubscriptionViewSet, basename="subscription")
router.register(f"{TENANT}/deliveries", DeliveryViewSet, basename="delivery")
router.register(
    r"teams/(?P<team_id>[0-9a-fA-F-]{36})/channels", TeamChannelViewSet, basename="team-channel"
)
router.register("me/sessions", MySessionViewSet, basename="my-session")
router.register("me/contact-methods", ContactMethodViewSet, basename="contact-method")
router.register("me/notification-rules", NotificationRuleViewSet, basename="notification-rule")
router.register(f"{TENANT}/sources", IntakeSourceViewSet, basename="source")
router.register(f"{TENANT}/scim-tokens", ScimTokenViewSet, basename="scim-token")
router.register(f"{TENANT}/scim-group-roles", GroupRoleViewSet, basename="scim-group-role")
router.register(f"{TENANT}/sso-domains", SsoDomainViewSet, basename="sso-domain")
# the MSSP's own single sign-on (its staff's): MSSP admins only
router.register("mssp/sso-domains", MsspSsoDomainViewSet, basename="mssp-sso-domain")
router.register("mssp/sso-group-roles", MsspGroupRoleViewSet, basename="mssp-sso-group-role")
router.register(f"{TENANT}/suppression-rules", SuppressionRuleViewSet, basename="suppression-rule")
router.register(f"{TENANT}/correlation-rules", CorrelationRuleViewSet, basename="correlation-rule")
router.register("staff", StaffViewSet, basename="staff")
router.register("audit", AuditEventViewSet, basename="audit")
router.register("alerts", AlertViewSet, basename="alert")
router.register("incidents", IncidentViewSet, basename="incident")
router.register("queue", QueueViewSet, basename="queue")
router.register("hunts", HuntViewSet, basename="hunt")
router.register("sla/policies", SlaPolicyViewSet, basename="sla-policy")
router.register("incidents", IncidentEscalationViewSet, basename="incident-escalation")
router.register("incidents", IncidentTaskViewSet, basename="incident-task")
router.register("incidents", IncidentAttachmentViewSet, basename="incident-evidence")
router.register(
    r"incidents/(?P<incident_pk>[0-9a-fA-F-]{36})/attachments",
    AttachmentViewSet,
    basename="incident-attachment",
)
router.register("incidents", IncidentObservableViewSet, basename="incident-observable")
router.register("incidents", IncidentReportViewSet, basename="incident-report")
router.register("incidents", IncidentEnrichmentViewSet, basename="incident-enrichment")
router.register("incidents", IncidentResponseViewSet, basename="incident-response")
router.register("tasks", TaskViewSet, basename="task")
router.register("actions", ResponseActionViewSet, basename="response-action")
router.register("action-policies", ActionPolicyViewSet, basename="action-policy")
router.register("connectors", ConnectorViewSet, basename="connector")
router.register("case-templates", CaseTemplateViewSet, basename="case-template")
router.register("custom-fields", CustomFieldViewSet, basename="custom-field")
router.register("custom-field-library", LibraryFieldViewSet, basename="custom-field-library")
router.register("escalations", EscalationViewSet, basename="escalation")
router.register(
    f"{TENANT}/escalation-policies", EscalationPolicyViewSet, basename="escalation-policy"
)
router.register("reports", ReportViewSet, basename="report")
# Before "findings": its detail route would otherwise read "imports" as a finding's id.
router.register("findings/imports", ScanImportViewSet, basename="finding-import")
router.register("findings/engagements", EngagementViewSet, basename="engagement")
router.register(
    "findings/remediation-slas", RemediationPolicyViewSet, basename="remediation-policy"
)
router.register("findings", FindingViewSet, basename="finding")
router.register("intel/indicators", IndicatorViewSet, basename="intel-indicator")
router.register("intel/imports", ImportViewSet, basename="intel-import")
router.register("intel/retro-hunts", RetroHuntViewSet, basename="intel-retro-hunt")
router.register("intel/matches", MatchViewSet, basename="intel-match")
# Before "schedules": its detail route would otherwise read "overrides" as a schedule's id.
router.register("schedules/overrides", OverrideViewSet, basename="schedule-override")
router.register("schedules", ScheduleViewSet, basename="schedule")

urlpatterns = [
    path("auth/token/", AuthTokenView.as_view(), name="auth-token"),
    path("me/", MeView.as_view(), name="me"),
    path("intake/<str:source>/", IntakeView.as_view(), name="intake"),
    path("sla/summary/", SlaSummaryView.as_view(), name="sla-summary"),
    path("intel/sightings/", SightingsView.as_view(), name="intel-sightings"),
    # one per tenant, at its own URL: read, set, change, remove
    path(
        "tenants/<slug:tenant_slug>/sso/",
        IdentityProviderViewSet.as_view(
            {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}
        ),
        name="sso-config",
    ),
    path(
        "mssp/sso/",
        MsspIdentityProviderViewSet.as_view(
            {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}
        ),
        name="mssp-sso-config",
    ),
    *router.urls,
]
