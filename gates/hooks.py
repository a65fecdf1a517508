"""How apps above gates take part in its rules without gates importing them.

- Name claims: a spec section (`feature_gates`, `dynamic_configs`) is one namespace, so a gate
  may not take a holdout's name, nor a dynamic config an experiment's.
- Usages: a gate or segment that an experiment targets cannot be archived.
- Checks (metrics): which gates some SDK checked since a time, for "stale by usage", and the
  panels a gate's page shows below its form (exposures, checks, pass rate).
Apps register in AppConfig.ready().
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.utils.safestring import SafeString

from console.models import Project

NameClaim = Callable[[Project, str], bool]  # (project, lowercased name) -> taken?
Usage = Callable[[str, object], list[str]]  # (kind "gate"|"segment", entity) -> labels
Checked = Callable[[Project, datetime], set[str]]  # (project, since) -> lowercased gate names
Panel = Callable[[object, Project, object], SafeString]  # (request, project, gate) -> HTML

_claims: list[tuple[str, str, NameClaim]] = []
_usages: list[Usage] = []
_checked: list[Checked] = []
_gate_panels: list[Panel] = []


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


def register_gate_checks(checked: Checked) -> None:
    _checked.append(checked)


def gates_checked_since(project: Project, since: datetime) -> set[str] | None:
    """The lowercased names of the gates some SDK checked since `since`; None when no app
    records checks (then nothing is stale by usage)."""
    if not _checked:
        return None
    return {name for checked in _checked for name in checked(project, since)}


def register_gate_panel(panel: Panel) -> None:
    _gate_panels.append(panel)


def gate_panels(request, project: Project, gate) -> list[SafeString]:
    return [panel(request, project, gate) for panel in _gate_panels]
