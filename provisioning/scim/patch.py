"""PATCH (RFC 7644 §3.5.2) applied to a resource's JSON representation: the result is then
saved exactly as a PUT of it would be, so both go through the same checks.

Handles what identity providers send: Entra ID's capitalised ops ("Replace"), paths such as
`name.givenName`, `emails[type eq "work"].value`, the enterprise extension's
`urn:...:enterprise:2.0:User:department`, members added or removed as `[{"value": id}]`;
Okta's op without a path whose value is an object (`{"active": false}`) and its
`members[value eq "id"]` removal.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from . import filters
from .errors import ScimError
from .schemas import MAX_OPERATIONS, PATCH_OP

_PATH = re.compile(
    r"^(?P<attr>[A-Za-z$][\w$-]*)(?:\[(?P<filter>.*)\])?(?:\.(?P<sub>[A-Za-z$][\w$-]*))?$"
)


@dataclass(frozen=True)
class Schema:
    """What PATCH needs to know of a resource: its core schema URN, its attributes' names and
    sub-attributes (lower-cased -> canonical), which are multi-valued, and its extensions."""

    core: str
    names: dict[str, str]
    subs: dict[str, dict[str, str]]
    multi: frozenset[str]
    extensions: dict[str, tuple[dict[str, str], dict[str, dict[str, str]]]]


@dataclass(frozen=True)
class Path:
    container: str  # "" for the core schema, else an extension URN
    attr: str
    value_filter: filters.Node | None
    sub: str


def invalid_path(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidPath")


def parse_path(raw: Any, schema: Schema) -> Path:
    if not isinstance(raw, str) or not raw.strip():
        raise invalid_path("A PATCH path is a non-empty string.")
    text = raw.strip()
    container = ""
    names, subs = schema.names, schema.subs
    lowered = text.lower()
    for urn, (ext_names, ext_subs) in schema.extensions.items():
        if lowered.startswith(urn.lower() + ":"):
            container, names, subs = urn, ext_names, ext_subs
            text = text[len(urn) + 1 :]
            break
        if lowered == urn.lower():
            raise invalid_path("Name an attribute of the extension, or send it as a value.")
    else:
        if lowered.startswith(schema.core.lower() + ":"):
            text = text[len(schema.core) + 1 :]
    match = _PATH.match(text)
    if match is None:
        raise invalid_path(f"{raw!r} is not an attribute path.")
    attr = names.get(match["attr"].lower())
    if attr is None or attr in ("id", "meta", "schemas"):
        raise invalid_path(f"{match['attr']!r} is not an attribute that can be changed.")
    value_filter = filters.parse(match["filter"]) if match["filter"] is not None else None
    sub = ""
    if match["sub"]:
        sub = subs.get(attr.lower(), {}).get(match["sub"].lower(), "")
        if not sub:
            raise invalid_path(f"{attr} has no sub-attribute {match['sub']!r}.")
    if value_filter is not None and attr not in schema.multi:
        raise invalid_path(f"{attr} is not multi-valued: it takes no [filter].")
    return Path(container, attr, value_filter, sub)


def apply(document: dict[str, Any], body: Any, schema: Schema) -> dict[str, Any]:
    """The representation after the PatchOp `body`; raises ScimError (400) for anything it
    cannot do. The input is not changed."""
    if not isinstance(body, dict):
        raise ScimError(400, "A PATCH body is a JSON object.", "invalidSyntax")
    if PATCH_OP not in (body.get("schemas") or []):
        raise ScimError(400, f"A PATCH body names the schema {PATCH_OP}.", "invalidSyntax")
    operations = body.get("Operations", body.get("operations"))
    if not isinstance(operations, list) or not operations:
        raise ScimError(400, "A PATCH body has a non-empty Operations list.", "invalidSyntax")
    if len(operations) > MAX_OPERATIONS:
        raise ScimError(400, f"At most {MAX_OPERATIONS} operations per request.", "tooMany")
    result = copy.deepcopy(document)
    for index, operation in enumerate(operations):
        if not isinstance(operation, dict):
            raise ScimError(400, f"Operation {index} is not an object.", "invalidSyntax")
        op = str(operation.get("op", "")).lower()
        if op not in ("add", "replace", "remove"):
            raise ScimError(
                400, f"Operation {index}: op is add, replace or remove.", "invalidSyntax"
            )
        path = operation.get("path")
        value = operation.get("value")
        if path is None or path == "":
            if op == "remove":
                raise ScimError(400, f"Operation {index}: remove needs a path.", "noTarget")
            if not isinstance(value, dict):
                raise ScimError(
                    400, f"Operation {index}: without a path, value is an object.", "invalidValue"
                )
            for key, item in value.items():
                if key.lower() in (urn.lower() for urn in schema.extensions) and isinstance(
                    item, dict
                ):
                    for ext_key, ext_item in item.items():
                        _apply_one(
                            result, op, parse_path(f"{key}:{ext_key}", schema), ext_item, schema
                        )
                    continue
                if key.lower() in ("schemas", "id", "meta"):
                    continue  # Okta repeats the id; read-only attributes are ignored
                _apply_one(result, op, parse_path(key, schema), item, schema)
        else:
            _apply_one(result, op, parse_path(path, schema), value, schema)
    return result


def _container(document: dict[str, Any], path: Path) -> dict[str, Any]:
    if not path.container:
        return document
    extension = document.get(path.container)
    if not isinstance(extension, dict):
        extension = {}
        document[path.container] = extension
    return extension


def _apply_one(document: dict[str, Any], op: str, path: Path, value: Any, schema: Schema) -> None:
    target = _container(document, path)
    multi = path.attr in schema.multi and not path.container
    if op == "remove":
        _remove(target, path, value, multi)
        return
    if multi and path.value_filter is not None:
        _set_matching(target, path, value)
        return
    if path.sub:  # name.givenName
        current = target.get(path.attr)
        if not isinstance(current, dict):
            current = {}
        current[path.sub] = value
        target[path.attr] = current
        return
    if multi:
        items = value if isinstance(value, list) else [value]
        if op == "replace":
            target[path.attr] = items
        else:
            existing = target.get(path.attr) or []
            target[path.attr] = existing + [item for item in items if item not in existing]
        return
    if op == "add" and isinstance(value, dict) and isinstance(target.get(path.attr), dict):
        target[path.attr] = {**target[path.attr], **value}
        return
    target[path.attr] = value


def _set_matching(target: dict[str, Any], path: Path, value: Any) -> None:
    items = target.get(path.attr) or []
    if not isinstance(items, list):
        items = []
    found = False
    for index, item in enumerate(items):
        if path.value_filter is not None and filters.matches(path.value_filter, item):
            found = True
            if path.sub:
                items[index] = {**item, path.sub: value}
            elif isinstance(value, dict):
                items[index] = {**item, **value}
            else:
                raise invalid_path(f"Replacing an element of {path.attr} takes an object.")
    if not found:
        # `emails[type eq "work"].value` on a user with no work e-mail: Entra ID's way to add
        # one. The filter's own equality gives the new element's other attribute.
        new = _element_from_filter(path.value_filter)
        if new is None:
            raise ScimError(400, f"No element of {path.attr} matches the filter.", "noTarget")
        if path.sub:
            new[path.sub] = value
        elif isinstance(value, dict):
            new.update(value)
        items.append(new)
    target[path.attr] = items


def _element_from_filter(node: filters.Node | None) -> dict[str, Any] | None:
    if isinstance(node, filters.Compare) and node.op == "eq" and "." not in node.attr:
        return {node.attr: node.value}
    return None


def _remove(target: dict[str, Any], path: Path, value: Any, multi: bool) -> None:
    if path.attr not in target:
        return
    if multi and path.value_filter is not None:
        items = target.get(path.attr) or []
        if path.sub:
            for item in items:
                if filters.matches(path.value_filter, item):
                    item.pop(path.sub, None)
        else:
            target[path.attr] = [
                item for item in items if not filters.matches(path.value_filter, item)
            ]
        return
    if multi and isinstance(value, list):
        # Entra ID: {"op": "Remove", "path": "members", "value": [{"value": "<id>"}]}
        drop = {str(item.get("value")) for item in value if isinstance(item, dict)}
        target[path.attr] = [
            item
            for item in target.get(path.attr) or []
            if not (isinstance(item, dict) and str(item.get("value")) in drop)
        ]
        return
    if path.sub:
        current = target.get(path.attr)
        if isinstance(current, dict):
            current.pop(path.sub, None)
        return
    target.pop(path.attr, None)
