"""What SDKs answer from a v1 spec, apart from bookkeeping: the basis of the checksums that
tell whether a change alters any evaluation (reviews' impact, `ConfigSpec.behaviour_checksum`).

`behaviour(spec)` drops the payload's `time`, each entity's bookkeeping (`version`) and the
entities that answer as if absent (`inert`); `behaviour_json` serialises it canonically
(ASCII, sorted keys) and `behaviour_checksum` hashes that text. The incremental builder
(console.specs.incremental) assembles the same text from per-entity pieces
(`entity_behaviour`), byte for byte.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

# Per-entity bookkeeping the builder writes that no evaluation reads.
BOOKKEEPING = ("version",)
SECTIONS = ("feature_gates", "dynamic_configs", "layer_configs")


def inert(entity: Mapping[str, Any]) -> bool:
    """Whether SDKs answer for this entity what they answer for a name the spec lacks: a
    gate or segment that can only fail (disabled, no rule, or every rule at 0% or
    returning false), a config or layer that can only return `{}`, and a draft
    experiment whose every rule serves its defaults (its `prestart` rule: nobody is in
    it, no override puts anyone in a group, docs/statsig-spec.md §6)."""
    rules = (entity.get("rules") or []) if entity.get("enabled", True) else []
    default = entity.get("defaultValue")
    if entity.get("type") == "feature_gate":
        absent: Any = False
    elif entity.get("entity") == "experiment" and any(
        rule.get("id") == "prestart" for rule in rules
    ):
        absent = default
    else:
        absent = {}
    return default == absent and all(
        rule.get("returnValue") == absent or rule.get("passPercentage") == 0 for rule in rules
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def entity_behaviour(entity: Mapping[str, Any]) -> str | None:
    """The canonical text of what SDKs answer from one entity, None when it is inert."""
    if inert(entity):
        return None
    return _dumps({k: v for k, v in entity.items() if k not in BOOKKEEPING})


def behaviour(spec: dict[str, Any]) -> dict[str, Any]:
    """What SDKs answer from `spec`: without its `time`, the bookkeeping no evaluation
    reads, and the entities that answer as if absent (`inert`): creating a disabled gate
    or a draft experiment, or archiving one, changes no answer."""
    spec = {**spec, "time": 0}
    inert_names: dict[str, set[str]] = {section: set() for section in SECTIONS}
    for section in SECTIONS:
        entities = []
        for entity in spec.get(section, []):
            if inert(entity):
                inert_names[section].add(entity.get("name", ""))
                continue
            entities.append({k: v for k, v in entity.items() if k not in BOOKKEEPING})
        spec[section] = entities
    spec["layers"] = behaviour_layers(
        spec.get("layers") or {}, inert_names["dynamic_configs"], inert_names["layer_configs"]
    )
    spec["experiment_to_layer"] = {
        name: layer
        for name, layer in (spec.get("experiment_to_layer") or {}).items()
        if name not in inert_names["dynamic_configs"]
    }
    return spec


def behaviour_layers(
    layers: Mapping[str, list[str]], inert_configs: set[str], inert_layers: set[str]
) -> dict[str, list[str]]:
    """A draft experiment's place in its layer is read only once it runs: inert
    experiments leave their layer's list, and an inert layer left empty goes."""
    kept = {
        layer: [name for name in names if name not in inert_configs]
        for layer, names in layers.items()
    }
    return {layer: names for layer, names in kept.items() if names or layer not in inert_layers}


def behaviour_json(spec: dict[str, Any]) -> str:
    """The canonical (ASCII, sorted keys) text of `behaviour(spec)`."""
    return _dumps(behaviour(spec))


def behaviour_checksum(spec: dict[str, Any]) -> str:
    """sha256 hex of `behaviour_json(spec)`: equal for two specs whose SDK answers are equal
    (the ID-list files beside the spec aside)."""
    return hashlib.sha256(behaviour_json(spec).encode()).hexdigest()
