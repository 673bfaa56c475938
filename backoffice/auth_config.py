"""Django's auth app under the name operators know it by (its own module: ``backoffice.apps``
must hold one app config, or Django would not pick ``BackofficeConfig`` and its ``ready``)."""

from django.contrib.auth.apps import AuthConfig
from django.utils.translation import gettext_lazy as _


class RolesAuthConfig(AuthConfig):
    """``django.contrib.auth``, named "Roles": its models here are the groups, which every page
    calls roles (the operators are ``backoffice.User``). Django named it "Authentication and
    Authorization" in a role page's header and on its index page. Only the name changes: same
    label, models, migrations and signals."""

    verbose_name = _("Roles")
