"""Reports: requesting one, generating it (figures, PDF, CSV, with progress), emailing it to
the tenant's report contacts, the schedule, and taking up reports whose work was lost.

State lives in the Report row; tasks are nudges. Generation claims the row (queued → running)
under a row lock, commits its progress in short transactions of its own so that a page polling
the report sees it move, and ends done or failed with a message: a request is never lost. A
report left queued or running by a lost task or a dead worker is enqueued again by the
periodic `report_resume_stalled`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError
from django.db.models import F
from django.utils import timezone

from tenants import audit, events, jobs, mail
from tenants.actions import Invalid
from tenants.jobs import enqueue
from tenants.models import Contact, Tenant, User
from tenants.rls import rls_bypass, tenant_scope
from tenants.text import single_line

from .figures import compute_figures, period_label
from .models import Report, ReportSchedule
from .render import duration, percent, render_csv, render_pdf

logger = logging.getLogger("mssp.reports")

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_PERIOD = timedelta(days=366, hours=1)  # a leap year, and a daylight-saving hour
MAX_UNFINISHED_PER_TENANT = 3
MAX_ATTEMPTS = 3
STALE_QUEUED = timedelta(minutes=2)
STALE_RUNNING = timedelta(minutes=10)


class ReportError(Invalid):
    """A request the rules do not allow; the message says why, for the person asking. As the
    API has always answered it: a 400 whose error is not any one field's."""

    def __init__(self, message: str, *, status_code: int | None = None):
        super().__init__({"non_field_errors": [message]}, status_code=status_code)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ReportBusy(ReportError):
    """Too many reports of this tenant are being generated already (the API's 409)."""

    status_code = 409


# --- the period -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime


def report_period(
    tenant: Tenant,
    start: date | datetime,
    end: date | datetime,
    *,
    now: datetime | None = None,
) -> Period:
    """The period [start, end) a request names. Dates are whole days in the tenant's time zone,
    `end` included (1 Nov to 30 Nov is November); date-times are exact, `end` excluded. A
    period ending today ends now. At most a year, never in the future."""
    now = now or timezone.now()
    zone = ZoneInfo(tenant.timezone or "UTC")

    def moment(value: date | datetime, *, is_end: bool) -> datetime:
        if isinstance(value, datetime):
            return value if timezone.is_aware(value) else timezone.make_aware(value, zone)
        day = value + timedelta(days=1) if is_end else value
        return datetime.combine(day, time.min, tzinfo=zone)

    try:
        begins, ends = moment(start, is_end=False), moment(end, is_end=True)
        begins < now  # noqa: B015 (comparing converts to UTC, which may overflow)
        ends < now  # noqa: B015
    except (OverflowError, ValueError):  # year 1 or 9999 at the edge of what datetime holds
        raise ReportError("A date of the period is out of range.") from None
    if begins < EARLIEST:
        raise ReportError("A date of the period is out of range: nothing happened before 2000.")
    if begins >= ends:
        raise ReportError("The period must start before it ends.")
    if begins >= now:
        raise ReportError("The period starts in the future; a report covers time that has passed.")
    if ends > now:
        if isinstance(end, datetime) or end > timezone.localdate(now, zone):
            raise ReportError("The period ends in the future; choose an end no later than today.")
        ends = now  # "up to today": the report covers the day so far
    if ends - begins > MAX_PERIOD:
        raise ReportError("A report covers at most one year; choose a shorter period.")
    return Period(begins, ends)


