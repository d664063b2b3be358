"""/api/v1/schedules/: on-call schedules of the MSSP's teams and of the caller's tenants' teams,
who is on call now and next, their shifts, overrides, and iCalendar export and import.
Changes run the actions of oncall.actions."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import django_filters
from django.db import models
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, renderers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from tenants.api.actions import api_perform
from tenants.api.base import TenantScopedViewSet
from tenants.api.parsers import SafeJSONParser
from tenants.models import User
from tenants.permissions import ADMIN, READ

from .. import actions, feeds, ical, rotation
from ..models import Override, Schedule
from .serializers import (
    EARLIEST,
    LATEST,
    MAX_SHIFTS_RANGE,
    OUT_OF_RANGE,
    CalendarImportResultSerializer,
    CalendarImportSerializer,
    FeedLinkSerializer,
    OnCallSerializer,
    OverrideInputSerializer,
    OverrideSerializer,
    ScheduleInputSerializer,
    ScheduleSerializer,
    ShiftsSerializer,
)

DEFAULT_SHIFTS_DAYS = 7
MAX_LISTED_OVERRIDES = 1000
# A Content-Length this far above the calendar's limit is refused before anything is read
# (multipart wrapping allowed for).
MULTIPART_SLACK = 64 * 1024


# --- request and response formats --------------------------------------------------------------
class CalendarParser(BaseParser):
    """A calendar sent as the raw body (text/calendar, or text/plain)."""

    media_type = "text/*"

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> dict[str, str]:
        raw: bytes = stream.read(ical.MAX_BYTES + 1) if stream is not None else b""
        try:
            return {"calendar": ical.decode(raw)}
        except ical.CalendarError as exc:
            raise ValidationError({"calendar": [str(exc)]}) from None


class CalendarRenderer(renderers.BaseRenderer):
    """Lets a client ask for text/calendar; an error in answer is still the contract's JSON."""

    media_type = "text/calendar"
    format = "ics"
    charset = None

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if isinstance(data, bytes | bytearray):
            return bytes(data)
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = "application/json"
        return json.dumps(data).encode()


def moment_param(request: Request, name: str, time_zone: str) -> datetime | None:
    """An ISO 8601 query parameter: a date-time (without an offset: the schedule's local
    time) or a date (its local midnight). None when absent; 400 naming it when unreadable."""
    text = request.query_params.get(name)
    if text is None or text == "":
        return None
    zone = ZoneInfo(time_zone)
    try:
        moment = parse_datetime(text[:64])
        if moment is None:
            day = parse_date(text[:64])
            moment = datetime.combine(day, time()) if day is not None else None
    except ValueError:
        moment = None
    if moment is None:
        raise ValidationError(
            {name: "A date-time (2026-03-29T09:00:00+02:00) or a date (2026-03-29)."}
        )
    try:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        moment = moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValidationError({name: OUT_OF_RANGE}) from None
    if not EARLIEST <= moment < LATEST:
        raise ValidationError({name: OUT_OF_RANGE})
    return moment


