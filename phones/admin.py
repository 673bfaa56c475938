"""Phones in the backoffice: list, search, forms and bulk work, all writes through the services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.decorators import display

from audit.access_events import record_phones_export
from audit.presentation import change_rows
from audit.selectors import audit_entries_visible_to
from backoffice import roles
from backoffice.actor import Actor
from backoffice.admin_base import (
    DateRangeFilter,
    EstimatedCountPaginator,
    ExactIntegerFilter,
    FastRowsMixin,
    IndexOrderedMixin,
    LoggedDenialsMixin,
    ScreenedQueryMixin,
    ignored,
    ignored_filters,
    not_understood,
    screen_query,
)
from backoffice.auth import log_denied
from backoffice.errors import InvalidInput
from backoffice.ids import parse_id, whole_number
from phones import services
from phones.admin_export import stream_phones_csv
from phones.admin_forms import PhoneAdminForm, conflict_message, crm_context, save_phone
from phones.admin_sync_state import ResyncPermissionMixin, provider_sync_column, sync_state_block
from phones.errors import PhoneChangedMeanwhile, PhoneError, PhoneInactive
from phones.models import Phone, ProviderLink, SyncState
from phones.number_hint import number_hint
from phones.numbers import digits_only, format_international
from phones.selectors import phones_visible_to

# One bulk inactivation is one request: keep it within what a request can do in time.
MAX_BULK_INACTIVATE = 1000
HISTORY_ON_PAGE = 20


# Actions other apps add to the phone list (the provider sync's re-sync), registered from their
# own admin module so that this app imports none of them.
PHONE_ACTIONS: list[Callable[..., Any]] = []


# The "Re-sync" button's address (a POST view of the provider sync's link admin), taking a phone id:
# shown on a linked phone's page to operators who may re-sync.
RESYNC_URL_NAME = "admin:phones_providerlink_resync"


def register_phone_action(action: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``action`` (an ``@admin.action`` function) to the phone list's actions."""
    PHONE_ACTIONS.append(action)
    return action


def can_view_audit(user: Any) -> bool:
    return user.has_perm(roles.VIEW_AUDIT) or user.has_perm(roles.VIEW_OWN_AUDIT)


class AccountFilter(ExactIntegerFilter):
    title = _("account ID")
    parameter_name = "account"
    field_name = "account_id"


