from django.urls import path

from phones.api.sync_views import PhoneProviderLinkApi, PhonesBulkSyncApi, PhoneSyncApi
from phones.api.views import PhoneCollectionApi, PhoneItemApi

urlpatterns = [
    # Before "phones/<phone_id>", which would otherwise take "sync" for a phone id.
    path("v1/accounts/<str:account_id>/phones/sync", PhonesBulkSyncApi.as_view(), name="phones-sync"),
    path("v1/accounts/<str:account_id>/phones/<str:phone_id>/sync", PhoneSyncApi.as_view(), name="phone-sync"),
    path(
        "v1/accounts/<str:account_id>/phones/<str:phone_id>/provider-link",
        PhoneProviderLinkApi.as_view(),
        name="phone-provider-link",
    ),
    path(
        "v1/accounts/<str:account_id>/phones",
        PhoneCollectionApi.as_view(),
        name="phone-collection",
    ),
    path(
        "v1/accounts/<str:account_id>/phones/<str:phone_id>",
        PhoneItemApi.as_view(),
        name="phone-item",
    ),
]
