from __future__ import annotations

from django.contrib.auth.models import (
    AbstractBaseUser,
    BaseUserManager,
    PermissionsMixin,
)
from django.db import models
from django.utils import timezone


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

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    # Admin access; every operator with a role may use the backoffice.
    is_staff = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = OperatorManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = "operator"
        verbose_name_plural = "operators"
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.email


class AccessVersion(models.Model):
    """One row whose ``version`` changes in the same transaction as any change to the roles.

    API requests read it with the operator (one cheap statement) and keep the role -> permission
    matrix in memory while it is unchanged: joining roles, permissions and content types on
    every request cost ~0.3 ms of database CPU, more than the rest of a read. On PostgreSQL,
    statement triggers on ``auth_group``, ``auth_group_permissions``, ``auth_permission`` and
    ``django_content_type`` set it from a sequence (migration 0003), so no write path can forget
    it and a rolled-back change never reuses a number.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    version = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "role matrix version"

    def __str__(self) -> str:
        return f"role matrix version {self.version}"
