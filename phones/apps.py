from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PhonesConfig(AppConfig):
    name = "phones"
    verbose_name = _("Phones")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from audit.integrity import register_subject_state
        from phones.objects import phone_audit_state

        register_subject_state(phone_audit_state)
        from backoffice.dashboard import register_card
        from phones.dashboard import phone_totals_card, sync_failures_card

        register_card(phone_totals_card, order=10)
        register_card(sync_failures_card, order=20)