# --- requesting -------------------------------------------------------------------------------
def report_request(
    tenant: Tenant,
    period: Period,
    requested_by: User | None,
    *,
    email_contacts: bool = False,
    kind: str = Report.Kind.ON_DEMAND,
    request=None,
) -> Report:
    """Store the request and enqueue its generation after commit. Runs inside the caller's
    transaction and tenant context (a request's, or a scope naming the tenant)."""
    unfinished = Report.objects.for_tenant(tenant).filter(status__in=Report.UNFINISHED).count()
    if kind == Report.Kind.ON_DEMAND and unfinished >= MAX_UNFINISHED_PER_TENANT:
        raise ReportBusy(
            f"{unfinished} reports of {tenant.name} are being generated; "
            "request another when one of them is done."
        )
    report = Report.objects.create(
        tenant=tenant,
        period_start=period.start,
        period_end=period.end,
        kind=kind,
        requested_by=requested_by,
        email_contacts=email_contacts,
        step="Waiting for a worker",
    )
    audit.record(
        "report.requested",
        tenant=tenant,
        actor=requested_by,
        obj=report,
        request=request,
        summary=f"{report.get_kind_display()} report requested for "
        f"{period_label(tenant, period.start, period.end)}",
    )
    _enqueue(tenant.pk, report.pk)
    return report


def _enqueue(tenant_id: int, report_id) -> None:
    """Generation, after the current transaction commits: a Celery task or, in the embedded
    mode (no worker), a thread beside the server or scheduler (tenants.jobs)."""
    jobs.start_after_commit(
        "reports.tasks.generate_report", tenant_id, report_id, run_in_thread=report_generate
    )


# --- generating -------------------------------------------------------------------------------
def _load(tenant_id: int, report_id):
    return Report.objects.for_tenant(tenant_id).filter(pk=report_id)


def _progress(tenant_id: int, report_id, percent_done: int, step: str) -> None:
    """Committed at once, in its own transaction: a page polling the report sees it move."""
    with tenant_scope([tenant_id]):
        jobs.heartbeat(
            _load(tenant_id, report_id).filter(status=Report.Status.RUNNING),
            progress=percent_done,
            step=step[:200],
        )


def _claim(tenant_id: int, report_id) -> Report | None:
    """Queued → running, under a row lock; a running report whose worker went silent is taken
    over. None when there is nothing to do (already done, failed, or being worked)."""
    now = timezone.now()
    with tenant_scope([tenant_id]):
        report = (
            _load(tenant_id, report_id)
            # The report's row only: locking its tenant too would make two reports of one
            # tenant skip each other.
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("tenant")
            .defer("pdf", "csv", "figures")
            .first()
        )
        if report is None:
            return None
        last_beat = report.updated_at or report.created_at
        stale = report.status == Report.Status.RUNNING and last_beat < now - STALE_RUNNING
        if report.status != Report.Status.QUEUED and not stale:
            return None
        if report.attempts >= MAX_ATTEMPTS:
            report.status = Report.Status.FAILED
            report.error = (
                f"Generation was interrupted {report.attempts} times (a worker stopped); "
                "request the report again."
            )
            report.finished_at = report.updated_at = now
            report.save(update_fields=["status", "error", "finished_at", "updated_at"])
            return None
        report.status = Report.Status.RUNNING
        report.attempts = F("attempts") + 1
        report.progress, report.step = 1, "Starting"
        report.started_at = report.updated_at = now
        report.save(
            update_fields=["status", "attempts", "progress", "step", "started_at", "updated_at"]
        )
        report.refresh_from_db(fields=["attempts"])
        return report


def report_generate(tenant_id: int, report_id) -> bool:
    """Generate a queued report: figures, PDF, CSV, then (if asked) the email. True when this
    call finished it. Safe to call twice: the second finds nothing to claim."""
    report = _claim(tenant_id, report_id)
    if report is None:
        return False
    tenant = report.tenant
    step = "Starting"

    def progress(percent_done: int, text: str) -> None:
        nonlocal step
        step = text
        _progress(tenant_id, report_id, percent_done, text)

    try:
        figures = compute_figures(
            tenant,
            report.period_start,
            report.period_end,
            progress=progress,
            scope=lambda: tenant_scope([tenant_id]),
        )
        progress(80, "Drawing the PDF")
        pdf = render_pdf(figures)
        progress(92, "Writing the CSV")
        csv = render_csv(figures)
    except Exception as exc:
        logger.exception("report %s of tenant %s failed at %r", report_id, tenant_id, step)
        _fail(tenant_id, report_id, step, exc)
        return False
    with tenant_scope([tenant_id]):
        finished = (
            _load(tenant_id, report_id)
            .filter(status=Report.Status.RUNNING)
            .update(
                status=Report.Status.DONE,
                progress=100,
                step="Done",
                figures=figures,
                pdf=pdf,
                csv=csv,
                pdf_size=len(pdf),
                csv_size=len(csv),
                error="",
                finished_at=timezone.now(),
                updated_at=timezone.now(),
            )
        )
        if finished:
            # the portal's users and the tenant's channels (notifications) hear of it
            events.tenant_event(
                tenant_id,
                tenant.slug,
                "report.ready",
                str(report_id),
                {"kind": report.kind},
                audience=(events.STAFF, events.CUSTOMER),
            )
        if finished and report.email_contacts:
            enqueue("reports.tasks.email_report", tenant_id, str(report_id))
    return bool(finished)


