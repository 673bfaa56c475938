"""A password someone else chose is changed at next sign-in.

When a manager resets an operator's password, or creates an operator with one
(``backoffice.services``), ``User.password_change_required`` is set. Until the operator chooses
their own password, the admin shows them nothing but its password page (``PasswordChangeRequired``
below), and ``/auth/token`` gives them no token (``backoffice.api_auth``): whoever chose the
password cannot keep using it in their name. A successful change of their own password (the
admin's password page answering its redirect) clears the flag.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from backoffice.services import password_changed_by_self

MESSAGE = _("Your password was set by someone else: choose your own to continue.")


class PasswordChangeRequired:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The path first: touching ``request.user`` on an API call would load its (cookie-less)
        # session for nothing and add "Vary: Cookie" to the answer.
        if not request.path.startswith("/admin/"):
            return self.get_response(request)
        user = getattr(request, "user", None)
        if not (user is not None and user.is_authenticated):
            return self.get_response(request)
        change = reverse("admin:password_change")
        allowed = (
            change,
            reverse("admin:password_change_done"),
            reverse("admin:logout"),
            reverse("admin:jsi18n"),
            # The language switch of the password page's own menu: read it in one's language.
            reverse("operator-language"),
        )
        if user.password_change_required and request.path not in allowed:
            messages.warning(request, MESSAGE)
            return HttpResponseRedirect(change)
        response = self.get_response(request)
        if request.path == change and request.method == "POST" and response.status_code == 302:
            password_changed_by_self(user)
        return response
