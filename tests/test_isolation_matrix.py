"""A caller of tenant A, attacking every API route and method with tenant B's objects, gets
exactly what it would get for an object that does not exist, and nothing of B changes or leaks.

The routes come from the URL conf (tests/isolation.py); this file only knows, per model, where
tenant B's object is (B_OBJECTS). A route over a model missing here fails
`test_every_api_route_has_an_isolation_case`.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from allauth.mfa.models import Authenticator
from django.db.models import Q
from django.urls import path
from django.utils import timezone
from rest_framework import viewsets

from alerts.models import (
    Alert,
    CorrelationRule,
    Hunt,
    Incident,
    IncidentObservable,
    IntakeSource,
    SuppressionRule,
)
from cases.models import Attachment, CaseTemplate, CustomField, Task
from connectors.models import Connector
from findings.models import Engagement, Finding, RemediationPolicy, ScanImport
from intel.models import Indicator, IndicatorImport, IndicatorMatch, RetroHunt
from notifications.models import (
    Channel,
    ContactMethod,
    Delivery,
    NotificationRule,
    Subscription,
    TeamChannel,
)
from oncall.models import Layer, Override, Schedule
from provisioning.models import (
    GroupRoleMapping,
    IdentityProvider,
    ScimGroup,
    ScimGroupMember,
    ScimToken,
    ScimUser,
    SeenAssertion,
    SsoDomain,
    StaffGroupRoleMapping,
)
from reports.models import IncidentReport, Report
from response.models import ActionPolicy, ResponseAction
from sla.models import Escalation, EscalationPolicy, SlaPolicy
from tenants import audit
from tenants.api.base import TenantScopedViewSet
from tenants.models import (
    ApiToken,
    AuditEvent,
    Contact,
    Membership,
    Team,
    Tenant,
    User,
    UserSession,
    Webhook,
)
from tenants.rls import rls_bypass, tenant_related_models
from tests.factories import generated_report, issue_token
from tests.isolation import (
    MissingIsolationCase,
    body_of_b_values,
    cross_tenant_references,
    isolation_routes,
    string_values,
)
from tests.mfa import enrol

# model -> (B's object, the value of its lookup in the URL, a caller that may see it)
B_OBJECTS = {
    Tenant: lambda w: (w["b"], w["b"].slug, w["mssp_admin"]),
    Membership: lambda w: (w["b_member"], w["b_member"].pk, w["mssp_admin"]),
    IntakeSource: lambda w: (w["b_source"], w["b_source"].pk, w["mssp_admin"]),
    ApiToken: lambda w: (w["b_token"], w["b_token"].pk, w["b_admin"]),
    User: lambda w: (w["analyst_b"], w["analyst_b"].pk, w["mssp_admin"]),
    AuditEvent: lambda w: (w["b_audit"], w["b_audit"].pk, w["mssp_admin"]),
    Alert: lambda w: (w["b_alert"], w["b_alert"].pk, w["mssp_admin"]),
    Incident: lambda w: (w["b_incident"], w["b_incident"].pk, w["mssp_admin"]),
    SuppressionRule: lambda w: (w["b_suppression"], w["b_suppression"].pk, w["mssp_admin"]),
    CorrelationRule: lambda w: (w["b_correlation"], w["b_correlation"].pk, w["mssp_admin"]),
    SlaPolicy: lambda w: (w["b_policy"], w["b_policy"].pk, w["mssp_admin"]),
    Contact: lambda w: (w["b_contact"], w["b_contact"].pk, w["mssp_admin"]),
    Webhook: lambda w: (w["b_webhook"], w["b_webhook"].pk, w["mssp_admin"]),
    Escalation: lambda w: (w["b_escalation"], w["b_escalation"].pk, w["mssp_admin"]),
    EscalationPolicy: lambda w: (w["b_esc_policy"], w["b_esc_policy"].pk, w["mssp_admin"]),
    Report: lambda w: (w["b_report"], w["b_report"].pk, w["mssp_admin"]),
    Indicator: lambda w: (w["b_indicator"], w["b_indicator"].pk, w["mssp_admin"]),
    IndicatorImport: lambda w: (w["b_import"], w["b_import"].pk, w["mssp_admin"]),
    RetroHunt: lambda w: (w["b_hunt"], w["b_hunt"].pk, w["mssp_admin"]),
    IndicatorMatch: lambda w: (w["b_match"], w["b_match"].pk, w["mssp_admin"]),
    Finding: lambda w: (w["b_finding"], w["b_finding"].pk, w["mssp_admin"]),
    Engagement: lambda w: (w["b_engagement"], w["b_engagement"].pk, w["mssp_admin"]),
    ScanImport: lambda w: (w["b_scan"], w["b_scan"].pk, w["mssp_admin"]),
    RemediationPolicy: lambda w: (w["b_remediation"], w["b_remediation"].pk, w["mssp_admin"]),
    Channel: lambda w: (w["b_channel"], w["b_channel"].pk, w["mssp_admin"]),
    Subscription: lambda w: (w["b_subscription"], w["b_subscription"].pk, w["mssp_admin"]),
    Delivery: lambda w: (w["b_delivery"], w["b_delivery"].pk, w["mssp_admin"]),
    Schedule: lambda w: (w["b_schedule"], w["b_schedule"].pk, w["mssp_admin"]),
    Override: lambda w: (w["b_override"], w["b_override"].pk, w["mssp_admin"]),
    # Not tenant data: a saved search of B's analyst, private to them (not shared).
    Hunt: lambda w: (w["b_saved_hunt"], w["b_saved_hunt"].pk, w["analyst_b"]),
    # A person's own: B's analyst's contact method and rule, private to them.
    ContactMethod: lambda w: (w["b_method"], w["b_method"].pk, w["analyst_b"]),
    NotificationRule: lambda w: (w["b_rule"], w["b_rule"].pk, w["analyst_b"]),
    # The MSSP's own: the NOC's channel that hears of B (MSSP admins and managers only).
    TeamChannel: lambda w: (w["b_team_channel"], w["b_team_channel"].pk, w["mssp_admin"]),
    # A person's own: B's viewer's signed-in session (its device, address and times).
    UserSession: lambda w: (w["b_session"], w["b_session"].pk, w["b_viewer"]),
    # Case work: B's internal task on its incident, B's own variant of a case template.
    Task: lambda w: (w["b_task"], w["b_task"].pk, w["mssp_admin"]),
    CaseTemplate: lambda w: (w["b_template"], w["b_template"].pk, w["mssp_admin"]),
    # Custom incident fields: B's internal field (its definition; the values are B's incident's).
    CustomField: lambda w: (w["b_field"], w["b_field"].pk, w["mssp_admin"]),
    # Evidence: B's internal file on its incident (its routes are under the incident).
    Attachment: lambda w: (w["b_attachment"], w["b_attachment"].pk, w["mssp_admin"]),
    # SCIM provisioning's administration: B's SCIM token and group-to-role mapping.
    ScimToken: lambda w: (w["b_scim_token"], w["b_scim_token"].pk, w["mssp_admin"]),
    GroupRoleMapping: lambda w: (w["b_group_role"], w["b_group_role"].pk, w["mssp_admin"]),
    # Single sign-on: B's identity provider (one per tenant) and B's claimed e-mail domain.
    IdentityProvider: lambda w: (w["b_sso"], w["b_sso"].pk, w["mssp_admin"]),
    SsoDomain: lambda w: (w["b_sso_domain"], w["b_sso_domain"].pk, w["mssp_admin"]),
    # Connectors: B's enrichment service (its calls and results are B's incident's).
    Connector: lambda w: (w["b_connector"], w["b_connector"].pk, w["mssp_admin"]),
    # Response actions: B's action awaiting approval on its incident, B's contract for one.
    ResponseAction: lambda w: (w["b_response"], w["b_response"].pk, w["mssp_admin"]),
    ActionPolicy: lambda w: (w["b_action_policy"], w["b_action_policy"].pk, w["mssp_admin"]),
    # The MSSP's own single sign-on: a group of its provider and the staff role it gives.
    StaffGroupRoleMapping: lambda w: (
        w["mssp_group_role"],
        w["mssp_group_role"].pk,
        w["mssp_admin"],
    ),
}
# Routes of the MSSP's own single sign-on (api/v1/mssp/): their rows belong to no tenant, so
# the object an attacker must not tell from a missing one is the MSSP's (served to its admins).
MSSP_OBJECTS = {
    SsoDomain: lambda w: (w["mssp_sso_domain"], w["mssp_sso_domain"].pk, w["mssp_admin"]),
}


def objects_of(route):
    if route.id.startswith("api/v1/mssp/"):
        return MSSP_OBJECTS.get(route.model) or B_OBJECTS[route.model]
    return B_OBJECTS[route.model]


MISSING = {Tenant: "no-such-tenant", User: 987654321}
ATTACKERS = ["a_admin", "analyst_a"]
ROUTES = isolation_routes(B_OBJECTS)


def owner_params(route, w) -> dict:
    """The path's parameters besides the tenant and the object: the MSSP team a team channel
    route is under (the NOC, whose channel hears of B); a staff member's session (B's
    analyst's)."""
    if "incident_pk" in route.params:  # an evidence file's incident: B's, holding B's file
        return {"incident_pk": w["b_incident"].pk}
    params = {"team_id": w["noc"].pk} if "team_id" in route.params else {}
    if "session_id" in route.params:
        params["session_id"] = w["analyst_b_session"].pk
    if "oid" in route.params:  # an observable's routes: B's observable
        params["oid"] = w["b_observable"].pk
    return params


