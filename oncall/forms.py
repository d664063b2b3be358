"""Forms of the on-call pages (oncall.views). They only draw the inputs: the API's serializers
(oncall.api.serializers) decide, so a page accepts exactly what the API accepts.

A schedule's form is flat (a page posts fields, the API takes JSON with a list of layers): each
layer is a numbered group of inputs (`layer-0-rotation`, ...), a restriction is the days and
the hours of one weekly window, and participants are usernames in rotation order. `inputs()`
turns the form into the API's JSON; the serializer's errors go back to the inputs they are
about (`layers[1].participants` to `layer-1-participants`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from django import forms
from django.db import models
from django.http import QueryDict

from tenants.access import Access
from tenants.forms import SerializerForm, flatten_errors
from tenants.models import Team, User

from .api.serializers import (
    MAX_LAYERS,
    OverrideInputSerializer,
    ScheduleInputSerializer,
    TeamField,
)
from .models import Layer, Rotation, Schedule, team_people
from .rotation import WEEKDAYS

DAY_LABELS = dict(zip(WEEKDAYS, ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"), strict=True))
LOCAL_INPUT = "%Y-%m-%dT%H:%M"  # an <input type="datetime-local">'s value
_NAMES = re.compile(r"[\s,;]+")


def local_input(moment: datetime, time_zone: str) -> str:
    return moment.astimezone(ZoneInfo(time_zone)).strftime(LOCAL_INPUT)


def manageable_teams(access: Access) -> models.QuerySet[Team]:
    """The teams the caller names in the API (TeamField: its rule) whose schedules they
    manage (oncall.policy, through the action's check)."""
    from . import policy

    field = cast(TeamField, ScheduleInputSerializer(context={"access": access}).fields["team"])
    teams = field.get_queryset().select_related("tenant")
    allowed = [t.pk for t in teams if policy.may_manage_schedules(access, t.tenant_id)]
    return teams.filter(pk__in=allowed).order_by("tenant__name", "name")


@dataclass
class LayerSlot:
    """One layer's inputs on the page (bound fields), and whether it is a new, empty one."""

    index: int
    fields: dict[str, forms.BoundField]
    new: bool

    @property
    def errors(self) -> list[str]:
        return [e for f in self.fields.values() for e in f.errors]


class ScheduleForm(forms.Form):
    """Create a schedule (team, name, time zone, layers) or change one (not its team)."""

    name = forms.CharField(max_length=200)
    team = forms.ChoiceField(help_text="Whose on-call this is: its members are the people.")
    time_zone = forms.CharField(
        max_length=64,
        label="Time zone",
        help_text="IANA name, such as Europe/Berlin: hand-offs and restrictions are its "
        "wall-clock times.",
    )

    def __init__(
        self,
        data: QueryDict | None = None,
        *,
        access: Access,
        instance: Schedule | None = None,
        teams: models.QuerySet[Team] | None = None,
    ) -> None:
        initial: dict[str, Any] = {"time_zone": "UTC"}
        layers: list[Layer] = []
        if instance is not None:
            initial = {"name": instance.name, "time_zone": instance.time_zone}
            layers = instance.ordered_layers()
        super().__init__(data, initial=initial)
        self.access = access
        self.instance = instance
        self.teams = list(teams if teams is not None else manageable_teams(access))
        if instance is not None:
            del self.fields["team"]
        else:
            team_field = cast(forms.ChoiceField, self.fields["team"])
            team_field.choices = [("", "Choose a team")] + [
                (str(t.pk), f"{t.tenant.name if t.tenant else 'MSSP'}: {t.name}")
                for t in self.teams
            ]
        self.slot_count = len(layers) + 1 if data is None else self._posted_slots(data)
        self.slot_count = min(max(self.slot_count, 1), MAX_LAYERS + 1)
        zone = instance.time_zone if instance is not None else "UTC"
        for i in range(self.slot_count):
            layer = layers[i] if i < len(layers) else None
            self._add_layer_fields(i, layer, zone)
        self._slot_of_layer: list[int] = []

    @staticmethod
    def _posted_slots(data: QueryDict) -> int:
        found = [int(m.group(1)) for k in data if (m := re.match(r"layer-(\d+)-rotation$", k))]
        return max(found, default=-1) + 1

    def _add_layer_fields(self, i: int, layer: Layer | None, zone: str) -> None:
        p = f"layer-{i}-"
        names = {}
        if layer is not None:
            users = User.objects.in_bulk([int(u) for u in layer.participants])
            names = {u: users[u].username for u in users}
        restriction = (layer.restriction if layer else None) or {}
        window = next((w[0] for w in restriction.values() if w), ["09:00", "17:00"])
        self.fields[p + "name"] = forms.CharField(
            label="Layer name", max_length=100, required=False, initial=layer.name if layer else ""
        )
        self.fields[p + "rotation"] = forms.ChoiceField(
            label="Rotation",
            choices=[("", "No layer" if layer is None else "Remove this layer")]
            + list(Rotation.choices),
            required=False,
            initial=layer.rotation if layer else "",
        )
        self.fields[p + "shift_hours"] = forms.IntegerField(
            label="Hours per shift",
            required=False,
            help_text="Every n hours rotations only.",
            initial=layer.shift_hours if layer else None,
        )
        self.fields[p + "rotation_start"] = forms.CharField(
            label="First hand-off",
            required=False,
            help_text="In the schedule's time zone: every hand-off is at this time (weekly: "
            "and weekday).",
            widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
            initial=local_input(layer.rotation_start, zone) if layer else "",
        )
        self.fields[p + "participants"] = forms.CharField(
            label="People, in rotation order",
            required=False,
            help_text="Usernames of the team's members, separated by commas.",
            initial=", ".join(names.get(int(u), str(u)) for u in layer.participants)
            if layer
            else "",
        )
        self.fields[p + "days"] = forms.MultipleChoiceField(
            label="Only on these days (empty: always)",
            choices=list(DAY_LABELS.items()),
            required=False,
            widget=forms.CheckboxSelectMultiple,
            initial=[day for day in WEEKDAYS if restriction.get(day)],
        )
        self.fields[p + "from_time"] = forms.CharField(
            label="From",
            required=False,
            widget=forms.TimeInput(attrs={"type": "time"}),
            initial=window[0],
        )
        self.fields[p + "to_time"] = forms.CharField(
            label="To",
            required=False,
            help_text="24:00 ends a day.",
            widget=forms.TextInput(attrs={"inputmode": "numeric", "pattern": r"\d{2}:\d{2}"}),
            initial=window[1],
        )

    def slots(self) -> list[LayerSlot]:
        return [
            LayerSlot(
                i,
                {
                    key: self[f"layer-{i}-{key}"]
                    for key in (
                        "name",
                        "rotation",
                        "shift_hours",
                        "rotation_start",
                        "participants",
                        "days",
                        "from_time",
                        "to_time",
                    )
                },
                new=self.instance is None or i >= len(self.instance.ordered_layers()),
            )
            for i in range(self.slot_count)
        ]

    # --- from the page's inputs to the API's --------------------------------------------------
    def _team(self) -> Team | None:
        if self.instance is not None:
            return self.instance.team
        wanted = self.cleaned_data.get("team")
        return next((t for t in self.teams if str(t.pk) == wanted), None)

    def _layers(self, team: Team | None) -> list[dict[str, Any]]:
        layers: list[dict[str, Any]] = []
        self._slot_of_layer = []
        people = {}
        if team is not None:
            people = {u.username.lower(): u.pk for u in team_people(team).only("pk", "username")}
        for i in range(self.slot_count):
            p = f"layer-{i}-"
            rotation = self.cleaned_data.get(p + "rotation")
            if not rotation:
                continue
            names = [n for n in _NAMES.split(self.cleaned_data.get(p + "participants") or "") if n]
            strangers = [n for n in names if n.lower() not in people]
            if strangers:
                where = f"the team {team.name!r}" if team is not None else "the team"
                self.add_error(
                    p + "participants", f"Not members of {where}: {', '.join(strangers[:10])}."
                )
            days = self.cleaned_data.get(p + "days") or []
            restriction = None
            if days:
                window = [
                    self.cleaned_data.get(p + "from_time"),
                    self.cleaned_data.get(p + "to_time"),
                ]
                restriction = {day: [window] for day in days}
            layers.append(
                {
                    "name": self.cleaned_data.get(p + "name") or "",
                    "participants": [people[n.lower()] for n in names if n.lower() in people],
                    "rotation": rotation,
                    "shift_hours": self.cleaned_data.get(p + "shift_hours"),
                    "rotation_start": self.cleaned_data.get(p + "rotation_start") or None,
                    "restriction": restriction,
                }
            )
            self._slot_of_layer.append(i)
        return layers

    def inputs(self) -> dict[str, Any]:
        """The API's body (ScheduleInputSerializer): the page's inputs as JSON values."""
        data: dict[str, Any] = {
            "name": self.cleaned_data.get("name"),
            "time_zone": self.cleaned_data.get("time_zone"),
            "layers": self._layers(self._team()),
        }
        if self.instance is None:
            data["team"] = self.cleaned_data.get("team")
        return data

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        data = self.inputs()
        if self.errors:
            return cleaned  # participants who are not members: said at their input
        serializer = ScheduleInputSerializer(
            self.instance,
            data=data,
            partial=self.instance is not None,
            context={"access": self.access, "target": self.instance},
        )
        if not serializer.is_valid():
            self._show(serializer.errors)
        return cleaned

    def _show(self, errors: dict[str, Any]) -> None:
        for name, detail in errors.items():
            if name == "layers":
                self._show_layers(detail)
            elif name in self.fields:
                for message in flatten_errors(detail):
                    self.add_error(name, message)
            else:
                for message in flatten_errors(detail):
                    self.add_error(None, message)

    def _show_layers(self, detail: Any) -> None:
        if not isinstance(detail, list) or not all(isinstance(d, dict) for d in detail):
            for message in flatten_errors(detail):
                self.add_error(None, message)
            return
        for index, layer_errors in enumerate(detail):
            if index >= len(self._slot_of_layer):
                break
            p = f"layer-{self._slot_of_layer[index]}-"
            for key, messages in layer_errors.items():
                field = {"restriction": "days"}.get(key, key)
                target = p + field if p + field in self.fields else None
                for message in flatten_errors(messages):
                    self.add_error(target, message if target else f"Layer {index + 1}: {message}")


class OverrideForm(SerializerForm):
    """Somebody of the team on call over a span, in place of the layers (a swap is two)."""

    serializer_class = OverrideInputSerializer

    user = forms.ChoiceField(label="Who is on call")
    start = forms.CharField(
        label="From", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    end = forms.CharField(
        label="Until", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    reason = forms.CharField(max_length=300, required=False)

    def __init__(self, *args: Any, schedule: Schedule, **kwargs: Any) -> None:
        kwargs.setdefault("context", {"target": schedule})
        super().__init__(*args, **kwargs)
        user_field = cast(forms.ChoiceField, self.fields["user"])
        user_field.choices = [
            (str(u.pk), u.get_full_name() or u.username)
            for u in team_people(schedule.team).order_by("username")
        ]
        self.fields["start"].help_text = f"In {schedule.time_zone}."


class CalendarImportForm(forms.Form):
    """A .ics file, or its text pasted: as POST .../import-ical/."""

    file = forms.FileField(label="Calendar file (.ics)", required=False)
    calendar = forms.CharField(
        label="Or paste the calendar",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
    )
