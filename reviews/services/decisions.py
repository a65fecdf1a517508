"""Deciding: approve (which applies when the policy allows it), reject, cancel, comment."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from console.context import current_api_key
from console.exceptions import ApplicationError, DomainError
from console.models import Role, User
from console.permissions import ensure_role
from reviews import notifications
from reviews.models import (
    Approval,
    ChangeSet,
    ChangeSetSource,
    Comment,
)
from reviews.policy import project_policy
from reviews.services.applying import _apply_or_queue, stale_on_refusal
from reviews.services.changes import (
    S,
    _lock,
    _record,
    change_set_requirements,
    changeset_refresh,
    ensure_allowed,
)
from reviews.services.scheduling import waits_for_schedule

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- review


def changeset_approve(*, actor: User, change_set: ChangeSet) -> ChangeSet:
    """A reviewer approves the current content. Members and admins, never the author.
    When the approvals meet the policy the change set is approved and, with the policy's
    apply_on_approval (default), applied at once, or, when it is scheduled for a time to
    come, by the worker at that time (reviews.services.scheduling). The approval stands
    even if that apply is then refused (say, a name taken since): `apply_error` holds why."""
    change_set = changeset_refresh(change_set=change_set)
    with transaction.atomic():
        change_set = _lock(change_set)
        ensure_allowed("approve", actor, change_set)
        _, created = Approval.objects.get_or_create(
            change_set=change_set,
            user=actor,
            content_hash=change_set.content_hash,
            defaults={"via_key_hint": getattr(current_api_key(), "hint", "") or ""},
        )
        if created:
            _record(actor, "changeset.approval_added", change_set)
            notifications.notify(change_set, "approval_added", actor_id=actor.pk)
        if change_set.state == S.IN_REVIEW and change_set_requirements(change_set).met:
            change_set.state = S.APPROVED
            change_set.decided_at = timezone.now()
            change_set.save(update_fields=["state", "decided_at", "updated_at"])
            _record(actor, "changeset.approved", change_set)
            notifications.notify(change_set, "approved")
    error = None
    if (
        change_set.state == S.APPROVED
        and change_set.source != ChangeSetSource.FOLLOW_UP
        and project_policy(change_set.project).apply_on_approval
        and not waits_for_schedule(change_set)
    ):
        try:
            with transaction.atomic():
                locked = _lock(change_set)
                if locked.state == S.APPROVED:  # not applied by a concurrent approval
                    locked = _apply_or_queue(locked, applier=actor)
            change_set = locked
        except ApplicationError as exc:
            logger.info("changeset.apply_on_approval_refused id=%s: %s", change_set.pk, exc)
            stale_on_refusal(change_set, exc)
            change_set.refresh_from_db(fields=["state", "stale_reason", "updated_at"])
            error = exc
    change_set.results = getattr(change_set, "results", [])
    change_set.apply_error = error
    return change_set


@transaction.atomic
def changeset_reject(*, actor: User, change_set: ChangeSet, reason: str) -> ChangeSet:
    """A reviewer (member or admin, not the author: they cancel) rejects, with a reason."""
    change_set = _lock(change_set)
    ensure_allowed("reject", actor, change_set)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Say why you reject it.", code="required", field="reason")
    if len(reason) > 2000:
        raise DomainError("A reason is at most 2,000 characters.", code="too_long", field="reason")
    change_set.state = S.REJECTED
    change_set.reject_reason = reason
    change_set.decided_at = timezone.now()
    change_set.save(update_fields=["state", "reject_reason", "decided_at", "updated_at"])
    _record(actor, "changeset.rejected", change_set, reason=reason)
    notifications.notify(change_set, "rejected", actor_id=actor.pk)
    return change_set


@transaction.atomic
def changeset_cancel(*, actor: User, change_set: ChangeSet) -> ChangeSet:
    change_set = _lock(change_set)
    ensure_allowed("cancel", actor, change_set)
    change_set.state = S.CANCELLED
    change_set.save(update_fields=["state", "updated_at"])
    _record(actor, "changeset.cancelled", change_set)
    return change_set


@transaction.atomic
def changeset_comment(*, actor: User, change_set: ChangeSet, body: str) -> Comment:
    """Anyone in the project comments (viewers too)."""
    ensure_role(actor, change_set.project, Role.VIEWER)
    body = (body or "").strip()
    if not body:
        raise DomainError("A comment needs some text.", code="required", field="body")
    if len(body) > 5000:
        raise DomainError("Comments are at most 5,000 characters.", code="too_long", field="body")
    comment = Comment.objects.create(change_set=change_set, author=actor, body=body)
    _record(actor, "changeset.commented", change_set, comment=body[:200])
    notifications.notify(change_set, "commented", actor_id=actor.pk, comment_id=comment.pk)
    return comment
