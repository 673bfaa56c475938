"""Settings of the minimal DRF endpoint: the product's database and models, a plain stack."""

from backoffice.settings import *  # noqa: F403

ROOT_URLCONF = "bench.reference.urls"
# Django's own connection defaults (client-side parameter binding, no prepared statements), as a
# new project has them; the product turns on server-side binding and prepared statements.
# BENCH_REFERENCE_PREPARED=true gives the reference the product's options (README, Performance).
if not env.bool("BENCH_REFERENCE_PREPARED", default=False):  # noqa: F405
    DATABASES["default"]["OPTIONS"] = {}  # noqa: F405
# What ``startproject`` gives a new project.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}
