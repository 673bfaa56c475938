"""The audit log in the backoffice: read-only for everyone, superusers included."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import RangeDateFilter, TextFilter
from unfold.decorators import display

from audit import presentation
from audit.models import AuditEntry
from audit.selectors import audit_entries_visible_to
from backoffice import roles
from backoffice.admin_base import (
    EstimatedCountPaginator,
    ExactIntegerFilter,
    FastRowsMixin,
    LoggedDenialsMixin,
    ScreenedQueryMixin,
    ignored,
)
from backoffice.ids import whole_number
from backoffice.roles import ROLES

# A search names at most this many phones by their number (a number typed without its area code
# may be the end of several); more, and the operator is asked for the whole number.
SEARCH_MAX_PHONES = 100
# What an operator types around a phone number's digits: such a term is a number (or an id).
_NUMBER_LIKE = re.compile(r"\+?[0-9 ().\-]+")


def entry_title(entry: AuditEntry) -> str:
    """ "Phone changed: +55 11 91234-5678": the event's label and the phone's number, or whom an
    access event is about."""
    number = presentation.format_number(entry.phone.e164) if entry.phone_id is not None and entry.phone else ""
    about = number or presentation.subject(entry)
    return f"{entry.get_event_display()}: {about}" if about else entry.get_event_display()


class QuickDateFilter(admin.DateFieldListFilter):
    """Django's today / past 7 days / this month / this year (in the operator's zone)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = gettext("date")


