from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet
from django.http import HttpRequest
from rest_framework import pagination

# Only for annotations: DRF imports this module from its settings, before its views are ready.
if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.response import Response
    from rest_framework.views import APIView


class CursorPagination(pagination.CursorPagination):
    """Cursor pagination (stable under inserts); views name their unique `cursor_ordering`."""

    ordering = "-pk"
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_ordering(
        self, request: Request, queryset: QuerySet[Any], view: APIView
    ) -> tuple[str, ...]:
        ordering = getattr(view, "cursor_ordering", None) or self.ordering
        return (ordering,) if isinstance(ordering, str) else tuple(ordering)


class KeysetPagination(pagination.BasePagination):
    """Cursor pagination on a composite, mixed-direction ordering (e.g. urgency: severity
    descending, then oldest first, then id). The cursor holds the last row's key, so page 500
    costs what page 1 costs (an index range scan), and inserts never shift pages.

    Views set `keyset_ordering` (fields, "-" for descending; the last must be unique) and may
    set `count_cap` to answer a capped total ("count", "count_is_capped")."""

    page_size = 50
    max_page_size = 500
    count_cap = 10_000

    # Set by paginate_queryset, read by get_paginated_response.
    request: Request
    ordering: list[str]
    fields: list[str]
    size: int
    count: int | None
    capped: bool | None
    has_next: bool
    next_values: list[Any] | None

    # A keyset needs a queryset's columns, not any sequence; `view` is anything with a
    # `keyset_ordering` (and maybe `count_cap`): a view, or paginate_page's namespace.
    def paginate_queryset(  # type: ignore[override]
        self, queryset: QuerySet[Any], request: Request, view: Any = None
    ) -> list[Any]:
        import base64
        import json

        from django.core.exceptions import ValidationError as DjangoValidationError
        from rest_framework.exceptions import ValidationError

        self.request = request
        self.ordering = list(view.keyset_ordering)
        self.fields = [f.lstrip("-") for f in self.ordering]
        try:
            self.size = min(
                int(request.query_params.get("page_size", self.page_size)), self.max_page_size
            )
        except ValueError:
            raise ValidationError({"page_size": "A whole number."}) from None
        if self.size < 1:
            raise ValidationError({"page_size": "At least 1."})
        self.count = self.capped = None
        if getattr(view, "count_cap", None):
            capped = queryset.order_by()[: view.count_cap + 1].count()
            self.count, self.capped = min(capped, view.count_cap), capped > view.count_cap
        cursor = request.query_params.get("cursor")
        if cursor:
            try:
                values = json.loads(base64.urlsafe_b64decode(cursor.encode()).decode())
                if not isinstance(values, list) or len(values) != len(self.fields):
                    raise ValueError("cursor shape")
            except Exception:  # any malformed cursor is the client's error
                raise ValidationError({"cursor": "Not a cursor this list gave out."}) from None
        # First the page's keys, from the rows' own table alone: the joins of the view's
        # select_related are then made for the page's rows only, never for every row a sort
        # has to read, and the key query stays cheap to plan.
        pk = queryset.model._meta.pk.name
        names = self.fields if pk in self.fields else [*self.fields, pk]
        keys = queryset.values_list(*names)
        if cursor:
            try:
                page = list(self._after(keys, values))
            except (ValueError, TypeError, DjangoValidationError):  # a value of the wrong type
                raise ValidationError({"cursor": "Not a cursor this list gave out."}) from None
        else:
            page = list(keys.order_by(*self.ordering)[: self.size + 1])
        self.has_next = len(page) > self.size
        page = page[: self.size]
        at = names.index(pk)
        found = queryset.order_by().in_bulk([key[at] for key in page]) if page else {}
        rows = [found[key[at]] for key in page if key[at] in found]
        self.next_values = None
        if self.has_next and page:
            last = page[-1]
            self.next_values = [self._json_value(v) for v in last[: len(self.fields)]]
        return rows

    def _after(self, queryset: QuerySet[Any], values: list[Any]) -> QuerySet[Any]:
        """The next page after the cursor's key, as a UNION ALL of one range per ordering
        position: (a, b, c) after (x, y, z) is [a=x AND b=y AND c>z] then [a=x AND b>y] then
        [a>x] (">" read per direction). Each branch is ordered and limited on its own, so with
        an index on the ordering each one starts reading where the cursor points and stops
        after a page: page 500 costs what page 1 costs. (The same condition written as one
        OR cannot seek an index: PostgreSQL reads from the first row and filters, as OFFSET
        does.) The branches are disjoint and at most `size + 1` rows each; their union is
        sorted once more."""
        from django.db import connections
        from django.db.models import Q

        limit = self.size + 1
        conditions = []
        for depth in reversed(range(len(self.fields))):
            equal = {self.fields[i]: values[i] for i in range(depth)}
            op = "lt" if self.ordering[depth].startswith("-") else "gt"
            conditions.append(Q(**equal, **{f"{self.fields[depth]}__{op}": values[depth]}))
        if not connections[queryset.db].features.supports_slicing_ordering_in_compound:
            # SQLite refuses LIMIT inside a compound SELECT: one OR of the same ranges (the
            # embedded mode's lists are small enough that the plan does not matter).
            either = conditions[0]
            for condition in conditions[1:]:
                either |= condition
            return queryset.filter(either).order_by(*self.ordering)[:limit]
        branches = [queryset.filter(c).order_by(*self.ordering)[:limit] for c in conditions]
        return branches[0].union(*branches[1:], all=True).order_by(*self.ordering)[:limit]

    @staticmethod
    def _json_value(value: Any) -> Any:
        from datetime import datetime
        from uuid import UUID

        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, UUID):
            return str(value)
        return value

    def get_paginated_response(self, data: Any) -> Response:
        import base64
        import json

        from rest_framework.response import Response
        from rest_framework.utils.urls import replace_query_param

        next_url = None
        if self.next_values is not None:
            cursor = base64.urlsafe_b64encode(json.dumps(self.next_values).encode()).decode()
            next_url = replace_query_param(self.request.build_absolute_uri(), "cursor", cursor)
        body: dict[str, Any] = {"next": next_url, "results": data}
        if self.count is not None:
            body = {"count": self.count, "count_is_capped": self.capped, **body}
        return Response(body)

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["results"],
            "properties": {
                "count": {"type": "integer", "description": "Up to the cap."},
                "count_is_capped": {"type": "boolean"},
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }


