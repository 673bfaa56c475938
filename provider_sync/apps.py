from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProviderSyncConfig(AppConfig):
    name = "provider_sync"
    verbose_name = _("Provider sync")

    def ready(self) -> None:
        from audit.presentation import register_labels
        from backoffice.dashboard import register_card
        from provider_sync.admin import SETTING_LABELS
        from provider_sync.dashboard import sync_outcomes_card

        register_card(sync_outcomes_card, order=25)
        # A link's settings in the audit log read as on the link's page.
        register_labels(SETTING_LABELS)
