"""Domain errors shared by every app's services.

Services raise these; the API maps each to its status (docs/API.md), and views turn them into
form errors or flash messages. Each carries a message written for the person who caused it.
"""


class DomainError(Exception):
    status = 400

    def __init__(self, detail: str | list):
        super().__init__(detail)
        self.detail = detail

    @property
    def message(self) -> str:
        """The detail as one sentence for a page (flash message, form error): a list of
        field errors ({"loc", "msg"} dicts or strings) is joined."""
        if isinstance(self.detail, str):
            return self.detail
        parts = [
            item.get("msg", "") if isinstance(item, dict) else str(item) for item in self.detail
        ]
        return " ".join(part for part in parts if part) or "Invalid."


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
