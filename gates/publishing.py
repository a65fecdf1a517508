"""The gates app's ID-list files for the SDKs (registered in GatesConfig.ready()): one per
ID-list segment too large to inline in the spec (gates.specs.INLINE_ID_LIMIT). The file id
is "<segment pk>.<id_list_generation>": removals bump the generation, starting a new file."""

from __future__ import annotations

from collections.abc import Iterator

from console.publishing.idlists import IdListFile
from gates import selectors
from gates.models import Segment, SegmentKind
from gates.specs import INLINE_ID_LIMIT


class SegmentIdLists:
    def files(self, project, environment) -> list[IdListFile]:
        segments = Segment.objects.active().filter(
            project=project, kind=SegmentKind.ID_LIST, id_count__gt=INLINE_ID_LIMIT
        )
        return [
            IdListFile(
                name=s.name,
                file_id=f"{s.pk}.{s.id_list_generation}",
                size=selectors.segment_id_list_size(s),
                creation_time=int(s.created_at.timestamp() * 1000) + s.id_list_generation,
            )
            for s in segments.order_by("name")
        ]

    def lines(self, project, file_id: str) -> Iterator[str] | None:
        pk, _, generation = file_id.partition(".")
        if not (pk.isdigit() and generation.isdigit()):
            return None
        segment = Segment.objects.filter(
            project=project, pk=int(pk), id_list_generation=int(generation), kind="id_list"
        ).first()
        if segment is None:
            return None
        return selectors.segment_id_list_text(segment)


segment_id_lists = SegmentIdLists()
