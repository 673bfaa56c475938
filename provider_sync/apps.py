from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProviderSyncConfig(AppConfig):
    name = "provider_sync"
    verbose_name = _("Provider sync")
