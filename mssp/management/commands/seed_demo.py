"""Demo data: three tenants (one per service model), MSSP staff of every role, customer users of
every role, teams, on-call schedules (weekly rotations of SOC L1 and L2, a business-hours layer,
an override, Globex's in-house team's daily rotation), intake sources and notification channels
(e-mail to the console), then a
morning's activity (mssp.demo: alerts, incidents worked to different points, hand-offs, an
intelligence match, pentest findings, a report). Prints the logins and the intake keys (shown once).

Runs once: a second run sees the demo tenants and only reprints the logins. `--rotate-keys`
issues new intake keys for the demo sources (the old ones stop working)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm

from alerts.models import IntakeSource, SourceKind
from notifications.defaults import subscribe_defaults
from notifications.models import TeamChannel
from oncall.models import Layer, Override, Schedule
from sla.models import EscalationPolicy
from tenants.models import Contact, Membership, StaffRole, Team, Tenant, User
from tenants.rls import rls_bypass
from tenants.services import sync_responder_permission

from ...demo import seed_activity

# The MSSP tiers' members (usernames of STAFF), in rotation order
TIER_MEMBERS = {
    "L1": ["analyst1", "analyst2", "analyst3"],
    "L2": ["analyst2", "analyst3", "lead"],
    "L3": ["analyst3", "lead"],
}
MSSP_ZONE = "Europe/London"
DEMO_PASSWORD = "demo-portal-2026"  # noqa: S105  (printed demo logins; refused when DEBUG is off)
# MSSP staff must sign in with a second factor (tenants.mfa): the demo's staff share one
# authenticator secret, printed with the logins (DEBUG only, like the password).
DEMO_TOTP_SECRET = "MSSPDEMOPORTALTOTPSECRETFORSTAFF"  # noqa: S105  (base32, printed)

TENANTS = [
    ("acme", "Acme Retail", Tenant.ServiceModel.OUTSOURCED, "Europe/London"),
    ("globex", "Globex Manufacturing", Tenant.ServiceModel.HYBRID, "Europe/Berlin"),
    ("initech", "Initech Finance", Tenant.ServiceModel.IN_HOUSE, "America/New_York"),
]
# (username, role, tenants worked, tenants led)
STAFF = [
    ("admin", StaffRole.ADMIN, [], []),
    ("manager", StaffRole.MANAGER, [], []),
    ("lead", StaffRole.LEAD, ["acme", "globex"], ["acme", "globex"]),
    ("analyst1", StaffRole.ANALYST_L1, ["acme", "globex"], []),
    ("analyst2", StaffRole.ANALYST_L2, ["globex", "initech"], []),
    ("analyst3", StaffRole.ANALYST_L3, ["acme", "globex", "initech"], []),
]
SOURCES = {
    "acme": [("Wazuh manager", SourceKind.WAZUH), ("Suricata edge", SourceKind.SURICATA)],
    "globex": [
        ("Elastic Security", SourceKind.ELASTIC),
        ("Alertmanager", SourceKind.ALERTMANAGER),
        ("Firewall CEF", SourceKind.CEF),
    ],
    "initech": [("Splunk", SourceKind.SPLUNK), ("Custom scripts", SourceKind.GENERIC)],
}


class Command(BaseCommand):
    help = "Create demo tenants, users and intake sources, and print the logins and keys."

    def add_arguments(self, parser):
        parser.add_argument(
            "--rotate-keys",
            action="store_true",
            help="Issue new intake keys for the demo sources and print them.",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Seed even with DEBUG off (never on a real deployment).",
        )

    def handle(self, *args, rotate_keys: bool = False, force: bool = False, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo creates users with a published password; it runs "
                "only with DEBUG on (or --force)."
            )
        with transaction.atomic(), rls_bypass("seed_demo creates every demo tenant", audit=True):
            fresh = not Tenant.objects.filter(slug="acme").exists()
            keys = self._seed() if fresh else {}
            if rotate_keys and not fresh:
                keys = self._rotate_keys()
        if fresh:
            with transaction.atomic():
                seed_activity({t.slug: t for t in Tenant.objects.all()})
        with transaction.atomic():
            enrolled = self._second_factors() if settings.DEBUG else False
        self._print(fresh, keys)
        self._print_second_factor(enrolled)

    def _second_factors(self) -> bool:
        """Every demo staff account gets the printed authenticator secret (once: a demo staff
        member who enrolled their own app keeps it)."""
        from allauth.mfa.models import Authenticator
        from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
        from allauth.mfa.utils import encrypt

        for user in User.objects.filter(username__in=[u for u, *_ in STAFF]):
            if Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
                continue
            Authenticator.objects.create(
                user=user,
                type=Authenticator.Type.TOTP,
                data={"secret": encrypt(DEMO_TOTP_SECRET)},
            )
            if not Authenticator.objects.filter(
                user=user, type=Authenticator.Type.RECOVERY_CODES
            ).exists():
                RecoveryCodes.activate(user)
        return True

    def _print_second_factor(self, enrolled: bool) -> None:
        out = self.stdout.write
        if not enrolled:
            out(
                "\nMSSP staff must set up a second factor at their first sign-in "
                "(DEBUG is off: no demo authenticator secret)."
            )
            return
        out(
            "\nMSSP staff sign in with a second factor. Add this secret to an authenticator "
            f"app (or run `oathtool --totp -b {DEMO_TOTP_SECRET}`) and enter its code "
            f"after the password:\n  {DEMO_TOTP_SECRET}"
        )
        out("Customer logins need no second factor unless their admin requires one.")

    def _seed(self) -> dict[str, str]:
        tenants = {}
        for slug, name, model, tz in TENANTS:
            tenants[slug] = Tenant.objects.create(
                slug=slug, name=name, service_model=model, timezone=tz
            )
        for username, role, worked, led in STAFF:
            user = self._user(username, staff_role=role, is_staff=role == StaffRole.ADMIN)
            for slug in worked:
                assign_perm("tenants.work_tenant", user, tenants[slug])
            for slug in led:
                assign_perm("tenants.lead_tenant", user, tenants[slug])
        tiers = {
            tier: Team.objects.create(name=f"SOC {tier}", kind=Team.Kind.MSSP_TIER)
            for tier in ("L1", "L2", "L3")
        }
        for tier, usernames in TIER_MEMBERS.items():
            tiers[tier].members.add(*User.objects.filter(username__in=usernames))
        noc = Team.objects.create(name="MSSP NOC", kind=Team.Kind.NOC, email="noc@mssp.example")
        # the teams' own channels: every escalation to them, e-mailed to the console
        for team, address in ((noc, "noc@mssp.example"), (tiers["L2"], "soc-l2@mssp.example")):
            TeamChannel.objects.create(
                team=team, name=f"{team.name} mailbox", kind="email", target=address
            )
        for slug, tenant in tenants.items():
            for role in Membership.Role.values:
                user = self._user(f"{slug}-{role}", email=f"{role}@{slug}.example")
                sync_responder_permission(
                    Membership.objects.create(tenant=tenant, user=user, role=role)
                )
            if tenant.service_model != Tenant.ServiceModel.OUTSOURCED:
                team = Team.objects.create(
                    tenant=tenant, name=f"{tenant.name} security team", kind=Team.Kind.IN_HOUSE
                )
                # two members, so that its on-call schedule rotates
                team.members.add(
                    User.objects.get(username=f"{slug}-responder"),
                    User.objects.get(username=f"{slug}-admin"),
                )
        for slug, tenant in tenants.items():
            Contact.objects.create(
                tenant=tenant, name=f"{tenant.name} CISO", email=f"ciso@{slug}.example"
            )
            # e-mail goes to the console in the demo: watch `make run`'s output
            subscribe_defaults(tenant, f"soc@{slug}.example")
        self._schedules(tiers, tenants)
        tier2 = tiers["L2"]
        EscalationPolicy.objects.create(
            tenant=tenants["globex"],
            name="Hybrid hand-off",
            steps=[
                {
                    "action": "notify_tier",
                    "team": str(tier2.pk),
                    "wait_minutes": 0,
                    "if": {"severity": ["high", "critical"]},
                },
                {"action": "handoff_in_house", "wait_minutes": 15, "respond_minutes": 30},
                {"action": "page_lead", "wait_minutes": 0, "if": {"unacknowledged": True}},
            ],
        )
        keys = {}
        for slug, sources in SOURCES.items():
            for name, kind in sources:
                source = IntakeSource(
                    tenant=tenants[slug], name=name, kind=kind, expected_interval_minutes=60
                )
                keys[f"{slug} / {name} ({kind})"] = source.set_new_key()
                source.save()
        return keys

    def _schedules(self, tiers: dict[str, Team], tenants: dict[str, Tenant]) -> None:
        """Weekly rotations of SOC L1 and L2 (L2 with its lead on call in office hours), an
        override on L1 tomorrow, and Globex's in-house team's daily rotation. Each rotation
        began this week, so somebody is on call from the moment the demo is seeded."""
        people = {u.username: u.pk for u in User.objects.all()}

        def monday(zone: str, hour: int) -> datetime:
            today = timezone.now().astimezone(ZoneInfo(zone)).date()
            start = today - timedelta(days=today.weekday())
            return datetime.combine(start, time(hour), tzinfo=ZoneInfo(zone))

        def layer(schedule: Schedule, position: int, usernames: list[str], **fields) -> None:
            Layer.objects.create(
                schedule=schedule,
                position=position,
                participants=[people[name] for name in usernames],
                **fields,
            )

        week_start = monday(MSSP_ZONE, 9) - timedelta(days=7)  # a week earlier: it rotates now
        l1 = Schedule.objects.create(team=tiers["L1"], name="SOC L1 weekly", time_zone=MSSP_ZONE)
        layer(
            l1, 0, TIER_MEMBERS["L1"], name="Weekly", rotation="weekly", rotation_start=week_start
        )
        tomorrow = timezone.now().astimezone(ZoneInfo(MSSP_ZONE)).date() + timedelta(days=1)
        Override.objects.create(
            schedule=l1,
            user_id=people["analyst3"],
            start=datetime.combine(tomorrow, time(9), tzinfo=ZoneInfo(MSSP_ZONE)),
            end=datetime.combine(tomorrow, time(17), tzinfo=ZoneInfo(MSSP_ZONE)),
            reason="Covering for a training day",
            created_by_id=people["lead"],
        )
        l2 = Schedule.objects.create(team=tiers["L2"], name="SOC L2 weekly", time_zone=MSSP_ZONE)
        layer(
            l2,
            0,
            ["analyst2", "analyst3"],
            name="Weekly",
            rotation="weekly",
            rotation_start=week_start,
        )
        office = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
        layer(
            l2,
            1,
            ["lead"],
            name="Lead in office hours",
            rotation="weekly",
            rotation_start=week_start,
            restriction=office,
        )
        globex = tenants["globex"]
        team = Team.objects.get(tenant=globex, kind=Team.Kind.IN_HOUSE)
        schedule = Schedule.objects.create(
            team=team, name="Globex on call", time_zone=globex.timezone
        )
        layer(
            schedule,
            0,
            ["globex-responder", "globex-admin"],
            name="Daily",
            rotation="daily",
            rotation_start=monday(globex.timezone, 8) - timedelta(days=7),
        )

    def _rotate_keys(self) -> dict[str, str]:
        keys = {}
        for source in (
            IntakeSource.objects.dangerously_unscoped("seed_demo --rotate-keys")
            .filter(tenant__slug__in=SOURCES)
            .select_related("tenant")
        ):
            keys[f"{source.tenant.slug} / {source.name} ({source.kind})"] = source.set_new_key()
            source.save(update_fields=["key_prefix", "key_digest"])
        return keys

    def _user(self, username: str, **fields) -> User:
        user = User(username=username, **fields)
        user.set_password(DEMO_PASSWORD)
        user.save()
        return user

    def _print(self, fresh: bool, keys: dict[str, str]) -> None:
        out = self.stdout.write
        out(self.style.SUCCESS("Demo data created." if fresh else "Demo data already present."))
        out(f"\nEvery demo login has the password: {DEMO_PASSWORD}\n")
        out("MSSP staff:      " + ", ".join(u for u, *_ in STAFF))
        out("On-call schedules: /oncall/ (SOC L1, SOC L2, Globex's in-house team)")
        for slug, name, model, _ in TENANTS:
            logins = ", ".join(f"{slug}-{role}" for role in Membership.Role.values)
            out(f"{name} ({model}): {logins}")
        if keys:
            out("\nIntake keys (shown once; POST /api/v1/intake/<kind>/ with Bearer <key>):")
            for label, key in keys.items():
                out(f"  {label}: {key}")
        elif not fresh:
            out(
                "\nIntake keys were printed when the demo was first seeded; "
                "`manage.py seed_demo --rotate-keys` prints new ones."
            )
