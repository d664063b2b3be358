"""`intake` is no longer a token scope (SIEMs send with their source's intake key): strip it
from tokens minted with it, which keep working with their other scopes."""

from django.db import migrations

RETIRED = "intake"


def drop_intake_scope(apps, schema_editor):
    ApiToken = apps.get_model("tenants", "ApiToken")
    changed = []
    # In Python, not with a JSON lookup: SQLite has no `contains` on JSON arrays.
    for token in ApiToken.objects.only("pk", "scopes").iterator():
        if isinstance(token.scopes, list) and RETIRED in token.scopes:
            token.scopes = [scope for scope in token.scopes if scope != RETIRED]
            changed.append(token)
    ApiToken.objects.bulk_update(changed, ["scopes"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [("tenants", "0005_apitoken_parent")]

    # Nothing to put back: the scope never allowed anything.
    operations = [migrations.RunPython(drop_intake_scope, migrations.RunPython.noop)]
