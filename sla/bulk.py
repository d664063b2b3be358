"""Many rows of one model in one INSERT, for the sweep's batches (timeline, audit, outbox).

On PostgreSQL the rows travel as one JSON document that json_populate_recordset() expands on
the server. Django's bulk_create() binds every value on the client instead, and psycopg's
client-side binding quotes each element of its UNNEST arrays in Python: a third of a sweep
worker's CPU at 1,600 firings a second (the intake does the same for alerts, alerts/ingest.py).
Elsewhere (SQLite), bulk_create().
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache

from django.db import connection, models

try:
    import orjson
except ImportError:  # pragma: no cover - a dependency; json is the fallback
    orjson = None

INSERT_SQL = """
INSERT INTO {table} ({columns})
SELECT {values} FROM json_populate_recordset(NULL::{table}, %s::json) AS r
{conflict}
"""


@cache
def _plan(model: type[models.Model], ignore_conflicts: bool) -> tuple[str, list]:
    fields = model._meta.concrete_fields
    quote = connection.ops.quote_name
    values = [
        # json_populate_recordset() reads JSON null as SQL NULL: store it as Django does
        f"coalesce(r.{quote(f.column)}, 'null'::jsonb)"
        if f.get_internal_type() == "JSONField" and not f.null
        else f"r.{quote(f.column)}"
        for f in fields
    ]
    sql = INSERT_SQL.format(
        table=quote(model._meta.db_table),
        columns=", ".join(quote(f.column) for f in fields),
        values=", ".join(values),
        conflict="ON CONFLICT DO NOTHING" if ignore_conflicts else "",
    )
    return sql, list(fields)


def insert(model: type[models.Model], rows: list, *, ignore_conflicts: bool = False) -> None:
    """Insert these unsaved instances of `model` (as bulk_create(rows, ignore_conflicts))."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model._base_manager.bulk_create(rows, ignore_conflicts=ignore_conflicts)
        return
    sql, fields = _plan(model, ignore_conflicts)
    document = [{f.column: f.pre_save(row, True) for f in fields} for row in rows]
    with connection.cursor() as cursor:
        cursor.execute(sql, [_json_text(document)])
    for row in rows:
        row._state.adding, row._state.db = False, connection.alias


def _json_text(document) -> str:
    if orjson is not None:
        try:
            return orjson.dumps(document).decode()
        except TypeError:  # orjson.JSONEncodeError: json below says what it can
            pass
    return json.dumps(document, separators=(",", ":"), default=_json_default)


def _json_default(value) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)
