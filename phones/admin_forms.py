"""Admin forms for phones: they parse, and the services decide (same rules and texts as the API)."""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.db import transaction
from django.http import HttpRequest

from audit.models import Origin
from audit.services import AuditContext
from phones import services
from phones.errors import PhoneError, PhoneValidationError
from phones.models import Phone, PhoneType

# Service field names (the API's) -> form field names.
FIELD_FOR_SERVICE_FIELD = {
    "accountId": "account_id",
    "x-customer-id": "customer_id",
    "number": "number",
    "type": "type",
    "area_code": "area_code",
    "country_code": "country_code",
    "extension": "extension",
    "active": "active",
}


class _DryRun(Exception):
    """Rolls back the savepoint of a validation run."""


def crm_context(request: HttpRequest) -> AuditContext:
    return AuditContext.from_request(request, origin=Origin.CRM)


def save_phone(request: HttpRequest, instance: Phone, cleaned: dict[str, Any]) -> Phone:
    """Create or update through the services, as the operator of ``request``."""
    if instance.pk is None:
        return services.phone_create(
            actor=request.user,
            context=crm_context(request),
            account_id=cleaned["account_id"],
            customer_id=cleaned.get("customer_id"),
            number=cleaned.get("number") or "",
            type=cleaned["type"],
            area_code=cleaned.get("area_code"),
            country_code=cleaned["country_code"],
            extension=cleaned.get("extension") or None,
        )
    data = {field: cleaned[field] for field in services.EDITABLE_FIELDS if field in cleaned}
    if "extension" in data:
        data["extension"] = data["extension"] or None
    return services.phone_update(
        actor=request.user,
        context=crm_context(request),
        account_id=instance.account_id,
        phone_id=instance.pk,
        data=data,
    )


class PhoneAdminForm(forms.ModelForm):
    """Fields only parse types; every domain rule and message comes from ``phones.services``.

    Validation runs the real service inside a savepoint that is then rolled back, so the form
    reports exactly what the save will meet: the field rules, the duplicate (decided by the
    database's unique index) and the inactive-phone rule. ``PhoneAdmin.save_model`` then makes
    the one real call.
    """

    request: ClassVar[HttpRequest | None] = None

    # No max_length / min / max here: the service owns those limits and their texts.
    account_id = forms.IntegerField(label="Account ID")
    customer_id = forms.IntegerField(label="Customer ID", required=False)
    number = forms.CharField(required=False, help_text="Digits, spaces and ( ) . - are allowed.")
    type = forms.ChoiceField(choices=PhoneType.choices)
    area_code = forms.IntegerField(required=False)
    country_code = forms.IntegerField(initial=55)
    extension = forms.CharField(required=False)
    active = forms.BooleanField(required=False, help_text="Unticking inactivates the phone: it cannot be undone.")

    class Meta:
        model = Phone
        fields = ("account_id", "customer_id", "number", "type", "area_code", "country_code", "extension", "active")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A phone never moves to another account or customer; a new phone starts active.
        for name in ("active",) if self.instance.pk is None else ("account_id", "customer_id"):
            self.fields.pop(name, None)

    def _post_clean(self) -> None:
        # Model validation is skipped on purpose: the model's constraints read derived fields
        # that only the service computes.
        if self.errors or self.request is None:
            return
        try:
            with transaction.atomic():
                save_phone(self.request, self.instance, self.cleaned_data)
                raise _DryRun
        except _DryRun:
            pass
        except PhoneError as error:
            self.add_service_error(error)

    def add_service_error(self, error: PhoneError) -> None:
        field = FIELD_FOR_SERVICE_FIELD.get(error.field) if isinstance(error, PhoneValidationError) else None
        self.add_error(field if field in self.fields else None, error.message)
