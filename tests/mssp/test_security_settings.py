"""DEBUG and SECRET_KEY as mssp.settings derives them from the environment: debug pages only for
the embedded demo on this machine (or when DEBUG is set on purpose), and a production-looking
configuration without a SECRET_KEY refuses to start instead of running with a known key.

Each case loads mssp/settings.py afresh (runpy) under its own environment, as a new process
would."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

ROOT = Path(__file__).resolve().parent.parent.parent
SETTINGS = ROOT / "mssp" / "settings.py"
# Everything mssp.settings reads to tell a demo from a deployment.
DECIDING = (
    "DEBUG",
    "SECRET_KEY",
    "DATABASE_URL",
    "DATABASE_OWNER_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "ALLOWED_HOSTS",
    "HOST",
)
PRODUCTION_KEY = "a-real-production-key-" + "x" * 40
POSTGRES = "postgresql://mssp_app:secret@db.internal:5432/mssp"


def load_settings(monkeypatch, **env: str) -> dict:
    for name in DECIDING:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS))


def test_no_configuration_is_the_embedded_demo_with_debug_on(monkeypatch):
    settings = load_settings(monkeypatch)
    assert settings["DEBUG"] is True
    assert settings["SECRET_KEY"]  # the development key: `make run` needs no configuration


@pytest.mark.parametrize(
    "env",
    [
        {"DATABASE_URL": f"sqlite:///{ROOT / 'var' / 'other.sqlite3'}"},
        {"ALLOWED_HOSTS": "localhost,127.0.0.1,[::1]"},
        {"HOST": "127.0.0.1"},
        {"HOST": "localhost"},
    ],
    ids=["sqlite-url", "loopback-allowed-hosts", "loopback-host", "localhost-host"],
)
def test_local_embedded_configurations_keep_debug_on(monkeypatch, env):
    assert load_settings(monkeypatch, **env)["DEBUG"] is True


@pytest.mark.parametrize(
    "env",
    [
        {"DATABASE_URL": POSTGRES},
        {"REDIS_URL": "redis://cache.internal:6379/0"},
        {"CELERY_BROKER_URL": "amqp://broker.internal//"},
        {"ALLOWED_HOSTS": "portal.example.com"},
        {"ALLOWED_HOSTS": "*"},
        {"HOST": "0.0.0.0"},  # noqa: S104 - the point: served beyond this machine
    ],
    ids=["database-url", "redis-url", "broker-url", "public-host", "any-host", "all-interfaces"],
)
def test_production_looking_configuration_has_debug_off_by_default(monkeypatch, env):
    settings = load_settings(monkeypatch, SECRET_KEY=PRODUCTION_KEY, **env)
    assert settings["DEBUG"] is False
    # What DEBUG off brings: no browsable API, secure cookies, HSTS.
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["SECURE_HSTS_SECONDS"] > 0
    assert (
        "rest_framework.renderers.BrowsableAPIRenderer"
        not in (settings["REST_FRAMEWORK"]["DEFAULT_RENDERER_CLASSES"])
    )


def test_debug_set_on_purpose_wins(monkeypatch):
    """A developer's machine on PostgreSQL (and tests.live's servers) say DEBUG=1."""
    assert load_settings(monkeypatch, DEBUG="1", DATABASE_URL=POSTGRES)["DEBUG"] is True
    assert load_settings(monkeypatch, DEBUG="0", SECRET_KEY=PRODUCTION_KEY)["DEBUG"] is False


@pytest.mark.parametrize(
    "env",
    [
        {"DATABASE_URL": POSTGRES},
        {"REDIS_URL": "redis://cache.internal:6379/0"},
        {"ALLOWED_HOSTS": "portal.example.com"},
        {"DEBUG": "0"},
    ],
    ids=["database-url", "redis-url", "public-host", "debug-off"],
)
def test_missing_secret_key_in_production_looking_configuration_fails_loudly(monkeypatch, env):
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        load_settings(monkeypatch, **env)


def test_the_development_key_is_refused_with_debug_off(monkeypatch):
    development_key = load_settings(monkeypatch)["SECRET_KEY"]
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        load_settings(monkeypatch, DATABASE_URL=POSTGRES, SECRET_KEY=development_key)


@pytest.mark.slow
def test_production_looking_configuration_passes_check_deploy():
    """`manage.py check --deploy` on a configuration that only names its database and host:
    DEBUG off by default, and nothing for Django's deployment checks to warn about."""
    env = {k: v for k, v in os.environ.items() if k not in DECIDING and not k.startswith("PYTEST")}
    env.update(
        DJANGO_SETTINGS_MODULE="mssp.settings",
        DATABASE_URL=POSTGRES,  # never connected to: the checks need no database
        ALLOWED_HOSTS="portal.example.com",
        SECRET_KEY=PRODUCTION_KEY,
        SECRETS_ENCRYPTION_KEYS="Yl9X0b8wB0Q2mKQy1lqk2vG4b2r1B7YlqWmYzq3tW3A=",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_asks_for_keys_of_its_own_to_seal_secrets(settings):
    from tenants.sealed import check_keys

    settings.SECRETS_ENCRYPTION_KEYS = []
    assert [m.id for m in check_keys()] == ["mssp.W001"]
    settings.SECRETS_ENCRYPTION_KEYS = ["not a key"]
    assert [m.id for m in check_keys()] == ["mssp.E001"]
    settings.SECRETS_ENCRYPTION_KEYS = ["Yl9X0b8wB0Q2mKQy1lqk2vG4b2r1B7YlqWmYzq3tW3A="]
    assert check_keys() == []
