"""Applying an approved change set: inline, or by the worker for heavy ones (state
"applying", progress in the cache, a refusal sends it back with the reason); the new ruleset
version; staling the other open change sets on the same entities; break-glass follow-ups."""

from __future__ import annotations

import functools
import logging
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Max, Sum
from django.utils import timezone

from console import progress
from console.exceptions import ApplicationError, Conflict
from console.models import User
from console.publishing.services import ruleset_version_create
from reviews import notifications, registry
from reviews.impact import spec_name
from reviews.models import (
    Change,
    ChangeSet,
    ChangeSetSource,
)
from reviews.selectors import apply_progress_key
from reviews.services.changes import (
    S,
    _changes_streamed,
    _entity_keys,
    _lock,
    _mark_stale,
    _record,
    _run,
    changeset_refresh,
    ensure_allowed,
)

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- apply


def changeset_apply(*, actor: User, change_set: ChangeSet, break_glass: bool = False) -> ChangeSet:
    """Apply an approved change set (its author or an admin), or, with `break_glass`, an
    admin's own change set without approvals when the policy allows it: flagged in the
    audit log and followed up by a review after the fact. Exactly once: concurrent
    applies serialise on the change set's row and the second is refused."""
    change_set = changeset_refresh(change_set=change_set)
    try:
        with transaction.atomic():
            change_set = _lock(change_set)
            ensure_allowed("break_glass" if break_glass else "apply", actor, change_set)
            return _apply_or_queue(change_set, applier=actor, break_glass=break_glass)
    except ApplicationError as exc:
        stale_on_refusal(change_set, exc)
        raise


# The refusals that applying again cannot get past: the change set has to change.
_DEAD_END_CODES = ("stale", "duplicate")


def stale_on_refusal(change_set: ChangeSet, exc: ApplicationError) -> None:
    """After an apply was refused (and rolled back): when the refusal is one that no retry
    gets past (an entity changed since, a name taken since), the change set goes stale
    with the reason, in its own transaction, so it is never left approved but unappliable;
    its author edits it (another name), rebases or cancels it."""
    if exc.code not in _DEAD_END_CODES:
        return
    with transaction.atomic():
        locked = _lock(change_set)
        if locked.state in (S.IN_REVIEW, S.APPROVED):
            _mark_stale(locked, f"Applying it was refused: {exc.message}")


def _apply_or_queue(
    change_set: ChangeSet, *, applier: User | None, break_glass: bool = False
) -> ChangeSet:
    """Apply now, or, for a change set heavier than GATEHOUSE_APPLY_IN_WORKER_WEIGHT (a
    million IDs), mark it applying and hand it to the worker once this transaction
    commits: a web request never carries the heavy part."""
    weight = Change.objects.filter(change_set=change_set).aggregate(w=Sum("weight"))["w"] or 0
    if weight <= settings.GATEHOUSE_APPLY_IN_WORKER_WEIGHT:
        return _apply(change_set, applier=applier, break_glass=break_glass)
    # A refused apply goes back to where it could be applied from again.
    resume = change_set.state if break_glass else S.APPROVED
    _update(
        change_set,
        state=S.APPLYING,
        apply_queued_at=timezone.now(),
        apply_queued_by=applier,
        apply_resume_state=resume,
        break_glass=break_glass,
        apply_error_message="",
        apply_error_code="",
    )
    _record(applier, "changeset.apply_queued", change_set, weight=weight, break_glass=break_glass)
    transaction.on_commit(lambda: _enqueue_apply(change_set.pk))
    change_set.results = []
    return change_set


def _update(change_set: ChangeSet, **fields: Any) -> None:
    """Set and save these fields of the change set (and its updated_at)."""
    for name, value in fields.items():
        setattr(change_set, name, value)
    change_set.save(update_fields=[*fields, "updated_at"])


def _enqueue_apply(change_set_id: int) -> None:
    from reviews.tasks import changeset_apply_task

    try:
        changeset_apply_task.delay(change_set_id)
    except Exception:
        # Committed as applying: changeset_apply_requeue (beat) sends it again.
        logger.exception("changeset.apply_enqueue_failed id=%s", change_set_id)


