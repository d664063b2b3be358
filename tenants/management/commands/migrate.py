"""`migrate`, run as the schema owner (DATABASE_OWNER_URL) so that the app role owns nothing.

Before migrating it creates the app role if it is missing; after, post_migrate (tenants.rls)
installs row-level security and the app role's grants, derived from the models on every run.
"""

from typing import Any

import dj_database_url
from django.conf import settings
from django.core.management.commands.migrate import Command as DjangoMigrate
from django.db import connections

from tenants.db import ensure_app_role, owner_connection


class Command(DjangoMigrate):
    def handle(self, *args: Any, **options: Any) -> None:
        database = options["database"]
        separate_owner = settings.DATABASE_OWNER_URL != settings.DATABASE_URL
        with owner_connection(database):
            connection = connections[database]
            if connection.vendor == "postgresql" and separate_owner:
                app = dj_database_url.parse(settings.DATABASE_URL)
                with connection.cursor() as cursor:
                    ensure_app_role(cursor, app["USER"], app.get("PASSWORD") or None)
            super().handle(*args, **options)
