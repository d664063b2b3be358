"""The production layout (`python -m mssp.serve --layout production`): nginx at one address in
front of the worker pool (gunicorn, HTTP) and daphne (websockets only), started for real on
free ports against the test database (as the app role) and the test run's Redis.

Through nginx's one address: a page and an API call answer, from the pool (nginx's access log
names the upstream that answered); a socket opened through /ws/ gets a live event; the address
the portal records is the client's (nginx's X-Forwarded-For believed, the client's own not); a
forged X-Forwarded-Proto does not pass; a body over the app's limit is refused with the API's
413 before it reaches the pool, and nothing is stored; static files come from STATIC_ROOT on
disk, or from the pool (WhiteNoise) when collectstatic has not written them.

Skipped with the reason without nginx (apt-get install nginx), failed under
MSSP_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from alerts.models import Alert, IntakeSource
from mssp import serve
from tenants.rls import rls_bypass
from tests import services
from tests.factories import issue_token
from tests.live import PYTHON, ROOT, _stop, free_port, process_env, start_logged, wait_for_line

MAX_BODY = 64 * 1024  # MAX_REQUEST_BYTES of the layout under test: a small 413 to send
CLIENT = "127.0.0.2"  # the test's own address: not nginx's, which reaches the pool as 127.0.0.1
FORGED = "203.0.113.66"


@dataclass
class Layout:
    url: str
    pool: str
    ws: str
    access_log: Path
    log: Path

    def answered_by(self, method: str, path: str) -> str:
        """The upstream nginx's access log names for the last `method path` ("-": nginx).
        nginx writes the line once the answer is sent, so the client may be first: wait for it
        (10 s at most)."""
        pattern = re.compile(rf'"{method} {re.escape(path)} HTTP/1\.1" .* upstream=(\S+)$')
        deadline = time.monotonic() + 10
        while True:
            found = [m.group(1) for line in self._lines() if (m := pattern.search(line))]
            if found or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert found, f"{method} {path} not in nginx's access log:\n{self._tail()}"
        return found[-1]

    def _lines(self) -> list[str]:
        return self.access_log.read_text().splitlines() if self.access_log.exists() else []

    def _tail(self) -> str:
        return "\n".join(self._lines()[-20:])


@pytest.fixture(scope="module")
def layout(django_db_setup, tmp_path_factory):
    binary = serve.nginx_binary()
    if binary is None:
        why = "nginx is not installed (apt-get install nginx)"
        if services.REQUIRED:
            pytest.fail(f"MSSP_REQUIRE_SERVICES=1 and {why}")
        pytest.skip(why)
    folder = tmp_path_factory.mktemp("serving")
    static_root = folder / "static"
    port, pool, ws = free_port(), f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    env = process_env(
        HOST="127.0.0.1",
        PORT=str(port),
        STATIC_ROOT=str(static_root),
        MAX_REQUEST_BYTES=str(MAX_BODY),
        WEB_WORKERS="1",
        WEB_THREADS="4",
        NGINX=binary,
    )
    subprocess.run(  # noqa: S603 - what a deployment does before it serves
        [PYTHON, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    (static_root / "js" / "portal.js").unlink()  # left for the pool's WhiteNoise to find
    log = folder / "serve.log"
    command = [PYTHON, "-m", "mssp.serve", "--layout", "production", "--web-only"]
    command += ["--run-dir", str(folder / "nginx"), "--pool-address", pool, "--ws-address", ws]
    process = start_logged(command, log, env)
    try:
        wait_for_line(process, log, "Serving the portal at", "the layout", timeout=120)
        yield Layout(f"http://127.0.0.1:{port}", pool, ws, folder / "nginx" / "access.log", log)
    finally:
        _stop(process)


def _source(tenant) -> str:
    with rls_bypass("test fixture"):
        source = IntakeSource(tenant=tenant, name="serving", kind="generic")
        key = source.set_new_key()
        source.save()
    return key


def _signed_in_cookie(user) -> str:
    """A session for `user` made as login() makes one, but with no session record yet: the
    first request through the proxy creates it, with the address the portal believes."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


