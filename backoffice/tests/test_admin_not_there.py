"""A page of something that is not there (or not for this operator) says so in the backoffice's
words and leads back to its list: never Django's "Perhaps it was deleted?" (issue defect 15), as
nothing here is deleted (links are unlinked, operators deactivated, jobs and entries kept)."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("model", "name"),
    [
        ("phones_phone", "phone"),
        ("phones_providerlink", "provider link"),
        ("phones_syncjob", "sync job"),
        ("audit_auditentry", "audit entry"),
        ("backoffice_user", "operator"),
        ("auth_group", "role"),
    ],
)
def test_a_missing_object_is_not_perhaps_deleted(client, make_operator, model, name):
    client.force_login(make_operator(is_superuser=True, email="root@bank.example"))
    response = client.get(reverse(f"admin:{model}_change", args=[987654]), follow=True)
    page = response.content.decode()
    assert "Perhaps it was deleted?" not in page
    assert f"There is no {name} with ID “987654”" in page
    assert response.redirect_chain[-1][0] == reverse(f"admin:{model}_changelist")
