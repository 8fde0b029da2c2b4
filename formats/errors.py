"""The one error type of the formats package."""

from __future__ import annotations


class FormatError(ValueError):
    """Input that does not follow a format; ``code`` is the API error code. The API
    answers it with a 400 (``api.exceptions``); services may also catch it to prefix
    the message with the field it came from."""

    default_code = "invalid"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
