"""A customer's webhook reaches only public unicast addresses (SSRF), and a delivery connects
to the very address that was checked: resolved once, checked, connected to, with the URL's
host name in the Host header, the TLS SNI and the certificate check; redirects are not
followed; a slow receiver cannot hold a delivery beyond its deadline."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from sla.models import Notification
from sla.notify import deliver_due
from tenants import webhooks
from tenants.models import Webhook
from tenants.rls import rls_bypass
from tenants.webhooks import check_destination

# --- the address policy -----------------------------------------------------------------------
HOSTILE = [
    # the MSSP's own network: loopback, private, link-local, shared (CGNAT), benchmarking
    "http://127.0.0.1:8000/admin",
    "http://10.0.0.5/hook",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/",
    "http://198.18.0.1/",
    "http://[::1]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    # the same, spelt otherwise (the resolver reads these as 127.0.0.1)
    "http://localhost/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://127.1/",
    # nothing or everyone: unspecified, broadcast, reserved, multicast
    "http://0.0.0.0/",
    "http://[::]/",
    "http://255.255.255.255/",
    "http://240.0.0.1/",
    "http://224.0.0.1/",
    "http://239.255.255.250:1900/",
    "http://[ff02::1]/",
    "http://[ff0e::1]/",
    # IPv4 inside IPv6: NAT64 (well-known and local-use prefixes), 6to4, Teredo, IPv4-mapped
    # and IPv4-compatible forms of non-public addresses
    "http://[64:ff9b::7f00:1]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[64:ff9b:1::808:808]/",
    "http://[2002:7f00:1::1]/",
    "http://[2002:a00:1::1]/",
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
    "http://[2001::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::127.0.0.1]/",
    "http://[::a00:1]/",
    # documentation ranges are nobody's
    "http://192.0.2.10/",
    "http://[2001:db8::1]/",
    # not http(s)
    "ftp://example.com/x",
    "file:///etc/passwd",
    "gopher://example.com/",
    "http:///nohost",
]

PUBLIC = [
    "https://93.184.216.34/hook",
    "https://[2606:4700:4700::1111]/hook",
    "http://[64:ff9b::808:808]/",  # NAT64 of a public address (an IPv6-only MSSP's DNS64)
    "http://[::ffff:8.8.8.8]/",
    "http://[2002:808:808::1]/",  # 6to4 of a public address
]


@pytest.mark.parametrize("url", HOSTILE)
def test_a_webhook_may_not_point_at(url, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(ValueError):
        check_destination(url)


@pytest.mark.parametrize("url", PUBLIC)
def test_a_webhook_may_point_at_a_public_unicast_address(url, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    check_destination(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://224.0.0.1/",
        "http://[ff02::1]/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://255.255.255.255/",
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
    ],
)
def test_a_lab_that_allows_private_addresses_still_refuses_what_is_not_unicast(url, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    with pytest.raises(ValueError):
        check_destination(url)


def test_a_name_with_one_private_address_among_public_ones_is_refused(settings, fake_dns):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    fake_dns.answers["mixed.example"] = [["93.184.216.34", "10.1.2.3"]]
    with pytest.raises(ValueError, match="not a public address"):
        check_destination("https://mixed.example/hook")


# --- delivery: to the checked address, and no further ------------------------------------------
class FakeDNS:
    """socket.getaddrinfo, with made-up names: each lookup of a name takes its next answer
    (the last one repeats); numeric hosts and other names go to the real resolver."""

    def __init__(self):
        self.answers: dict[str, list[list[str]]] = {}
        self.lookups: list[str] = []
        self.real = socket.getaddrinfo

    def __call__(self, host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name not in self.answers:
            return self.real(host, port, *args, **kwargs)
        self.lookups.append(name)
        answers = self.answers[name]
        addresses = answers.pop(0) if len(answers) > 1 else answers[0]
        port = int(port or 0)
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, port, 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]


@pytest.fixture
def fake_dns(monkeypatch):
    dns = FakeDNS()
    monkeypatch.setattr(socket, "getaddrinfo", dns)
    return dns


class Receiver:
    """An HTTP(S) endpoint on a loopback address that records each request it gets."""

    def __init__(self, host="127.0.0.1", port=0, status=204, headers=None, tls=None):
        self.requests: list[dict] = []
        self.server_names: list[str | None] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = self.server.server_address[1]
        if tls is not None:
            tls.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    started = []

    def start(**kwargs):
        started.append(Receiver(**kwargs))
        return started[-1]

    yield start
    for receiver in started:
        receiver.close()


def queue_webhook(tenant, url: str) -> Notification:
    with rls_bypass("test"):
        hook = Webhook.objects.create(tenant=tenant, url=url, secret="s")
        return Notification.objects.create(
            tenant=tenant,
            key=f"test:{hook.pk}",
            event_type="sla.breached",
            channel="webhook",
            recipient=url,
            webhook=hook,
            subject="[Tenant A] SLA breached",
            payload={"type": "sla.breached", "tenant": tenant.slug},
        )


def reloaded(note: Notification) -> Notification:
    with rls_bypass("test"):
        note.refresh_from_db()
    return note


@pytest.mark.django_db
def test_a_name_that_changes_its_answer_after_the_check_is_not_followed(
    two_tenants, settings, fake_dns, receivers, monkeypatch
):
    """DNS rebinding: the first answer is public and passes the check; the next one would be
    the MSSP's own loopback. The delivery connects to the first, never looks the name up
    again, and the loopback receiver gets nothing."""
    settings.WEBHOOK_ALLOW_PRIVATE = False
    inside = receivers()
    fake_dns.answers["rebind.example"] = [["93.184.216.34"], ["127.0.0.1"]]
    connected: list[str] = []
    real_connect = socket.create_connection

    def create_connection(address, *args, **kwargs):
        connected.append(address[0])
        if address[0] == "93.184.216.34":  # no Internet in tests: as if it were refused
            raise ConnectionRefusedError(111, "Connection refused")
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    note = queue_webhook(two_tenants["a"], f"http://rebind.example:{inside.port}/hook")
    deliver_due()
    assert inside.requests == []
    assert connected == ["93.184.216.34"]
    assert fake_dns.lookups == ["rebind.example"]
    note = reloaded(note)
    assert note.status == "pending" and note.attempts == 1


@pytest.mark.django_db
def test_delivery_goes_to_the_checked_address_with_the_url_host_name(
    two_tenants, settings, fake_dns, receivers
):
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on loopback
    checked = receivers(host="127.0.0.1")
    other = receivers(host="127.0.0.2", port=checked.port)  # where a second lookup would go
    fake_dns.answers["hooks.customer.example"] = [["127.0.0.1"], ["127.0.0.2"]]
    note = queue_webhook(two_tenants["a"], f"http://hooks.customer.example:{checked.port}/hook")
    deliver_due()
    assert reloaded(note).status == "sent"
    (request,) = checked.requests
    assert request["headers"]["Host"] == f"hooks.customer.example:{checked.port}"
    assert request["headers"]["X-MSSP-Delivery"] == str(note.pk)
    assert other.requests == []
    assert fake_dns.lookups == ["hooks.customer.example"]


@pytest.mark.django_db
def test_loopback_is_refused_unless_the_lab_setting_allows_it(two_tenants, settings, receivers):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    receiver = receivers()
    note = queue_webhook(two_tenants["a"], f"http://127.0.0.1:{receiver.port}/hook")
    deliver_due()
    note = reloaded(note)
    assert receiver.requests == [] and note.status == "failed"  # refused: not retried
    assert "not a public address" in note.last_error


@pytest.mark.django_db
def test_redirects_are_not_followed(two_tenants, settings, receivers):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    target = receivers()
    redirecting = receivers(status=307, headers={"Location": f"http://127.0.0.1:{target.port}/"})
    note = queue_webhook(two_tenants["a"], f"http://127.0.0.1:{redirecting.port}/hook")
    deliver_due()
    assert len(redirecting.requests) == 1 and target.requests == []
    note = reloaded(note)
    assert note.status != "sent" and "307" in note.last_error


# --- TLS: the certificate is checked against the URL's host name, not the address -------------
def _certificates(tmp_path, name: str):
    """A private CA and a server certificate for `name` signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp_path / "leaf.pem").write_bytes(
        leaf.public_bytes(pem)
        + key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return tmp_path / "ca.pem", tmp_path / "leaf.pem"


@pytest.fixture
def tls_receiver(tmp_path, receivers, monkeypatch, fake_dns, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    ca, leaf = _certificates(tmp_path, "hooks.customer.example")
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(leaf)
    monkeypatch.setattr(webhooks, "ssl_context", lambda: ssl.create_default_context(cafile=ca))
    fake_dns.answers["hooks.customer.example"] = [["127.0.0.1"]]
    fake_dns.answers["impostor.example"] = [["127.0.0.1"]]
    return receivers(tls=server)


@pytest.mark.django_db
def test_tls_verifies_the_certificate_against_the_host_name_and_sends_it_as_sni(
    two_tenants, tls_receiver
):
    note = queue_webhook(
        two_tenants["a"], f"https://hooks.customer.example:{tls_receiver.port}/hook"
    )
    deliver_due()
    assert reloaded(note).status == "sent", reloaded(note).last_error
    assert tls_receiver.server_names == ["hooks.customer.example"]
    (request,) = tls_receiver.requests
    assert request["headers"]["Host"] == f"hooks.customer.example:{tls_receiver.port}"


@pytest.mark.django_db
def test_tls_refuses_a_certificate_for_another_name_at_the_same_address(two_tenants, tls_receiver):
    note = queue_webhook(two_tenants["a"], f"https://impostor.example:{tls_receiver.port}/hook")
    deliver_due()
    note = reloaded(note)
    assert note.status == "pending" and "certificate" in note.last_error.lower()
    assert tls_receiver.requests == []


# --- a slow receiver ---------------------------------------------------------------------------
class DripServer:
    """Answers every request one byte every 0.3 s: each read comes well within the read
    timeout, so only an overall deadline ends it."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.drip, args=(conn,), daemon=True).start()

    def drip(self, conn):
        answer = b"HTTP/1.1 204 No Content\r\nX-Padding: " + b"x" * 200 + b"\r\n\r\n"
        with conn:
            conn.recv(65536)
            for byte in answer:
                if self.stop.is_set():
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.3)

    def close(self):
        self.stop.set()
        self.sock.close()


@pytest.mark.django_db
def test_a_receiver_that_answers_byte_by_byte_is_cut_off_at_the_deadline(
    two_tenants, settings, monkeypatch
):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    monkeypatch.setattr(webhooks, "DEADLINE", 2.0)
    drip = DripServer()
    try:
        note = queue_webhook(two_tenants["a"], f"http://127.0.0.1:{drip.port}/hook")
        started = time.monotonic()
        deliver_due(timezone.now())
        took = time.monotonic() - started
    finally:
        drip.close()
    note = reloaded(note)
    assert note.status == "pending" and note.attempts == 1
    assert took < 4, took


class FloodServer:
    """Answers every request 200 with a body that never ends (10 GiB declared, sent in 1 MiB
    chunks for as long as the client reads): a hostile receiver's huge response."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.sent = 0
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        chunk = b"x" * (1 << 20)
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10737418240\r\n\r\n")
                    while self.sent < 10 << 30:
                        conn.sendall(chunk)
                        self.sent += len(chunk)
                except OSError:
                    continue

    def close(self):
        self.sock.close()


def test_a_huge_response_is_never_read_beyond_what_is_asked_for(settings):
    """The status is the answer (the body is left unread), and an API answering in its body
    is read up to the bytes asked for: a receiver's endless answer costs no memory and no time."""
    settings.WEBHOOK_ALLOW_PRIVATE = True
    flood = FloodServer()
    url = f"http://127.0.0.1:{flood.port}/hook"
    try:
        started = time.monotonic()
        assert webhooks.post(url, b"{}", {}) == 200
        reply = webhooks.post_for_reply(url, b"{}", {}, read_body=1000)
        took = time.monotonic() - started
    finally:
        flood.close()
    assert reply.status == 200 and len(reply.body) == 1000
    assert took < 3, took
    assert flood.sent < 64 << 20  # the client hung up long before 10 GiB
