from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from django.contrib.auth.models import (
    AbstractBaseUser,
    BaseUserManager,
    PermissionsMixin,
)
from django.db import models, transaction
from django.db.models import Case, F, When
from django.db.models.expressions import BaseExpression
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from backoffice.access_signals import password_changed
from backoffice.operator_locale import LANGUAGE_CHOICES, default_language, default_time_zone, validate_time_zone


class OperatorManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra: object) -> User:
        if not email:
            raise ValueError("An operator needs an email")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """An operator: a person (or an internal tool) acting on phones, identified by email.

    What an operator may do comes from its roles (groups); direct user permissions are not used.
    """

    email = models.EmailField(verbose_name=_("email"), unique=True)
    full_name = models.CharField(verbose_name=_("full name"), max_length=150, blank=True)
    is_active = models.BooleanField(verbose_name=_("active"), default=True)
    # Admin access; every operator with a role may use the backoffice.
    is_staff = models.BooleanField(verbose_name=_("staff status"), default=True)
    date_joined = models.DateTimeField(verbose_name=_("date joined"), default=timezone.now)
    # Every token carries the version it was issued at (``backoffice.tokens``); a token of another
    # version is refused. Raised when the password changes or the operator is deactivated (``save``
    # below) and when a role is taken away (``backoffice.tokens``' receivers): all its tokens die
    # at once. Only ever written as ``token_version + 1`` by the database, never from a Python
    # value, so a stale copy of the operator saved later cannot bring old tokens back.
    token_version = models.PositiveBigIntegerField(verbose_name=_("token version"), default=0, editable=False)
    # An internal tool's identity: no usable password, no admin access; it calls the API with its
    # keys (``ApiKey``, ``backoffice.service_accounts``), and its changes are audited in its name.
    is_service_account = models.BooleanField(verbose_name=_("is service account"), default=False, editable=False)
    # Set when someone else chose the password (a manager's reset, an operator created with one):
    # the operator must choose their own before anything else (``backoffice.password_policy``).
    password_change_required = models.BooleanField(
        verbose_name=_("password change required"), default=False, editable=False
    )
    # The admin's language and the zone its times are shown in (``backoffice.operator_locale``);
    # the operator's own choice (the preferences page), the deployment's default until then.
    # ``db_default``: rows inserted by code that predates these columns (a release rolling out
    # while the previous one still runs) get the shipped defaults; ours always sets them.
    language = models.CharField(
        _("language"), max_length=8, choices=LANGUAGE_CHOICES, default=default_language, db_default="pt-br"
    )
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        default=default_time_zone,
        db_default="America/Sao_Paulo",
        validators=[validate_time_zone],
    )

    objects = OperatorManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("operator")
        verbose_name_plural = _("operators")
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.email

    # Django marks a new password with ``_password`` (its rehash on sign-in clears it again: a
    # stronger hash of the same password is no change); an unusable password gets our own mark.
    _password_disabled = False

    def set_unusable_password(self) -> None:
        super().set_unusable_password()
        self._password_disabled = True

    def _token_version_change(self, fields: set[str]) -> BaseExpression | None:
        """The new token version for a save of ``fields``, as SQL on the row being replaced."""
        if "password" in fields and (self._password is not None or self._password_disabled):
            return F("token_version") + 1
        if "is_active" in fields and not self.is_active:
            # Compared with the row's value before this UPDATE: only a deactivation counts, not
            # another save of an operator already inactive.
            return Case(
                When(is_active=True, then=F("token_version") + 1),
                default=F("token_version"),
                output_field=models.PositiveBigIntegerField(),
            )
        return None

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Saves the operator; a new password (set or disabled: the admin, ``changepassword``, a
        reset) or a deactivation raises the token version in the same UPDATE. Every path that
        changes a password goes through here (Django's forms and commands call ``save``), which a
        service could not guarantee. ``QuerySet.update`` bypasses this: it is not used on
        operators."""
        change = None
        new_password = False
        if not self._state.adding and not kwargs.get("force_insert"):
            update_fields = kwargs.get("update_fields")
            if update_fields is None:  # what Django's full save writes: every loaded column
                deferred = self.get_deferred_fields()
                fields = {
                    field.name
                    for field in self._meta.concrete_fields
                    if not field.primary_key and field.attname not in deferred
                }
            else:
                fields = set(update_fields)
            fields.discard("token_version")  # never written from this (maybe stale) copy
            new_password = "password" in fields and (self._password is not None or self._password_disabled)
            change = self._token_version_change(fields)
            if change is not None:
                self.token_version = change
                fields.add("token_version")
            kwargs["update_fields"] = fields
        # A new password and its audit entry (``audit.access_events``) commit together.
        with transaction.atomic() if new_password else nullcontext():
            super().save(*args, **kwargs)
            self._password_disabled = False
            if change is not None:
                self.refresh_from_db(fields=["token_version"])  # the expression's result
            if new_password:
                password_changed.send(sender=type(self), operator=self)


class AccessVersion(models.Model):
    """One row whose ``version`` changes in the same transaction as any change to the roles.

    API requests read it with the operator (one cheap statement) and keep the role -> permission
    matrix in memory while it is unchanged: joining roles, permissions and content types on
    every request cost ~0.3 ms of database CPU, more than the rest of a read. On PostgreSQL,
    statement triggers on ``auth_group``, ``auth_group_permissions``, ``auth_permission`` and
    ``django_content_type`` set it from a sequence (migration 0003), so no write path can forget
    it and a rolled-back change never reuses a number.
    """

    id = models.PositiveSmallIntegerField(verbose_name=_("ID"), primary_key=True, default=1)
    version = models.BigIntegerField(verbose_name=_("version"), default=0)

    class Meta:
        verbose_name = _("role matrix version")
        verbose_name_plural = _("role matrix versions")

    def __str__(self) -> str:
        return f"role matrix version {self.version}"


class ApiKey(models.Model):
    """A service account's API key (``Authorization: Api-Key <key>``). Only the key's public
    prefix and the SHA-256 of its secret are stored: the key is shown once, when issued, and a
    copy of this table authenticates nobody. Revoked keys are kept (who had which key when)."""

    operator = models.ForeignKey(User, verbose_name=_("operator"), on_delete=models.PROTECT, related_name="api_keys")
    name = models.CharField(verbose_name=_("name"), max_length=100)
    prefix = models.CharField(verbose_name=_("prefix"), max_length=16, unique=True)
    digest = models.CharField(verbose_name=_("digest"), max_length=64)
    created_at = models.DateTimeField(verbose_name=_("created at"), default=timezone.now)
    created_by = models.CharField(_("issued by"), max_length=254, blank=True)
    expires_at = models.DateTimeField(verbose_name=_("expires at"), null=True, blank=True)
    revoked_at = models.DateTimeField(verbose_name=_("revoked at"), null=True, blank=True)
    revoked_by = models.CharField(verbose_name=_("revoked by"), max_length=254, blank=True)
    # To the minute at most (``backoffice.service_accounts``): a write per request would cost more
    # than the request, and "which keys are still used" needs no finer answer.
    last_used_at = models.DateTimeField(verbose_name=_("last used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