def _fail(tenant_id: int, report_id, step: str, exc: Exception) -> None:
    message = (
        f"The report could not be generated (while {step[:1].lower() + step[1:]}: "
        f"{type(exc).__name__}). The error is logged for the SOC; request the report again."
    )
    with tenant_scope([tenant_id]):
        _load(tenant_id, report_id).exclude(status=Report.Status.DONE).update(
            status=Report.Status.FAILED,
            error=message,
            finished_at=timezone.now(),
            updated_at=timezone.now(),
        )


# --- emailing ---------------------------------------------------------------------------------
def report_recipients(tenant_id: int) -> list[str]:
    return list(
        Contact.objects.for_tenant(tenant_id)
        .filter(receive_reports=True)
        .order_by("email")
        .values_list("email", flat=True)
        .distinct()
    )


def report_email(tenant_id: int, report_id) -> list[str]:
    """Email a done report, PDF attached, to each of its tenant's report contacts once (one
    message per contact: they need not see each other's addresses). Each delivery is
    committed as it happens, so a retry after a mail-server failure sends only the rest.
    Returns the addresses sent to by this call."""
    with tenant_scope([tenant_id]):
        report = (
            _load(tenant_id, report_id)
            .filter(status=Report.Status.DONE)
            .select_related("tenant")
            .first()
        )
        if report is None or report.emailed_at is not None:
            return []
        recipients = report_recipients(tenant_id)
        pdf = bytes(report.pdf)
    already = set(report.emailed_to)
    figures, tenant = report.figures, report.tenant
    head = figures["headline"]
    label = figures["period"]["label"]
    link = f"{settings.PORTAL_BASE_URL.rstrip('/')}/reports/{report.pk}/"
    body = (
        f"The security report of {tenant.name} for {label} is attached.\n\n"
        f"Alerts: {head['alerts']}\nIncidents: {head['incidents']}\n"
        f"MTTA: {duration(head['mtta_seconds'])}   MTTC: {duration(head['mttc_seconds'])}   "
        f"MTTR: {duration(head['mttr_seconds'])}\n"
        f"SLA compliance: {percent(head['compliance'])}\n"
        f"Escalations: {head['escalations']}\n\n"
        f"The report, its charts and a CSV of its figures: {link}\n"
    )
    filename = f"security-report-{tenant.slug}-{report.period_start:%Y-%m-%d}.pdf"
    sent, refused = [], []
    for address in recipients:
        if address in already:
            continue
        message = EmailMessage(
            subject=mail.subject(f"Security report: {tenant.name}, {label}"),
            body=body,
            to=[address],
        )
        message.attach(filename, pdf, "application/pdf")
        try:
            message.send()
        except Exception as exc:
            error = f"{address}: {type(exc).__name__}: {exc}"
            if mail.refused_for_good(exc):  # a retry would meet the same: the others go on
                refused.append(error)
                continue
            if not isinstance(exc, OSError):
                raise
            with tenant_scope([tenant_id]):  # smtplib's errors included: the task retries
                _load(tenant_id, report_id).update(email_error=single_line(error, 500))
            raise
        sent.append(address)
        with tenant_scope([tenant_id]):
            _load(tenant_id, report_id).update(emailed_to=sorted(already | set(sent)))
    with tenant_scope([tenant_id]):
        _load(tenant_id, report_id).update(
            emailed_at=timezone.now(),
            email_error=single_line("; ".join(refused), 500)
            if refused
            else ("" if recipients else "No contact of this tenant receives reports."),
        )
        audit.record(
            "report.emailed",
            tenant=tenant_id,
            obj=report,
            summary=f"Report of {label} emailed to {len(recipients)} report contact(s)",
            data={"to": recipients},
        )
    return sent


