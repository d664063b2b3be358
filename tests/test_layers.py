"""The apps' dependency direction (docs/architecture.md) and no import cycles, checked on the
real import graph (grimp, import-linter's engine; imports under TYPE_CHECKING excluded)."""

from __future__ import annotations

import grimp
import pytest

APPS = ("tenants", "alerts", "sla", "intel", "findings", "reports", "mssp")
# app -> the apps it must never import, directly or through another module.
HIGHER = {
    "tenants": ("alerts", "sla", "intel", "findings", "reports", "mssp"),
    "alerts": ("sla", "intel", "findings", "reports", "mssp"),
    "sla": ("intel", "findings", "reports", "mssp"),
    "intel": ("sla", "findings", "reports", "mssp"),
    "findings": ("reports", "mssp"),
    "reports": ("mssp",),
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
