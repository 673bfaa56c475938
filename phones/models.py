from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce

from phones.numbers import digits_only, to_e164


class PhoneType(models.TextChoices):
    RESIDENTIAL = "RESIDENTIAL", "Residential"
    COMMERCIAL = "COMMERCIAL", "Commercial"
    MOBILE = "MOBILE", "Mobile"


DUPLICATE_CONSTRAINT = "phone_unique_active_number_per_account"


class Phone(models.Model):
    """A phone number of a customer account (Pismo accounts domain).

    Written only by ``phones.services``; ``number_digits`` and ``e164`` are derived from the
    editable fields by :meth:`derive` and must never be set on their own.
    """

    account_id = models.BigIntegerField(db_index=True)
    customer_id = models.BigIntegerField(null=True, blank=True)
    number = models.CharField(max_length=15)
    number_digits = models.CharField(max_length=15, editable=False)
    type = models.CharField(max_length=11, choices=PhoneType.choices)
    area_code = models.IntegerField(null=True, blank=True)
    country_code = models.IntegerField(default=55)
    extension = models.CharField(max_length=10, null=True, blank=True)
    active = models.BooleanField(default=True)
    e164 = models.CharField("E.164", max_length=16, null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # Two racing requests cannot both win: the database decides. Area code may be
            # absent, and NULLs never collide in a unique index, hence the COALESCE.
            models.UniqueConstraint(
                "account_id",
                "country_code",
                Coalesce("area_code", -1),
                "number_digits",
                condition=Q(active=True),
                name=DUPLICATE_CONSTRAINT,
            ),
            models.CheckConstraint(condition=Q(account_id__gte=1), name="phone_account_id_positive"),
            models.CheckConstraint(
                condition=Q(country_code__gte=0, country_code__lte=99999),
                name="phone_country_code_range",
            ),
        ]
        indexes = [
            models.Index(fields=["e164"], name="phone_e164_idx"),
            models.Index(fields=["number_digits"], name="phone_number_digits_idx"),
            models.Index(fields=["customer_id"], name="phone_customer_idx"),
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
