"""A customer raises an incident with its attachments (the raise form at /incidents/new/): the
files become the incident's evidence through the evidence path (hash, safe name, tenant limits,
custody, shared because the customer sent them), all or nothing with the incident. Through the
API an incident is opened with JSON, then each file goes to its attachments (two steps)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from alerts.models import Incident, IncidentEvent
from cases import evidence
from cases.models import Attachment, EvidenceLimit
from tenants.models import AuditEvent
from tenants.rls import rls_bypass
from tests.cases.conftest import make_world, rows

pytestmark = pytest.mark.django_db

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
FORM = {"title": "We think we were phished", "urgency": "urgent", "category": "phishing"}


@pytest.fixture
def world(two_tenants, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    w = make_world(two_tenants)
    w["media"] = tmp_path
    return w


def stored(media: Path) -> list[Path]:
    folder = media / "evidence"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def files(*named: tuple[str, bytes]) -> list[SimpleUploadedFile]:
    return [SimpleUploadedFile(name, content) for name, content in named]


def raise_page(client, user, attachments, **fields):
    client.force_login(user)
    return client.post(reverse("incident-new"), {**FORM, **fields, "attachments": attachments})


def test_a_customer_raises_an_incident_with_its_files_as_shared_evidence(world, client):
    headers = b"Received: from evil.example\r\nSubject: Overdue invoice\r\n" * 50
    response = raise_page(
        client,
        world["a_responder"],
        files(
            ("../../etc/passwd", b"root:x:0:0"),
            ("overdue\u202eexe.eml", headers),
            ("empty.txt", b""),
        ),
    )
    assert response.status_code == 302, response.content.decode()[-800:]
    (incident,) = rows(Incident, tenant=world["a"])
    assert response["Location"] == reverse("incident", args=[incident.pk])
    assert incident.origin == "customer"
    kept = sorted(rows(Attachment, incident=incident), key=lambda a: a.name)
    assert [a.name for a in kept] == ["empty.txt", "overdueexe.eml", "passwd"]
    assert {a.visibility for a in kept} == {"shared"}  # they sent them: shared
    assert {a.uploaded_by_id for a in kept} == {world["a_responder"].pk}
    by_name = {a.name: a for a in kept}
    assert by_name["overdueexe.eml"].sha256 == hashlib.sha256(headers).hexdigest()
    assert (by_name["empty.txt"].size, by_name["empty.txt"].sha256) == (0, EMPTY_SHA256)
    assert all(a.storage_key.startswith(f"evidence/{world['a'].pk}/") for a in kept)
    assert len(stored(world["media"])) == 3
    assert not any("passwd" in str(p) or ".." in str(p) for p in stored(world["media"]))
    custody = [e for e in rows(AuditEvent, tenant=world["a"]) if e.action == "evidence.added"]
    assert len(custody) == 3 and {e.actor_id for e in custody} == {world["a_responder"].pk}
    timeline = rows(IncidentEvent, incident=incident, kind="evidence_added")
    assert len(timeline) == 3 and {e.visibility for e in timeline} == {"shared"}
    # The customer sees and downloads them on the incident's page; tenant B reaches none.
    page = client.get(reverse("incident", args=[incident.pk])).content.decode()
    assert "overdueexe.eml" in page and "passwd" in page
    download = client.get(reverse("evidence-download", args=[incident.pk, by_name["passwd"].pk]))
    assert download.status_code == 200 and download["Content-Type"] == "application/octet-stream"
    client.force_login(world["b_admin"])
    assert client.get(reverse("incident", args=[incident.pk])).status_code == 404
    gone = client.get(reverse("evidence-download", args=[incident.pk, by_name["passwd"].pk]))
    assert gone.status_code == 404


def test_a_refused_file_raises_nothing_and_stores_nothing(world, client):
    with rls_bypass("test fixture"):
        EvidenceLimit.objects.create(tenant=world["a"], max_bytes=1024, max_per_incident=3)
    big = raise_page(
        client, world["a_responder"], files(("fine.txt", b"ok"), ("dump.bin", b"x" * 2048))
    )
    assert big.status_code == 400
    text = big.content.decode()
    assert "dump.bin" in text and "1.0 KiB" in text and "Nothing was raised" in text
    assert 'value="We think we were phished"' in text  # the form again, as it was typed
    many = raise_page(client, world["a_responder"], files(*[(f"{n}.txt", b"x") for n in range(4)]))
    assert many.status_code == 400 and "at most 3 evidence files" in many.content.decode()
    assert rows(Incident, tenant=world["a"]) == []
    assert rows(Attachment, tenant=world["a"]) == [] and stored(world["media"]) == []


def test_more_files_than_one_raise_takes_and_a_body_too_large_are_refused(world, client, settings):
    eleven = raise_page(
        client, world["a_responder"], files(*[(f"{n}.txt", b"x") for n in range(11)])
    )
    assert eleven.status_code == 400 and "at most 10 files" in eleven.content.decode()
    settings.EVIDENCE_MAX_BYTES = 4096
    together = raise_page(
        client, world["a_responder"], files(("a.bin", b"a" * 3000), ("b.bin", b"b" * 3000))
    )
    assert together.status_code == 400 and "larger than 4.0 KiB" in together.content.decode()
    # A body declared far larger than the files may be is not read: the form, with why.
    client.force_login(world["a_responder"])
    declared = client.post(
        reverse("incident-new"),
        {**FORM, "attachments": files(("x.bin", b"x"))},
        CONTENT_LENGTH=str(settings.EVIDENCE_MAX_BYTES + evidence.MULTIPART_SLACK + 1),
    )
    assert declared.status_code == 302 and declared["Location"] == reverse("incident-new")
    shown = client.get(declared["Location"]).content.decode()
    assert "Nothing was raised" in shown
    assert rows(Incident, tenant=world["a"]) == [] and stored(world["media"]) == []


def test_a_store_failing_on_the_second_file_removes_the_first(world, client, monkeypatch):
    real, calls = evidence.store, []

    def failing_second(tenant_id, upload):
        calls.append(upload.name)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(tenant_id, upload)

    monkeypatch.setattr(evidence, "store", failing_second)
    response = raise_page(client, world["a_responder"], files(("one.txt", b"1"), ("two.txt", b"2")))
    assert response.status_code == 400 and "cannot be reached" in response.content.decode()
    assert calls == ["one.txt", "two.txt"]
    assert rows(Incident, tenant=world["a"]) == [] and rows(Attachment, tenant=world["a"]) == []
    assert stored(world["media"]) == []


def test_staff_opening_by_hand_keep_files_internal_unless_they_share_them(world, client):
    form = {"tenant": "tenant-a", "title": "Phone call: CEO fraud"}
    internal = raise_page(client, world["analyst_a"], files(("notes.txt", b"n")), **form)
    assert internal.status_code == 302
    shared = raise_page(
        client,
        world["analyst_a"],
        files(("threat-report.pdf", b"%PDF-1.4")),
        **{**form, "title": "Threat report"},
        attachment_visibility="shared",
    )
    assert shared.status_code == 302
    kept = {a.name: a.visibility for a in rows(Attachment, tenant=world["a"])}
    assert kept == {"notes.txt": "internal", "threat-report.pdf": "shared"}
    # A customer's form has no such choice: one sent anyway is not theirs to make.
    refused = raise_page(
        client, world["a_responder"], files(("x.txt", b"x")), attachment_visibility="internal"
    )
    assert refused.status_code == 302
    (mine,) = [a for a in rows(Attachment, tenant=world["a"]) if a.name == "x.txt"]
    assert mine.visibility == "shared"


def test_viewers_raise_nothing_and_the_form_offers_files_to_those_who_may(world, client):
    client.force_login(world["a_viewer"])
    assert raise_page(client, world["a_viewer"], files(("x.txt", b"x"))).status_code == 403
    assert rows(Incident, tenant=world["a"]) == [] and stored(world["media"]) == []
    client.force_login(world["a_responder"])
    form = client.get(reverse("incident-new")).content.decode()
    assert 'enctype="multipart/form-data"' in form
    assert 'type="file" name="attachments" multiple' in form
    assert "attachment_visibility" not in form  # staff only


def test_the_api_opens_with_json_then_takes_each_file_on_the_incident(world, api):
    client = api(world["a_responder"])
    multipart = client.post(
        "/api/v1/incidents/",
        {**FORM, "attachments": SimpleUploadedFile("a.eml", b"x")},
        format="multipart",
    )
    assert multipart.status_code == 415 and multipart.json()["detail"]  # never files dropped
    assert rows(Incident, tenant=world["a"]) == []
    opened = client.post("/api/v1/incidents/", FORM, format="json")
    assert opened.status_code == 201, opened.json()
    url = f"/api/v1/incidents/{opened.json()['id']}/attachments/"
    for name, content, shown in (
        ("..\\..\\windows\\win.ini", b"[fonts]", "win.ini"),
        ("empty", b"", "empty"),
    ):
        added = client.post(url, {"file": SimpleUploadedFile(name, content)}, format="multipart")
        assert added.status_code == 201, added.json()
        assert (added.json()["name"], added.json()["visibility"]) == (shown, "shared")
    listed = client.get(url).json()
    assert sorted(a["name"] for a in listed) == ["empty", "win.ini"]
    assert api(world["b_admin"]).get(url).status_code == 404


def test_the_proxy_lets_the_raise_form_through_up_to_the_evidence_limit(settings, tmp_path):
    from mssp import serve

    settings.EVIDENCE_MAX_BYTES = 9_000_000
    settings.STATIC_ROOT = tmp_path / "static"
    text = serve.render_nginx(
        listen="127.0.0.1:8080", pool="127.0.0.1:8001", ws="127.0.0.1:8002", prefix=tmp_path
    )
    block = text[text.index("location = /incidents/new/ {") :]
    assert f"client_max_body_size {9_000_000 + serve.MULTIPART_SLACK};" in block[: block.index("}")]
