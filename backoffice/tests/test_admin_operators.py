from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from backoffice.models import User
from backoffice.roles import ROLES
from backoffice.services import OperatorChangeRefused, operator_change
from backoffice.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
ADD_URL = reverse("admin:backoffice_user_add")


def change_url(user):
    return reverse("admin:backoffice_user_change", args=[user.pk])


@pytest.fixture
def master(make_operator):
    return make_operator("itibackoffice-master", "crm-operator", email="master@bank.example")


@pytest.fixture
def master_client(client, master):
    client.force_login(master)
    return client


def new_operator(**overrides):
    return {
        "email": "New.Op@Bank.example",
        "full_name": "New Op",
        "password1": "a-long-unusual-passphrase-42",
        "password2": "a-long-unusual-passphrase-42",
        "roles": ["crm-operator"],
        **overrides,
    }


def roles_of(user):
    return set(user.groups.values_list("name", flat=True))


def test_master_creates_an_operator_with_a_role_it_holds(master_client):
    response = master_client.post(ADD_URL, new_operator())
    assert response.status_code == 302, response.context["adminform"].form.errors
    user = User.objects.get(email="new.op@bank.example")
    assert roles_of(user) == {"crm-operator"} and user.check_password("a-long-unusual-passphrase-42")
    assert not user.is_superuser


def test_roles_offered_are_every_role_that_does_not_manage(master_client):
    """DESIGN.md section 5: a manager grants every role that does not itself manage operators (it
    was offered the roles it held, ``itibackoffice-master`` included: a manager made managers)."""
    page = master_client.get(ADD_URL)
    offered = {value for value, _label in page.context["adminform"].form.fields["roles"].widget.choices}
    assert offered == set(ROLES) - {"itibackoffice-master"}
    assert 'value="itibackoffice-master"' not in page.content.decode()


def test_a_manager_grants_a_role_it_does_not_hold(master_client):
    response = master_client.post(ADD_URL, new_operator(roles=["treasury-operator"]))
    assert response.status_code == 302
    assert roles_of(User.objects.get(email="new.op@bank.example")) == {"treasury-operator"}


def test_a_manager_cannot_grant_a_managing_role(master_client, make_operator):
    """The pentest: a manager made another manager (then set its password and signed in as it)."""
    response = master_client.post(ADD_URL, new_operator(roles=["itibackoffice-master"]))
    assert response.status_code == 200 and "roles" in response.context["adminform"].form.errors
    assert not User.objects.filter(email="new.op@bank.example").exists()
    target = make_operator("crm-operator", email="t@bank.example")
    response = master_client.post(
        change_url(target), {"full_name": "T", "is_active": "on", "roles": ["itibackoffice-master"]}
    )
    assert response.status_code == 200 and "roles" in response.context["adminform"].form.errors
    assert roles_of(target) == {"crm-operator"}


def test_a_manager_cannot_grant_a_role_the_matrix_made_managing(make_operator):
    """A role counts as managing by its permissions, not by its name: an edited matrix counts
    (even for a manager who holds that role itself)."""
    edited = Group.objects.get(name="inspetoria-master")
    edited.permissions.add(Permission.objects.get(content_type__app_label="backoffice", codename="change_user"))
    target = make_operator("crm-operator", email="t@bank.example")
    manager = make_operator("itibackoffice-master", "inspetoria-master", email="m2@bank.example")
    with pytest.raises(OperatorChangeRefused, match="inspetoria-master"):
        operator_change(
            actor=manager,
            operator=target,
            roles=["inspetoria-master"],
            full_name="T",
            is_active=True,
        )
    assert roles_of(target) == {"crm-operator"}


def test_editing_sets_exactly_the_roles_given(master_client, make_operator):
    target = make_operator("treasury-operator", "crm-operator", email="t@bank.example")
    response = master_client.post(
        change_url(target), {"full_name": "T", "is_active": "on", "roles": ["geroficios-operator"]}
    )
    assert response.status_code == 302
    assert roles_of(target) == {"geroficios-operator"}


@pytest.mark.parametrize("who", ["another manager", "itself", "a superuser"])
def test_a_manager_cannot_set_the_password_of_a_manager_or_a_superuser(master_client, master, make_operator, who):
    """The pentest: a manager set another manager's password and signed in as them."""
    target = {
        "another manager": lambda: make_operator("itibackoffice-master", email="peer@bank.example"),
        "itself": lambda: master,
        "a superuser": lambda: make_operator(is_superuser=True, email="root@bank.example"),
    }[who]()
    password_url = change_url(target).replace("/change/", "/password/")
    posted = {"password1": "x-long-new-passphrase-7", "password2": "x-long-new-passphrase-7", "usable_password": "true"}
    assert master_client.post(password_url, posted).status_code == 403
    assert master_client.post(password_url, {"usable_password": "false", "unset-password": "1"}).status_code == 403
    assert master_client.get(change_url(target)).context["has_change_permission"] is False
    answer = master_client.post(change_url(target), {"full_name": "pwned", "roles": ["crm-operator"]})
    assert answer.status_code == 403
    target.refresh_from_db()
    assert target.check_password(PASSWORD) and target.is_active and target.full_name != "pwned"
    with pytest.raises(OperatorChangeRefused, match="Only a superuser"):
        operator_change(actor=master, operator=target, roles=[], full_name="pwned", is_active=False)


