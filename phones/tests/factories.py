"""Phones are made through the services, like in production: each gets its audit entry."""

from __future__ import annotations

from typing import Any

import factory

from audit.models import Origin
from audit.services import AuditContext
from backoffice.actor import Actor
from backoffice.tests.factories import OperatorFactory
from phones.models import Phone, PhoneType
from phones.services import phone_create


class PhoneFactory(factory.Factory):
    class Meta:
        model = Phone

    account_id = factory.Sequence(lambda n: 10_000 + n)
    number = factory.Sequence(lambda n: f"9{n:04d}-{n % 10_000:04d}")
    type = PhoneType.MOBILE
    area_code = 11
    country_code = 55
    extension = None
    active = True
    customer_id = None

    @classmethod
    def _create(cls, model_class: type[Phone], *args: Any, actor: Any = None, **kwargs: Any) -> Phone:
        actor = actor or OperatorFactory(roles=["crm-operator"])
        return phone_create(actor=Actor.of(actor), context=AuditContext(origin=Origin.COMMAND), **kwargs)
