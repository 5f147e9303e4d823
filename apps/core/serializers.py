"""The base of every API input serializer: a field it does not declare is an error.

DRF drops fields a serializer does not know, so a misspelt or unsupported field
(`{"title": "x", "colour": "red"}`, `{"asignee": 7}`) looked accepted while nothing of it
happened. Input serializers derive from `InputSerializer` (or mix `StrictFieldsMixin`
into another serializer class): such a request is a 400 problem naming each unknown field
in `errors`, next to any other field's errors, and nothing is written. Nested input
serializers (a policy's targets and steps) are checked the same way, so the error is
`errors["targets.P1.colour"]`. docs/api.md, "Writes".
"""

from __future__ import annotations

from collections.abc import Mapping

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

UNKNOWN_FIELD = _("Unknown field: this request does not accept it.")
# Sent by HTML forms for the session's CSRF check, never a field of the resource.
IGNORED_FIELDS = frozenset({"csrfmiddlewaretoken"})


class StrictFieldsMixin:
    """Refuses fields the serializer does not declare (or declares read-only)."""

    def to_internal_value(self, data):
        unknown = self.unknown_fields(data)
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if unknown and isinstance(exc.detail, Mapping):
                raise serializers.ValidationError({**exc.detail, **unknown}) from exc
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value

    def unknown_fields(self, data) -> dict[str, list[str]]:
        if not isinstance(data, Mapping):
            return {}  # DRF itself refuses anything but an object
        accepted = {name for name, field in self.fields.items() if not field.read_only}
        return {str(key): [UNKNOWN_FIELD] for key in data if key not in accepted and key not in IGNORED_FIELDS}


class InputSerializer(StrictFieldsMixin, serializers.Serializer):
    """Shape of a write's body: declared fields only (see the module docstring)."""


class NoInputSerializer(InputSerializer):
    """The body of an action that takes none (`POST .../test/`): any field is refused."""