@pytest.fixture(scope="module")
def world_once(two_tenants_of_module):
    """The two populated tenants, built once per module: built for each test, they were most
    of the matrix's time (over a second a test, in hundreds of tests). They live in the
    module's transaction (tests.conftest.two_tenants_of_module), rolled back when the module
    ends; each test runs in a savepoint of it (pytest-django's `db`, as Django's
    TestCase.setUpTestData does), so whatever a test writes, or an attack that should have
    failed wrote, is undone before the next test."""
    return build_world(two_tenants_of_module)


@pytest.fixture
def world(world_once, db):
    return world_once


def build_world(two_tenants: dict) -> dict:
    w = dict(two_tenants)
    with rls_bypass("test fixture"):
        w["b_member"] = Membership.objects.for_tenant(w["b"]).get(user=w["b_viewer"])
        w["a_member"] = Membership.objects.for_tenant(w["a"]).get(user=w["a_viewer"])
        w["b_audit"] = audit.record("test.event", tenant=w["b"], summary="B's secret event")
    with rls_bypass("test fixture"):
        for name in ("a", "b"):
            w[f"{name}_suppression"] = SuppressionRule.objects.create(
                tenant=w[name],
                name=f"{name.upper()}'s secret suppression",
                reason="x",
                conditions={"rule_id": "never"},
                owner=w["mssp_admin"],
                expires_at=timezone.now() + timedelta(days=1),
            )
            w[f"{name}_contact"] = Contact.objects.create(
                tenant=w[name],
                name=f"{name.upper()}'s secret contact",
                email=f"contact@{name}.example",
            )
            w[f"{name}_webhook"] = Webhook.objects.create(
                tenant=w[name], url=f"https://hooks.{name}.example/in", secret="s"
            )
            w[f"{name}_policy"] = SlaPolicy.objects.create(
                tenant=w[name], severity="critical", acknowledge_minutes=7
            )
            w[f"{name}_correlation"] = CorrelationRule.objects.create(
                tenant=w[name],
                name=f"{name.upper()}'s secret correlation",
                group_by=["rule_id"],
                window_minutes=5,
            )
    with rls_bypass("test fixture"):
        for name in ("a", "b"):
            Team.objects.create(tenant=w[name], name=f"{name} in-house", kind="in_house")
            w[f"{name}_esc_policy"] = EscalationPolicy.objects.create(
                tenant=w[name],
                name=f"{name.upper()}'s secret policy",
                steps=[{"action": "notify_tier"}],
                is_active=False,
            )
    from intel.services import indicator_create, retro_hunt_start

    with rls_bypass("test fixture"):
        for name in ("a", "b"):  # each tenant's own indicator names its alert's observable
            w[f"{name}_indicator"], _, _ = indicator_create(
                w[name].pk,
                "ip",
                "10.9.9.9",
                {"source": f"{name.upper()}'s secret feed"},
                actor=w["mssp_admin"],
                hunt=False,
            )
            w[f"{name}_import"] = IndicatorImport.objects.create(
                tenant=w[name], format="text", filename=f"{name}-secret.txt", total=1
            )
            w[f"{name}_hunt"] = retro_hunt_start(
                w[name].pk, indicator=w[f"{name}_indicator"], actor=w["mssp_admin"]
            )
    for name in ("a", "b"):
        w[f"{name}_alert"], w[f"{name}_incident"] = ingest_one(
            w[f"{name}_source"], f"{name.upper()}'s secret alert"
        )
    with rls_bypass("test fixture"):  # intake wrote each incident's observable (10.9.9.9)
        for name in ("a", "b"):
            w[f"{name}_observable"] = IncidentObservable.objects.for_tenant(w[name]).get(
                incident=w[f"{name}_incident"]
            )
    with rls_bypass("test fixture"):
        for name in ("a", "b"):
            w[f"{name}_match"] = IndicatorMatch.objects.for_tenant(w[name]).get()
    from sla.escalation import escalation_request

    with rls_bypass("test fixture"):
        for name in ("a", "b"):
            w[f"{name}_escalation"] = escalation_request(
                w[f"{name}_incident"],
                direction="to_customer",
                actor=w["mssp_admin"],
                note=f"{name.upper()}'s secret hand-off",
            )
    for name in ("a", "b"):  # done, with figures naming the tenant's alerts, PDF and CSV
        w[f"{name}_report"] = generated_report(w[name], w[f"{name}_admin"])
    from tests.factories import scan_imported

    for name in ("a", "b"):  # an engagement, its import and a finding on the alert's host
        with rls_bypass("test fixture"):
            w[f"{name}_engagement"] = Engagement.objects.create(
                tenant=w[name], name=f"{name.upper()}'s secret pentest"
            )
        w[f"{name}_scan"] = scan_imported(
            w[name],
            f"host,title,severity,id\n10.9.9.9,{name.upper()}'s secret finding,critical,F-1\n",
            file_name=f"{name}-secret-findings.csv",
            engagement=w[f"{name}_engagement"],
        )
        with rls_bypass("test fixture"):
            w[f"{name}_finding"] = Finding.objects.for_tenant(w[name]).get()
            w[f"{name}_remediation"] = RemediationPolicy.objects.create(
                tenant=w[name], severity="high", days=21
            )
    with rls_bypass("test fixture"):
        for name in ("a", "b"):  # a channel hearing of everything: the incident opened above
            w[f"{name}_channel"] = Channel.objects.create(
                tenant=w[name],
                name=f"{name.upper()}'s secret channel",
                kind="email",
                target=f"soc@{name}.example",
            )
            w[f"{name}_subscription"] = Subscription.objects.create(
                tenant=w[name], channel=w[f"{name}_channel"]
            )
            w[f"{name}_delivery"] = Delivery.objects.create(
                tenant=w[name],
                channel=w[f"{name}_channel"],
                kind="email",
                key="k",
                event_type="incident.opened",
                title=f"{name.upper()}'s secret delivery",
                message={},
                status="failed",
            )
    with rls_bypass("test fixture"):
        for name in ("a", "b"):  # the in-house team's on-call schedule, a rotation, an override
            team = Team.objects.for_tenant(w[name]).get(name=f"{name} in-house")
            team.members.add(w[f"{name}_admin"], w[f"{name}_responder"])
            w[f"{name}_schedule"] = Schedule.objects.create(
                team=team, name=f"{name.upper()}'s secret schedule", time_zone="Europe/Berlin"
            )
            Layer.objects.create(
                schedule=w[f"{name}_schedule"],
                position=0,
                participants=[w[f"{name}_responder"].pk, w[f"{name}_admin"].pk],
                rotation="daily",
                rotation_start=timezone.now() - timedelta(days=3),
            )
            w[f"{name}_override"] = Override.objects.create(
                schedule=w[f"{name}_schedule"],
                user=w[f"{name}_admin"],
                start=timezone.now() + timedelta(hours=1),
                end=timezone.now() + timedelta(hours=5),
                reason=f"{name.upper()}'s secret override",
            )
    issue_token(w["b_admin"])
    w["b_token"] = ApiToken.objects.filter(user=w["b_admin"]).first()
    w["b_saved_hunt"] = Hunt.objects.create(
        owner=w["analyst_b"], name="B's secret hunt", query={"q": "secret"}
    )
    for name in ("a", "b"):
        w[f"{name}_method"] = ContactMethod.objects.create(
            user=w[f"analyst_{name}"],
            label=f"{name.upper()}'s secret phone",
            kind="sms",
            target="+14155550100",
        )
        w[f"{name}_rule"] = NotificationRule.objects.create(
            user=w[f"analyst_{name}"], contact_method=w[f"{name}_method"]
        )
    w["noc"] = Team.objects.dangerously_unscoped("test fixture").create(
        tenant=None, name="MSSP NOC", kind="noc"
    )
    w["b_team_channel"] = TeamChannel.objects.create(
        team=w["noc"], name="NOC hears of B", kind="email", target="noc@mssp.example"
    )
    with rls_bypass("test fixture"):
        w["b_team_channel"].hear_of([w["b"]])
        Delivery.objects.create(
            tenant=w["b"],
            team_channel=w["b_team_channel"],
            staff_only=True,
            kind="email",
            key="team",
            event_type="incident.opened",
            title="B's secret team delivery",
            message={},
            status="failed",
        )
    w["a_saved_hunt"] = Hunt.objects.create(
        owner=w["analyst_a"], name="A's hunt", query={"q": "login"}
    )
    from cases.services import task_create

    with rls_bypass("test fixture"):
        for name in ("a", "b"):  # a task on each incident, a template variant of each tenant
            w[f"{name}_task"] = task_create(
                w[f"{name}_incident"],
                actor=w["mssp_admin"],
                title=f"{name.upper()}'s secret task",
                phase="containment",
                visibility="internal",
            )
            w[f"{name}_template"] = CaseTemplate.objects.create(
                tenant=w[name],
                category="phishing",
                name=f"{name.upper()}'s secret template",
                tasks=[{"title": "x", "phase": "recovery"}],
            )
            w[f"{name}_field"] = CustomField.objects.create(
                tenant=w[name],
                key="secret_verdict",
                label=f"{name.upper()}'s secret field",
                type="text",
                customer_visible=False,
            )
            Incident.objects.dangerously_unscoped("fixture").filter(
                pk=w[f"{name}_incident"].pk
            ).update(custom_fields={"secret_verdict": f"{name.upper()}'s secret value"})
    from django.core.files.uploadedfile import SimpleUploadedFile

    from cases.services import attachment_add

    with rls_bypass("test fixture"):
        for name in ("a", "b"):  # an internal evidence file on each incident
            w[f"{name}_attachment"] = attachment_add(
                w[f"{name}_incident"],
                SimpleUploadedFile(f"{name}-secret-evidence.eml", f"{name} secret".encode()),
                actor=w["mssp_admin"],
                visibility="internal",
            )
    from reports.incident_reports import report_draft

    with rls_bypass("test fixture"):  # B's post-incident report, drafted
        w["b_incident_report"] = report_draft(
            w["b_incident"], actor=w["analyst_b"], summary="B's secret post-incident summary"
        )
    for name in ("a", "b"):  # each tenant's viewer is signed in somewhere
        w[f"{name}_session"] = UserSession.objects.create(
            user=w[f"{name}_viewer"],
            key_digest=f"{name}" * 64,
            device=f"{name.upper()}'s secret device",
            ip="192.0.2.7",
        )
    w["analyst_b_session"] = UserSession.objects.create(  # and B's analyst
        user=w["analyst_b"], key_digest="c" * 64, device="B's analyst's device", ip="192.0.2.8"
    )
    for name in ("b_viewer", "b_admin", "analyst_b"):  # second factors an attack must not reset
        enrol(w[name])
    with rls_bypass("test fixture"):  # B's SCIM provisioning: a token, a group, a mapping
        from provisioning.actions import mint_token
        from tenants.access import access_for

        minted = mint_token(
            w["b"],
            actor=w["b_admin"],
            access=access_for(w["b_admin"]),
            request=None,
            name="B's secret SCIM token",
        )
        w["b_scim_token"], w["b_scim_raw"] = minted.token, minted.raw
        w["a_scim_raw"] = mint_token(
            w["a"],
            actor=w["a_admin"],
            access=access_for(w["a_admin"]),
            request=None,
            name="A's SCIM token",
        ).raw
        w["b_group_role"] = GroupRoleMapping.objects.create(
            tenant=w["b"], group_name="B's secret group", role="responder"
        )
        w["b_scim_group"] = ScimGroup.objects.create(tenant=w["b"], display_name="B's secret group")
        ScimGroupMember.objects.create(tenant=w["b"], group=w["b_scim_group"], member=w["b_member"])
        ScimUser.objects.create(
            tenant=w["b"], membership=w["b_member"], user_name="b-secret-user", external_id="b-ext"
        )
    with rls_bypass("test fixture"):  # B's single sign-on: its provider and a pending domain
        from tenants import sealed

        w["b_sso"] = IdentityProvider.objects.create(
            tenant=w["b"],
            issuer="https://login.b-secret.example",
            client_id="b-secret-client",
            sealed_secrets=sealed.seal({"client_secret": "b-secret-client-secret"}),
        )
        w["b_sso_domain"] = SsoDomain.objects.create(tenant=w["b"], domain="b-secret.example")
        SeenAssertion.objects.create(  # a SAML assertion B's provider gave, kept against replay
            tenant=w["b"],
            provider=w["b_sso"],
            assertion_id="_b-secret-assertion",
            expires_at=timezone.now() + timedelta(hours=1),
        )
        # the MSSP's own single sign-on: a pending domain and a group-to-staff-role mapping
        w["mssp_sso_domain"] = SsoDomain.objects.create(tenant=None, domain="mssp-secret.example")
    w["mssp_group_role"] = StaffGroupRoleMapping.objects.create(
        group_name="MSSP's secret group", role="analyst_l1"
    )
    add_response_actions(w)
    add_connector_rows(w)
    return w


