"""Domain errors shared by every app's services.

Services raise these; the API maps each to its status and `code` (docs/API.md "Errors"), and
views turn them into form errors or flash messages. Each carries a message written for the
person who caused it.
"""

# The API's error codes by status (docs/API.md "Errors"): every error body is
# {"detail": ..., "code": ...}. Other client errors of HTTP itself (405) carry
# "bad_request"; the contract names no code for a server error, so 5xx carry "server_error".
ERROR_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    402: "insufficient_credits",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    422: "validation_error",
    429: "rate_limited",
}
SERVER_ERROR = "server_error"


def error_code(status: int) -> str:
    """The `code` of an API error answered with this status."""
    if status >= 500:
        return SERVER_ERROR
    return ERROR_CODES.get(status, ERROR_CODES[400])


class DomainError(Exception):
    status = 400
    # The API's `code` for this error: the one its status carries (subclasses set status).
    code = ERROR_CODES[400]

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.code = error_code(cls.status)

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

    def __init__(self, detail: str | list, *, retry_after: int | None = None):
        super().__init__(detail)
        # Seconds until the window lets the caller try again: the Retry-After header.
        self.retry_after = retry_after
