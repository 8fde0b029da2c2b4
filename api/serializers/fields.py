"""Fields for requests whose error codes predate their serializers: clients know the codes
(``invalid_format``, ``invalid_filter``, ``invalid_role``), so every error of such a field
is reported under its one code, and JSON types are taken strictly, as the hand-written
checks took them (``"1"`` is not an id, ``"true"`` is not a boolean)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.fields import empty


class OneCodeField(serializers.Field[Any, Any, Any, Any]):
    """Mixin: any error of the field (type, choice, null, required, an item of a list) is
    ``ValidationError(message, code=code)``."""

    def __init__(self, *args: Any, code: str, message: str, **kwargs: Any) -> None:
        self.one_code = code
        self.one_message = message
        super().__init__(*args, **kwargs)

    def run_validation(self, data: Any = empty) -> Any:
        try:
            return super().run_validation(data)
        except serializers.ValidationError:
            raise serializers.ValidationError(self.one_message, code=self.one_code) from None


class CodedChoiceField(OneCodeField, serializers.ChoiceField):
    pass


class CodedListField(OneCodeField, serializers.ListField):
    pass


class OneOrManyField(CodedListField):
    """A list, or one item given on its own (``"accepted"`` for ``["accepted"]``)."""

    def to_internal_value(self, data: Any) -> list[Any]:
        return super().to_internal_value([data] if isinstance(data, str) else data)


class StrictBooleanField(OneCodeField, serializers.BooleanField):
    """``true`` or ``false`` only."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only: no strings, floats or booleans."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return data