def add_response_actions(w) -> None:
    """Each tenant's webhook connector, a contract for one action and an action awaiting
    approval on its incident (nothing runs: it waits for the customer)."""
    from connectors.models import Connector
    from response.services import action_request
    from tenants import sealed

    with rls_bypass("test fixture"):
        for name in ("a", "b"):
            connector = Connector.objects.create(
                tenant=w[name],
                kind="webhook",
                name=f"{name.upper()}'s secret SOAR",
                base_url=f"https://soar.{name}-secret.example/act",
                sealed_secrets=sealed.seal({"signing_secret": "whsec_c2VjcmV0"}),
            )
            w[f"{name}_action_policy"] = ActionPolicy.objects.create(
                tenant=w[name], action="block_domain", mode="needs_approval", approve_minutes=42
            )
            w[f"{name}_response"] = action_request(
                w[f"{name}_incident"],
                actor=w["mssp_admin"],
                by_customer=False,
                connector=connector,
                action="block_domain",
                target=f"{name}-secret-c2.example",
                reason=f"{name.upper()}'s secret reason",
            )


def add_connector_rows(w) -> None:
    """Each tenant's VirusTotal connector; B's call through it on B's incident and what it
    said of B's observable."""
    from connectors.models import ConnectorCall, Enrichment
    from tenants import sealed

    with rls_bypass("test fixture"):
        for name in ("a", "b"):
            w[f"{name}_connector"] = Connector.objects.create(
                tenant=w[name],
                kind="virustotal",
                name=f"{name.upper()}'s secret VirusTotal",
                base_url=f"https://vt.{name}-secret.example/api/v3",
                sealed_secrets=sealed.seal({"api_key": f"{name}-secret-vt-key"}),
                secret_hint="…-key",
            )
        ConnectorCall.objects.create(
            tenant=w["b"],
            connector=w["b_connector"],
            connector_name=w["b_connector"].name,
            incident=w["b_incident"],
            purpose="enrich",
            method="GET",
            url="https://vt.b-secret.example/api/v3/ip_addresses/10.9.9.9",
            status=200,
            response_excerpt="B's secret answer",
        )
        Enrichment.objects.create(
            tenant=w["b"],
            observable=w["b_observable"],
            source="connector",
            connector=w["b_connector"],
            source_name="B's secret VirusTotal",
            summary="B's secret verdict",
            expires_at=timezone.now() + timedelta(hours=1),
        )


