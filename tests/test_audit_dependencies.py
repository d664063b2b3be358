"""tools/audit_dependencies.py, `make check`'s dependency audit: a known vulnerability fails it,
an unreachable or silent vulnerability service is said out loud (and fails only under
AUDIT_REQUIRED=1). pip-audit's answers are faked here: the test does not need the network."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("audit", ROOT / "tools" / "audit_dependencies.py")
audit = importlib.util.module_from_spec(spec)
spec.loader.exec_module(audit)


def fake_pip_audit(monkeypatch, report: dict | None, stderr: str = ""):
    def run(command, **kwargs):
        assert command[1:3] == ["-m", "pip_audit"] and "--skip-editable" in command
        if report is not None:
            Path(command[command.index("--output") + 1]).write_text(json.dumps(report))
        return subprocess.CompletedProcess(command, 1 if report is None else 0, "", stderr)

    monkeypatch.setattr(audit.subprocess, "run", run)


def test_a_known_vulnerability_fails_the_check(monkeypatch, capsys):
    fake_pip_audit(
        monkeypatch,
        {
            "dependencies": [
                {"name": "django", "version": "5.2.0", "vulns": []},
                {
                    "name": "setuptools",
                    "version": "65.5.0",
                    "vulns": [{"id": "PYSEC-2022-43012", "fix_versions": ["65.5.1"]}],
                },
            ],
            "fixes": [],
        },
    )
    assert audit.main([]) == 1
    assert "VULNERABLE setuptools 65.5.0: PYSEC-2022-43012, fixed in 65.5.1" in (
        capsys.readouterr().out
    )


def test_a_clean_environment_passes(monkeypatch, capsys):
    fake_pip_audit(monkeypatch, {"dependencies": [{"name": "django", "version": "5.2.0"}]})
    assert audit.main([]) == 0
    assert "1 packages, no known vulnerabilities" in capsys.readouterr().out


@pytest.mark.parametrize("required", ["", "1"])
def test_a_service_that_answers_for_nothing_is_said_out_loud(monkeypatch, capsys, required):
    monkeypatch.setenv("AUDIT_REQUIRED", required)
    skipped = "Dependency not found on PyPI and could not be audited: django (5.2.0)"
    fake_pip_audit(monkeypatch, {"dependencies": [{"name": "django", "skip_reason": skipped}]})
    assert audit.main([]) == (1 if required else 0)
    out = capsys.readouterr().out
    assert "DEPENDENCIES NOT AUDITED" in out and skipped in out


def test_an_unreachable_service_is_said_out_loud(monkeypatch, capsys):
    monkeypatch.delenv("AUDIT_REQUIRED", raising=False)
    fake_pip_audit(monkeypatch, None, stderr="ConnectionError: Failed to resolve 'api.osv.dev'")
    assert audit.main(["--service", "osv"]) == 0
    out = capsys.readouterr().out
    assert "DEPENDENCIES NOT AUDITED" in out and "Failed to resolve" in out
