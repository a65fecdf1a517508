"""How apps above gates take part in its rules without gates importing them.

- Name claims: a spec section (`feature_gates`, `dynamic_configs`) is one namespace, so a gate
  may not take a holdout's name, nor a dynamic config an experiment's.
- Usages: a gate or segment that an experiment targets cannot be archived.
Apps register in AppConfig.ready().
"""

from __future__ import annotations

from collections.abc import Callable

from console.models import Project

NameClaim = Callable[[Project, str], bool]  # (project, lowercased name) -> taken?
Usage = Callable[[str, object], list[str]]  # (kind "gate"|"segment", entity) -> labels

_claims: list[tuple[str, str, NameClaim]] = []
_usages: list[Usage] = []


def register_name_claim(section: str, label: str, taken: NameClaim) -> None:
    _claims.append((section, label, taken))


def name_claimed_by(project: Project, section: str, name: str) -> str | None:
    """The label of another app's entity holding `name` in `section`, if any."""
    lowered = name.lower()
    for claim_section, label, taken in _claims:
        if claim_section == section and taken(project, lowered):
            return label
    return None


def register_usage(usage: Usage) -> None:
    _usages.append(usage)


def usages_elsewhere(kind: str, entity) -> list[str]:
    return [label for usage in _usages for label in usage(kind, entity)]
