"""Forms of the operators admin (roles are offered only from what the acting operator may grant:
a manager, every role that does not manage) and the sign-in form."""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.contrib.auth.models import Group
from django.core.validators import MaxLengthValidator
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from unfold.forms import AuthenticationForm, UserChangeForm, UserCreationForm
from unfold.widgets import UnfoldAdminCheckboxSelectMultipleWidget

from backoffice.models import User
from backoffice.services import grantable_roles


class _RolesMixin(forms.Form):
    request: ClassVar[HttpRequest | None] = None

    roles = forms.ModelMultipleChoiceField(
        queryset=Group.objects.none(),
        to_field_name="name",
        label=_("Roles"),
        required=False,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
        help_text=_("Roles that manage operators are granted and removed by superusers only."),
    )

    def _limit_roles(self, instance: User | None) -> None:
        actor = self.request.user if self.request else None
        names = grantable_roles(actor) if actor is not None else set()
        self._grantable = names
        field = self.fields["roles"]
        # Every role is a valid choice (so that a managing one posted is refused saying why, not
        # "Select a valid choice"); only the grantable ones are offered.
        field.queryset = Group.objects.order_by("name")
        field.widget.choices = [(name, name) for name in sorted(names)]
        if instance is not None and instance.pk:
            self.initial["roles"] = list(instance.groups.filter(name__in=names).values_list("name", flat=True))

    def clean_roles(self) -> Any:
        chosen = self.cleaned_data.get("roles") or []
        refused = sorted(role.name for role in chosen if role.name not in self._grantable)
        if refused:
            raise forms.ValidationError(
                _("Only a superuser can grant a role that manages operators: %(roles)s."),
                code="managing_role",
                params={"roles": ", ".join(refused)},
            )
        return chosen


class OperatorCreationForm(_RolesMixin, UserCreationForm):
    class Meta:
        model = User
        fields = ("email", "full_name")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limit_roles(None)


class OperatorChangeForm(_RolesMixin, UserChangeForm):
    class Meta:
        model = User
        fields = ("email", "full_name", "is_active", "is_superuser", "password")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limit_roles(self.instance)
        # Django's help texts name a "user" ("usuário"); the backoffice's people are operators,
        # as every other line of the page says.
        password = self.fields.get("password")
        if password is not None:
            password.help_text = (
                _("Passwords are kept only as a hash: no one can read this operator's password.")
                if self.instance.has_usable_password()
                else _("This operator has no password: they cannot sign in with one until it is set.")
            )
        superuser = self.fields.get("is_superuser")
        if superuser is not None:
            superuser.help_text = _("Holds every permission, whatever their roles.")


class OperatorLoginForm(AuthenticationForm):
    """The admin's sign-in form with the email's length checked. Django sets the field's
    ``max_length`` after building it, so the browser is told but the server never checks: a longer
    email went on to authenticate and django-axes wrote it into its 255-character column (a 500).
    Refused by the field, it never reaches ``authenticate`` and counts no failure."""

    def __init__(self, request: HttpRequest | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(request, *args, **kwargs)
        field = self.fields["username"]
        field.validators.append(MaxLengthValidator(field.max_length))
