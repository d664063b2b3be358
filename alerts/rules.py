"""Per-tenant suppression and correlation rules: validation and matching at intake."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.utils import timezone

from tenants.access import Access

from .intake.base import SEVERITIES, NormalizedAlert
from .models import CorrelationRule, SuppressionRule

MAX_RULES = 200  # per tenant and kind, checked at creation


# Who sees and who changes a tenant's rules (the API's, and any page's to come).
def may_see_rules(access: Access) -> bool:
    """MSSP staff of the tenant and its in-house team (responders, admins); not its viewers."""
    return not access.is_customer or access.is_customer_worker


def may_change_rules(access: Access) -> bool:
    """MSSP staff and the customer's admins."""
    return access.is_mssp_staff or access.is_customer_admin


def validate_conditions(conditions: Any) -> dict:
    """{"rule_id": "5710", "title_contains": "ssh", "category": "...", "source": "<uuid>",
    "severity": ["low", "info"], "observable": {"type": "ip", "value": "10.0.0.1"}}: all given
    conditions must hold; at least one is required."""
    if not isinstance(conditions, dict) or not conditions:
        raise ValueError(
            "Conditions are an object with at least one of: "
            + ", ".join(SuppressionRule.CONDITIONS)
            + "."
        )
    unknown = set(conditions) - set(SuppressionRule.CONDITIONS)
    if unknown:
        raise ValueError(f"Unknown condition(s): {', '.join(sorted(unknown))}.")
    for key in ("rule_id", "title_contains", "category", "source"):
        value = conditions.get(key)
        if value is not None and (
            not isinstance(value, str) or not value.strip() or len(value) > 500
        ):
            raise ValueError(f"{key} is a non-empty string.")
    severity = conditions.get("severity")
    if severity is not None and (
        not isinstance(severity, list) or not severity or not set(severity) <= set(SEVERITIES)
    ):
        raise ValueError(f"severity is a list of {', '.join(SEVERITIES)}.")
    observable = conditions.get("observable")
    if observable is not None and (
        not isinstance(observable, dict)
        or set(observable) != {"type", "value"}
        or not all(isinstance(v, str) for v in observable.values())
    ):
        raise ValueError('observable is {"type": ..., "value": ...}.')
    return conditions


def validate_group_by(fields: Any) -> list[str]:
    if not isinstance(fields, list) or not fields or len(fields) > 5:
        raise ValueError(
            "group_by is a list of 1 to 5 of: " + ", ".join(CorrelationRule.FIELDS) + "."
        )
    unknown = [f for f in fields if f not in CorrelationRule.FIELDS]
    if unknown:
        raise ValueError(f"Unknown field(s): {', '.join(map(str, unknown))}.")
    return sorted(set(fields))


def suppresses(conditions: dict, alert: NormalizedAlert, source_id: str) -> bool:
    if "rule_id" in conditions and alert.rule_id != conditions["rule_id"]:
        return False
    if (
        "title_contains" in conditions
        and conditions["title_contains"].lower() not in alert.title.lower()
    ):
        return False
    if "category" in conditions and alert.category != conditions["category"].lower():
        return False
    if "source" in conditions and source_id != conditions["source"]:
        return False
    if "severity" in conditions and alert.severity not in conditions["severity"]:
        return False
    if "observable" in conditions:
        wanted = (conditions["observable"]["type"], conditions["observable"]["value"].lower())
        if not any((o.type, o.value.lower()) == wanted for o in alert.observables):
            return False
    return True


def correlation_key(rule: CorrelationRule, alert: NormalizedAlert, source_id: str) -> str | None:
    """The group this alert belongs to under `rule`, or None when it lacks a field."""
    values = []
    for name in rule.group_by:
        if name.startswith("observable:"):
            kind = name.split(":", 1)[1]
            found = sorted(o.value for o in alert.observables if o.type == kind)
            value = found[0] if found else None
        else:
            value = {
                "rule_id": alert.rule_id,
                "category": alert.category,
                "source": source_id,
                "title": alert.title,
            }[name] or None
        if value is None:
            return None
        values.append(value)
    digest = hashlib.sha256(json.dumps(values).encode()).hexdigest()[:32]
    return f"corr:{rule.pk.hex}:{digest}"


def active_rules(tenant_id: int) -> tuple[list[SuppressionRule], list[CorrelationRule]]:
    """The tenant's suppression rules in force and its active correlation rules: from this
    process's memory when nothing has changed since they were loaded (alerts.intake.lookups)."""
    from .intake import lookups

    current, remembered = lookups.rules(tenant_id)
    if remembered is not None:
        return remembered
    now = timezone.now()
    suppression = list(
        SuppressionRule.objects.for_tenant(tenant_id)
        .filter(is_active=True, expires_at__gt=now)
        .order_by("created_at")
    )
    correlation = list(CorrelationRule.objects.for_tenant(tenant_id).filter(is_active=True))
    lookups.remember_rules(tenant_id, current, suppression, correlation)
    return suppression, correlation
