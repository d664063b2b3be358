"""Evidence files on incidents: hashed as they stream in, stored under random keys, handed back
only as downloads nothing renders, within limits, with a chain of custody, and never across a
tenant or to a customer when internal. Malicious files are the everyday case here."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from alerts.models import Incident
from cases import evidence
from cases.models import Attachment, EvidenceLimit
from tenants.models import AuditEvent
from tenants.rls import rls_bypass
from tests.cases.conftest import rows
from tests.factories import ingest_alerts

pytestmark = pytest.mark.django_db

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.fixture
def ev(two_tenants, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    w = dict(two_tenants)
    for name in ("a", "b"):
        ingest_alerts(w[f"{name}_source"], 1, title=f"{name.upper()}'s phishing")
        w[f"{name}_incident"] = rows(Incident, tenant=w[name])[0]
    w["media"] = tmp_path
    return w


def upload(api, user, incident, content: bytes, name="evidence.bin", **fields):
    return api(user).post(
        f"/api/v1/incidents/{incident.pk}/attachments/",
        {"file": SimpleUploadedFile(name, content), **fields},
        format="multipart",
    )


def stored_files(media: Path) -> list[Path]:
    return sorted(p for p in (media / "evidence").rglob("*") if p.is_file())


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


def test_a_file_is_hashed_as_it_streams_and_stored_under_a_random_key(
    ev, api, settings, monkeypatch
):
    # A file is not "request data": MAX_REQUEST_BYTES (DATA_UPLOAD_MAX_MEMORY_SIZE) does not
    # apply to it, and it goes to a temporary file whatever FILE_UPLOAD_MAX_MEMORY_SIZE says.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
    content = b"Received: from evil.example\r\n" * 5000
    received = []
    store = evidence.store
    monkeypatch.setattr(evidence, "store", lambda t, f: received.append(f) or store(t, f))
    response = upload(api, ev["a_responder"], ev["a_incident"], content, "../../etc/passwd")
    assert [type(f).__name__ for f in received] == ["TemporaryUploadedFile"]
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["size"] == len(content)
    assert body["name"] == "passwd"  # the path is gone; only display text
    assert body["visibility"] == "shared"  # a customer's file is shared
    (row,) = rows(Attachment, incident=ev["a_incident"])
    assert row.storage_key.startswith(f"evidence/{ev['a'].pk}/")
    assert "passwd" not in row.storage_key
    (path,) = stored_files(ev["media"])
    assert path.read_bytes() == content
    (entry,) = rows(AuditEvent, action="evidence.added", object_id=str(row.pk))
    assert entry.actor_id == ev["a_responder"].pk
    assert entry.data["sha256"] == row.sha256 and entry.tenant_id == ev["a"].pk


def test_a_download_is_never_rendered(ev, api):
    # a polyglot: a PNG signature, then HTML with script, named as an image
    polyglot = b"\x89PNG\r\n\x1a\n<html><script>alert(document.cookie)</script></html>"
    created = upload(api, ev["analyst_a"], ev["a_incident"], polyglot, "cat \u00e9t\u00e9.png")
    url = created.json()["download"]
    response = api(ev["a_viewer"]).get(url)
    assert response.status_code == 404  # internal (staff's default): the customer has nothing
    response = api(ev["analyst_a"]).get(url)
    assert response.status_code == 200 and response.streaming
    assert body_of(response) == polyglot
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == (
        "attachment; filename=\"cat _t_.png\"; filename*=UTF-8''cat%20%C3%A9t%C3%A9.png"
    )
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert response["Content-Length"] == str(len(polyglot))
    detail = api(ev["analyst_a"]).get(url.removesuffix("download/")).json()
    assert [c["action"] for c in detail["custody"]] == ["evidence.added", "evidence.downloaded"]
    assert all(c["sha256"] == detail["sha256"] for c in detail["custody"])
    # the customer's admins read their audit log: an internal file's name is not in it
    entries = rows(AuditEvent, object_id=detail["id"])
    assert entries and all("cat" not in e.summary and "name" not in e.data for e in entries)


def test_a_zip_bomb_is_stored_as_its_bytes_and_never_expanded(ev, api):
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", b"\0" * (20 * 1024 * 1024))  # 20 MiB in ~20 KiB
    bomb = packed.getvalue()
    assert len(bomb) < 100_000
    response = upload(api, ev["analyst_a"], ev["a_incident"], bomb, "invoice.zip")
    assert response.status_code == 201
    assert response.json()["size"] == len(bomb)
    assert response.json()["sha256"] == hashlib.sha256(bomb).hexdigest()
    (path,) = stored_files(ev["media"])  # one file: nothing unpacked beside it
    assert path.read_bytes() == bomb


def test_over_the_limit_is_413_and_nothing_is_stored(ev, api, settings):
    settings.EVIDENCE_MAX_BYTES = 64 * 1024
    response = upload(api, ev["analyst_a"], ev["a_incident"], b"x" * (64 * 1024 + 1))
    assert response.status_code == 413
    assert response.json()["error"] == "too_large" and "64.0 KiB" in response.json()["detail"]
    # the tenant's own limit is stricter: the file reached the server, and is dropped
    with rls_bypass("test"):
        EvidenceLimit.objects.create(tenant=ev["a"], max_bytes=1000, max_per_incident=1)
    response = upload(api, ev["a_admin"], ev["a_incident"], b"y" * 1001)
    assert response.status_code == 413, response.json()
    assert "1000 bytes" in response.json()["detail"]
    assert rows(Attachment, tenant=ev["a"]) == [] and stored_files(ev["media"]) == []
    assert not rows(AuditEvent, action="evidence.added")
    # and at most one file per incident for this tenant
    assert upload(api, ev["a_admin"], ev["a_incident"], b"ok").status_code == 201
    response = upload(api, ev["a_admin"], ev["a_incident"], b"ok too")
    assert response.status_code == 400 and "the most it may have (1)" in response.json()["detail"]
    assert len(stored_files(ev["media"])) == 1


def test_a_body_declared_too_large_is_refused_before_it_is_read(ev, api, settings):
    settings.EVIDENCE_MAX_BYTES = 1000
    client = api(ev["analyst_a"])
    response = client.generic(
        "POST",
        f"/api/v1/incidents/{ev['a_incident'].pk}/attachments/",
        b"",
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(50 * 1024 * 1024),
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    "raw,shown",
    [
        ("../../../etc/passwd", "passwd"),
        ("..\\..\\Windows\\System32\\evil.exe", "evil.exe"),
        ("report\x00.pdf", "report.pdf"),
        ("two\nlines\r\n.txt", "twolines.txt"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),  # the RTL override that shows "exe.jpg"
        ("zero\u200bwidth.txt", "zerowidth.txt"),
        ("..", "evidence"),
        ("", "evidence"),
        ("a" * 500 + ".eml", "a" * 196 + ".eml"),
    ],
)
def test_a_client_name_is_display_text_only(raw, shown):
    assert evidence.clean_name(raw) == shown


def test_hostile_names_and_an_empty_file_through_the_upload(ev, api):
    for raw in ("..%2F..%2Fx", "a\x00b.txt", "line\nbreak.txt"):
        response = upload(api, ev["analyst_a"], ev["a_incident"], b"", raw)
        assert response.status_code == 201, (raw, response.json())
        assert "/" not in response.json()["name"] and "\x00" not in response.json()["name"]
        assert "\n" not in response.json()["name"]
        assert response.json()["sha256"] == EMPTY_SHA256 and response.json()["size"] == 0


def test_the_same_file_twice_is_two_records_with_one_hash(ev, api, client):
    first = upload(api, ev["analyst_a"], ev["a_incident"], b"same bytes", "a.eml").json()
    second = upload(api, ev["a_responder"], ev["a_incident"], b"same bytes", "b.eml").json()
    assert first["sha256"] == second["sha256"] and first["id"] != second["id"]
    assert len(stored_files(ev["media"])) == 2  # each upload its own custody and its own file
    client.force_login(ev["analyst_a"])
    page = client.get(reverse("incident", args=[ev["a_incident"].pk])).content.decode()
    assert "Same SHA-256 as a.eml" in page


def test_a_file_on_a_comment_or_task_and_what_a_customer_may_link(ev, api):
    from alerts.services import incident_comment

    with rls_bypass("test"):
        internal = incident_comment(
            ev["a_incident"], author=ev["analyst_a"], body="note", visibility="internal"
        )
        shared = incident_comment(
            ev["a_incident"], author=ev["analyst_a"], body="hello", visibility="shared"
        )
        b_comment = incident_comment(
            ev["b_incident"], author=ev["analyst_b"], body="B", visibility="shared"
        )
    staff = upload(api, ev["analyst_a"], ev["a_incident"], b"1", comment=str(internal.pk))
    assert staff.status_code == 201 and staff.json()["visibility"] == "internal"
    refused = upload(
        api, ev["analyst_a"], ev["a_incident"], b"2", comment=str(internal.pk), visibility="shared"
    )
    assert refused.status_code == 400
    for comment in (internal, b_comment):  # a customer sees neither
        response = upload(api, ev["a_responder"], ev["a_incident"], b"3", comment=str(comment.pk))
        assert response.status_code == 400
        assert response.json()["fields"]["comment"] == ["No such comment on this incident."]
    ok = upload(api, ev["a_responder"], ev["a_incident"], b"4", comment=str(shared.pk))
    assert ok.status_code == 201 and ok.json()["comment"] == str(shared.pk)
    asked = upload(api, ev["a_responder"], ev["a_incident"], b"5", visibility="internal")
    assert asked.status_code == 400
    assert len(stored_files(ev["media"])) == 2


def test_tenant_b_cannot_reach_tenant_a_evidence(ev, api):
    created = upload(api, ev["analyst_a"], ev["a_incident"], b"A's secret", "a-secret.txt")
    a_file = created.json()
    base = f"/api/v1/incidents/{ev['a_incident'].pk}/attachments/"
    detail = f"{base}{a_file['id']}/"
    for user in (ev["b_admin"], ev["analyst_b"], ev["b_responder"]):
        client = api(user)
        assert client.get(base).status_code == 404
        assert upload(api, user, ev["a_incident"], b"x").status_code == 404
        assert client.get(detail).status_code == 404
        assert client.get(detail + "download/").status_code == 404
        assert client.delete(detail).status_code == 404
        # under B's own incident, A's file id is as missing too
        own = f"/api/v1/incidents/{ev['b_incident'].pk}/attachments/{a_file['id']}/"
        assert client.get(own).status_code == 404
        assert client.get(own + "download/").status_code == 404
    (row,) = rows(Attachment, pk=a_file["id"])
    assert row.deleted_at is None and len(stored_files(ev["media"])) == 1
    assert not rows(AuditEvent, action="evidence.downloaded")
    client = Client()  # nor through the pages
    client.force_login(ev["b_admin"])
    for name in ("evidence", "evidence-download"):
        url = reverse(name, args=[ev["a_incident"].pk, a_file["id"]])
        assert client.get(url).status_code == 404
    url = reverse("evidence-delete", args=[ev["a_incident"].pk, a_file["id"]])
    assert client.post(url).status_code == 404
    assert client.post(reverse("evidence-add", args=[ev["a_incident"].pk]), {}).status_code == 404


def test_customers_never_see_internal_files_and_viewers_only_read(ev, api, client):
    internal = upload(api, ev["analyst_a"], ev["a_incident"], b"internal", "staff-notes.txt")
    shared = upload(
        api, ev["analyst_a"], ev["a_incident"], b"shared", "for-you.txt", visibility="shared"
    )
    base = f"/api/v1/incidents/{ev['a_incident'].pk}/attachments/"
    for user in (ev["a_viewer"], ev["a_admin"]):
        listed = api(user).get(base).json()
        assert [f["name"] for f in listed] == ["for-you.txt"]
        hidden = f"{base}{internal.json()['id']}/"
        assert api(user).get(hidden).status_code == 404
        assert api(user).get(hidden + "download/").status_code == 404
        client.force_login(user)
        page = client.get(reverse("incident", args=[ev["a_incident"].pk])).content.decode()
        assert "for-you.txt" in page and "staff-notes.txt" not in page
    response = api(ev["a_viewer"]).get(shared.json()["download"])
    assert response.status_code == 200 and body_of(response) == b"shared"
    refused = upload(api, ev["a_viewer"], ev["a_incident"], b"viewer")
    assert refused.status_code == 403
    client.force_login(ev["a_viewer"])
    page = client.get(reverse("incident", args=[ev["a_incident"].pk])).content.decode()
    assert 'name="file"' not in page  # no upload form for a viewer
    response = client.post(
        reverse("evidence-add", args=[ev["a_incident"].pk]),
        {"file": SimpleUploadedFile("v.txt", b"viewer")},
    )
    assert response.status_code == 403
    assert len(rows(Attachment, tenant=ev["a"])) == 2


def test_deleting_keeps_the_record_and_hash_and_removes_the_file(
    ev, api, django_capture_on_commit_callbacks
):
    mine = upload(api, ev["a_responder"], ev["a_incident"], b"mine", "mine.txt").json()
    detail = f"/api/v1/incidents/{ev['a_incident'].pk}/attachments/{mine['id']}/"
    assert api(ev["a_admin"]).delete(detail).status_code == 403  # not theirs, not staff
    assert api(ev["a_viewer"]).delete(detail).status_code == 403
    with django_capture_on_commit_callbacks(execute=True):  # the file goes once committed
        response = api(ev["a_responder"]).delete(detail)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["deleted"] and body["download"] is None and body["sha256"] == mine["sha256"]
    assert [c["action"] for c in body["custody"]] == ["evidence.added", "evidence.deleted"]
    assert stored_files(ev["media"]) == []
    assert api(ev["a_responder"]).get(detail + "download/").status_code == 410
    assert api(ev["a_responder"]).delete(detail).status_code == 410
    staffs = upload(api, ev["a_responder"], ev["a_incident"], b"theirs").json()
    response = api(ev["analyst_a"]).delete(
        f"/api/v1/incidents/{ev['a_incident'].pk}/attachments/{staffs['id']}/"
    )
    assert response.status_code == 200  # MSSP staff delete any
    (entry,) = rows(AuditEvent, action="evidence.deleted", object_id=mine["id"])
    assert entry.data["sha256"] == mine["sha256"] and entry.actor_id == ev["a_responder"].pk


def test_the_evidence_panel_uploads_lists_escaped_and_downloads(
    ev, client, django_capture_on_commit_callbacks
):
    client.force_login(ev["analyst_a"])
    incident_url = reverse("incident", args=[ev["a_incident"].pk])
    empty = client.get(incident_url).content.decode()
    assert "No evidence files yet." in empty and 'enctype="multipart/form-data"' in empty
    response = client.post(
        reverse("evidence-add", args=[ev["a_incident"].pk]),
        {
            "file": SimpleUploadedFile("<script>alert(1).html", b"<script>x</script>"),
            "visibility": "shared",
        },
    )
    assert response.status_code == 302
    page = client.get(incident_url).content.decode()
    assert "&lt;script&gt;alert(1).html" in page
    assert "<script>alert(1)" not in page
    (row,) = rows(Attachment, incident=ev["a_incident"])
    assert row.visibility == "shared" and row.sha256[:12] in page
    download = client.get(reverse("evidence-download", args=[ev["a_incident"].pk, row.pk]))
    assert download["Content-Type"] == "application/octet-stream"
    assert download["Content-Disposition"].startswith("attachment;")
    assert body_of(download) == b"<script>x</script>"
    custody = client.get(reverse("evidence", args=[ev["a_incident"].pk, row.pk])).content.decode()
    assert "Chain of custody" in custody and "Downloaded" in custody and row.sha256 in custody
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("evidence-delete", args=[ev["a_incident"].pk, row.pk]))
    assert stored_files(ev["media"]) == []


def test_the_panel_refuses_too_large_with_a_message_and_stores_nothing(ev, client, settings):
    settings.EVIDENCE_MAX_BYTES = 1024
    client.force_login(ev["a_responder"])
    response = client.post(
        reverse("evidence-add", args=[ev["a_incident"].pk]),
        {"file": SimpleUploadedFile("big.bin", b"z" * 5000)},
        follow=True,
    )
    assert "larger than this customer" in response.content.decode()
    assert rows(Attachment, tenant=ev["a"]) == [] and stored_files(ev["media"]) == []


def test_a_deleted_tenant_takes_its_evidence_files(ev, api, django_capture_on_commit_callbacks):
    from django.db.models.signals import post_delete

    from cases import receivers
    from tenants.models import Tenant

    upload(api, ev["analyst_a"], ev["a_incident"], b"A's")
    upload(api, ev["analyst_b"], ev["b_incident"], b"B's")
    assert len(stored_files(ev["media"])) == 2
    # The audit log protects a tenant with history (on_delete=PROTECT): whoever erases one
    # deletes its rows as the schema owner; the cascade's signal then removes the files.
    assert post_delete.has_listeners(Tenant)
    with django_capture_on_commit_callbacks(execute=True):
        receivers.tenant_deleted(Tenant, instance=ev["a"])
    (left,) = stored_files(ev["media"])
    assert left.read_bytes() == b"B's" and left.parent.name == str(ev["b"].pk)


def test_the_proxy_lets_evidence_uploads_through_up_to_the_limit(settings, tmp_path):
    import shutil
    import subprocess

    from mssp import serve

    settings.EVIDENCE_MAX_BYTES = 9_000_000
    settings.STATIC_ROOT = tmp_path / "static"
    text = serve.render_nginx(
        listen="127.0.0.1:8080", pool="127.0.0.1:8001", ws="127.0.0.1:8002", prefix=tmp_path
    )
    limit = f"client_max_body_size {9_000_000 + serve.MULTIPART_SLACK};"
    for route in (
        "/api/v1/incidents/[0-9a-fA-F-]+/attachments/$",
        "/incidents/[0-9a-fA-F-]+/evidence/$",
    ):
        block = text[text.index(f"location ~ ^{route}") :]
        assert limit in block[: block.index("}")]
    if shutil.which("nginx"):  # the rendered file is one nginx accepts
        for part in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (tmp_path / "tmp" / part).mkdir(parents=True)
        (tmp_path / "nginx.conf").write_text(text)
        check = subprocess.run(
            [*serve.nginx_command(shutil.which("nginx"), tmp_path), "-q", "-t"],
            capture_output=True,
            text=True,
        )
        assert check.returncode == 0, check.stderr


@pytest.fixture
def s3_bucket(settings, monkeypatch):
    """A real S3 API on loopback (moto's server mode, a separate process) and a bucket in it,
    as the evidence storage."""
    import shutil
    import socket
    import subprocess
    import sys
    import time

    pytest.importorskip("storages.backends.s3")
    server = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if server is None:
        pytest.skip("moto[server] is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [server, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None, "no moto"
                time.sleep(0.1)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        options = {
            "bucket_name": "evidence-test",
            "endpoint_url": f"http://127.0.0.1:{port}",
            "region_name": "us-east-1",
            "access_key": "testing",
            "secret_key": "testing",
            "default_acl": "private",
            "file_overwrite": False,
            "object_parameters": {"ContentType": "application/octet-stream"},
        }
        settings.STORAGES = {
            **settings.STORAGES,
            "evidence": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options},
        }
        client = evidence.storage().connection.meta.client
        client.create_bucket(Bucket="evidence-test")
        yield client
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_evidence_in_an_s3_compatible_bucket(
    ev, api, s3_bucket, django_capture_on_commit_callbacks
):
    content = b"MZ\x90\x00 not run, only kept" * 10_000
    created = upload(api, ev["analyst_a"], ev["a_incident"], content, "dropper.exe").json()
    (row,) = rows(Attachment, pk=created["id"])
    stored = s3_bucket.get_object(Bucket="evidence-test", Key=row.storage_key)
    assert stored["Body"].read() == content
    assert stored["ContentType"] == "application/octet-stream"
    response = api(ev["analyst_a"]).get(created["download"])
    assert body_of(response) == content and response["X-Evidence-SHA256"] == row.sha256
    assert not (ev["media"] / "evidence").exists()  # nothing on the local disk
    with django_capture_on_commit_callbacks(execute=True):
        api(ev["analyst_a"]).delete(created["download"].removesuffix("download/"))
    listed = s3_bucket.list_objects_v2(Bucket="evidence-test")
    assert listed["KeyCount"] == 0


def test_internal_evidence_events_and_timeline_reach_staff_only(ev, api, monkeypatch):
    from alerts.models import IncidentEvent
    from tenants import events

    sent = []
    monkeypatch.setattr(events, "tenant_event", lambda *a, **k: sent.append((a, k)))
    upload(api, ev["analyst_a"], ev["a_incident"], b"internal")
    upload(api, ev["a_responder"], ev["a_incident"], b"shared")
    audiences = [k["audience"] for a, k in sent if a[4].get("change") == "evidence_added"]
    assert audiences == [("staff",), events.EVERYONE]
    assert all(a[0] == ev["a"].pk for a, _ in sent)  # A's events, on A's stream only
    kinds = rows(IncidentEvent, incident=ev["a_incident"], kind="evidence_added")
    assert sorted(e.visibility for e in kinds) == ["internal", "shared"]
    timeline = api(ev["a_viewer"]).get(f"/api/v1/incidents/{ev['a_incident'].pk}/timeline/")
    assert [e["kind"] for e in timeline.json()].count("evidence_added") == 1  # the shared one


def test_one_file_per_upload(ev, api):
    response = api(ev["analyst_a"]).post(
        f"/api/v1/incidents/{ev['a_incident'].pk}/attachments/",
        {"file": [SimpleUploadedFile("a.txt", b"a"), SimpleUploadedFile("b.txt", b"b")]},
        format="multipart",
    )
    assert response.status_code == 400 and response.json()["fields"]["file"]
    missing = api(ev["analyst_a"]).post(
        f"/api/v1/incidents/{ev['a_incident'].pk}/attachments/", {}, format="json"
    )
    assert missing.status_code == 400 and "file" in missing.json()["fields"]
    assert rows(Attachment, tenant=ev["a"]) == [] and not (ev["media"] / "evidence").exists()


def test_a_store_that_fails_or_lost_a_file_answers_clearly(ev, api, monkeypatch):
    created = upload(api, ev["analyst_a"], ev["a_incident"], b"kept").json()
    (path,) = stored_files(ev["media"])
    path.unlink()  # removed behind the portal's back
    response = api(ev["analyst_a"]).get(created["download"])
    assert (
        response.status_code == 410
        and "missing from the evidence store" in response.json()["detail"]
    )
    assert not rows(AuditEvent, action="evidence.downloaded")  # no download, no custody entry

    def refuse(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(type(evidence.storage()), "save", refuse)
    response = upload(api, ev["analyst_a"], ev["a_incident"], b"new")
    assert response.status_code == 503 and "nothing was stored" in response.json()["detail"]
    assert len(rows(Attachment, tenant=ev["a"])) == 1
