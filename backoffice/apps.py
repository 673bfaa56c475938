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
        from backoffice.tokens import connect_receivers

        # A role taken away raises its holders' token version, whichever code removes it.
        connect_receivers()

        # The one patch of a library's internals (unfold's changelist headers): checked, then applied.
        memoize_unfold_headers()
