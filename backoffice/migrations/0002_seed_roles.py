"""Seed the roles (groups) with the default matrix of DESIGN.md section 5.

The matrix is frozen here as it was designed; later edits by an admin are kept, since this only
runs once.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

MATRIX = {
    "crm-operator": [
        "phones.view_phone",
        "phones.add_phone",
        "phones.change_phone",
        "audit.view_own_auditentry",
    ],
    "backoffice-operator": [
        "phones.view_phone",
        "phones.add_phone",
        "phones.change_phone",
        "phones.manage_provider_link",
        "phones.resync_phone",
        "audit.view_auditentry",
    ],
    "itibackoffice-operator": [
        "phones.view_phone",
        "phones.manage_provider_link",
        "phones.resync_phone",
        "audit.view_auditentry",
    ],
    "itibackoffice-master": [
        "phones.view_phone",
        "phones.add_phone",
        "phones.change_phone",
        "phones.manage_provider_link",
        "phones.resync_phone",
        "audit.view_auditentry",
        "backoffice.view_user",
        "backoffice.add_user",
        "backoffice.change_user",
        "auth.view_group",
    ],
    "itinivel1-operator": ["phones.view_phone", "phones.resync_phone"],
    "inspetoria-operator": ["phones.view_phone", "audit.view_auditentry"],
    "inspetoria-master": ["phones.view_phone", "audit.view_auditentry"],
    "treasury-operator": ["phones.view_phone"],
    "geroficios-operator": ["phones.view_phone"],
}


def seed(apps, schema_editor):
    # Permissions are normally created after migrate; the matrix needs them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in MATRIX.items():
        group, _ = Group.objects.get_or_create(name=role)
        for perm in perms:
            app_label, codename = perm.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0001_initial"),
        ("phones", "0001_initial"),
        ("audit", "0002_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
