"""Demo activity for `seed_demo`: what a SOC's morning looks like, made through the portal's own
services (intake, the incident workflow, escalation, threat intelligence, findings, reports)
so that every page of `make run` has something true to show. Nothing here is a shortcut past
a service: the SLA clocks, timelines, audit entries and stream events are the real ones."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import F
from django.utils import timezone

from alerts import actions as incident_actions
from alerts import services as incidents
from alerts.ingest import ingest
from alerts.intake.generic import parse
from alerts.models import Incident, IncidentObservable, IntakeSource
from alerts.observables import observable_update
from cases import custom_fields
from cases import services as case_work
from cases.models import CaseTemplate, CustomField, LibraryField, Task
from findings.imports import import_request
from intel.services import indicator_create
from notifications import delivery as notification_delivery
from notifications.models import Delivery
from reports import incident_reports as post_incident
from reports.services import Period, report_request
from sla import escalation
from tenants.access import access_for
from tenants.actions import perform
from tenants.models import Tenant, User
from tenants.rls import tenant_scope


def _ip(value: str) -> dict:
    return {"type": "ip", "value": value}


def _host(value: str) -> dict:
    return {"type": "hostname", "value": value}


def _user(value: str) -> dict:
    return {"type": "user", "value": value}


# A known-bad address in the MSSP's threat intelligence, seen at two customers.
TOR_EXIT = "185.220.101.47"

ALERTS = {
    "acme": [
        (
            "Wazuh: SSH brute force against web-01",
            "medium",
            "authentication",
            "T1110",
            [_ip(TOR_EXIT), _host("web-01"), _user("root")],
        ),
        (
            "Suricata: ET POLICY curl User-Agent outbound",
            "low",
            "policy",
            "T1071",
            [_ip("10.20.0.15"), _host("pos-store-12")],
        ),
        (
            "Wazuh: new local administrator created",
            "high",
            "persistence",
            "T1136",
            [_host("pos-store-12"), _user("svc_backup")],
        ),
        (
            "Suricata: ET MALWARE Cobalt Strike beacon",
            "critical",
            "malware",
            "T1071.001",
            [_ip("10.20.0.31"), _ip("45.137.21.9"), _host("fin-laptop-07")],
        ),
        (
            "Wazuh: file integrity changed /etc/passwd",
            "medium",
            "integrity",
            "T1098",
            [_host("web-01")],
        ),
    ],
    "globex": [
        (
            "Elastic: credential dumping with procdump on lsass",
            "critical",
            "credential-access",
            "T1003.001",
            [_host("plc-gw-02"), _user("j.meyer")],
        ),
        (
            "Alertmanager: HighRequestLatency on shop frontend",
            "high",
            "availability",
            "",
            [_host("shop-fe-1")],
        ),
        (
            "CEF: VPN login from a new country",
            "medium",
            "authentication",
            "T1078",
            [_ip(TOR_EXIT), _user("a.schmidt")],
        ),
        (
            "Elastic: suspicious PowerShell download cradle",
            "high",
            "execution",
            "T1059.001",
            [_host("eng-ws-114"), _user("k.weber")],
        ),
    ],
    "initech": [
        (
            "Splunk: impossible travel for m.bolton",
            "high",
            "authentication",
            "T1078",
            [_user("m.bolton"), _ip("198.51.100.23")],
        ),
        (
            "Custom: TPS report share opened by 400 hosts",
            "medium",
            "discovery",
            "T1135",
            [_host("fs-02")],
        ),
        (
            "Splunk: mailbox forwarding rule to external address",
            "high",
            "collection",
            "T1114.003",
            [_user("p.gibbons"), {"type": "email", "value": "p.g@proton.example"}],
        ),
    ],
}

FINDINGS_CSV = """host,ip,title,severity,id,port,cvss_score,cve,description,solution
web-01,10.20.0.5,Apache httpd path traversal,critical,PT-2026-001,443/tcp,9.8,CVE-2021-41773,\
The server maps URLs outside the document root.,Upgrade httpd to 2.4.51 or later.
web-01,10.20.0.5,TLS 1.0 enabled,medium,PT-2026-002,443/tcp,5.3,,Legacy protocol accepted.,\
Disable TLS 1.0 and 1.1.
pos-store-12,10.20.0.15,SMB signing not required,medium,PT-2026-003,445/tcp,5.9,,\
Relay attacks are possible.,Require SMB signing.
fin-laptop-07,10.20.0.31,Local administrator password reused,high,PT-2026-004,,8.1,,\
The same local admin password is used on 40 laptops.,Deploy LAPS.
"""


# The MSSP's case template library: (category, name, default severity, tasks). A task is
# (phase, title, visibility, due after minutes, handed to the customer's in-house team).
TEMPLATES = [
    (
        "ransomware",
        "Ransomware",
        "critical",
        [
            ("identification", "Identify patient zero and the strain", "internal", 60, False),
            ("containment", "Isolate affected hosts from the network", "shared", 30, False),
            ("containment", "Disconnect backups from the network", "shared", 30, True),
            ("eradication", "Rebuild encrypted hosts from clean images", "shared", 1440, False),
            ("recovery", "Restore data from the last clean backup", "shared", 2880, True),
            ("lessons_learned", "Review how it got in and close the gap", "shared", 10080, False),
        ],
    ),
    (
        "phishing",
        "Phishing",
        "high",
        [
            ("identification", "Find every recipient of the message", "internal", 60, False),
            ("containment", "Purge the message from all mailboxes", "internal", 120, False),
            ("containment", "Block the sender and the linked domains", "internal", 120, False),
            ("eradication", "Reset the password of users who clicked", "shared", 240, True),
            ("lessons_learned", "Brief staff on the lure that worked", "shared", 10080, True),
        ],
    ),
    (
        "account_compromise",
        "Account compromise",
        "high",
        [
            (
                "identification",
                "Review the account's sign-ins and mail rules",
                "internal",
                60,
                False,
            ),
            ("containment", "Revoke the account's sessions and tokens", "shared", 30, True),
            ("eradication", "Reset the password and re-enrol MFA", "shared", 120, True),
            ("recovery", "Confirm the user's access works again", "shared", 1440, True),
        ],
    ),
    (
        "ddos",
        "DDoS",
        "high",
        [
            ("identification", "Confirm the attack traffic and its target", "internal", 15, False),
            ("containment", "Ask the upstream provider for scrubbing", "shared", 30, True),
            ("recovery", "Watch the service until traffic is normal", "internal", 240, False),
        ],
    ),
]


# Field values the library's templates set where a customer defines that field (DEMO_FIELDS).
TEMPLATE_FIELD_VALUES = {"ransomware": {"business_impact": "high"}}


def seed_case_templates(author: User) -> None:
    for category, name, severity, tasks in TEMPLATES:
        CaseTemplate.objects.create(
            tenant=None,
            category=category,
            name=name,
            default_severity=severity,
            created_by=author,
            custom_fields=TEMPLATE_FIELD_VALUES.get(category, {}),
            tasks=[
                {
                    "phase": phase,
                    "title": title,
                    "visibility": visibility,
                    "due_minutes": due,
                    "customer_side": customer,
                }
                for phase, title, visibility, due, customer in tasks
            ],
        )


# A customer's own incident fields (cases.CustomField): what the SOC and the customer record
# on every incident beside the product's own, one of them the MSSP's alone.
DEMO_FIELDS = [
    {
        "key": "business_impact",
        "label": "Business impact",
        "type": "choice",
        "choices": ["none", "low", "moderate", "high", "critical"],
        "help_text": "What it cost or could cost the business.",
        "required_for_categories": ["ransomware"],
    },
    {
        "key": "root_cause",
        "label": "Root cause",
        "type": "text",
        "help_text": "Why it could happen: the gap to close.",
        "required_for_statuses": ["resolved"],
    },
    {"key": "users_affected", "label": "Users affected", "type": "number"},
    {
        "key": "analyst_confidence",
        "label": "Analyst confidence",
        "type": "choice",
        "choices": ["suspected", "likely", "confirmed"],
        "customer_visible": False,
    },
]


def seed_custom_fields(tenant: Tenant, author: User, *, keys: tuple[str, ...] = ()) -> None:
    for position, spec in enumerate(DEMO_FIELDS, start=1):
        if keys and spec["key"] not in keys:
            continue
        CustomField.objects.create(tenant=tenant, position=position, created_by=author, **spec)


def seed_field_library() -> None:
    """The MSSP's field library (cases.LibraryField): the customer-visible demo fields, ready
    for a customer that has none (Initech adopts them on Settings → Incident fields)."""
    for spec in DEMO_FIELDS:
        if spec.get("customer_visible", True):
            LibraryField.objects.get_or_create(key=spec["key"], defaults=spec)


# Two small evidence files of the customer-raised incident (cases.evidence): plain text.
DEMO_HEADERS = """Return-Path: <billing@g1obex-supplies.example>
Received: from mail.g1obex-supplies.example (203.0.113.77) by mx.globex.example
From: "Accounts" <billing@g1obex-supplies.example>
To: finance@globex.example
Subject: Overdue invoice 2024-118: payment required today
Authentication-Results: mx.globex.example; spf=fail; dkim=none; dmarc=fail
"""
DEMO_GATEWAY_LOG = """accepted from=billing@g1obex-supplies.example ip=203.0.113.77
click url=hxxps://g1obex-supplies.example/pay user=j.doe@globex.example
click url=hxxps://g1obex-supplies.example/pay user=a.smith@globex.example
"""


# The analyst's sections of that incident's post-incident report.
DEMO_REPORT = {
    "summary": "A phishing e-mail posing as an overdue invoice from a look-alike supplier "
    "domain reached Globex's finance team. Two people clicked its link and one entered a "
    "password, which the in-house team reset within the hour.",
    "root_cause": "The look-alike domain (g1obex-supplies.example) failed SPF and DMARC, but "
    "the mail gateway delivered messages failing DMARC with a warning banner only.",
    "lessons_learned": "The finance team reported the e-mail quickly; the password reset was "
    "done by the customer's team as soon as it was handed to them.",
    "recommendations": "Quarantine messages that fail DMARC. Require a second factor for "
    "webmail. Repeat the invoice-fraud awareness session for the finance team.",
}


def seed_customer_raised(tenant: Tenant, responder: User, analyst: User, lead: User) -> None:
    """Globex's responder raises a phishing incident through the raise form's own action, with
    the e-mail's headers attached (shared: they sent them); the library's template gives it its
    tasks; the analyst works one, and the customer's team has reset the password it was handed.
    The analyst contains and resolves it and drafts the post-incident report; the lead approves
    it and shares it with Globex, whose security mailbox is told (the console, in the demo)."""
    raiser = access_for(responder)  # before any scope is entered: it reads with its own
    with tenant_scope([tenant.pk], user_id=lead.pk, staff=True):
        seed_custom_fields(tenant, lead)  # "Root cause" is required to resolve at Globex
    with tenant_scope([tenant.pk], user_id=responder.pk):
        incident = perform(
            incident_actions.OPEN_INCIDENT_WITH_FILES,
            access=raiser,
            target=tenant,
            actor=responder,
            data={
                "title": "Suspicious invoice e-mail: two people clicked the link",
                "description": "An 'overdue invoice' from a look-alike supplier domain reached "
                "the finance team this morning. Two people clicked the link; one entered a "
                "password.",
                "urgency": "urgent",
                "category": "phishing",
                "occurred_at": timezone.now() - timedelta(hours=2),
                "affected_assets": ["fin-laptop-07", "mail gateway"],
                "affected_people": ["j.doe@globex.example", "a.smith@globex.example"],
                "custom_fields": {"business_impact": "moderate", "users_affected": 2},
                "attachments": [
                    SimpleUploadedFile("overdue-invoice-headers.eml", DEMO_HEADERS.encode())
                ],
            },
        )
    with tenant_scope([tenant.pk], user_id=analyst.pk, staff=True):
        incidents.incident_acknowledge(incident, actor=analyst)
        tasks = list(Task.objects.for_tenant(tenant).filter(incident=incident))
        first = next(t for t in tasks if t.phase == "identification")
        case_work.task_set_status(first, "done", actor=analyst)
    with tenant_scope([tenant.pk], user_id=responder.pk):
        reset = next(t for t in tasks if t.owner_team_id is not None)
        case_work.task_set_status(reset, "done", actor=responder)
    with tenant_scope([tenant.pk], user_id=analyst.pk, staff=True):
        # and the analyst's excerpt of the mail gateway's log, for the MSSP's eyes
        case_work.attachment_add(
            incident,
            SimpleUploadedFile("mail-gateway-excerpt.log", DEMO_GATEWAY_LOG.encode()),
            actor=analyst,
            visibility="internal",
            task=first,
        )
        incidents.incident_comment(
            incident,
            author=analyst,
            body="The sender domain is blocked at the mail gateway and the message is pulled "
            "from every mailbox. No other account entered a password.",
            visibility="shared",
        )
        incidents.incident_contain(
            incident,
            actor=analyst,
            action="block sender domain",
            target="g1obex-supplies.example",
            result="succeeded",
        )
        incidents.incident_transition(
            incident, "contained", actor=analyst, reason="Sender blocked, mail pulled."
        )
        custom_fields.set_values(
            incident,
            {
                "root_cause": "The mail gateway delivered messages failing DMARC with a banner.",
                "analyst_confidence": "confirmed",
            },
            access=None,
            actor=analyst,
        )
        incidents.incident_transition(
            incident,
            "resolved",
            actor=analyst,
            resolution="true_positive",
            reason="Password reset, no further sign-ins.",
        )
        report = post_incident.report_draft(incident, actor=analyst, **DEMO_REPORT)
    with tenant_scope([tenant.pk], user_id=lead.pk, staff=True):
        post_incident.report_approve(report, actor=lead)
        post_incident.report_share(report, actor=lead)
    with tenant_scope([tenant.pk]):
        _deliver_now(tenant, "incident.report_shared")


def _deliver_now(tenant: Tenant, event_type: str) -> None:
    """Send this tenant's waiting messages of one event through the notifications outbox
    (claimed, sent to the channel, recorded) now, not when `make run`'s worker comes by."""
    now = timezone.now()
    waiting = Delivery.objects.for_tenant(tenant).filter(
        event_type=event_type, status=Delivery.Status.PENDING
    )
    for row in waiting.select_related(*notification_delivery.OUTBOX.related):
        notification_delivery.OUTBOX.due().filter(pk=row.pk).update(attempts=F("attempts") + 1)
        row.attempts += 1
        try:
            answer = notification_delivery.send(row)
        except Exception as exc:  # recorded as the outbox records any failure: retried later
            notification_delivery.OUTBOX.record(row, now, exc)
        else:
            notification_delivery.OUTBOX.record(row, now, None, answer)


