"""How an incident was opened (intake, hunt, customer, analyst) and what its opener said.
Incidents a hunt's hit opened have always had a `hunt:` fingerprint: they are marked so."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def mark_hunt_incidents(apps, schema_editor):
    connection = schema_editor.connection
    table = connection.ops.quote_name(apps.get_model("alerts", "Incident")._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Every tenant's rows (row-level security is forced on the owner too), this
            # transaction only.
            cursor.execute("SELECT set_config('mssp.bypass', 'on', true)")
        cursor.execute(f"UPDATE {table} SET origin = 'hunt' WHERE fingerprint LIKE %s", ["hunt:%"])
        if connection.vendor == "postgresql":
            cursor.execute("SELECT set_config('mssp.bypass', '', true)")


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0009_huntrun_new_per_tenant"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="incident",
            name="affected_assets",
            field=models.JSONField(blank=True, db_default=[], default=list),
        ),
        migrations.AddField(
            model_name="incident",
            name="affected_people",
            field=models.JSONField(blank=True, db_default=[], default=list),
        ),
        migrations.AddField(
            model_name="incident",
            name="description",
            field=models.TextField(blank=True, db_default="", default=""),
        ),
        migrations.AddField(
            model_name="incident",
            name="opened_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="incident",
            name="origin",
            field=models.CharField(
                choices=[
                    ("intake", "Intake"),
                    ("hunt", "Hunt"),
                    ("customer", "Raised by the customer"),
                    ("analyst", "Opened by an analyst"),
                ],
                db_default="intake",
                default="intake",
                max_length=10,
            ),
        ),
        migrations.RunPython(mark_hunt_incidents, migrations.RunPython.noop),
    ]