def test_a_manager_sets_the_password_of_an_operator_that_does_not_manage(master_client, make_operator):
    target = make_operator("treasury-operator", email="t@bank.example")
    password_url = change_url(target).replace("/change/", "/password/")
    posted = {"password1": "x-long-new-passphrase-7", "password2": "x-long-new-passphrase-7", "usable_password": "true"}
    assert master_client.post(password_url, posted).status_code == 302
    target.refresh_from_db()
    assert target.check_password("x-long-new-passphrase-7")


def test_a_superuser_sets_a_managers_password_and_grants_the_managing_role(client, make_operator):
    client.force_login(make_operator(is_superuser=True, email="root@bank.example"))
    peer = make_operator("itibackoffice-master", email="peer@bank.example")
    password_url = change_url(peer).replace("/change/", "/password/")
    posted = {"password1": "x-long-new-passphrase-7", "password2": "x-long-new-passphrase-7", "usable_password": "true"}
    assert client.post(password_url, posted).status_code == 302
    peer.refresh_from_db()
    assert peer.check_password("x-long-new-passphrase-7")
    response = client.post(ADD_URL, new_operator(roles=["itibackoffice-master"]))
    assert response.status_code == 302
    assert roles_of(User.objects.get(email="new.op@bank.example")) == {"itibackoffice-master"}


def test_no_escalation_to_superuser(master_client, make_operator):
    target = make_operator("crm-operator", email="t@bank.example")
    form = master_client.get(change_url(target)).context["adminform"].form
    assert "is_superuser" not in form.fields and "user_permissions" not in form.fields
    master_client.post(change_url(target), {"full_name": "T", "is_active": "on", "is_superuser": "on"})
    target.refresh_from_db()
    assert not target.is_superuser
    root = make_operator(is_superuser=True, email="root@bank.example")
    assert master_client.get(change_url(root)).context["has_change_permission"] is False
    assert master_client.post(change_url(root), {"full_name": "pwned", "is_active": ""}).status_code == 403
    password_url = change_url(root).replace("/change/", "/password/")
    assert master_client.post(password_url, {"password1": "x" * 20, "password2": "x" * 20}).status_code == 403
    root.refresh_from_db()
    assert root.is_active and root.check_password(PASSWORD)


def test_operators_without_the_right_cannot_manage(client, make_operator):
    client.force_login(make_operator("backoffice-operator", email="bo@bank.example"))
    assert client.get(ADD_URL).status_code == 403
    assert client.post(ADD_URL, new_operator()).status_code == 403
    assert not User.objects.filter(email="new.op@bank.example").exists()


def test_superuser_can_grant_any_role(client, make_operator):
    client.force_login(make_operator(is_superuser=True, email="root@bank.example"))
    response = client.post(ADD_URL, new_operator(roles=["treasury-operator", "crm-operator"]))
    assert response.status_code == 302
    assert roles_of(User.objects.get(email="new.op@bank.example")) == {"treasury-operator", "crm-operator"}
    assert Group.objects.count() == 9


def test_login_by_email_and_lockout_with_a_clear_message(client, make_operator, settings):
    settings.AXES_FAILURE_LIMIT = 3
    make_operator("crm-operator", email="jane@bank.example")
    login = reverse("admin:login")
    page = client.get(login).content.decode()
    assert "Phone backoffice" in page and "Email" in page
    ok = client.post(login, {"username": "jane@bank.example", "password": PASSWORD})
    assert ok.status_code == 302
    client.logout()
    for _ in range(2):
        wrong = client.post(login, {"username": "jane@bank.example", "password": "nope"})
        assert "Please enter the correct email" in wrong.content.decode()
    locked = client.post(login, {"username": "jane@bank.example", "password": "nope"})
    assert locked.status_code == 429
    assert "Sign-in temporarily locked" in locked.content.decode()
    # Even the right password is refused while locked.
    still = client.post(login, {"username": "jane@bank.example", "password": PASSWORD})
    assert still.status_code == 429


NON_MANAGING_ROLES = [role for role in ROLES if role != "itibackoffice-master"]


@pytest.mark.parametrize("role", NON_MANAGING_ROLES)
def test_a_manager_onboards_an_operator_of_each_role_that_does_not_manage(master_client, role):
    response = master_client.post(ADD_URL, new_operator(roles=[role]))
    assert response.status_code == 302, response.context["adminform"].form.errors
    user = User.objects.get(email="new.op@bank.example")
    assert roles_of(user) == {role} and user.is_active and user.is_staff and not user.is_superuser
    assert user.password_change_required  # the manager chose the password: the operator changes it


