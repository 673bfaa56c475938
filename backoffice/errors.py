"""The application's error base: what a service raises when a request cannot be done.

Feature apps subclass these (``phones.errors``); the API's exception handler
(``backoffice.api_errors``) and the admin render any of them without knowing the feature. A
validation error names the *domain* field (``account_id``); an interface that speaks another
vocabulary (the API contract's ``accountId``) maps the name when it renders the error.
"""

from __future__ import annotations


class ApplicationError(Exception):
    """A request that cannot be done, with the HTTP status and the text the contract gives it."""

    status: int = 400
    message: str = "Invalid request"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message


class InvalidInput(ApplicationError):
    """400: ``field`` (a domain field name, dotted for nested values) is not acceptable."""

    status = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class NotAllowed(ApplicationError):
    """403: the operator's roles do not allow this (logged as a denial by whoever raises it)."""

    status = 403
    message = "You do not have permission to perform this action."
