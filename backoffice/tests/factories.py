from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth.models import Group

from backoffice.models import User

PASSWORD = "correct-horse-battery-staple"


class OperatorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"operator{n}@bank.example")
    full_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def roles(self, create: bool, extracted: list[str] | None, **_: Any) -> None:
        if create:
            self.save()
            if extracted:
                self.groups.set(Group.objects.filter(name__in=extracted))
