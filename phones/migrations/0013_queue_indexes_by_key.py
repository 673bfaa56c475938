"""The queue's partial indexes, each confined to the probes of its own key (see ``SyncJob.Meta``).

PostgreSQL's statistics usually saw no open job, so it believes any index of open jobs holds
one row and, for a probe by link, read the whole index by due time instead of the link's few
entries: the claim among a backlog grew with the square of the backlog. Each index now also
requires its key column to be set, which only a condition on that column implies, so a probe can
use only the indexes of its key (``provider_sync/tests/test_claim_plan.py``).

The new indexes are built before the old ones go, both CONCURRENTLY on PostgreSQL (the job
table is written all the time), hence a non-atomic migration.
"""

from django.db import migrations, models
from django.db.models import Q

from backoffice.migrate import swap_indexes_operation

OPEN = ("pending", "in_progress", "provisioning")

OLD = [
    models.Index(fields=["next_attempt_at"], name="syncjob_open_due_idx", condition=Q(status__in=OPEN)),
    models.Index(fields=["link", "id"], name="syncjob_open_link_idx", condition=Q(status__in=OPEN)),
    models.Index(fields=["link"], name="syncjob_leased_link_idx", condition=Q(locked_until__isnull=False)),
    models.Index(fields=["provider", "number", "id"], name="syncjob_open_number_idx", condition=Q(status__in=OPEN)),
    models.Index(
        fields=["provider", "number"], name="syncjob_leased_number_idx", condition=Q(locked_until__isnull=False)
    ),
]
NEW = [
    models.Index(
        fields=["next_attempt_at"], name="syncjob_due_idx", condition=Q(status__in=OPEN, next_attempt_at__isnull=False)
    ),
    models.Index(
        fields=["link", "id"], name="syncjob_open_by_link_idx", condition=Q(status__in=OPEN, link__isnull=False)
    ),
    models.Index(
        fields=["link"], name="syncjob_leased_by_link_idx", condition=Q(locked_until__isnull=False, link__isnull=False)
    ),
    models.Index(
        fields=["provider", "number", "id"],
        name="syncjob_open_by_number_idx",
        condition=Q(status__in=OPEN, number__isnull=False),
    ),
    models.Index(
        fields=["provider", "number"],
        name="syncjob_leased_by_number_idx",
        condition=Q(locked_until__isnull=False, number__isnull=False),
    ),
]


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("phones", "0012_translatable_names")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                *(migrations.RemoveIndex(model_name="syncjob", name=index.name) for index in OLD),
                *(migrations.AddIndex(model_name="syncjob", index=index) for index in NEW),
            ],
            database_operations=[swap_indexes_operation("phones.SyncJob", add=NEW, drop=OLD)],
        ),
    ]
