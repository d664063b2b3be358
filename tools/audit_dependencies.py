"""`make check`'s dependency audit: pip-audit over the installed environment (.venv, what
pyproject.toml resolved to), failing on any package with a known vulnerability.

pip-audit asks a vulnerability service (PyPI's JSON API per release, or OSV) about each
package. Where that service cannot be reached, or answers nothing for every package (a
network that lets pip install but not read PyPI's per-release JSON), nothing was audited:
this says so in a banner and exits 0, so that such a machine can still run `make check`;
AUDIT_REQUIRED=1 turns it into a failure. Known vulnerabilities always fail.

    python tools/audit_dependencies.py [--service pypi|osv]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def banner(lines: list[str]) -> None:
    width = max(len(line) for line in lines) + 4
    print("!" * width)
    for line in lines:
        print(f"! {line.ljust(width - 4)} !")
    print("!" * width, flush=True)


def not_audited(why: str, detail: str) -> int:
    required = os.environ.get("AUDIT_REQUIRED", "") in {"1", "true", "yes"}
    banner(
        [
            "pip-audit: DEPENDENCIES NOT AUDITED",
            why,
            f"  {detail.strip()[:110]}",
            "Known-vulnerable pins pass unnoticed here: audit where the vulnerability",
            "service answers (pip-audit -s pypi: PyPI's per-release JSON; -s osv: OSV).",
            "AUDIT_REQUIRED=1: failing." if required else "(AUDIT_REQUIRED=1 makes this fail.)",
        ]
    )
    return 1 if required else 0


def main(argv: list[str]) -> int:
    service = argv[argv.index("--service") + 1] if "--service" in argv else "pypi"
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "audit.json"
        command = [
            sys.executable,
            "-m",
            "pip_audit",
            "--vulnerability-service",
            service,
            "--skip-editable",  # the portal itself, installed with -e
            "--progress-spinner",
            "off",
            "--timeout",
            "20",
            "--format",
            "json",
            "--output",
            str(report),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)  # noqa: S603
        if not report.exists() or not report.read_text().strip():
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            return not_audited(f"The {service} service could not be asked:", last)
        dependencies = json.loads(report.read_text())["dependencies"]
    audited = [d for d in dependencies if "skip_reason" not in d]
    skipped = [d for d in dependencies if "skip_reason" in d]
    vulnerable = [d for d in audited if d.get("vulns")]
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fix yet"
            aliases = ", ".join(vuln.get("aliases") or [])
            print(
                f"VULNERABLE {dependency['name']} {dependency['version']}: {vuln['id']}"
                f"{f' ({aliases})' if aliases else ''}, fixed in {fixed}"
            )
    if vulnerable:
        print(f"pip-audit: {len(vulnerable)} of {len(audited)} packages have known vulnerabilities")
        return 1
    if not audited:
        return not_audited(
            f"The {service} service answered for none of the {len(skipped)} packages, e.g.",
            skipped[0]["skip_reason"] if skipped else "",
        )
    for dependency in skipped:
        print(f"not audited: {dependency['skip_reason']}")
    print(f"pip-audit ({service}): {len(audited)} packages, no known vulnerabilities")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