def changeset_apply_queued(*, change_set_id: int) -> ChangeSet | None:
    """The worker's half of a heavy apply: apply the change set if it is still applying
    (a redelivered task finds it applied and does nothing). Progress goes to the change
    set's page as it runs. A refusal (a name taken since, an entity changed since) rolls
    every change back and returns the change set to approved, or stale, with the reason
    in `apply_error_message` and the author told."""
    listener = _ProgressWriter(change_set_id)
    try:
        with progress.listening(listener), transaction.atomic():
            change_set = (
                ChangeSet.objects.select_for_update(of=("self",), skip_locked=True)
                .select_related("project", "author", "apply_queued_by")
                .filter(pk=change_set_id, state=S.APPLYING)
                .first()
            )
            if change_set is None:  # applied (or being applied) by another delivery
                return None
            applier = change_set.apply_queued_by or change_set.author
            try:
                with transaction.atomic():
                    return _apply(change_set, applier=applier, break_glass=change_set.break_glass)
            except ApplicationError as exc:
                _apply_refused(change_set, applier, exc.message, exc.code)
                return change_set
    finally:
        listener.clear()


@transaction.atomic
def changeset_apply_abandon(*, change_set_id: int, reason: str) -> None:
    """The worker stopped applying for a reason of its own (a time limit, a lost
    database): nothing was applied; the change set goes back so it can be applied again."""
    change_set = (
        ChangeSet.objects.select_for_update(of=("self",))
        .select_related("project", "author", "apply_queued_by")
        .filter(pk=change_set_id, state=S.APPLYING)
        .first()
    )
    if change_set is not None:
        message = f"Applying stopped before it finished ({reason}); nothing was changed."
        _apply_refused(change_set, change_set.apply_queued_by, message, "apply_interrupted")


def _apply_refused(change_set: ChangeSet, applier: User | None, message: str, code: str) -> None:
    stale = code in _DEAD_END_CODES
    _update(
        change_set,
        state=S.STALE if stale else (change_set.apply_resume_state or S.APPROVED),
        stale_reason=message if stale else change_set.stale_reason,
        apply_error_message=message[:2000],
        apply_error_code=code[:60],
        break_glass=False,
    )
    _record(applier, "changeset.apply_failed", change_set, reason=message, code=code)
    notifications.notify(change_set, "apply_failed")


