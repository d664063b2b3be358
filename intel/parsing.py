"""Reading indicator lists: STIX 2.1 bundles, plain lists and CSV. Each reader yields records
(an IndicatorRecord or a RecordError naming the record and why), so that one bad record never
spoils the others.

STIX 2.1 (`kind=stix`): a bundle (`{"type": "bundle", "objects": [...]}`). Each object is
validated by the `stix2` library; `indicator` objects with `pattern_type: "stix"` whose pattern
is one comparison, or comparisons joined by OR, of
    [ipv4-addr:value = '...'] [ipv6-addr:value = '...']   (an address or a CIDR network)
    [domain-name:value = '...'] [url:value = '...'] [email-addr:value = '...']
    [file:hashes.MD5 = '...'] [file:hashes.'SHA-1' = '...'] [file:hashes.'SHA-256' = '...']
become indicators, with `valid_from`, `valid_until`, `confidence`, `name`/`description`, and
the TLP of their `object_marking_refs` (TLP 1.0 and 2.0 marking definitions). Marking
definitions, identities and relationships are read silently; any other object, an AND, a
qualifier (WITHIN, REPEATS ...) or an operator other than `=` is named as unsupported.
The record index is the object's position in `objects`.

Plain list (`kind=text`): one value a line, its type guessed (ip, cidr, url, email, hash,
domain); blank lines and lines starting with `#` are skipped. Index = line number.

CSV (`kind=csv`): a header row, then one indicator a row. Columns (only `value` required):
    value, type, tlp, confidence, severity, source, description, valid_from, valid_until
Unknown columns are ignored; `type` empty means guessed. Index = line number.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime

from alerts.models import Severity
from tenants.api.parsers import loads

from . import normalise
from .models import IndicatorType, Tlp


class UnreadableImport(ValueError):
    """The whole document is unreadable (not a bundle, not UTF-8 ...)."""


@dataclass
class IndicatorRecord:
    index: int
    type: str
    value: str
    attrs: dict = field(default_factory=dict)  # tlp, confidence, severity, source, ...


@dataclass
class RecordError:
    index: int
    error: str


STIX_PATHS = {
    ("ipv4-addr", ("value",)): IndicatorType.CIDR,
    ("ipv6-addr", ("value",)): IndicatorType.CIDR,
    ("domain-name", ("value",)): IndicatorType.DOMAIN,
    ("url", ("value",)): IndicatorType.URL,
    ("email-addr", ("value",)): IndicatorType.EMAIL,
    ("file", ("hashes", "md5")): IndicatorType.MD5,
    ("file", ("hashes", "sha-1")): IndicatorType.SHA1,
    ("file", ("hashes", "sha1")): IndicatorType.SHA1,
    ("file", ("hashes", "sha-256")): IndicatorType.SHA256,
    ("file", ("hashes", "sha256")): IndicatorType.SHA256,
}
# TLP 1.0 (stix2.TLP_*) and TLP 2.0 (the OASIS extension) marking definitions.
TLP_MARKINGS = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": Tlp.CLEAR,
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": Tlp.GREEN,
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": Tlp.AMBER,
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": Tlp.RED,
    "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487": Tlp.CLEAR,
    "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb": Tlp.GREEN,
    "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421": Tlp.AMBER,
    "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003": Tlp.AMBER_STRICT,
    "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1": Tlp.RED,
}
TLP_NAMES = {
    "white": Tlp.CLEAR,
    "clear": Tlp.CLEAR,
    "green": Tlp.GREEN,
    "amber": Tlp.AMBER,
    "amber+strict": Tlp.AMBER_STRICT,
    "red": Tlp.RED,
}
SILENT_TYPES = {"marking-definition", "identity", "relationship", "extension-definition"}
TLP_RANK = [Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED]


def decode(content: bytes | str) -> str:
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise UnreadableImport(f"The file is not UTF-8 text (byte {exc.start}).") from None
    if "\x00" in content:
        raise UnreadableImport(
            f"The file contains a NUL character (at offset {content.index(chr(0))}): "
            "not a text list."
        )
    return content


def records(fmt: str, content: str) -> Iterator[IndicatorRecord | RecordError]:
    match fmt:
        case "stix":
            return stix_records(content)
        case "text":
            return text_records(content)
        case "csv":
            return csv_records(content)
    raise UnreadableImport(f"Unknown format '{fmt}': stix, text or csv.")


def count(fmt: str, content: str) -> int:
    """How many records the document has (for progress), without validating them."""
    if fmt == "stix":
        return len(_bundle_objects(content))
    lines = [line for line in content.splitlines() if line.strip()]
    if fmt == "csv":
        _csv_columns(next(csv.reader(io.StringIO(lines[0] if lines else "")), []))
        return max(0, len(lines) - 1)
    return len(lines)


# --- STIX 2.1 ----------------------------------------------------------------------------------
def _bundle_objects(content: str) -> list:
    try:
        document = loads(content.encode())
    except Exception as exc:  # ParseError
        raise UnreadableImport(f"Not a STIX bundle: {getattr(exc, 'detail', exc)}") from None
    if not isinstance(document, dict) or document.get("type") != "bundle":
        raise UnreadableImport('Not a STIX bundle: expected {"type": "bundle", "objects": [...]}.')
    objects = document.get("objects", [])
    if not isinstance(objects, list):
        raise UnreadableImport("Not a STIX bundle: 'objects' must be a list.")
    return objects


def stix_records(content: str) -> Iterator[IndicatorRecord | RecordError]:
    import stix2
    from stix2.exceptions import STIXError

    objects = _bundle_objects(content)
    markings = _bundle_markings(objects)
    for index, obj in enumerate(objects):
        if not isinstance(obj, dict):
            yield RecordError(index, "not a STIX object (expected a JSON object)")
            continue
        kind = obj.get("type")
        if kind in SILENT_TYPES:
            continue
        if kind != "indicator":
            yield RecordError(index, f"unsupported object type '{str(kind)[:60]}'")
            continue
        try:
            indicator = stix2.parse(obj, allow_custom=True, version="2.1")
        except (STIXError, ValueError, TypeError, KeyError) as exc:
            yield RecordError(index, f"invalid indicator: {str(exc)[:300]}")
            continue
        except Exception as exc:  # the library's own surprises on hostile input
            yield RecordError(index, f"invalid indicator ({type(exc).__name__})")
            continue
        if indicator.get("pattern_type") != "stix":
            yield RecordError(
                index, f"unsupported pattern_type '{str(indicator.get('pattern_type'))[:40]}'"
            )
            continue
        try:
            pairs = _pattern_pairs(indicator["pattern"])
        except ValueError as exc:
            yield RecordError(index, str(exc))
            continue
        attrs = _stix_attrs(indicator, markings)
        for kind_, value in pairs:
            yield IndicatorRecord(index, kind_, value, dict(attrs))


def _bundle_markings(objects: list) -> dict[str, str]:
    """TLP of marking definitions defined in the bundle itself (TLP 2.0 extension or the
    1.0 `definition: {"tlp": ...}`), beside the well-known ids."""
    found = dict(TLP_MARKINGS)
    for obj in objects:
        if not isinstance(obj, dict) or obj.get("type") != "marking-definition":
            continue
        level = None
        definition = obj.get("definition")
        if isinstance(definition, dict) and isinstance(definition.get("tlp"), str):
            level = definition["tlp"]
        for ext in (
            (obj.get("extensions") or {}).values()
            if isinstance(obj.get("extensions"), dict)
            else ()
        ):
            if isinstance(ext, dict) and isinstance(ext.get("tlp_2_0"), str):
                level = ext["tlp_2_0"]
        name = obj.get("name")
        if level is None and isinstance(name, str) and name.upper().startswith("TLP:"):
            level = name[4:]
        if level and str(level).lower() in TLP_NAMES and isinstance(obj.get("id"), str):
            found[obj["id"]] = TLP_NAMES[str(level).lower()]
    return found


def _pattern_pairs(pattern: str) -> list[tuple[str, str]]:
    from stix2 import patterns as p
    from stix2.pattern_visitor import create_pattern_object

    try:
        tree = create_pattern_object(pattern, version="2.1")
    except Exception as exc:  # the pattern grammar's own errors
        raise ValueError(f"bad pattern: {str(exc)[:200]}") from None
    if not isinstance(tree, p.ObservationExpression):
        raise ValueError(
            "unsupported pattern: only one observation ([...]) without AND, FOLLOWEDBY or "
            "qualifiers is supported"
        )
    operand = tree.operand
    comparisons = operand.operands if isinstance(operand, p.OrBooleanExpression) else [operand]
    pairs = []
    for comparison in comparisons:
        if not isinstance(comparison, p.EqualityComparisonExpression) or comparison.negated:
            raise ValueError(
                "unsupported pattern: only '=' comparisons, alone or joined by OR, are supported"
            )
        path = comparison.lhs
        steps = tuple(
            str(getattr(step, "property_name", "")).strip("'").lower()
            for step in path.property_path
        )
        kind = STIX_PATHS.get((path.object_type_name, steps))
        if kind is None:
            raise ValueError(
                f"unsupported observable {path.object_type_name}:{'.'.join(steps)} "
                "(ipv4-addr, ipv6-addr, domain-name, url, email-addr values and file hashes)"
            )
        value = getattr(comparison.rhs, "value", None)
        if not isinstance(value, str):
            raise ValueError("unsupported pattern: the compared value must be a string")
        pairs.append((kind, value))
    return pairs


def _stix_attrs(indicator, markings: dict[str, str]) -> dict:
    attrs: dict = {}
    levels = [markings[ref] for ref in indicator.get("object_marking_refs", []) if ref in markings]
    if levels:
        attrs["tlp"] = max(levels, key=TLP_RANK.index)
    if indicator.get("confidence") is not None:
        attrs["confidence"] = int(indicator["confidence"])
    if indicator.get("valid_from"):
        attrs["valid_from"] = _aware(indicator["valid_from"])
    if indicator.get("valid_until"):
        attrs["valid_until"] = _aware(indicator["valid_until"])
    description = indicator.get("description") or indicator.get("name") or ""
    attrs["description"] = str(description)[:5000]
    return attrs


def _aware(value) -> datetime:
    moment = value if isinstance(value, datetime) else parse_datetime(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- plain lists and CSV -----------------------------------------------------------------------
def text_records(content: str) -> Iterator[IndicatorRecord | RecordError]:
    for number, line in enumerate(content.splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            kind, value = normalise.guess(text)
        except normalise.InvalidIndicator as exc:
            yield RecordError(number, str(exc))
            continue
        yield IndicatorRecord(number, kind, value)


CSV_COLUMNS = (
    "value",
    "type",
    "tlp",
    "confidence",
    "severity",
    "source",
    "description",
    "valid_from",
    "valid_until",
)


def csv_records(content: str) -> Iterator[IndicatorRecord | RecordError]:
    reader = csv.reader(io.StringIO(content))
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise UnreadableImport(f"Malformed CSV header: {exc}") from None
    columns = _csv_columns(header)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RecordError(reader.line_num, f"malformed CSV: {exc}")
            continue
        number = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(columns):
            yield RecordError(number, f"{len(row)} cells but the header names {len(columns)}")
            continue
        cells = {columns[i]: cell.strip() for i, cell in enumerate(row)}
        try:
            yield _csv_record(number, cells)
        except (normalise.InvalidIndicator, ValueError) as exc:
            yield RecordError(number, str(exc))


def _csv_columns(header: list[str]) -> list[str]:
    columns = [h.strip().lower() for h in header]
    if "value" not in columns:
        raise UnreadableImport(
            "The CSV header must name a 'value' column (columns: " + ", ".join(CSV_COLUMNS) + ")."
        )
    return columns


def _csv_record(number: int, cells: dict[str, str]) -> IndicatorRecord:
    value = cells.get("value", "")
    kind = cells.get("type", "").lower()
    kind, value = normalise.normalise(kind, value) if kind else normalise.guess(value)
    attrs: dict = {}
    if cells.get("tlp"):
        attrs["tlp"] = tlp_of(cells["tlp"])
    if cells.get("confidence"):
        attrs["confidence"] = confidence_of(cells["confidence"])
    if cells.get("severity"):
        attrs["severity"] = severity_of(cells["severity"])
    for name in ("source", "description"):
        if cells.get(name):
            attrs[name] = cells[name][: 200 if name == "source" else 5000]
    for name in ("valid_from", "valid_until"):
        if cells.get(name):
            attrs[name] = moment_of(cells[name], name)
    return IndicatorRecord(number, kind, value, attrs)


def tlp_of(text: str) -> str:
    key = text.strip().lower().removeprefix("tlp:")
    if key not in TLP_NAMES:
        raise ValueError(f"tlp '{text[:40]}' is not one of {', '.join(Tlp.values)}")
    return TLP_NAMES[key]


def confidence_of(text) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise ValueError(f"confidence '{str(text)[:40]}' is not a whole number 0-100") from None
    if not 0 <= value <= 100:
        raise ValueError(f"confidence {value} is not between 0 and 100")
    return value


def severity_of(text: str) -> str:
    value = text.strip().lower()
    if value not in Severity.values:
        raise ValueError(f"severity '{text[:40]}' is not one of {', '.join(Severity.values)}")
    return value


def moment_of(text: str, name: str) -> datetime:
    try:
        moment = parse_datetime(text.strip())
    except ValueError:
        moment = None
    if moment is None:
        raise ValueError(f"{name} '{text[:40]}' is not an ISO 8601 date-time")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
