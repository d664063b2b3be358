"""On-call schedules of teams: an MSSP tier's (no tenant) or a customer's in-house team's (its
tenant). A schedule is layers of rotations and overrides on top; oncall.rotation answers who
is on call from them. Every row carries its schedule's tenant, so row-level security covers
layers and overrides as it covers schedules."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from tenants.access import Access
from tenants.models import (
    MintedSecret,
    Team,
    Tenant,
    User,
    new_public_id,
    validate_timezone,
)
from tenants.querysets import TenantScopedManager

from .rotation import (
    HANDOFF_HORIZONS,
    HOURS_PER_DAY,
    HOURS_PER_WEEK,
    LayerSpec,
    OverrideSpec,
    ScheduleSpec,
    next_handoff,
    on_call,
)

MSSP_ROWS_REASON = "An MSSP tier's schedule (and its layers and overrides) belongs to no customer."


def team_people(team: Team) -> models.QuerySet[User]:
    """Who may be on call for `team`: its active members who are MSSP staff (an MSSP team's)
    or members of the team's tenant (a customer's team)."""
    people = team.members.filter(is_active=True)
    if team.tenant_id is None:
        return people.filter(models.Q(is_superuser=True) | ~models.Q(staff_role=""))
    return people.filter(membership__tenant_id=team.tenant_id)


class Schedule(models.Model):
    """Who of a team is on call when. Its tenant is always its team's (set on save)."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="schedules")
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    name = models.CharField(max_length=200)
    time_zone = models.CharField(
        max_length=64, validators=[validate_timezone], help_text="IANA name: Europe/Berlin."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantScopedManager()
    tenant_nullable_reason = MSSP_ROWS_REASON
    # As for Team: the API shows tenant-less rows to MSSP staff only (include_mssp_rows).
    rls_also_visible_when = "tenant_id IS NULL"

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="oncall_schedule_unique_name")
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: object, **kwargs: object) -> None:
        self.tenant_id = self.team.tenant_id
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def spec(self, start: datetime, end: datetime) -> ScheduleSpec:
        """The schedule as oncall.rotation reads it, with the overrides that touch
        [start, end). Layers come from a prefetch when there is one."""
        overrides = self.overrides.filter(start__lt=end, end__gt=start).order_by("start", "id")
        return ScheduleSpec(
            time_zone=self.time_zone,
            layers=tuple(layer.spec() for layer in self.ordered_layers()),
            overrides=tuple(
                OverrideSpec(o.user_id, o.start, o.end)
                for o in overrides.only("user_id", "start", "end")
            ),
        )

    def now_and_next(self, at: datetime) -> tuple[list[int], datetime | None, list[int]]:
        """Who is on call at `at`, when that next changes (None: not within about a year),
        and who is on call from then: the API's /oncall/ and the portal's pages."""
        spec = self.spec(at, at + HANDOFF_HORIZONS[-1] + timedelta(days=1))
        now = on_call(spec, at)
        handoff = next_handoff(spec, at)
        then = on_call(spec, handoff) if handoff is not None else []
        return now, handoff, then

    def ordered_layers(self) -> list[Layer]:
        return sorted(self.layers.all(), key=lambda layer: layer.position)


def schedules_for(access: Access) -> models.QuerySet[Schedule]:
    """The schedules `access` reads: as ScheduleViewSet.get_queryset (TenantScopedViewSet,
    include_mssp_rows) and oncall.policy.reads_schedules_of."""
    if access.is_mssp_staff:
        rows: models.QuerySet[Schedule] = Schedule.objects.dangerously_unscoped(
            "MSSP staff read the MSSP tiers' schedules (oncall.policy.reads_schedules_of)"
        ).filter(models.Q(tenant_id__in=sorted(access.tenant_ids)) | models.Q(tenant__isnull=True))
    else:
        rows = Schedule.objects.for_tenants(access.tenant_ids)
    return rows.select_related("team", "tenant").prefetch_related("layers")