def test_a_managing_role_is_refused_with_a_clear_error(master_client):
    """Failed before: Django's "Select a valid choice. itibackoffice-master is not one of the
    available choices.", which does not say why."""
    response = master_client.post(ADD_URL, new_operator(roles=["crm-operator", "itibackoffice-master"]))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["roles"] == [
        "Only a superuser can grant a role that manages operators: itibackoffice-master."
    ]
    assert not User.objects.filter(email="new.op@bank.example").exists()
    unknown = master_client.post(ADD_URL, new_operator(roles=["no-such-role"]))
    assert "no-such-role" in unknown.context["adminform"].form.errors["roles"][0]


def test_the_add_form_offers_no_superuser_or_staff_flag_to_a_manager(master_client):
    form = master_client.get(ADD_URL).context["adminform"].form
    assert {"is_superuser", "is_staff", "user_permissions", "groups"}.isdisjoint(form.fields)
    master_client.post(ADD_URL, {**new_operator(), "is_superuser": "on", "is_staff": ""})
    user = User.objects.get(email="new.op@bank.example")
    assert not user.is_superuser and user.is_staff


def test_a_manager_deactivates_an_operator_it_may_manage_and_not_a_peer(master_client, make_operator):
    target = make_operator("treasury-operator", email="t@bank.example")
    response = master_client.post(change_url(target), {"full_name": "T", "roles": ["treasury-operator"]})
    assert response.status_code == 302
    target.refresh_from_db()
    assert not target.is_active and roles_of(target) == {"treasury-operator"}
    peer = make_operator("itibackoffice-master", email="peer@bank.example")
    assert master_client.post(change_url(peer), {"full_name": "P"}).status_code == 403
    peer.refresh_from_db()
    assert peer.is_active


def test_the_operator_list_filters_by_last_sign_in_with_chips(master_client, make_operator):
    """Failed before: no date filter and no chips on the operator list."""
    from datetime import datetime

    from django.utils import timezone

    from phones.tests.test_admin_list_filters import chips

    recent = make_operator("crm-operator", email="recent@bank.example")
    dormant = make_operator("crm-operator", email="dormant@bank.example")
    tz = timezone.get_current_timezone()
    User.objects.filter(pk=recent.pk).update(last_login=datetime(2026, 5, 2, 8, 0, tzinfo=tz))
    User.objects.filter(pk=dormant.pk).update(last_login=datetime(2025, 1, 2, 8, 0, tzinfo=tz))
    url = reverse("admin:backoffice_user_changelist")
    response = master_client.get(url + "?last_login_to=2025-12-31&is_active__exact=1")
    assert [user.email for user in response.context["cl"].result_list] == ["dormant@bank.example"]
    assert set(chips(response)) == {"Last login to: 2025-12-31", "Active: Yes"}
    by_status = master_client.get(url + "?o=" + str(response.context["cl"].list_display.index("is_active")))
    assert by_status.status_code == 200


def test_the_lists_roles_column_shows_nothing_as_every_page_does_and_keeps_a_role_whole(
    master_client, master, make_operator
):
    """Seen in the crawler's screenshots: an operator without roles (a superuser) had an empty
    cell where every empty value reads "—", and a role's code broke at its hyphen
    ("backoffice-" / "operator")."""
    import re

    from backoffice.admin_base import NOTHING

    bare = make_operator(email="bare@bank.example")
    bare.groups.clear()
    html = master_client.get(reverse("admin:backoffice_user_changelist")).content.decode()
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S)
    cells = {
        email: re.search(r'<td class="[^"]*field-role_names[^"]*"[^>]*>(.*?)</td>', row, re.S).group(1)
        for row in rows
        for email in ("bare@bank.example", "master@bank.example")
        if email in row and "field-role_names" in row
    }
    assert cells["bare@bank.example"].strip() == NOTHING
    roles_of_master = re.findall(r'<span class="whitespace-nowrap">([^<]*)</span>', cells["master@bank.example"])
    assert roles_of_master == ["crm-operator", "itibackoffice-master"]


@pytest.mark.parametrize("usable", [True, False])
def test_the_operator_pages_say_operator_in_portuguese_not_user(client, make_operator, usable):
    """Django's own help texts on the operator page said "usuário" (its password, the superuser
    flag) where every other line says "operador"."""
    admin = make_operator(email="chefe@bank.example", language="pt-br")
    admin.is_superuser = True
    admin.save(update_fields=["is_superuser"])
    other = make_operator("crm-operator", email="outro@bank.example")
    if not usable:
        other.set_unusable_password()
        other.save(update_fields=["password"])
    client.force_login(admin)
    pages = [client.get(change_url(other)).content.decode(), client.get(ADD_URL).content.decode()]
    said = "ninguém pode ler a senha deste operador" if usable else "Este operador não tem senha"
    assert said in pages[0] and "Tem todas as permissões, quaisquer que sejam seus perfis." in pages[0]
    for page in pages:
        words = re.findall(r"[\w-]*usuário[\w-]*", page, flags=re.IGNORECASE)
        assert [word for word in words if not word.lower().startswith("superusuário")] == [], [
            page[max(0, i - 150) : i + 50] for i in [m.start() for m in re.finditer("usuário", page)]
        ]
