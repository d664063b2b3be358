"""How higher apps add their parts to the alerts app's pages, without the alerts app knowing
them (the dependency direction holds in templates too: NetBox's PluginTemplateExtension).

- A *panel* is a template a higher app renders into a named slot of an incident or alert page
  (`{% panels "incident.evidence" %}`, alerts/templatetags/panels.py), with the page's context.
- An *incident rows hook* adds what a higher app shows on each row of the incident lists (the
  queue's SLA countdown), for a page's rows at once: one query per hook, not per row.

Higher apps register in their AppConfig.ready(): sla (the escalate form, the SLA card, the
countdowns), findings (open findings on the incident's hosts), intel (matches)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

# Where panels go: the incident page after its workflow forms, after its observables, inside
# its live-refreshed part; the new-incident form after its details; the alert page after the
# alert's details.
SLOTS = frozenset(
    {"incident.actions", "incident.evidence", "incident.live", "incident.new", "alert.detail"}
)


@dataclass(frozen=True)
class Panel:
    slot: str
    template: str
    order: int = 100  # lower first
    staff_only: bool = False  # rendered only where the page's context says `staff`


_panels: dict[str, list[Panel]] = {}
_incident_rows_hooks: list[Callable[[list], None]] = []
# (tenant id, category) -> a severity or None: what an incident opened by hand without a
# severity gets (cases: the category's case template's default severity).
_default_severity_hooks: list[Callable[[int, str], str | None]] = []


def register_panel(slot: str, template: str, *, order: int = 100, staff_only: bool = False):
    if slot not in SLOTS:
        raise ValueError(f"unknown panel slot {slot!r}; one of {sorted(SLOTS)}")
    panel = Panel(slot, template, order, staff_only)
    slot_panels = _panels.setdefault(slot, [])
    if panel not in slot_panels:  # ready() may run twice (tests); register once
        slot_panels.append(panel)
        slot_panels.sort(key=lambda p: (p.order, p.template))


def panels_for(slot: str) -> list[Panel]:
    return list(_panels.get(slot, ()))


def register_incident_rows(hook: Callable[[list], None]) -> None:
    """`hook(incidents)` sets what its app shows on each row of an incident list."""
    if hook not in _incident_rows_hooks:
        _incident_rows_hooks.append(hook)


def decorate_incident_rows(incidents: Iterable) -> None:
    rows = list(incidents)
    if rows:
        for hook in _incident_rows_hooks:
            hook(rows)


# --- files given when an incident is opened ---------------------------------------------------
# A customer raising an incident attaches the phishing e-mail or a screenshot with it. The
# files are evidence, which cases keeps (cases.opening_files): how a body of files is received,
# limited and stored is decided there; the alerts app's raise form and open action only ask the
# provider registered here. Without one, the form offers no file input and files are refused.


class IncidentFiles:
    """What the registered provider does (cases.opening_files.EvidenceOnOpen)."""

    def before_body(self, request) -> str:
        """Before the body is read: why it is refused unread, or "" (and receive its files)."""
        raise NotImplementedError

    def cut_short(self, request) -> str:
        """Once the body is read: why a file in it was refused as it arrived, or ""."""
        raise NotImplementedError

    def check(self, access, tenant_id: int, files: list) -> None:
        """Before anything is opened: Invalid when the files are over the tenant's limits."""
        raise NotImplementedError

    def attach(self, incident, files: list, *, actor, access, request, visibility: str) -> list:
        """Keep the files on the new incident, in its transaction; none kept when one fails."""
        raise NotImplementedError

    def hint(self) -> str:
        """What the form says of the limits."""
        raise NotImplementedError


_incident_files: IncidentFiles | None = None


def register_incident_files(provider: IncidentFiles) -> None:
    global _incident_files
    _incident_files = provider


def incident_files() -> IncidentFiles | None:
    return _incident_files


def register_default_severity(hook: Callable[[int, str], str | None]) -> None:
    """`hook(tenant_id, category)` names the severity an incident of that category opened by
    hand without one gets, or None when it has no opinion."""
    if hook not in _default_severity_hooks:
        _default_severity_hooks.append(hook)


def default_severity(tenant_id: int, category: str) -> str | None:
    for hook in _default_severity_hooks:
        found = hook(tenant_id, category)
        if found:
            return found
    return None


# --- custom fields ---------------------------------------------------------------------------
# A tenant's own incident fields are defined and validated by cases (cases.custom_fields); the
# alerts app stores their values (Incident.custom_fields) and asks the provider registered here
# on every write, so that it never imports cases. Without one, an incident has no fields: any
# value sent is refused, none is shown.
_custom_fields: Any = None


def register_custom_fields(provider: Any) -> None:
    """`provider` has definitions_for, visible_values, clean_values, check_required and
    set_values (cases.custom_fields)."""
    global _custom_fields
    _custom_fields = provider


def custom_fields() -> Any:
    return _custom_fields


# --- incident exports --------------------------------------------------------------------------
# What a higher app adds to each row of the incident export (alerts.exports): the SLA state
# (sla). `values(incidents)` answers {incident pk: {column: value}} for one chunk of rows in one
# query, so an export's queries grow with its chunks, never with its rows.


@dataclass(frozen=True)
class ExportColumns:
    columns: tuple[str, ...]
    values: Callable[[list], dict[Any, dict[str, Any]]]


_export_columns: list[ExportColumns] = []


def register_export_columns(columns: tuple[str, ...], values: Callable[[list], dict]) -> None:
    entry = ExportColumns(tuple(columns), values)
    if entry not in _export_columns:  # ready() may run twice (tests); register once
        _export_columns.append(entry)


def export_columns() -> list[ExportColumns]:
    return list(_export_columns)
