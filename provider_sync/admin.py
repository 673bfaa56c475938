"""Provider sync in the backoffice: links (edit, unlink, re-sync), sync jobs and their attempts.

Registers ``ProviderLink`` and ``SyncJob``; every write goes through the link services
(``provider_sync.links``). Adds the "Re-sync with provider" action to the phone list
(``phones.admin.register_phone_action``); the phone admin's own ``ResyncPermissionMixin`` answers
the action's ``permissions=["resync"]``.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import format_lazy
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST
from unfold.admin import ModelAdmin, TabularInline
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from audit.models import Origin
from audit.services import AuditContext
from backoffice import roles
from backoffice.actor import Actor
from backoffice.admin_base import DateRangeFilter, LoggedDenialsMixin, ScreenedQueryMixin, shown_field, shown_value
from backoffice.auth import log_denied
from phones.admin import RESYNC_URL_NAME, number_shown, register_phone_action
from phones.admin_sync_state import sync_state_block, sync_status_badge, sync_status_of
from phones.checks import shown_problem
from phones.errors import PhoneError, PhoneValidationError
from phones.models import HAS_DUE_TIME, Phone, Provider, ProviderLink, SyncAttempt, SyncJob
from phones.sync_status import prefetch_latest_job
from provider_sync import links
from provider_sync.checks import check_link_target, check_remote_number, check_settings, settings_fields


def _crm_context(request: HttpRequest) -> AuditContext:
    return AuditContext.from_request(request, origin=Origin.CRM)


# --------------------------------------------------------------------------------------------
# Pieces for the Phone admin
# --------------------------------------------------------------------------------------------


@register_phone_action
@admin.action(description=_("Re-sync with provider"), permissions=["resync"])
def resync_phones(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Phone]) -> None:
    """Phone list action: queue a re-sync of each selected linked phone."""
    jobs = links.phones_resync(
        actor=Actor.of(request.user),
        context=_crm_context(request),
        phone_ids=queryset.values_list("pk", flat=True),
    )
    skipped = queryset.count() - len(jobs)
    modeladmin.message_user(request, _queued(len(jobs)), messages.SUCCESS)
    if skipped:
        message = ngettext(
            "%(count)d phone has no provider link.", "%(count)d phones have no provider link.", skipped
        ) % {"count": skipped}
        modeladmin.message_user(request, message, messages.WARNING)


def _queued(count: int) -> str:
    return ngettext("Re-sync queued for %(count)d phone.", "Re-sync queued for %(count)d phones.", count) % {
        "count": count
    }


# --------------------------------------------------------------------------------------------
# Provider links
# --------------------------------------------------------------------------------------------

SETTING_LABELS = {
    "display_name": _("Display name"),
    "sms_service_plan_id": _("SMS service plan ID"),
    "sms_campaign_id": _("SMS campaign ID (US 10DLC)"),
    "voice_type": _("Voice configuration type"),
    "voice_target_id": _("Voice app / trunk / service ID"),
    "callback_url": _("Callback URL"),
    "alias": _("Alias"),
    "app_id": _("Application ID"),
    "subaccount": _("Subaccount (auth id)"),
    "compliance_application_id": _("Compliance application ID"),
}


def labelled_settings(settings: dict[str, Any] | None) -> str:
    """A link's or a job's provider settings as a small table under the link page's labels."""
    return shown_value({SETTING_LABELS.get(key, key): value for key, value in (settings or {}).items()})


def _form_field(provider: str, key: str) -> str:
    return f"{provider}_{key}"


