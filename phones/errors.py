"""Domain errors of the phones services, each with the HTTP status and text of the contract.

They build on the core's ``ApplicationError`` family, which the API and the admin render without
knowing this app. Validation errors name domain fields (``account_id``), never the API's.

Messages stay the contract's English whatever the language in force (the API answers them as
they are); ``gettext_noop`` only puts them in the catalogue, and the admin translates them when
it shows them (``gettext(error.message)``).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.translation import gettext_noop

from backoffice.errors import ApplicationError, InvalidInput, NotAllowed


class PhoneError(ApplicationError):
    """Base of the phone services' errors."""


class PhoneValidationError(InvalidInput, PhoneError):
    status = 400

    @property
    def errors(self) -> list[PhoneValidationError]:
        """Every broken rule this error stands for (one; several for ``PhoneValidationErrors``)."""
        return [self]


class PhoneValidationErrors(PhoneValidationError):
    """Several fields broke their rules: a form shows them all at once. It stands as the first of
    them (``field``, ``message``), so the API, which names one field, names the first in the
    contract's order, as it did before the others were collected."""

    def __init__(self, errors: Sequence[PhoneValidationError]) -> None:
        super().__init__(errors[0].field, errors[0].message)
        self._errors = list(errors)

    @property
    def errors(self) -> list[PhoneValidationError]:
        return list(self._errors)


class PhoneNotFound(PhoneError):
    status = 404
    message = gettext_noop("Phone not found")


class PhoneAlreadyExists(PhoneError):
    status = 409
    message = gettext_noop("Phone number already exists")


class PhoneInactive(PhoneError):
    status = 422
    message = gettext_noop("Can't update an inactive phone number")


class PhoneChangedMeanwhile(PhoneError):
    """The phone changed after the caller read it (its version token, ``phones.versions``, is
    not the one given): nothing was written. The API's ``If-Match`` answer (412)."""

    status = 412
    message = gettext_noop("The phone was changed after you read it: nothing was saved. Read it again and retry.")

    def __init__(self, current_version: str) -> None:
        super().__init__()
        self.current_version = current_version


class OperatorNotAllowed(NotAllowed, PhoneError):
    status = 403


class PhoneNotLinked(PhoneError):
    status = 409
    message = gettext_noop("Phone is not linked to a provider number")


class ProviderNumberTaken(PhoneError):
    status = 409
    message = gettext_noop("Provider number already linked to another phone")
