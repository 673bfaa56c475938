"""Admin forms for phones: fields parse types, ``phones.checks`` owns the rules and messages (the
same as the API's), and the services make the one real write when the admin saves."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timezone import localtime
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from unfold.widgets import (
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanWidget,
)

from audit.models import AuditEntry, AuditEvent, Origin
from audit.selectors import audit_entries_visible_to
from audit.services import AuditContext
from backoffice.actor import Actor
from phones import checks, selectors, services
from phones.checks import shown_problem
from phones.errors import PhoneAlreadyExists, PhoneError, PhoneInactive, PhoneValidationError
from phones.limits import DEFAULT_COUNTRY_CODE
from phones.models import Phone, PhoneType
from phones.numbers import number_problem
from phones.versions import phone_version, version_instant

# How many of the changes made since a form was read its conflict error lists (newest first).
CONFLICT_ENTRIES = 5
VERSION_MISSING = gettext_noop(
    "This form does not say which version of the phone it was read at: reload the page and make your change again."
)
CONFIRM_INACTIVATION = gettext_noop(
    "Tick “I understand this cannot be undone” to inactivate: an inactive phone can never be changed."
)


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
        actor=actor,
        context=context,
        account_id=instance.account_id,
        phone_id=instance.pk,
        data=data,
        # Compared again under the phone's lock: the form's own check cannot see a save that
        # lands between it and this one.
        expected_version=cleaned["version"],
    )


def _shown(value: Any) -> str:
    return "—" if value is None or value == "" else str(value)


def changes_since(phone: Phone, version: str) -> list[AuditEntry]:
    """The changes of ``phone``'s fields recorded after ``version`` was read, newest first (at most
    ``CONFLICT_ENTRIES``). The entry that produced a version is recorded just before its
    ``updated_at``, so "after" is "created after the version's instant". Should clocks of
    different servers disagree so that none is found, the latest change is shown."""
    entries = (
        AuditEntry.objects.filter(phone_id=phone.pk, event=AuditEvent.PHONE_CHANGE)
        .only("id", "operator_email", "origin", "created_at", "changes")
        .order_by("-id")
    )
    instant = version_instant(version)
    since = list(entries.filter(created_at__gt=instant)[:CONFLICT_ENTRIES]) if instant is not None else []
    return since or list(entries[:1])


def conflict_message(phone: Phone, version: str, operator: Any) -> SafeString:
    """The error of a save against an older version: what changed since, by whom and when.

    Who made a change is the audit trail's to tell: an operator whose roles do not show that
    entry reads "another operator". What changed is shown to all: its old values are what
    their form was read with and its new ones are on the phone page.
    """
    entries = changes_since(phone, version)
    visible = set(
        audit_entries_visible_to(operator).filter(pk__in=[entry.pk for entry in entries]).values_list("pk", flat=True)
        if operator is not None
        else ()
    )
    rows = format_html_join(
        "",
        '<li class="conflict-change">{}, {} ({}): {}</li>',
        (
            (
                date_format(localtime(entry.created_at), "DATETIME_FORMAT"),
                entry.operator_email if entry.pk in visible else gettext("another operator"),
                entry.origin,  # the code (CRM, API...): its label has parentheses of its own
                format_html_join(
                    "; ",
                    "{}: {} → {}",
                    ((field, _shown(old), _shown(new)) for field, (old, new) in entry.changes.items()),
                ),
            )
            for entry in entries
        ),
    )
    return format_html(
        '<div id="phone-conflict"><strong>{}</strong><ul class="list-disc ml-5 my-1">{}</ul>{}</div>',
        gettext("This phone was changed after you opened this page. Nothing was saved."),
        rows,
        gettext(
            "Your entries are kept below: save again to apply them over this change, or reload the page to "
            "start from the phone as it is now."
        ),
    )


class PhoneAdminForm(forms.ModelForm):
    """Fields only parse types; every domain rule and message comes from ``phones.checks``.

    Validation runs the operation's pure check, then the two rules that need the database, read
    without writing: an inactive phone cannot be edited, and the number must not duplicate an
    active phone of the account (``selectors.phone_number_taken``, the unique index's key). The
    index stays the authority: a duplicate created between this check and the save is answered
    by ``PhoneAdmin.changeform_view`` with the service's message, nothing saved.

    Every field's rules run, so all errors show at once. An edit carries the version it was read
    at (hidden): another version means someone saved meanwhile, and the form says what changed
    instead of overwriting it (the service compares again under the phone's lock, for a save
    landing between). Unticking Active needs its confirmation.
    """

    # No max_length / min / max here: the checks own those limits and their texts.
    # Unfold's widgets: the admin theme styles its own widget classes only, and plain Django
    # widgets render without a border or background (editable fields looked read-only).
    account_id = forms.IntegerField(label=_("Account ID"), widget=UnfoldAdminIntegerFieldWidget)
    customer_id = forms.IntegerField(label=_("Customer ID"), required=False, widget=UnfoldAdminIntegerFieldWidget)
    # Required (its marker shows), with the check's own text for a blank number.
    number = forms.CharField(
        label=_("Number"),
        error_messages={"required": _(number_problem(""))},
        help_text=_("Digits, spaces and ( ) . - are allowed."),
        widget=UnfoldAdminTextInputWidget(attrs={"autofocus": True, "autocomplete": "off"}),
    )
    type = forms.ChoiceField(label=_("Type"), choices=PhoneType.choices, widget=UnfoldAdminSelectWidget)
    area_code = forms.IntegerField(label=_("Area code"), required=False, widget=UnfoldAdminIntegerFieldWidget)
    country_code = forms.IntegerField(
        label=_("Country code"), initial=DEFAULT_COUNTRY_CODE, widget=UnfoldAdminIntegerFieldWidget
    )
    extension = forms.CharField(label=_("Extension"), required=False, widget=UnfoldAdminTextInputWidget)
    active = forms.BooleanField(
        label=_("Active"),
        required=False,
        help_text=_("Unticking inactivates the phone: it cannot be undone."),
        widget=UnfoldBooleanWidget,
    )
    # Shown only while Active is unticked (``PhoneAdmin.conditional_fields``), required then.
    confirm_inactivation = forms.BooleanField(
        required=False,
        label=_("I understand this cannot be undone"),
        help_text=_("An inactive phone can never be changed again; its history stays."),
        widget=UnfoldBooleanWidget,
    )
    # The version the form was read at (``phones.versions``); a save against another one
    # overwrites nothing. Not "required" here: a hidden field's own errors are not shown on the
    # page, so ``_check_version`` says it when it is missing.
    version = forms.CharField(label=_("Version"), required=False, widget=forms.HiddenInput)

    class Meta:
        model = Phone
        fields = ("account_id", "customer_id", "number", "type", "area_code", "country_code", "extension", "active")

    # The operator who reads the form (``PhoneAdmin.get_form``): whose audit entries a conflict may name.
    operator: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A phone never moves to another account or customer; a new phone starts active and has
        # no version yet.
        adding = self.instance.pk is None
        for name in ("active", "confirm_inactivation", "version") if adding else ("account_id", "customer_id"):
            self.fields.pop(name, None)
        if "version" in self.fields:
            self.fields["version"].initial = phone_version(self.instance)
        if "number" in self.fields:
            # The live E.164 preview (phones/static/phones/number_preview.js) asks this URL.
            self.fields["number"].widget.attrs["data-preview-url"] = reverse("admin:phones_phone_number_preview")

    def _post_clean(self) -> None:
        # Model validation is skipped on purpose: the model's constraints read derived fields
        # that the check below computes on a candidate.
        # Every error at once: the rules of each field that parsed (a field that did not has
        # its error already), the version and the confirmation, then what needs them all.
        _, problems = checks.field_problems(self._parsed_values())
        for problem in problems:
            self.add_domain_error(problem)
        if self.instance.pk is not None:
            self._check_version()
            self._check_confirmation()
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
                format_html(
                    '{}: <a href="{}">{}</a>.', gettext(PhoneAlreadyExists.message), url, holder.e164 or holder.number
                ),
            )

    def _parsed_values(self) -> dict[str, Any]:
        ids = {name: self.cleaned_data[name] for name in ("account_id", "customer_id") if name in self.cleaned_data}
        return {**ids, **_editable(self.cleaned_data)}

    def _check_version(self) -> None:
        version = self.cleaned_data.get("version")
        if not version:
            self.add_error(None, gettext(VERSION_MISSING))
            return
        current = phone_version(self.instance)
        if version == current:
            return
        self.add_error(None, conflict_message(self.instance, version, self.operator))
        # The form comes back with the operator's entries and the current version: saving
        # again, having read the change above, applies them over it.
        self.data = self.data.copy()
        self.data[self.add_prefix("version")] = current

    def _check_confirmation(self) -> None:
        unticked = self.instance.active and self.cleaned_data.get("active") is False
        if unticked and not self.cleaned_data.get("confirm_inactivation"):
            self.add_error("confirm_inactivation", gettext(CONFIRM_INACTIVATION))

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
        for one in error.errors if isinstance(error, PhoneValidationError) else [error]:
            field = one.field if isinstance(one, PhoneValidationError) else None
            # The contract's English from the checks, in the operator's language here.
            self.add_error(field if field in self.fields else None, shown_problem(one))
