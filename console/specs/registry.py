"""Spec contributors: how domain apps put their entities into a project's spec.

console cannot import the apps above it, so each app registers a contributor in its
AppConfig.ready(). A contributor is `fn(project, environment, draft)`: it appends v1-shaped
spec dicts to `draft.feature_gates` / `draft.dynamic_configs` / `draft.layer_configs` and
fills `draft.layers`, `draft.experiment_to_layer` and `draft.id_lists` for that environment.
It must only read, and must keep its query count independent of the number of entities.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from console.models import Environment, Project
    from console.specs.builder import SpecDraft

Contributor = Callable[["Project", "Environment", "SpecDraft"], None]

_contributors: list[Contributor] = []


def register_contributor(fn: Contributor) -> Contributor:
    """Add a contributor (idempotent, so a re-run ready() does not double it). Returns
    `fn`, so it also works as a decorator."""
    if fn not in _contributors:
        _contributors.append(fn)
    return fn


def unregister_contributor(fn: Contributor) -> None:
    """For tests that register a temporary contributor."""
    if fn in _contributors:
        _contributors.remove(fn)


def contributors() -> tuple[Contributor, ...]:
    """Registered contributors, in registration order (INSTALLED_APPS order)."""
    return tuple(_contributors)