def people(user_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """{"id", "username", "name"} of each user, by id (a deleted user keeps their id)."""
    wanted = set(user_ids)
    found = {
        user.pk: {
            "id": user.pk,
            "username": user.username,
            "name": user.get_full_name() or user.username,
        }
        for user in User.objects.filter(pk__in=wanted).only(
            "pk", "username", "first_name", "last_name"
        )
    }
    for user_id in wanted - set(found):
        found[user_id] = {"id": user_id, "username": "", "name": "(deleted user)"}
    return found


# --- schedules ---------------------------------------------------------------------------------
class ScheduleFilter(django_filters.FilterSet):  # type: ignore[misc]
    team = django_filters.UUIDFilter(field_name="team_id")
    tenant = django_filters.CharFilter(field_name="tenant__slug", max_length=63)
    mssp = django_filters.BooleanFilter(
        field_name="tenant", lookup_expr="isnull", label="Only the MSSP teams' schedules."
    )

    class Meta:
        model = Schedule
        fields: list[str] = []


@extend_schema(
    summary="On-call schedules",
    description="Schedules of the MSSP's teams (MSSP staff only) and of the caller's tenants' "
    "teams. Layers are inline, lowest first; a later layer wins where it has somebody on "
    "call, overrides win over every layer. Hand-offs and restrictions are wall-clock times "
    "in the schedule's time zone.",
)
class ScheduleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    scoped_model = Schedule
    serializer_class = ScheduleSerializer
    filterset_class = ScheduleFilter
    cursor_ordering = "-id"  # UUIDv7: newest first
    include_mssp_rows = True  # MSSP staff read the MSSP tiers' schedules; customers never
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    # Schedules are administration (like contacts and webhooks); overrides and imported
    # overrides are work (`write`, the default for a POST).
    # A subscription link reads the schedule and nothing more: viewers, whose tokens never
    # have `write`, subscribe too.
    required_scope = {
        "create": ADMIN,
        "partial_update": ADMIN,
        "destroy": ADMIN,
        "feed_link": READ,
    }

    def scope_queryset(self, queryset: models.QuerySet[Any]) -> models.QuerySet[Any]:
        return queryset.select_related("team", "tenant").prefetch_related("layers")

    def _schedule(self) -> Schedule:
        return cast(Schedule, self.get_object())  # the viewset's model

    def _answer(self, schedule: Schedule, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=schedule.pk)
        return Response(ScheduleSerializer(fresh).data, status=code)

    @extend_schema(request=ScheduleInputSerializer, responses={201: ScheduleSerializer})
    def create(self, request: Request) -> Response:
        schedule = api_perform(self, actions.SCHEDULE_CREATE, None)
        return self._answer(schedule, status.HTTP_201_CREATED)

    @extend_schema(request=ScheduleInputSerializer, responses=ScheduleSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        schedule = api_perform(self, actions.SCHEDULE_UPDATE, self._schedule())
        return self._answer(schedule)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        api_perform(self, actions.SCHEDULE_DELETE, self._schedule(), data={})
        return Response(status=status.HTTP_204_NO_CONTENT)

    # --- who is on call ----------------------------------------------------------------------
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "at",
                str,
                description="ISO 8601 (default: now); without an offset, the schedule's "
                "local time.",
            )
        ],
        responses=OnCallSerializer,
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def oncall(self, request: Request, pk: str | None = None) -> Response:
        """Who is on call at `at`, when that next changes and who is on call then."""
        schedule = self._schedule()
        at = moment_param(request, "at", schedule.time_zone) or timezone.now()
        now, handoff, then = schedule.now_and_next(at)
        found = people([*now, *then])
        return Response(
            {
                "at": at,
                "on_call": [found[u] for u in now],
                "next_handoff": handoff,
                "next": [found[u] for u in then],
            }
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("start", str, description="ISO 8601 date-time or date; default now."),
            OpenApiParameter(
                "end", str, description="Default: 7 days after start; at most 90 days after it."
            ),
        ],
        responses=ShiftsSerializer,
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def shifts(self, request: Request, pk: str | None = None) -> Response:
        """The final shifts in [start, end): after layers, restrictions and overrides."""
        schedule = self._schedule()
        start = moment_param(request, "start", schedule.time_zone) or timezone.now()
        end = moment_param(request, "end", schedule.time_zone) or (
            start + timedelta(days=DEFAULT_SHIFTS_DAYS)
        )
        if end <= start:
            raise ValidationError({"end": "It ends before it starts."})
        if end - start > MAX_SHIFTS_RANGE:
            raise ValidationError({"end": "At most 90 days after start."})
        found = rotation.shifts(schedule.spec(start, end), start, end)
        names = people(shift.user_id for shift in found)
        return Response(
            {
                "start": start,
                "end": end,
                "time_zone": schedule.time_zone,
                "shifts": [
                    {
                        "user": names[shift.user_id],
                        "start": shift.start,
                        "end": shift.end,
                        "source": shift.source,
                    }
                    for shift in found
                ],
            }
        )

    # --- overrides ---------------------------------------------------------------------------
    @extend_schema(
        methods=["GET"],
        parameters=[
            OpenApiParameter("since", str, description="Those ending after it; default now.")
        ],
        responses=OverrideSerializer(many=True),
    )
    @extend_schema(
        methods=["POST"],
        request=OverrideInputSerializer,
        responses={201: OverrideSerializer},
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def overrides(self, request: Request, pk: str | None = None) -> Response:
        """The schedule's current and coming overrides (at most 1000, soonest first); POST
        adds one (a swap is two)."""
        schedule = self._schedule()
        if request.method == "POST":
            override = api_perform(self, actions.OVERRIDE_CREATE, schedule)
            override = schedule.overrides.select_related("user", "created_by").get(pk=override.pk)
            return Response(OverrideSerializer(override).data, status=status.HTTP_201_CREATED)
        since = moment_param(request, "since", schedule.time_zone) or timezone.now()
        rows = (
            schedule.overrides.filter(end__gt=since)
            .select_related("user", "created_by")
            .order_by("start", "id")[:MAX_LISTED_OVERRIDES]
        )
        return Response(OverrideSerializer(rows, many=True).data)

    # --- iCalendar ---------------------------------------------------------------------------
    @extend_schema(responses={(200, "text/calendar"): OpenApiTypes.BINARY})
    @action(
        detail=True,
        methods=["get"],
        pagination_class=None,
        renderer_classes=[renderers.JSONRenderer, CalendarRenderer],
    )
    def ical(self, request: Request, pk: str | None = None) -> HttpResponse:
        """The next 60 days of shifts as an iCalendar feed: one event per shift, "On call:
        <username>", each with a UID that stays the same from one fetch to the next."""
        return feeds.calendar_response(self._schedule())

    @extend_schema(
        methods=["GET"],
        responses=FeedLinkSerializer,
        summary="Your subscription link to this schedule's feed",
    )
    @extend_schema(
        methods=["POST"],
        request=None,
        responses={201: FeedLinkSerializer},
        summary="Make your subscription link (replaces the one you had)",
        description="A URL a calendar app subscribes to without a session or a header. Its "
        "secret is in the URL and is answered only here, once. Every fetch checks that you "
        "still read the schedule.",
    )
    @extend_schema(methods=["DELETE"], request=None, responses={204: None})
    @action(detail=True, methods=["get", "post", "delete"], url_path="feed-link")
    def feed_link(self, request: Request, pk: str | None = None) -> Response:
        schedule = self._schedule()
        if request.method == "POST":
            made = api_perform(self, actions.FEED_LINK_CREATE, schedule, data={})
            url = request.build_absolute_uri(reverse("oncall-feed", args=[made.raw]))
            data = FeedLinkSerializer(FeedLinkSerializer.of(made.token, url)).data
            return Response(data, status=status.HTTP_201_CREATED)
        if request.method == "DELETE":
            api_perform(self, actions.FEED_LINK_DELETE, schedule, data={})
            return Response(status=status.HTTP_204_NO_CONTENT)
        token = feeds.link_of(cast(User, request.user), schedule)
        return Response(FeedLinkSerializer(FeedLinkSerializer.of(token)).data)

    @extend_schema(
        request={
            "application/json": CalendarImportSerializer,
            "multipart/form-data": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
            },
            "text/calendar": OpenApiTypes.STR,
        },
        responses={
            200: CalendarImportResultSerializer,
            400: OpenApiResponse(
                description="Not a calendar, larger than 1 MiB, or not UTF-8 (`calendar`)."
            ),
        },
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="import-ical",
        pagination_class=None,
        parser_classes=[SafeJSONParser, MultiPartParser, CalendarParser],
    )
    def import_ical(self, request: Request, pk: str | None = None) -> Response:
        """Import a rotation from iCalendar (a .ics export of another tool): every event that
        names one member of the team, by an ATTENDEE's e-mail address or its SUMMARY ("On
        call: alice"), becomes an override; the others are listed in `skipped` with why.
        Recurring events (RRULE, RDATE, EXDATE, instances moved or cancelled with a
        RECURRENCE-ID) become their occurrences over the next 90 days; a rule repeating more
        often than hourly, or too costly to expand, is a 400 naming it. Importing the same
        file again adds nothing."""
        schedule = self._schedule()
        result = api_perform(
            self, actions.CALENDAR_IMPORT, schedule, data=self._calendar_input(request)
        )
        return Response(
            {
                "created": OverrideSerializer(result.created, many=True).data,
                "skipped": result.skipped,
            }
        )

    @staticmethod
    def _calendar_input(request: Request) -> dict[str, Any]:
        """{"calendar": text} from a JSON body, a multipart `file` or a raw text body. Too large
        a calendar is refused before it is read."""
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if declared.isdigit() and int(declared) > ical.MAX_BYTES + MULTIPART_SLACK:
            raise ValidationError(
                {"calendar": [f"The calendar is larger than {ical.MAX_BYTES // 1024} KiB."]}
            )
        data = request.data
        if not isinstance(data, Mapping):
            raise ValidationError({"detail": "The request body must be a JSON object."})
        upload = data.get("file")
        if (request.content_type or "").startswith("multipart/form-data"):
            if upload is None or not hasattr(upload, "read"):
                raise ValidationError({"calendar": ["Attach the calendar as 'file'."]})
            if upload.size > ical.MAX_BYTES:
                raise ValidationError(
                    {"calendar": [f"The calendar is larger than {ical.MAX_BYTES // 1024} KiB."]}
                )
            try:
                return {"calendar": ical.decode(upload.read())}
            except ical.CalendarError as exc:
                raise ValidationError({"calendar": [str(exc)]}) from None
        return dict(data)


# --- overrides ---------------------------------------------------------------------------------
class OverrideViewSet(mixins.RetrieveModelMixin, mixins.DestroyModelMixin, TenantScopedViewSet):
    """One override: read it, or remove it (the schedule's managers, its author, or the person
    it names). List and add them under their schedule: /api/v1/schedules/{id}/overrides/."""

    scoped_model = Override
    serializer_class = OverrideSerializer
    include_mssp_rows = True
    http_method_names = ["get", "delete", "head", "options"]

    def scope_queryset(self, queryset: models.QuerySet[Any]) -> models.QuerySet[Any]:
        return queryset.select_related("schedule", "user", "created_by")

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        api_perform(self, actions.OVERRIDE_DELETE, self.get_object(), data={})
        return Response(status=status.HTTP_204_NO_CONTENT)