class Rotation(models.TextChoices):
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"
    CUSTOM = "custom", "Every n hours"


class Layer(models.Model):
    """One rotation of a schedule. Layers later in the list (higher position) win where they
    have somebody on call."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="layers")
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=100, blank=True)
    # User ids in rotation order; each a member of the schedule's team (checked on input).
    participants = models.JSONField(default=list)
    rotation = models.CharField(max_length=10, choices=Rotation.choices)
    shift_hours = models.PositiveIntegerField(
        null=True, blank=True, help_text="Custom rotations only: wall-clock hours per shift."
    )
    rotation_start = models.DateTimeField(
        help_text="The first hand-off. Its local time (and weekday) is every hand-off's."
    )
    # None: always; otherwise {"mon": [["09:00", "17:00"]], ...} in the schedule's time zone.
    restriction = models.JSONField(null=True, blank=True)

    objects = TenantScopedManager()
    tenant_nullable_reason = MSSP_ROWS_REASON
    rls_also_visible_when = "tenant_id IS NULL"

    class Meta:
        ordering = ["schedule", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "position"], name="oncall_layer_unique_position"
            ),
            models.CheckConstraint(
                name="oncall_layer_custom_has_hours",
                condition=~models.Q(rotation="custom") | models.Q(shift_hours__gte=1),
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"layer {self.position + 1}"

    def save(self, *args: object, **kwargs: object) -> None:
        self.tenant_id = self.schedule.tenant_id
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    @property
    def hours_per_shift(self) -> int:
        if self.rotation == Rotation.DAILY:
            return HOURS_PER_DAY
        if self.rotation == Rotation.WEEKLY:
            return HOURS_PER_WEEK
        return int(self.shift_hours or 0)

    def spec(self) -> LayerSpec:
        return LayerSpec(
            participants=tuple(int(user_id) for user_id in self.participants),
            rotation_start=self.rotation_start,
            shift_hours=self.hours_per_shift,
            restriction=self.restriction,
        )


class Override(models.Model):
    """Somebody on call over [start, end) in place of whoever the layers name. A swap is two
    overrides, each taking the other's shift."""

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="overrides")
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    start = models.DateTimeField()
    end = models.DateTimeField()
    reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedManager()
    tenant_nullable_reason = MSSP_ROWS_REASON
    rls_also_visible_when = "tenant_id IS NULL"

    class Meta:
        ordering = ["start", "id"]
        constraints = [
            models.CheckConstraint(
                name="oncall_override_ends_after_start",
                condition=models.Q(end__gt=models.F("start")),
            )
        ]
        indexes = [models.Index(fields=["schedule", "end"], name="oncall_override_schedule_end")]

    def __str__(self) -> str:
        return f"{self.user_id} on call {self.start:%Y-%m-%d %H:%M}-{self.end:%Y-%m-%d %H:%M}"

    def save(self, *args: object, **kwargs: object) -> None:
        self.tenant_id = self.schedule.tenant_id
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class FeedToken(MintedSecret, models.Model):
    """A person's secret subscription URL for one schedule's iCalendar feed (PagerDuty's and
    Grafana OnCall's "subscribe" link): calendar apps fetch a URL and send no header, so the
    URL is the credential. Only its digest is stored; every fetch asks again whether its
    owner may still read the schedule, so a person who leaves the team or the tenant, or is
    deactivated, stops the feed with them. Not tenant data, like an API token: it is the
    person's, and it reads nothing until their access is checked."""

    PREFIX = "mssp_ical_"

    id = models.UUIDField(primary_key=True, default=new_public_id, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="feed_tokens")
    prefix = models.CharField(max_length=24, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # one live link per person and schedule: a new one replaces the old
            models.UniqueConstraint(fields=["user", "schedule"], name="oncall_feedtoken_one_each")
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.schedule_id})"
