from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from audit.dashboard import recent_changes_card
        from backoffice.dashboard import register_card

        register_card(recent_changes_card, order=30)
