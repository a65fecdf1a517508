"""Documents of saved entities (the Statsig Console API v1 shape): <entity>_to_document."""

from __future__ import annotations

from console.models import Environment, Project
from console.targeting.fields import (
    tag_names,
)
from gates.models import (
    DynamicConfig,
    FeatureGate,
    Segment,
    SegmentKind,
)
from gates.types import (
    DynamicConfigDocument,
    GateDocument,
    RuleDoc,
    SegmentDocument,
    StoredRule,
)

# ---------------------------------------------------------------- to_document


def environment_names(project: Project) -> dict[int, str]:
    return dict(Environment.objects.filter(project=project).values_list("pk", "name"))


def _rules_to_doc(rules: list[StoredRule], names: dict[int, str], *, config: bool):
    out: list[RuleDoc] = []
    for rule in rules:
        ids = rule.get("environmentIds")
        doc: RuleDoc = {
            "id": rule["id"],
            "name": rule["name"],
            "passPercentage": rule["passPercentage"],
            "conditions": [dict(c) for c in rule["conditions"]],  # type: ignore[misc]
            "environments": None if ids is None else [names[i] for i in ids if i in names],
        }
        if config:
            doc["returnValue"] = rule.get("returnValue", {})
        if rule.get("rolloutSchedule"):
            doc["rolloutSchedule"] = [dict(step) for step in rule["rolloutSchedule"]]  # type: ignore[misc]
        out.append(doc)
    return out


def _owner_email(obj) -> str | None:
    return obj.owner.email if obj.owner_id else None


def gate_to_document(gate: FeatureGate, *, env_names: dict[int, str] | None = None):
    """The gate as a GateDocument. Pass `env_names` (environment_names(project)) when
    rendering many, and prefetch `tags` and select `owner`."""
    names = environment_names(gate.project) if env_names is None else env_names
    doc: GateDocument = {
        # Statsig's Console API names an entity by its name, in `id` as well.
        "id": gate.name,
        "name": gate.name,
        "description": gate.description,
        "idType": gate.id_type,
        "isEnabled": gate.is_enabled,
        "status": gate.status,  # type: ignore[typeddict-item]
        "isPermanent": gate.is_permanent,
        "tags": tag_names(gate),
        "owner": _owner_email(gate),
        "rules": _rules_to_doc(gate.rules, names, config=False),
        "overrides": [
            {
                "environment": None if o["environmentId"] is None else names[o["environmentId"]],
                "passingIDs": list(o["passingIDs"]),
                "failingIDs": list(o["failingIDs"]),
            }
            for o in gate.overrides
            if o["environmentId"] is None or o["environmentId"] in names
        ],
    }
    return doc


def segment_to_document(segment: Segment, *, env_names: dict[int, str] | None = None):
    names = environment_names(segment.project) if env_names is None else env_names
    doc: SegmentDocument = {
        # Statsig's Console API names an entity by its name, in `id` as well.
        "id": segment.name,
        "name": segment.name,
        "description": segment.description,
        "type": segment.kind,  # type: ignore[typeddict-item]
        "idType": segment.id_type,
        "tags": tag_names(segment),
        "owner": _owner_email(segment),
        "rules": _rules_to_doc(segment.rules, names, config=False),
    }
    if segment.kind == SegmentKind.ID_LIST:
        doc["count"] = segment.id_count
    return doc


def dynamic_config_to_document(config: DynamicConfig, *, env_names: dict[int, str] | None = None):
    names = environment_names(config.project) if env_names is None else env_names
    doc: DynamicConfigDocument = {
        # Statsig's Console API names an entity by its name, in `id` as well.
        "id": config.name,
        "name": config.name,
        "description": config.description,
        "idType": config.id_type,
        "isEnabled": config.is_enabled,
        "tags": tag_names(config),
        "owner": _owner_email(config),
        "defaultValue": config.default_value,
        "schema": config.schema,
        "rules": _rules_to_doc(config.rules, names, config=True),
    }
    return doc
