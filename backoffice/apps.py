from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BackofficeConfig(AppConfig):
    name = "backoffice"
    verbose_name = _("Operators and roles")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the OpenAPI extension for our JWT authentication class.
        from backoffice import schema  # noqa: F401
        from backoffice.admin_base import memoize_unfold_headers
        from backoffice.db_writes import cache_built_statements
        from backoffice.tokens import connect_receivers

        # A role taken away raises its holders' token version, whichever code removes it.
        connect_receivers()

        # The two changes to a library's internals, each checked, then applied: unfold's changelist
        # headers, and psycopg's limit for caching a statement's parsed placeholders.
        memoize_unfold_headers()
        cache_built_statements()
