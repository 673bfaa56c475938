from django.urls import path

from phones.api.views import PhoneCollectionApi, PhoneItemApi

# The path's parameters have the contract's names (accountId, phoneId): the OpenAPI document takes
# them from here. Ids are read as text and parsed by the views, so that a bad one is the contract's
# 400 naming it, not a 404.
urlpatterns = [
    path(
        "v1/accounts/<str:accountId>/phones",
        PhoneCollectionApi.as_view(),
        name="phone-collection",
    ),
    path(
        "v1/accounts/<str:accountId>/phones/<str:phoneId>",
        PhoneItemApi.as_view(),
        name="phone-item",
    ),
]
