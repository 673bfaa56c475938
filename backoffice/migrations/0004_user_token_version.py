"""The operator's token version (``backoffice.models.User.token_version``), 0 for everybody.

A token without the version claim (issued before this migration, or by simplejwt's own
``RefreshToken.for_user``, as the benchmark and some tests do) counts as version 0: it works until
the operator's first password change, deactivation or role removal, or its expiry. To end every
earlier token at the deploy instead, change ``JWT_SIGNING_KEY`` (README, "Using the API")."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0003_access_version"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="token_version",
            field=models.PositiveBigIntegerField(default=0, editable=False),
        ),
    ]
