"""Imports and retro-hunts become tenants.jobs.TrackedJob: their heartbeat, `progress_at`, is
the kit's `updated_at` (the same meaning: empty until the first committed step)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("intel", "0004_retrohunt_per_tenant"),
    ]

    operations = [
        migrations.RenameField("indicatorimport", "progress_at", "updated_at"),
        migrations.RenameField("retrohunt", "progress_at", "updated_at"),
        migrations.AlterField(
            model_name="indicatorimport",
            name="updated_at",
            field=models.DateTimeField(
                blank=True, help_text="The last committed step (the job's heartbeat).", null=True
            ),
        ),
        migrations.AlterField(
            model_name="retrohunt",
            name="updated_at",
            field=models.DateTimeField(
                blank=True, help_text="The last committed step (the job's heartbeat).", null=True
            ),
        ),
    ]
