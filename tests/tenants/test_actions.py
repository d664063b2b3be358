"""The action kernel (tenants.actions) and its two adapters: the order check → validate → do,
one transaction, and how each adapter says no."""

from __future__ import annotations

import json

import pytest
from django.contrib.messages import get_messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from rest_framework import exceptions, serializers
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from tenants.access import Access
from tenants.actions import Action, Invalid, Refused, page_perform, perform
from tenants.api.actions import ActionFailed, api_perform
from tenants.api.errors import exception_handler
from tenants.models import Tenant
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db  # do runs in a transaction

STAFF = Access(user_id=1, staff_role="analyst_l1")
CUSTOMER = Access(user_id=2, customer_role="viewer", customer_tenant_id=1)


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=10)


def staff_only(access, target):
    if not access.is_mssp_staff:
        raise Refused("Only MSSP staff do this.")


def record(calls):
    def do(target, *, actor, access, request, **validated):
        calls.append((target, validated))
        return target

    return do


def test_check_runs_before_the_input_is_read_and_nothing_is_done_when_refused():
    calls = []
    action = Action("note", do=record(calls), check=staff_only, serializer=NoteSerializer)
    with pytest.raises(Refused, match="Only MSSP staff"):
        perform(action, access=CUSTOMER, target="t", data={"note": "x" * 500})
    assert calls == []


def test_the_serializer_decides_the_input_and_do_gets_validated_data():
    calls = []
    action = Action("note", do=record(calls), check=staff_only, serializer=NoteSerializer)
    with pytest.raises(Invalid) as refused:
        perform(action, access=STAFF, target="t", data={"note": "x" * 11})
    assert "note" in refused.value.detail
    assert calls == []
    assert perform(action, access=STAFF, target="t", data={"note": "fine"}) == "t"
    assert calls == [("t", {"note": "fine"})]


def test_do_is_one_transaction_an_error_undoes_its_writes():
    def do(target, **_):
        TenantFactory(slug="half-done")
        raise Invalid("The state does not allow it.")

    with pytest.raises(Invalid):
        perform(Action("half", do=do), access=STAFF, target=None)
    assert not Tenant.objects.filter(slug="half-done").exists()


def _api_view(data, access=STAFF):
    body = APIRequestFactory().post("/x/", json.dumps(data), content_type="application/json")
    request = Request(body, parsers=[JSONParser()])
    request._request.user = request._user = None  # no database user needed here

    class View:
        pass

    view = View()
    view.request, view.access = request, access
    return view


def _api_body(exc):
    response = exception_handler(exc, {})
    return response.status_code, response.data


def test_api_adapter_answers_403_400_and_409_in_the_contract_shape():
    action = Action("note", do=record([]), check=staff_only, serializer=NoteSerializer)
    with pytest.raises(exceptions.PermissionDenied) as refused:
        api_perform(_api_view({"note": "x"}, CUSTOMER), action, "t")
    assert _api_body(refused.value) == (
        403,
        {"error": "forbidden", "detail": "Only MSSP staff do this."},
    )

    with pytest.raises(exceptions.ValidationError) as invalid:
        api_perform(_api_view({"note": "x" * 11}), action, "t")
    status, body = _api_body(invalid.value)
    assert status == 400 and body["error"] == "invalid" and "note" in body["fields"]

    def conflict(target, **_):
        raise Invalid("Already accepted.", status_code=409)

    with pytest.raises(ActionFailed) as failed:
        api_perform(_api_view({}), Action("accept", do=conflict), "t")
    assert _api_body(failed.value) == (409, {"error": "conflict", "detail": "Already accepted."})


def _page_request(data):
    request = RequestFactory().post("/x/", data)
    request.user = None
    request._messages = CookieStorage(request)
    return request


def test_page_adapter_says_no_as_a_403_page_or_a_message_and_done_on_success():
    action = Action(
        "note",
        do=record([]),
        check=staff_only,
        serializer=NoteSerializer,
        done=lambda target: f"Noted on {target}.",
    )
    with pytest.raises(PermissionDenied, match="Only MSSP staff"):
        page_perform(_page_request({"note": "x"}), action, access=CUSTOMER, target="t")

    request = _page_request({"note": "x" * 11})
    assert page_perform(request, action, access=STAFF, target="t") == (False, None)
    assert [str(m) for m in get_messages(request)] == [
        "note: Ensure this field has no more than 10 characters."
    ]

    request = _page_request({"note": "fine"})
    assert page_perform(request, action, access=STAFF, target="t") == (True, "t")
    assert [str(m) for m in get_messages(request)] == ["Noted on t."]


def test_api_adapter_refuses_a_body_that_is_not_an_object():
    """A JSON null is not "no fields": a partial update with it would change nothing and say
    200."""
    calls = []
    action = Action("note", do=record(calls), serializer=NoteSerializer)
    for body in (None, [], ["note"], "note", 3):
        view = _api_view(body)
        with pytest.raises(exceptions.ValidationError) as invalid:
            api_perform(view, action, "t")
        assert _api_body(invalid.value)[1]["detail"] == "The request body must be a JSON object."
    assert calls == []