def ingest_one(source, title):
    from alerts.ingest import ingest
    from alerts.intake.generic import parse
    from tenants.rls import tenant_scope

    with tenant_scope([source.tenant_id]):
        source = (
            IntakeSource.objects.for_tenant(source.tenant_id)
            .select_related("tenant")
            .get(pk=source.pk)
        )
        result = ingest(
            source,
            [
                parse(
                    {
                        "title": title,
                        "severity": "high",
                        "observables": [{"type": "ip", "value": "10.9.9.9"}],
                    }
                )
            ],
        )
        alert = Alert.objects.for_tenant(source.tenant_id).get(pk=result.alert_ids[0])
        incident = Incident.objects.for_tenant(source.tenant_id).get(pk=alert.incident_id)
    with rls_bypass("test fixture"):
        from alerts.services import incident_comment

        incident_comment(
            incident,
            author=User.objects.filter(is_superuser=False).first(),
            body=f"{title}: internal note",
            visibility="internal",
        )
    return alert, incident


def b_identifiers(w) -> set[str]:
    with rls_bypass("test: what B owns"):
        ids = {w["b"].slug, w["b"].name, str(w["b_audit"].pk), w["b_audit"].summary}
        ids |= {str(w["b_saved_hunt"].pk), w["b_saved_hunt"].name}
        for membership in Membership.objects.for_tenant(w["b"]).select_related("user"):
            ids |= {str(membership.pk), membership.user.username, membership.user.email}
        for source in IntakeSource.objects.for_tenant(w["b"]):
            ids |= {str(source.pk), source.name, source.key_prefix}
        for token in ApiToken.objects.filter(user__membership__tenant=w["b"]):
            ids |= {str(token.pk), token.prefix}
        for alert in Alert.objects.for_tenant(w["b"]):
            ids |= {str(alert.pk), alert.title}
        for incident in Incident.objects.for_tenant(w["b"]):
            ids |= {str(incident.pk), incident.title}
        ids |= {str(p.pk) for p in SlaPolicy.objects.for_tenant(w["b"])}
        for contact in Contact.objects.for_tenant(w["b"]):
            ids |= {str(contact.pk), contact.name, contact.email}
        for hook in Webhook.objects.for_tenant(w["b"]):
            ids |= {str(hook.pk), hook.url}
        for esc in Escalation.objects.for_tenant(w["b"]):
            ids |= {str(esc.pk), esc.note}
        for policy in EscalationPolicy.objects.for_tenant(w["b"]):
            ids |= {str(policy.pk), policy.name}
        for report in Report.objects.for_tenant(w["b"]):
            ids |= {str(report.pk)}
        for finding in Finding.objects.for_tenant(w["b"]).select_related("asset"):
            ids |= {str(finding.pk), finding.title, str(finding.asset_id)}
        for engagement in Engagement.objects.for_tenant(w["b"]):
            ids |= {str(engagement.pk), engagement.name}
        for scan in ScanImport.objects.for_tenant(w["b"]):
            ids |= {str(scan.pk), scan.file_name, scan.sha256}
        ids |= {str(p.pk) for p in RemediationPolicy.objects.for_tenant(w["b"])}
        for schedule in Schedule.objects.for_tenant(w["b"]):
            ids |= {str(schedule.pk), schedule.name}
        for override in Override.objects.for_tenant(w["b"]):
            ids |= {str(override.pk), override.reason}
        for model in (Indicator, IndicatorImport, RetroHunt, IndicatorMatch):
            ids |= {str(pk) for pk in model.objects.for_tenant(w["b"]).values_list("pk", flat=True)}
        ids.add("B's secret feed")
        observables = IncidentObservable.objects.for_tenant(w["b"])
        ids |= {str(pk) for pk in observables.values_list("pk", flat=True)}
        for task in Task.objects.for_tenant(w["b"]):
            ids |= {str(task.pk), task.title}
        ids |= {str(w["b_template"].pk), w["b_template"].name}
        for pir in IncidentReport.objects.for_tenant(w["b"]):
            ids |= {str(pir.pk), pir.summary}
        for attachment in Attachment.objects.for_tenant(w["b"]):
            ids |= {str(attachment.pk), attachment.name, attachment.sha256, attachment.storage_key}
        for model in (SuppressionRule, CorrelationRule):
            for rule in model.objects.for_tenant(w["b"]):
                ids |= {str(rule.pk), rule.name}
        for token in ScimToken.objects.for_tenant(w["b"]):
            ids |= {str(token.pk), token.name, token.prefix}
        for config in IdentityProvider.objects.for_tenant(w["b"]):
            ids |= {str(config.pk), config.issuer, config.client_id, "b-secret-client-secret"}
        for claim in SsoDomain.objects.for_tenant(w["b"]):
            ids |= {str(claim.pk), claim.domain}
        for group in ScimGroup.objects.for_tenant(w["b"]):
            ids |= {str(group.pk), group.display_name}
        for mapping in GroupRoleMapping.objects.for_tenant(w["b"]):
            ids |= {str(mapping.pk), mapping.group_name}
        ids |= {"b-secret-user", "b-ext"}
        ids |= {str(w["b_connector"].pk), w["b_connector"].name, w["b_connector"].base_url}
        ids |= {"b-secret-vt-key", "B's secret answer", "B's secret verdict"}
        for action in ResponseAction.objects.for_tenant(w["b"]):
            ids |= {str(action.pk), action.target, action.reason, action.connector_name}
        ids |= {str(p.pk) for p in ActionPolicy.objects.for_tenant(w["b"])}
    ids.add(w["analyst_b"].username)
    ids |= {str(w["b_session"].pk), w["b_session"].device}
    ids |= {str(w["b_team_channel"].pk), w["b_team_channel"].name, "B's secret team delivery"}
    return ids