class ProviderLinkForm(forms.ModelForm):
    """One form field per provider setting; the chosen provider's are validated and kept."""

    class Meta:
        model = ProviderLink
        fields = ("phone", "provider", "remote_number")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            for key, value in self.instance.settings.items():
                name = _form_field(self.instance.provider, key)
                if name in self.fields:
                    self.fields[name].initial = value or ""
        if "phone" in self.fields:
            # Every phone, an inactive one too: ``clean`` says why it cannot be linked, where a
            # queryset of active phones only answered "Select a valid choice" for either.
            self.fields["phone"].queryset = Phone.objects.all()
            self.fields["phone"].error_messages["invalid_choice"] = _("There is no phone with ID %(value)s.")
            # A bare id box: say where the id comes from (the phone page's "Link to a provider"
            # fills it in; the magnifier searches the phones by number).
            self.fields["phone"].help_text = _(
                "The phone's ID: open this form from the phone's page (Link to a provider), or find the "
                "phone by its number with the magnifier."
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        provider = data.get("provider")
        phone = data.get("phone") or (self.instance.phone if self.instance.pk else None)
        if phone is not None and not phone.active:
            raise forms.ValidationError(_("An inactive phone cannot be linked."))
        if "remote_number" in data:
            try:
                data["remote_number"] = check_remote_number(data["remote_number"])
                if phone is not None:
                    check_link_target(remote_number=data["remote_number"], phone_e164=phone.e164)
            except PhoneValidationError as error:
                field = "remote_number" if error.field == "remote_number" else None
                self.add_error("phone" if field is None and "phone" in self.fields else field, shown_problem(error))
        if provider:
            raw = {key: data.get(_form_field(provider, key)) or None for key in settings_fields(provider)}
            try:
                data["settings"] = check_settings(provider, raw)
            except PhoneValidationError as error:
                key = error.field.removeprefix("settings.")
                self.add_error(_form_field(provider, key) if key in raw else None, shown_problem(error))
        return data


def _setting_form_field(provider: str, key: str) -> forms.Field:
    if key == "voice_type":
        field: forms.Field = forms.ChoiceField(
            # "—" for nothing, as everywhere else in the backoffice.
            choices=[("", "—"), ("RTC", _("RTC (app)")), ("EST", _("EST (trunk)")), ("FAX", _("FAX (service)"))],
            required=False,
            widget=UnfoldAdminSelectWidget,
        )
    else:
        field = forms.CharField(required=False, max_length=255, widget=UnfoldAdminTextInputWidget)
    # Lazy: the fields are built once, at import, and read in each operator's language.
    field.label = format_lazy("{}: {}", Provider(provider).label, SETTING_LABELS.get(key, key))
    return field


def _settings_title(provider: str) -> str:
    return gettext("%(provider)s settings") % {"provider": provider}


# Declared on the class (not per instance) so the admin's fieldsets may name them.
for _provider in Provider.values:
    for _key in settings_fields(_provider):
        _field = _setting_form_field(_provider, _key)
        ProviderLinkForm.base_fields[_form_field(_provider, _key)] = _field
        ProviderLinkForm.declared_fields[_form_field(_provider, _key)] = _field


class PhoneColumn:
    """A row's phone in a list as the phones list writes it ("+55 11 91234-5678", on one line),
    sorted by its number; the list reads it with the row (``list_select_related``)."""

    @admin.display(description=_("phone"), ordering="phone__e164")
    def phone_shown(self, row: ProviderLink | SyncJob) -> str:
        return number_shown(row.phone)


@admin.register(ProviderLink)
class ProviderLinkAdmin(PhoneColumn, ScreenedQueryMixin, LoggedDenialsMixin, ModelAdmin):
    form = ProviderLinkForm
    delete_confirmation_template = "admin/phones/providerlink/unlink_confirmation.html"  # it unlinks
    list_display = (
        "phone_shown",
        "provider",
        "number",
        "state",
        "last_synced_at",
        "drift_shown",
        "linked",
        "updated_at",
    )
    list_filter = ("provider", "sync_state", "linked", ("updated_at", DateRangeFilter))
    list_filter_submit = True  # the date range is typed, then applied with the other filters
    list_before_template = "admin/includes/filter_chips.html"
    search_fields = ("phone__e164", "remote_number")
    list_select_related = ("phone",)
    raw_id_fields = ("phone",)
    actions = ("resync_links",)

    class Media:
        # Only the chosen provider's settings block on the form (a static file: the CSP allows no
        # inline script).
        js = ("provider_sync/link_settings.js",)

    readonly_fields = (
        "state",
        "linked",
        "last_status",
        "last_error",
        "error_codes",
        "last_attempt_at",
        "last_synced_at",
        "drift_detail",
        "drift_detected_at",
        "drift_checked_at",
        "jobs",
    )

    # --- Access: view with the phones, write with manage_provider_link ----------------------
    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(roles.VIEW_PHONE)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(roles.MANAGE_PROVIDER_LINK)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(roles.MANAGE_PROVIDER_LINK)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(roles.MANAGE_PROVIDER_LINK) and (obj is None or obj.linked)

    def has_resync_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(roles.RESYNC_PHONE)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> Any:
        """The list's page reads its links' relevant sync jobs in one statement (the page's rows
        only: the actions' querysets stay plain)."""
        base = super().get_changelist(request, **kwargs)

        class LinkChangeList(base):  # type: ignore[valid-type,misc]
            def get_results(self, request: HttpRequest) -> None:
                super().get_results(request)
                if isinstance(self.result_list, QuerySet):
                    self.result_list = self.result_list.prefetch_related(prefetch_latest_job())

        return LinkChangeList

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        read_only = obj is not None and not self.has_change_permission(request, obj)
        # Read only, the number the provider holds (the phone's own when no other is set), where the
        # form's field showed "—" under its hint for whoever edits it ("empty: the phone's").
        number = "number" if read_only else "remote_number"
        link_fields = ("sync_status", "provider", number) if obj else ("phone", "provider", number)
        sets: list[Any] = [(None, {"fields": link_fields})]
        if read_only:
            # Read-only: the settings form fields are not the model's, so Django would show "-" for
            # each. The stored settings instead, as a small table.
            sets.append((_settings_title(obj.get_provider_display()), {"fields": ("settings_table",)}))
        else:
            for provider in Provider.values:
                names = tuple(_form_field(provider, key) for key in settings_fields(provider))
                # The page's script shows the chosen provider's block only (link_settings.js).
                classes = ("provider-settings", f"provider-settings-{provider}")
                sets.append((_settings_title(Provider(provider).label), {"fields": names, "classes": classes}))
        if obj is not None:
            # The status in words is at the top ("sync_status"); here the fields it is made of,
            # under a title that does not name the status a second time. A link not saved yet has
            # none (the add page showed "Linked ✓" for it).
            details = tuple(name for name in self.readonly_fields if name != "state")
            sets.append((_("Sync details"), {"fields": details}))
        return sets

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (*self.readonly_fields, "phone", "sync_status", "settings_table") if obj else self.readonly_fields

    @admin.display(description=_("Settings"))
    def settings_table(self, link: ProviderLink) -> str:
        return labelled_settings(link.settings) if link.settings else gettext("None set")

    @admin.display(description=_("number at the provider"))
    def number(self, link: ProviderLink) -> str:
        return link.number_e164

    @admin.display(description=_("sync status"), ordering="sync_state")
    def state(self, link: ProviderLink) -> str:
        # The list prefetches each link's job (get_changelist): no query per row.
        return sync_status_badge(link, sync_status_of(link))

    @admin.display(description=_("Sync status"))
    def sync_status(self, link: ProviderLink) -> str:
        # Live: the block refreshes itself while the sync moves (the phone admin's fragment view).
        return sync_state_block(link, link.phone_id)

    # The page's JSON fields in words and small tables, not raw JSON ("{}", "[]").
    @admin.display(description=_("Last error codes"))
    def error_codes(self, link: ProviderLink) -> str:
        return shown_value(link.last_error_codes)

    @admin.display(description=_("Drift"))
    def drift_detail(self, link: ProviderLink) -> str:
        return shown_value(link.drift) if link.drift else gettext("No drift")

    @admin.display(description=_("drift"))
    def drift_shown(self, link: ProviderLink) -> str:
        # "No drift" is the normal case: plain text, not the red cross of a boolean column.
        if not link.drift:
            return gettext("No drift")
        return format_html(
            '<span style="color:#b45309">{}</span>',
            gettext("Drift: %(fields)s") % {"fields": ", ".join(sorted(link.drift))},
        )

    @admin.display(description=_("sync jobs"))
    def jobs(self, link: ProviderLink) -> str:
        url = reverse("admin:phones_syncjob_changelist") + f"?link__id__exact={link.pk}"
        count = link.jobs.count()
        return format_html(
            '<a href="{}">{}</a>', url, ngettext("%(count)d job", "%(count)d jobs", count) % {"count": count}
        )

    def save_model(self, request: HttpRequest, obj: ProviderLink, form: Any, change: bool) -> None:
        # Saved as it was (the service then writes nothing): say so, not "changed successfully".
        request._link_unchanged = change and not form.has_changed()  # type: ignore[attr-defined]
        phone = form.cleaned_data.get("phone") or obj.phone
        link = links.provider_link_set(
            actor=Actor.of(request.user),
            context=_crm_context(request),
            account_id=phone.account_id,
            phone_id=phone.pk,
            provider=form.cleaned_data["provider"],
            remote_number=form.cleaned_data.get("remote_number") or "",
            settings=form.cleaned_data["settings"],
        )
        obj.pk = link.pk
        obj.refresh_from_db()

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        return  # nothing related is edited here

    def message_user(
        self, request: HttpRequest, message: Any, level: int = messages.INFO, *args: Any, **kwargs: Any
    ) -> None:
        if level == messages.SUCCESS and getattr(request, "_link_unchanged", False):
            message, level = gettext("Nothing was changed: the provider link is as it was."), messages.INFO
        super().message_user(request, message, level, *args, **kwargs)

    def get_deleted_objects(
        self, objs: Any, request: HttpRequest
    ) -> tuple[list[Any], dict[Any, int], set[str], list[Any]]:
        """ "Delete" unlinks: the link row stays (released at the provider), its sync jobs and audit
        entries with it. Django's collector saw the jobs' PROTECT foreign key and refused every
        deletion, a superuser's too; nothing is deleted, so nothing is protected."""
        shown = [
            _("%(link)s: unlinked and its number released at the provider; its sync jobs and audit trail stay.")
            % {"link": obj}
            for obj in objs
        ]
        return shown, {}, set(), []

    def response_delete(self, request: HttpRequest, obj_display: str, obj_id: Any) -> HttpResponse:
        self.message_user(request, _("%(link)s was unlinked.") % {"link": obj_display}, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:phones_providerlink_changelist"))

    def delete_model(self, request: HttpRequest, obj: ProviderLink) -> None:
        links.provider_link_remove(
            actor=Actor.of(request.user),
            context=_crm_context(request),
            account_id=obj.phone.account_id,
            phone_id=obj.phone_id,
        )

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ProviderLink]) -> None:
        for link in queryset.select_related("phone"):
            self.delete_model(request, link)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # unlinking is one link at a time, from its page
        return actions

    @admin.action(description=_("Re-sync with provider"), permissions=["resync"])
    def resync_links(self, request: HttpRequest, queryset: QuerySet[ProviderLink]) -> None:
        jobs = links.phones_resync(
            actor=Actor.of(request.user),
            context=_crm_context(request),
            phone_ids=queryset.values_list("phone_id", flat=True),
        )
        self.message_user(request, _queued(len(jobs)), messages.SUCCESS)

    # --- The "Re-sync" button of a phone's page and a link's page ------------------------------
    def get_urls(self) -> list[Any]:
        resync = path(
            "resync/<int:phone_id>/",
            self.admin_site.admin_view(self.resync_view),
            name=RESYNC_URL_NAME.removeprefix("admin:"),
        )
        return [resync, *super().get_urls()]

    @method_decorator(require_POST)
    @method_decorator(csrf_protect)
    def resync_view(self, request: HttpRequest, phone_id: int) -> HttpResponse:
        """Queue a re-sync of one phone (POST, CSRF-checked), then back to the page it came from:
        the phone's or its link's (``next``, this site's only), else the phone's."""
        if not self.has_resync_permission(request):
            log_denied(request, request.user, roles.RESYNC_PHONE, "admin re-sync")
            raise PermissionDenied
        phone = Phone.objects.filter(pk=phone_id).only("pk", "account_id").first()
        if phone is None:
            raise Http404("No such phone")
        try:
            job = links.phone_resync(
                actor=Actor.of(request.user),
                context=_crm_context(request),
                account_id=phone.account_id,
                phone_id=phone.pk,
            )
        except PhoneError as error:  # not linked, or inactivated meanwhile
            self.message_user(request, shown_problem(error), messages.ERROR)
        else:
            self.message_user(request, gettext("Re-sync queued (sync job %(id)s).") % {"id": job.pk}, messages.SUCCESS)
        back = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=False):
            back = reverse("admin:phones_phone_change", args=[phone.pk])
        return HttpResponseRedirect(back)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None) -> Any:
        extra_context = dict(extra_context or {})
        link = self.get_object(request, object_id)
        if link is not None and link.linked and self.has_resync_permission(request):
            extra_context["resync_url"] = reverse(RESYNC_URL_NAME, args=[link.phone_id])
        return super().change_view(request, object_id, form_url, extra_context)

    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().changeform_view(request, *args, **kwargs)
        except PhoneError as error:  # raced with another change (e.g. phone inactivated)
            self.message_user(request, shown_problem(error), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


# --------------------------------------------------------------------------------------------
# Sync jobs and their HTTP attempts (read-only)
# --------------------------------------------------------------------------------------------


class SyncAttemptInline(TabularInline):
    model = SyncAttempt
    extra = 0
    can_delete = False
    fields = ("started_at", "try_number", "kind", "method", "url", "response_status", "duration_ms", "error", "body")
    readonly_fields = fields

    @admin.display(description=_("request / response"))
    def body(self, attempt: SyncAttempt) -> str:
        return format_html(
            "<details><summary>{}</summary><pre>{}</pre><pre>{}</pre></details>",
            gettext("show"),
            attempt.request_body,
            attempt.response_body,
        )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(roles.VIEW_PHONE)


@admin.register(SyncJob)
class SyncJobAdmin(PhoneColumn, ScreenedQueryMixin, LoggedDenialsMixin, ModelAdmin):
    list_display = (
        "id",
        "phone_shown",
        "provider",
        "number",
        "reason",
        "status",
        "attempts",
        "next_attempt_at",
        "operator_email",
        "created_at",
        "updated_at",
    )
    list_filter = ("status", "provider", "reason", ("updated_at", DateRangeFilter), ("created_at", DateRangeFilter))
    list_filter_submit = True  # the date ranges are typed, then applied with the other filters
    list_before_template = "admin/includes/filter_chips.html"
    search_fields = ("number", "operator_email")
    list_select_related = ("phone",)
    inlines = (SyncAttemptInline,)
    readonly_fields = (
        "link",
        "phone_page",
        "provider",
        "number",
        "reason",
        "status",
        "attempts",
        "polls",
        "next_attempt_at",
        "locked_until",
        "provisioning_started_at",
        "last_status",
        "last_error",
        "error_codes_shown",
        "desired_shown",
        "previous_shown",
        "operator_email",
        "operator_roles_shown",
        "origin",
        "request_id",
        "created_at",
        "updated_at",
        "finished_at",
    )
    fields = readonly_fields

    # Who changed what is the audit trail's to tell: roles that may not read it do not see the
    # operators of jobs here either (their list, page and search).
    OPERATOR_FIELDS = ("operator_email", "operator_roles_shown")

    # The stored lists and mappings as operators read them (a list joined by commas, settings as
    # a small table, "—" for nothing), not as JSON ("[]", {"alias": ...}): as on the link's page.
    error_codes_shown = shown_field(SyncJob, "last_error_codes")
    desired_shown = shown_field(SyncJob, "desired", show=labelled_settings)
    previous_shown = shown_field(SyncJob, "previous", show=labelled_settings)
    operator_roles_shown = shown_field(SyncJob, "operator_roles")

    @admin.display(description=_("phone"))
    def phone_page(self, job: SyncJob) -> str:
        # As the lists write it, linked to its page (styled as unfold's link to the job's link
        # just above); Django's own link to the related row wrote its raw E.164.
        return format_html(
            '<a href="{}" class="text-link">{}</a>',
            reverse("admin:phones_phone_change", args=[job.phone_id]),
            number_shown(job.phone),
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[SyncJob]:
        # A filter on an open status then reads the index of open jobs, not the whole history.
        return super().get_queryset(request).filter(HAS_DUE_TIME)

    def _hides_operators(self, request: HttpRequest) -> bool:
        return not request.user.has_perm(roles.VIEW_AUDIT)

    def get_list_display(self, request: HttpRequest) -> Any:
        shown = super().get_list_display(request)
        return [f for f in shown if f not in self.OPERATOR_FIELDS] if self._hides_operators(request) else shown

    def get_search_fields(self, request: HttpRequest) -> Any:
        shown = super().get_search_fields(request)
        return [f for f in shown if f not in self.OPERATOR_FIELDS] if self._hides_operators(request) else shown

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        shown = super().get_fields(request, obj)
        return [f for f in shown if f not in self.OPERATOR_FIELDS] if self._hides_operators(request) else shown

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        shown = super().get_readonly_fields(request, obj)
        return [f for f in shown if f not in self.OPERATOR_FIELDS] if self._hides_operators(request) else shown

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(roles.VIEW_PHONE)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
