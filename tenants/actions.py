"""One path for every action: check, then do. Pages and the API are thin adapters over it.

Each app declares what a user can do to its objects in its `actions` module, one `Action` per
thing (Zulip's check_*/do_* split, zerver/actions/):

- `serializer`: the input's rules, the API's serializer. A page posts the same field names and
  is validated by the same class, so each limit is stated once.
- `check(access, target)`: may this caller do this to this target, now? It raises `Refused`
  (403) with a sentence a user understands. Role and object rules live in the app's `policy`
  module; `check` calls them, so a page that offers a button and the server that accepts the
  click ask the same question.
- `do(target, *, actor, access, request, **validated)`: the write, its audit entry and its
  stream event, in one transaction. A state that forbids it raises `Invalid` (400, or the
  status given).

`perform()` runs the three in that order. The API adapter (`tenants.api.actions`) turns
`Refused`/`Invalid` into DRF's 403/400 with the documented error shape; the page adapter
(`page_perform` below) into a 403 page or a message above the form, and the action's `done`
sentence on success. Neither adapter decides anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from allauth.core.exceptions import ReauthenticationRequired
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest
from rest_framework import serializers

from .access import Access

# An error's detail: a sentence, or DRF-style field errors ({"field": ["message", ...]}).
Detail = str | dict[str, Any] | list[Any]


class ActionError(Exception):
    """Why an action was not done. `detail` is a sentence, or DRF-style field errors
    ({"field": ["message", ...]}) when the input is at fault."""

    status_code = 400

    def __init__(self, detail: Detail, *, status_code: int | None = None) -> None:
        super().__init__(detail if isinstance(detail, str) else str(detail))
        self.detail = detail
        if status_code is not None:
            self.status_code = status_code


class Refused(ActionError):
    """This caller may not do this (their role, their tenant, the object's state for them)."""

    status_code = 403


class StepUpRequired(Refused):
    """A dangerous action in a session whose last second factor is too old (Action.step_up)."""

    def __init__(self) -> None:
        from .mfa import step_up_message

        super().__init__(step_up_message())


class Invalid(ActionError):
    """The input, or the target's state, does not allow it."""


@dataclass(frozen=True)
class Action:
    name: str
    do: Callable[..., Any]
    check: Callable[[Access, Any], None] | None = None
    serializer: type[serializers.Serializer[Any]] | None = None
    # The page's message on success: a sentence, or a function of the result.
    done: str | Callable[[Any], str] = "Done."
    # The input changes the target (the API's PATCH): the serializer gets the target as its
    # instance, and only the fields given are validated; the others keep their values.
    changes_target: bool = False
    # Dangerous (API tokens, intake keys, members and roles, channels and webhooks, exports):
    # inside a session it needs the second factor given within STEP_UP_MINUTES (tenants.mfa);
    # pages go through allauth's reauthentication and back, the API answers 403. A request
    # with an API token is not a session: its token's scopes govern it.
    step_up: bool = False

    def done_message(self, result: Any) -> str:
        return self.done(result) if callable(self.done) else self.done

    def validate(self, data: Any, context: dict[str, Any] | None = None) -> dict[str, Any]:
        """The serializer's validated data, or Invalid with its field errors."""
        if self.serializer is None:
            return {}
        context = context or {}
        data = data if data is not None else {}
        if self.changes_target:
            serializer = self.serializer(
                context.get("target"), data=data, context=context, partial=True
            )
        else:
            serializer = self.serializer(data=data, context=context)
        if not serializer.is_valid():
            raise Invalid(serializer.errors)
        return dict(serializer.validated_data)


def perform(
    action: Action,
    *,
    access: Access,
    target: Any,
    data: Any = None,
    actor: Any = None,
    request: HttpRequest | None = None,
    context: dict[str, Any] | None = None,
) -> Any:
    """Check, validate, do: the only way an action runs, from a page, the API or a task."""
    if action.check is not None:
        action.check(access, target)
    if action.step_up and request is not None:
        from .mfa import is_session_request, stepped_up

        if is_session_request(request) and not stepped_up(request):
            raise StepUpRequired()
    validated = action.validate(data, {"access": access, "target": target, **(context or {})})
    with transaction.atomic():
        return action.do(target, actor=actor, access=access, request=request, **validated)


def error_sentence(detail: Detail | tuple[Any, ...]) -> str:
    """An ActionError's detail as one sentence for a page's message."""
    if isinstance(detail, dict):
        return " ".join(
            f"{'' if field in ('detail', 'non_field_errors', '__all__') else f'{field}: '}"
            f"{error_sentence(messages_)}"
            for field, messages_ in detail.items()
        )
    if isinstance(detail, list | tuple):
        return " ".join(error_sentence(item) for item in detail)
    return str(detail)


def page_perform(
    request: HttpRequest,
    action: Action,
    *,
    access: Access,
    target: Any,
    data: Any = None,
    context: dict[str, Any] | None = None,
) -> tuple[bool, Any]:
    """Run `action` for a page's POST: a refusal is the 403 page, an invalid input or state a
    message above the form, success the action's `done` message. Returns (done, result)."""
    try:
        result = perform(
            action,
            access=access,
            target=target,
            data=request.POST if data is None else data,
            actor=request.user,
            request=request,
            context=context,
        )
    except StepUpRequired:
        # allauth's middleware keeps this POST, asks for the second factor, then replays it
        raise ReauthenticationRequired() from None
    except Refused as exc:
        raise PermissionDenied(error_sentence(exc.detail)) from None
    except Invalid as exc:
        messages.error(request, error_sentence(exc.detail))
        return False, None
    messages.success(request, action.done_message(result))
    return True, result
