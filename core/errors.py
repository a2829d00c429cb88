"""Domain errors shared by every app's services.

Services raise these; the API maps each to its status (docs/API.md), and views turn them into
form errors or flash messages. Each carries a message written for the person who caused it.
"""


class DomainError(Exception):
    status = 400

    def __init__(self, detail: str | list):
        super().__init__(detail)
        self.detail = detail


class PaymentRequired(DomainError):
    status = 402


class Forbidden(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class Invalid(DomainError):
    status = 422


class RateLimited(DomainError):
    status = 429
