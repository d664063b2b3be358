"""Every channel kind sends the request its receiver documents (Slack, Teams, PagerDuty,
Opsgenie, Twilio, Standard Webhooks, e-mail), through the SSRF guard, to a real HTTP receiver
on loopback; the answer is judged into delivered, retry later (with the receiver's
Retry-After), retry with backoff, or give up; and no error text ever holds a secret."""

from __future__ import annotations

import base64
import json
import smtplib
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from django.core.mail.backends.base import BaseEmailBackend
from standardwebhooks import Webhook, WebhookVerificationError

from notifications import senders
from notifications.message import ACKNOWLEDGE, RESOLVE, TRIGGER, Message
from notifications.senders import PermanentFailure, RetryLater, TemporaryFailure
from tenants import outbox, webhooks

SLACK_PATH = "/services/T000/B000/slack-path-secret"
TEAMS_PATH = "/workflows/teams-path-secret/triggers/manual/paths/invoke?sig=teams-sig-secret"
HOOK_PATH = "/hooks/customer-path-secret"
ROUTING_KEY = "pagerduty-routing-key-secret"
GENIE_KEY = "opsgenie-api-key-secret"
TWILIO_TOKEN = "twilio-auth-token-secret"
SECRET_FRAGMENTS = [
    "slack-path-secret",
    "teams-path-secret",
    "teams-sig-secret",
    "customer-path-secret",
    ROUTING_KEY,
    GENIE_KEY,
    TWILIO_TOKEN,
]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self):
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {name: values[0] for name, values in parse_qs(self.body.decode()).items()}


class Receiver:
    """An HTTP server on 127.0.0.1 that records every request and answers `status` with
    `headers`, or, `silent`, never answers."""

    def __init__(self):
        self.requests: list[Request] = []
        self.status, self.headers, self.silent = 200, {}, False
        self.stop = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {name.lower(): value for name, value in self.headers.items()}
                receiver.requests.append(Request(self.command, self.path, headers, body))
                if receiver.silent:
                    receiver.stop.wait(10)
                    return
                self.send_response(receiver.status)
                for name, value in receiver.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        # polled often: shutdown() waits for the next poll
        serve = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)
        serve.start()

    def answer(self, status: int, **headers: str) -> None:
        self.status, self.headers = status, {k.replace("_", "-"): v for k, v in headers.items()}

    @property
    def last(self) -> Request:
        return self.requests[-1]


@pytest.fixture
def receiver(settings):
    """The receiver, and every vendor URL pointed at it (loopback: allowed for the test)."""
    settings.WEBHOOK_ALLOW_PRIVATE = True
    receiver = Receiver()
    settings.PAGERDUTY_EVENTS_URL = f"{receiver.base}/v2/enqueue"
    settings.OPSGENIE_API_URL = receiver.base
    settings.TWILIO_API_URL = receiver.base
    settings.TWILIO_ACCOUNT_SID = "AC0123456789"
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN
    settings.TWILIO_FROM_NUMBER = "+15005550006"
    yield receiver
    receiver.stop.set()
    receiver.server.shutdown()
    receiver.server.server_close()


MESSAGE = Message(
    event_type="incident.created",
    subject_key="incident:0d9c5f7e",
    tenant_name="Acme Corp",
    title="Critical incident opened: ransomware on FS01",
    text="Severity: critical\nStatus: new\nAcknowledge within 15 minutes",
    severity="critical",
    url="https://portal.example/incidents/0d9c5f7e",
    delivery_id="delivery-42",
    occurred_at="2025-01-01T10:00:00+00:00",
    data={"incident": "0d9c5f7e", "status": "new"},
)


def channel(kind: str, receiver: Receiver) -> tuple[str, dict[str, str]]:
    """A target and secrets of `kind` that reach `receiver`."""
    return {
        "slack": ("#soc", {"url": receiver.base + SLACK_PATH}),
        "teams": ("SOC team", {"url": receiver.base + TEAMS_PATH}),
        "pagerduty": ("SOC service", {"routing_key": ROUTING_KEY}),
        "opsgenie": ("SOC team", {"api_key": GENIE_KEY}),
        "sms": ("+4915123456789", {}),
        "voice": ("+4915123456789", {}),
        "webhook": (
            "SIEM",
            {"url": receiver.base + HOOK_PATH, "signing_secret": senders.new_signing_secret()},
        ),
    }[kind]


