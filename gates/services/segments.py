"""Segment writes: create, update (the whole document), archive, and the ID-list edits
(add, remove, replace from a CSV upload) that move IDs in bulk."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

from django.db import transaction
from django.utils import timezone

from console.audit import audit_record
from console.entities import (
    ensure_not_archived,
    ensure_revision,
    imported_identity,
    imported_salt,
    save_new,
)
from console.exceptions import DomainError
from console.models import Project
from gates import idlists
from gates.documents import clean_segment, segment_to_document
from gates.models import ReferenceKind, Segment, SegmentKind
from gates.services._common import (
    drop_references,
    ensure_unused,
    ensure_writer,
    lock_project_graph,
    write_references,
)
from gates.specs import INLINE_ID_LIMIT
from gates.types import SegmentDocument

MAX_SEGMENT_IDS = 10_000_000


@dataclass(frozen=True)
class SegmentIdsChange:
    """The result of an ID-list edit: the segment (with its new `id_count`) and how many
    IDs were really added and removed (duplicates and absent IDs do not count)."""

    segment: Segment
    added: int
    removed: int


@transaction.atomic
def segment_create(*, actor, project: Project, document: SegmentDocument) -> Segment:
    """Create a rule-based or (empty) ID-list segment from a whole SegmentDocument."""
    ensure_writer(actor, project)
    lock_project_graph(project)
    cleaned = clean_segment(project, document, None)
    doc = cleaned.document
    segment = Segment(
        project=project,
        name=doc["name"],
        description=doc["description"],
        kind=doc["type"],
        id_type=doc["idType"],
        owner=cleaned.owner or actor,
        rules=cleaned.rules,
        created_by=actor,
    )
    if salt := imported_salt(imported_identity(document), "salt", Segment, project, "salt"):
        segment.salt = salt
    save_new(segment, what="segment")
    segment.tags.set(cleaned.tags)
    write_references(project, ReferenceKind.SEGMENT, segment.pk, cleaned)
    audit_record(
        actor=actor,
        action="segment.created",
        target=segment,
        project=project,
        after=segment_to_document(segment),
    )
    return segment


def _lock(segment: Segment) -> Segment:
    return (
        Segment.objects.select_for_update(of=("self",))
        .select_related("project", "owner")
        .get(pk=segment.pk)
    )


@transaction.atomic
def segment_update(
    *, actor, segment: Segment, document: SegmentDocument, expected_revision: int | None = None
) -> Segment:
    """Replace the segment's definition (its type cannot change; `count` is ignored: IDs
    change through segment_ids_*). Same contract as gate_update."""
    project = segment.project
    ensure_writer(actor, project)
    lock_project_graph(project)
    segment = _lock(segment)
    ensure_not_archived(segment, "segment")
    ensure_revision(segment, expected_revision)
    before = segment_to_document(segment)
    cleaned = clean_segment(project, document, segment)
    doc = cleaned.document
    if doc == before:
        return segment
    segment.description = doc["description"]
    segment.id_type = doc["idType"]
    segment.owner = cleaned.owner
    segment.rules = cleaned.rules
    segment.revision += 1
    segment.save(
        update_fields=["description", "id_type", "owner", "rules", "revision", "updated_at"]
    )
    segment.tags.set(cleaned.tags)
    write_references(project, ReferenceKind.SEGMENT, segment.pk, cleaned)
    audit_record(
        actor=actor,
        action="segment.updated",
        target=segment,
        project=project,
        before=before,
        after=segment_to_document(segment),
    )
    return segment


@transaction.atomic
def segment_archive(*, actor, segment: Segment) -> Segment:
    """Archive a segment that no live gate, config or segment uses (Conflict
    code="in_use" otherwise). Segments are never deleted; their IDs stay."""
    project = segment.project
    ensure_writer(actor, project)
    lock_project_graph(project)
    segment = _lock(segment)
    ensure_not_archived(segment, "segment")
    ensure_unused(ReferenceKind.SEGMENT, segment, "segment")
    before = segment_to_document(segment)
    segment.archived_at = timezone.now()
    segment.archived_by = actor
    segment.revision += 1
    segment.save(update_fields=["archived_at", "archived_by", "revision", "updated_at"])
    drop_references(ReferenceKind.SEGMENT, segment.pk)
    audit_record(
        actor=actor,
        action="segment.archived",
        target=segment,
        project=project,
        before={**before, "archived": False},
        after={**segment_to_document(segment), "archived": True},
    )
    return segment


def _lock_id_list(actor, segment: Segment) -> Segment:
    ensure_writer(actor, segment.project)
    segment = _lock(segment)
    ensure_not_archived(segment, "segment")
    if segment.kind != SegmentKind.ID_LIST:
        raise DomainError(
            "Only ID-list segments hold IDs; this one is rule based.", code="not_an_id_list"
        )
    return segment


def _record(actor, segment: Segment, *, action: str, old_count: int, added: int, removed: int):
    new_count = old_count + added - removed
    if new_count > MAX_SEGMENT_IDS:
        raise DomainError(
            f"A segment holds at most {MAX_SEGMENT_IDS:,} IDs.", code="too_many_ids", field="ids"
        )
    segment.id_count = new_count
    segment.revision += 1
    fields = ["id_count", "revision", "updated_at"]
    if removed:
        # SDKs only append to an ID-list file: removals need a fresh file.
        segment.id_list_generation += 1
        fields.append("id_list_generation")
    segment.save(update_fields=fields)
    audit_record(
        actor=actor,
        action=action,
        target=segment,
        project=segment.project,
        before={"count": old_count},
        after={"count": new_count, "added": added, "removed": removed},
    )
    return SegmentIdsChange(segment=segment, added=added, removed=removed)


@transaction.atomic
def segment_ids_add(*, actor, segment: Segment, ids: Iterable[str]) -> SegmentIdsChange:
    """Add unit IDs (already present ones are skipped) to an ID-list segment, in bulk."""
    return _ids_change(actor, segment, ids, "add")


@transaction.atomic
def segment_ids_remove(*, actor, segment: Segment, ids: Iterable[str]) -> SegmentIdsChange:
    """Remove unit IDs (absent ones are ignored) from an ID-list segment."""
    return _ids_change(actor, segment, ids, "remove")


@transaction.atomic
def segment_ids_preview(*, actor, segment: Segment, ids: Iterable[str], mode: str):
    """What segment_ids_add/remove/replace (`mode` "add", "remove", "replace") would do,
    for a change set's dry run (inside a savepoint that is rolled back): the same checks,
    counts, revision and audit, and the segment's row as it would be, but its IDs are
    only counted, not written. A list small enough to be inlined in the spec afterwards
    is written, since the spec then holds the IDs themselves."""
    return _ids_change(actor, segment, ids, mode, preview=True)


@transaction.atomic
def segment_ids_replace_from_csv(
    *, actor, segment: Segment, file: bytes | str | IO
) -> SegmentIdsChange:
    """Make the segment's IDs exactly those of a CSV upload (one ID per line, optional
    header; see gates.idlists.parse_id_csv). A malformed or empty file changes nothing."""
    ids = idlists.parse_id_csv(file, id_type=segment.id_type)
    return segment_ids_replace(actor=actor, segment=segment, ids=ids)


@transaction.atomic
def segment_ids_replace(*, actor, segment: Segment, ids: Iterable[str]) -> SegmentIdsChange:
    """Make the segment's IDs exactly `ids` (at least one)."""
    return _ids_change(actor, segment, ids, "replace")


_AUDIT_ACTIONS = {
    "add": "segment.ids_added",
    "remove": "segment.ids_removed",
    "replace": "segment.ids_replaced",
}


def _ids_change(actor, segment: Segment, ids: Iterable, mode: str, *, preview: bool = False):
    segment = _lock_id_list(actor, segment)
    if preview:
        if iter(ids) is ids:  # a one-pass iterator: the small-list case reads it twice
            ids = list(ids)
        added, removed = idlists.count_changes(segment.pk, ids, mode)
        if segment.id_count + added - removed <= INLINE_ID_LIMIT:
            return _ids_change(actor, segment, ids, mode)
    elif mode == "replace":
        added, removed = idlists.replace_ids(segment.pk, ids)
    elif mode == "add":
        added, removed = idlists.insert_ids(segment.pk, ids), 0
    else:
        added, removed = 0, idlists.delete_ids(segment.pk, ids)
    return _record(
        actor,
        segment,
        action=_AUDIT_ACTIONS[mode],
        old_count=segment.id_count,
        added=added,
        removed=removed,
    )