PAGE_SIZE = 50


@dataclass
class Page:
    """One page of a portal list: its rows, the link to the next page (None on the last),
    and, when asked for, the list's total up to a cap."""

    rows: list[Any]
    next_url: str | None
    count: int | None = None
    count_is_capped: bool | None = None


def paginate_page(
    request: HttpRequest,
    queryset: QuerySet[Any],
    ordering: str | Sequence[str],
    *,
    keyset: bool = False,
    page_size: int = PAGE_SIZE,
    count_cap: int | None = None,
) -> Page:
    """One page of `queryset` for a portal page, by the API's own pagination, so a page shows
    the rows its API twin does. `keyset` pages by KeysetPagination on a composite `ordering`
    (the last field unique; `count_cap` asks for a capped total); otherwise by
    CursorPagination on one field. A cursor the list did not give out is a ValidationError
    on `cursor`, whichever the pagination."""
    from rest_framework.exceptions import NotFound, ValidationError
    from rest_framework.request import Request

    ordering = (ordering,) if isinstance(ordering, str) else tuple(ordering)
    drf_request = Request(request)
    if keyset:
        paginator = KeysetPagination()
        paginator.page_size = page_size
        view = SimpleNamespace(keyset_ordering=ordering, count_cap=count_cap)
        rows = paginator.paginate_queryset(queryset, drf_request, view)
        next_url = paginator.get_paginated_response([]).data["next"]
        return Page(rows, next_url, paginator.count, paginator.capped)
    cursor_paginator = CursorPagination()
    # DRF takes a tuple of fields as well as one (its stubs say str only).
    cursor_paginator.ordering = ordering  # type: ignore[assignment]
    cursor_paginator.page_size = page_size
    try:
        cursor_rows = cursor_paginator.paginate_queryset(queryset, drf_request)
    except NotFound:  # DRF's answer to a cursor it did not give out: the caller's mistake
        raise ValidationError({"cursor": "Not a page link this list gave out."}) from None
    return Page(cursor_rows or [], cursor_paginator.get_next_link())