HTTP_KINDS = ["slack", "teams", "pagerduty", "opsgenie", "sms", "voice", "webhook"]


def send(kind: str, receiver: Receiver, message: Message = MESSAGE) -> senders.Answer:
    target, secrets = channel(kind, receiver)
    return senders.send(kind, target, secrets, message)


def failure_texts(exc: BaseException) -> str:
    """The exception's text and those of every exception it was raised from."""
    texts = []
    while exc is not None:
        texts += [str(exc), repr(exc)]
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return "\n".join(texts)


# --- e-mail ------------------------------------------------------------------------------------
def test_email_is_sent_with_the_customer_in_the_subject_and_the_link_in_the_body(mailoutbox):
    answer = senders.send("email", "ciso@acme.example", {}, MESSAGE)
    (mail,) = mailoutbox
    assert mail.to == ["ciso@acme.example"]
    assert mail.subject == "[Acme Corp] Critical incident opened: ransomware on FS01"
    assert mail.body == f"{MESSAGE.text}\n\n{MESSAGE.url}"
    assert answer.status == 0 and "ciso@acme.example" in answer.detail


class RefusingBackend(BaseEmailBackend):
    """A mail server that refuses the recipient for good (550) or hangs up (retryable)."""

    error: Exception = smtplib.SMTPRecipientsRefused({"x@example.com": (550, b"no such user")})

    def send_messages(self, email_messages):
        raise self.error


def test_email_refused_for_good_is_permanent_and_a_lost_server_is_retried(settings, monkeypatch):
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    with pytest.raises(PermanentFailure, match="SMTPRecipientsRefused"):
        senders.send("email", "x@example.com", {}, MESSAGE)
    lost = smtplib.SMTPServerDisconnected("connection lost")
    monkeypatch.setattr(RefusingBackend, "error", lost)
    with pytest.raises(TemporaryFailure, match="connection lost"):
        senders.send("email", "x@example.com", {}, MESSAGE)
    with pytest.raises(PermanentFailure):
        senders.send("email", "  ", {}, MESSAGE)


# --- chat --------------------------------------------------------------------------------------
def test_slack_gets_blocks_with_title_customer_severity_and_a_button(receiver):
    answer = send("slack", receiver)
    request = receiver.last
    assert (request.method, request.path) == ("POST", SLACK_PATH)
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "MSSP portal"
    assert answer == senders.Answer(200, "200 from 127.0.0.1")
    body = request.json()
    assert body["text"] == f"[Acme Corp] {MESSAGE.title}"
    section, context, actions = body["blocks"]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert section["text"]["text"] == f"*{MESSAGE.title}*\n{MESSAGE.text}"
    assert [e["text"] for e in context["elements"]] == [
        "Customer: *Acme Corp*",
        "Severity: *critical*",
    ]
    (button,) = actions["elements"]
    assert button["type"] == "button" and button["url"] == MESSAGE.url


def test_slack_escapes_mrkdwn_so_a_title_cannot_ping_the_channel_or_write_a_link(receiver):
    hostile = replace(
        MESSAGE,
        tenant_name="<!here> Corp",
        title="Hi <!channel> & see <http://evil.example|your bank>",
        text="<@U123> <#C123>",
        severity="<!everyone>",
    )
    send("slack", receiver, hostile)
    raw = receiver.last.body.decode()
    for control in ("<!channel>", "<!here>", "<!everyone>", "<http://evil", "<@U123>", "<#C123>"):
        assert control not in raw
    body = receiver.last.json()
    assert body["blocks"][0]["text"]["text"] == (
        "*Hi &lt;!channel&gt; &amp; see &lt;http://evil.example|your bank&gt;*\n"
        "&lt;@U123&gt; &lt;#C123&gt;"
    )
    assert body["text"].startswith("[&lt;!here&gt; Corp] Hi &lt;!channel&gt;")


