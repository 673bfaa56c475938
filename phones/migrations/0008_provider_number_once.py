"""One provider number, one link; jobs of one provider number one at a time; a job's first claim.

``ProviderLink.target_number`` stores the E.164 a link holds at its provider (its remote number or
its phone's), so that a partial unique index can refuse a second linked link to the same
provider number. Existing links get it from their rows; if two linked links already share a
number, the migration stops and lists them (an operator unlinks one first): it never picks a
winner by itself.
"""

from django.conf import settings
from django.db import migrations, models


def fill_target_numbers(apps, schema_editor) -> None:
    ProviderLink = apps.get_model("phones", "ProviderLink")
    seen: dict[tuple[str, str], int] = {}
    collisions: list[str] = []
    for link in ProviderLink.objects.select_related("phone").order_by("pk").iterator(chunk_size=2000):
        target = link.remote_number or (link.phone.e164 or "")
        if target != link.target_number:
            ProviderLink.objects.filter(pk=link.pk).update(target_number=target)
        if link.linked and target:
            first = seen.setdefault((link.provider, target), link.pk)
            if first != link.pk:
                collisions.append(f"{link.provider} {target}: links {first} and {link.pk}")
    if collisions:
        raise RuntimeError(
            "provider numbers linked from more than one phone; unlink all but one of each, then migrate again:\n"
            + "\n".join(collisions)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("phones", "0007_phone_account_id_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="providerlink",
            name="target_number",
            field=models.CharField(blank=True, default="", editable=False, max_length=16),
        ),
        migrations.AddField(
            model_name="syncjob",
            name="first_claimed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(fill_target_numbers, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="syncjob",
            index=models.Index(
                condition=models.Q(("status__in", ("pending", "in_progress", "provisioning"))),
                fields=["provider", "number", "id"],
                name="syncjob_open_number_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="syncjob",
            index=models.Index(
                condition=models.Q(("locked_until__isnull", False)),
                fields=["provider", "number"],
                name="syncjob_leased_number_idx",
            ),
        ),
        migrations.AddConstraint(
            model_name="providerlink",
            constraint=models.UniqueConstraint(
                models.F("provider"),
                models.F("target_number"),
                condition=models.Q(("linked", True), models.Q(("target_number", ""), _negated=True)),
                name="plink_unique_linked_number",
            ),
        ),
    ]
