from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class AuditEvent(models.TextChoices):
    PHONE_CREATION = "phone_creation", _("Phone created")
    PHONE_CHANGE = "phone_change", _("Phone changed")
    PHONE_LINK_CHANGE = "phone_link_change", _("Provider link changed")
    PHONE_UNLINK = "phone_unlink", _("Provider link removed")
    PHONE_SYNC_REQUESTED = "phone_sync_requested", _("Provider re-sync requested")
    PHONE_SYNC_SUCCEEDED = "phone_sync_succeeded", _("Provider sync succeeded")
    PHONE_SYNC_FAILED = "phone_sync_failed", _("Provider sync failed")
    PHONE_PROVISIONING_FINISHED = "phone_provisioning_finished", _("Provider provisioning finished")
    # Access and operator events (ours, not the contract's): about no phone, chained in the
    # access chain (``audit.access``), payloads checked by ``audit/schemas/access-event.schema.json``.
    OPERATOR_SIGNED_IN = "operator_signed_in", _("Operator signed in")
    OPERATOR_SIGN_IN_FAILED = "operator_sign_in_failed", _("Sign-in failed")
    OPERATOR_LOCKED_OUT = "operator_locked_out", _("Sign-in locked out")
    OPERATOR_UNLOCKED = "operator_unlocked", _("Sign-in lockout lifted")
    OPERATOR_SIGNED_OUT = "operator_signed_out", _("Operator signed out")
    OPERATOR_PASSWORD_CHANGED = "operator_password_changed", _("Operator password changed")
    OPERATOR_CREATED = "operator_created", _("Operator created")
    OPERATOR_CHANGED = "operator_changed", _("Operator changed")
    OPERATOR_DEACTIVATED = "operator_deactivated", _("Operator deactivated")
    OPERATOR_ROLES_CHANGED = "operator_roles_changed", _("Operator roles granted or revoked")
    ROLE_PERMISSIONS_CHANGED = "role_permissions_changed", _("Role permissions changed")
    PHONES_EXPORTED = "phones_exported", _("Phones exported (CSV)")
    OPERATOR_MFA_ENROLLED = "operator_mfa_enrolled", _("MFA enrolled")
    OPERATOR_MFA_RESET = "operator_mfa_reset", _("MFA reset")
    API_KEY_ISSUED = "api_key_issued", _("Service account key issued")
    API_KEY_REVOKED = "api_key_revoked", _("Service account key revoked")


class Origin(models.TextChoices):
    CRM = "CRM", _("CRM (backoffice)")
    API = "API", _("API client")
    COMMAND = "COMMAND", _("Management command")
    TASK = "TASK", _("Background task")


class AuditImmutableError(Exception):
    """Audit entries are append-only."""


def _refuse(*_: Any, **__: Any) -> NoReturn:
    raise AuditImmutableError("Audit entries are append-only: they cannot be changed or deleted.")


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    update = _refuse
    delete = _refuse
    _raw_delete = _refuse
    bulk_update = _refuse
    update_or_create = _refuse


class AuditEntry(models.Model):
    """One audited change: the contract event (``payload``) plus who, where and what changed.

    Append-only: the model and queryset refuse updates and deletes, and on PostgreSQL a trigger
    refuses them as well. Each phone's entries form an HMAC chain (``prev_hash`` -> ``hash``), and
    the entries about no phone (access and operator events) one more, so an edited, removed or
    forged entry is detectable (``manage.py audit_verify``).
    The operator FK has no database constraint and never cascades: the snapshot
    (``operator_email``, ``operator_roles``) outlives the operator.
    """

    event = models.CharField(verbose_name=_("event"), max_length=40, choices=AuditEvent.choices)
    domain = models.CharField(verbose_name=_("domain"), max_length=20, default="audit", editable=False)
    version = models.PositiveSmallIntegerField(verbose_name=_("version"), default=1, editable=False)
    payload = models.JSONField(verbose_name=_("payload"))
    changes = models.JSONField(verbose_name=_("changes"), default=dict)
    phone = models.ForeignKey(
        "phones.Phone",
        verbose_name=_("phone"),
        on_delete=models.PROTECT,
        related_name="audit_entries",
        null=True,
        blank=True,
        # audit_phone_idx (phone, -id) serves every lookup by phone: a second index on the
        # column alone only cost each insert (8 -> 7 indexes per entry).
        db_index=False,
    )
    account_id = models.BigIntegerField(verbose_name=_("account ID"), null=True, blank=True)
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
    origin = models.CharField(verbose_name=_("origin"), max_length=20, choices=Origin.choices)
    request_id = models.CharField(verbose_name=_("request ID"), max_length=64, blank=True, default="")
    ip_address = models.GenericIPAddressField(verbose_name=_("IP address"), null=True, blank=True)
    created_at = models.DateTimeField(verbose_name=_("created at"))
    prev_hash = models.CharField(verbose_name=_("prev hash"), max_length=64, blank=True, default="")
    hash = models.CharField(verbose_name=_("hash"), max_length=64)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["phone", "-id"], name="audit_phone_idx"),
            models.Index(fields=["account_id", "-id"], name="audit_account_idx"),
            models.Index(fields=["operator_email", "-id"], name="audit_email_idx"),
            # A range of times (the audit list's date filter, the dashboard's charts) read from the
            # index alone: the event and the operator (whose own entries a role may be limited to)
            # ride along, so the dashboard's GROUP BY never visits the table.
            models.Index(fields=["created_at"], include=["event", "operator"], name="audit_created_cover_idx"),
            models.Index(fields=["event", "-id"], name="audit_event_idx"),
            # The request ID an API error or a log line gives the on-call engineer: the audit
            # list's search reads its entries here instead of scanning every entry.
            models.Index(fields=["request_id", "-id"], name="audit_request_idx", condition=~Q(request_id="")),
        ]
        permissions = [("view_own_auditentry", "Can view own audit entries")]

    def __str__(self) -> str:
        return f"{self.event} #{self.pk} by {self.operator_email}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            _refuse()
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse()


class AuditChainHead(models.Model):
    """The head of a chain of entries about no phone (``audit.access``: ``name="access"``).

    Phones keep their chain head on their own row; access and operator events have no such row,
    so this one is locked (``SELECT ... FOR UPDATE``) by whoever appends to the chain: the chain
    stays linear and its entries' ids follow its order. ``audit_verify`` checks that the latest
    entry of the chain is the one named here (a removed newest entry shows).
    """

    name = models.CharField(verbose_name=_("name"), primary_key=True, max_length=20)
    hash = models.CharField(verbose_name=_("hash"), max_length=64, blank=True, default="")

    class Meta:
        verbose_name = _("audit chain head")
        verbose_name_plural = _("audit chain heads")

    def __str__(self) -> str:
        return f"{self.name} chain head"