def test_slack_text_is_cut_to_the_block_limit_after_escaping(receiver):
    send("slack", receiver, replace(MESSAGE, text="<" * 5000))
    text = receiver.last.json()["blocks"][0]["text"]["text"]
    assert len(text) <= 3000 and text.endswith("&lt;…")


def test_teams_gets_an_adaptive_card_in_a_message(receiver):
    receiver.answer(202)
    answer = send("teams", receiver)
    request = receiver.last
    assert request.path == TEAMS_PATH and answer.status == 202
    body = request.json()
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    title, *lines, facts = card["body"]
    assert title == {
        "type": "TextBlock",
        "text": MESSAGE.title,
        "weight": "Bolder",
        "size": "Medium",
        "wrap": True,
    }
    assert [line["text"] for line in lines] == MESSAGE.text.splitlines()
    assert all(line["type"] == "TextBlock" and line["wrap"] for line in lines)
    assert facts["type"] == "FactSet"
    assert {f["title"]: f["value"] for f in facts["facts"]} == {
        "Customer": "Acme Corp",
        "Severity": "critical",
        "Event": "incident.created",
    }
    (action,) = card["actions"]
    assert action["type"] == "Action.OpenUrl" and action["url"] == MESSAGE.url


# --- paging ------------------------------------------------------------------------------------
def test_pagerduty_trigger_acknowledge_and_resolve_share_the_dedup_key(receiver):
    receiver.answer(202)
    for action in (TRIGGER, ACKNOWLEDGE, RESOLVE):
        answer = send("pagerduty", receiver, replace(MESSAGE, action=action))
        assert answer == senders.Answer(202, "202 from 127.0.0.1")
    trigger, acknowledge, resolve = (request.json() for request in receiver.requests)
    assert {r.path for r in receiver.requests} == {"/v2/enqueue"}
    assert {r.headers["content-type"] for r in receiver.requests} == {"application/json"}
    assert trigger == {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": "incident:0d9c5f7e",
        "payload": {
            "summary": f"[Acme Corp] {MESSAGE.title}",
            "source": "Acme Corp via MSSP portal",
            "severity": "critical",
            "timestamp": MESSAGE.occurred_at,
            "custom_details": {
                "customer": "Acme Corp",
                "event": "incident.created",
                "details": MESSAGE.text,
                "url": MESSAGE.url,
            },
        },
        "links": [{"href": MESSAGE.url, "text": "Open in the MSSP portal"}],
        "client": "MSSP portal",
        "client_url": MESSAGE.url,
    }
    for event, action in ((acknowledge, "acknowledge"), (resolve, "resolve")):
        assert event == {
            "routing_key": ROUTING_KEY,
            "event_action": action,
            "dedup_key": "incident:0d9c5f7e",
        }


def test_pagerduty_severity_and_summary_limit(receiver):
    receiver.answer(202)
    expected = {
        "critical": "critical",
        "high": "error",
        "medium": "warning",
        "low": "info",
        "info": "info",
        "": "info",
    }
    for severity, pagerduty in expected.items():
        send("pagerduty", receiver, replace(MESSAGE, severity=severity, title="x" * 2000))
        payload = receiver.last.json()["payload"]
        assert payload["severity"] == pagerduty
        assert len(payload["summary"]) == 1024


def test_opsgenie_creates_by_alias_then_acknowledges_and_closes_the_alias(receiver):
    receiver.answer(202)
    message = replace(MESSAGE, subject_key="incident:0d9c/5f 7e", severity="high")
    for action in (TRIGGER, ACKNOWLEDGE, RESOLVE):
        assert send("opsgenie", receiver, replace(message, action=action)).status == 202
    create, acknowledge, close = receiver.requests
    assert {r.headers["authorization"] for r in receiver.requests} == {f"GenieKey {GENIE_KEY}"}
    assert create.path == "/v2/alerts"
    assert create.json() == {
        "message": f"[Acme Corp] {MESSAGE.title}",
        "alias": "incident:0d9c/5f 7e",
        "description": f"{MESSAGE.text}\n\n{MESSAGE.url}",
        "priority": "P2",
        "source": "MSSP portal",
        "details": {"tenant": "Acme Corp", "event": "incident.created", "url": MESSAGE.url},
    }
    alias = "incident%3A0d9c%2F5f%207e"
    assert acknowledge.path == f"/v2/alerts/{alias}/acknowledge?identifierType=alias"
    assert close.path == f"/v2/alerts/{alias}/close?identifierType=alias"
    assert acknowledge.json()["source"] == "MSSP portal"


