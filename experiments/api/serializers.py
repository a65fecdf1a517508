"""Experiments API shapes. Bodies are Statsig Console API v1 documents (experiments/types.py):
the serializers here only check that a body is a JSON object; every rule of a document
(names, group sizes, parameter types, the layer, the targeting gate, percentages) is checked
by experiments.documents through the services, which name the field at fault. Responses
render `experiments.documents.<entity>_to_document`, so the API has no output serializers
for documents of its own.
"""

from __future__ import annotations

from rest_framework import serializers

from experiments.models import STATSIG_STATUS, ExperimentStatus, status_from_document

__all__ = [
    "ExperimentListQuery",
    "ExperimentResetInput",
    "ExperimentShipInput",
    "ResultsRefreshInput",
    "WarehouseExportInput",
]


def _text(**kwargs) -> serializers.CharField:
    return serializers.CharField(allow_blank=True, required=False, **kwargs)


class ExperimentShipInput(serializers.Serializer):
    """The group to ship: {"group": <name or id>} or Statsig's make_decision {"id": ...}."""

    group = _text(max_length=100)
    id = _text(max_length=100)

    def validate(self, attrs: dict) -> dict:
        chosen = (attrs.get("group") or attrs.get("id") or "").strip()
        if not chosen:
            raise serializers.ValidationError(
                {"group": ['Name the group to ship: {"group": <its name or id>}.']},
                code="required",
            )
        return {"group": chosen}


class ExperimentResetInput(serializers.Serializer):
    """Reset re-randomises every unit: the caller confirms it with {"confirm": true}."""

    confirm = serializers.BooleanField(required=False, default=False)

    def validate_confirm(self, value: bool) -> bool:
        if value is not True:
            raise serializers.ValidationError(
                'Resetting re-randomises every unit: send {"confirm": true} to do it.',
                code="confirmation_required",
            )
        return value


class ResultsRefreshInput(serializers.Serializer):
    """{"full": true} recomputes every day from the events, not the daily rollups."""

    full = serializers.BooleanField(required=False, default=False)


# ---------------------------------------------------------------- list queries


class ExperimentStatusField(serializers.ChoiceField):
    """A status filter: Statsig's name (setup, active, decision_made...) or ours."""

    def __init__(self, **kwargs):
        names = [*STATSIG_STATUS.values(), *ExperimentStatus.values]
        super().__init__(list(dict.fromkeys(names)), **kwargs)

    def to_internal_value(self, data):
        return status_from_document(super().to_internal_value(data))


class ExperimentListQuery(serializers.Serializer):
    search = _text()
    status = ExperimentStatusField(required=False)
    tag = _text()
    layer = _text()


class WarehouseExportInput(serializers.Serializer):
    """The warehouse connection (its name) each refresh writes into, or null: nowhere."""

    connection = serializers.CharField(allow_null=True, max_length=100)
