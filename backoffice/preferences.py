"""An operator's own preferences: the language switch of the user menu and the preferences page.

Both change the signed-in operator only: neither takes an operator id, so nobody can set
another's. A preference is no security event: nothing is audited, the token version is untouched
(only ``language`` and ``time_zone`` are written).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from django.views.i18n import set_language
from unfold.widgets import UnfoldAdminSelectWidget

from backoffice.models import User
from backoffice.operator_locale import LANGUAGE_CHOICES, time_zone_names, validate_time_zone
from backoffice.services import operator_preferences_set


def language_action(request: HttpRequest) -> str:
    """Where unfold's language switch posts (``UNFOLD["LANGUAGES"]["action"]``)."""
    return reverse("operator-language")


def account_links(request: HttpRequest) -> list[dict[str, Any]]:
    """The user menu's links (``UNFOLD["ACCOUNT"]``): unfold shows these instead of its own
    "Change password", so that one is listed again (for those who have a password)."""
    if not request.user.is_authenticated:  # the sign-in pages build the same context
        return []
    links = [{"title": gettext_lazy("Preferences"), "link": reverse("operator-preferences")}]
    if request.user.has_usable_password():
        links.append({"title": gettext_lazy("Change password"), "link": reverse("admin:password_change")})
    return links


@require_POST
def switch_language(request: HttpRequest) -> HttpResponse:
    """Django's ``set_language`` (it checks the language and the ``next`` address, and writes the
    language cookie the sign-in page reads), and for a signed-in operator their preference too,
    so that it follows them to their next sign-in on any browser."""
    response = set_language(request)
    language = request.POST.get("language", "")
    if request.user.is_authenticated and language in dict(LANGUAGE_CHOICES):
        operator_preferences_set(request.user, language=language)
    return response


class PreferencesForm(forms.ModelForm):
    time_zone = forms.ChoiceField(
        label=gettext_lazy("Time zone"),
        help_text=gettext_lazy("Times in the backoffice are shown in this zone, with its name."),
        widget=UnfoldAdminSelectWidget,
        validators=[validate_time_zone],
    )

    class Meta:
        model = User
        fields = ["language", "time_zone"]
        widgets = {"language": UnfoldAdminSelectWidget}
        labels = {"language": gettext_lazy("Language")}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [(name, name) for name in time_zone_names()]


def preferences_view(request: HttpRequest) -> HttpResponse:
    """The signed-in operator's language and time zone (GET shows them, POST saves them)."""
    operator = request.user
    form = PreferencesForm(request.POST or None, instance=operator)
    if request.method == "POST" and form.is_valid():
        operator_preferences_set(
            operator, language=form.cleaned_data["language"], time_zone=form.cleaned_data["time_zone"]
        )
        # The confirmation in the language just chosen, like the page it leads to.
        translation.activate(operator.language)
        messages.success(request, _("Your preferences were saved."))
        return HttpResponseRedirect(reverse("operator-preferences"))
    context = {**admin.site.each_context(request), "title": _("Preferences"), "form": form}
    return render(request, "admin/backoffice/preferences.html", context)