def snapshot_b(w) -> dict:
    """Everything of tenant B, to prove an attack changed nothing."""
    with rls_bypass("test: snapshot of B"):
        state = {
            model._meta.label: list(
                model.objects.dangerously_unscoped("snapshot")
                .filter(tenant=w["b"])
                .order_by("pk")
                .values()
            )
            for model in tenant_related_models()
        }
        state["tenant"] = list(Tenant.objects.filter(pk=w["b"].pk).values())
        state["users"] = list(
            User.objects.filter(membership__tenant=w["b"])
            .order_by("pk")
            .values("username", "is_active", "password", "email")
        )
        state["tokens"] = list(
            ApiToken.objects.filter(user__membership__tenant=w["b"])
            .order_by("pk")
            .values("pk", "revoked_at", "scopes")
        )
        state["staff_b"] = list(User.objects.filter(pk=w["analyst_b"].pk).values())
        state["sessions"] = list(
            UserSession.objects.filter(user__membership__tenant=w["b"])
            .order_by("pk")
            .values("pk", "ended_at")
        )
        state["staff_b_sessions"] = list(
            UserSession.objects.filter(user=w["analyst_b"]).values("pk", "ended_at")
        )
        state["second_factors"] = list(
            Authenticator.objects.filter(
                Q(user__membership__tenant=w["b"]) | Q(user=w["analyst_b"])
            )
            .order_by("pk")
            .values("pk", "user_id", "type")
        )
    return state


