"""The portal's presentation kit: the pieces every app's pages repeat (the pager, the severity
badge). In the lowest app, so that every app's templates may
`{% load portal %}` without depending on a higher one."""

from __future__ import annotations

from typing import Any

from django import template
from django.http import QueryDict
from django.utils.html import format_html
from django.utils.text import capfirst

register = template.Library()


@register.inclusion_tag("_pager.html")
def pager(
    next_url: str | None, params: QueryDict | None = None, label: str = "Pages"
) -> dict[str, Any]:
    """The next-page link of a cursor-paged list, and a link back to its first page that keeps
    the list's filters (`params`) but not the cursor, which would lead back to this page."""
    first = ""
    if params:
        first_params = params.copy()
        first_params.pop("cursor", None)
        first = first_params.urlencode()
    return {"next_url": next_url, "first": first, "label": label}


@register.simple_tag
def severity_badge(obj: Any, label: str | None = None) -> str:
    """A severity as a coloured badge. `obj` is a row with a `severity` choice field (an
    alert, an incident, a finding, an indicator) or a severity value itself, whose label
    is then `label` or the value capitalised."""
    if hasattr(obj, "get_severity_display"):
        value, text = obj.severity, obj.get_severity_display()
    else:
        value, text = obj, label if label is not None else capfirst(obj)
    return format_html('<span class="sev sev-{}">{}</span>', value, text)