async def _next_of_type(socket, wanted: str, timeout: float = 15) -> dict:
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), timeout))
        if message.get("type") == wanted:
            return message


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_pages_api_and_sockets_through_one_address(layout, two_tenants):
    from tenants.models import UserSession

    key = _source(two_tenants["a"])
    token = issue_token(two_tenants["a_viewer"])
    viewer = two_tenants["a_viewer"]

    # A page and an API call, answered by the pool.
    page = httpx.get(f"{layout.url}/login/", timeout=30)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert layout.answered_by("GET", "/login/") == layout.pool
    me = httpx.get(
        f"{layout.url}/api/v1/me/", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert me.status_code == 200, me.text
    assert layout.answered_by("GET", "/api/v1/me/") == layout.pool

    # The client's address, as the portal records it: the one nginx saw, not the forged one.
    transport = httpx.HTTPTransport(local_address=CLIENT)
    with httpx.Client(transport=transport, timeout=30) as client:
        client.get(
            f"{layout.url}/",
            headers={"Cookie": _signed_in_cookie(viewer), "X-Forwarded-For": FORGED},
        )
    with rls_bypass("test check"):
        recorded = list(UserSession.objects.filter(user=viewer).values_list("ip", flat=True))
    assert recorded == [CLIENT]

    ws_url = layout.url.replace("http", "ws") + "/ws/stream/"

    async def scenario():
        # The scheme is nginx's to say: a client's "X-Forwarded-Proto: https" does not make
        # an https origin its own (the origin check refuses it).
        with pytest.raises(InvalidStatus) as refused:
            async with connect(
                ws_url,
                origin=layout.url.replace("http://", "https://"),
                additional_headers={"X-Forwarded-Proto": "https"},
            ):
                pass
        assert refused.value.response.status_code == 403
        async with connect(ws_url, origin=layout.url) as socket:
            await socket.send(json.dumps({"type": "auth", "token": token}))
            assert json.loads(await asyncio.wait_for(socket.recv(), 15)) == {"type": "ready"}
            async with httpx.AsyncClient(timeout=30) as http:
                posted = await http.post(
                    f"{layout.url}/api/v1/intake/generic/",
                    json={"title": "Beacon to a known C2", "severity": "high"},
                    headers={"Authorization": f"Bearer {key}"},
                )
            assert posted.status_code == 202, posted.text
            seen = await _next_of_type(socket, "alert.created")
            assert seen["id"] == posted.json()["alerts"][0]

    asyncio.run(scenario())
    assert layout.answered_by("POST", "/api/v1/intake/generic/") == layout.pool
    assert layout.answered_by("GET", "/ws/stream/") == layout.ws


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_body_limits_and_static_files(layout, two_tenants):
    key = _source(two_tenants["a"])
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    intake = f"{layout.url}/api/v1/intake/generic/"

    # Just within the app's limit: passed on and taken.
    record = {"title": "x" * 400, "severity": "low", "description": "y" * 1500}
    count = MAX_BODY // len(json.dumps(record)) - 2
    within = json.dumps([{**record, "source_ref": f"w{n}"} for n in range(count)]).encode()
    assert len(within) < MAX_BODY
    taken = httpx.post(intake, content=within, headers=headers, timeout=30)
    assert taken.status_code == 202, taken.text
    assert taken.json()["accepted"] == count

    # Over it: nginx refuses with the API's own 413, and nothing reaches the pool.
    over = json.dumps([{**record, "source_ref": f"o{n}"} for n in range(count + 10)]).encode()
    assert len(over) > MAX_BODY
    refused = httpx.post(intake, content=over, headers=headers, timeout=30)
    assert refused.status_code == 413
    assert refused.json() == {
        "error": "too_large",
        "detail": "The request body is larger than this endpoint accepts.",
    }
    with rls_bypass("test check"):
        stored = Alert.objects.for_tenant(two_tenants["a"].pk)
        assert stored.filter(source_ref__startswith="o").count() == 0
        assert stored.filter(source_ref__startswith="w").count() == count

    # Static files: from disk (collectstatic's), else from the pool.
    css = httpx.get(f"{layout.url}/static/css/portal.css", timeout=30)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert css.content == (ROOT / "static" / "css" / "portal.css").read_bytes()
    assert css.headers["cache-control"] == "public, max-age=60"
    assert layout.answered_by("GET", "/static/css/portal.css") == "-"
    js = httpx.get(f"{layout.url}/static/js/portal.js", timeout=30)
    assert js.status_code == 200
    assert js.content == (ROOT / "static" / "js" / "portal.js").read_bytes()
    assert layout.answered_by("GET", "/static/js/portal.js") == layout.pool
    missing = httpx.get(f"{layout.url}/static/css/nothing-here.css", timeout=30)
    assert missing.status_code == 404


# --- which layout, and the rendered config (no processes) -----------------------------------
@pytest.fixture
def machine(monkeypatch, tmp_path):
    """The environment mssp.serve reads: no broker and no nginx until a test adds them."""
    for name in ("REDIS_URL", "CELERY_BROKER_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NGINX", str(tmp_path / "no-nginx"))
    fake = tmp_path / "nginx"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    return fake


def test_embedded_mode_keeps_http_and_sockets_in_one_daphne(machine):
    assert serve.choose_layout("auto") == ("single", "")
    with pytest.raises(SystemExit, match="REDIS_URL"):
        serve.choose_layout("production")
    assert serve.commands(web_only=True) == [serve.daphne_command("127.0.0.1", "8000")]


def test_without_nginx_daphne_serves_all_and_says_how_to_install_it(machine, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    layout, why = serve.choose_layout("auto")
    assert layout == "single" and "apt-get install nginx" in why
    with pytest.raises(SystemExit, match="apt-get install nginx"):
        serve.choose_layout("production")
    monkeypatch.setenv("NGINX", str(machine))
    assert serve.choose_layout("auto") == ("production", "")
    assert serve.choose_layout("single") == ("single", "")


def test_proxy_config_carries_the_apps_limits(settings, tmp_path):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 123_456
    settings.FINDINGS_IMPORT_MAX_BYTES = 7_000_000
    settings.STATIC_ROOT = tmp_path / "static"
    text = serve.render_nginx(
        listen="0.0.0.0:80", pool="127.0.0.1:8001", ws="127.0.0.1:8002", prefix=tmp_path
    )
    assert "{{" not in text
    assert "client_max_body_size 123456;" in text
    assert f"client_max_body_size {7_000_000 + serve.MULTIPART_SLACK};" in text
    assert f"alias {tmp_path / 'static'}/;" in text
    assert "listen 0.0.0.0:80;" in text and "server 127.0.0.1:8002;" in text
