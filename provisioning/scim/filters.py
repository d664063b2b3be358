"""SCIM filters (RFC 7644 §3.4.2.2): parsed into a small tree, which is either turned into a
Django Q over a resource's attribute map (list queries) or evaluated on a JSON element (the
value filters of PATCH paths, `members[value eq "..."]`).

Grammar: expr := term ("or" term)*; term := factor ("and" factor)*;
factor := ["not"] "(" expr ")" | attrPath "pr" | attrPath op value, op one of eq ne co sw ew
gt ge lt le, value a JSON string, number, true, false or null.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from .errors import ScimError

MAX_FILTER_LENGTH = 1000
OPERATORS = frozenset({"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr"})

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<lparen>\() | (?P<rparen>\))
    | (?P<word>[A-Za-z0-9_.:$\-]+)
    )""",
    re.VERBOSE,
)


def invalid(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidFilter")


@dataclass(frozen=True)
class Compare:
    attr: str  # the path as written, e.g. "userName", "emails.value", "name.givenName"
    op: str
    value: Any = None


@dataclass(frozen=True)
class Logical:
    op: str  # "and" | "or"
    left: Node
    right: Node


@dataclass(frozen=True)
class Not:
    inner: Node


Node = Compare | Logical | Not


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise invalid(
                f"Cannot read the filter at character {position + 1}: {text[position:][:20]!r}."
            )
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        if len(text) > MAX_FILTER_LENGTH:
            raise invalid(f"The filter is longer than {MAX_FILTER_LENGTH} characters.")
        self.tokens = _tokens(text)
        self.position = 0
        self.depth = 0

    def peek_word(self) -> str:
        if self.position < len(self.tokens) and self.tokens[self.position][0] == "word":
            return self.tokens[self.position][1].lower()
        return ""

    def take(self) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            raise invalid("The filter ends too early.")
        token = self.tokens[self.position]
        self.position += 1
        return token

    def parse(self) -> Node:
        if not self.tokens:
            raise invalid("The filter is empty.")
        node = self.expr()
        if self.position != len(self.tokens):
            raise invalid(f"Unexpected {self.tokens[self.position][1]!r} in the filter.")
        return node

    def expr(self) -> Node:
        node = self.term()
        while self.peek_word() == "or":
            self.position += 1
            node = Logical("or", node, self.term())
        return node

    def term(self) -> Node:
        node = self.factor()
        while self.peek_word() == "and":
            self.position += 1
            node = Logical("and", node, self.factor())
        return node

    def factor(self) -> Node:
        negate = False
        if self.peek_word() == "not":
            self.position += 1
            negate = True
        kind, text = self.take()
        if kind == "lparen":
            self.depth += 1
            if self.depth > 10:
                raise invalid("The filter is nested too deeply.")
            node = self.expr()
            if self.take()[0] != "rparen":
                raise invalid("A parenthesis is not closed.")
            self.depth -= 1
            return Not(node) if negate else node
        if kind != "word" or negate:
            raise invalid(f"Expected an attribute, found {text!r}.")
        op_kind, op = self.take()
        op = op.lower()
        if op_kind != "word" or op not in OPERATORS:
            raise invalid(f"{op!r} is not a SCIM filter operator (eq, ne, co, sw, ew, pr, ...).")
        if op == "pr":
            return Compare(text, "pr")
        value_kind, raw = self.take()
        if value_kind == "string":
            try:
                value: Any = json.loads(raw)
            except ValueError:
                raise invalid(f"{raw!r} is not a valid string.") from None
        elif raw.lower() in ("true", "false", "null"):
            value = {"true": True, "false": False, "null": None}[raw.lower()]
        elif re.fullmatch(r"-?\d+(\.\d+)?", raw):
            value = json.loads(raw)
        else:
            raise invalid(f'{raw!r} is not a value: quote strings, as in userName eq "bjensen".')
        return Compare(text, op, value)


def parse(text: str) -> Node:
    return _Parser(text).parse()


# --- to a database query -----------------------------------------------------------------------
# A resource's filterable attributes: the lower-cased SCIM path -> a function of (op, value)
# returning a Q, or raising ScimError for an operator it does not support.
AttrMap = dict[str, Callable[[str, Any], Q]]


def string_q(field: str, *, case_exact: bool = False) -> Callable[[str, Any], Q]:
    lookups = {
        "eq": "exact" if case_exact else "iexact",
        "co": "contains" if case_exact else "icontains",
        "sw": "startswith" if case_exact else "istartswith",
        "ew": "endswith" if case_exact else "iendswith",
    }

    def compile_(op: str, value: Any) -> Q:
        if op == "pr":
            return ~Q(**{field: ""}) & Q(**{f"{field}__isnull": False})
        if op == "ne":
            return ~compile_("eq", value)
        if op not in lookups:
            raise invalid(f"The operator {op!r} is not supported on this attribute.")
        if not isinstance(value, str):
            raise invalid("This attribute is compared with a string.")
        return Q(**{f"{field}__{lookups[op]}": value})

    return compile_


def bool_q(field: str) -> Callable[[str, Any], Q]:
    def compile_(op: str, value: Any) -> Q:
        if op == "pr":
            return Q()
        if op not in ("eq", "ne") or not isinstance(value, bool):
            raise invalid("This attribute is compared with eq or ne and true or false.")
        return Q(**{field: value}) if op == "eq" else ~Q(**{field: value})

    return compile_


def to_q(node: Node, attrs: AttrMap) -> Q:
    if isinstance(node, Logical):
        left, right = to_q(node.left, attrs), to_q(node.right, attrs)
        return left & right if node.op == "and" else left | right
    if isinstance(node, Not):
        return ~to_q(node.inner, attrs)
    name = _strip_urn(node.attr).lower()
    if name not in attrs:
        supported = ", ".join(sorted(attrs))
        raise invalid(f"Filtering on {node.attr!r} is not supported; use one of: {supported}.")
    return attrs[name](node.op, node.value)


def _strip_urn(path: str) -> str:
    """`urn:...:User:userName` -> `userName` (a core attribute named by its schema)."""
    if path.lower().startswith("urn:"):
        return path.rsplit(":", 1)[-1]
    return path


# --- on one JSON element (PATCH value filters) ---------------------------------------------------
def matches(node: Node, element: Any) -> bool:
    if isinstance(node, Logical):
        if node.op == "and":
            return matches(node.left, element) and matches(node.right, element)
        return matches(node.left, element) or matches(node.right, element)
    if isinstance(node, Not):
        return not matches(node.inner, element)
    if not isinstance(element, dict):
        return False
    value = _lookup(element, node.attr)
    if node.op == "pr":
        return value not in (None, "", [], {})
    if isinstance(value, str) and isinstance(node.value, str):
        left, right = value.lower(), node.value.lower()
    else:
        left, right = value, node.value
    if node.op == "eq":
        return bool(left == right)
    if node.op == "ne":
        return bool(left != right)
    if not isinstance(left, str) or not isinstance(right, str):
        return False
    if node.op == "co":
        return right in left
    if node.op == "sw":
        return left.startswith(right)
    if node.op == "ew":
        return left.endswith(right)
    return _ordered(node.op, left, right)


def _ordered(op: str, left: str, right: str) -> bool:
    return {"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[op]


def _lookup(element: dict[str, Any], path: str) -> Any:
    value: Any = element
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = next((v for k, v in value.items() if k.lower() == part.lower()), None)
    return value
