"""A link's jobs indexed by (link, id), in place of the key's own index and (link, status).

Whether a job has a newer one of its link (asked by every claim and every record) read, by link
alone, every job the link ever had: jobs are kept, so a phone changed for years made each of its
claims read its whole history (``provider_sync/tests/test_claim_plan.py``). By (link, id) it is
one probe; the index serves the foreign key's lookups, the link's latest job and its job list
too, and every query by link and open status has the partial index of open jobs. One index less
to write at each of a job's three row versions.

Built before the old ones go, CONCURRENTLY on PostgreSQL (the job table is written all the
time), hence a non-atomic migration, as ``0013``.
"""

from django.db import migrations, models

from backoffice.migrate import swap_indexes_operation

NEW = [models.Index(fields=["link", "id"], name="syncjob_link_history_idx")]
OLD = [
    models.Index(fields=["link", "status"], name="syncjob_link_status_idx"),
    # The foreign key's own index (Django's name for it, the same on every database).
    models.Index(fields=["link"], name="phones_syncjob_link_id_5ca552d7"),
]


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("phones", "0013_queue_indexes_by_key")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="syncjob",
                    name="link",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=models.deletion.PROTECT,
                        related_name="jobs",
                        to="phones.providerlink",
                        verbose_name="link",
                    ),
                ),
                migrations.RemoveIndex(model_name="syncjob", name="syncjob_link_status_idx"),
                migrations.AddIndex(model_name="syncjob", index=NEW[0]),
            ],
            database_operations=[swap_indexes_operation("phones.SyncJob", add=NEW, drop=OLD)],
        ),
    ]
