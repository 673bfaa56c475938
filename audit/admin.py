"""The audit log in the backoffice: read-only for everyone, superusers included."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import TextFilter
from unfold.decorators import display

from audit.models import AuditEntry
from audit.selectors import audit_entries_visible_to
from backoffice import roles
from backoffice.admin_base import (
    EstimatedCountPaginator,
    ExactIntegerFilter,
    FastRowsMixin,
    LoggedDenialsMixin,
    ScreenedQueryMixin,
    shown_value,
)
from backoffice.ids import whole_number
from backoffice.roles import ROLES


def entry_title(entry: AuditEntry) -> str:
    """ "Phone changed: +5511912345678": the event's label and the phone's number (as stored)."""
    number = entry.phone.e164 if entry.phone_id is not None and entry.phone else ""
    return f"{entry.get_event_display()}: {number}" if number else entry.get_event_display()


class PhoneIdFilter(ExactIntegerFilter):
    title = _("phone ID")
    parameter_name = "phone"
    field_name = "phone_id"


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
    list_display = ("id", "created_at", "event", "origin", "operator_email", "roles", "phone_link", "account")
    list_display_links = ("id", "created_at")
    list_filter = (
        "event",
        "origin",
        OperatorEmailFilter,
        RoleFilter,
        ("created_at", admin.DateFieldListFilter),
        PhoneIdFilter,
        AccountIdFilter,
    )
    list_filter_submit = True
    search_fields = ("operator_email",)  # shows the box; see get_search_results
    search_help_text = _("Operator email, request ID, or a phone / account ID.")
    ordering = ("-id",)
    sortable_by = ("id", "created_at")
    list_per_page = 50
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    show_facets = admin.ShowFacets.NEVER
    actions = None
    fieldsets = (
        (_("Event"), {"fields": ("event", "created_at", "origin", "operation", "phone_link", "account")}),
        (_("Operator"), {"fields": ("operator_email", "roles", "request_ref", "ip")}),
        (_("Changes"), {"fields": ("changes_table",)}),
        (_("Payload (contract event)"), {"fields": ("payload_pretty",)}),
        (_("Integrity"), {"fields": ("prev_hash", "hash")}),
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
        term = search_term.strip()
        if not term:
            return queryset, False
        match = Q(operator_email=term.lower()) | Q(request_id=term)
        if (number := whole_number(term)) is not None:
            match |= Q(phone_id=number) | Q(account_id=number)
        return queryset.filter(match), False

    def history_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> Any:
        raise PermissionDenied  # an entry is its own history

    # --- Wording: the model's fields say "account id", "request id", "ip address" -----------------
    @display(description=_("Account ID"), empty_value="—")
    def account(self, entry: AuditEntry) -> Any:
        return entry.account_id

    @display(description=_("Request ID"), empty_value="—")
    def request_ref(self, entry: AuditEntry) -> str:
        return entry.request_id

    @display(description=_("IP address"), empty_value="—")
    def ip(self, entry: AuditEntry) -> Any:
        return entry.ip_address

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

    @display(description=_("Roles"))
    def roles(self, entry: AuditEntry) -> str:
        return ", ".join(entry.operator_roles or [])

    @display(description=_("Phone"))
    def phone_link(self, entry: AuditEntry) -> str:
        if entry.phone_id is None:
            return "—"
        url = reverse("admin:phones_phone_change", args=[entry.phone_id])
        return format_html(
            '<a class="text-primary-600 underline" href="{}">{}</a>',
            url,
            gettext("Phone #%(id)s") % {"id": entry.phone_id},
        )

    @display(description=_("Operation"))
    def operation(self, entry: AuditEntry) -> str:
        return f"{entry.payload.get('method', '')} {entry.payload.get('uri', '')}"

    @display(description=_("Field changes"))
    def changes_table(self, entry: AuditEntry) -> str:
        if not entry.changes:
            return "—"
        rows = format_html_join(
            "",
            '<tr><td class="pr-6 py-1 font-medium">{}</td><td class="pr-3 py-1">{}</td>'
            '<td class="pr-3 py-1">→</td><td class="py-1">{}</td></tr>',
            ((field, shown_value(old), shown_value(new)) for field, (old, new) in entry.changes.items()),
        )
        return format_html(
            '<table class="audit-changes"><thead><tr><th class="pr-6 text-left">{}</th>'
            '<th class="pr-3 text-left">{}</th><th></th><th class="text-left">{}</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            gettext("Field"),
            gettext("Old"),
            gettext("New"),
            rows,
        )

    @display(description=_("Payload"))
    def payload_pretty(self, entry: AuditEntry) -> str:
        text = json.dumps(entry.payload, indent=2, sort_keys=False, ensure_ascii=False)
        return format_html('<pre class="audit-payload whitespace-pre font-mono text-sm">{}</pre>', text)
