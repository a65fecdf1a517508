"""Readable diffs of a change: each document as labelled lines (the kind's describe),
paired side by side, changed words marked, long unchanged runs folded."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from console.exceptions import ApplicationError
from console.models import Project
from reviews import registry, selectors
from reviews.models import (
    Change,
)
from reviews.templatetags import reviews_tags
from reviews.templatetags.reviews_tags import kind_label
from reviews.views.common import FOLD_AT, FOLD_OVER, SHOWN_IDS

# ---------------------------------------------------------------- readable diffs


@dataclass
class Segment:
    text: str
    changed: bool
    sep: str = ""  # what separates it from the previous part (" · " or a new line)


@dataclass
class Side:
    label: str
    segments: list[Segment]
    code: bool  # pretty-printed JSON: shown as preformatted text


@dataclass
class DiffRow:
    status: str  # same, moved, changed, added, removed
    left: Side | None
    right: Side | None


@dataclass
class DiffBlock:
    """Rows shown as they are, or a run of unchanged rows folded away."""

    rows: list[DiffRow]
    folded: bool = False


def _is_code(text: str) -> bool:
    return text[:1] in "{[" and ("\n" in text or text in ("{}", "[]"))


def _parts(text: str) -> list[str]:
    return text.split("\n") if _is_code(text) else text.split(" · ")


def _side(line: tuple[str, str], other: tuple[str, str] | None) -> Side:
    """One side of a row, each part (" · "-separated, or a JSON line) marked when the other
    side lacks it: in "Employees · 50% pass · when …" only "50% pass" lights up."""
    label, text = line
    theirs = set(_parts(other[1])) if other is not None else set()
    code = _is_code(text)
    segments = []
    for i, part in enumerate(_parts(text)):
        if code:
            # The indentation of a JSON line stays out of the highlight.
            body = part.lstrip(" ")
            sep = ("\n" if i else "") + part[: len(part) - len(body)]
        else:
            body, sep = part, " · " if i else ""
        segments.append(Segment(body, part not in theirs, sep))
    return Side(label, segments, code)


def _plain(line: tuple[str, str]) -> Side:
    return _side(line, line)


def _key(line: tuple[str, str]) -> tuple[str, str]:
    # Positions in labels ("Rule 2") do not stop a moved rule from matching itself.
    return re.sub(r"\d+", "#", line[0]), line[1]


def _pairs(left: list[tuple[str, str]], right: list[tuple[str, str]]) -> dict[int, int]:
    """Which old line each new line replaces (right index → left index): the same label
    first, else a line of the same kind whose text is alike ("Rule 3" that became "Rule 4"
    with another percentage)."""
    pairs: dict[int, int] = {}
    taken: set[int] = set()
    for ri, r in enumerate(right):
        for li, lft in enumerate(left):
            if li not in taken and lft[0] == r[0]:
                pairs[ri] = li
                taken.add(li)
                break
    for ri, r in enumerate(right):
        if ri in pairs:
            continue
        best, best_ratio = None, 0.5
        for li, lft in enumerate(left):
            if li in taken or _key(lft)[0] != _key(r)[0]:
                continue
            ratio = difflib.SequenceMatcher(None, lft[1], r[1], autojunk=False).ratio()
            if ratio > best_ratio:
                best, best_ratio = li, ratio
        if best is not None:
            pairs[ri] = best
            taken.add(best)
    return pairs


def diff_rows(before: list[tuple[str, str]], after: list[tuple[str, str]]) -> list[DiffRow]:
    """Align two described documents line by line: equal lines side by side, changed ones
    paired by label, the rest added or removed (in the order of the new document)."""
    rows: list[DiffRow] = []
    matcher = difflib.SequenceMatcher(
        None, [_key(x) for x in before], [_key(x) for x in after], autojunk=False
    )
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for a, b in zip(before[i1:i2], after[j1:j2], strict=True):
                rows.append(DiffRow("same" if a[0] == b[0] else "moved", _plain(a), _plain(b)))
            continue
        left, right = before[i1:i2], after[j1:j2]
        pairs = _pairs(left, right)
        taken = set(pairs.values())
        emitted: set[int] = set()
        for ri, r in enumerate(right):
            if ri in pairs:
                li = pairs[ri]
                for k in range(li):
                    if k not in taken and k not in emitted:
                        rows.append(DiffRow("removed", _side(left[k], None), None))
                        emitted.add(k)
                rows.append(DiffRow("changed", _side(left[li], r), _side(r, left[li])))
            else:
                rows.append(DiffRow("added", None, _side(r, None)))
        for k, lft in enumerate(left):
            if k not in taken and k not in emitted:
                rows.append(DiffRow("removed", _side(lft, None), None))
    return rows


def fold(rows: list[DiffRow]) -> list[DiffBlock]:
    """Long runs of unchanged lines folded away, in diffs long enough to need it (a short
    document is easier to review whole)."""
    if len(rows) <= FOLD_OVER:
        return [DiffBlock(rows)]
    blocks: list[DiffBlock] = []
    run: list[DiffRow] = []

    def flush() -> None:
        if run:
            blocks.append(DiffBlock(list(run), folded=len(run) >= FOLD_AT))
            run.clear()

    for row in rows:
        if row.status == "same":
            run.append(row)
            continue
        flush()
        if blocks and not blocks[-1].folded:
            blocks[-1].rows.append(row)
        else:
            blocks.append(DiffBlock([row]))
    flush()
    return blocks


@dataclass
class ChangeView:
    change: Change
    kind_label: str
    verb: str
    url: str | None
    mode: str  # "diff", "created" (no before), "none" (nothing to show)
    blocks: list[DiffBlock] = field(default_factory=list)
    lines: list[Side] = field(default_factory=list)  # created: the new document
    note: str = ""  # the payload of actions that are not documents (IDs, ship group)
    changed_count: int = 0
    stale: bool = False
    edit_url: str | None = None  # the author's editor for this proposed document


def _ids_note(change: Change) -> str:
    ids = change.payload.get("ids") if isinstance(change.payload, dict) else None
    if not isinstance(ids, list):
        return ""
    what = {
        "ids_add": "Adds",
        "ids_remove": "Removes",
        "ids_replace": "Replaces every ID with",
    }.get(change.action, "IDs:")
    shown = ", ".join(str(i) for i in ids[:SHOWN_IDS])
    more = f", … (+{len(ids) - SHOWN_IDS:,} more)" if len(ids) > SHOWN_IDS else ""
    noun = "ID" if len(ids) == 1 else "IDs"
    return f"{what} {len(ids):,} {noun}: {shown}{more}" if ids else f"{what} no IDs."


def _edit_url(handler, project: Project, change: Change, url: str | None, number: int):
    if handler is None or change.action not in ("create", "update"):
        return None
    if change.action == "update" and url:
        return f"{url}?change_set={number}"
    if change.action == "create" and handler.create_url is not None:
        return f"{handler.create_url(project)}?change_set={number}&change={change.position}"
    return None


def change_view(
    project: Project, change: Change, *, stale_ids: set[int], edit_number: int | None = None
) -> ChangeView:
    """`edit_number`: the change set's number when the viewer may edit it (its author)."""
    try:
        handler = registry.get(change.kind)
    except ApplicationError:
        handler = None
    label, verb = kind_label(change.kind), reviews_tags.verb(change)
    url = None
    if handler is not None and handler.url is not None and change.entity_id is not None:
        # An unsaved instance carries what the URL needs (project slug, pk): no query.
        url = handler.url(handler.model(pk=change.entity_id, project=project))
    view = ChangeView(change, label, verb, url, "none", stale=change.pk in stale_ids)
    if edit_number is not None:
        view.edit_url = _edit_url(handler, project, change, url, edit_number)
    if change.action.startswith("ids_"):
        view.note = _ids_note(change)
    elif change.action == "ship" and isinstance(change.payload, dict):
        view.note = f"Ships the group {change.payload.get('group') or '?'} to everyone."
    elif change.action == "archive":
        # The document does not change, so a diff would read "no visible difference".
        view.note = (
            f"Archives the {label}: the SDKs stop receiving it and answer as if it did not "
            "exist (a gate fails, a config or experiment gives its defaults). The impact "
            "below counts who that changes."
        )
        return view
    before = selectors.document_lines(change.kind, change.before) if change.before else []
    after = selectors.document_lines(change.kind, change.after) if change.after else []
    if change.before is None and after:
        view.mode = "created"
        view.lines = [_plain(line) for line in after]
    elif before or after:
        rows = diff_rows(before, after)
        view.mode = "diff"
        view.changed_count = sum(1 for r in rows if r.status not in ("same", "moved"))
        view.blocks = fold(rows)
    return view