def source_kind_of(title: str) -> str:
    """The intake kind a demo alert's title names ("Elastic: ..." -> elastic); "Custom: ..."
    is a customer's own script, posting the portal's generic format."""
    product = title.split(":", 1)[0].strip().lower()
    return "generic" if product == "custom" else product


def seed_activity(tenants: dict[str, Tenant]) -> None:
    """Alerts, incidents worked to different points, hand-offs, a threat-intelligence match,
    pentest findings and a report. Called once, right after the demo tenants are made."""
    users = {u.username: u for u in User.objects.all()}
    analyst, admin = users["analyst3"], users["admin"]
    responder = users["initech-responder"]
    # Computed before any scope is entered: access_for reads with a scope of its own.
    analyst_access, responder_access = access_for(analyst), access_for(responder)

    # The case template library, so that the incidents below get their tasks.
    with tenant_scope([], user_id=admin.pk, staff=True):
        seed_case_templates(admin)
        seed_field_library()
    # The MSSP's intelligence first, so that intake matches the alerts that carry it.
    with tenant_scope([], user_id=admin.pk, staff=True):
        indicator_create(
            None,
            "ip",
            TOR_EXIT,
            {"tlp": "green", "confidence": 90, "severity": "high", "source": "Tor exit list"},
            actor=admin,
            hunt=False,
        )
    opened: dict[str, list[Incident]] = {}
    for slug, alerts in ALERTS.items():
        tenant = tenants[slug]
        with tenant_scope([tenant.pk]):
            sources = {
                source.kind: source
                for source in IntakeSource.objects.for_tenant(tenant).select_related("tenant")
            }
            for n, (title, severity, category, mitre, observables) in enumerate(alerts):
                record = {
                    "title": title,
                    "severity": severity,
                    "category": category,
                    "mitre": [mitre] if mitre else [],
                    "observables": observables,
                    "source_ref": f"demo-{uuid.uuid4().hex[:12]}",
                    "observed_at": (timezone.now() - timedelta(minutes=7 * n)).isoformat(),
                }
                # Through the source its title names: the source decides routing (an
                # Alertmanager alert is an availability matter for the NOC, an Elastic one not).
                ingest(sources[source_kind_of(title)], [parse(record)])
            opened[slug] = list(Incident.objects.for_tenant(tenant).order_by("created_at"))

    with tenant_scope([tenants["acme"].pk], user_id=analyst.pk, staff=True):
        first, second, *_ = opened["acme"]
        seed_custom_fields(tenants["acme"], analyst, keys=("business_impact", "users_affected"))
        custom_fields.set_values(
            first, {"business_impact": "low", "users_affected": 1}, access=None, actor=analyst
        )
        incidents.incident_acknowledge(first, actor=analyst)
        incidents.incident_assign(first, actor=analyst, owner=analyst)
        incidents.incident_comment(
            first,
            author=analyst,
            body="Blocked the source address at the edge; no successful login in the logs.",
            visibility="shared",
        )
        incidents.incident_contain(
            first, actor=analyst, action="block IP", target=TOR_EXIT, result="succeeded"
        )
        # Classified items (alerts.tlp): Acme's responders and admins read the AMBER ones, its
        # viewers do not; the RED note is the MSSP's alone.
        incidents.incident_comment(
            first,
            author=analyst,
            body="The attempts used the CFO's old password from a 2024 breach list: please have "
            "it changed everywhere it was reused.",
            visibility="shared",
            tlp="amber",
        )
        case_work.task_create(
            first,
            actor=analyst,
            title="Check the CFO's accounts for password reuse",
            phase="eradication",
            visibility="shared",
            classification="amber",
        )
        incidents.incident_comment(
            first,
            author=analyst,
            body="A partner CERT's TLP:RED report ties this exit node to an ongoing campaign "
            "against the sector; do not share it with the customer.",
            visibility="shared",
            tlp="red",
        )
        tor = (  # the analyst's verdict on the address: an IOC (similar incidents rank it high)
            IncidentObservable.objects.for_tenant(first.tenant_id)
            .filter(incident=first, type="ip", value=TOR_EXIT)
            .first()
        )
        if tor is not None:
            observable_update(
                tor, actor=analyst, tag="ioc", note="Tor exit node; blocked at the edge."
            )
            # what the portal's own intel says of it, on the incident's Enrichment card (no
            # demo tenant has an enrichment service; nothing is looked up on the network)
            from connectors.enrichment import enrich

            enrich(tor, actor=analyst, connector_ids=[], dns=False)
        incidents.incident_transition(
            second, "resolved", actor=analyst, resolution="benign", reason="Inventory scanner."
        )
        import_request(
            tenants["acme"],
            data=FINDINGS_CSV.encode(),
            file_name="acme-pentest-2026-11.csv",
            kind="csv",
            engagement=None,
            actor=analyst,
        )
        end = timezone.now()
        report_request(tenants["acme"], Period(end - timedelta(days=7), end), analyst)

    globex = tenants["globex"]
    with tenant_scope([globex.pk], user_id=analyst.pk, staff=True):
        critical = next(i for i in opened["globex"] if i.severity == "critical")
        escalation.escalate_as(
            analyst_access,
            critical,
            "in_house",
            actor=analyst,
            respond_minutes=30,
            note="Credential dumping on an OT gateway: please confirm the maintenance window.",
        )

    seed_customer_raised(globex, users["globex-responder"], analyst, users["lead"])

    initech = tenants["initech"]
    with tenant_scope([initech.pk], user_id=responder.pk):
        forwarding = next(i for i in opened["initech"] if "forwarding" in i.title)
        escalation.escalate_as(
            responder_access,
            forwarding,
            "mssp",
            actor=responder,
            note="Could you check whether other mailboxes forward to this domain?",
        )

    seed_response_contracts(tenants, admin)


# What each demo customer's contract says of response actions (issue 16). No demo tenant has
# a tool the portal could reach, so no action is run here: the contracts show on
# /settings/response-actions/ and decide what the Respond card would do with a connector.
RESPONSE_CONTRACTS = {
    # outsourced: the MSSP contains at once, the customer's yes for accounts
    "acme": {"isolate_host": "pre_approved", "block_address": "pre_approved"},
    # hybrid: the customer's on-call answers within 10 minutes, never a domain block
    "globex": {"isolate_host": "needs_approval", "block_domain": "never"},
}


def seed_response_contracts(tenants: dict[str, Tenant], admin: User) -> None:
    from response.services import contract_set

    for slug, actions in RESPONSE_CONTRACTS.items():
        tenant = tenants[slug]
        with tenant_scope([tenant.pk], user_id=admin.pk, staff=True):
            for action, mode in actions.items():
                contract_set(tenant.pk, action, actor=admin, mode=mode, approve_minutes=10)
