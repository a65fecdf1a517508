"""Scheduled change sets: approved now, applied by the worker at a chosen time.

`changeset_schedule` sets (or clears) the time; an approval that meets the policy does not
apply a change set whose time is still to come. Beat runs `changeset_apply_due` every
GATEHOUSE_SCHEDULE_TICK_SECONDS: each due change set is applied exactly once (its row is
taken with FOR UPDATE SKIP LOCKED and must still be approved), a stale one is not applied
and says why, and a refused one keeps its approval with the reason on its page.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from console.exceptions import ApplicationError, DomainError
from console.models import User
from reviews import notifications
from reviews.models import ChangeSet
from reviews.services.applying import _apply_or_queue, _update
from reviews.services.changes import S, _lock, _record, changeset_refresh, ensure_allowed

logger = logging.getLogger(__name__)

# How far ahead a change set can be scheduled: a plan, not a time bomb.
MAX_AHEAD = timedelta(days=90)


def changeset_schedule(
    *, actor: User, change_set: ChangeSet, at: datetime | None, now: datetime | None = None
) -> ChangeSet:
    """Schedule an open change set to be applied at `at` (aware, in the future, at most 90
    days ahead), or, with `at` None, cancel its schedule (it then applies as any other).
    The author or an admin. Audited as changeset.scheduled / changeset.unscheduled."""
    now = now or timezone.now()
    if at is not None:
        if timezone.is_naive(at):
            raise DomainError("Give the time with its timezone.", code="naive", field="at")
        if at <= now:
            raise DomainError("Pick a time in the future.", code="in_the_past", field="at")
        if at > now + MAX_AHEAD:
            raise DomainError(
                "A change set can be scheduled at most 90 days ahead.", code="too_far", field="at"
            )
    with transaction.atomic():
        change_set = _lock(change_set)
        ensure_allowed("schedule", actor, change_set)
        if at is None and change_set.scheduled_for is None:
            return change_set
        old = change_set.scheduled_for
        _update(change_set, scheduled_for=at, scheduled_by=actor if at else None)
        if at is None:
            was = old.isoformat() if old else None
            _record(actor, "changeset.unscheduled", change_set, was=was)
        else:
            _record(actor, "changeset.scheduled", change_set, at=at.isoformat())
    return change_set


def waits_for_schedule(change_set: ChangeSet, now: datetime | None = None) -> bool:
    """Whether an approval should leave the applying to the worker (the time is to come)."""
    return change_set.scheduled_for is not None and change_set.scheduled_for > (
        now or timezone.now()
    )


def changeset_apply_due(*, now: datetime | None = None) -> int:
    """Apply every approved change set whose scheduled time has come; returns how many
    were applied (or handed to the worker, for heavy ones). One transaction per change
    set, its row taken with SKIP LOCKED: two workers never apply the same one, and one
    refused change set does not hold up the others."""
    now = now or timezone.now()
    applied = 0
    due = list(
        ChangeSet.objects.filter(
            scheduled_for__lte=now, state__in=(S.APPROVED, S.STALE)
        ).values_list("pk", flat=True)
    )
    for change_set_id in due:
        try:
            applied += _apply_one_due(change_set_id, now)
        except Exception:
            # One broken change set must not stop the others; it stays due for the next tick.
            logger.exception("changeset.scheduled_apply_failed id=%s", change_set_id)
    return applied


def _apply_one_due(change_set_id: int, now: datetime) -> int:
    candidate = ChangeSet.objects.filter(pk=change_set_id).select_related("project").first()
    if candidate is None:
        return 0
    # An entity moved on since it was approved: stale, and the block below says why.
    changeset_refresh(change_set=candidate)
    with transaction.atomic():
        change_set = (
            ChangeSet.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("project", "author", "scheduled_by")
            .filter(pk=change_set_id, scheduled_for__lte=now, state__in=(S.APPROVED, S.STALE))
            .first()
        )
        if change_set is None or change_set.scheduled_for is None:
            return 0  # taken by another worker, applied, or unscheduled meanwhile
        when = change_set.scheduled_for.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        if change_set.state == S.STALE:
            message = (
                f"It was not applied at its scheduled time ({when}) because it went stale: "
                f"{change_set.stale_reason} Rebase it and schedule it again."
            )
            _skip(change_set, message, "scheduled_stale")
            return 0
        applier = change_set.scheduled_by or change_set.author
        try:
            with transaction.atomic():
                _apply_or_queue(change_set, applier=applier)
        except ApplicationError as exc:
            _skip(
                _lock(change_set),
                f"It was not applied at its scheduled time ({when}): {exc.message}",
                exc.code,
            )
            return 0
        _record(None, "changeset.scheduled_applied", change_set, at=when)
    return 1


def _skip(change_set: ChangeSet, message: str, code: str) -> None:
    """The schedule is spent: cleared, with why on the page; the state stays as it is."""
    _update(
        change_set,
        scheduled_for=None,
        apply_error_message=message[:2000],
        apply_error_code=code[:60],
    )
    _record(None, "changeset.apply_failed", change_set, reason=message, code=code)
    notifications.notify(change_set, "apply_failed")
