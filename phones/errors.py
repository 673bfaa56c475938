"""Domain errors of the phones services, each with the HTTP status and text of the contract."""

from __future__ import annotations


class PhoneError(Exception):
    status: int = 400
    message: str = "Invalid request"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message


class PhoneValidationError(PhoneError):
    status = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class PhoneNotFound(PhoneError):
    status = 404
    message = "Phone not found"


class PhoneAlreadyExists(PhoneError):
    status = 409
    message = "Phone number already exists"


class PhoneInactive(PhoneError):
    status = 422
    message = "Can't update an inactive phone number"


class OperatorNotAllowed(PhoneError):
    status = 403
    message = "You do not have permission to perform this action."


class PhoneNotLinked(PhoneError):
    status = 409
    message = "Phone is not linked to a provider number"
