from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group

from backoffice.models import User

PASSWORD = "correct-horse-battery-staple"


class OperatorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"operator{n}@bank.example")
    full_name = factory.Faker("name")
    # Hashed before the insert: a password set on an operator already saved is a password change,
    # which raises its token version (tokens issued by simplejwt's own ``for_user`` would die).
    password = factory.LazyFunction(lambda: make_password(PASSWORD))

    @factory.post_generation
    def roles(self, create: bool, extracted: list[str] | None, **_: Any) -> None:
        if create:
            self.save()
            if extracted:
                self.groups.set(Group.objects.filter(name__in=extracted))
