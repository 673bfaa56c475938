"""Operators and roles in the backoffice. Only superusers grant a managing role, or change (and set
the password of) a superuser or an operator who manages operators (``backoffice.services``)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from unfold.admin import ModelAdmin
from unfold.decorators import display
from unfold.forms import AdminPasswordChangeForm

from backoffice import mfa
from backoffice.access_signals import role_permissions_changed
from backoffice.admin_base import LoggedDenialsMixin, ScreenedQueryMixin
from backoffice.admin_forms import OperatorChangeForm, OperatorCreationForm, OperatorLoginForm
from backoffice.auth import log_denied
from backoffice.models import ApiKey, User
from backoffice.service_accounts import api_key_revoke
from backoffice.services import (
    OperatorChangeRefused,
    may_change_operator,
    operator_change,
    operator_create,
    password_reset_by,
)

admin.site.unregister(Group)
# simplejwt's token lists would show every refresh token in full (a usable credential) to whoever
# opens them: tokens are ended by signing out, the token version or expiry, not by hand here.
admin.site.unregister(OutstandingToken)
admin.site.unregister(BlacklistedToken)
admin.site.index_title = _("Dashboard")
admin.site.login_form = OperatorLoginForm


@admin.register(User)
class OperatorAdmin(ScreenedQueryMixin, LoggedDenialsMixin, DjangoUserAdmin, ModelAdmin):
    form = OperatorChangeForm
    add_form = OperatorCreationForm
    change_password_form = AdminPasswordChangeForm
    list_display = ("email", "full_name", "role_names", "is_active", "is_superuser", "last_login")
    list_filter = ("is_active", "groups")
    search_fields = ("email", "full_name")
    ordering = ("email",)
    filter_horizontal = ()
    actions = None
    add_fieldsets = ((None, {"fields": ("email", "full_name", "password1", "password2", "roles")}),)

    def get_fieldsets(self, request: HttpRequest, obj: User | None = None) -> Any:
        if obj is None:
            return self.add_fieldsets
        operator = ["email", "full_name", "password", "is_active"]
        if request.user.is_superuser:
            operator.append("is_superuser")
        mfa_field = "mfa_status_with_reset" if mfa.may_reset_mfa(request.user, obj) else "mfa_status"
        return (
            (_("Operator"), {"fields": operator}),
            (_("Roles"), {"fields": ("roles", "other_roles")}),
            (_("Activity"), {"fields": ("last_login", "date_joined")}),
            # The reset link only for whoever may reset this operator's MFA.
            (_("Two-factor authentication"), {"fields": (mfa_field,)}),
        )

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        # The email is the operator's identity in every audit entry: it is not renamed here.
        return ("email", "other_roles", "last_login", "date_joined", "mfa_status", "mfa_status_with_reset")

    def get_form(self, request: HttpRequest, obj: User | None = None, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, **kwargs)
        return type(form.__name__, (form,), {"request": request})

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).prefetch_related("groups")

    # --- Access -------------------------------------------------------------------------------
    def has_view_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return request.user.has_perm("backoffice.view_user")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("backoffice.add_user")

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        if not request.user.has_perm("backoffice.change_user"):
            return False
        # A superuser's or a manager's account (and password: the password page asks this too) is
        # out of reach of anyone but a superuser: whoever sets it can sign in with its power.
        return obj is None or may_change_operator(request.user, obj)

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return False  # operators are deactivated: their audit entries keep naming them

    # --- Display ------------------------------------------------------------------------------
    @display(description=_("Roles"))
    def role_names(self, user: User) -> str:
        return ", ".join(sorted(group.name for group in user.groups.all()))

    @display(description=_("All roles held"))
    def other_roles(self, user: User) -> str:
        # The checkboxes above list only the roles the acting operator may grant or remove.
        return ", ".join(sorted(group.name for group in user.groups.all())) or "—"

    @display(description=_("Authenticator"))
    def mfa_status(self, user: User) -> str:
        if not mfa.is_enrolled(user):
            if mfa.mfa_required(user):
                return gettext("Not enrolled (its roles require one: it enrols at its next sign-in)")
            return gettext("Not enrolled")
        left = mfa.recovery_codes_left(user)
        return ngettext("Enrolled, %(left)d recovery code left", "Enrolled, %(left)d recovery codes left", left) % {
            "left": left
        }

    @display(description=_("Authenticator"))
    def mfa_status_with_reset(self, user: User) -> str:
        if not mfa.is_enrolled(user):
            return self.mfa_status(user)
        url = reverse("admin:backoffice_user_mfa_reset", args=[user.pk])
        return format_html(
            '{} — <a href="{}" id="mfa-reset-link" class="text-primary-600">{}</a>',
            self.mfa_status(user),
            url,
            _("Reset MFA"),
        )

    # --- MFA reset ---------------------------------------------------------------------------------
    def get_urls(self) -> list[Any]:
        reset = path(
            "<path:object_id>/mfa-reset/",
            self.admin_site.admin_view(self.mfa_reset_view),
            name="backoffice_user_mfa_reset",
        )
        return [reset, *super().get_urls()]

    def mfa_reset_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Confirm, then remove the operator's authenticator and recovery codes (a lost phone)."""
        operator = get_object_or_404(User.objects.prefetch_related("groups"), pk=object_id)
        if not mfa.may_reset_mfa(request.user, operator):
            log_denied(request, request.user, "backoffice.change_user", f"mfa reset of operator {operator.pk}")
            raise PermissionDenied
        change_url = reverse("admin:backoffice_user_change", args=[operator.pk])
        if request.method == "POST":
            mfa.reset_mfa(request.user, operator)
            messages.success(
                request,
                gettext("The MFA of %(email)s was reset: it enrols again at its next sign-in.")
                % {"email": operator.email},
            )
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Reset the MFA of %(email)s?") % {"email": operator.email},
            "operator": operator,
            "change_url": change_url,
            "opts": self.opts,
        }
        return render(request, "admin/backoffice/user/mfa_reset.html", context)

    # --- Writes go through the services ----------------------------------------------------------
    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        roles = [group.name for group in form.cleaned_data.get("roles") or ()]
        if change:
            saved = operator_change(
                actor=request.user,
                operator=obj,
                roles=roles,
                full_name=form.cleaned_data.get("full_name", ""),
                is_active=form.cleaned_data.get("is_active", obj.is_active),
                is_superuser=form.cleaned_data.get("is_superuser") if request.user.is_superuser else None,
            )
        else:
            saved = operator_create(
                actor=request.user,
                email=form.cleaned_data["email"],
                full_name=form.cleaned_data.get("full_name", ""),
                password=form.cleaned_data.get("password1") or None,
                roles=roles,
            )
        obj.pk = saved.pk
        obj._state.adding = False

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # roles were set by the service

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:  # the form saved the password
            operator = User.objects.get(pk=id)
            password_reset_by(actor=request.user, operator=operator)
            if operator.pk != request.user.pk:
                messages.info(
                    request,
                    gettext("%(email)s must choose a new password at next sign-in.") % {"email": operator.email},
                )
        return response

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except OperatorChangeRefused as refused:
            messages.error(request, refused.message)
            return HttpResponseRedirect(request.get_full_path())


