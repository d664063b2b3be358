from __future__ import annotations

import pytest

from alerts.models import Incident
from cases.models import CaseTemplate, CustomField
from tenants.models import Team
from tenants.rls import rls_bypass
from tests.factories import StaffFactory


@pytest.fixture
def world(two_tenants):
    return make_world(two_tenants)


def make_world(two_tenants) -> dict:
    """Two tenants, each with an in-house team (its admin and responder in it); the MSSP's
    phishing template in the library."""
    w = dict(two_tenants)
    with rls_bypass("test fixture"):
        for name in ("a", "b"):
            team = Team.objects.create(tenant=w[name], name=f"{name.upper()} SOC", kind="in_house")
            team.members.add(w[f"{name}_admin"], w[f"{name}_responder"])
            w[f"{name}_team"] = team
        w["phishing"] = CaseTemplate.objects.create(
            tenant=None,
            category="phishing",
            name="Phishing",
            default_severity="high",
            tasks=[
                {
                    "title": "Pull the e-mail from every mailbox",
                    "phase": "containment",
                    "visibility": "internal",
                    "due_minutes": 60,
                },
                {
                    "title": "Reset the user's password",
                    "phase": "eradication",
                    "customer_side": True,
                    "visibility": "shared",
                    "due_minutes": 240,
                },
                {
                    "title": "Check the mail gateway logs",
                    "phase": "identification",
                    "visibility": "internal",
                },
            ],
        )
    return w


def rows(model, **filters):
    with rls_bypass("test assertion"):
        return list(model.objects.dangerously_unscoped("test").filter(**filters))


def incident_of(tenant, **filters) -> Incident:
    return rows(Incident, tenant=tenant, **filters)[0]


# --- custom incident fields ------------------------------------------------------------


@pytest.fixture
def fields(world):
    """Tenant A: business impact (choice, visible), root cause (text, required to resolve),
    hours lost (number), noticed (date), handler (user), soc notes (internal); tenant B: its
    own business impact."""
    with rls_bypass("test fixture"):
        make = CustomField.objects.dangerously_unscoped("fixture").create
        world["impact"] = make(
            tenant=world["a"],
            key="business_impact",
            label="Business impact",
            type="choice",
            choices=["low", "high", "critical"],
            position=1,
            required_for_categories=["ransomware"],
        )
        make(
            tenant=world["a"],
            key="root_cause",
            label="Root cause",
            type="text",
            position=2,
            required_for_statuses=["resolved"],
        )
        make(tenant=world["a"], key="hours_lost", label="Hours lost", type="number", position=3)
        make(tenant=world["a"], key="noticed", label="Noticed", type="date", position=4)
        make(tenant=world["a"], key="handler", label="Handler", type="user", position=5)
        world["internal"] = make(
            tenant=world["a"],
            key="soc_notes",
            label="SOC verdict",
            type="text",
            position=6,
            customer_visible=False,
            required_for_statuses=["resolved"],
        )
        world["b_impact"] = make(
            tenant=world["b"],
            key="business_impact",
            label="Impact (B)",
            type="choice",
            choices=["minor", "major"],
        )
    world["lead"] = StaffFactory(staff_role="lead", tenants=[world["a"], world["b"]])
    return world


def open_incident(api, user, **extra):
    body = {"title": "Odd logins", "category": "account_compromise", **extra}
    return api(user).post("/api/v1/incidents/", body, format="json")


def set_fields(api, user, incident_id, values):
    return api(user).post(
        f"/api/v1/incidents/{incident_id}/custom-fields/", {"custom_fields": values}, format="json"
    )
