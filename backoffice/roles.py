"""The role matrix of DESIGN.md section 5: roles are Django groups holding these permissions.

The matrix is seeded by a migration and stays editable by an admin afterwards; code checks
permissions, never role names, so an edited matrix takes effect everywhere at once.
"""

from __future__ import annotations

VIEW_PHONE = "phones.view_phone"
ADD_PHONE = "phones.add_phone"
CHANGE_PHONE = "phones.change_phone"
MANAGE_PROVIDER_LINK = "phones.manage_provider_link"
RESYNC_PHONE = "phones.resync_phone"
VIEW_AUDIT = "audit.view_auditentry"
VIEW_OWN_AUDIT = "audit.view_own_auditentry"
MANAGE_OPERATORS = (
    "backoffice.view_user",
    "backoffice.add_user",
    "backoffice.change_user",
    "auth.view_group",
)

# Permissions that decide who may do what. A role holding any of them is a managing role: only
# superusers grant it, and only superusers change an operator who holds one (DESIGN.md section 5),
# or a manager could make another manager, or set a manager's password and sign in as them.
MANAGING_PERMISSIONS = frozenset(
    f"{app}.{action}_{model}"
    for app, model in (("backoffice", "user"), ("auth", "group"), ("auth", "permission"))
    for action in ("add", "change", "delete")
)

# The apps whose permissions are this product's (what the roles page offers; with ``auth``'s
# group permissions: who may see or edit the roles).
PRODUCT_APPS = ("backoffice", "phones", "audit", "provider_sync")

_WRITE = (ADD_PHONE, CHANGE_PHONE)
_PROVIDER = (MANAGE_PROVIDER_LINK, RESYNC_PHONE)

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "crm-operator": (VIEW_PHONE, *_WRITE, VIEW_OWN_AUDIT),
    "backoffice-operator": (VIEW_PHONE, *_WRITE, *_PROVIDER, VIEW_AUDIT),
    "itibackoffice-operator": (VIEW_PHONE, *_PROVIDER, VIEW_AUDIT),
    "itibackoffice-master": (
        VIEW_PHONE,
        *_WRITE,
        *_PROVIDER,
        VIEW_AUDIT,
        *MANAGE_OPERATORS,
    ),
    "itinivel1-operator": (VIEW_PHONE, RESYNC_PHONE),
    "inspetoria-operator": (VIEW_PHONE, VIEW_AUDIT),
    "inspetoria-master": (VIEW_PHONE, VIEW_AUDIT),
    "treasury-operator": (VIEW_PHONE,),
    "geroficios-operator": (VIEW_PHONE,),
}
ROLES: tuple[str, ...] = tuple(ROLE_PERMISSIONS)


def seed_role_matrix(*, reset: bool = False) -> None:
    """Create missing roles with the default matrix; ``reset`` also restores edited ones.

    The migration seeds the same matrix on a new database; this is for tests (whose flushes
    empty the groups) and for an admin who wants the defaults back.
    """
    from django.contrib.auth.models import Group, Permission
    from django.db import transaction

    with transaction.atomic():
        existing = set(Group.objects.filter(name__in=ROLES).values_list("name", flat=True))
        for role, perms in ROLE_PERMISSIONS.items():
            if role in existing and not reset:
                continue
            group, _ = Group.objects.get_or_create(name=role)
            wanted = [perm.split(".") for perm in perms]
            group.permissions.set(
                [Permission.objects.get(content_type__app_label=app, codename=code) for app, code in wanted]
            )
