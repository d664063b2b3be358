"""factory-boy factories. Tenant-owned rows are written under an explicit, logged RLS bypass:
a fixture sets up several tenants at once, which no real caller may."""

from __future__ import annotations

import hashlib
import uuid

import factory
from guardian.shortcuts import assign_perm

from alerts.models import IntakeSource, SourceKind
from tenants.models import Membership, Tenant, User
from tenants.rls import rls_bypass


class BypassingFactory(factory.django.DjangoModelFactory):
    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        with rls_bypass("test fixture"):
            return super()._create(model_class, *args, **kwargs)


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    name = factory.Sequence(lambda n: f"Customer {n}")
    slug = factory.Sequence(lambda n: f"customer-{n}")
    service_model = Tenant.ServiceModel.HYBRID
    timezone = "Europe/Berlin"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def save_password(self, create, extracted, **kwargs):
        if create:
            self.save()


class StaffFactory(UserFactory):
    staff_role = "analyst_l1"

    @factory.post_generation
    def tenants(self, create, extracted, **kwargs):
        for tenant in extracted or ():
            assign_perm("tenants.work_tenant", self, tenant)


class MembershipFactory(BypassingFactory):
    class Meta:
        model = Membership
        skip_postgeneration_save = True

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.VIEWER

    @factory.post_generation
    def responder_permission(self, create, extracted, **kwargs):
        if create:
            from tenants.services import sync_responder_permission

            sync_responder_permission(self)


class IntakeSourceFactory(BypassingFactory):
    class Meta:
        model = IntakeSource

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Sensor {n}")
    kind = SourceKind.WAZUH
    key_digest = factory.LazyFunction(lambda: IntakeSource.digest_of(IntakeSource().set_new_key()))
    key_prefix = factory.Sequence(lambda n: f"mssp_ik_{n:06d}")


class TeamFactory(BypassingFactory):
    """A customer's in-house team by default; `tenant=None` with an MSSP kind for the MSSP's
    own (tiers, NOC)."""

    class Meta:
        model = "tenants.Team"

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Security team {n}")
    kind = "in_house"


class ContactFactory(BypassingFactory):
    class Meta:
        model = "tenants.Contact"

    tenant = factory.SubFactory(TenantFactory)
    name = "CISO"
    email = factory.LazyAttribute(lambda c: f"ciso@{c.tenant.slug}.example")


class WebhookFactory(BypassingFactory):
    class Meta:
        model = "tenants.Webhook"

    tenant = factory.SubFactory(TenantFactory)
    url = factory.LazyAttribute(lambda w: f"https://hooks.{w.tenant.slug}.example/in")
    secret = "s"


class SuppressionRuleFactory(BypassingFactory):
    class Meta:
        model = "alerts.SuppressionRule"

    tenant = factory.SubFactory(TenantFactory)
    name = "scanner"
    reason = "authorised scan"
    conditions = factory.LazyFunction(lambda: {"rule_id": "scan"})
    expires_at = factory.LazyFunction(lambda: _now() + _days(1))


class CorrelationRuleFactory(BypassingFactory):
    class Meta:
        model = "alerts.CorrelationRule"

    tenant = factory.SubFactory(TenantFactory)
    name = "per host"
    group_by = factory.LazyFunction(lambda: ["observable:hostname"])
    window_minutes = 30


class SlaPolicyFactory(BypassingFactory):
    class Meta:
        model = "sla.SlaPolicy"

    tenant = factory.SubFactory(TenantFactory)
    severity = "critical"
    acknowledge_minutes = 5


class EscalationPolicyFactory(BypassingFactory):
    class Meta:
        model = "sla.EscalationPolicy"

    tenant = factory.SubFactory(TenantFactory)
    name = "Hybrid default"
    steps = factory.LazyFunction(lambda: [{"action": "page_lead"}])


class EngagementFactory(BypassingFactory):
    class Meta:
        model = "findings.Engagement"

    tenant = factory.SubFactory(TenantFactory)
    name = "pentest"


