"""{% panels "slot" %}: the panels higher apps registered for a slot of an alerts page
(alerts.extensions), each rendered with the page's own context, as {% include %} would."""

from __future__ import annotations

from django import template
from django.utils.safestring import mark_safe

from alerts.extensions import panels_for

register = template.Library()


@register.simple_tag(takes_context=True)
def panels(context, slot: str) -> str:
    parts = []
    for panel in panels_for(slot):
        if panel.staff_only and not context.get("staff"):
            continue
        page_part = context.template.engine.get_template(panel.template)
        with context.push():
            parts.append(page_part.render(context))
    return mark_safe("".join(parts))  # noqa: S308 - templates rendered with autoescape
