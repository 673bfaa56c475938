"""The admin's sign-in with a second factor: the password (unfold's own page), then a code from
the authenticator or a recovery code, or, for an operator who must use MFA and has none yet,
enrolment. The operator is signed in (Django's ``login``) only once all of it is done: until
then the session holds only who passed the password step (``PENDING``), so no admin page, API
call by session or docs page is ever reachable half signed in.

Wrong codes count as failed sign-ins for django-axes' lockout (``user_login_failed``), and the
count is reset only by a complete sign-in (``user_logged_in``), so signing in with the password
again does not buy another round of guesses.
"""

from __future__ import annotations

import time
from base64 import b32encode
from collections.abc import Callable
from typing import Any

import django_otp
import qrcode
import qrcode.image.svg
from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth.signals import user_login_failed
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.decorators import method_decorator
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device
from unfold.widgets import UnfoldAdminTextInputWidget

from backoffice import mfa
from backoffice.admin_forms import OperatorLoginForm
from backoffice.auth import lockout_response

PENDING = "mfa_pending"
# The password step is good for this long: a code or an enrolment must follow soon after it.
PENDING_SECONDS = 10 * 60
WRONG_CODE = _("This code is not valid. Use the current code of your authenticator app, or a recovery code.")


# Browsers and password managers offer the code an app or a text just gave (autocomplete).
_CODE_INPUT = {"autocomplete": "one-time-code", "autofocus": True}


class CodeForm(forms.Form):
    otp = forms.CharField(
        label=_("Authentication code"),
        max_length=32,
        strip=True,
        widget=UnfoldAdminTextInputWidget(attrs=_CODE_INPUT),
        help_text=_("The 6-digit code of your authenticator app, or one of your recovery codes."),
    )


class EnrolForm(forms.Form):
    otp = forms.CharField(
        label=_("Code from your authenticator app"),
        max_length=32,
        strip=True,
        widget=UnfoldAdminTextInputWidget(attrs={**_CODE_INPUT, "inputmode": "numeric"}),
    )


def _speak_their_language(user: Any) -> None:
    """Half signed in, the operator is still anonymous to the middleware (which follows the
    browser): the code and enrolment pages speak the operator's own language, read from the row
    this step loads anyway."""
    translation.activate(user.language)


def _admin_context(request: HttpRequest, title: str) -> dict[str, Any]:
    return {**admin.site.each_context(request), "title": title, "subtitle": None}


# --- The signed-in-by-password state ----------------------------------------------------------
def _begin_pending(request: HttpRequest, user: Any, next_url: str) -> None:
    request.session[PENDING] = {
        "user": user.pk,
        "backend": user.backend,
        "since": time.time(),
        "next": next_url,
    }


def _pending(request: HttpRequest) -> tuple[Any, dict[str, Any]] | None:
    """The operator who passed the password step (still active, recently), or ``None``."""
    state = request.session.get(PENDING)
    if not isinstance(state, dict) or time.time() - state.get("since", 0) > PENDING_SECONDS:
        return None
    user = get_user_model().objects.filter(pk=state.get("user"), is_active=True).first()
    return (user, state) if user is not None else None


def _finish(request: HttpRequest, user: Any, backend: str, device: Device | None) -> None:
    """The complete sign-in: Django's (a new session key, ``user_logged_in``: axes resets the
    failure count) and django-otp's record of the device that verified it."""
    request.session.pop(PENDING, None)
    auth_login(request, user, backend=backend)
    if device is not None:
        django_otp.login(request, device)


def _wrong_code(request: HttpRequest, user: Any) -> None:
    """A wrong code is a failed sign-in of this operator for the lockout; the code itself is
    not among the credentials given (and ``otp`` is an ``AXES_SENSITIVE_PARAMETERS``)."""
    user_login_failed.send(sender=__name__, credentials={"username": user.get_username()}, request=request)
    if getattr(request, "axes_locked_out", False):
        request.session.pop(PENDING, None)  # locked out: the password step is to be done again


def _locked(request: HttpRequest, user: Any) -> bool:
    return AxesProxyHandler.is_locked(request, {"username": user.get_username()})


# --- Step 1: the password ----------------------------------------------------------------------
@method_decorator([sensitive_post_parameters(), csrf_protect, never_cache], name="dispatch")
class SignInView(LoginView):
    """The admin's sign-in page (unfold's template, our form); a right password leads to the
    code or to enrolment when the operator needs one, else signs in as before."""

    authentication_form = OperatorLoginForm
    template_name = "admin/login.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        request.current_app = admin.site.name
        if request.method == "GET" and admin.site.has_permission(request):
            return HttpResponseRedirect(reverse("admin:index"))
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(_admin_context(self.request, _("Log in")))
        context["app_path"] = self.request.get_full_path()
        context["username"] = self.request.user.get_username()
        return context

    def get_default_redirect_url(self) -> str:
        return reverse("admin:index")

    def form_valid(self, form: Any) -> HttpResponse:
        user = form.get_user()
        step = mfa.second_step(user)
        if step is None:
            return super().form_valid(form)
        _begin_pending(self.request, user, self.get_success_url())
        return HttpResponseRedirect(reverse("mfa-verify" if step == "verify" else "mfa-enrol"))


