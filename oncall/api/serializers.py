"""The on-call API's shapes: schedules with their layers inline, overrides, who is on call, and
the calendar import's input. Each rule of the input is stated here once (oncall.actions runs
these serializers for the API, and would for a page)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from tenants.access import NO_ACCESS, Access
from tenants.models import Team, User, validate_business_hours, validate_timezone

from .. import ical
from ..models import FeedToken, Layer, Override, Rotation, Schedule, team_people

MAX_LAYERS = 10
MAX_PARTICIPANTS = 100
MAX_SHIFT_HOURS = 90 * 24
MAX_OVERRIDE = timedelta(days=90)
MAX_SHIFTS_RANGE = timedelta(days=90)
# Moments a schedule deals in: far from the ends of the calendar, where a rotation's
# arithmetic would overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
OUT_OF_RANGE = "A moment between 1970 and 2199."


def check_time_zone(value: str) -> str:
    try:
        validate_timezone(value)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.messages) from None
    return value


def in_zone(moment: datetime, time_zone: str, field: str) -> datetime:
    """`moment` as an aware UTC datetime: one without an offset is the schedule's local time.
    Refuses moments outside EARLIEST..LATEST with the field's name."""
    try:
        if moment.tzinfo is None or moment.utcoffset() is None:
            moment = moment.replace(tzinfo=ZoneInfo(time_zone))
        moment = moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise serializers.ValidationError({field: OUT_OF_RANGE}) from None
    if not EARLIEST <= moment < LATEST:
        raise serializers.ValidationError({field: OUT_OF_RANGE})
    return moment


class LocalDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date-time; one without an offset is kept naive here and read in the
    schedule's time zone by the serializer (`in_zone`)."""

    def enforce_timezone(self, value: datetime) -> datetime:
        if value.tzinfo is None:
            return value
        result: datetime = super().enforce_timezone(value)
        return result


class PersonSerializer(serializers.Serializer[User]):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)
    name = serializers.SerializerMethodField()

    def get_name(self, user: User) -> str:
        return user.get_full_name() or user.username