class RemediationPolicyFactory(BypassingFactory):
    class Meta:
        model = "findings.RemediationPolicy"

    tenant = factory.SubFactory(TenantFactory)
    severity = "high"
    days = 14


class IndicatorImportFactory(BypassingFactory):
    class Meta:
        model = "intel.IndicatorImport"

    tenant = factory.SubFactory(TenantFactory)
    format = "text"
    content = "10.0.0.1"
    total = 1


class NotificationFactory(BypassingFactory):
    """A delivery row as the SLA notifier writes it (tenant and incident given)."""

    class Meta:
        model = "sla.Notification"

    key = factory.Sequence(lambda n: f"test-{n}")
    event_type = "sla.breached"
    channel = "email"
    recipient = "a@b.c"
    subject = "s"
    payload = factory.LazyFunction(dict)


class EscalationRunFactory(BypassingFactory):
    class Meta:
        model = "sla.EscalationRun"

    policy = factory.LazyFunction(lambda: {"steps": [], "name": "p"})


class ReportScheduleFactory(BypassingFactory):
    class Meta:
        model = "reports.ReportSchedule"

    tenant = factory.SubFactory(TenantFactory)
    frequency = "weekly"


def _now():
    from django.utils import timezone

    return timezone.now()


def _days(days: int):
    from datetime import timedelta

    return timedelta(days=days)


def issue_token(user: User, scopes=None) -> str:
    from tenants.services import token_issue

    raw, _ = token_issue(user, name="test", scopes=frozenset(scopes) if scopes else None)
    return raw


def ingest_alerts(
    source: IntakeSource,
    count: int = 1,
    *,
    title: str = "Suspicious login",
    distinct: bool = True,
    severity: str = "high",
) -> list:
    """Alerts through the real intake pipeline (generic format) as the source's tenant; with
    `distinct`, each gets its own fingerprint (its own incident)."""
    from alerts.ingest import ingest
    from alerts.intake.generic import parse
    from tenants.rls import tenant_scope

    with tenant_scope([source.tenant_id]):
        source = (
            IntakeSource.objects.for_tenant(source.tenant_id)
            .select_related("tenant")
            .get(pk=source.pk)
        )
        records = [
            parse(
                {
                    "title": f"{title} {n}" if distinct else title,
                    "severity": severity,
                    "source_ref": f"{title}-{n}-{uuid.uuid4().hex}",
                    "observables": [{"type": "ip", "value": f"10.0.{n % 250}.{n // 250 + 1}"}],
                }
            )
            for n in range(count)
        ]
        return ingest(source, records).alert_ids


def populate_tenant(tenant, author: User) -> None:
    """One row in every tenant-owned table of this tenant (for tests that must see rows)."""

    from django.utils import timezone

    from alerts.intake.base import Observable
    from alerts.models import Incident, IntakeLogEntry
    from alerts.observables import observable_add
    from alerts.services import incident_comment, incident_contain
    from sla.escalation import escalation_request
    from tenants import audit
    from tenants.rls import tenant_scope

    source = IntakeSourceFactory(tenant=tenant)
    ingest_alerts(source, 2)
    with tenant_scope([tenant.pk]):
        incident = Incident.objects.for_tenant(tenant).first()
        incident_comment(incident, author=author, body="note", visibility="internal")
        incident_contain(incident, actor=author, action="isolate host", target="ws-1")
        observable_add(
            incident,
            actor=author,
            observable=Observable("user", "svc-backup"),
            source="analyst",
            visibility="internal",
            tag="ioc",
        )
        team = TeamFactory(tenant=tenant, name=f"{tenant.slug} team")
        populate_oncall(team, author)
        audit.record("test.event", tenant=tenant)
        SuppressionRuleFactory(tenant=tenant, owner=author)
        CorrelationRuleFactory(tenant=tenant)
        SlaPolicyFactory(tenant=tenant)
        ContactFactory(tenant=tenant)
        WebhookFactory(tenant=tenant, url="https://hooks.example/in")
        NotificationFactory(tenant=tenant, incident=incident, key="k", event_type="x")
        EscalationPolicyFactory(tenant=tenant, name="p")
        EscalationRunFactory(tenant=tenant, incident=incident)
        escalation_request(incident, direction="to_tier", actor=author)
        ReportScheduleFactory(tenant=tenant)
        # a request waiting in the durable intake log (set aside: no drain takes it)
        IntakeLogEntry.objects.create(
            tenant=tenant, source=source, alerts=[], attempts=5, failed_at=timezone.now()
        )
    generated_report(tenant, author)
    populate_intel(tenant, author)
    populate_findings(tenant, author)
    populate_notifications(tenant, incident, author)
    populate_cases(tenant, incident)
    populate_provisioning(tenant)
    populate_connectors(tenant, incident)
    populate_response(tenant, incident, author)
    populate_incident_report(tenant, incident, author)


