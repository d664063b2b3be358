"""Scanner files are read as streams (issue 10, finding 5): memory stays flat however the
file is built, hostile shapes (millions of elements, deep nesting, huge records) fail the
import with why, the upload's request reads only the file's beginning and answers at once,
and the worker reads the file outside any transaction."""

from __future__ import annotations

import json
import time
import tracemalloc

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from findings import importers
from findings.importers import FileRefused, Rejected, ScanRecord, base, nuclei
from tenants.rls import rls_bypass

IMPORTS = "/api/v1/findings/imports/"
MB = 1024 * 1024


def empty_elements(megabytes: int, root: bytes = b"NessusClientData_v2") -> bytes:
    """A well-formed document of nothing but <a/> elements."""
    return b"<" + root + b">" + b"<a/>" * (megabytes * MB // 4) + b"</" + root + b">"


def peak_while(work) -> tuple[int, object]:
    """The peak of memory allocated while `work()` ran (the file itself was made before)."""
    tracemalloc.start()
    try:
        try:
            outcome = work()
        except FileRefused as exc:
            outcome = exc
        return tracemalloc.get_traced_memory()[1], outcome
    finally:
        tracemalloc.stop()


def records(kind: str, data: bytes) -> list:
    return list(importers.parse(kind, data))


# --- memory --------------------------------------------------------------------------------------


def test_parsing_a_20_mb_file_of_empty_elements_stays_under_50_mb():
    """Before: 404 MiB allocated for this file (202 MiB at 10 MB), and daphne grew by as
    much. Now the elements are counted and dropped as they are read, and the file is refused
    at the element cap with why."""
    data = empty_elements(20)
    peak, outcome = peak_while(lambda: importers.check("nessus", data))
    assert isinstance(outcome, FileRefused)
    assert "more than 2,000,000 XML elements" in str(outcome)
    assert peak < 50 * MB, f"{peak / MB:.1f} MiB"


@pytest.mark.parametrize("where", ["between records", "inside a record"])
def test_memory_does_not_grow_with_the_elements_read(monkeypatch, where):
    """Without the cap, the whole file is read and memory stays flat: elements outside the
    records are not kept, and a record past its own element cap keeps no more."""
    monkeypatch.setattr(base, "MAX_ELEMENTS", 10**9)
    filler = b"<a/>" * (MB // 4)
    item = b'<ReportItem port="0" severity="1" pluginID="1" pluginName="x">'
    host = b'<ReportHost name="10.0.0.1">'
    if where == "inside a record":
        body = host + item + filler + b"</ReportItem></ReportHost>"
    else:
        body = filler + host + item + b"</ReportItem></ReportHost>" + filler
    data = b"<NessusClientData_v2><Report>" + body + b"</Report></NessusClientData_v2>"
    peak, read = peak_while(lambda: records("nessus", data))
    assert peak < 2 * MB, f"{peak / MB:.2f} MiB"  # before: some 50 MiB
    (record,) = read
    if where == "inside a record":
        assert isinstance(record, Rejected)
        assert "the item is too large: it has more than 10,000 elements" in record.error
    else:
        assert isinstance(record, ScanRecord) and record.plugin_id == "1"


def test_a_records_long_text_is_kept_only_as_far_as_it_is_stored():
    description = b"x" * (8 * MB)
    data = (
        b'<NessusClientData_v2><Report><ReportHost name="10.0.0.1">'
        b'<ReportItem port="0" severity="1" pluginID="1" pluginName="x"><description>'
        + description
        + b"</description></ReportItem></ReportHost></Report></NessusClientData_v2>"
    )
    peak, read = peak_while(lambda: records("nessus", data))
    assert peak < 5 * MB, f"{peak / MB:.1f} MiB"
    (record,) = read
    assert len(record.description) == base.MAX_TEXT


def test_too_deep_nesting_is_refused():
    data = b"<report>" + b"<a>" * 100 + b"</a>" * 100 + b"</report>"
    with pytest.raises(FileRefused, match="more than 64 deep"):
        importers.check("openvas", data)


def test_namespaced_reports_read_by_local_names():
    data = (
        b'<report xmlns="urn:gvm"><results><result><name>SSH</name><host>192.0.2.20</host>'
        b'<port>22/tcp</port><nvt oid="1.2.3"><cvss_base>5.0</cvss_base></nvt>'
        b"<threat>Medium</threat></result></results></report>"
    )
    (record,) = records("openvas", data)
    assert (record.title, record.host.ip, record.port) == ("SSH", "192.0.2.20", "22/tcp")


LONG = "x" * 1000


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("nuclei", b"[" + b'{"a": 1},' * (MB // 2 // 9) + b"{}]"),
        ("nuclei", f'{{"template-id": "{LONG}"}}\n'.encode() * 2000),
        ("csv", b"host,title,severity,description\n" + f"h1,t,high,{LONG}\n".encode() * 1000),
    ],
    ids=["nuclei json export", "nuclei jsonl", "csv"],
)
def test_json_and_csv_are_read_a_record_at_a_time(kind, data):
    """Before: the whole file was decoded to text at once (for the CSV, kept at four bytes a
    character), and a JSON export to objects (some 12 MiB for this one)."""
    peak, count = peak_while(lambda: importers.check(kind, data))
    assert count >= 1000
    assert peak < 2 * MB, f"{peak / MB:.2f} MiB for {len(data) / MB:.2f} MiB"


# --- Nuclei: read in windows, refused with why -----------------------------------------------


def test_a_json_export_read_in_windows_is_the_json_read_whole(monkeypatch):
    monkeypatch.setattr(nuclei, "BLOCK", 7)  # every value crosses a window's edge
    items = [
        {"template-id": "t", "n": 12345.678e-3, "s": "é" * 50, "deep": [[1, [2]], {"x": None}]},
        123456789,
        "a string",
        True,
        {"s": "x" * 300},
        [],
    ]
    data = json.dumps(items, indent=1).encode()
    assert list(nuclei._ArrayReader(data).items()) == items


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'[{"template-id": "a"}, {"template-id": ', "could not be read at result 2"),
        (b'[{"template-id": "a"} {"template-id": "b"}]', "expected , or ] but found '{'"),
        (b'[{"a": 1}] and more', "followed by more text"),
        (b'{"template-id": "a"}\n{"b": 1}\n{"c": "\xff"}\n', r"not UTF-8 text \(line 3, byte 8"),
        (b"{ this is not JSON\n{ nor is this\n", "No line of this one is JSON"),
        (b"[" + b"[" * 100_000 + b"]" * 100_000 + b"]", "could not be read at result 1"),
    ],
    ids=["truncated", "no comma", "trailing", "not utf-8", "nothing is JSON", "deep"],
)
def test_a_broken_nuclei_file_is_refused_with_why(data, message):
    importers.check_head("nuclei", data)  # the upload takes it: it starts as Nuclei does
    with pytest.raises(FileRefused, match=message):
        importers.check("nuclei", data)


