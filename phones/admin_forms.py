"""Admin forms for phones: fields parse types, ``phones.checks`` owns the rules and messages (the
same as the API's), and the services make the one real write when the admin saves."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from unfold.widgets import (
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanWidget,
)

from audit.models import Origin
from audit.services import AuditContext
from backoffice.actor import Actor
from phones import checks, selectors, services
from phones.errors import PhoneAlreadyExists, PhoneError, PhoneInactive, PhoneValidationError
from phones.limits import DEFAULT_COUNTRY_CODE
from phones.models import Phone, PhoneType


def crm_context(request: HttpRequest) -> AuditContext:
    return AuditContext.from_request(request, origin=Origin.CRM)


def _editable(cleaned: dict[str, Any]) -> dict[str, Any]:
    data = {field: cleaned[field] for field in checks.EDITABLE_FIELDS if field in cleaned}
    if "extension" in data:
        data["extension"] = data["extension"] or None
    if "number" in data:
        data["number"] = data["number"] or ""
    return data


def save_phone(request: HttpRequest, instance: Phone, cleaned: dict[str, Any]) -> Phone:
    """Create or update through the services, as the operator of ``request``."""
    actor, context = Actor.of(request.user), crm_context(request)
    data = _editable(cleaned)
    if instance.pk is None:
        data.pop("active", None)  # a new phone starts active
        return services.phone_create(
            actor=actor,
            context=context,
            account_id=cleaned["account_id"],
            customer_id=cleaned.get("customer_id"),
            **data,
        )
    return services.phone_update(
        actor=actor, context=context, account_id=instance.account_id, phone_id=instance.pk, data=data
    )


class PhoneAdminForm(forms.ModelForm):
    """Fields only parse types; every domain rule and message comes from ``phones.checks``.

    Validation runs the operation's pure check, then the two rules that need the database, read
    without writing: an inactive phone cannot be edited, and the number must not duplicate an
    active phone of the account (``selectors.phone_number_taken``, the unique index's key). The
    index stays the authority: a duplicate created between this check and the save is answered
    by ``PhoneAdmin.changeform_view`` with the service's message, nothing saved.
    """

    # No max_length / min / max here: the checks own those limits and their texts.
    # Unfold's widgets: the admin theme styles its own widget classes only, and plain Django
    # widgets render without a border or background (editable fields looked read-only).
    account_id = forms.IntegerField(label="Account ID", widget=UnfoldAdminIntegerFieldWidget)
    customer_id = forms.IntegerField(label="Customer ID", required=False, widget=UnfoldAdminIntegerFieldWidget)
    number = forms.CharField(
        required=False, help_text="Digits, spaces and ( ) . - are allowed.", widget=UnfoldAdminTextInputWidget
    )
    type = forms.ChoiceField(choices=PhoneType.choices, widget=UnfoldAdminSelectWidget)
    area_code = forms.IntegerField(required=False, widget=UnfoldAdminIntegerFieldWidget)
    country_code = forms.IntegerField(initial=DEFAULT_COUNTRY_CODE, widget=UnfoldAdminIntegerFieldWidget)
    extension = forms.CharField(required=False, widget=UnfoldAdminTextInputWidget)
    active = forms.BooleanField(
        required=False, help_text="Unticking inactivates the phone: it cannot be undone.", widget=UnfoldBooleanWidget
    )

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
        # that the check below computes on a candidate.
        if self.errors:
            return
        try:
            candidate = self._candidate()
        except PhoneError as error:
            self.add_domain_error(error)
            return
        holder = selectors.phone_number_holder(candidate) if candidate.active else None
        if holder is not None:
            # Where the number already is, one click away.
            url = reverse("admin:phones_phone_change", args=[holder.pk])
            self.add_error(
                "number",
                format_html('{}: <a href="{}">{}</a>.', PhoneAlreadyExists.message, url, holder.e164 or holder.number),
            )

    def _candidate(self) -> Phone:
        """The phone as the save would leave it (not saved), after the operation's check."""
        data = _editable(self.cleaned_data)
        if self.instance.pk is None:
            data.pop("active", None)
            values = checks.check_phone_create(
                account_id=self.cleaned_data["account_id"], customer_id=self.cleaned_data.get("customer_id"), **data
            )
            candidate = Phone(**values)
        else:
            if not self.instance.active:
                raise PhoneInactive()
            values = checks.check_phone_update(data)
            candidate = Phone(**{f.attname: getattr(self.instance, f.attname) for f in Phone._meta.concrete_fields})
            for field, value in values.items():
                setattr(candidate, field, value)
        candidate.derive()
        return candidate

    def add_domain_error(self, error: PhoneError) -> None:
        field = error.field if isinstance(error, PhoneValidationError) else None
        self.add_error(field if field in self.fields else None, error.message)