class SyncStateFilter(admin.SimpleListFilter):
    """Phones by their provider link's sync state, or without a live link.

    Filters on the link's ``sync_state`` column (indexed: ``plink_sync_state_idx``) through the
    phone's one-to-one link, so the list stays an indexed join on a million phones; the state in
    words (``phones.sync_status``) needs the link's job and is for showing, not filtering.
    """

    title = _("provider sync")
    parameter_name = "sync_state"
    NOT_LINKED = "not_linked"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        order = (SyncState.SYNCED, SyncState.PENDING, SyncState.IN_PROGRESS, SyncState.PROVISIONING, SyncState.FAILED)
        return [(state.value, state.label) for state in order] + [(self.NOT_LINKED, _("Not linked"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Phone]) -> QuerySet[Phone]:
        value = self.value()
        if not value:
            return queryset
        if value == self.NOT_LINKED:
            # Never linked, or unlinked (the link row stays, released from its services).
            return queryset.filter(Q(provider_link__isnull=True) | Q(provider_link__linked=False))
        if value not in SyncState.values:
            ignored(request, self.parameter_name, gettext("it is not a sync state"))
            return queryset
        return queryset.filter(provider_link__sync_state=value, provider_link__linked=True)


class CountryCodeFilter(ExactIntegerFilter):
    title = _("country code")
    parameter_name = "country_code"
    field_name = "country_code"


def _link(url: str, text: Any) -> str:
    return format_html('<a class="text-primary-600 underline" href="{}">{}</a>', url, text)


def _number(phone: Phone) -> str:
    """A phone's number as operators read it ("+55 11 91234-5678"), or as typed when it has no
    E.164 form."""
    return format_international(phone.e164) or phone.number


def _one_line(text: str) -> str:
    # A number on one line: lists and histories broke "+55 11 91232-" / "5678" (Portuguese headers
    # are wider).
    return format_html('<span class="whitespace-nowrap">{}</span>', text)


def number_shown(phone: Phone) -> str:
    """A phone's number in a list, as the phones list writes it: formatted, on one line."""
    return _one_line(_number(phone))


def _phone_row(phone: Phone) -> list[Any]:
    return [
        _link(reverse("admin:phones_phone_change", args=[phone.pk]), _number(phone)),
        phone.e164 or "",
        phone.get_type_display(),
        gettext("Active") if phone.active else gettext("Inactive"),
        phone.customer_id or "",
        date_format(localtime(phone.updated_at), "DATETIME_FORMAT"),
    ]


def _entry_row(entry: Any, numbers: dict[int, str]) -> list[Any]:
    # In words, as the audit log says them ("Provider: — → Sinch", "Linked: — → Yes"), not the
    # stored keys and values ("provider: — → sinch", "linked: — → True").
    changes = format_html_join("", "<div>{}: {} → {}</div>", change_rows(entry, identity=False))
    return [
        _link(
            reverse("admin:audit_auditentry_change", args=[entry.pk]),
            date_format(localtime(entry.created_at), "DATETIME_FORMAT"),
        ),
        entry.get_event_display(),
        _one_line(numbers.get(entry.phone_id) or f"#{entry.phone_id}"),
        entry.operator_email,
        entry.get_origin_display(),
        changes,
    ]


@admin.register(Phone)
class PhoneAdmin(
    ScreenedQueryMixin, LoggedDenialsMixin, FastRowsMixin, ResyncPermissionMixin, IndexOrderedMixin, ModelAdmin
):
    form = PhoneAdminForm
    list_display = (
        "formatted_number",
        "e164",
        "account_link",
        "type",
        "active",
        "customer",
        provider_sync_column,
        "updated_at",
    )
    list_display_links = ("formatted_number",)
    list_filter = (
        "type",
        "active",
        SyncStateFilter,
        CountryCodeFilter,
        AccountFilter,
        ("updated_at", DateRangeFilter),
    )
    list_filter_submit = True
    search_fields = ("number_digits",)  # shows the search box; the search itself is get_search_results
    # The box's placeholder: short enough to be read whole in it (any part of the number, typed with
    # or without formatting, matches).
    search_help_text = _("Number, account ID or customer ID")
    ordering = ("-id",)
    # Only columns an index can sort at millions of rows (type, active and updated time by their
    # (column, id) indexes, ties broken in the column's direction: ``IndexOrderedMixin``).
    sortable_by = ("formatted_number", "e164", "account_link", "type", "active", "customer", "updated_at")
    list_per_page = 50
    list_max_show_all = 500
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    show_facets = admin.ShowFacets.NEVER
    list_select_related = ("provider_link",)  # the sync column, without a query per row

    @property
    def actions(self) -> tuple[Any, ...]:  # type: ignore[override]
        return ("inactivate_selected", "export_selected_csv", *PHONE_ACTIONS)

    # Unfold shows a field only while its Alpine.js expression over the form's values holds: the
    # confirmation appears when Active is unticked (the form requires it then, script or not).
    conditional_fields = {"confirm_inactivation": "active == false"}

    class Media:
        # The number's live E.164 preview and plausibility hint (a static file: the CSP allows
        # no inline script).
        js = ("phones/number_preview.js",)

    list_before_template = "admin/phones/phone/list_before.html"
    change_form_before_template = "admin/phones/phone/inactive_notice.html"
    change_form_after_template = "admin/phones/phone/history.html"

    # --- Access: the role matrix, checked by permission ------------------------------------
    def has_view_permission(self, request: HttpRequest, obj: Phone | None = None) -> bool:
        return request.user.has_perm(roles.VIEW_PHONE)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(roles.ADD_PHONE)

    def has_change_permission(self, request: HttpRequest, obj: Phone | None = None) -> bool:
        # An inactive phone cannot be updated (the contract's 422), so its page is read-only.
        return request.user.has_perm(roles.CHANGE_PHONE) and (obj is None or obj.active)

    def has_delete_permission(self, request: HttpRequest, obj: Phone | None = None) -> bool:
        return False  # phones are inactivated, never deleted

    def get_queryset(self, request: HttpRequest) -> QuerySet[Phone]:
        return phones_visible_to(request.user)

    # --- List --------------------------------------------------------------------------------
    @display(description=_("Number"), ordering="e164")
    def formatted_number(self, phone: Phone) -> str:
        return number_shown(phone)

    @display(description=_("Account"), ordering="account_id")
    def account_link(self, phone: Phone) -> str:
        url = reverse("admin:phones_phone_account", args=[phone.account_id])
        return format_html('<a href="{}" class="text-primary-600 underline">{}</a>', url, phone.account_id)

    # The model's field says "customer id"; operators read "Customer ID" (its label on the form too).
    @display(description=_("Customer ID"), ordering="customer_id")
    def customer(self, phone: Phone) -> Any:
        return phone.customer_id

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Phone], search_term: str
    ) -> tuple[QuerySet[Phone], bool]:
        """Any part of the number, typed with or without formatting, or an exact account/customer.

        ``contains`` on the digit columns is served by their trigram indexes on PostgreSQL.
        """
        term = search_term.strip()
        if not term:
            return queryset, False
        digits = digits_only(term)
        if not digits:
            return queryset.none(), False
        match = Q(number_digits__contains=digits) | Q(e164__contains=digits)
        if (number := whole_number(term)) is not None:
            match |= Q(account_id=number) | Q(customer_id=number)
        return queryset.filter(match), False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # --- Forms: the services write -------------------------------------------------------------
    def get_fieldsets(self, request: HttpRequest, obj: Phone | None = None) -> Any:
        if obj is None:
            # Number first, as on the change page: Django's add page focuses its first field (on
            # the change page the number's autofocus, made sure of by number_preview.js).
            return (
                (_("Number"), {"fields": ("number", "type", "area_code", "country_code", "extension")}),
                (_("Account"), {"fields": ("account_id", "customer_id")}),
            )
        number = ["number", "type", "area_code", "country_code", "extension", "active"]
        derived = ["formatted_number", "e164", "created_at", "updated_at"]
        if can_view_audit(request.user):
            derived.append("history_link")  # a link only where it opens (else a 403)
        if self.has_change_permission(request, obj):
            # The version it was read at (hidden) and the inactivation's confirmation: only where
            # the form can be saved (read-only pages would show them as text).
            number += ["confirm_inactivation", "version"]
        return (
            (_("Number"), {"fields": number}),
            (_("Account"), {"fields": ("account_link", "customer")}),
            # What the phone's number and row are as stored ("Derived" was the developer's word).
            (_("Record"), {"fields": derived}),
            (_("Provider"), {"fields": ("provider_sync",)}),
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Phone | None = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        return (
            "account_link",
            "customer",
            "formatted_number",
            "e164",
            "created_at",
            "updated_at",
            "history_link",
            "provider_sync",
        )

    @display(description=_("Provider sync"))
    def provider_sync(self, phone: Phone) -> str:
        # Shown, not edited, here: the link has its own page (and permission), so the phone form
        # keeps a single write path through the phone services.
        link = ProviderLink.objects.filter(phone_id=phone.pk).first()
        if link is None:
            if not getattr(phone, "may_link", False):
                return gettext("Not linked.")  # the link page would be a 403 for this role
            url = reverse("admin:phones_providerlink_add") + f"?phone={phone.pk}"
            return format_html(
                '{} <a href="{}" class="text-primary-600 underline">{}</a>',
                gettext("Not linked."),
                url,
                gettext("Link to a provider"),
            )
        url = reverse("admin:phones_providerlink_change", args=[link.pk])
        return format_html(
            '{} {} {} <a href="{}" class="text-primary-600 underline">{}</a>',
            link.get_provider_display(),
            link.number_e164,
            sync_state_block(link, phone.pk),  # refreshes itself while the sync moves
            url,
            gettext("Open provider link"),
        )

    @display(description=_("History"))
    def history_link(self, phone: Phone) -> str:
        url = reverse("admin:phones_phone_history", args=[phone.pk])
        return format_html(
            '<a href="{}" class="text-primary-600 underline">{}</a>', url, gettext("Audit trail of this phone")
        )

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Phone | None:
        phone = super().get_object(request, object_id, from_field)
        if phone is not None:
            # The read-only fields see the phone, not the request: what this operator may open.
            phone.may_link = request.user.has_perm(roles.MANAGE_PROVIDER_LINK)
            # The page's header names it as the lists and its audit entries' pages write it.
            phone.admin_title = _number(phone)
        return phone

    def get_form(self, request: HttpRequest, obj: Phone | None = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        form.operator = request.user  # a class made for this request: whose audit a conflict may show
        return form

    def response_change(self, request: HttpRequest, obj: Phone) -> HttpResponse:
        if obj.active:
            return super().response_change(request, obj)
        # Inactivated by this save (an inactive phone cannot be saved). Its page is now read-only,
        # so "continue editing" has nothing left to edit: one message, on the list.
        messages.success(
            request,
            gettext("The phone %(number)s was inactivated: it can no longer be changed; its history stays available.")
            % {"number": _number(obj)},
        )
        url = add_preserved_filters(
            {"preserved_filters": self.get_preserved_filters(request), "opts": self.opts},
            reverse("admin:phones_phone_changelist"),
        )
        return HttpResponseRedirect(url)

    def save_model(self, request: HttpRequest, obj: Phone, form: Any, change: bool) -> None:
        # Saved as it was: say so, not "changed successfully" (``message_user``).
        request._phone_unchanged = change and not form.has_changed()  # type: ignore[attr-defined]
        saved = save_phone(request, obj, form.cleaned_data)
        for field in Phone._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # nothing related; the form's m2m hook would otherwise touch the instance

    def message_user(
        self, request: HttpRequest, message: Any, level: int = messages.INFO, *args: Any, **kwargs: Any
    ) -> None:
        if level == messages.SUCCESS and getattr(request, "_phone_unchanged", False):
            message, level = gettext("Nothing was changed: the phone is as it was."), messages.INFO
        super().message_user(request, message, level, *args, **kwargs)

    def _get_obj_does_not_exist_redirect(self, request: HttpRequest, opts: Any, object_id: str) -> HttpResponse:
        # Django adds "Perhaps it was deleted?": phones are never deleted. Back to the list.
        messages.warning(
            request, gettext("There is no phone with ID “%(id)s” that you may see.") % {"id": object_id[:40]}
        )
        return HttpResponseRedirect(reverse("admin:phones_phone_changelist"))

    # The service's audit entry is the record of every change; Django's LogEntry would be a
    # second, unaudited history.
    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> None:
        pass

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> None:
        pass

    def log_deletions(self, request: HttpRequest, queryset: Any) -> None:
        pass

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        extra_context = dict(extra_context or {})
        if object_id is not None:
            phone = self.get_object(request, object_id)
            if phone is not None:
                if request.method == "POST" and not phone.active and request.user.has_perm(roles.CHANGE_PHONE):
                    # Same rule and text as the API's 422.
                    messages.error(request, gettext(PhoneInactive.message))
                    return HttpResponseRedirect(request.get_full_path())
                extra_context.update(self._history_context(request, phone))
                if request.user.has_perm(roles.RESYNC_PHONE) and phone.active and self._is_linked(phone):
                    extra_context["resync_url"] = reverse(RESYNC_URL_NAME, args=[phone.pk])
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except PhoneChangedMeanwhile:
            # Changed between the form's check and the save's lock; nothing was saved. The page
            # comes back with the phone as it is now, saying what changed.
            current = self.get_object(request, object_id) if object_id is not None else None
            if current is None:
                messages.error(request, gettext(PhoneChangedMeanwhile.message))
            else:
                messages.error(request, conflict_message(current, request.POST.get("version", ""), request.user))
            return HttpResponseRedirect(request.get_full_path())
        except PhoneError as error:
            # Lost a race after validation (e.g. a duplicate created meanwhile); nothing was saved.
            messages.error(request, gettext(error.message))
            return HttpResponseRedirect(request.get_full_path())

    @staticmethod
    def _is_linked(phone: Phone) -> bool:
        return ProviderLink.objects.filter(phone_id=phone.pk, linked=True).exists()

    def _history_context(self, request: HttpRequest, phone: Phone) -> dict[str, Any]:
        if not can_view_audit(request.user):
            return {"phone_history": None}
        entries = list(
            audit_entries_visible_to(request.user)
            .filter(phone_id=phone.pk)
            .only("id", "event", "origin", "operator_email", "created_at", "changes")
            .order_by("-id")[:HISTORY_ON_PAGE]
        )
        for entry in entries:
            # In words, as the audit log says them: labels, Yes/No, choices, a link's settings as
            # a small table (not the stored keys and values, nor a dict).
            entry.change_rows = change_rows(entry, identity=False)
        return {
            "phone_history": entries,
            "phone_history_url": reverse("admin:audit_auditentry_changelist") + f"?phone={phone.pk}",
        }

    def history_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> HttpResponse:
        """A phone's history is its audit trail."""
        if not can_view_audit(request.user):
            log_denied(request, request.user, roles.VIEW_AUDIT, "admin phone history")
            raise PermissionDenied
        try:
            phone_id = parse_id(object_id, "phone")
        except InvalidInput:
            raise Http404("No such phone") from None  # "abc" or 5,000 digits: int() was a 500
        return HttpResponseRedirect(reverse("admin:audit_auditentry_changelist") + f"?phone={phone_id}")

    # --- Bulk actions --------------------------------------------------------------------------
    @admin.action(description=_("Inactivate selected phones"), permissions=["change"])
    def inactivate_selected(self, request: HttpRequest, queryset: QuerySet[Phone]) -> HttpResponse | None:
        selected = queryset.select_related(None).order_by("id")
        total = selected[: MAX_BULK_INACTIVATE + 1].count()
        if total > MAX_BULK_INACTIVATE:
            messages.error(
                request, gettext("Select at most %(max)d phones to inactivate at once.") % {"max": MAX_BULK_INACTIVATE}
            )
            return None
        if request.POST.get("confirm") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": gettext("Inactivate phones"),
                "opts": self.model._meta,
                "phones": list(selected[:100]),
                "total": total,
                "already_inactive": selected.filter(active=False).count(),
                "selected_ids": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
                "select_across": request.POST.get("select_across", "0"),
                "action_name": "inactivate_selected",
                # The list with its filters: where "No, go back" leads without script.
                "back_url": request.get_full_path(),
            }
            return TemplateResponse(request, "admin/phones/phone/inactivate_confirmation.html", context)
        done = skipped = 0
        context, actor = crm_context(request), Actor.of(request.user)
        # One service call (one transaction, one audit entry) per phone.
        for phone in selected.only("id", "account_id", "active").iterator(chunk_size=200):
            if not phone.active:
                skipped += 1
                continue
            try:
                services.phone_inactivate(actor=actor, context=context, account_id=phone.account_id, phone_id=phone.pk)
            except PhoneInactive:
                skipped += 1  # inactivated by someone else meanwhile
                continue
            done += 1
        messages.success(
            request, ngettext("Inactivated %(count)d phone.", "Inactivated %(count)d phones.", done) % {"count": done}
        )
        if skipped:
            message = ngettext(
                "%(count)d phone was already inactive and was left as it is.",
                "%(count)d phones were already inactive and were left as they are.",
                skipped,
            )
            messages.warning(request, message % {"count": skipped})
        return None

    @admin.action(description=_("Export selected phones as CSV"), permissions=["view"])
    def export_selected_csv(self, request: HttpRequest, queryset: QuerySet[Phone]) -> StreamingHttpResponse:
        record_phones_export(request, selection="selected rows", row_count=queryset.count())
        return stream_phones_csv(queryset)

    # --- Extra pages ------------------------------------------------------------------------
    def get_urls(self) -> list[Any]:
        extra = [
            path(
                "account/<int:account_id>/",
                self.admin_site.admin_view(self.account_view),
                name="phones_phone_account",
            ),
            path("export/", self.admin_site.admin_view(self.export_view), name="phones_phone_export"),
            path(
                "<int:phone_id>/sync-state/",
                self.admin_site.admin_view(self.sync_state_view),
                name="phones_phone_sync_state",
            ),
            path(
                "number-preview/",
                self.admin_site.admin_view(self.number_preview_view),
                name="phones_phone_number_preview",
            ),
        ]
        return extra + super().get_urls()

    def _require_view(self, request: HttpRequest) -> None:
        if not self.has_view_permission(request):
            log_denied(request, request.user, roles.VIEW_PHONE, "admin")
            raise PermissionDenied

    def sync_state_view(self, request: HttpRequest, phone_id: int) -> HttpResponse:
        """The live sync state block of a phone's page and its link's page (``sync_state_block``),
        asked for by the block itself while the sync moves. Read only; the same access as the
        pages: the view right (else 403), and the phone through the selectors (else 404)."""
        self._require_view(request)
        phone = phones_visible_to(request.user).filter(pk=phone_id).only("pk").first()
        if phone is None:
            raise Http404("No such phone")
        link = ProviderLink.objects.filter(phone_id=phone.pk).first()
        return HttpResponse(sync_state_block(link, phone.pk))  # never cached: admin_view's never_cache

    def number_preview_view(self, request: HttpRequest) -> JsonResponse:
        """The phone form's live preview: the E.164 form and libphonenumber's plausibility hint of
        the number typed (``number``, ``area_code``, ``country_code``, ``type`` in the query), for
        operators who may type one (staff, signed in: ``admin_view``; never cached)."""
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            log_denied(request, request.user, roles.CHANGE_PHONE, "admin number preview")
            return JsonResponse({"message": gettext("You do not have permission to perform this action.")}, status=403)
        query = request.GET
        hint = number_hint(
            number=query.get("number", ""),
            area_code=query.get("area_code", ""),
            country_code=query.get("country_code", ""),
            phone_type=query.get("type", ""),
        )
        return JsonResponse(hint)

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """The filtered list (the same filters and search as the page) as a streamed CSV."""
        self._require_view(request)
        # The list's own screening. An export must be what the operator asked for: a filter left
        # out (it would export more) or one the database cannot read sends them back to the list,
        # with the messages, filtered by what remains; they may export that.
        query = request.GET
        screen_query(request)
        list_url = reverse("admin:phones_phone_changelist")
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            not_understood(request)
            return HttpResponseRedirect(list_url)
        if left_out := ignored_filters(request):
            kept = query.copy()
            for name in left_out:
                kept.pop(name, None)
            return HttpResponseRedirect(f"{list_url}?{kept.urlencode()}" if kept else list_url)
        record_phones_export(request, selection="filtered list", row_count=changelist.queryset.count())
        return stream_phones_csv(changelist.queryset)

    def account_view(self, request: HttpRequest, account_id: int) -> HttpResponse:
        """All phones of one account on one page, with their audit history."""
        self._require_view(request)
        phones = list(self.get_queryset(request).filter(account_id=account_id).order_by("-active", "id"))
        entries = None
        if can_view_audit(request.user):
            entries = list(
                audit_entries_visible_to(request.user)
                .filter(account_id=account_id)
                .only("id", "event", "origin", "operator_email", "created_at", "changes", "phone_id")
                .order_by("-id")[:200]
            )
        # The history names each phone by its number, as the table above does.
        numbers = {phone.pk: _number(phone) for phone in phones}
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Account %(account)s") % {"account": account_id},
            "opts": self.model._meta,
            "account_id": account_id,
            "phone_table": {
                "headers": [_("Number"), "E.164", _("Type"), _("Status"), _("Customer"), _("Updated")],
                "rows": [_phone_row(phone) for phone in phones],
            },
            "entries": entries,
            "history_table": {
                "headers": [_("When"), _("Event"), _("Phone"), _("Operator"), _("Origin"), _("Changes")],
                "rows": [_entry_row(entry, numbers) for entry in entries or ()],
            },
            "audit_url": reverse("admin:audit_auditentry_changelist") + "?" + urlencode({"account": account_id}),
            "add_url": reverse("admin:phones_phone_add") + "?" + urlencode({"account_id": account_id}),
            "can_add": self.has_add_permission(request),
        }
        return TemplateResponse(request, "admin/phones/phone/account.html", context)
