"""The 403 page: the admin's look (sidebar, header) and a way back to the dashboard.

Django's permission-denied handler (``handler403`` in the URLconf) renders ``403.html`` with a bare
request context; the admin's base template needs the site's context (sidebar, site title) to show
the page an operator lives in, so this view gives it that. The API's refusals are DRF's own JSON
answers and never reach here.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import requires_csrf_token


@requires_csrf_token  # the page's sign-out form needs a token even when the denied view set none
def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    context = {**admin.site.each_context(request), "title": _("You may not open this page")}
    response = TemplateResponse(request, "403.html", context, status=403)
    return response.render()
