"""What a user can do with response actions, once for the pages and the API
(tenants.actions): check with response.policy, validate with the API's serializers, do
through response.services (timeline, audit, events, the run task)."""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest

from alerts.models import Incident
from connectors.models import Connector
from tenants.access import Access
from tenants.actions import Action, Invalid
from tenants.models import Tenant, User

from . import policy, services
from .api.serializers import (
    ActionPolicyChangeSerializer,
    ActionPolicySetSerializer,
    ActionRequestSerializer,
    DecisionSerializer,
    RejectSerializer,
    ReverseSerializer,
)
from .models import ActionKind, ActionPolicy, ActionStatus, ApprovalMode, ResponseAction

_KEY = re.compile(r"\A[A-Za-z0-9._:~-]{1,100}\Z")


def _key(request: HttpRequest | None, given: str) -> str:
    """The body's idempotency key, else the Idempotency-Key header's (the same rule)."""
    if given or request is None:
        return given
    header = request.headers.get("Idempotency-Key", "")
    if header and not _KEY.fullmatch(header):
        raise Invalid({"idempotency_key": ["At most 100 letters, digits and . _ : ~ -."]})
    return header


def _connector(incident: Incident, connector_id: Any) -> Connector | None:
    found: Connector | None = (
        Connector.objects.for_tenant(incident.tenant_id).filter(pk=connector_id).first()
    )
    return found


def _request(
    incident: Incident,
    /,
    *,
    actor: User,
    access: Access,
    request: HttpRequest | None = None,
    connector: Any,
    action: str,
    target: str,
    reason: str = "",
    idempotency_key: str = "",
    **_: Any,
) -> ResponseAction:
    return services.action_request(
        incident,
        actor=actor,
        by_customer=access.is_customer,
        connector=_connector(incident, connector),
        action=action,
        target=target,
        reason=reason,
        idempotency_key=_key(request, idempotency_key),
        request=request,
    )


def _said(row: ResponseAction) -> str:
    label = f"{ActionKind(row.action).label} {row.target}"
    if not getattr(row, "created", True):
        return f"Already requested: {label} is {ActionStatus(row.status).label.lower()}."
    if row.status == ActionStatus.AWAITING_APPROVAL:
        return f"{label}: asked the customer's on-call for approval."
    return f"{label}: {ActionStatus(row.status).label.lower()}."


REQUEST = Action(
    "response.request",
    do=_request,
    check=policy.check_request,
    serializer=ActionRequestSerializer,
    done=_said,
)


def _approve(
    row: ResponseAction, /, *, actor: User, request: Any = None, note: str = "", **_: Any
) -> ResponseAction:
    return services.action_approve(row, actor=actor, note=note, request=request)


def _reject(
    row: ResponseAction, /, *, actor: User, request: Any = None, reason: str = "", **_: Any
) -> ResponseAction:
    return services.action_reject(row, actor=actor, reason=reason, request=request)


def _reverse(
    row: ResponseAction,
    /,
    *,
    actor: User,
    access: Access,
    request: Any = None,
    reason: str = "",
    idempotency_key: str = "",
    **_: Any,
) -> ResponseAction:
    return services.action_reverse(
        row,
        actor=actor,
        by_customer=access.is_customer,
        reason=reason,
        idempotency_key=_key(request, idempotency_key),
        request=request,
    )


APPROVE = Action(
    "response.approve",
    do=_approve,
    check=policy.check_decide,
    serializer=DecisionSerializer,
    done=lambda row: f"Approved: {ActionKind(row.action).label} {row.target} runs now.",
)
REJECT = Action(
    "response.reject",
    do=_reject,
    check=policy.check_decide,
    serializer=RejectSerializer,
    done=lambda row: f"Rejected: {ActionKind(row.action).label} {row.target} will not run.",
)
REVERSE = Action(
    "response.reverse",
    do=_reverse,
    check=policy.check_reverse,
    serializer=ReverseSerializer,
    done=_said,
)


# --- the contract --------------------------------------------------------------------------------
def _set_policy(
    tenant: Tenant, /, *, actor: User, request: Any = None, action: str, **fields: Any
) -> ActionPolicy:
    return services.contract_set(tenant.pk, action, actor=actor, request=request, **fields)


def _change_policy(
    row: ActionPolicy, /, *, actor: User, request: Any = None, **fields: Any
) -> ActionPolicy:
    return services.contract_set(row.tenant_id, row.action, actor=actor, request=request, **fields)


def _policy_done(row: ActionPolicy) -> str:
    return f"{ActionKind(row.action).label}: {ApprovalMode(row.mode).label.lower()}."


SET_POLICY = Action(
    "response.policy_set",
    do=_set_policy,
    check=lambda access, tenant: policy.check_set_contract(access, tenant.pk),
    serializer=ActionPolicySetSerializer,
    done=_policy_done,
    step_up=True,  # what the MSSP may do to the customer's systems without asking
)
CHANGE_POLICY = Action(
    "response.policy_change",
    do=_change_policy,
    check=lambda access, row: policy.check_set_contract(access, row.tenant_id),
    serializer=ActionPolicyChangeSerializer,
    done=_policy_done,
    step_up=True,
)
