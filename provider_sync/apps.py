from django.apps import AppConfig


class ProviderSyncConfig(AppConfig):
    name = "provider_sync"
    verbose_name = "Provider sync"
