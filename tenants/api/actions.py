"""The API's adapter over tenants.actions: a refusal is a 403, an invalid input or state a 400
(or the status the error names), each in the contract's error shape (tenants.api.errors)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import exceptions

from ..actions import (
    Action,
    ActionError,
    Invalid,
    Refused,
    StepUpRequired,
    error_sentence,
    perform,
)
from .errors import CODES


class ActionFailed(exceptions.APIException):
    """An ActionError with a status other than 400 or 403 (409: the state conflicts)."""

    def __init__(self, error: ActionError) -> None:
        self.status_code = error.status_code
        self.error_code = CODES.get(error.status_code, "error")
        super().__init__(error_sentence(error.detail))


class StepUpNeeded(exceptions.PermissionDenied):
    """A dangerous action in a session whose second factor is too old: 403 naming the page
    that asks for it again (tenants.actions.Action.step_up)."""

    error_code = "step_up_required"

    def __init__(self, detail: str) -> None:
        from ..mfa import step_up_page

        super().__init__(detail)
        self.extra = {"reauthenticate": step_up_page()}


def api_perform(
    view: Any,
    action: Action,
    target: Any,
    *,
    data: Any = None,
    context: dict[str, Any] | None = None,
) -> Any:
    """Run `action` for an API view (a ScopedAPIView: `view.access`, `view.request`); its
    body is the action's input unless `data` is given."""
    request = view.request
    if data is None:
        data = request.data
        if action.serializer is not None and not isinstance(data, Mapping):
            # A JSON null, list or scalar body: not "no fields", which would pass a partial
            # update with nothing in it.
            raise exceptions.ValidationError({"detail": "The request body must be a JSON object."})
    try:
        return perform(
            action,
            access=view.access,
            target=target,
            data=data,
            actor=request.user,
            request=request._request,
            context=context,
        )
    except StepUpRequired as exc:
        raise StepUpNeeded(error_sentence(exc.detail)) from None
    except Refused as exc:
        if exc.status_code == 403:
            raise exceptions.PermissionDenied(error_sentence(exc.detail)) from None
        raise ActionFailed(exc) from None
    except Invalid as exc:
        if exc.status_code != 400:
            raise ActionFailed(exc) from None
        detail = exc.detail if isinstance(exc.detail, dict | list) else {"detail": exc.detail}
        raise exceptions.ValidationError(detail) from None


def require_step_up(request: Any) -> None:
    """The step-up rule of Action.step_up for a view that is not an action (webhooks)."""
    from ..mfa import is_session_request, stepped_up

    if is_session_request(request) and not stepped_up(request):
        raise StepUpNeeded(error_sentence(StepUpRequired().detail))
