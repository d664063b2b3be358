"""{% tlp_badge item.tlp %} and {% pap_badge item.pap %}: the TLP 2.0 label of an item, in its
colours and in words (never colour alone), with what it means as its title."""

from __future__ import annotations

from django import template
from django.utils.html import format_html

from alerts import tlp
from alerts.models import Pap, Tlp
from tenants.access import access_for

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


@register.inclusion_tag("alerts/_tlp_select.html", takes_context=True)
def tlp_select(
    context, field_id: str, current: str = "", *, mssp_authored: bool = False, what: str = ""
) -> dict:
    """A select of the TLP levels the signed-in caller may set on an item (alerts.tlp.settable:
    every level for MSSP staff, up to AMBER+STRICT for a customer's responders and admins on
    what they author, none otherwise: then nothing is shown)."""
    request = context.get("request")
    access = getattr(request, "access", None) or access_for(getattr(request, "user", None))
    return {
        "choices": tlp.settable(access, mssp_authored=mssp_authored),
        "current": current or Tlp.GREEN,
        "id": field_id,
        "what": what,
    }


@register.inclusion_tag("alerts/_pap_select.html", takes_context=True)
def pap_select(context, field_id: str, current: str = "", *, mssp_authored: bool = False) -> dict:
    request = context.get("request")
    access = getattr(request, "access", None) or access_for(getattr(request, "user", None))
    may = access.is_mssp_staff or (access.is_customer_worker and not mssp_authored)
    return {"choices": Pap.choices if may else [], "current": current or Pap.GREEN, "id": field_id}
