"""A JSON parser for hostile input: strict UTF-8, bounded nesting, finite numbers, no NUL
characters (PostgreSQL cannot store them), each refused with a message that says which."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 32


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise ParseError("JSON strings may not contain NUL (\\u0000) characters.")
    # json accepts "\ud800" escapes that name half a character; no database can store them
    if _LONE_SURROGATE.search(text):
        raise ParseError("JSON strings may not contain unpaired surrogates (\\ud800-\\udfff).")


def check_structure(document: Any, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Depth and NUL check without recursion (a hostile document cannot overflow the stack)."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > max_depth:
                raise ParseError(f"JSON nested deeper than {max_depth} levels.")
            children = node.items() if isinstance(node, dict) else enumerate(node)
            for key, value in children:
                if isinstance(key, str):
                    _check_text(key)
                stack.append((value, depth + 1))
        elif isinstance(node, str):
            _check_text(node)


def loads(raw: bytes) -> Any:
    """Parse one JSON document from bytes with the checks above; raises ParseError."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(f"The body is not valid UTF-8 (byte {exc.start}).") from None
    try:
        document = json.loads(text, parse_float=_finite, parse_constant=_no_constants)
    except RecursionError:
        raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.") from None
    except ValueError as exc:
        raise ParseError(f"Malformed JSON: {exc}") from None
    check_structure(document)
    return document


class SafeJSONParser(JSONParser):
    def parse(
        self,
        stream: IO[Any] | None,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        if stream is None:
            return {}
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if limit else stream.read()
        if limit and len(raw) > limit:
            from .errors import PayloadTooLarge

            raise PayloadTooLarge()
        return loads(raw)