class DateRangeFilter(RangeDateFilter):
    """From one day to another, both included, in the operator's time zone: ``created_at_from``
    and ``created_at_to`` (a date as the operator's language writes it, or ISO). A day that is
    not a date is ignored with a message, never a 500."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = gettext("date range (%(zone)s)") % {"zone": presentation.zone_name()}

    def _day(self, request: HttpRequest, suffix: str) -> date | None:
        name = f"{self.parameter_name}{suffix}"
        value = self.used_parameters.get(name)
        if not value:
            return None
        try:
            return forms.DateField().clean(value)
        except ValidationError:
            ignored(request, name, gettext("it is not a date"))
            return None

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEntry]) -> QuerySet[AuditEntry]:
        start, end = self._day(request, "_from"), self._day(request, "_to")
        zone = timezone.get_current_timezone()
        if start is not None:
            queryset = queryset.filter(**{f"{self.field_path}__gte": datetime.combine(start, time.min, zone)})
        if end is not None and end < date.max:
            # Up to the start of the next day: every time of the last day is in.
            after = datetime.combine(end + timedelta(days=1), time.min, zone)
            queryset = queryset.filter(**{f"{self.field_path}__lt": after})
        return queryset


class PhoneIdFilter(ExactIntegerFilter):
    title = _("phone ID")
    parameter_name = "phone"
    field_name = "phone_id"

    def chip(self, request: HttpRequest) -> tuple[str, str] | None:
        """The chip names the phone by its number, as the list's column does (a phone's history
        read "Phone ID: 8"); only for a phone whose entries the operator may read (the list's own
        gate), else None: the id as typed."""
        number = whole_number((self.value() or "").strip())
        if number is None:
            return None
        entry = audit_entries_visible_to(request.user).filter(phone_id=number).select_related("phone").first()
        if entry is None or entry.phone is None:
            return None
        return str(_("Phone")), presentation.format_number(entry.phone.e164) or entry.phone.number


class AccountIdFilter(ExactIntegerFilter):
    title = _("account ID")
    parameter_name = "account"
    field_name = "account_id"


class OperatorEmailFilter(TextFilter):
    title = _("operator email")
    parameter_name = "email"

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEntry]) -> QuerySet[AuditEntry]:
        value = (self.value() or "").strip().lower()
        # Exact: served by the (operator_email, -id) index.
        return queryset.filter(operator_email=value) if value else queryset


class RoleFilter(admin.SimpleListFilter):
    title = _("operator role")
    parameter_name = "role"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(role, role) for role in ROLES]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEntry]) -> QuerySet[AuditEntry]:
        role = self.value()
        if not role:
            return queryset
        if connection.vendor == "postgresql":
            return queryset.filter(operator_roles__contains=[role])
        # SQLite has no JSON containment; the quoted name cannot match a longer role name.
        return queryset.filter(operator_roles__icontains=json.dumps(role))


@admin.register(AuditEntry)
class AuditEntryAdmin(ScreenedQueryMixin, LoggedDenialsMixin, FastRowsMixin, ModelAdmin):
    list_display = ("when", "event", "phone_number", "account", "operator_shown", "changes_summary", "origin")
    list_display_links = ("when",)
    list_filter = (
        "event",
        "origin",
        OperatorEmailFilter,
        RoleFilter,
        ("created_at", QuickDateFilter),
        ("created_at", DateRangeFilter),
        PhoneIdFilter,
        AccountIdFilter,
    )
    list_filter_submit = True
    # The phone's number for the list's column and title: one join, not a query per row.
    list_select_related = ("phone",)
    search_fields = ("operator_email",)  # shows the box; see get_search_results
    search_help_text = _("Phone number, operator email or request ID")
    ordering = ("-id",)
    sortable_by = ("when",)
    list_per_page = 50
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    show_facets = admin.ShowFacets.NEVER
    actions = None
    empty_value_display = presentation.NOTHING
    list_before_template = "admin/audit/auditentry/list_before.html"

    def get_fieldsets(self, request: HttpRequest, obj: AuditEntry | None = None) -> Any:
        # A phone's entry names its phone and account; an access event whom it is about.
        about = ("phone_shown", "account") if obj is None or obj.phone_id is not None else ("subject_of",)
        return (
            (_("Event"), {"fields": ("event", "when_in_zone", "origin", "operation", *about)}),
            (_("Operator"), {"fields": ("operator_email", "roles", "request_ref", "ip")}),
            (_("Changes"), {"fields": ("changes_table",)}),
            (_("What the event recorded"), {"fields": ("object_table",)}),
            (_("Payload (as stored)"), {"fields": ("payload_pretty",)}),
            (_("Integrity"), {"fields": ("prev_hash_shown", "hash_shown")}),
        )

    # Append-only: nobody adds, changes or deletes an entry here, superusers included.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return request.user.has_perm(roles.VIEW_AUDIT) or request.user.has_perm(roles.VIEW_OWN_AUDIT)

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEntry]:
        # The one access gate: a crm-operator gets only its own entries, here as in the API.
        return audit_entries_visible_to(request.user)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[AuditEntry], search_term: str
    ) -> tuple[QuerySet[AuditEntry], bool]:
        """An email, a request ID, or a phone number / phone or account ID, told apart by their
        form so that each is an index read at millions of entries: a number finds its phones'
        ids first (``presentation.find_phone_ids``: the phones' indexes), then their entries by
        (phone, -id); a request ID its entries by (request ID, -id). A number is never compared
        with the request ID: one search, one index."""
        term = search_term.strip()
        if not term:
            return queryset, False
        if "@" in term:
            return queryset.filter(operator_email=term.lower()), False
        if not (_NUMBER_LIKE.fullmatch(term) and any(c.isdigit() for c in term)):
            return queryset.filter(request_id=term), False
        phone_ids = presentation.find_phone_ids(term, SEARCH_MAX_PHONES + 1)
        if len(phone_ids) > SEARCH_MAX_PHONES:
            messages.warning(
                request,
                gettext("More than %(count)s phones end with this number: type it whole (with the area code).")
                % {"count": SEARCH_MAX_PHONES},
            )
            phone_ids = phone_ids[:SEARCH_MAX_PHONES]
        match = Q(phone_id__in=phone_ids)
        if (number := whole_number(term)) is not None:
            match |= Q(phone_id=number) | Q(account_id=number)
        return queryset.filter(match), False

    def history_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> Any:
        raise PermissionDenied  # an entry is its own history

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        extra_context = {**(extra_context or {}), "time_zone_name": presentation.zone_name()}
        return super().changelist_view(request, extra_context)

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> AuditEntry | None:
        entry = super().get_object(request, object_id, from_field)
        if entry is not None:
            # The page's header names the entry as operators read it (templates/unfold/helpers/
            # header_title.html), not by its str() ("Phone_change #168 by ...").
            entry.admin_title = entry_title(entry)
        return entry

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None) -> Any:
        entry = self.get_object(request, object_id)
        extra_context = {**(extra_context or {}), **({"subtitle": entry.admin_title} if entry else {})}
        return super().change_view(request, object_id, form_url, extra_context)

    # --- Columns and fields, in words --------------------------------------------------------
    @display(description=_("When"), ordering="created_at")
    def when(self, entry: AuditEntry) -> str:
        # Free to wrap before the zone's name, as the other lists' times do (kept on one line, it
        # took the width the changes column needs).
        return presentation.when(entry.created_at)

    @display(description=_("When"))
    def when_in_zone(self, entry: AuditEntry) -> str:
        return presentation.when(entry.created_at)  # the zone's name included

    @display(description=_("Operator"))
    def operator_shown(self, entry: AuditEntry) -> str:
        # The snapshot taken with the entry: who acted then, whatever became of the operator.
        return entry.operator_email or presentation.NOTHING

    @display(description=_("Phone number / subject"))
    def phone_number(self, entry: AuditEntry) -> str:
        """The phone's number linking to its trail; for an access event, whom it is about."""
        if entry.phone_id is None:
            return presentation.subject(entry) or presentation.NOTHING
        shown = presentation.format_number(entry.phone.e164) if entry.phone else ""
        url = reverse("admin:audit_auditentry_changelist") + f"?phone={entry.phone_id}"
        return format_html(
            '<a class="text-primary-600 underline" href="{}" title="{}">{}</a>',
            url,
            gettext("The audit trail of this phone"),
            shown or gettext("phone ID %(id)s") % {"id": entry.phone_id},
        )

    @display(description=_("Phone"))
    def phone_shown(self, entry: AuditEntry) -> str:
        """The number, opening the phone's page, and the phone's whole trail."""
        if entry.phone_id is None or entry.phone is None:
            return presentation.NOTHING
        return format_html(
            '<a class="text-primary-600 underline" href="{}">{}</a> '
            '(<a class="text-primary-600 underline" href="{}">{}</a>)',
            reverse("admin:phones_phone_change", args=[entry.phone_id]),
            presentation.format_number(entry.phone.e164) or entry.phone.number,
            reverse("admin:audit_auditentry_changelist") + f"?phone={entry.phone_id}",
            gettext("its audit trail"),
        )

    @display(description=_("About"))
    def subject_of(self, entry: AuditEntry) -> str:
        return presentation.subject(entry) or presentation.NOTHING

    @display(description=_("Changes"))
    def changes_summary(self, entry: AuditEntry) -> str:
        return presentation.changes_summary(entry)

    @display(description=_("Account ID"), empty_value="—")
    def account(self, entry: AuditEntry) -> Any:
        return entry.account_id if entry.account_id is not None else presentation.NOTHING

    @display(description=_("Request ID"), empty_value="—")
    def request_ref(self, entry: AuditEntry) -> str:
        return entry.request_id or presentation.NOTHING

    @display(description=_("IP address"), empty_value="—")
    def ip(self, entry: AuditEntry) -> Any:
        return entry.ip_address or presentation.NOTHING

    @display(description=_("Roles"))
    def roles(self, entry: AuditEntry) -> str:
        return ", ".join(entry.operator_roles or []) or presentation.NOTHING

    @display(description=_("Operation"))
    def operation(self, entry: AuditEntry) -> str:
        text = f"{entry.payload.get('method', '')} {entry.payload.get('uri', '')}".strip()
        return text or presentation.NOTHING

    @display(description=_("Field changes"))
    def changes_table(self, entry: AuditEntry) -> str:
        rows = presentation.change_rows(entry)
        if not rows:
            return presentation.NOTHING
        body = presentation.rows_html(
            rows,
            '<tr><td class="pr-6 py-1 font-medium align-top">{}</td><td class="pr-3 py-1 align-top">{}</td>'
            '<td class="pr-3 py-1 align-top">→</td><td class="py-1 align-top">{}</td></tr>',
        )
        return format_html(
            '<table class="audit-changes"><thead><tr><th class="pr-6 text-left">{}</th>'
            '<th class="pr-3 text-left">{}</th><th></th><th class="text-left">{}</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            gettext("Field"),
            gettext("Old"),
            gettext("New"),
            body,
        )

    @display(description=_("Recorded values"))
    def object_table(self, entry: AuditEntry) -> str:
        rows = presentation.object_rows(entry)
        if not rows:
            return presentation.NOTHING
        body = presentation.rows_html(
            rows, '<tr><td class="pr-6 py-1 font-medium align-top">{}</td><td class="py-1 align-top">{}</td></tr>'
        )
        return format_html('<table class="audit-object"><tbody>{}</tbody></table>', body)

    @display(description=_("Payload"))
    def payload_pretty(self, entry: AuditEntry) -> str:
        # Exactly as stored (the contract's event): the one place for JSON on these pages.
        text = json.dumps(entry.payload, indent=2, sort_keys=False, ensure_ascii=False)
        return format_html('<pre class="audit-payload whitespace-pre font-mono text-sm">{}</pre>', text)

    @display(description=_("Previous entry's hash (HMAC-SHA256)"), empty_value="—")
    def prev_hash_shown(self, entry: AuditEntry) -> str:
        # Empty: the first entry of its chain.
        return entry.prev_hash or presentation.NOTHING

    @display(description=_("This entry's hash (HMAC-SHA256)"))
    def hash_shown(self, entry: AuditEntry) -> str:
        return entry.hash