def call(client, method: str, url: str):
    response = getattr(client, method.lower())(url, data={}, format="json")
    try:
        body = response.json()
    except ValueError:  # a download: its bytes, streamed or not
        body = b"".join(response.streaming_content) if response.streaming else response.content
    return response.status_code, body


def test_every_api_route_has_an_isolation_case():
    # isolation_routes() raised at import if not; this names the routes it covers.
    ids = {route.id for route in ROUTES}
    assert "api/v1/tenants/{tenant_slug}/members/{pk}/" in ids
    assert "api/v1/tenants/{tenant_slug}/sources/{pk}/rotate-key/" in ids
    assert len(ROUTES) >= 12


def test_a_route_missing_from_the_matrix_fails_the_suite():
    class UnknownModelViewSet(TenantScopedViewSet, viewsets.ReadOnlyModelViewSet):
        scoped_model = Team  # a model B_OBJECTS does not know

    extra = [path("api/v1/teams/<pk>/", UnknownModelViewSet.as_view({"get": "retrieve"}))]
    with pytest.raises(MissingIsolationCase, match="api/v1/teams"):
        isolation_routes(B_OBJECTS, urlpatterns=extra)


@pytest.mark.django_db
@pytest.mark.parametrize("attacker", ATTACKERS)
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.id)
def test_tenant_a_caller_cannot_reach_tenant_b(route, attacker, world, api):
    client = api(world[attacker])
    model = route.model
    if route.object_param:
        b_object, b_key, b_viewer = objects_of(route)(world)
        # B's object exists and this very URL serves it to someone entitled: a real target.
        if "GET" in route.methods:
            control = api(b_viewer)
            status, body = call(
                control,
                "GET",
                route.url(
                    tenant_slug=world["b"].slug,
                    **owner_params(route, world),
                    **{route.object_param: b_key},
                ),
            )
            assert status == 200, f"control: B's own caller cannot read {route.id}: {body}"
            if route.id.endswith(("{pk}/", "{slug}/")):
                assert str(b_key) in string_values(body)
    before = snapshot_b(world)
    forbidden = b_identifiers(world)

    if route.object_param:
        missing_key = MISSING.get(model, uuid.uuid4())
        tenant_variants = (
            [world["b"].slug, world["a"].slug] if "tenant_slug" in route.params else [None]
        )
        for slug in tenant_variants:
            params = {"tenant_slug": slug} if slug else {}
            params |= owner_params(route, world)
            for method in route.methods:
                attack = call(client, method, route.url(**params, **{route.object_param: b_key}))
                absent = call(
                    client, method, route.url(**params, **{route.object_param: missing_key})
                )
                assert attack[0] in (400, 403, 404, 405), (method, slug, attack)
                assert attack == absent, f"{method} {route.id} tells B's object from a missing one"
    else:
        for method in route.methods:
            if "tenant_slug" in route.params:
                attack = call(client, method, route.url(tenant_slug=world["b"].slug))
                absent = call(client, method, route.url(tenant_slug="no-such-tenant"))
                assert attack[0] in (403, 404), (method, attack)
                assert attack == absent
                own_url = route.url(tenant_slug=world["a"].slug)
            else:
                own_url = route.url(**owner_params(route, world))
            status, body = call(client, method, own_url)
            assert status < 500, (method, own_url, body)
            leaked = string_values(body) & forbidden
            assert not leaked, f"{method} {own_url} leaked B's {leaked}"
            if method == "GET":
                filtered = own_url + (
                    f"?tenant={world['b'].slug}&tenant_slug={world['b'].slug}"
                    f"&tenant_id={world['b'].pk}"
                )
                status, body = call(client, "GET", filtered)
                assert status < 500
                assert not (string_values(body) & forbidden), f"filter leaked B on {filtered}"

    assert snapshot_b(world) == before, f"{route.id}: tenant B changed"


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from drf_spectacular.generators import SchemaGenerator

    with django_db_blocker.unblock():
        return SchemaGenerator().get_schema(request=None, public=True)


