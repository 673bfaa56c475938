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


class OperatorNotAllowed(NotAllowed, PhoneError):
    status = 403


class PhoneNotLinked(PhoneError):
    status = 409
    message = "Phone is not linked to a provider number"


class ProviderNumberTaken(PhoneError):
    status = 409
    message = "Provider number already linked to another phone"
