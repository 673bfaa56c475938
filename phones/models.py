from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from phones.limits import COUNTRY_CODE_MAX, DEFAULT_COUNTRY_CODE, EXTENSION_MAX_LENGTH, NUMBER_MAX_LENGTH
from phones.numbers import digits_only, to_e164


class PhoneType(models.TextChoices):
    RESIDENTIAL = "RESIDENTIAL", _("Residential")
    COMMERCIAL = "COMMERCIAL", _("Commercial")
    MOBILE = "MOBILE", _("Mobile")


# The duplicate rule: one active phone per E.164 in an account (what the provider and the
# customer see, however it was typed); a number with no E.164 by its country, area code and digits.
DUPLICATE_CONSTRAINT = "phone_unique_active_e164_per_account"
DUPLICATE_NO_E164_CONSTRAINT = "phone_unique_active_number_per_account"
DUPLICATE_CONSTRAINTS = (DUPLICATE_CONSTRAINT, DUPLICATE_NO_E164_CONSTRAINT)
# One provider number, one link: an active (linked) provider number belongs to one phone only.
LINK_NUMBER_CONSTRAINT = "plink_unique_linked_number"


class Phone(models.Model):
    """A phone number of a customer account (Pismo accounts domain).

    Written only by the unit of work (``phones.changes``); ``number_digits`` and ``e164`` are derived from the
    editable fields by :meth:`derive` and must never be set on their own.
    """

    account_id = models.BigIntegerField(verbose_name=_("account ID"))
    customer_id = models.BigIntegerField(verbose_name=_("customer ID"), null=True, blank=True)
    number = models.CharField(verbose_name=_("number"), max_length=NUMBER_MAX_LENGTH)
    number_digits = models.CharField(verbose_name=_("number digits"), max_length=NUMBER_MAX_LENGTH, editable=False)
    type = models.CharField(verbose_name=_("type"), max_length=11, choices=PhoneType.choices)
    area_code = models.IntegerField(verbose_name=_("area code"), null=True, blank=True)
    country_code = models.IntegerField(verbose_name=_("country code"), default=DEFAULT_COUNTRY_CODE)
    extension = models.CharField(verbose_name=_("extension"), max_length=EXTENSION_MAX_LENGTH, null=True, blank=True)
    active = models.BooleanField(verbose_name=_("active"), default=True)
    e164 = models.CharField(_("E.164"), max_length=16, null=True, blank=True, editable=False)
    # Hash of the phone's latest audit entry, kept with the row so that an update reads it with
    # its row lock instead of a statement of its own. Empty: not recorded yet (a new phone, whose
    # only entry is its creation), read from the audit table.
    audit_head = models.CharField(
        verbose_name=_("audit head"), max_length=64, blank=True, default="", db_default="", editable=False
    )
    # Whether an active provider link exists; written only under the phone's row lock.
    provider_linked = models.BooleanField(
        verbose_name=_("provider linked"), default=False, db_default=False, editable=False
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("phone")
        verbose_name_plural = _("phones")
        constraints = [
            # Two racing requests cannot both win: the database decides. By E.164 where one is
            # derived; otherwise by the parts as typed. Area code may be absent, and NULLs never
            # collide in a unique index, hence the COALESCE.
            models.UniqueConstraint(
                "account_id", "e164", condition=Q(active=True, e164__isnull=False), name=DUPLICATE_CONSTRAINT
            ),
            models.UniqueConstraint(
                "account_id",
                "country_code",
                Coalesce("area_code", -1),
                "number_digits",
                condition=Q(active=True, e164__isnull=True),
                name=DUPLICATE_NO_E164_CONSTRAINT,
            ),
            models.CheckConstraint(condition=Q(account_id__gte=1), name="phone_account_id_positive"),
            models.CheckConstraint(
                condition=Q(country_code__gte=0, country_code__lte=COUNTRY_CODE_MAX),
                name="phone_country_code_range",
            ),
        ]
        indexes = [
            # An account's phones in id order (API list, admin filter) without a sort, and
            # without the planner walking the whole primary key backwards for a LIMIT.
            models.Index(fields=["account_id", "id"], name="phone_account_idx"),
            models.Index(fields=["e164"], name="phone_e164_idx"),
            models.Index(fields=["number_digits"], name="phone_number_digits_idx"),
            models.Index(fields=["customer_id"], name="phone_customer_idx"),
            # The admin list sorted by type, status or updated time, ties by id in the same
            # direction: a page of 50 read off the index at a million phones, no sort.
            models.Index(fields=["type", "id"], name="phone_type_idx"),
            models.Index(fields=["active", "id"], name="phone_active_idx"),
            models.Index(fields=["updated_at", "id"], name="phone_updated_idx"),
        ]
        permissions = [
            ("manage_provider_link", "Can link phones to provider numbers"),
            ("resync_phone", "Can re-sync phones with their provider"),
        ]

    def __str__(self) -> str:
        return self.e164 or self.number

    def derive(self) -> list[str]:
        """Recompute the derived fields; returns those that changed."""
        changed = []
        digits = digits_only(self.number)
        e164 = to_e164(country_code=self.country_code, area_code=self.area_code, number=self.number)
        if digits != self.number_digits:
            self.number_digits = digits
            changed.append("number_digits")
        if e164 != self.e164:
            self.e164 = e164
            changed.append("e164")
        return changed


# --- Provider sync -------------------------------------------------------------------------------


class Provider(models.TextChoices):
    SINCH = "sinch", _("Sinch")
    PLIVO = "plivo", _("Plivo")


class SyncState(models.TextChoices):
    """What operators see on a linked phone."""

    PENDING = "pending", _("Pending")
    IN_PROGRESS = "in_progress", _("In progress")
    PROVISIONING = "provisioning", _("Provisioning")
    SYNCED = "synced", _("Synced")
    FAILED = "failed", _("Failed")


class SyncJobStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    IN_PROGRESS = "in_progress", _("In progress")
    PROVISIONING = "provisioning", _("Provisioning")
    SYNCED = "synced", _("Synced")
    FAILED = "failed", _("Failed")
    SUPERSEDED = "superseded", _("Superseded")


# Jobs that still have work to do; the others are final and never pushed again.
OPEN_JOB_STATUSES = (SyncJobStatus.PENDING, SyncJobStatus.IN_PROGRESS, SyncJobStatus.PROVISIONING)
# Every job has a due time. A query of jobs by status alone says so with this condition: the index
# of open jobs by due time requires it (``SyncJob.Meta``), and serves only queries that imply it.
HAS_DUE_TIME = Q(next_attempt_at__isnull=False)


class SyncReason(models.TextChoices):
    LINK = "link", _("Phone linked")
    LINK_CHANGE = "link_change", _("Link changed")
    UNLINK = "unlink", _("Phone unlinked")
    PHONE_CHANGE = "phone_change", _("Phone changed")
    INACTIVATION = "inactivation", _("Phone inactivated")
    RELEASE = "release", _("Previous number released")
    RESYNC = "resync", _("Re-sync requested")


class ProviderLink(models.Model):
    """A phone's number at a provider and the settings we want it to hold there.

    Written only by the unit of work, for the link services (``provider_sync.links``).
    ``settings`` holds the provider's dataclass fields
    (``SinchSettings``/``PlivoSettings``), validated per provider. ``remote_number`` empty means
    "the phone's own E.164", so a number change follows the phone.
    """

    phone = models.OneToOneField(Phone, verbose_name=_("phone"), on_delete=models.PROTECT, related_name="provider_link")
    provider = models.CharField(verbose_name=_("provider"), max_length=10, choices=Provider.choices)
    remote_number = models.CharField(
        _("number at the provider"), max_length=16, blank=True, default="", help_text=_("E.164; empty: the phone's")
    )
    # The E.164 the link holds at its provider (``remote_number`` or the phone's own), kept by the
    # unit of work whenever either changes, so that the database can refuse a second link to it.
    target_number = models.CharField(
        verbose_name=_("target number"), max_length=16, blank=True, default="", editable=False
    )
    settings = models.JSONField(verbose_name=_("settings"), default=dict, blank=True)
    # False once unlinked: the number was released from its services and is no longer reconciled.
    linked = models.BooleanField(verbose_name=_("linked"), default=True)
    sync_state = models.CharField(
        verbose_name=_("sync state"), max_length=12, choices=SyncState.choices, default=SyncState.PENDING
    )
    last_status = models.IntegerField(_("provider status"), null=True, blank=True)
    last_error = models.TextField(verbose_name=_("last error"), blank=True, default="")
    last_error_codes = models.JSONField(verbose_name=_("last error codes"), default=list, blank=True)
    last_attempt_at = models.DateTimeField(verbose_name=_("last attempt at"), null=True, blank=True)
    last_synced_at = models.DateTimeField(verbose_name=_("last synced at"), null=True, blank=True)
    # What the provider last confirmed from us: tells the Sinch adapter which free-text values we own.
    pushed_settings = models.JSONField(verbose_name=_("pushed settings"), null=True, blank=True)
    # Reconciliation: {field: {"ours": ..., "theirs": ...}}; never applied to either side silently.
    drift = models.JSONField(verbose_name=_("drift"), default=dict, blank=True)
    drift_detected_at = models.DateTimeField(verbose_name=_("drift detected at"), null=True, blank=True)
    drift_checked_at = models.DateTimeField(verbose_name=_("drift checked at"), null=True, blank=True)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("provider link")
        verbose_name_plural = _("provider links")
        constraints = [
            models.UniqueConstraint(
                "provider",
                "target_number",
                condition=Q(linked=True) & ~Q(target_number=""),
                name=LINK_NUMBER_CONSTRAINT,
            ),
        ]
        indexes = [
            models.Index(fields=["provider", "remote_number"], name="plink_provider_number_idx"),
            models.Index(fields=["sync_state"], name="plink_sync_state_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} {self.number_e164}"

    @property
    def number_e164(self) -> str:
        return self.remote_number or (self.phone.e164 or "")


class SyncJob(models.Model):
    """Outbox row: one desired state to bring to one provider number, committed with its change.

    A job is worked by one worker at a time (row lock + lease). Jobs of one link run oldest
    first; a newer job for the same target supersedes the open older ones (newest state wins).
    """

    # Indexed by ``syncjob_link_history_idx`` (link, id), which serves the key's lookups too.
    link = models.ForeignKey(
        ProviderLink, verbose_name=_("link"), on_delete=models.PROTECT, related_name="jobs", db_index=False
    )
    phone = models.ForeignKey(Phone, verbose_name=_("phone"), on_delete=models.PROTECT, related_name="sync_jobs")
    provider = models.CharField(verbose_name=_("provider"), max_length=10, choices=Provider.choices)
    number = models.CharField(verbose_name=_("number"), max_length=16)
    reason = models.CharField(verbose_name=_("reason"), max_length=16, choices=SyncReason.choices)
    desired = models.JSONField(verbose_name=_("desired"))
    # The state we pushed before: the Sinch adapter clears free-text values only when we owned them.
    previous = models.JSONField(verbose_name=_("previous"), null=True, blank=True)
    status = models.CharField(
        verbose_name=_("status"), max_length=12, choices=SyncJobStatus.choices, default=SyncJobStatus.PENDING
    )
    attempts = models.PositiveIntegerField(verbose_name=_("attempts"), default=0)
    polls = models.PositiveIntegerField(verbose_name=_("polls"), default=0)
    next_attempt_at = models.DateTimeField(verbose_name=_("next attempt at"))
    # A claim: its token and its lease (renewed before every provider call and while its batch
    # runs). The first claim's time: once a newer job of the link is claimed, no older one writes.
    locked_until = models.DateTimeField(verbose_name=_("locked until"), null=True, blank=True)
    first_claimed_at = models.DateTimeField(verbose_name=_("first claimed at"), null=True, blank=True)
    claim_token = models.UUIDField(verbose_name=_("claim token"), null=True, blank=True, editable=False)
    provisioning_started_at = models.DateTimeField(verbose_name=_("provisioning started at"), null=True, blank=True)
    last_status = models.IntegerField(_("provider status"), null=True, blank=True)
    last_error = models.TextField(verbose_name=_("last error"), blank=True, default="")
    last_error_codes = models.JSONField(verbose_name=_("last error codes"), default=list, blank=True)
    # The operator whose change caused the job (snapshot: outcomes are audited in their name).
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("operator"),
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    operator_email = models.CharField(verbose_name=_("operator email"), max_length=254)
    operator_roles = models.JSONField(verbose_name=_("operator roles"), default=list)
    origin = models.CharField(verbose_name=_("origin"), max_length=20)
    request_id = models.CharField(verbose_name=_("request ID"), max_length=64, blank=True, default="")
    # A job ("tarefa") is feminine in Portuguese: its own words, where the other models' are masculine.
    created_at = models.DateTimeField(verbose_name=pgettext_lazy("sync job", "created at"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=pgettext_lazy("sync job", "updated at"), auto_now=True)
    finished_at = models.DateTimeField(verbose_name=_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("sync job")
        verbose_name_plural = _("sync jobs")
        ordering = ["-id"]
        # The queue's probes use small partial indexes: open jobs and leased jobs are few, the
        # history of final jobs is not. Each also requires its own key column to be set, which
        # only a query with a condition on that column implies: so a probe by link can use only
        # the indexes by link, and a probe by number only those by number. PostgreSQL's estimate
        # of open jobs comes from statistics that usually saw none; without that guard it took
        # the open-jobs index by due time, read whole, for every probe by link (a claim among a
        # backlog of 1,000 jobs read 1,000,000 index entries: 1.2 s).
        indexes = [
            # A link's jobs by id: its latest job, its job list, and whether a job has a newer one
            # (claim and record, at every job) in one probe however long the link's history. By
            # link alone, or by link and status, that probe read every job the link ever had.
            models.Index(fields=["link", "id"], name="syncjob_link_history_idx"),
            models.Index(
                fields=["next_attempt_at"],
                name="syncjob_due_idx",
                condition=Q(status__in=OPEN_JOB_STATUSES, next_attempt_at__isnull=False),
            ),
            models.Index(
                fields=["link", "id"],
                name="syncjob_open_by_link_idx",
                condition=Q(status__in=OPEN_JOB_STATUSES, link__isnull=False),
            ),
            models.Index(
                fields=["link"],
                name="syncjob_leased_by_link_idx",
                condition=Q(locked_until__isnull=False, link__isnull=False),
            ),
            # Jobs of one provider number go one at a time whatever their link (a released number
            # may be linked anew by another phone): the same two probes by number.
            models.Index(
                fields=["provider", "number", "id"],
                name="syncjob_open_by_number_idx",
                condition=Q(status__in=OPEN_JOB_STATUSES, number__isnull=False),
            ),
            models.Index(
                fields=["provider", "number"],
                name="syncjob_leased_by_number_idx",
                condition=Q(locked_until__isnull=False, number__isnull=False),
            ),
            # The dashboard's outcomes per day: a range of finish times grouped by status, read
            # from the index alone (jobs still open have no finish time and stay out of it).
            models.Index(
                fields=["finished_at"],
                include=["status"],
                name="syncjob_finished_idx",
                condition=Q(finished_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        # The job page's title and its breadcrumbs: in the operator's language.
        return gettext("Sync #%(id)s %(provider)s %(number)s (%(status)s)") % {
            "id": self.pk,
            "provider": self.get_provider_display(),
            "number": self.number,
            "status": self.get_status_display(),
        }


class SyncAttempt(models.Model):
    """One HTTP call to a provider made by a job, as the operator may inspect it (secrets masked)."""

    job = models.ForeignKey(SyncJob, verbose_name=_("job"), on_delete=models.CASCADE, related_name="http_attempts")
    try_number = models.PositiveIntegerField(verbose_name=_("try number"), default=0)
    kind = models.CharField(verbose_name=_("kind"), max_length=8, default="push")  # push | poll
    method = models.CharField(verbose_name=_("method"), max_length=8)
    url = models.CharField(verbose_name=_("url"), max_length=500)
    request_headers = models.JSONField(verbose_name=_("request headers"), default=dict, blank=True)
    request_body = models.JSONField(verbose_name=_("request body"), null=True, blank=True)
    response_status = models.IntegerField(verbose_name=_("response status"), null=True, blank=True)
    response_body = models.TextField(verbose_name=_("response body"), blank=True, default="")
    duration_ms = models.FloatField(verbose_name=_("duration ms"), default=0)
    error = models.TextField(verbose_name=_("error"), blank=True, default="")
    started_at = models.DateTimeField(verbose_name=_("started at"))

    class Meta:
        verbose_name = _("sync attempt")
        verbose_name_plural = _("sync attempts")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.method} {self.url} -> {self.response_status or self.error}"
