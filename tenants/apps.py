from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants and access"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from . import identity, rls, signals  # noqa: F401  (audit and allauth receivers)
        from .api import schema  # noqa: F401  (OpenAPI auth extensions)

        # After every migrate: row-level security on each tenant-owned table and the app
        # role's grants, derived from the models so that a new table cannot be forgotten.
        post_migrate.connect(rls.install_after_migrate, sender=self)
