"""The provider sync's API, beside the phones API: included by the project's URLconf at
``accounts/``, before the phones API (callbacks: ``provider_sync.callback_urls``)."""

from django.urls import path

from provider_sync.api import PhoneProviderLinkApi, PhonesBulkSyncApi, PhoneSyncApi

urlpatterns = [
    # Included before the phones API, whose "phones/<phone_id>" would otherwise take "sync".
    path("v1/accounts/<str:accountId>/phones/sync", PhonesBulkSyncApi.as_view(), name="phones-sync"),
    path("v1/accounts/<str:accountId>/phones/<str:phoneId>/sync", PhoneSyncApi.as_view(), name="phone-sync"),
    path(
        "v1/accounts/<str:accountId>/phones/<str:phoneId>/provider-link",
        PhoneProviderLinkApi.as_view(),
        name="phone-provider-link",
    ),
]