def test_an_over_long_nuclei_line_is_its_own_rejected_record():
    long_line = b'{"template-id": "' + b"x" * (2 * MB) + b'"}\n'
    good = b'{"template-id": "t", "info": {"severity": "low"}, "host": "h.example.com"}\n'
    read = records("nuclei", good + long_line + good)
    assert [type(r).__name__ for r in read] == ["ScanRecord", "Rejected", "ScanRecord"]
    assert "line 2: longer than 1,048,576 bytes" in read[1].error


def test_a_csv_that_is_not_utf_8_further_down_is_refused_with_where():
    data = b"host,title,severity\n" + b"10.0.0.1,ok,low\n" * 10_000 + b"10.0.0.2,\xff,low\n"
    importers.check_head("csv", data)
    with pytest.raises(FileRefused, match=r"not UTF-8 \(line 10002, byte 10 of the line\)"):
        importers.check("csv", data)


def test_the_uploads_check_reads_only_the_beginning_of_the_file(monkeypatch):
    fed = []
    real_feed = base.DefusedXMLParser.feed

    def counting_feed(self, data):
        fed.append(len(data))
        return real_feed(self, data)

    monkeypatch.setattr(base.DefusedXMLParser, "feed", counting_feed)
    broken_at_the_end = empty_elements(20) + b"<unclosed>"
    importers.check_head("nessus", broken_at_the_end)
    assert sum(fed) <= base.BLOCK
    with pytest.raises(FileRefused, match="entit"):
        importers.check_head("nessus", b'<!DOCTYPE x [<!ENTITY a "b">]><NessusClientData_v2/>')
    with pytest.raises(FileRefused, match="not a .nessus v2 file"):
        importers.check_head("nessus", b"<report/>")


