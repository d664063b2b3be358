"""One module per source format; SOURCES maps an intake source kind to its module."""

from importlib import import_module
from types import ModuleType

KINDS = ("generic", "wazuh", "elastic", "splunk", "suricata", "alertmanager", "cef")


def source_module(kind: str) -> ModuleType:
    if kind not in KINDS:
        raise KeyError(kind)
    return import_module(f"{__name__}.{kind}")
