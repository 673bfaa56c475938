from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = _("Audit")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from audit.access_events import connect_receivers
        from audit.dashboard import changes_chart_card, recent_activity_card, recent_changes_card
        from backoffice.dashboard import register_card

        register_card(recent_changes_card, order=30)
        register_card(changes_chart_card, order=40)
        register_card(recent_activity_card, order=50)
        # Sign-ins, lockouts, operators, roles, sign-outs: entries of the access chain.
        connect_receivers()
