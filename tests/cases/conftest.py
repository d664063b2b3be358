from __future__ import annotations

import pytest

from alerts.models import Incident
from cases.models import CaseTemplate
from tenants.models import Team
from tenants.rls import rls_bypass


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