def test_opsgenie_priority_and_message_limit(receiver):
    receiver.answer(202)
    expected = {"critical": "P1", "high": "P2", "medium": "P3", "low": "P4", "info": "P5", "": "P5"}
    for severity, priority in expected.items():
        send("opsgenie", receiver, replace(MESSAGE, severity=severity, title="y" * 500))
        alert = receiver.last.json()
        assert alert["priority"] == priority and len(alert["message"]) == 130


# --- phone -------------------------------------------------------------------------------------
def test_sms_is_a_twilio_message_with_basic_auth_and_form_fields(receiver):
    receiver.answer(201)
    answer = send("sms", receiver)
    request = receiver.last
    assert answer.status == 201
    assert request.path == "/2010-04-01/Accounts/AC0123456789/Messages.json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    scheme, credentials = request.headers["authorization"].split()
    assert scheme == "Basic"
    assert base64.b64decode(credentials).decode() == f"AC0123456789:{TWILIO_TOKEN}"
    assert request.form() == {
        "To": "+4915123456789",
        "From": "+15005550006",
        "Body": f"[Acme Corp] {MESSAGE.title} - {MESSAGE.url}",
    }


def test_a_long_sms_keeps_the_link_whole(receiver):
    receiver.answer(201)
    send("sms", receiver, replace(MESSAGE, title="z" * 1000))
    body = receiver.last.form()["Body"]
    assert len(body) == 320 and body.endswith(f"… - {MESSAGE.url}")


def test_voice_is_a_twilio_call_saying_the_xml_escaped_text(receiver):
    receiver.answer(201)
    send("voice", receiver, replace(MESSAGE, title="</Say><Play>http://evil</Play> & more"))
    request = receiver.last
    assert request.path == "/2010-04-01/Accounts/AC0123456789/Calls.json"
    form = request.form()
    assert (form["To"], form["From"]) == ("+4915123456789", "+15005550006")
    twiml = ET.fromstring(form["Twiml"])  # noqa: S314 (our own output)
    assert twiml.tag == "Response" and [child.tag for child in twiml] == ["Say"]
    said = twiml.find("Say").text
    assert "</Say><Play>http://evil</Play> & more" in said and "Acme Corp" in said


@pytest.mark.parametrize(
    "number", ["004915123456789", "+0123456789", "+49 151 2345678", "+1234", "+1" + "2" * 15, ""]
)
def test_a_number_not_in_e164_form_is_refused_without_a_request(receiver, number):
    for kind in ("sms", "voice"):
        with pytest.raises(PermanentFailure, match="E.164"):
            senders.send(kind, number, {}, MESSAGE)
    assert receiver.requests == []


def test_sms_and_voice_fail_for_good_while_the_portal_has_no_account(receiver, settings):
    settings.TWILIO_AUTH_TOKEN = ""
    for kind in ("sms", "voice"):
        with pytest.raises(PermanentFailure, match="not configured on this portal"):
            send(kind, receiver)
    assert receiver.requests == []


# --- Standard Webhooks -------------------------------------------------------------------------
def test_webhook_signature_verifies_with_its_secret_and_not_with_another(receiver):
    target, secrets = channel("webhook", receiver)
    senders.send("webhook", target, secrets, MESSAGE)
    request = receiver.last
    assert request.path == HOOK_PATH
    assert request.headers["webhook-id"] == "delivery-42"
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
    payload = Webhook(secrets["signing_secret"]).verify(request.body, request.headers)
    assert payload == {
        "type": "incident.created",
        "timestamp": MESSAGE.occurred_at,
        "data": {
            "incident": "0d9c5f7e",
            "status": "new",
            "tenant": "Acme Corp",
            "title": MESSAGE.title,
            "severity": "critical",
            "url": MESSAGE.url,
        },
    }
    with pytest.raises(WebhookVerificationError):
        Webhook(senders.new_signing_secret()).verify(request.body, request.headers)
    tampered = request.body.replace(b"critical", b"low")
    with pytest.raises(WebhookVerificationError):
        Webhook(secrets["signing_secret"]).verify(tampered, request.headers)


