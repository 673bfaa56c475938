"""Hand-made query parameters and object ids in the backoffice (issue 14): a bad filter or search
is ignored with a message to the operator, a bad object id is a 404 or Django's "does not exist"
redirect, never a 500. Every list's filters and search: phones (and its CSV export), audit,
provider links, sync jobs, operators, roles."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.messages import get_messages
from django.http import QueryDict
from django.test import Client

from backoffice.admin_base import ADMIN_PARAM_MAX_LENGTH, screened_query
from phones.tests.factories import PhoneFactory

pytestmark = pytest.mark.django_db

BIG = "9" * 5000
SUPERSCRIPT_TWO = "%C2%B2"  # "²": str.isdigit() says yes, int() says no
LISTS = {
    "phones": "/admin/phones/phone/",
    "export": "/admin/phones/phone/export/",
    "audit": "/admin/audit/auditentry/",
    "links": "/admin/phones/providerlink/",
    "jobs": "/admin/phones/syncjob/",
    "operators": "/admin/backoffice/user/",
    "roles": "/admin/auth/group/",
}


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser("root@bank.example", "root-password-1")


@pytest.fixture
def browser(root):
    client = Client()
    client.force_login(root)
    return client


@pytest.fixture
def phone(root):
    return PhoneFactory(actor=root, account_id=4242)


def warnings_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.mark.parametrize("object_id", ["abc", BIG, "99999999999999999999", "1.5", SUPERSCRIPT_TWO, "%00"])
def test_a_phones_history_with_a_bad_id_is_a_404(browser, phone, object_id):
    """``int(object_id)`` raised a ValueError: a 500."""
    assert browser.get(f"/admin/phones/phone/{object_id}/history/").status_code == 404


def test_a_phones_history_still_opens_its_audit_trail(browser, phone):
    answer = browser.get(f"/admin/phones/phone/{phone.pk}/history/")
    assert answer.status_code == 302 and answer["Location"].endswith(f"?phone={phone.pk}")


@pytest.mark.parametrize("model", ["phones/phone", "audit/auditentry", "phones/providerlink", "phones/syncjob"])
@pytest.mark.parametrize("object_id", ["abc", BIG, "99999999999999999999", "%00"])
def test_other_object_urls_with_a_bad_id_never_fail(browser, model, object_id):
    for suffix in ("change/", "delete/", ""):
        answer = browser.get(f"/admin/{model}/{object_id}/{suffix}")
        assert answer.status_code in (302, 403, 404), (model, suffix, answer.status_code)


@pytest.mark.parametrize(
    ("page", "query", "parameter"),
    [
        ("phones", f"q={BIG}", "q"),
        ("phones", f"account={BIG}", "account"),
        ("phones", f"account={SUPERSCRIPT_TWO}", "account"),
        ("phones", f"country_code={BIG}", "country_code"),
        ("phones", "type=%00", "type"),
        ("export", f"q={BIG}", "q"),
        ("export", f"account={BIG}", "account"),
        ("export", "type=%00", "type"),
        ("audit", f"q={BIG}", "q"),
        ("audit", f"phone={BIG}", "phone"),
        ("audit", f"phone={SUPERSCRIPT_TWO}", "phone"),
        ("audit", f"account={BIG}", "account"),
        ("audit", "email=%00", "email"),
        ("audit", "role=%00", "role"),
        ("audit", "event=%00", "event"),
        ("audit", "origin=%00", "origin"),
        ("links", "provider=%00", "provider"),
        ("links", "sync_state=%00", "sync_state"),
        ("links", "q=%00", "q"),
        ("jobs", "status=%00", "status"),
        ("jobs", "reason=%00", "reason"),
        ("jobs", "provider=%00", "provider"),
        ("jobs", "q=" + "a" * 5000, "q"),
        ("operators", "email=%00", "email"),
        ("operators", "q=%00", "q"),
        ("roles", "q=%00", "q"),
    ],
)
def test_a_bad_filter_or_search_is_ignored_with_a_message(browser, phone, page, query, parameter):
    answer = browser.get(f"{LISTS[page]}?{query}", follow=True)
    assert answer.status_code == 200
    assert any(f"“{parameter}”" in text for text in warnings_of(answer)), warnings_of(answer)
    if page == "phones":
        assert phone.pk in [row.pk for row in answer.context["cl"].result_list]  # ignored, not applied
    if page == "export":
        # Not a file of more than was asked: back to the list, filtered by what remains.
        assert answer.redirect_chain[-1][0].startswith(LISTS["phones"])
        assert parameter not in answer.redirect_chain[-1][0].partition("?")[2]


@pytest.mark.parametrize("page", ["phones", "export", "audit", "links", "jobs", "operators"])
def test_a_filter_the_database_cannot_read_is_dropped_with_a_message(browser, phone, page):
    """Django's own answer (the list without filters, ``?e=1``) now says why; the export
    answered 500."""
    field = {"phones": "active", "export": "active", "audit": "created_at__gte", "operators": "is_active"}
    query = f"{field.get(page, 'created_at__gte')}=garbage"
    answer = browser.get(f"{LISTS[page]}?{query}", follow=True)
    assert answer.status_code == 200
    assert any("not understood" in text for text in warnings_of(answer)), warnings_of(answer)


def test_an_export_with_good_filters_and_a_bad_one_comes_back_to_the_list_with_the_good_ones(browser, phone):
    PhoneFactory(account_id=4343)
    answer = browser.get(f"{LISTS['export']}?account={phone.account_id}&type=%00")
    assert answer.status_code == 302 and answer["Location"] == f"{LISTS['phones']}?account={phone.account_id}"
    listed = browser.get(answer["Location"])
    assert [row.pk for row in listed.context["cl"].result_list] == [phone.pk]
    assert any("“type”" in text for text in warnings_of(listed))
    export = browser.get(f"{LISTS['export']}?account={phone.account_id}")
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert [row[0] for row in rows[1:]] == [str(phone.pk)]


def test_good_filters_still_filter(browser, phone):
    other = PhoneFactory(account_id=4343)
    listed = browser.get(f"{LISTS['phones']}?account={phone.account_id}")
    assert [row.pk for row in listed.context["cl"].result_list] == [phone.pk] and not warnings_of(listed)
    searched = browser.get(f"{LISTS['phones']}?q={other.account_id}")
    assert [row.pk for row in searched.context["cl"].result_list] == [other.pk]
    audit = browser.get(f"{LISTS['audit']}?phone={phone.pk}")
    assert {entry.phone_id for entry in audit.context["cl"].result_list} == {phone.pk}


def test_the_screen_drops_nul_control_characters_lone_surrogates_and_long_values():
    query = QueryDict(mutable=True)
    query.setlist("fine", ["+55 11 91234"])
    query.setlist("nul", ["a\x00b"])
    query.setlist("bell", ["\x07"])
    query.setlist("surrogate", ["\ud800"])
    query.setlist("long", ["1" * (ADMIN_PARAM_MAX_LENGTH + 1)])
    query.setlist("\x00key", ["x"])
    kept, ignored = screened_query(query)
    assert list(kept.lists()) == [("fine", ["+55 11 91234"])] and not kept._mutable
    assert sorted(ignored) == sorted(["nul", "bell", "surrogate", "long", "\x00key"])
