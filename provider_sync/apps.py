from django.apps import AppConfig


class ProviderSyncConfig(AppConfig):
    name = "provider_sync"
    verbose_name = "Provider sync"

    def ready(self) -> None:
        from backoffice.dashboard import register_card
        from provider_sync.dashboard import sync_outcomes_card

        register_card(sync_outcomes_card, order=25)