def populate_incident_report(tenant, incident, author) -> None:
    """A drafted post-incident report of `incident`."""
    from reports.incident_reports import report_draft
    from tenants.rls import tenant_scope

    with tenant_scope([tenant.pk]):
        report_draft(incident, actor=author, summary="A drafted summary")


def populate_cases(tenant, incident) -> None:
    """A case template variant, a custom field, a task, an evidence file's record and evidence
    limits of `tenant`."""
    from cases.models import Attachment, CaseTemplate, CustomField, EvidenceLimit, Task
    from tenants.rls import tenant_scope

    with tenant_scope([tenant.pk]):
        CaseTemplate.objects.create(tenant=tenant, category="phishing", name="Phishing", tasks=[])
        CustomField.objects.create(tenant=tenant, key="root_cause", label="Root cause", type="text")
        Task.objects.create(
            tenant=tenant, incident=incident, title="Reset the password", phase="containment"
        )
        Attachment.objects.create(
            tenant=tenant,
            incident=incident,
            name="mail.eml",
            storage_key=f"evidence/{tenant.pk}/{uuid.uuid4()}",
            size=0,
            sha256=hashlib.sha256(b"").hexdigest(),
        )
        EvidenceLimit.objects.create(tenant=tenant, max_bytes=1024 * 1024)


def populate_provisioning(tenant) -> None:
    """A SCIM token, a provisioned user in a group, a group-to-role mapping, a single-sign-on
    provider, an assertion it gave and a claimed e-mail domain of `tenant`."""
    import secrets
    from datetime import timedelta

    from django.utils import timezone

    from provisioning.models import (
        GroupRoleMapping,
        IdentityProvider,
        ScimGroup,
        ScimGroupMember,
        ScimToken,
        ScimUser,
        SeenAssertion,
        SsoDomain,
    )
    from tenants.rls import tenant_scope

    membership = MembershipFactory(tenant=tenant, role="viewer")
    with tenant_scope([tenant.pk]):
        ScimToken.objects.create(
            tenant=tenant, name="Entra ID", prefix="scim_test", digest=secrets.token_hex(32)
        )
        ScimUser.objects.create(
            tenant=tenant, membership=membership, user_name=membership.user.username
        )
        group = ScimGroup.objects.create(tenant=tenant, display_name="SOC viewers")
        ScimGroupMember.objects.create(tenant=tenant, group=group, member=membership)
        GroupRoleMapping.objects.create(tenant=tenant, group_name="SOC viewers", role="viewer")
        provider = IdentityProvider.objects.create(
            tenant=tenant,
            issuer=f"https://login.{tenant.slug}.example",
            client_id=f"{tenant.slug}-portal",
        )
        SsoDomain.objects.create(tenant=tenant, domain=f"{tenant.slug}.example")
        SeenAssertion.objects.create(
            tenant=tenant,
            provider=provider,
            assertion_id=f"_{tenant.slug}-assertion",
            expires_at=timezone.now() + timedelta(hours=1),
        )


