"""Scanner formats, one module each: `KIND`, `detect(data)` (from the file's first bytes),
`check_head(data)` (the upload's check: raises FileRefused for a file that is plainly not
this format or hostile, reading only its beginning) and `parse(data)` (yields a ScanRecord or
a Rejected per record, streaming: memory does not grow with the file; raises FileRefused for
a file that cannot be read to its end).

The upload's request checks the head only and answers at once; the import's worker reads the
whole file twice: `check()` (every record counted, nothing kept), then the import."""

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


def _empty(data: bytes) -> bool:
    return not data or data.isspace()  # isspace() stops at the first other byte; no copy


def check_head(kind: str, data: bytes) -> None:
    """The upload's check, reading the beginning of the file only."""
    if _empty(data):
        raise FileRefused("The file is empty.")
    FORMATS[kind].check_head(data)


# Records of one file (rejected ones included): a 50 MB scanner report has some tens of
# thousands; more is a file to split, not to spend hours of a worker on.
MAX_RECORDS = 250_000


def check(kind: str, data: bytes) -> int:
    """Read the whole file once, keeping nothing: its number of records (rejected ones
    included). Raises FileRefused for a file that cannot be read to its end."""
    check_head(kind, data)
    count = 0
    for _ in FORMATS[kind].parse(data):
        count += 1
        if count > MAX_RECORDS:
            raise FileRefused(
                f"The file has more than {MAX_RECORDS:,} records; an import takes at most "
                "that many. Split it."
            )
    return count


def parse(kind: str, data: bytes):
    return FORMATS[kind].parse(data)


__all__ = [
    "FORMATS",
    "FileRefused",
    "Rejected",
    "ScanRecord",
    "check",
    "check_head",
    "detect",
    "parse",
]
