"""Scanner formats, one module each: `KIND`, `detect(data)`, `check(data)` (raises
FileRefused for a file that cannot be imported at all) and `parse(data)` (yields a ScanRecord
or a Rejected per record)."""

from __future__ import annotations

from types import ModuleType

from . import csvfile, nessus, nuclei, openvas
from .base import FileRefused, Rejected, ScanRecord

FORMATS: dict[str, ModuleType] = {
    module.KIND: module for module in (nessus, openvas, nuclei, csvfile)
}
# Which format to try first when the caller names none: the most specific signature first.
DETECTION_ORDER = (nessus, openvas, nuclei, csvfile)


def detect(data: bytes, file_name: str = "") -> str:
    """The format of an upload whose kind was not given."""
    name = file_name.lower()
    if name.endswith(".nessus"):
        return nessus.KIND
    if name.endswith(".jsonl"):
        return nuclei.KIND
    for module in DETECTION_ORDER:
        if module.detect(data):
            return module.KIND
    raise FileRefused(
        "The file's format was not recognised; name it (kind: nessus, openvas, nuclei or csv)."
    )


def check(kind: str, data: bytes) -> None:
    if not data.strip():
        raise FileRefused("The file is empty.")
    FORMATS[kind].check(data)


def parse(kind: str, data: bytes):
    return FORMATS[kind].parse(data)


__all__ = ["FORMATS", "FileRefused", "Rejected", "ScanRecord", "check", "detect", "parse"]
