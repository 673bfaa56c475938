"""The duplicate rule decided on the E.164: one active phone per E.164 in an account (the same
number typed with its area code inside, or after a trunk "0", is one number), by the parts as
typed only where no E.164 can be derived; impossible numbers get no E.164 any more.

Existing phones get their E.164 derived again by today's rule (it is derived data: a number
libphonenumber finds impossible loses it). If active phones of one account now share an E.164,
the migration stops and lists them (an operator inactivates or corrects all but one of each,
then migrates again): it never picks a winner by itself, nor changes what an operator typed.
"""

from django.db import migrations, models
from django.db.models import Count, Q
from django.db.models.functions import Coalesce

CHUNK = 5000


def derive_e164_and_report_duplicates(apps, schema_editor) -> None:
    from phones.numbers import to_e164

    Phone = apps.get_model("phones", "Phone")
    changed = []
    rows = Phone.objects.order_by("pk").values_list("pk", "country_code", "area_code", "number", "e164")
    for pk, country_code, area_code, number, e164 in rows.iterator(chunk_size=CHUNK):
        derived = to_e164(country_code=country_code, area_code=area_code, number=number)
        if derived != e164:
            changed.append(Phone(pk=pk, e164=derived))
        if len(changed) >= CHUNK:
            Phone.objects.bulk_update(changed, ["e164"])
            changed = []
    if changed:
        Phone.objects.bulk_update(changed, ["e164"])
    duplicates = (
        Phone.objects.filter(active=True, e164__isnull=False)
        .values("account_id", "e164")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .order_by("account_id", "e164")
    )
    found = []
    for group in duplicates[:200]:
        ids = list(
            Phone.objects.filter(active=True, account_id=group["account_id"], e164=group["e164"])
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        found.append(f"account {group['account_id']} {group['e164']}: phones {', '.join(map(str, ids))}")
    if found:
        raise RuntimeError(
            "active phones of one account share an E.164 (the duplicate rule now compares E.164); "
            "inactivate or correct all but one of each, then migrate again:\n" + "\n".join(found)
        )


class Migration(migrations.Migration):
    dependencies = [("phones", "0008_provider_number_once")]

    operations = [
        migrations.RunPython(derive_e164_and_report_duplicates, migrations.RunPython.noop),
        migrations.RemoveConstraint(model_name="phone", name="phone_unique_active_number_per_account"),
        migrations.AddConstraint(
            model_name="phone",
            constraint=models.UniqueConstraint(
                "account_id",
                "e164",
                condition=Q(active=True, e164__isnull=False),
                name="phone_unique_active_e164_per_account",
            ),
        ),
        migrations.AddConstraint(
            model_name="phone",
            constraint=models.UniqueConstraint(
                "account_id",
                "country_code",
                Coalesce("area_code", -1),
                "number_digits",
                condition=Q(active=True, e164__isnull=True),
                name="phone_unique_active_number_per_account",
            ),
        ),
    ]