# --- through the API and the worker ---------------------------------------------------------------


def upload(client, name: str, content: bytes, **fields):
    return client.post(
        IMPORTS, {"file": SimpleUploadedFile(name, content), **fields}, format="multipart"
    )


@pytest.mark.django_db
def test_the_upload_answers_202_at_once_and_the_worker_fails_the_import_with_why(
    api, two_tenants, django_capture_on_commit_callbacks, monkeypatch
):
    fed = []
    real_feed = base.DefusedXMLParser.feed

    def counting_feed(self, data):
        fed.append(len(data))
        return real_feed(self, data)

    monkeypatch.setattr(base.DefusedXMLParser, "feed", counting_feed)
    client = api(two_tenants["a_admin"])
    data = empty_elements(20)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        started = time.monotonic()
        response = upload(client, "big.nessus", data)
        elapsed = time.monotonic() - started
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "queued" and response.json()["id"]
    assert sum(fed) <= base.HEAD_BYTES  # the request read the file's beginning, no more
    assert elapsed < 15, elapsed  # before: the whole file parsed in the request (22 s)
    assert len(queued) == 1
    queued[0]()  # the worker
    body = client.get(f"{IMPORTS}{response.json()['id']}/").json()
    assert body["status"] == "failed"
    assert "more than 2,000,000 XML elements" in body["detail"]
    assert body["created_count"] == 0


@pytest.mark.django_db
def test_a_broken_nuclei_upload_fails_its_import_with_why_and_imports_nothing(
    api, two_tenants, django_capture_on_commit_callbacks
):
    client = api(two_tenants["a_admin"])
    good = b'{"template-id": "t", "info": {"severity": "high"}, "host": "h.example.com"}'
    data = b"[" + b",".join([good] * 3000) + b", {"  # cut short
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, "export.json", data, kind="nuclei")
    assert response.status_code == 202, response.content
    body = client.get(f"{IMPORTS}{response.json()['id']}/").json()
    assert body["status"] == "failed"
    assert "The JSON array could not be read at result 3001" in body["detail"]
    assert body["created_count"] == 0
    from findings.models import Finding

    with rls_bypass("test"):
        assert not Finding.objects.for_tenant(two_tenants["a"]).exists()
    # Not Nuclei at all: the upload is refused at once.
    refused = upload(client, "notes.jsonl", b"just some text\n")
    assert refused.status_code == 400 and "not Nuclei output" in refused.json()["detail"]


@pytest.mark.django_db(transaction=True)
def test_the_worker_reads_the_file_outside_any_transaction(monkeypatch, settings):
    """No database lock is held while the file is read (on SQLite a write transaction holds
    the whole database: other users' requests and the SLA sweep failed with "database is
    locked" while an upload was parsed)."""
    from django.db import connection

    from findings import imports
    from findings.importers import csvfile
    from findings.models import ScanImport
    from findings.tasks import run_import
    from tenants.rls import tenant_scope
    from tests.factories import TenantFactory

    monkeypatch.setattr(imports, "IMPORT_CHUNK", 2)
    tenant = TenantFactory(slug="no-lock")
    real_parse, in_transaction = csvfile.parse, []

    def watched(data):
        for record in real_parse(data):
            in_transaction.append(connection.in_atomic_block)
            yield record

    monkeypatch.setattr(csvfile, "parse", watched)
    data = b"host,title,severity,id\n" + b"".join(
        b"10.0.0.%d,Weak TLS,high,T-%d\n" % (n, n) for n in range(1, 6)
    )
    with tenant_scope([tenant.pk]):
        scan = imports.import_request(
            tenant, data=data, file_name="a.csv", kind="csv", engagement=None, actor=None
        )
    run_import(tenant.pk, str(scan.pk))
    assert in_transaction == [False] * 10  # 5 records, checked then imported
    with tenant_scope([tenant.pk]):
        scan = ScanImport.objects.for_tenant(tenant).get(pk=scan.pk)
    assert (scan.status, scan.created_count) == ("done", 5)
    assert bytes(scan.content) == b""  # the file is not kept once imported