WRITE_ROUTES = [r for r in ROUTES if {"POST", "PUT", "PATCH"} & set(r.methods)]


@pytest.mark.django_db
@pytest.mark.parametrize("attacker", ATTACKERS)
@pytest.mark.parametrize("route", WRITE_ROUTES, ids=lambda r: r.id)
def test_foreign_keys_in_a_body_never_reach_tenant_b(route, attacker, world, api, schema):
    """Every property of every write body set to tenant B's ids and slugs, sent to the caller's
    own tenant: refused, or accepted without any row of A pointing into B."""
    client = api(world[attacker])
    b = {
        "slug": world["b"].slug,
        "uuid": str(world["b_incident"].pk),
        "pk": world["b"].pk,
        "uuids": [str(world[k].pk) for k in ("b_incident", "b_alert", "b_source")],
    }
    own = {"tenant_slug": world["a"].slug, "slug": world["a"].slug, "pk": str(world["a_source"].pk)}
    own |= owner_params(route, world)
    if route.object_param:
        a_object = {
            Tenant: world["a"].slug,
            IntakeSource: world["a_source"].pk,
            Membership: world["a_member"].pk,
            ApiToken: None,
            User: world["analyst_a"].pk,
            AuditEvent: None,
            Alert: world["a_alert"].pk,
            Incident: world["a_incident"].pk,
            SuppressionRule: world["a_suppression"].pk,
            SlaPolicy: world["a_policy"].pk,
            Contact: world["a_contact"].pk,
            Webhook: world["a_webhook"].pk,
            Escalation: world["a_escalation"].pk,
            EscalationPolicy: world["a_esc_policy"].pk,
            CorrelationRule: world["a_correlation"].pk,
            Indicator: world["a_indicator"].pk,
            Finding: world["a_finding"].pk,
            Engagement: world["a_engagement"].pk,
            RemediationPolicy: world["a_remediation"].pk,
            Hunt: world["a_saved_hunt"].pk,
            Schedule: world["a_schedule"].pk,
            Override: world["a_override"].pk,
            Channel: world["a_channel"].pk,
            Subscription: world["a_subscription"].pk,
            Delivery: world["a_delivery"].pk,
            ContactMethod: world["a_method"].pk,
            NotificationRule: world["a_rule"].pk,
            Task: world["a_task"].pk,
            CaseTemplate: world["a_template"].pk,
            CustomField: world["a_field"].pk,
            Connector: world["a_connector"].pk,
        }.get(route.model)
        if a_object is None:
            pytest.skip(f"{route.model.__name__}: no object of A to write through this route")
        own[route.object_param] = a_object
    before = snapshot_b(world)
    operations = schema["paths"]["/" + route.id.replace("{pk}", "{id}")]
    for method in {"POST", "PUT", "PATCH"} & set(route.methods):
        request_body = operations[method.lower()].get("requestBody")
        if not request_body:
            continue
        content = request_body["content"]  # an upload's fields are multipart's, sent as JSON
        body_schema = (content.get("application/json") or next(iter(content.values())))["schema"]
        body = body_of_b_values(body_schema, schema["components"]["schemas"], b)
        status, response = call_json(client, method, route.url(**own), body)
        assert status < 500, (method, route.id, body, response)
    assert snapshot_b(world) == before
    assert cross_tenant_references() == []


def call_json(client, method: str, url: str, body: dict):
    response = getattr(client, method.lower())(url, data=body, format="json")
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.content