# --- layers ------------------------------------------------------------------------------------
class LayerSerializer(serializers.Serializer[Layer]):
    """One rotation. `participants` are user ids in rotation order, each a member of the
    schedule's team; `restriction`, when given, limits the layer to weekly windows in the
    schedule's time zone ({"mon": [["09:00", "17:00"]], ...}; "24:00" ends a day)."""

    position = serializers.IntegerField(
        read_only=True, help_text="0 is the lowest layer; later layers win where they have someone."
    )
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    participants = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**31 - 1),
        max_length=MAX_PARTICIPANTS,
        allow_empty=True,
    )
    rotation = serializers.ChoiceField(choices=Rotation.choices)
    shift_hours = serializers.IntegerField(
        min_value=1,
        max_value=MAX_SHIFT_HOURS,
        required=False,
        allow_null=True,
        default=None,
        help_text="Custom rotations only: the length of a shift in wall-clock hours.",
    )
    rotation_start = LocalDateTimeField(
        help_text="The first hand-off; every hand-off is at its local time (and, weekly, its "
        "weekday). Without an offset: the schedule's local time."
    )
    restriction = serializers.JSONField(required=False, allow_null=True, default=None)

    def validate_restriction(self, value: Any) -> Any:
        if value is None:
            return None
        try:
            validate_business_hours(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        if not any(value.values()):
            raise serializers.ValidationError(
                "Give at least one window, or null for a layer that is always on."
            )
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["rotation"] == Rotation.CUSTOM and not attrs.get("shift_hours"):
            raise serializers.ValidationError({"shift_hours": "A custom rotation needs it."})
        if attrs["rotation"] != Rotation.CUSTOM and attrs.get("shift_hours") is not None:
            raise serializers.ValidationError(
                {"shift_hours": "Only custom rotations have it (daily is 24, weekly 168)."}
            )
        return attrs


@extend_schema_field(LayerSerializer(many=True))
class LayersField(serializers.Field):  # type: ignore[type-arg]
    """The schedule's layers, lowest first, replaced as a whole when given. Each layer is
    validated in full, also in a PATCH."""

    default_error_messages = {
        "not_a_list": "A list of layers.",
        "too_many": f"At most {MAX_LAYERS} layers.",
    }

    def to_internal_value(self, data: Any) -> list[dict[str, Any]]:
        if not isinstance(data, list):
            self.fail("not_a_list")
        if len(data) > MAX_LAYERS:
            self.fail("too_many")
        layers: list[dict[str, Any]] = []
        errors: list[Any] = []
        for item in data:
            serializer = LayerSerializer(data=item, context=self.context)
            if serializer.is_valid():
                layers.append(dict(serializer.validated_data))
                errors.append({})
            else:
                errors.append(serializer.errors)
        if any(errors):
            raise serializers.ValidationError(errors)
        return layers

    def to_representation(self, value: Any) -> Any:
        return LayerSerializer(value, many=True).data


# --- schedules ---------------------------------------------------------------------------------
class TeamField(serializers.PrimaryKeyRelatedField[Team]):
    """A team the caller sees: of their tenants, or (MSSP staff) one of the MSSP's. Any other
    id reads as "does not exist", exactly like a missing one."""

    default_error_messages = {
        "does_not_exist": "No such team: '{pk_value}'.",
        "incorrect_type": "Expected a team id, got {data_type}.",
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("queryset", Team.objects.none())
        super().__init__(**kwargs)

    def get_queryset(self) -> models.QuerySet[Team]:
        access: Access = self.context.get("access", NO_ACCESS)
        tenant_ids = sorted(access.tenant_ids)
        if access.is_mssp_staff:
            teams: models.QuerySet[Team] = Team.objects.dangerously_unscoped(
                "MSSP staff name the MSSP's teams and their tenants' teams"
            ).filter(models.Q(tenant_id__in=tenant_ids) | models.Q(tenant__isnull=True))
            return teams
        mine: models.QuerySet[Team] = Team.objects.for_tenants(tenant_ids)
        return mine

    def to_internal_value(self, data: Any) -> Team:
        try:
            return super().to_internal_value(data)
        except (ValueError, TypeError, DjangoValidationError, ObjectDoesNotExist):
            self.fail("does_not_exist", pk_value=str(data)[:100])


def check_participants(layers: list[dict[str, Any]], team: Team) -> None:
    """Each participant a member of the team (field errors per layer)."""
    wanted = {user_id for layer in layers for user_id in layer["participants"]}
    if not wanted:
        return
    known = set(team_people(team).filter(pk__in=wanted).values_list("pk", flat=True))
    errors: list[dict[str, Any]] = []
    for layer in layers:
        strangers = [str(u) for u in layer["participants"] if u not in known]
        errors.append(
            {
                "participants": [
                    f"Not members of the team {team.name!r}: {', '.join(strangers[:10])}."
                ]
            }
            if strangers
            else {}
        )
    if any(errors):
        raise serializers.ValidationError({"layers": errors})


class ScheduleSerializer(serializers.ModelSerializer[Schedule]):
    tenant = serializers.CharField(
        source="tenant.slug",
        read_only=True,
        default=None,
        allow_null=True,
        help_text="The team's tenant; null for an MSSP team's schedule.",
    )
    team_name = serializers.CharField(source="team.name", read_only=True)
    layers = LayerSerializer(many=True, read_only=True, source="ordered_layers")

    class Meta:
        model = Schedule
        fields = [
            "id",
            "name",
            "team",
            "team_name",
            "tenant",
            "time_zone",
            "layers",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ScheduleInputSerializer(serializers.Serializer[Schedule]):
    """A new schedule, or a change (PATCH: the fields given; `layers` replaces them all). The
    team is set once; the schedule's tenant is always the team's."""

    name = serializers.CharField(max_length=200)
    team = TeamField()
    time_zone = serializers.CharField(max_length=64, help_text="IANA name: Europe/Berlin.")
    layers = LayersField(required=False)

    def validate_time_zone(self, value: str) -> str:
        return check_time_zone(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        instance = self.instance
        team: Team = attrs.get("team") or instance.team  # type: ignore[union-attr]
        if instance is not None and "team" in attrs and team.pk != instance.team_id:
            raise serializers.ValidationError({"team": "A schedule does not move between teams."})
        zone = attrs.get("time_zone") or (instance.time_zone if instance else "UTC")
        layers = attrs.get("layers")
        if layers is not None:
            for index, layer in enumerate(layers):
                try:
                    layer["rotation_start"] = in_zone(layer["rotation_start"], zone, "x")
                except serializers.ValidationError:
                    errors: list[dict[str, Any]] = [{} for _ in layers]
                    errors[index] = {"rotation_start": [OUT_OF_RANGE]}
                    raise serializers.ValidationError({"layers": errors}) from None
            check_participants(layers, team)
        name = attrs.get("name")
        if name is not None:
            taken = team.schedules.filter(name=name)
            if instance is not None:
                taken = taken.exclude(pk=instance.pk)
            if taken.exists():
                raise serializers.ValidationError(
                    {"name": "The team has a schedule of that name already."}
                )
        return attrs


# --- overrides ---------------------------------------------------------------------------------
class OverrideSerializer(serializers.ModelSerializer[Override]):
    schedule = serializers.UUIDField(source="schedule_id", read_only=True)
    user = PersonSerializer(read_only=True)
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Override
        fields = ["id", "schedule", "user", "start", "end", "reason", "created_by", "created_at"]
        read_only_fields = fields


class OverrideInputSerializer(serializers.Serializer[Override]):
    """Somebody of the team on call over [start, end) in place of the layers: at most 90
    days, not over already. Moments without an offset are the schedule's local time."""

    user = serializers.IntegerField(min_value=1, max_value=2**31 - 1, help_text="A user id.")
    start = LocalDateTimeField()
    end = LocalDateTimeField()
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        schedule: Schedule = self.context["target"]
        start = in_zone(attrs["start"], schedule.time_zone, "start")
        end = in_zone(attrs["end"], schedule.time_zone, "end")
        if end <= start:
            raise serializers.ValidationError({"end": "It ends before it starts."})
        if end - start > MAX_OVERRIDE:
            raise serializers.ValidationError({"end": "An override lasts at most 90 days."})
        if end <= timezone.now():
            raise serializers.ValidationError({"end": "It is over already."})
        user = team_people(schedule.team).filter(pk=attrs["user"]).first()
        if user is None:
            raise serializers.ValidationError(
                {"user": f"Not a member of the team {schedule.team.name!r}."}
            )
        return {**attrs, "user": user, "start": start, "end": end}


# --- reading who is on call --------------------------------------------------------------------
class OnCallSerializer(serializers.Serializer[Any]):
    at = serializers.DateTimeField()
    on_call = PersonSerializer(many=True)
    next_handoff = serializers.DateTimeField(
        allow_null=True, help_text="When who is on call next changes; null: not within a year."
    )
    next = PersonSerializer(many=True, help_text="Who is on call from next_handoff.")


class ShiftSerializer(serializers.Serializer[Any]):
    user = PersonSerializer()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    # A field named like Serializer.source: DRF's metaclass takes it as a field.
    source = serializers.ChoiceField(choices=["rotation", "override"])  # type: ignore[assignment]


class ShiftsSerializer(serializers.Serializer[Any]):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    time_zone = serializers.CharField()
    shifts = ShiftSerializer(many=True)


# --- importing a calendar ----------------------------------------------------------------------
class CalendarImportSerializer(serializers.Serializer[Any]):
    """An iCalendar file (at most 1 MiB): each event naming a member of the team (an ATTENDEE's
    e-mail address, or the SUMMARY: "On call: alice") becomes an override."""

    calendar = serializers.CharField(
        trim_whitespace=False,
        max_length=ical.MAX_BYTES,
        help_text="The .ics text (or upload it as multipart `file`, or send it as text/calendar).",
    )

    def validate_calendar(self, value: str) -> list[ical.Event]:
        schedule: Schedule = self.context["target"]
        try:
            return ical.read_events(value, schedule.time_zone)
        except ical.CalendarError as exc:
            raise serializers.ValidationError(str(exc)) from None


class SkippedEventSerializer(serializers.Serializer[Any]):
    index = serializers.IntegerField(help_text="The event's place in the file, from 1.")
    uid = serializers.CharField()
    summary = serializers.CharField()
    start = serializers.DateTimeField(allow_null=True)
    end = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField()


class CalendarImportResultSerializer(serializers.Serializer[Any]):
    created = OverrideSerializer(many=True)
    skipped = SkippedEventSerializer(many=True)


class FeedLinkSerializer(serializers.Serializer[Any]):
    """A person's subscription link to a schedule (`active` false: they have none). `url`,
    with its secret, is only in the answer that made it."""

    active = serializers.BooleanField()
    prefix = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    url = serializers.CharField(
        allow_null=True,
        help_text="The subscription URL, with its secret: only in the answer to POST.",
    )

    @staticmethod
    def of(token: FeedToken | None, url: str | None = None) -> dict[str, Any]:
        return {
            "active": token is not None,
            "prefix": token.prefix if token else None,
            "created_at": token.created_at if token else None,
            "last_used_at": token.last_used_at if token else None,
            "url": url,
        }
