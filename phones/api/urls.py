from django.urls import path

from phones.api.views import PhoneCollectionApi, PhoneItemApi

urlpatterns = [
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
