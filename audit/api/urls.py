from django.urls import path

from audit.api.views import AuditEntryItemApi, AuditEntryListApi

urlpatterns = [
    path("v1/entries", AuditEntryListApi.as_view(), name="audit-entry-list"),
    path(
        "v1/entries/<str:entryId>",
        AuditEntryItemApi.as_view(),
        name="audit-entry-item",
    ),
]
