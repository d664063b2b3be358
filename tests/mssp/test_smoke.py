import pytest


@pytest.mark.django_db
def test_healthz_reports_each_dependency(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    backlog = body.pop("intake_log")  # its figures: tests/mssp/test_health.py
    assert backlog["status"] == "ok" and backlog["backlog"] == 0, backlog
    assert body == {
        "status": "ok",
        "database": "ok",
        "channel_layer": "ok",
        "broker": "ok",
        "scheduler": "ok",
    }
