"""{% tlp_badge item.tlp %} and {% pap_badge item.pap %}: the TLP 2.0 label of an item, in its
colours and in words (never colour alone), with what it means as its title."""

from __future__ import annotations

from django import template
from django.utils.html import format_html

from alerts import tlp
from alerts.models import Pap, Tlp

register = template.Library()


@register.simple_tag
def tlp_badge(level: str | None) -> str:
    level = level or Tlp.GREEN
    label = tlp.marking_label(level)
    return format_html(
        '<span class="tlp tlp-{}" title="{}: {}">{}</span>',
        level.replace("+", "-"),
        label,
        tlp.MEANINGS.get(level, tlp.MEANINGS[Tlp.RED]),  # type: ignore[call-overload]
        label,
    )


@register.simple_tag
def pap_badge(level: str | None) -> str:
    level = level or Pap.GREEN
    label = Pap(level).label if level in Pap.values else "PAP:RED"
    return format_html('<span class="pap pap-{}">{}</span>', level, label)


@register.inclusion_tag("alerts/_tlp_select.html")
def tlp_select(choices, name: str = "tlp", current: str = "", field_id: str = "") -> dict:
    """A select offering only the levels the caller may set (alerts.tlp.settable)."""
    return {"choices": choices, "name": name, "current": current or Tlp.GREEN, "id": field_id}