# --- SCIM (/scim/v2/): tenant A's SCIM token against tenant B's users and groups and MSSP staff.
# The routes come from the URL conf too; each must be classified here or the suite fails.
SCIM_PREFIX = "scim/v2/"
SCIM_KINDS = {
    "Users": "user",
    "Groups": "group",
    "ResourceTypes": "discovery",
    "Schemas": "discovery",
    "ServiceProviderConfig": "discovery",
    "": "discovery",
}
SCIM_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
SCIM_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
SCIM_PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def scim_routes() -> list[tuple[str, str, bool]]:
    """(path pattern, kind, has an id) for every /scim/v2/ route but the catch-all 404."""
    import re

    from django.urls import get_resolver

    from tests.isolation import _walk

    found = []
    for pattern_path, _pattern in _walk(get_resolver().url_patterns):
        if not pattern_path.startswith(SCIM_PREFIX) or pattern_path.endswith("^.*$"):
            continue
        rest = pattern_path[len(SCIM_PREFIX) :].lstrip("^")
        name = re.match(r"[A-Za-z]*", rest).group(0)
        assert name in SCIM_KINDS, f"no isolation case for /scim/v2/ route {pattern_path}"
        found.append((pattern_path, SCIM_KINDS[name], "resource_id" in pattern_path))
    return found


def test_every_scim_route_is_classified():
    kinds = {(kind, has_id) for _, kind, has_id in scim_routes()}
    assert {("user", False), ("user", True), ("group", False), ("group", True)} <= kinds


def scim_call(raw, method, path, body=None):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    data = json.dumps(body) if body is not None else None
    response = getattr(client, method.lower())(
        path, data=data, content_type="application/scim+json"
    )
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.content


def scim_bodies(w, kind):
    b_member = str(w["b_member"].pk)
    if kind == "user":
        return {
            "PUT": {"schemas": [SCIM_USER], "userName": "b-secret-user", "active": False},
            "PATCH": {
                "schemas": [SCIM_PATCH],
                "Operations": [{"op": "replace", "path": "active", "value": False}],
            },
        }
    return {
        "PUT": {"schemas": [SCIM_GROUP], "displayName": "taken", "members": [{"value": b_member}]},
        "PATCH": {
            "schemas": [SCIM_PATCH],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": b_member}]}],
        },
    }


@pytest.mark.django_db
def test_a_scim_token_never_reaches_another_tenant_or_staff(world):
    w = world
    raw = w["a_scim_raw"]
    before = snapshot_b(w)
    forbidden = b_identifiers(w) | {w["analyst_a"].username, w["mssp_admin"].username}
    b_ids = {"user": str(w["b_member"].pk), "group": str(w["b_scim_group"].pk)}
    staff_ids = {str(w["analyst_b"].pk), str(w["mssp_admin"].pk)}
    for _, kind, has_id in scim_routes():
        if kind == "discovery":
            continue
        base = "/scim/v2/" + ("Users" if kind == "user" else "Groups")
        if has_id:
            for method in ("GET", "PUT", "PATCH", "DELETE"):
                body = scim_bodies(w, kind).get(method)
                for target in [b_ids[kind], *staff_ids]:
                    attack = scim_call(raw, method, f"{base}/{target}", body)
                    absent = scim_call(raw, method, f"{base}/{uuid.uuid4()}", body)
                    assert attack[0] == 404, (method, target, attack)
                    assert attack == absent, f"{method} {base} tells B's object from a missing one"
            continue
        # the collection: list and filter by B's names, the staff's, B's ids
        for query in (
            "",
            '?filter=userName eq "b-secret-user"',
            f'?filter=userName eq "{w["b_viewer"].username}"',
            f'?filter=userName eq "{w["analyst_b"].username}"',
            f'?filter=id eq "{b_ids["user"]}"',
            '?filter=externalId eq "b-ext"',
            '?filter=displayName eq "B\'s secret group"',
            f'?filter=members.value eq "{b_ids["user"]}"',
        ):
            status, body = scim_call(raw, "GET", base + query)
            assert status in (200, 400), (query, body)
            assert not (string_values(body) & forbidden), f"{base}{query} leaked"
            if status == 200 and query:
                assert body["totalResults"] == 0, (query, body)
    # a group of A can never hold B's member or a staff account
    status, body = scim_call(
        raw,
        "POST",
        "/scim/v2/Groups",
        {"schemas": [SCIM_GROUP], "displayName": "A's", "members": [{"value": b_ids["user"]}]},
    )
    assert status == 400 and body["scimType"] == "invalidValue"
    # creating B's user's or a staff member's name makes A's own account; theirs are untouched
    for name in (
        "b-secret-user",
        w["b_viewer"].username,
        w["analyst_b"].username,
        w["mssp_admin"].username,
    ):
        status, body = scim_call(
            raw, "POST", "/scim/v2/Users", {"schemas": [SCIM_USER], "userName": name}
        )
        assert status == 201, body
        assert body["id"] != b_ids["user"]
        with rls_bypass("test"):
            created = Membership.objects.for_tenant(w["a"]).get(pk=body["id"])
        assert created.user.username == f"{w['a'].slug}/{name}"
        assert created.user_id not in (w["b_viewer"].pk, w["analyst_b"].pk, w["mssp_admin"].pk)
    assert snapshot_b(w) == before, "SCIM: tenant B changed"
    with rls_bypass("test"):
        assert User.objects.get(pk=w["analyst_b"].pk).is_active
        assert User.objects.get(pk=w["mssp_admin"].pk).is_active
    # B's own token works on B, and sees none of A's
    status, body = scim_call(w["b_scim_raw"], "GET", "/scim/v2/Users")
    assert status == 200
    assert {r["id"] for r in body["Resources"]} >= {b_ids["user"]}
    assert all(not r["userName"].startswith(w["a"].slug) for r in body["Resources"])
