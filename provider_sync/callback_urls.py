"""The providers' callbacks, included by the project's URLconf at ``providers/``."""

from django.urls import path

from provider_sync.callbacks import sinch_callback

urlpatterns = [
    path("sinch/callback", sinch_callback, name="sinch-callback"),
]
