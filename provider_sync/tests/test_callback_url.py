"""A Sinch link's ``callbackUrl`` is where the provider will post: https in production, a public
host, no credentials; the simulator's loopback only when the deployment says it uses it
(``PROVIDER_SIMULATOR``). Refused in the API's field-error shape and in the admin form, with
nothing written."""

from __future__ import annotations

import re

import pytest

from audit.models import AuditEntry
from backoffice.actor import Actor
from phones.models import ProviderLink, SyncJob
from phones.services import phone_create
from provider_sync.checks import CallbackUrlPolicy, check_callback_url
from provider_sync.tests.conftest import BR_NUMBER, CTX
from provider_sync.tests.test_admin import ADD_URL, add_form

PRODUCTION = CallbackUrlPolicy(https_only=True, allow_loopback=False)
SIMULATOR = CallbackUrlPolicy(https_only=True, allow_loopback=True)
PRIVATE = "must not point at a loopback, private, link-local, multicast or reserved address"


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.bank.example/sinch/callback",
        "https://hooks.bank.example:8443/cb?x=1",
        "https://8.8.8.8/cb",
        "https://[2001:4860:4860::8888]/cb",
    ],
)
def test_a_public_https_url_is_taken(url):
    assert check_callback_url(url, PRODUCTION) == url


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://hooks.bank.example/cb", "must use https"),
        ("ftp://hooks.bank.example/cb", "must be an http(s) URL"),
        ("https://user:secret@hooks.bank.example/cb", "must not carry credentials"),
        ("https://token@hooks.bank.example/cb", "must not carry credentials"),
        ("https:///cb", "must name a host"),
        ("https://hooks.bank.example:99999/cb", "must be a valid URL"),
        ("https://[::1/cb", "must be a valid URL"),
        # Literal addresses, in every spelling a URL parser reads.
        ("https://127.0.0.1/cb", PRIVATE),
        ("https://127.1/cb", PRIVATE),
        ("https://2130706433/cb", PRIVATE),
        ("https://0x7f.0.0.1/cb", PRIVATE),
        ("https://0177.0.0.1/cb", PRIVATE),
        ("https://[::1]/cb", PRIVATE),
        ("https://[::ffff:10.0.0.5]/cb", PRIVATE),
        ("https://0.0.0.0/cb", PRIVATE),
        ("https://10.1.2.3/cb", PRIVATE),
        ("https://172.16.0.1/cb", PRIVATE),
        ("https://192.168.1.10/cb", PRIVATE),
        ("https://100.64.0.1/cb", PRIVATE),  # carrier-grade NAT
        ("https://169.254.169.254/latest/meta-data/", PRIVATE),  # AWS / GCP / Azure metadata
        ("https://[fd00:ec2::254]/latest/meta-data/", PRIVATE),  # AWS metadata over IPv6
        ("https://[fe80::1]/cb", PRIVATE),
        ("https://[2002:a9fe:a9fe::1]/cb", PRIVATE),  # 6to4 wrapping 169.254.169.254
        ("https://224.0.0.1/cb", PRIVATE),
        ("https://[ff02::1]/cb", PRIVATE),
        ("https://240.0.0.1/cb", PRIVATE),
        ("https://192.0.2.10/cb", PRIVATE),  # documentation range
        # Names that only mean something inside a network.
        ("https://localhost/cb", "must not point at an internal host"),
        ("https://LOCALHOST./cb", "must not point at an internal host"),
        ("https://api.localhost/cb", "must not point at an internal host"),
        ("https://metadata.google.internal/computeMetadata/v1/", "must not point at an internal host"),
        ("https://metadata/cb", "must not point at an internal host"),
        ("https://printer.local/cb", "must not point at an internal host"),
        ("https://intranet/cb", "must name a public host with its domain"),
    ],
)
def test_internal_or_unsafe_urls_are_refused(url, said):
    with pytest.raises(ValueError, match=re.escape(said)):
        check_callback_url(url, PRODUCTION)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8000/providers/sinch/callback", "http://localhost:8000/cb", "http://[::1]:8000/cb"],
)
def test_the_simulators_loopback_passes_only_when_allowed(url):
    assert check_callback_url(url, SIMULATOR) == url
    with pytest.raises(ValueError):
        check_callback_url(url, PRODUCTION)
    # Allowing loopback opens nothing else.
    with pytest.raises(ValueError, match=PRIVATE):
        check_callback_url("https://169.254.169.254/", SIMULATOR)


def test_http_is_taken_where_https_is_not_required():
    development = CallbackUrlPolicy(https_only=False, allow_loopback=False)
    assert check_callback_url("http://hooks.bank.example/cb", development)
    with pytest.raises(ValueError, match=PRIVATE):
        check_callback_url("http://10.0.0.5/cb", development)


# --- Through the API and the admin ----------------------------------------------------------------


@pytest.fixture
def boss(make_operator):
    return make_operator("backoffice-operator", email="boss@bank.example")


@pytest.fixture
def phone(boss):
    return phone_create(actor=Actor.of(boss), context=CTX, **BR_NUMBER)


def assert_nothing_written(phone) -> None:
    assert not ProviderLink.objects.exists() and not SyncJob.objects.exists()
    assert list(AuditEntry.objects.filter(phone=phone).values_list("event", flat=True)) == ["phone_creation"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://169.254.169.254/latest/meta-data/", f"{PRIVATE} (169.254.169.254)"),
        ("http://127.0.0.1:8000/providers/sinch/callback", f"{PRIVATE} (127.0.0.1)"),
        ("https://ops:hunter2@hooks.bank.example/cb", "must not carry credentials (user:password@)"),
        ("https://metadata.google.internal/", "must not point at an internal host (metadata.google.internal)"),
    ],
)
def test_the_api_refuses_an_unsafe_callback_url_naming_the_field(api_client_for, boss, phone, url, said, settings):
    settings.CALLBACK_URL_HTTPS_ONLY = False  # what is refused here is the host, not the scheme
    settings.PROVIDER_SIMULATOR = False
    answer = api_client_for(boss).put(
        f"/accounts/v1/accounts/{phone.account_id}/phones/{phone.pk}/provider-link",
        {"provider": "sinch", "settings": {"callback_url": url}},
        format="json",
    )
    assert answer.status_code == 400, answer.content
    assert answer.json() == {"message": said, "field": "settings.callback_url"}
    assert_nothing_written(phone)


@pytest.mark.django_db
def test_the_api_requires_https_in_production(api_client_for, boss, phone, settings):
    settings.CALLBACK_URL_HTTPS_ONLY = True
    answer = api_client_for(boss).put(
        f"/accounts/v1/accounts/{phone.account_id}/phones/{phone.pk}/provider-link",
        {"provider": "sinch", "settings": {"callback_url": "http://hooks.bank.example/cb"}},
        format="json",
    )
    assert answer.json() == {"message": "must use https", "field": "settings.callback_url"}
    assert_nothing_written(phone)


@pytest.mark.django_db
def test_the_admin_form_shows_the_error_on_the_callback_url_field(client, boss, phone, settings):
    settings.PROVIDER_SIMULATOR = False
    client.force_login(boss)
    response = client.post(ADD_URL, add_form(phone, sinch_callback_url="https://169.254.169.254/latest/"))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["sinch_callback_url"] == [f"{PRIVATE} (169.254.169.254)"]
    assert_nothing_written(phone)
