"""Path converters of the API's URLs.

``<id:pk>`` is Django's ``<int:pk>`` bounded to 18 digits: an id longer than that cannot
name a row of ours (ids are 64-bit) and used to reach the database as an out-of-range
integer (a 500 on SQLite and PostgreSQL alike). Such a path matches nothing: a 404.
"""

from __future__ import annotations


class IdConverter:
    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)