def _back_to_sign_in() -> HttpResponse:
    return HttpResponseRedirect(reverse("admin:login"))


# --- Step 2: the code -----------------------------------------------------------------------------
@sensitive_post_parameters("otp")
@csrf_protect
@never_cache
def verify(request: HttpRequest) -> HttpResponse:
    """The code after the password: the authenticator's or a recovery code (used up)."""
    pending = _pending(request)
    if pending is None:
        return _back_to_sign_in()
    user, state = pending
    _speak_their_language(user)
    if not mfa.is_enrolled(user):  # nothing to give a code from: enrolment first (a reset since)
        return HttpResponseRedirect(reverse("mfa-enrol"))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if _locked(request, user):
            request.session.pop(PENDING, None)
            return lockout_response(request, credentials={"username": user.get_username()})
        device = mfa.verify_code(user, form.cleaned_data["otp"])
        if device is not None:
            _finish(request, user, state["backend"], device)
            return HttpResponseRedirect(state["next"])
        _wrong_code(request, user)
        form.add_error("otp", WRONG_CODE)
    context = {**_admin_context(request, _("Authentication code")), "form": form, "email": user.get_username()}
    return render(request, "admin/mfa/verify.html", context)


# --- Enrolment ----------------------------------------------------------------------------------
def _qr_svg(url: str) -> str:
    """The otpauth URL as an inline SVG QR code: drawn here, no script and nothing fetched (the
    Content-Security-Policy allows neither)."""
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    return image.to_string(encoding="unicode")


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@sensitive_post_parameters("otp")
@csrf_protect
@never_cache
def enrol(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator: its secret (text and QR code), confirmed with a code it shows;
    then the recovery codes, shown once. For an operator who must use MFA, right after the
    password (and only then is it signed in); for a signed-in operator who chooses to."""
    pending = _pending(request)
    if pending is not None:
        user, state = pending
        _speak_their_language(user)
    elif request.user.is_authenticated and request.user.is_staff:
        user, state = request.user, None
    else:
        return _back_to_sign_in()
    if mfa.is_enrolled(user):
        return HttpResponseRedirect(reverse("admin:index") if state is None else reverse("mfa-verify"))
    form = EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if state is not None and _locked(request, user):
            request.session.pop(PENDING, None)
            return lockout_response(request, credentials={"username": user.get_username()})
        enrolment = mfa.confirm_enrolment(user, form.cleaned_data["otp"])
        if enrolment is not None:
            if state is not None:
                _finish(request, user, state["backend"], enrolment.device)
            else:
                django_otp.login(request, enrolment.device)
            context = {
                **_admin_context(request, _("Recovery codes")),
                "codes": enrolment.recovery_codes,
                "next": state["next"] if state is not None else reverse("admin:index"),
            }
            return render(request, "admin/mfa/recovery_codes.html", context)
        if state is not None:
            _wrong_code(request, user)
        form.add_error("otp", WRONG_CODE)
    device = mfa.start_enrolment(user)
    secret = b32encode(device.bin_key).decode()
    context = {
        **_admin_context(request, _("Set up two-factor authentication")),
        "form": form,
        "email": user.get_username(),
        "secret": _grouped(secret),
        # Markup that qrcode drew from our own otpauth URL: nothing of the request is in it.
        "qr_svg": mark_safe(_qr_svg(device.config_url)),
        "required": mfa.mfa_required(user),
        "pending": state is not None,
    }
    return render(request, "admin/mfa/enrol.html", context)


# --- Sessions of a reset authenticator --------------------------------------------------------------
class EndResetSessionsMiddleware:
    """Signs out a session that an authenticator verified once that authenticator is gone (its
    MFA was reset: a lost or stolen phone) or no longer its operator's: whoever signed in with it
    loses the admin and the API by session at their next request. Sessions verified by no device
    (an exempt operator's) carry no device id and cost nothing here; nor do bearer-token calls,
    which send no session cookie."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        # Only a request that sends a session cookie has a session to check: reading the session
        # of one that sends none (a bearer-token call) would add "Vary: Cookie" to its answer.
        has_session = session is not None and settings.SESSION_COOKIE_NAME in request.COOKIES
        device_id = session.get(DEVICE_ID_SESSION_KEY) if has_session else None
        if device_id:
            device = Device.from_persistent_id(device_id)
            if device is None or not device.confirmed or str(device.user_id) != str(session.get(SESSION_KEY)):
                auth_logout(request)
        return self.get_response(request)