# --- the schedule -----------------------------------------------------------------------------
def due_period(frequency: str, tenant: Tenant, now: datetime) -> Period | None:
    """The last complete period of `frequency` before `now`, in the tenant's time zone."""
    zone = ZoneInfo(tenant.timezone or "UTC")
    today = timezone.localdate(now, zone)
    if frequency == ReportSchedule.Frequency.MONTHLY:
        end = today.replace(day=1)
        start = (end - timedelta(days=1)).replace(day=1)
    elif frequency == ReportSchedule.Frequency.WEEKLY:
        end = today - timedelta(days=today.weekday())
        start = end - timedelta(days=7)
    else:
        return None
    return Period(
        datetime.combine(start, time.min, tzinfo=zone), datetime.combine(end, time.min, tzinfo=zone)
    )


def schedule_due_reports(now: datetime | None = None) -> int:
    """Create each active tenant's due scheduled report, once: the unique constraint on
    (tenant, period) makes a second run, or a second beat, create nothing. A tenant created
    after a period ended gets none for it (one created during it does). Returns the number
    created."""
    now = now or timezone.now()
    due: list[tuple[Tenant, Period, bool]] = []
    with rls_bypass("the report schedule reads every tenant's frequency and reports"):
        schedules = {
            s.tenant_id: s
            for s in ReportSchedule.objects.dangerously_unscoped("the report schedule")
        }
        for tenant in Tenant.objects.filter(status=Tenant.Status.ACTIVE).order_by("pk"):
            schedule = schedules.get(tenant.pk)
            frequency = schedule.frequency if schedule else ReportSchedule.Frequency.MONTHLY
            period = due_period(frequency, tenant, now)
            if period is not None and tenant.created_at <= period.end:
                due.append((tenant, period, schedule.email_contacts if schedule else True))
        # One query for what exists already: a run with nothing to do costs two queries.
        existing = set(
            Report.objects.dangerously_unscoped("the report schedule")
            .filter(
                kind=Report.Kind.SCHEDULED,
                tenant_id__in=[tenant.pk for tenant, _, _ in due],
                period_start__in={period.start for _, period, _ in due},
            )
            .values_list("tenant_id", "period_start", "period_end")
        )
    created = 0
    for tenant, period, email_contacts in due:
        if (tenant.pk, period.start, period.end) in existing:
            continue
        try:
            with tenant_scope([tenant.pk]):
                report_request(
                    tenant, period, None, kind=Report.Kind.SCHEDULED, email_contacts=email_contacts
                )
        except IntegrityError:  # a concurrent run created it first
            continue
        created += 1
    return created


def report_resume_stalled(now: datetime | None = None) -> int:
    """Enqueue again the reports whose task was lost (queued too long) or whose worker died
    (running without progress too long). Claiming is conditional, so a report that is in
    fact being worked is not generated twice."""
    now = now or timezone.now()
    with rls_bypass("resume stalled reports of every tenant"):
        reports = Report.objects.dangerously_unscoped("the stalled-report sweep")
        stalled = list(
            jobs.stalled(
                reports, now, queued_for=STALE_QUEUED, running_for=STALE_RUNNING
            ).values_list("tenant_id", "pk", "status")[:100]
        )
        # A queued report waits its turn again before the next nudge (a running one must stay
        # stale, so that the claim may take it over).
        reports.filter(
            pk__in=[pk for _, pk, status in stalled if status == Report.Status.QUEUED]
        ).update(updated_at=now)
    for tenant_id, report_id, _ in stalled:
        _enqueue(tenant_id, report_id)
    return len(stalled)
