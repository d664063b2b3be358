"""The incident page's Respond card and the contract page run the same actions as the API:
an analyst requests (targets offered from the incident's observables), the customer's
responder approves from their portal and sees what is in force; a viewer is offered nothing
and refused by the server; the customer's admin sets the contract."""

from __future__ import annotations

import pytest

from .conftest import rows

pytestmark = pytest.mark.django_db


def test_request_approve_and_see_in_force_from_the_incident_page(
    world, client, django_capture_on_commit_callbacks
):
    w = world
    page = f"/incidents/{w['a_incident'].pk}/"
    client.force_login(w["analyst_a"])
    shown = client.get(page).content.decode()
    assert 'id="respond"' in shown and "Request an action" in shown
    assert '<option value="10.0.0.1" label="ip">' in shown  # the incident's observable
    assert "B&#x27;s SOAR" not in shown and str(w["b_webhook"].pk) not in shown
    client.post(
        f"/incidents/{w['a_incident'].pk}/respond/",
        {
            "connector": str(w["a_defender"].pk),
            "action": "isolate_host",
            "target": "ws-042.contoso.local",
        },
    )
    (row,) = rows(tenant=w["a"])
    assert row.status == "awaiting_approval"
    client.force_login(w["a_viewer"])
    viewer_page = client.get(page).content.decode()
    assert "Approve" not in viewer_page and "Request an action" not in viewer_page
    assert client.post(f"/response-actions/{row.pk}/approve/").status_code == 403
    client.force_login(w["a_responder"])
    assert "Approve" in client.get(page).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/response-actions/{row.pk}/approve/")
    (row,) = rows(tenant=w["a"])
    assert row.status == "succeeded"
    shown = client.get(page).content.decode()
    assert 'data-in-force="isolate_host"' in shown and "host isolated" in shown
    # another tenant's action is as missing as a made-up one
    client.force_login(w["b_admin"])
    assert client.post(f"/response-actions/{row.pk}/approve/").status_code == 404


def test_the_customers_admin_sets_the_contract_a_responder_cannot(world, client):
    w = world
    client.force_login(w["a_responder"])
    assert "Needs approval" in client.get("/settings/response-actions/").content.decode()
    form = {"tenant": "tenant-a", "action": "isolate_host", "mode": "pre_approved"}
    assert client.post("/settings/response-actions/", form).status_code == 403
    client.force_login(w["a_admin"])
    client.post("/settings/response-actions/", {**form, "approve_minutes": "10"})
    shown = client.get("/settings/response-actions/").content.decode()
    assert 'data-action="isolate_host" data-mode="pre_approved"' in shown
    # another tenant's contract: as missing as a made-up one
    assert client.get("/settings/response-actions/?tenant=tenant-b").status_code == 404
