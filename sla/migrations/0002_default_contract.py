"""The MSSP's default contract template: what every tenant gets until it has its own policy
for a severity. Minutes of covered time; None = not measured."""

from django.db import migrations

DEFAULTS = [
    # severity, acknowledge, notify, contain, resolve, coverage
    ("critical", 15, 30, 240, 1440, "24x7"),
    ("high", 30, 60, 480, 2880, "24x7"),
    ("medium", 120, 240, 1440, 4320, "24x7"),
    ("low", 480, 960, None, 10080, "business_hours"),
    ("info", 1440, None, None, None, "business_hours"),
]


def create(apps, schema_editor):
    SlaPolicy = apps.get_model("sla", "SlaPolicy")
    for severity, ack, notify, contain, resolve, coverage in DEFAULTS:
        SlaPolicy.objects.get_or_create(
            tenant=None, severity=severity,
            defaults={"acknowledge_minutes": ack, "notify_minutes": notify,
                      "contain_minutes": contain, "resolve_minutes": resolve,
                      "coverage": coverage, "at_risk_percent": 75},
        )


def remove(apps, schema_editor):
    apps.get_model("sla", "SlaPolicy").objects.filter(tenant=None).delete()


class Migration(migrations.Migration):
    dependencies = [("sla", "0001_initial")]
    operations = [migrations.RunPython(create, remove)]
