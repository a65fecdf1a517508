"""Spec contributors: how domain apps put their entities into a project's spec.

console cannot import the apps above it, so each app registers a contributor in its
AppConfig.ready(). A contributor is `fn(project, environment, draft)`: it appends v1-shaped
spec dicts to `draft.feature_gates` / `draft.dynamic_configs` / `draft.layer_configs` and
fills `draft.layers`, `draft.experiment_to_layer` and `draft.id_lists` for that environment.
It must only read, and must keep its query count independent of the number of entities.

A contributor may also give a fragment form, `fragments(project, environment, draft)` with
a console.specs.incremental.FragmentDraft: the same specs, as fragments keyed by the
content they are built from, so that an unchanged entity's spec is reused from the
fragment cache instead of rebuilt (docs/architecture.md, "Incremental builds"). Both forms
must give the same specs; the plain one stays the reference full build.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from console.models import Environment, Project
    from console.specs.builder import SpecDraft
    from console.specs.incremental import FragmentDraft

Contributor = Callable[["Project", "Environment", "SpecDraft"], None]
FragmentContributor = Callable[["Project", "Environment", "FragmentDraft"], None]

_contributors: list[Contributor] = []
_fragment_forms: dict[Contributor, FragmentContributor] = {}


def register_contributor(
    fn: Contributor, *, fragments: FragmentContributor | None = None
) -> Contributor:
    """Add a contributor (idempotent, so a re-run ready() does not double it), with its
    fragment form if it has one. Returns `fn`, so it also works as a decorator."""
    if fn not in _contributors:
        _contributors.append(fn)
    if fragments is not None:
        _fragment_forms[fn] = fragments
    return fn


def fragment_form(fn: Contributor) -> FragmentContributor | None:
    """The fragment form registered with contributor `fn`, if any (the incremental build
    runs the plain contributor and caches nothing of it otherwise)."""
    return _fragment_forms.get(fn)


def unregister_contributor(fn: Contributor) -> None:
    """For tests that register a temporary contributor."""
    if fn in _contributors:
        _contributors.remove(fn)
    _fragment_forms.pop(fn, None)


def contributors() -> tuple[Contributor, ...]:
    """Registered contributors, in registration order (INSTALLED_APPS order)."""
    return tuple(_contributors)
