"""Operators and roles in the backoffice. Only superusers grant a managing role, or change (and set
the password of) a superuser or an operator who manages operators (``backoffice.services``)."""

from __future__ import annotations

import copy
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.db.models.options import Options
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from unfold.admin import ModelAdmin
from unfold.decorators import display
from unfold.forms import AdminPasswordChangeForm

from backoffice import lockouts, mfa
from backoffice.access_signals import role_permissions_changed
from backoffice.admin_base import NOTHING, DateRangeFilter, LoggedDenialsMixin, ScreenedQueryMixin
from backoffice.admin_forms import OperatorChangeForm, OperatorCreationForm, OperatorLoginForm
from backoffice.auth import log_denied
from backoffice.ids import whole_number
from backoffice.models import ApiKey, User
from backoffice.roles import PRODUCT_APPS, VIEW_AUDIT, VIEW_OWN_AUDIT
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
# One dash for nothing on every page: Django's default "-" sat beside shown_value's "—" (an empty
# date and an empty list of error codes on one job page).
admin.site.empty_value_display = NOTHING


class RoleListFilter(admin.RelatedFieldListFilter):
    """The operators' groups under the name operators know them by: roles (Django says "groups")."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = _("roles")


@admin.register(User)
class OperatorAdmin(ScreenedQueryMixin, LoggedDenialsMixin, DjangoUserAdmin, ModelAdmin):
    form = OperatorChangeForm
    add_form = OperatorCreationForm
    add_form_template = "admin/backoffice/user/add_form.html"  # says "operator" where Django says "user"
    change_password_form = AdminPasswordChangeForm
    list_display = ("email", "full_name", "role_names", "is_active", "sign_in", "is_superuser", "last_login")
    list_filter = ("is_active", ("groups", RoleListFilter), ("last_login", DateRangeFilter))
    list_filter_submit = True  # the date range is typed, then applied with the other filters
    list_before_template = "admin/includes/filter_chips.html"
    search_fields = ("email", "full_name")
    ordering = ("email",)
    filter_horizontal = ()
    actions = ("unlock_selected",)
    add_fieldsets = ((None, {"fields": ("email", "full_name", "password1", "password2", "roles")}),)

    def get_fieldsets(self, request: HttpRequest, obj: User | None = None) -> Any:
        if obj is None:
            return self.add_fieldsets
        operator = ["email", "full_name", "password", "is_active"]
        if request.user.is_superuser:
            operator.append("is_superuser")
        mfa_field = "mfa_status_with_reset" if mfa.may_reset_mfa(request.user, obj) else "mfa_status"
        # The unlock link only for whoever may unlock this operator (the password reset's limits).
        sign_in = "sign_in_status_with_unlock" if lockouts.may_unlock(request.user, obj) else "sign_in_status"
        return (
            (_("Operator"), {"fields": operator}),
            # Read only (an operator this one may not change), the roles held say it all: Django
            # would label the form's own "roles" field by its name, in English, with a "-".
            (
                _("Roles"),
                {"fields": ("roles", "other_roles") if self.has_change_permission(request, obj) else ("other_roles",)},
            ),
            (_("Activity"), {"fields": (sign_in, "last_login", "date_joined")}),
            # The reset link only for whoever may reset this operator's MFA.
            (_("Two-factor authentication"), {"fields": (mfa_field,)}),
        )

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        # The email is the operator's identity in every audit entry: it is not renamed here.
        return (
            "email",
            "other_roles",
            "sign_in_status",
            "sign_in_status_with_unlock",
            "last_login",
            "date_joined",
            "mfa_status",
            "mfa_status_with_reset",
        )

    def get_form(self, request: HttpRequest, obj: User | None = None, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, **kwargs)
        return type(form.__name__, (form,), {"request": request})

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).prefetch_related("groups")

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> Any:
        """The page's operators are checked for a sign-in lockout in one statement (its rows only)."""
        base = super().get_changelist(request, **kwargs)

        class OperatorChangeList(base):  # type: ignore[valid-type,misc]
            def get_results(self, request: HttpRequest) -> None:
                super().get_results(request)
                rows = list(self.result_list)
                locked = lockouts.locked_out(user.email for user in rows)
                for user in rows:
                    user.locked_out = lockouts.folded(user.email) in locked
                self.result_list = rows

        return OperatorChangeList

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

    def has_unlock_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("backoffice.change_user")

    # --- Display ------------------------------------------------------------------------------
    @display(description=_("Roles"))
    def role_names(self, user: User) -> str:
        # Each role on one line (a code broke at its hyphen: "backoffice-" / "operator"); none is
        # "—", as every empty value.
        names = sorted(group.name for group in user.groups.all())
        return (
            format_html_join(", ", '<span class="whitespace-nowrap">{}</span>', ((name,) for name in names)) or NOTHING
        )

    @display(description=_("Sign-in"), label={"locked_out": "danger"})
    def sign_in(self, user: User) -> tuple[str, str] | str:
        # ``locked_out`` is set for the page's rows by the changelist (one statement). unfold
        # reads (key, text): the badge's colour by a fixed key, whatever the operator's language
        # (a translated text as the dict's key was hashed in the language active at import).
        return ("locked_out", gettext("Locked out")) if getattr(user, "locked_out", False) else ""

    @display(description=_("Sign-in"))
    def sign_in_status(self, user: User) -> str:
        if not lockouts.locked_out([user.email]):
            return str(_("Not locked out"))
        return str(_("Locked out after too many failed sign-ins"))

    @display(description=_("Sign-in"))
    def sign_in_status_with_unlock(self, user: User) -> str:
        if not lockouts.locked_out([user.email]):
            return str(_("Not locked out"))  # asked once: not again through ``sign_in_status``
        url = reverse("admin:backoffice_user_unlock", args=[user.pk])
        return format_html(
            '{} — <a href="{}" id="unlock-link" class="text-primary-600">{}</a>',
            _("Locked out after too many failed sign-ins"),
            url,
            _("Unlock sign-in"),
        )

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
        unlock = path(
            "<path:object_id>/unlock/",
            self.admin_site.admin_view(self.unlock_view),
            name="backoffice_user_unlock",
        )
        return [reset, unlock, *super().get_urls()]

    # --- Unlocking a sign-in lockout ------------------------------------------------------------
    def _unlock_target(self, request: HttpRequest, object_id: str) -> User:
        operator = get_object_or_404(User.objects.prefetch_related("groups"), pk=whole_number(object_id) or 0)
        if not lockouts.may_unlock(request.user, operator):
            log_denied(request, request.user, "backoffice.change_user", f"unlock of operator {operator.pk}")
            raise PermissionDenied
        return operator

    def unlock_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Confirm, then lift the operator's sign-in lockout (``lockouts.unlock_operator``)."""
        operator = self._unlock_target(request, object_id)
        change_url = reverse("admin:backoffice_user_change", args=[operator.pk])
        if request.method == "POST":
            if lockouts.unlock_operator(actor=request.user, operator=operator):
                messages.success(request, _("%(email)s can sign in again.") % {"email": operator.email})
            else:
                messages.info(request, _("%(email)s was not locked out.") % {"email": operator.email})
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Unlock the sign-in of %(email)s?") % {"email": operator.email},
            "operator": operator,
            "locked_out": bool(lockouts.locked_out([operator.email])),
            "change_url": change_url,
            "opts": self.opts,
        }
        return render(request, "admin/backoffice/user/unlock.html", context)

    @admin.action(description=_("Unlock the sign-in of the selected operators"), permissions=["unlock"])
    def unlock_selected(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        unlocked, refused = [], []
        for operator in queryset.prefetch_related("groups").order_by("email"):
            if not lockouts.may_unlock(request.user, operator):
                refused.append(operator.email)
                continue
            if lockouts.unlock_operator(actor=request.user, operator=operator):
                unlocked.append(operator.email)
        if unlocked:
            self.message_user(
                request,
                ngettext(
                    "Unlocked %(emails)s: it can sign in again.",
                    "Unlocked %(emails)s: they can sign in again.",
                    len(unlocked),
                )
                % {"emails": ", ".join(unlocked)},
                messages.SUCCESS,
            )
        if refused:
            log_denied(request, request.user, "backoffice.change_user", f"unlock of {', '.join(refused)}")
            self.message_user(
                request,
                _("Only a superuser can unlock a superuser or an operator who manages operators: %(emails)s.")
                % {"emails": ", ".join(refused)},
                messages.ERROR,
            )
        if not unlocked and not refused:
            self.message_user(request, _("None of the selected operators was locked out."), messages.INFO)

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


def _role_options() -> Options:
    """Django's group options under the name operators know them by: its titles, breadcrumbs,
    buttons and messages say "role". A copy for this admin only: the model's own options (and so
    its migrations) stay Django's."""
    opts = copy.copy(Group._meta)
    opts.verbose_name = _("role")
    opts.verbose_name_plural = _("roles")
    return opts


class _ShownAsRole:
    """A role as a page shows it: the group itself, read through, with the role options as its
    ``_meta`` (for unfold's breadcrumbs, which read the object's own)."""

    def __init__(self, role: Group, opts: Options) -> None:
        self._role = role
        self._meta = opts

    def __getattr__(self, name: str) -> Any:
        return getattr(self._role, name)

    def __str__(self) -> str:
        return str(self._role)


# The audit trail is append-only for everyone: of its permissions the product checks the two that
# read it (``VIEW_AUDIT``, ``VIEW_OWN_AUDIT``). Django's add, change and delete of an
# entry, and all four of the chain head (an internal table), grant nothing: the roles page showed
# them ("Can delete audit entry"), which a reviewer of a bank's role matrix reads as a hole.
AUDIT_PERMISSIONS_OFFERED = tuple(name.partition(".")[2] for name in (VIEW_AUDIT, VIEW_OWN_AUDIT))


def product_permissions() -> QuerySet[Permission]:
    """The permissions this product checks: its own apps' (of the audit's, reading it only) and
    who may see or edit the roles (``auth``'s group permissions); not Django's sessions, content
    types, axes or OTP devices."""
    ours = Q(content_type__app_label__in=PRODUCT_APPS) | Q(content_type__app_label="auth", content_type__model="group")
    unused_audit = Q(content_type__app_label="audit") & ~Q(codename__in=AUDIT_PERMISSIONS_OFFERED)
    return Permission.objects.filter(ours).exclude(unused_audit).select_related("content_type")


ROLE_PERMISSION_LABELS = {
    "view_group": _("Can view roles"),
    "add_group": _("Can add roles"),
    "change_group": _("Can change roles"),
    "delete_group": _("Can delete roles"),
}
# Django's default permissions are named in English when they are created ("Can add phone"): the
# roles form names them in the operator's language from the model's own (translated) name.
DEFAULT_PERMISSION_LABELS = {
    "view": _("Can view %(name)s"),
    "add": _("Can add %(name)s"),
    "change": _("Can change %(name)s"),
    "delete": _("Can delete %(name)s"),
}
# Our own permissions (the models' ``Meta.permissions``: stored in English, as Django names them).
CUSTOM_PERMISSION_LABELS = {
    "phones.manage_provider_link": _("Can link phones to provider numbers"),
    "phones.resync_phone": _("Can re-sync phones with their provider"),
    "audit.view_own_auditentry": _("Can view own audit entries"),
}


def permission_label(permission: Permission) -> str:
    """How the roles form names a permission, in the operator's language: what it allows, in one
    sentence that names its object ("Can view phone", "Pode ver telefone"). Django's label put the
    app and the model before it ("Telefones | telefone | Pode ver telefone", up to 84 characters),
    and the picker's lists cut it; the form lists the permissions in app and model order
    (``PERMISSION_ORDER``), so they stay grouped. The group's permissions in words of roles
    (Django's reads "Can add group")."""
    content_type = permission.content_type
    if content_type.app_label == "auth" and permission.codename in ROLE_PERMISSION_LABELS:
        return str(ROLE_PERMISSION_LABELS[permission.codename])
    custom = CUSTOM_PERMISSION_LABELS.get(f"{content_type.app_label}.{permission.codename}")
    if custom is not None:
        return str(custom)
    model = content_type.model_class()
    action = permission.codename.partition("_")[0]
    default = permission.codename == f"{action}_{content_type.model}" and action in DEFAULT_PERMISSION_LABELS
    if model is not None and default:
        return DEFAULT_PERMISSION_LABELS[action] % {"name": model._meta.verbose_name}
    return str(permission)


# The order the roles form lists the permissions in: by app and model, so that a model's stay together.
PERMISSION_ORDER = ("content_type__app_label", "content_type__model", "codename")


@admin.register(Group)
class RoleAdmin(ScreenedQueryMixin, LoggedDenialsMixin, ModelAdmin):
    """The role matrix; only superusers change it (nobody else holds the group permissions)."""

    list_display = ("name", "permission_count")
    search_fields = ("name",)
    shown_name = _("role")
    filter_horizontal = ("permissions",)

    def __init__(self, model: type[Group], admin_site: Any) -> None:
        super().__init__(model, admin_site)
        self.opts = _role_options()

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> Any:
        base = super().get_changelist(request, **kwargs)
        opts = self.opts

        class RoleChangeList(base):  # type: ignore[valid-type,misc]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                # Django's list reads the model's own options for its title and breadcrumbs.
                self.opts = opts
                self.title = _("Roles")

        return RoleChangeList

    def get_queryset(self, request: HttpRequest) -> QuerySet[Group]:
        return super().get_queryset(request).prefetch_related("permissions")

    # unfold's breadcrumbs read the object's own ``_meta`` ("Groups"): the page's object is shown
    # through a view of it that carries the role options.
    def render_change_form(self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if context.get("original") is not None:
            context["original"] = _ShownAsRole(context["original"], self.opts)
        return super().render_change_form(request, context, *args, **kwargs)

    # Django names the saved object by its own ``_meta`` ("The group ... was added"): this instance,
    # saved already and about to be discarded, carries the role options for the message.
    def response_add(self, request: HttpRequest, obj: Group, *args: Any, **kwargs: Any) -> HttpResponse:
        obj._meta = self.opts
        return super().response_add(request, obj, *args, **kwargs)

    def response_change(self, request: HttpRequest, obj: Group) -> HttpResponse:
        obj._meta = self.opts
        return super().response_change(request, obj)

    def render_delete_form(self, request: HttpRequest, context: dict[str, Any]) -> Any:
        if context.get("object") is not None:
            context["object"] = _ShownAsRole(context["object"], self.opts)
        return super().render_delete_form(request, context)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "permissions":
            kwargs["queryset"] = product_permissions().order_by(*PERMISSION_ORDER)
            field = super().formfield_for_manytomany(db_field, request, **kwargs)
            field.label_from_instance = permission_label
            return field
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    @display(description=_("Permissions"))
    def permission_count(self, group: Group) -> int:
        return len(group.permissions.all())

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = super().get_fields(request, obj)
        if obj is not None and not self.has_change_permission(request, obj):
            # Read-only, Django lists the permissions by their stored names ("Telefones | telefone
            # | Can view phone" on a Portuguese page): the form's labels instead.
            return ["permissions_shown" if name == "permissions" else name for name in fields]
        return fields

    @display(description=_("Permissions"))
    def permissions_shown(self, group: Group) -> str:
        labels = [
            permission_label(p) for p in group.permissions.select_related("content_type").order_by(*PERMISSION_ORDER)
        ]
        return format_html_join(mark_safe("<br>"), "{}", ((label,) for label in labels)) if labels else NOTHING

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Saves the role's permissions and sends what changed (audited, in the admin's
        transaction): read from the table, not the instance's prefetched (old) list."""
        before = _permission_names(form.instance) if change else set()
        # Permissions outside the product's (not offered on the form) are kept as they were, not
        # dropped by saving the form.
        kept = list(form.instance.permissions.exclude(pk__in=product_permissions().values("pk"))) if change else []
        super().save_related(request, form, formsets, change)
        if kept:
            form.instance.permissions.add(*kept)
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
