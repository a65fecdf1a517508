"""Gates API shapes. Bodies are Statsig Console API v1 documents (gates/types.py): the
serializers here only check that a body is a JSON object, a list or a file; every rule of a
document (names, conditions, percentages, schemas, references) is checked by
gates.documents through the services, which name the field at fault. Responses render
`gates.documents.<entity>_to_document`, so the API has no output serializers of its own.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from gates.documents import STATSIG_GATE_STATUS
from gates.models import GateStatus, SegmentKind

MAX_ID_PAGE = 10_000
DEFAULT_ID_PAGE = 1_000


def _text(**kwargs) -> serializers.CharField:
    return serializers.CharField(allow_blank=True, required=False, **kwargs)


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class IdListField(serializers.Field):
    """A JSON list of unit IDs. The items are checked by the ID services (one message for
    the first bad ID, however long the list), not one by one by DRF."""

    default_error_messages = {"invalid": "A JSON list of unit IDs."}

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("invalid")
        return data


class SegmentIdsInput(serializers.Serializer):
    """Statsig's body for adding or removing IDs: {"ids": ["u1", "u2"]}."""

    ids = IdListField()


class SegmentCsvInput(serializers.Serializer):
    """A CSV upload (multipart `file`): one ID per line, an optional header."""

    file = serializers.FileField(allow_empty_file=True)


# ---------------------------------------------------------------- list queries


class GateListQuery(serializers.Serializer):
    search = _text()
    # Ours or Statsig's names ("In Progress", "Launched", ...).
    status = serializers.ChoiceField(
        [*GateStatus.values, *STATSIG_GATE_STATUS.values()], required=False
    )
    tag = _text()
    owner = _text()
    # Not a BooleanField: from a query string an absent one would read as False.
    stale = serializers.ChoiceField(["true", "false"], required=False)

    def validate_status(self, value: str) -> str:
        aliases = {statsig: ours for ours, statsig in STATSIG_GATE_STATUS.items()}
        return aliases.get(value, value)

    def validate_stale(self, value: str) -> bool:
        return value == "true"


class SegmentListQuery(serializers.Serializer):
    search = _text()
    type = serializers.ChoiceField(SegmentKind.choices, required=False, source="kind")


class DynamicConfigListQuery(serializers.Serializer):
    search = _text()


class SegmentIdsQuery(serializers.Serializer):
    """Keyset paging over a segment's IDs (sorted): `after` is the last ID already seen."""

    after = _text(max_length=256)
    search = _text(max_length=256)
    limit = serializers.IntegerField(
        min_value=1, max_value=MAX_ID_PAGE, required=False, default=DEFAULT_ID_PAGE
    )
