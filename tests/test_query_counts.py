"""List endpoints answer in a number of queries that does not grow with the rows (no N+1)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import IntakeSourceFactory, MembershipFactory, StaffFactory
from tests.isolation import api_routes

pytestmark = pytest.mark.django_db


def add_rows(route, world, n: int) -> None:
    from tenants import audit
    from tests.factories import issue_token

    name = route.view.__name__
    if name == "MemberViewSet":
        for _ in range(n):
            MembershipFactory(tenant=world["a"])
    elif name == "IntakeSourceViewSet":
        for _ in range(n):
            IntakeSourceFactory(tenant=world["a"])
    elif name == "StaffViewSet":
        for _ in range(n):
            StaffFactory(staff_role="analyst_l2", tenants=[world["a"], world["b"]])
    elif name == "AuditEventViewSet":
        for _ in range(n):
            audit.record("test.event", tenant=world["a"], actor=world["a_admin"])
    elif name == "TokenViewSet":
        for _ in range(n):
            issue_token(world["mssp_admin"])
    elif name in ("AlertViewSet", "IncidentViewSet", "QueueViewSet"):
        from tests.factories import ingest_alerts

        ingest_alerts(world["a_source"], n)
        ingest_alerts(world["b_source"], n)
    elif name in ("SuppressionRuleViewSet", "CorrelationRuleViewSet"):
        from datetime import timedelta

        from django.utils import timezone

        from alerts.models import CorrelationRule, SuppressionRule
        from tenants.rls import rls_bypass

        with rls_bypass("test fixture"):
            for i in range(n):
                SuppressionRule.objects.create(
                    tenant=world["a"],
                    name=f"s{i}",
                    reason="x",
                    conditions={"rule_id": "x"},
                    owner=world["analyst_a"],
                    expires_at=timezone.now() + timedelta(days=1),
                )
                CorrelationRule.objects.create(
                    tenant=world["a"], name=f"c{i}", group_by=["rule_id"], window_minutes=5
                )
    elif name == "SlaPolicyViewSet":
        from sla.models import SlaPolicy
        from tenants.rls import rls_bypass
        from tests.factories import TenantFactory

        with rls_bypass("test fixture"):
            for _ in range(n):
                SlaPolicy.objects.create(
                    tenant=TenantFactory(), severity="high", acknowledge_minutes=5
                )
    elif name in ("ContactViewSet", "WebhookViewSet"):
        from tenants.models import Contact, Webhook
        from tenants.rls import rls_bypass

        with rls_bypass("test fixture"):
            for i in range(n):
                Contact.objects.create(tenant=world["a"], name=f"c{i}", email=f"c{i}@a.example")
                Webhook.objects.create(tenant=world["a"], url=f"https://h{i}.example", secret="s")
    elif name in ("EscalationViewSet", "EscalationPolicyViewSet"):
        from alerts.models import Incident
        from sla.escalation import escalation_request
        from sla.models import EscalationPolicy
        from tenants.models import Team
        from tenants.rls import rls_bypass
        from tests.factories import ingest_alerts

        ingest_alerts(world["a_source"], n)
        with rls_bypass("test fixture"):
            Team.objects.get_or_create(tenant=world["a"], name="in-house", kind="in_house")
            for incident in Incident.objects.for_tenant(world["a"]).filter(escalations=None):
                escalation_request(incident, direction="to_customer", actor=world["analyst_a"])
            for i in range(n):
                EscalationPolicy.objects.create(
                    tenant=world["a"],
                    name=f"p{i}",
                    steps=[{"action": "notify_tier"}],
                    is_active=False,
                )
    elif name == "ReportViewSet":
        from tests.factories import generated_report

        for _ in range(n):
            generated_report(world["a"], world["a_admin"])
            generated_report(world["b"], world["analyst_b"])
    elif name == "RemediationPolicyViewSet":
        from findings.models import RemediationPolicy
        from tenants.rls import rls_bypass
        from tests.factories import TenantFactory

        with rls_bypass("test fixture"):
            for _ in range(n):
                RemediationPolicy.objects.create(tenant=TenantFactory(), severity="high", days=9)
    elif name in ("FindingViewSet", "EngagementViewSet", "ScanImportViewSet"):
        from findings.models import Engagement
        from tenants.rls import rls_bypass
        from tests.factories import scan_imported

        for tenant in (world["a"], world["b"]):
            with rls_bypass("test fixture"):
                engagement = Engagement.objects.create(
                    tenant=tenant, name=f"e{Engagement.objects.for_tenant(tenant).count()}"
                )
            rows = "".join(f"10.0.0.{i},Finding {i},high,F-{i}\n" for i in range(n * 3))
            scan_imported(tenant, "host,title,severity,id\n" + rows, engagement=engagement)
    elif name in ("IndicatorViewSet", "ImportViewSet", "RetroHuntViewSet", "MatchViewSet"):
        from tests.factories import intel_rows

        intel_rows(world, n)
    elif name == "HuntViewSet":
        from alerts.models import Hunt

        for i in range(n):
            Hunt.objects.create(owner=world["mssp_admin"], name=f"h{i}", query={"q": "x"})
            Hunt.objects.create(owner=world["analyst_a"], name=f"s{i}", query={}, shared=True)
    elif name in ("ChannelViewSet", "SubscriptionViewSet", "DeliveryViewSet"):
        import uuid

        from notifications.models import Channel, Delivery, Subscription
        from tenants.rls import rls_bypass

        with rls_bypass("test fixture"):
            for i in range(n):
                channel = Channel.objects.create(
                    tenant=world["a"], name=f"ch{i}", kind="email", target=f"c{i}@a.example"
                )
                Subscription.objects.create(tenant=world["a"], channel=channel)
                Delivery.objects.create(
                    tenant=world["a"],
                    channel=channel,
                    kind="email",
                    key=uuid.uuid4().hex,
                    event_type="incident.opened",
                    title="t",
                    message={},
                )
    elif name in ("ContactMethodViewSet", "NotificationRuleViewSet"):
        from notifications.models import ContactMethod, NotificationRule

        for i in range(n):
            method = ContactMethod.objects.create(
                user=world["mssp_admin"], label=f"m{i}", kind="email", target=f"m{i}@x.example"
            )
            NotificationRule.objects.create(user=world["mssp_admin"], contact_method=method)
    elif name == "ScheduleViewSet":
        from django.utils import timezone

        from oncall.models import Layer, Schedule
        from tenants.models import Team
        from tenants.rls import rls_bypass

        with rls_bypass("test fixture"):
            team, _ = Team.objects.get_or_create(tenant=world["a"], name="on call", kind="in_house")
            first = Schedule.objects.for_tenant(world["a"]).count()
            for i in range(first, first + n):
                schedule = Schedule.objects.create(team=team, name=f"s{i}", time_zone="UTC")
                Layer.objects.create(
                    schedule=schedule,
                    position=0,
                    participants=[],
                    rotation="daily",
                    rotation_start=timezone.now(),
                )
    elif name == "TeamChannelViewSet":
        import uuid

        from notifications.models import Delivery, TeamChannel
        from tenants.rls import rls_bypass

        team = mssp_noc()
        for i in range(n):
            channel = TeamChannel.objects.create(
                team=team, name=f"tc{i}", kind="email", target=f"t{i}@mssp.example"
            )
            with rls_bypass("test fixture"):
                channel.hear_of([world["a"], world["b"]])
                Delivery.objects.create(
                    tenant=world["a"],
                    team_channel=channel,
                    staff_only=True,
                    kind="email",
                    key=uuid.uuid4().hex,
                    event_type="incident.opened",
                    title="t",
                    message={},
                )
    elif name == "MySessionViewSet":  # the caller's own signed-in sessions
        from tenants.models import UserSession

        for i in range(n):
            UserSession.objects.create(
                user=world["mssp_admin"], key_digest=f"{i:064d}", device=f"d{i}", ip="192.0.2.1"
            )
    elif name in ("ScimTokenViewSet", "GroupRoleViewSet"):  # a tenant's SCIM provisioning
        from provisioning.models import GroupRoleMapping, ScimToken
        from tenants.rls import rls_bypass

        with rls_bypass("test fixture"):
            for _ in range(n):
                raw, prefix, digest = ScimToken.generate()
                ScimToken.objects.create(
                    tenant=world["a"],
                    name=prefix,
                    prefix=prefix,
                    digest=digest,
                    created_by=world["a_admin"],
                )
                GroupRoleMapping.objects.create(tenant=world["a"], group_name=prefix, role="viewer")
    elif name == "TenantViewSet":
        from tests.factories import TenantFactory

        for _ in range(n):
            TenantFactory()
    elif name == "TaskViewSet":  # tasks on an incident opened by hand, some handed over
        from alerts.services import incident_open
        from cases.services import task_create
        from tenants.rls import rls_bypass

        with rls_bypass("test fixture"):
            incident = incident_open(
                world["a"], actor=world["a_admin"], origin="customer", title="t"
            )
            for i in range(n):
                task_create(
                    incident,
                    actor=world["mssp_admin"],
                    title=f"t{i}",
                    phase="containment",
                    visibility="shared",
                    owner=world["a_responder"] if i % 2 else None,
                )
    elif name == "CaseTemplateViewSet":  # the library and a tenant's variants
        from uuid import uuid4

        from cases.models import CaseTemplate
        from tenants.rls import rls_bypass

        for i in range(n):
            with rls_bypass("test fixture"):
                CaseTemplate.objects.dangerously_unscoped("test fixture").create(
                    tenant=world["a"] if i % 2 else None,
                    category=uuid4().hex[:12],
                    name="t",
                    tasks=[{"title": "t", "phase": "recovery"}],
                )
    elif name == "CustomFieldViewSet":  # a tenant's own incident fields
        from uuid import uuid4

        from cases.models import CustomField
        from tenants.rls import rls_bypass

        with rls_bypass("test fixture"):
            for i in range(n):
                CustomField.objects.dangerously_unscoped("test fixture").create(
                    tenant=world["a"] if i % 2 else world["b"],
                    key=f"f{uuid4().hex[:12]}",
                    label="f",
                    type="text",
                )
    elif name == "LibraryFieldViewSet":  # the MSSP's field library
        from uuid import uuid4

        from cases.models import LibraryField

        for _ in range(n):
            LibraryField.objects.create(key=f"f{uuid4().hex[:12]}", label="f", type="text")
    elif name in ("IdentityProviderViewSet", "SsoDomainViewSet"):  # a tenant's single sign-on
        from provisioning.models import IdentityProvider, SsoDomain
        from tenants.rls import rls_bypass

        with rls_bypass("test fixture"):
            # one provider a tenant (the route answers it alone); domains as many as asked
            IdentityProvider.objects.for_tenant(world["a"]).get_or_create(
                tenant=world["a"], defaults={"issuer": "https://idp.a.example", "client_id": "a"}
            )
            start = SsoDomain.objects.for_tenant(world["a"]).count()
            for i in range(start, start + n):
                SsoDomain.objects.create(
                    tenant=world["a"], domain=f"d{i}.a.example", verified_by=world["mssp_admin"]
                )
    elif name == "ConnectorViewSet":
        from uuid import uuid4

        from connectors.models import Connector
        from tenants.rls import rls_bypass

        with rls_bypass("test fixture"):
            for _ in range(n):
                Connector.objects.create(
                    tenant=world["a"], kind="virustotal", name=f"VT {uuid4().hex[:8]}"
                )
    elif name == "ResponseActionViewSet":
        from uuid import uuid4

        from alerts.models import Incident
        from connectors.models import Connector
        from response.models import ResponseAction
        from tenants.rls import rls_bypass
        from tests.factories import ingest_alerts

        with rls_bypass("test fixture"):
            incident = Incident.objects.for_tenant(world["a"]).first()
            if incident is None:
                ingest_alerts(world["a_source"], 1)
                incident = Incident.objects.for_tenant(world["a"]).get()
            connector, _ = Connector.objects.for_tenant(world["a"]).get_or_create(
                tenant=world["a"], kind="webhook", name="SOAR"
            )
            for _ in range(n):
                ResponseAction.objects.create(
                    tenant=world["a"],
                    incident=incident,
                    connector=connector,
                    action="block_address",
                    target="192.0.2.1",
                    mode="pre_approved",
                    idempotency_key=uuid4().hex,
                )
    elif name == "ActionPolicyViewSet":
        from response.models import ActionPolicy
        from tenants.rls import rls_bypass
        from tests.factories import TenantFactory

        with rls_bypass("test fixture"):
            for _ in range(n):  # one action a tenant (unique per tenant and action)
                ActionPolicy.objects.create(
                    tenant=TenantFactory(), action="isolate_host", mode="never"
                )
    elif name in ("MsspIdentityProviderViewSet", "MsspSsoDomainViewSet", "MsspGroupRoleViewSet"):
        # the MSSP's own single sign-on: its one provider, its domains, its staff-role groups
        from provisioning.models import IdentityProvider, SsoDomain, StaffGroupRoleMapping
        from tenants.rls import rls_bypass

        with rls_bypass("test fixture"):
            IdentityProvider.objects.dangerously_unscoped("fixture").get_or_create(
                tenant=None, defaults={"issuer": "https://idp.mssp.example", "client_id": "m"}
            )
            start = StaffGroupRoleMapping.objects.count()
            for i in range(start, start + n):
                SsoDomain.objects.create(
                    tenant=None, domain=f"d{i}.mssp.example", verified_by=world["mssp_admin"]
                )
                StaffGroupRoleMapping.objects.create(group_name=f"g{i}", role="analyst_l1")
    else:
        raise AssertionError(f"{name}: add a row maker here to pin its query count")


def mssp_noc():
    from tenants.models import Team

    team, _ = Team.objects.dangerously_unscoped("test fixture").get_or_create(
        tenant=None, name="MSSP NOC", kind="noc"
    )
    return team


LIST_ROUTES = [
    r for r in api_routes() if "GET" in r.methods and not r.object_param and r.model is not None
]


@pytest.mark.parametrize("route", LIST_ROUTES, ids=lambda r: r.id)
def test_list_query_count_does_not_grow_with_rows(route, two_tenants, api):
    client = api(two_tenants["mssp_admin"])
    params = {"tenant_slug": two_tenants["a"].slug, "team_id": mssp_noc().pk}
    url = route.url(**{name: params[name] for name in route.params})

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url + "?page_size=100")
        assert response.status_code == 200
        return len(captured)

    add_rows(route, two_tenants, 2)
    queries()  # warm-up: the token's first use records last_used_at
    few = queries()
    add_rows(route, two_tenants, 15)
    many = queries()
    assert many == few, f"{route.id}: {few} queries for a few rows, {many} for more"
