"""Domain errors raised by services; ``api.exceptions`` turns each into one HTTP status."""

from __future__ import annotations


class DomainError(Exception):
    code = "error"

    def __init__(self, message: str, code: str | None = None, **extra: object) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.extra = extra


class InvalidInput(DomainError):
    code = "invalid"


class TooLarge(DomainError):
    code = "too_large"


class Conflict(DomainError):
    code = "conflict"


class WorkerFailed(DomainError):
    """A worker raised while serving a request: a server-side fault, reported as 502."""

    code = "worker_error"


class Unavailable(DomainError):
    """A worker or engine that cannot answer now; ``retry_after`` in seconds."""

    code = "unavailable"

    def __init__(self, message: str, code: str | None = None, retry_after: int = 5) -> None:
        super().__init__(message, code, retry_after=retry_after)
        self.retry_after = retry_after
