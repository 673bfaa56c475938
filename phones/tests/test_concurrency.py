"""Races on PostgreSQL: the database, not luck, decides (partial unique index, row locks)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from audit.models import AuditEntry
from phones.models import Phone

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
URL = "/accounts/v1/accounts/4242/phones"


def _race(count: int, action) -> list:
    barrier = threading.Barrier(count)

    def run(index: int):
        try:
            barrier.wait(timeout=10)
            return action(index)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def _client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


def test_twenty_simultaneous_creates_of_one_number(make_operator):
    operator = make_operator("crm-operator")
    body = {"area_code": 11, "number": "91234-5678", "type": "MOBILE"}

    def create(index: int):
        # Formatting differs per request; the digits are the same.
        number = "912345678" if index % 2 else "91234-5678"
        response = _client(operator).post(URL, {**body, "number": number}, format="json")
        return response.status_code, response.json()

    results = _race(20, create)
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [409] * 19, results
    assert all(data == {"message": "Phone number already exists"} for status, data in results if status == 409)
    assert Phone.objects.count() == 1
    assert AuditEntry.objects.count() == 1  # no entry without its change


def test_concurrent_patches_serialise_and_each_leave_one_entry(make_operator):
    operator = make_operator("crm-operator")
    phone_id = _client(operator).post(URL, {"number": "3333-4444", "type": "MOBILE"}, format="json").json()["id"]

    def update(index: int):
        response = _client(operator).patch(f"{URL}/{phone_id}", {"extension": f"x{index}"}, format="json")
        return response.status_code

    assert _race(12, update) == [200] * 12
    entries = list(AuditEntry.objects.filter(phone_id=phone_id).order_by("id"))
    assert len(entries) == 13
    # Row locks serialise the writers: every entry chains to the one committed before it.
    for before, after in pairwise(entries):
        assert after.prev_hash == before.hash
        assert after.changes["extension"][0] == before.payload["object"]["extension"]
    phone = Phone.objects.get(pk=phone_id)
    assert phone.extension == entries[-1].payload["object"]["extension"]
    connection.close()
