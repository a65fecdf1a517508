"""The house rules of docs/architecture.md, checked on every import in the apps:

1. floors point down only: console < reviews < metrics, gates < experiments;
2. no app imports another app's private names (a name or a module starting with "_") or its
   HTML views;
3. entity writes go through change sets: the services that write an entity kind are used
   only by that kind's change-set handler (<app>/reviews.py), its own services, the app's
   demo data and management commands (and tests and benches, which are not checked).

A failure names the file and line; the fix is to use the lower floor's public API or a
registry (docs/architecture.md, "Lower floors learn of upper ones through registries")."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPS = ("console", "reviews", "metrics", "gates", "experiments")
# What each app must not import (the floors above it, and side floors).
FORBIDDEN = {
    "console": {"reviews", "metrics", "gates", "experiments"},
    "reviews": {"metrics", "gates", "experiments"},
    "metrics": {"gates", "experiments"},
    "gates": {"metrics", "experiments"},
    "experiments": set(),
}
# The modules whose functions write an entity kind held by change sets, and who may call
# them besides themselves: the kind's handler, the app's demo data and commands.
ENTITY_SERVICES = {"gates.services": "gates", "experiments.services": "experiments"}
# Writes of things that are not change-set entities (unit types), called from pages; and
# the running of rollout schedules a change set approved (gates/services/rollouts.py): the
# worker's steps, and pausing, resuming or stopping one from the gate's page.
NOT_ENTITY_WRITES = {
    "unit_type_create",
    "SegmentIdsChange",
    "rollouts_advance_due",
    "gate_rollout_pause",
    "gate_rollout_resume",
    "gate_rollout_stop",
}


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    module: str  # the module imported from
    names: tuple[str, ...]  # the names taken from it ("" for `import module`)

    @property
    def app(self) -> str:
        return self.path.relative_to(ROOT).parts[0]

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line} imports {self.module} {self.names}"


def _imports() -> list[Import]:
    found = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    found += [Import(path, node.lineno, a.name, ("",)) for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    module = node.module or ""
                    if node.level:  # relative: resolve against the file's package
                        base = package.split(".")[: len(package.split(".")) - node.level + 1]
                        module = ".".join([*base, module] if module else base)
                    names = tuple(a.name for a in node.names)
                    found.append(Import(path, node.lineno, module, names))
    return found


IMPORTS = _imports()


def _top(module: str) -> str:
    return module.split(".")[0]


def test_imports__read_from_every_app():
    # The checks below are only as good as this list: it covers every app.
    assert {i.app for i in IMPORTS} >= {"console", "reviews", "gates", "experiments"}
    assert len(IMPORTS) > 500


@pytest.mark.parametrize("app", APPS)
def test_floors__point_down_only(app):
    upward = [str(i) for i in IMPORTS if i.app == app and _top(i.module) in FORBIDDEN[app]]
    assert upward == []


def _is_private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def test_other_apps__no_private_names_no_views():
    found = []
    for i in IMPORTS:
        other = _top(i.module)
        if other not in APPS or other == i.app:
            continue
        parts = i.module.split(".")
        if any(_is_private(p) for p in parts) or any(_is_private(n) for n in i.names):
            found.append(f"private: {i}")
        if parts[-1] == "views" or "views" in i.names:
            found.append(f"views: {i}")
    assert found == []


def test_entity_services__used_only_by_their_handler_demo_and_commands():
    found = []
    for i in IMPORTS:
        for module, owner in ENTITY_SERVICES.items():
            # `from gates import services`, `from gates.services import gate_create`, ...
            takes_module = i.module == owner and "services" in i.names
            takes_names = (i.module == module or i.module.startswith(module + ".")) and not set(
                i.names
            ) <= NOT_ENTITY_WRITES
            if not (takes_module or takes_names):
                continue
            where = i.path.relative_to(ROOT).parts
            allowed = where[0] == owner and (
                where[1:] == ("reviews.py",)
                or where[1:] == ("demo.py",)
                or where[1] in ("services", "management")
            )
            if not allowed and not _only_non_entity_calls(i):
                found.append(str(i))
    assert found == []


def _only_non_entity_calls(i: Import) -> bool:
    """`from gates import services` in a view that calls only services.unit_type_create."""
    if i.module not in ENTITY_SERVICES.values():
        return False
    tree = ast.parse(i.path.read_text())
    used = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "services"
    }
    return used <= NOT_ENTITY_WRITES


# Plain-Python packages: no Django, no other app (docs/architecture.md; docs/statistics.md).
PLAIN_PACKAGES = {"metrics/stats": {"django", "rest_framework", "celery", *APPS} - {"metrics"}}


@pytest.mark.parametrize("package", sorted(PLAIN_PACKAGES))
def test_plain_packages__no_django_no_other_app(package):
    found = [
        str(i)
        for i in IMPORTS
        if str(i.path.relative_to(ROOT)).startswith(package + "/")
        and (
            _top(i.module) in PLAIN_PACKAGES[package]
            or i.module.startswith("metrics.")
            and not i.module.startswith("metrics.stats")
        )
    ]
    assert found == []