def changeset_apply_requeue(*, older_than: timedelta) -> int:
    """Send again the change sets applying for longer than `older_than` (their task was
    lost with the broker or the worker); returns how many. Each is stamped as queued now,
    so a worker that stays away gets one message per `older_than`, not one per beat. A
    task that is in fact still running holds the row: the second delivery skips it."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            ChangeSet.objects.select_for_update(skip_locked=True)
            .filter(state=S.APPLYING, apply_queued_at__lt=now - older_than)
            .values_list("pk", flat=True)
        )
        ChangeSet.objects.filter(pk__in=ids).update(apply_queued_at=now)
        for change_set_id in ids:
            transaction.on_commit(functools.partial(_enqueue_apply, change_set_id))
    return len(ids)


class _ProgressWriter:
    """Keeps the latest progress of one change set's apply in the cache (at most a few
    writes a second) for its page and the API to read (reviews.selectors.apply_progress).
    A report without a measure names the phase ("Added IDs to segment vips")."""

    INTERVAL = 0.5

    def __init__(self, change_set_id: int):
        self.key = apply_progress_key(change_set_id)
        self.state: dict[str, Any] = {"phase": "Starting", "step": "", "done": 0, "total": 0}
        self.written = 0.0

    def __call__(self, step: str, done: int, total: int) -> None:
        if total:
            self.state.update(step=step, done=done, total=total)
        else:
            self.state.update(phase=step, step="", done=0, total=0)
        now = time.monotonic()
        if total and done < total and now - self.written < self.INTERVAL:
            return
        self.written = now
        try:
            cache.set(self.key, self.state, timeout=3600)
        except Exception:  # progress is a courtesy: never the reason an apply fails
            logger.warning("changeset.apply_progress_unwritten key=%s", self.key)

    def clear(self) -> None:
        try:
            cache.delete(self.key)
        except Exception:
            logger.warning("changeset.apply_progress_uncleared key=%s", self.key)


def _apply(change_set: ChangeSet, *, applier: User | None, break_glass: bool = False) -> ChangeSet:
    """Run the changes (as their author), record the ruleset version, mark other open change
    sets on the same entities stale. Runs in the caller's transaction. Bulk lists (IDs)
    are streamed from the stored change, never loaded whole."""
    project = change_set.project
    rows = _changes_streamed(change_set)
    try:
        with transaction.atomic():
            results = _run(change_set.author, project, rows)
    except Conflict as exc:
        if exc.code == "stale":
            raise Conflict(exc.message + " (nothing was applied)", code="stale") from exc
        raise
    for change in rows:
        change.save(update_fields=["entity_id", "after"])
    progress.report("Recording the new ruleset version")
    # Not forced: a change set whose specs equal the published ones (it changed nothing
    # SDKs receive) records no version and gives SDKs no new `time`; forcing a publish is
    # an admin's (console.publishing).
    version = ruleset_version_create(
        actor=applier,
        project=project,
        reason=f"Change set #{change_set.number}: {change_set.title}",
    )
    _update(
        change_set,
        state=S.APPLIED,
        applied_at=timezone.now(),
        applied_by=applier,
        ruleset_version=version if version.was_created else None,
        break_glass=break_glass,
        apply_error_message="",
        apply_error_code="",
    )
    _record(
        applier,
        "changeset.break_glass_applied" if break_glass else "changeset.applied",
        change_set,
        version=version.number if version.was_created else None,
        break_glass=break_glass,
    )
    _stale_others(change_set, rows)
    if break_glass:
        _open_follow_up(change_set)
    notifications.notify(change_set, "applied")
    notifications.entities_applied(change_set, rows, applier)
    change_set.results = results
    return change_set


def _stale_others(change_set: ChangeSet, rows: list[Change]) -> None:
    """Mark stale the open change sets this one makes unappliable as they stand: those
    changing an entity it changed (their base moved: rebase), and those creating a name
    it created (rename or cancel)."""
    _stale_same_names(change_set, rows)
    keys = set(_entity_keys(rows))
    if not keys:
        return
    touched: dict[int, set[tuple[str, int]]] = {}
    for other_id, kind, entity_id in (
        Change.objects.filter(
            change_set__project=change_set.project,
            change_set__state__in=(S.IN_REVIEW, S.APPROVED),
            entity_id__in=[entity_id for _kind, entity_id in keys],
        )
        .exclude(change_set=change_set)
        .values_list("change_set_id", "kind", "entity_id")
    ):
        if entity_id is not None and (kind, entity_id) in keys:
            touched.setdefault(other_id, set()).add((kind, entity_id))
    for other_id in sorted(touched):
        other = _lock(ChangeSet(pk=other_id))
        if other.state not in (S.IN_REVIEW, S.APPROVED):
            continue  # decided meanwhile
        names = ", ".join(
            f"{c.kind} {c.entity_name}" for c in rows if (c.kind, c.entity_id) in touched[other_id]
        )
        _mark_stale(other, f"Change set #{change_set.number} changed {names} first.")


def _stale_same_names(change_set: ChangeSet, rows: list[Change]) -> None:
    created = {
        spec_name(c.kind, c.entity_name): c
        for c in rows
        if registry.get(c.kind).action(c.action).creates
    }
    if not created:
        return
    clashes: dict[int, list[Change]] = {}
    for other_id, kind, entity_name in (
        Change.objects.filter(
            change_set__project=change_set.project,
            change_set__state__in=(S.IN_REVIEW, S.APPROVED),
            entity_id__isnull=True,
        )
        .exclude(change_set=change_set)
        .values_list("change_set_id", "kind", "entity_name")
    ):
        mine = created.get(spec_name(kind, entity_name))
        if mine is not None:
            clashes.setdefault(other_id, []).append(mine)
    for other_id in sorted(clashes):
        other = _lock(ChangeSet(pk=other_id))
        if other.state not in (S.IN_REVIEW, S.APPROVED):
            continue  # decided meanwhile
        names = ", ".join(
            f"{registry.get(c.kind).label} '{c.entity_name}'" for c in clashes[other_id]
        )
        _mark_stale(
            other,
            f"Change set #{change_set.number} created the {names} first: edit this change "
            "set to give yours another name, or cancel it.",
        )


def _open_follow_up(change_set: ChangeSet) -> ChangeSet:
    number = ChangeSet.objects.filter(project=change_set.project).aggregate(n=Max("number"))["n"]
    follow_up = ChangeSet.objects.create(
        project=change_set.project,
        number=number + 1,
        title=f"Follow-up review of break-glass change #{change_set.number}",
        description=f"Applied without review: {change_set.title}",
        author=change_set.author,
        source=ChangeSetSource.FOLLOW_UP,
        state=S.IN_REVIEW,
        submitted_at=timezone.now(),
        content_hash=change_set.content_hash,
        environments=change_set.environments,
        follow_up_of=change_set,
    )
    _record(None, "changeset.follow_up_opened", follow_up, of=change_set.number)
    notifications.notify(follow_up, "submitted")
    return follow_up