def populate_connectors(tenant, incident=None) -> None:
    """A response connector of `tenant` (its secrets sealed as a page would seal them), and
    with `incident`, a call through it and an enrichment of one of its observables."""
    from django.utils import timezone

    from alerts.models import IncidentObservable
    from connectors.models import Connector, ConnectorCall, Enrichment
    from tenants.rls import tenant_scope
    from tenants.sealed import seal

    with tenant_scope([tenant.pk]):
        connector = Connector.objects.create(
            tenant=tenant,
            kind=Connector.Kind.WEBHOOK,
            name="Firewall webhook",
            base_url=f"https://soar.{tenant.slug}.example/hooks/block",
            sealed_secrets=seal({"signing_secret": "whsec_test"}),
            secret_hint="test",
        )
        if incident is not None:
            ConnectorCall.objects.create(
                tenant=tenant,
                connector=connector,
                connector_name=connector.name,
                incident=incident,
                purpose="test",
                method="POST",
                url=connector.base_url,
                status=200,
            )
            observable = IncidentObservable.objects.for_tenant(tenant).filter(incident=incident)
            Enrichment.objects.create(
                tenant=tenant,
                observable=observable.first(),
                source=Enrichment.Source.INTEL,
                source_name="Portal intel",
                summary="No indicator names it.",
                expires_at=timezone.now(),
            )


def populate_response(tenant, incident, author: User) -> None:
    """A contract for one response action of `tenant` and an action on `incident` awaiting the
    customer's approval (through a webhook connector of its own)."""
    from connectors.models import Connector
    from response.models import ActionPolicy
    from response.services import action_request
    from tenants.rls import tenant_scope
    from tenants.sealed import seal

    with tenant_scope([tenant.pk]):
        connector = Connector.objects.create(
            tenant=tenant,
            kind=Connector.Kind.WEBHOOK,
            name="SOAR webhook",
            base_url=f"https://soar.{tenant.slug}.example/hooks/act",
            sealed_secrets=seal({"signing_secret": "whsec_test"}),
        )
        ActionPolicy.objects.create(tenant=tenant, action="isolate_host", mode="pre_approved")
        action_request(
            incident,
            actor=author,
            by_customer=False,
            connector=connector,
            action="block_address",
            target="203.0.113.50",
        )


def populate_oncall(team, author: User) -> None:
    """A schedule of `team` with a layer and an override (call within the tenant's scope)."""
    from datetime import timedelta

    from django.utils import timezone

    from oncall.models import Layer, Override, Schedule

    now = timezone.now()
    schedule = Schedule.objects.create(team=team, name="on call", time_zone="UTC")
    Layer.objects.create(
        schedule=schedule, position=0, participants=[], rotation="daily", rotation_start=now
    )
    Override.objects.create(schedule=schedule, user=author, start=now, end=now + timedelta(days=1))


def populate_notifications(tenant, incident, author: User) -> None:
    """A channel, its subscription, a delivery and a page of `tenant`, and a delivery to the
    MSSP NOC's channel that names it (staff only)."""
    from notifications.models import Channel, Delivery, Page, Subscription, TeamChannel
    from tenants.models import Team
    from tenants.rls import tenant_scope

    with tenant_scope([tenant.pk]):
        channel = Channel.objects.create(
            tenant=tenant, name="SOC", kind="email", target=f"soc@{tenant.slug}.example"
        )
        Subscription.objects.create(tenant=tenant, channel=channel)
        page = Page.objects.create(tenant=tenant, incident=incident, user=author, reason="test")
        Delivery.objects.create(
            tenant=tenant,
            channel=channel,
            page=page,
            kind="email",
            key="populate",
            event_type="incident.opened",
            title="t",
            message={},
        )
        noc, _ = Team.objects.dangerously_unscoped("the MSSP's NOC").get_or_create(
            tenant=None, name="MSSP NOC", kind="noc"
        )
        team_channel = TeamChannel.objects.create(
            team=noc, name=f"NOC hears of {tenant.slug}", kind="email", target="noc@mssp.example"
        )
        team_channel.hear_of([tenant])
        Delivery.objects.create(
            tenant=tenant,
            team_channel=team_channel,
            staff_only=True,
            kind="email",
            key="populate-team",
            event_type="incident.opened",
            title="t",
            message={},
        )


