"""Thin tasks: they take ids and call a service, which sets the tenant's scope, locks and
re-checks the report, and does nothing when the work is already done (a redelivered task is
harmless). Generation commits its progress as it goes, so it opens its own short
transactions rather than running in one (as tenants.tasks.TenantTask would)."""

from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True)
def generate_report(tenant_id: int, report_id: str) -> bool:
    from .services import report_generate

    return report_generate(int(tenant_id), report_id)


@shared_task(bind=True, ignore_result=True, max_retries=5, default_retry_delay=120)
def email_report(self, tenant_id: int, report_id: str) -> int:
    from .services import report_email

    try:
        return len(report_email(int(tenant_id), report_id))
    except OSError as exc:  # mail server unreachable: the contacts not yet sent to, later
        raise self.retry(exc=exc) from exc


@shared_task(ignore_result=True)
def schedule_reports() -> int:
    """Every 15 minutes (beat, or run_periodic in the embedded mode): creates each tenant's
    due scheduled report once."""
    from .services import schedule_due_reports

    return schedule_due_reports()


@shared_task(ignore_result=True)
def resume_stalled_reports() -> int:
    """Every minute: reports whose task was lost or whose worker died are enqueued again."""
    from .services import report_resume_stalled

    return report_resume_stalled()
