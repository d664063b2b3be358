"""The apps' dependency direction (docs/architecture.md) and no import cycles, checked on the
real import graph (grimp, import-linter's engine; imports under TYPE_CHECKING excluded)."""

from __future__ import annotations

import grimp
import pytest

APPS = (
    "tenants",
    "alerts",
    "sla",
    "cases",
    "intel",
    "findings",
    "reports",
    "oncall",
    "notifications",
    "connectors",
    "response",
    "mssp",
)
# app -> the apps it must never import, directly or through another module. Notifications
# hears every app's events (tenants.events.on_publish), so it sits above all of them.
HIGHER = {
    "tenants": (
        "alerts",
        "sla",
        "cases",
        "intel",
        "findings",
        "reports",
        "oncall",
        "notifications",
        "connectors",
        "response",
        "mssp",
    ),
    "alerts": (
        "sla",
        "cases",
        "intel",
        "findings",
        "reports",
        "notifications",
        "connectors",
        "response",
        "mssp",
    ),
    "sla": ("intel", "findings", "reports", "notifications", "response", "mssp"),
    "intel": ("sla", "findings", "reports", "notifications", "response", "mssp"),
    "findings": ("reports", "notifications", "response", "mssp"),
    "reports": ("notifications", "response", "mssp"),
    # Case work sits on alerts; the SLA inbox shows its tasks (sla above it).
    "cases": ("sla", "intel", "findings", "reports", "notifications", "response", "mssp"),
    "notifications": ("mssp",),
    # Response actions sit on connectors and the incident, SLA sweep and on-call they use;
    # notifications hears their events (above), mssp wires them.
    "response": ("notifications", "mssp"),
    # Connectors act on and ask about what alerts and intel hold; nothing below calls out.
    "connectors": (
        "sla",
        "cases",
        "findings",
        "reports",
        "oncall",
        "notifications",
        "response",
        "mssp",
    ),
    # On-call schedules sit on tenants alone; notifications (above) pages their on-call.
    "oncall": (
        "alerts",
        "sla",
        "cases",
        "intel",
        "findings",
        "reports",
        "notifications",
        "response",
        "mssp",
    ),
}


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph(*APPS, exclude_type_checking_imports=True, cache_dir=None)


@pytest.mark.parametrize("lower", sorted(HIGHER))
def test_no_app_imports_up_the_layers(graph, lower):
    chains = [
        " -> ".join(chain)
        for higher in HIGHER[lower]
        for chain in graph.find_shortest_chains(importer=lower, imported=higher)
    ]
    assert not chains, f"{lower} imports up the layers:\n" + "\n".join(chains)


def test_no_import_cycles_between_modules(graph):
    cycles = sorted(
        f"{a} <-> {b}"
        for a in graph.modules
        for b in graph.find_modules_directly_imported_by(a)
        if a < b and a in graph.find_modules_directly_imported_by(b)
    )
    longer = [
        module
        for module in graph.modules
        if any(
            graph.chain_exists(importer=imported, imported=module)
            for imported in graph.find_modules_directly_imported_by(module)
        )
    ]
    assert not cycles, cycles
    assert not longer, f"modules on an import cycle: {sorted(longer)}"


def _template_references(app: str) -> list[tuple[str, str]]:
    """(template file, what it names) for every include/extends of another app's template and
    every tag library it loads, in templates/<app>/."""
    import re
    from pathlib import Path

    folder = Path(__file__).resolve().parent.parent / "templates" / app
    found = []
    for path in sorted(folder.rglob("*.html")):
        text = path.read_text()
        for name in re.findall(r"{%\s*(?:include|extends)\s+[\"']([^\"']+)[\"']", text):
            found.append((path.name, name.split("/", 1)[0] if "/" in name else ""))
        for libraries in re.findall(r"{%\s*load\s+([^%]+?)\s*%}", text):
            found.extend((path.name, f"tags:{lib}") for lib in libraries.split())
    return found


# The template tag libraries each app owns.
TAG_LIBRARIES = {
    "panels": "alerts",
    "findings_tags": "findings",
    "intel": "intel",
    "cases_tags": "cases",
    "reports_tags": "reports",
    "response_tags": "response",
    "connector_tags": "connectors",
}


@pytest.mark.parametrize("lower", ["tenants", "alerts", "cases", "sla", "intel", "findings"])
def test_no_app_template_reaches_up_the_layers(lower):
    """Higher apps add to a lower app's pages by registering panels (alerts.extensions), never
    by the lower app's templates including theirs or loading their tags."""
    upward = []
    for template, name in _template_references(lower):
        app = TAG_LIBRARIES.get(name.removeprefix("tags:")) if name.startswith("tags:") else name
        if app in HIGHER.get(lower, ()):
            upward.append(f"templates/{lower}/{template} -> {name}")
    assert not upward, upward


def test_higher_apps_panels_are_registered_on_the_incident_and_alert_pages():
    from alerts.extensions import panels_for

    assert [p.template for p in panels_for("incident.evidence")] == [
        "cases/_incident_evidence.html",
        "cases/_incident_classify.html",
        "findings/_incident_findings.html",
        "connectors/_incident_enrichment.html",
        "intel/_incident_intel.html",
    ]
    assert [p.template for p in panels_for("incident.actions")] == [
        "cases/_incident_custom_fields.html",
        "response/_incident_respond.html",
        "cases/_incident_tasks.html",
        "sla/_incident_escalate.html",
        "reports/_incident_report.html",
    ]
    assert [p.template for p in panels_for("incident.live")] == ["sla/_incident_sla.html"]
    assert [p.template for p in panels_for("incident.new")] == [
        "cases/_new_incident_custom_fields.html"
    ]
    assert [p.template for p in panels_for("alert.detail")] == ["intel/_alert_intel.html"]
