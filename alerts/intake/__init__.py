"""One module per source format; FORMATS maps an intake source kind (SourceKind's value) to
its module, each a SourceFormat (alerts.intake.base). The pipeline that runs a request through
them is alerts.intake.receive."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from . import alertmanager, cef, elastic, generic, splunk, suricata, wazuh
from .base import SourceFormat

# In SourceKind's order: the OpenAPI document lists the kinds in this order.
FORMATS: Mapping[str, SourceFormat] = MappingProxyType(
    {
        module.KIND: module
        for module in (generic, wazuh, elastic, splunk, suricata, alertmanager, cef)
    }
)
KINDS = tuple(FORMATS)


def source_module(kind: str) -> SourceFormat:
    """The format module of this kind; KeyError for a kind the intake does not take."""
    return FORMATS[kind]
