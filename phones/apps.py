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
        self._present_in_the_audit_log()
        from backoffice.dashboard import register_card
        from phones.dashboard import phone_totals_card, sync_failures_card

        register_card(phone_totals_card, order=10)
        register_card(sync_failures_card, order=20)

    @staticmethod
    def _present_in_the_audit_log() -> None:
        # The audit log shows numbers, finds a phone's entries by a number typed in any form, and
        # labels each event's values with the fields of the model it records.
        from audit.models import AuditEvent
        from audit.presentation import register_phone_subject
        from phones.models import Phone, ProviderLink, SyncJob
        from phones.numbers import format_international
        from phones.selectors import phone_ids_by_number

        models = {
            AuditEvent.PHONE_CREATION: Phone,
            AuditEvent.PHONE_CHANGE: Phone,
            AuditEvent.PHONE_LINK_CHANGE: ProviderLink,
            AuditEvent.PHONE_UNLINK: ProviderLink,
            AuditEvent.PHONE_SYNC_REQUESTED: SyncJob,
            AuditEvent.PHONE_SYNC_SUCCEEDED: SyncJob,
            AuditEvent.PHONE_SYNC_FAILED: SyncJob,
            AuditEvent.PHONE_PROVISIONING_FINISHED: SyncJob,
        }
        register_phone_subject(
            format_number=format_international, find_phone_ids=phone_ids_by_number, field_models=models
        )
