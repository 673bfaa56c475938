from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from backoffice.api_auth import LogoutApi, TokenObtainView, TokenRefreshApi
from backoffice.docs import ApiDocsView, ApiSchemaView
from backoffice.mfa_views import SignInView, enrol, verify
from backoffice.preferences import preferences_view, switch_language


class FaviconView(RedirectView):
    """/favicon.ico -> the static icon. Its address is resolved per request, not at import: in
    production the static files' manifest only exists after ``collectstatic``, and ``manage.py
    check`` (which imports the URLconf) must run before it."""

    permanent = True

    def get_redirect_url(self, *args, **kwargs) -> str:
        return static("backoffice/favicon.svg")


urlpatterns = [
    # Browsers ask for /favicon.ico on pages that link none (the admin's sign-in page): the same icon.
    path("favicon.ico", FaviconView.as_view()),
    # The provider sync's routes first: "phones/sync" must not be read as a phone id.
    path("accounts/", include("provider_sync.urls")),
    path("accounts/", include("phones.api.urls")),
    path("audit/", include("audit.api.urls")),
    path("providers/", include("provider_sync.callback_urls")),
    path("auth/token", TokenObtainView.as_view(), name="token-obtain"),
    path("auth/token/refresh", TokenRefreshApi.as_view(), name="token-refresh"),
    path("auth/logout", LogoutApi.as_view(), name="logout"),
    path("api/schema/", ApiSchemaView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        ApiDocsView.as_view(url_name="api-schema"),
        name="api-docs",
    ),
    # The admin's sign-in with a second factor (backoffice.mfa_views), before the admin's own
    # login view at the same address.
    path("admin/login/", SignInView.as_view(), name="mfa-login"),
    path("admin/mfa/verify/", verify, name="mfa-verify"),
    path("admin/mfa/enrol/", enrol, name="mfa-enrol"),
    # The signed-in operator's own language and time zone (backoffice.preferences); the switch
    # also serves the sign-in page (a cookie only, nobody is signed in).
    path("admin/preferences/", admin.site.admin_view(preferences_view), name="operator-preferences"),
    path("admin/language/", switch_language, name="operator-language"),
    # The auth app's index lists its one model, the roles, by Django's name ("Groups"): the list
    # itself instead, as a role page's header (app and list both "Roles") shows it.
    path("admin/auth/", RedirectView.as_view(pattern_name="admin:auth_group_changelist", permanent=False)),
    path("admin/", admin.site.urls),
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
]

# A refused page keeps the admin's look and a way back (templates/403.html).
handler403 = "backoffice.denied.permission_denied"