def test_new_signing_secrets_are_fresh_whsec_secrets_of_enough_bytes():
    first, second = senders.new_signing_secret(), senders.new_signing_secret()
    assert first != second
    for secret in (first, second):
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24


def test_a_malformed_signing_secret_fails_for_good_without_quoting_it(receiver):
    for bad in ("plain-secret-123", "whsec_", "whsec_!!!"):
        secrets = {"url": receiver.base + HOOK_PATH, "signing_secret": bad}
        with pytest.raises(PermanentFailure, match="signing_secret is not a whsec_") as failure:
            senders.send("webhook", "SIEM", secrets, MESSAGE)
        assert "secret-123" not in failure_texts(failure.value)
    assert receiver.requests == []


# --- what an answer means ----------------------------------------------------------------------
def http_date(seconds_from_now: float) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds_from_now), usegmt=True)


@pytest.mark.parametrize(
    ("status", "retry_after", "seconds"),
    [
        (429, "120", 120),
        (429, "86400", 3600),  # capped at an hour
        (503, "0", 0),
        (429, None, None),
        (503, None, None),
        (429, "soon", None),
    ],
)
def test_429_and_503_ask_to_retry_later_honouring_retry_after_seconds(
    receiver, status, retry_after, seconds
):
    receiver.answer(status, **({"Retry-After": retry_after} if retry_after else {}))
    with pytest.raises(RetryLater) as failure:
        send("slack", receiver)
    assert failure.value.retry_after_seconds == seconds
    assert str(status) in str(failure.value)


def test_retry_after_as_an_http_date_is_honoured_and_capped(receiver):
    receiver.answer(429, Retry_After=http_date(90))
    with pytest.raises(RetryLater) as failure:
        send("pagerduty", receiver)
    assert 80 <= failure.value.retry_after_seconds <= 90
    receiver.answer(503, Retry_After=http_date(7 * 86400))
    with pytest.raises(RetryLater) as failure:
        send("opsgenie", receiver)
    assert failure.value.retry_after_seconds == 3600
    receiver.answer(429, Retry_After=http_date(-600))  # already past: now
    with pytest.raises(RetryLater) as failure:
        send("webhook", receiver)
    assert failure.value.retry_after_seconds == 0


@pytest.mark.parametrize("status", [500, 502, 504, 408])
def test_server_errors_and_timeouts_are_retried_with_backoff(receiver, status):
    receiver.answer(status)
    with pytest.raises(TemporaryFailure) as failure:
        send("teams", receiver)
    assert not isinstance(failure.value, RetryLater | PermanentFailure)
    assert str(failure.value) == f"{status} from 127.0.0.1"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413, 422])
def test_client_errors_fail_for_good(receiver, status):
    receiver.answer(status)
    with pytest.raises(PermanentFailure, match=f"^{status} from 127.0.0.1: "):
        send("pagerduty", receiver)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_fail_for_good_and_are_not_followed(receiver, status):
    elsewhere = Receiver()
    try:
        receiver.answer(status, Location=elsewhere.base + "/elsewhere")
        with pytest.raises(PermanentFailure, match="redirects are not followed"):
            send("webhook", receiver)
        assert len(receiver.requests) == 1 and elsewhere.requests == []
    finally:
        elsewhere.server.shutdown()
        elsewhere.server.server_close()


