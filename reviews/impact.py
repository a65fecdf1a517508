"""What a change does to the SDKs: which environments' evaluations it changes."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from console.models import Environment, Project
from console.specs.builder import build_spec

# Per-entity bookkeeping the builder writes that no evaluation reads.
_BOOKKEEPING = ("version",)
_SECTIONS = ("feature_gates", "dynamic_configs", "layer_configs")


def _behaviour(spec: dict[str, Any]) -> dict[str, Any]:
    spec = {**spec, "time": 0}
    for section in _SECTIONS:
        spec[section] = [
            {k: v for k, v in entity.items() if k not in _BOOKKEEPING}
            for entity in spec.get(section, [])
        ]
    return spec


def environment_fingerprints(project: Project) -> dict[str, str]:
    """A checksum per environment of what its spec makes SDKs answer, as the configuration
    stands in the current transaction (a change set's dry run compares before and after)."""
    fingerprints = {}
    for environment in Environment.objects.filter(project=project).order_by("pk"):
        spec = _behaviour(build_spec(project, environment, time_ms=1))
        text = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
        fingerprints[environment.name] = hashlib.sha256(text.encode()).hexdigest()
    return fingerprints