@admin.register(Group)
class RoleAdmin(ScreenedQueryMixin, LoggedDenialsMixin, ModelAdmin):
    """The role matrix; only superusers change it (nobody else holds the group permissions)."""

    list_display = ("name", "permission_count")
    search_fields = ("name",)
    filter_horizontal = ("permissions",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Group]:
        return super().get_queryset(request).prefetch_related("permissions")

    @display(description=_("Permissions"))
    def permission_count(self, group: Group) -> int:
        return len(group.permissions.all())

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Saves the role's permissions and sends what changed (audited, in the admin's
        transaction): read from the table, not the instance's prefetched (old) list."""
        before = _permission_names(form.instance) if change else set()
        super().save_related(request, form, formsets, change)
        after = _permission_names(form.instance)
        role_permissions_changed.send(
            sender=Group,
            actor=request.user,
            role=form.instance,
            added=sorted(after - before),
            removed=sorted(before - after),
        )


def _permission_names(role: Group) -> set[str]:
    rows = Group.permissions.through.objects.filter(group_id=role.pk)
    return {
        f"{app}.{codename}"
        for app, codename in rows.values_list("permission__content_type__app_label", "permission__codename")
    }


@admin.register(ApiKey)
class ApiKeyAdmin(ScreenedQueryMixin, LoggedDenialsMixin, ModelAdmin):
    """Service accounts' keys, for operator managers: who holds which key since when, and revoking
    one. Keys are issued by ``manage.py service_account issue-key`` (the key is shown once); the
    stored digest is never shown."""

    list_display = ("name", "prefix", "operator", "created_at", "last_used_at", "expires_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix", "operator__email")
    list_select_related = ("operator",)
    fields = (
        "operator",
        "name",
        "prefix",
        "created_at",
        "created_by",
        "last_used_at",
        "expires_at",
        "revoked_at",
        "revoked_by",
    )
    readonly_fields = fields
    actions = ("revoke_keys",)

    def has_view_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return request.user.has_perm("backoffice.view_user")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("backoffice.change_user")

    @admin.action(description=_("Revoke the selected keys"), permissions=["revoke"])
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for prefix in queryset.values_list("prefix", flat=True):
            api_key_revoke(prefix=prefix, revoked_by=request.user.email, actor=request.user)
        count = queryset.count()
        message = ngettext(
            "Revoked %(count)d key; it stops working at once.",
            "Revoked %(count)d keys; they stop working at once.",
            count,
        )
        self.message_user(request, message % {"count": count}, messages.SUCCESS)
