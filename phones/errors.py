"""Domain errors of the phones services, each with the HTTP status and text of the contract.

They build on the core's ``ApplicationError`` family, which the API and the admin render without
knowing this app. Validation errors name domain fields (``account_id``), never the API's.
"""

from __future__ import annotations

from backoffice.errors import ApplicationError, InvalidInput, NotAllowed


class PhoneError(ApplicationError):
    """Base of the phone services' errors."""


class PhoneValidationError(InvalidInput, PhoneError):
    status = 400


class PhoneNotFound(PhoneError):
    status = 404
    message = "Phone not found"


class PhoneAlreadyExists(PhoneError):
    status = 409
    message = "Phone number already exists"


class PhoneInactive(PhoneError):
    status = 422
    message = "Can't update an inactive phone number"


class PhoneChangedMeanwhile(PhoneError):
    """The phone changed after the caller read it (its version token, ``phones.versions``, is
    not the one given): nothing was written. The API's ``If-Match`` answer (412)."""

    status = 412
    message = "The phone was changed after you read it: nothing was saved. Read it again and retry."

    def __init__(self, current_version: str) -> None:
        super().__init__()
        self.current_version = current_version


class OperatorNotAllowed(NotAllowed, PhoneError):
    status = 403


class PhoneNotLinked(PhoneError):
    status = 409
    message = "Phone is not linked to a provider number"


class ProviderNumberTaken(PhoneError):
    status = 409
    message = "Provider number already linked to another phone"