def scan_imported(tenant, content: str, *, file_name: str = "findings.csv", engagement=None):
    """A scanner file imported for `tenant` through the real services, as a worker would."""
    from findings import importers
    from findings.imports import import_request
    from findings.models import ScanImport
    from findings.tasks import run_import
    from tenants.rls import tenant_scope

    data = content.encode()
    with tenant_scope([tenant.pk]):
        scan = import_request(
            tenant,
            data=data,
            file_name=file_name,
            kind=importers.detect(data, file_name),
            engagement=engagement,
            actor=None,
        )
    while run_import(tenant.pk, str(scan.pk)):
        pass
    with tenant_scope([tenant.pk]):
        return ScanImport.objects.for_tenant(tenant).get(pk=scan.pk)


def populate_findings(tenant, author: User) -> None:
    """An engagement, an import and its finding (with its remediation clock and timeline) on
    the 10.0.0.1 of ingest_alerts, and a tenant remediation policy."""
    engagement = EngagementFactory(tenant=tenant, created_by=author)
    RemediationPolicyFactory(tenant=tenant)
    scan_imported(
        tenant,
        "host,title,severity,id\n10.0.0.1,Weak TLS configuration,high,PT-1\n",
        engagement=engagement,
    )


def populate_intel(tenant, author: User) -> None:
    """The tenant's own indicator (naming the 10.0.0.1 of ingest_alerts), an import, and a
    retro-hunt that finds that alert (a match)."""
    from intel.services import indicator_create, retro_hunt_run, retro_hunt_start
    from tenants.rls import tenant_scope

    with tenant_scope([tenant.pk]):
        own, _, _ = indicator_create(tenant.pk, "ip", "10.0.0.1", {}, actor=author, hunt=False)
        IndicatorImportFactory(tenant=tenant)
        hunt = retro_hunt_start(tenant.pk, indicator=own, actor=author)
    retro_hunt_run(str(hunt.pk), tenant.pk)


def generated_report(tenant, requested_by: User | None = None, *, days: int = 1, **kwargs):
    """A report of the last `days` days of `tenant`, requested and generated (done) through
    the real services, as a worker would."""
    from datetime import timedelta

    from django.utils import timezone

    from reports.models import Report
    from reports.services import Period, report_generate, report_request
    from tenants.rls import tenant_scope

    end = timezone.now()
    with tenant_scope([tenant.pk]):
        report = report_request(
            tenant, Period(end - timedelta(days=days), end), requested_by, **kwargs
        )
    report_generate(tenant.pk, report.pk)
    with tenant_scope([tenant.pk]):
        return Report.objects.for_tenant(tenant).get(pk=report.pk)


def intel_rows(world: dict, n: int) -> None:
    """n global indicators and n of tenant A's own, each with an import, a retro-hunt and a
    match on an alert of A (for list query counts)."""
    from alerts.ingest import ingest
    from alerts.intake.generic import parse
    from intel.services import indicator_create, retro_hunt_run, retro_hunt_start
    from tenants.rls import rls_bypass, tenant_scope

    a = world["a"]
    for i in range(n):
        number = uuid.uuid4().int
        value = f"198.18.{number % 250}.{number // 250 % 250 + 1}"
        with rls_bypass("test fixture"):
            for tenant_id in (None, a.pk):
                own, _, _ = indicator_create(
                    tenant_id,
                    "ip",
                    value,
                    {"confidence": 10},
                    actor=world["mssp_admin"],
                    hunt=False,
                )
                IndicatorImportFactory(tenant=a if tenant_id else None, content="")
                hunt = retro_hunt_start(tenant_id, indicator=own, actor=world["mssp_admin"])
        with tenant_scope([a.pk]):
            source = (
                IntakeSource.objects.for_tenant(a)
                .select_related("tenant")
                .get(pk=world["a_source"].pk)
            )
            ingest(
                source,
                [
                    parse(
                        {
                            "title": f"intel {i}",
                            "severity": "low",
                            "source_ref": uuid.uuid4().hex,
                            "observables": [{"type": "ip", "value": value}],
                        }
                    )
                ],
            )
        retro_hunt_run(str(hunt.pk), a.pk)