def test_a_receiver_that_never_answers_is_retried_after_the_deadline(receiver, monkeypatch):
    monkeypatch.setattr(webhooks, "DEADLINE", 1.0)
    monkeypatch.setattr(webhooks, "CONNECT_TIMEOUT", 0.5)
    receiver.silent = True
    started = time.monotonic()
    with pytest.raises(TemporaryFailure, match="127.0.0.1 did not answer in time"):
        send("slack", receiver)
    assert time.monotonic() - started < 3
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("kind", HTTP_KINDS)
def test_a_private_address_is_refused_for_every_kind_in_production(receiver, settings, kind):
    settings.WEBHOOK_ALLOW_PRIVATE = False  # vendor URLs from settings included
    with pytest.raises(PermanentFailure, match="127.0.0.1 is not a public address") as failure:
        send(kind, receiver)
    assert isinstance(failure.value.__cause__, webhooks.DestinationRefused)
    assert receiver.requests == []


@pytest.mark.parametrize("kind", HTTP_KINDS)
def test_no_failure_text_holds_a_secret(receiver, settings, monkeypatch, kind):
    monkeypatch.setattr(webhooks, "DEADLINE", 0.3)
    monkeypatch.setattr(webhooks, "CONNECT_TIMEOUT", 0.5)
    texts = []
    for status in (301, 400, 401, 404, 429, 500, 503):
        receiver.answer(status, Retry_After="5", Location="http://127.0.0.1/x")
        with pytest.raises(senders.SendFailure) as failure:
            send(kind, receiver)
        texts.append(failure_texts(failure.value))
    receiver.silent = True
    with pytest.raises(TemporaryFailure) as failure:
        send(kind, receiver)
    texts.append(failure_texts(failure.value))
    receiver.stop.set()
    settings.WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(PermanentFailure) as failure:
        send(kind, receiver)
    texts.append(failure_texts(failure.value))
    for text in texts:
        for secret in SECRET_FRAGMENTS:
            assert secret not in text


def test_every_failure_text_is_one_line(receiver):
    receiver.answer(429, Retry_After="5")
    for kind in HTTP_KINDS:
        with pytest.raises(senders.SendFailure) as failure:
            send(kind, receiver)
        assert "\n" not in str(failure.value) and str(failure.value).strip() == str(failure.value)


# --- the channel itself ------------------------------------------------------------------------
def test_an_unknown_kind_or_a_missing_secret_fails_for_good(receiver):
    with pytest.raises(PermanentFailure, match="no channel kind 'carrier-pigeon'"):
        senders.send("carrier-pigeon", "coop", {}, MESSAGE)
    with pytest.raises(PermanentFailure, match="routing_key is missing"):
        senders.send("pagerduty", "SOC", {}, MESSAGE)
    with pytest.raises(PermanentFailure, match="url is missing or malformed") as failure:
        senders.send("slack", "#soc", {"url": receiver.base + SLACK_PATH + "\nX: y"}, MESSAGE)
    assert "slack-path-secret" not in failure_texts(failure.value)
    with pytest.raises(PermanentFailure, match="not a valid URL|http"):
        senders.send("slack", "#soc", {"url": "ftp://hooks.example/secret"}, MESSAGE)
    assert receiver.requests == []
    assert set(senders.SECRET_NAMES) == set(senders.KINDS)


def test_retry_after_reads_seconds_and_dates():
    now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    assert senders.retry_after(" 30 ", now) == 30
    assert senders.retry_after("Tue, 01 Jan 2030 12:02:00 GMT", now) == 120
    assert senders.retry_after("Tue, 01 Jan 2030 11:00:00 GMT", now) == 0
    assert senders.retry_after("Wed, 01 Jan 2031 12:00:00 GMT", now) == 3600
    for nonsense in (None, "", "-5", "1.5", "²", "soon"):
        assert senders.retry_after(nonsense, now) is None


def test_the_failures_are_the_outboxs_so_it_gives_up_or_waits_as_the_receiver_asked():
    later = RetryLater("429 from 127.0.0.1: rate limited", 120.0)
    assert isinstance(later, outbox.RetryLater) and later.after_seconds == 120.0
    assert isinstance(later, TemporaryFailure) and later.retry_after_seconds == 120.0
    assert isinstance(PermanentFailure("404 from 127.0.0.1"), outbox.PermanentFailure)
    assert not isinstance(TemporaryFailure("500 from 127.0.0.1"), outbox.PermanentFailure)
