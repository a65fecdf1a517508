"""Global search of a project: gates, configs, experiments, segments and metrics by name, tag
and owner. Domain apps register what they hold in AppConfig.ready() (console imports no
domain app); each registered kind costs one query, whatever the number of rows or hits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django.urls import reverse

from console.models import Project

HITS_PER_KIND = 8
MIN_TERM = 2  # one letter matches nearly everything: wait for a second one


@dataclass(frozen=True)
class Hit:
    name: str
    url: str
    description: str
    why: str  # "" when the name matched, else "tag growth" or "owner ada@corp.example"


@dataclass
class Group:
    label: str  # "Feature gates"
    hits: list[Hit] = field(default_factory=list)
    more: bool = False  # more than HITS_PER_KIND matched


@dataclass(frozen=True)
class Searchable:
    """A kind of entity the search covers: `rows(project)` gives its live rows (with a
    `name`, `description`, `tags` and, when `has_owner`, an `owner`), and `url_name` its
    page, reversed with (project slug, pk)."""

    label: str
    url_name: str
    rows: Callable[[Project], QuerySet]
    has_owner: bool = True
    order: int = 50  # groups are shown by this, then label


SEARCHABLES: list[Searchable] = []


def register(searchable: Searchable) -> None:
    SEARCHABLES.append(searchable)


def _hits(project: Project, kind: Searchable, term: str) -> Group:
    rows = kind.rows(project)
    tagged = rows.model._default_manager.filter(tags__name__icontains=term).values("pk")
    match = Q(name__icontains=term) | Q(description__icontains=term) | Q(pk__in=tagged)
    values = ["pk", "name", "description"]
    if kind.has_owner:
        match |= Q(owner__email__icontains=term)
        values.append("owner__email")
    found = list(
        rows.filter(match)
        .values(*values)
        .annotate(tag_names=ArrayAgg("tags__name", distinct=True, default=[]))
        .order_by(Lower("name"), "pk")[: HITS_PER_KIND + 1]
    )
    lowered = term.lower()
    hits = []
    for row in found[:HITS_PER_KIND]:
        why = ""
        if lowered not in row["name"].lower():
            tags = [t for t in row["tag_names"] if t and lowered in t.lower()]
            owner = row.get("owner__email") or ""
            if tags:
                why = "tag " + ", ".join(tags)
            elif lowered in owner.lower():
                why = "owner " + owner
        hits.append(
            Hit(
                row["name"],
                reverse(kind.url_name, args=[project.slug, row["pk"]]),
                row["description"],
                why,
            )
        )
    return Group(kind.label, hits, more=len(found) > HITS_PER_KIND)


def search(*, project: Project, term: str) -> list[Group]:
    """The project's live entities matching `term` in their name, description, a tag or
    their owner's email, per kind (the groups that found something), by name."""
    term = term.strip()
    if len(term) < MIN_TERM:
        return []
    kinds = sorted(SEARCHABLES, key=lambda k: (k.order, k.label))
    groups = [_hits(project, kind, term) for kind in kinds]
    return [g for g in groups if g.hits]
