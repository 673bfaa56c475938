"""The roles page: Django's groups, called roles everywhere an operator reads, offering only the
permissions this product checks."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from backoffice.roles import PRODUCT_APPS

pytestmark = pytest.mark.django_db
OURS = (*PRODUCT_APPS, "auth")


def visible_text(html: str) -> str:
    """The page's words as read: no tags, scripts, styles or attribute values."""
    html = re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", html)
    return " ".join(re.sub(r"(?s)<[^>]*>", " ", html).split())


@pytest.fixture
def root_client(client, make_operator):
    client.force_login(make_operator(is_superuser=True, email="root@bank.example"))
    return client


def test_the_roles_pages_say_role_not_group(root_client, make_operator):
    """Failed before: "Groups", "Select group to change", "Add group", "Change group"."""
    role = Group.objects.get(name="crm-operator")
    pages = {
        "list": reverse("admin:auth_group_changelist"),
        "add": reverse("admin:auth_group_add"),
        "change": reverse("admin:auth_group_change", args=[role.pk]),
    }
    for name, url in pages.items():
        response = root_client.get(url)
        assert response.status_code == 200, name
        text = visible_text(response.content.decode())
        assert not re.search(r"\bgroups?\b", text, re.IGNORECASE), (
            name,
            re.findall(r".{40}\bgroups?\b.{40}", text, re.I),
        )
        title = re.search(r"(?s)<title>(.*?)</title>", response.content.decode()).group(1)
        assert "role" in title.lower(), (name, title)
    saved = root_client.post(pages["add"], {"name": "new-role", "permissions": []}, follow=True)
    saved_text = visible_text(saved.content.decode())
    assert "The role “ new-role ” was added successfully." in saved_text  # the name is a link
    assert not re.search(r"\bgroups?\b", saved_text, re.IGNORECASE)


@pytest.mark.parametrize(("language", "roles"), [("en", "Roles"), ("pt-br", "Perfis")])
def test_the_roles_app_is_called_roles_and_its_index_is_the_roles_list(client, make_operator, language, roles):
    """Failed before: a role page's header began "Authentication and Authorization", Django's name
    for the app of groups, and it led to that app's index page, which listed "Groups" ("Grupos")
    where the sidebar and every other page say "Roles"."""
    from phones.tests.test_admin_wording import header

    client.force_login(make_operator("itibackoffice-master", email="master@bank.example", language=language))
    role = Group.objects.get(name="crm-operator")
    page = client.get(reverse("admin:auth_group_change", args=[role.pk])).content.decode()
    assert header(page) == f"{roles} > crm-operator"  # the app named as its one list: shown once
    assert header(client.get(reverse("admin:auth_group_changelist")).content.decode()) == roles
    index = client.get(reverse("admin:app_list", args=["auth"]))
    assert index.status_code == 302 and index.url == reverse("admin:auth_group_changelist")
    text = visible_text(client.get(reverse("admin:app_list", args=["auth"]), follow=True).content.decode())
    assert not re.search(r"\b(groups?|grupos?|authentication|autentica\w*)\b", text, re.IGNORECASE), text[:400]


def test_the_roles_page_offers_only_this_products_permissions(root_client):
    """Failed before: every permission of every installed app (sessions, content types, axes
    attempts, OTP devices, Django's own permissions and log entries)."""
    form = root_client.get(reverse("admin:auth_group_add")).context["adminform"].form
    offered = form.fields["permissions"].queryset
    apps = set(offered.values_list("content_type__app_label", flat=True))
    assert apps <= set(OURS) and {"phones", "audit", "backoffice"} <= apps
    assert set(offered.filter(content_type__app_label="auth").values_list("codename", flat=True)) == {
        "add_group",
        "change_group",
        "delete_group",
        "view_group",
    }
    assert Permission.objects.exclude(content_type__app_label__in=OURS).exists()  # there were others to hide


def test_saving_a_role_keeps_a_permission_the_form_does_not_offer(root_client):
    role = Group.objects.get(name="treasury-operator")
    foreign = Permission.objects.get(content_type__app_label="sessions", codename="view_session")
    role.permissions.add(foreign)
    view_phone = Permission.objects.get(content_type__app_label="phones", codename="view_phone")
    add_phone = Permission.objects.get(content_type__app_label="phones", codename="add_phone")
    url = reverse("admin:auth_group_change", args=[role.pk])
    response = root_client.post(url, {"name": role.name, "permissions": [view_phone.pk, add_phone.pk]})
    assert response.status_code == 302
    assert set(role.permissions.all()) == {foreign, view_phone, add_phone}


def test_a_manager_reads_the_roles_list_under_its_name(client, make_operator):
    client.force_login(make_operator("itibackoffice-master", email="master@bank.example"))
    response = client.get(reverse("admin:auth_group_changelist"))
    assert response.status_code == 200
    text = visible_text(response.content.decode())
    assert "Roles" in text and not re.search(r"\bgroups?\b", text, re.IGNORECASE)


def test_the_roles_page_offers_no_write_on_the_audit_trail(root_client):
    """The trail is append-only for everyone, so Django's add, change and delete of an audit
    entry and the chain head's permissions grant nothing; the picker offered them ("Auditoria |
    registro de auditoria | Pode excluir ...", found in the crawler's screenshots)."""
    form = root_client.get(reverse("admin:auth_group_add")).context["adminform"].form
    audit = form.fields["permissions"].queryset.filter(content_type__app_label="audit")
    assert set(audit.values_list("codename", flat=True)) == {"view_auditentry", "view_own_auditentry"}


def test_a_role_read_only_names_its_permissions_in_the_operators_language(client, make_operator):
    """A role that may view roles but not change them saw the permissions by their stored names,
    in English on a Portuguese page ("Telefones | telefone | Can view phone", found in the crawler's
    screenshots); now as the form names them."""
    client.force_login(make_operator("itibackoffice-master", email="master@bank.example", language="pt-br"))
    role = Group.objects.get(name="crm-operator")
    text = visible_text(client.get(reverse("admin:auth_group_change", args=[role.pk])).content.decode())
    assert "Can view phone" not in text and "Can change phone" not in text
    assert "Pode ver telefone" in text


@pytest.mark.parametrize(("language", "phone"), [("pt-br", "Pode ver telefone"), ("en", "Can view phone")])
def test_the_picker_names_each_permission_by_what_it_allows(client, make_operator, language, phone):
    """The picker's options read "Operadores e perfis | versão da matriz de perfis | Pode incluir
    versão da matriz de perfis" (84 characters), and its lists cut them (found in the crawler's
    screenshots): the sentence alone names its object. Listed by app and model, as before."""
    client.force_login(make_operator(is_superuser=True, language=language))
    page = client.get(reverse("admin:auth_group_add")).content.decode()
    picker = re.search(r'<select[^>]*name="permissions"[^>]*>(.*?)</select>', page, re.S).group(1)
    labels = [" ".join(label.split()) for label in re.findall(r"<option[^>]*>(.*?)</option>", picker, re.S)]
    assert phone in labels
    assert not [label for label in labels if "|" in label]
    assert max(map(len, labels)) <= 50, max(labels, key=len)
    # A model's permissions stay together (app, model, codename).
    phones = [i for i, label in enumerate(labels) if "telefone" in label or "phone" in label]
    assert len(phones) == 6 and phones == list(range(phones[0], phones[0] + 6))
