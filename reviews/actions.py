"""Who may do what to a change set, in one place: the services refuse with these reasons,
and the change set page offers exactly the actions that would not be refused.

`refusal(action, change_set, ...)` checks the roles and states of an action, in the order
the reasons are told, and returns the error the service raises, or None when the action is
allowed. Checks that need the request's input (a reason to reject, what moved for a
rebase) stay in the services.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.exceptions import ApplicationError, Conflict, NotAllowed
from console.models import Role, role_at_least
from console.permissions import ROLE_NEEDED_MESSAGE
from reviews.models import CLOSED_STATES, ChangeSet, ChangeSetSource, ChangeSetState, ReviewPolicy
from reviews.policy import Requirements

S = ChangeSetState
ACTIONS = (
    "approve",
    "reject",
    "apply",
    "break_glass",
    "cancel",
    "send",
    "rebase",
    "schedule",
)


@dataclass(frozen=True)
class Actor:
    """Who asks: their role in the change set's project (None for non-members) and whether
    they wrote the change set."""

    role: str | None
    is_author: bool


def refusal(
    action: str,
    change_set: ChangeSet,
    actor: Actor,
    *,
    needs: Requirements,
    policy: ReviewPolicy,
) -> ApplicationError | None:
    """Why `actor` may not take `action` on `change_set` now, or None."""
    return _RULES[action](change_set, actor, needs, policy)


def _role_below(actor: Actor, needed: str) -> ApplicationError | None:
    if role_at_least(actor.role, needed):
        return None
    return NotAllowed(ROLE_NEEDED_MESSAGE[Role(needed)])


def _author_or_admin(actor: Actor, doing: str) -> ApplicationError | None:
    if actor.is_author:
        return _role_below(actor, Role.MEMBER)
    if actor.role != Role.ADMIN:
        return NotAllowed(f"Only the author or a project admin can {doing} this change set.")
    return None


def not_open(change_set: ChangeSet, doing: str) -> ApplicationError | None:
    """Why a change set no longer takes `doing` (it is being applied, or closed), or None."""
    if change_set.state == S.APPLYING:
        return Conflict(
            f"Change set #{change_set.number} is being applied: it can no longer {doing}.",
            code="changeset_applying",
        )
    if change_set.state in CLOSED_STATES:
        return Conflict(
            f"Change set #{change_set.number} is {change_set.get_state_display().lower()}: "
            f"it can no longer {doing}.",
            code=f"changeset_{change_set.state}",
        )
    return None


def _stale(change_set: ChangeSet, then: str) -> ApplicationError:
    return Conflict(
        f"Change set #{change_set.number} is stale: {change_set.stale_reason} {then}",
        code="stale",
    )


def _approve(cs: ChangeSet, actor: Actor, needs: Requirements, policy: ReviewPolicy):
    if refused := _role_below(actor, Role.MEMBER):
        return refused
    if actor.is_author:
        return NotAllowed("Authors cannot approve their own change set.")
    if cs.state == S.STALE:
        return _stale(cs, "The author rebases it first.")
    if cs.state not in (S.IN_REVIEW, S.APPROVED):
        return Conflict(
            f"Change set #{cs.number} is {cs.get_state_display().lower()}: only a change set "
            "in review can be approved.",
            code=f"changeset_{cs.state}",
        )
    return None


def _reject(cs: ChangeSet, actor: Actor, needs: Requirements, policy: ReviewPolicy):
    if refused := _role_below(actor, Role.MEMBER):
        return refused
    if actor.is_author:
        return NotAllowed("Authors cancel their own change set rather than reject it.")
    if cs.state not in (S.IN_REVIEW, S.APPROVED, S.STALE):
        return Conflict("Only a change set in review can be rejected.", code="not_in_review")
    return None


def _appliable(cs: ChangeSet, actor: Actor) -> ApplicationError | None:
    """What applying and breaking the glass share: the author or an admin, on an open
    change set that has something to apply."""
    if refused := _author_or_admin(actor, "apply"):
        return refused
    if cs.state == S.APPLIED:
        return Conflict(f"Change set #{cs.number} is already applied.", code="already_applied")
    if cs.state == S.STALE:
        return _stale(cs, "Rebase it first.")
    if refused := not_open(cs, "be applied"):
        return refused
    if cs.source == ChangeSetSource.FOLLOW_UP:
        return Conflict("A follow-up review has nothing to apply.", code="follow_up")
    return None


def _apply(cs: ChangeSet, actor: Actor, needs: Requirements, policy: ReviewPolicy):
    if refused := _appliable(cs, actor):
        return refused
    if cs.state != S.APPROVED and needs.needs_review and not needs.met:
        return Conflict(
            f"Change set #{cs.number} is not approved yet ({needs.summary()}).",
            code="not_approved",
        )
    return None


def _break_glass(cs: ChangeSet, actor: Actor, needs: Requirements, policy: ReviewPolicy):
    if refused := _appliable(cs, actor):
        return refused
    if cs.state == S.APPROVED or not needs.needs_review or needs.met:
        return Conflict("It needs no break-glass: apply it.", code="no_break_glass_needed")
    if actor.role != Role.ADMIN:
        return NotAllowed("Only project admins can break the glass.")
    if not actor.is_author:
        return NotAllowed("Break-glass applies the admin's own change set only.")
    if not policy.allow_break_glass:
        return NotAllowed(
            "This project's review policy does not allow admins to apply their own change "
            "without review."
        )
    return None


def _cancel(cs: ChangeSet, actor: Actor, needs: Requirements, policy: ReviewPolicy):
    return _author_or_admin(actor, "cancel") or not_open(cs, "be cancelled")


def _send(cs: ChangeSet, actor: Actor, needs: Requirements, policy: ReviewPolicy):
    if not actor.is_author:
        return NotAllowed("Only the author can send this draft for review.")
    if refused := _role_below(actor, Role.MEMBER):
        return refused
    if cs.state != S.DRAFT:
        return Conflict("Only a draft can be sent for review.", code="not_draft")
    return None


def _rebase(cs: ChangeSet, actor: Actor, needs: Requirements, policy: ReviewPolicy):
    if not actor.is_author:
        return NotAllowed("Only the author can rebase this change set.")
    return _role_below(actor, Role.MEMBER) or not_open(cs, "be rebased")


def _schedule(cs: ChangeSet, actor: Actor, needs: Requirements, policy: ReviewPolicy):
    """Set or clear when an approved change set is applied: the author or an admin, on an
    open change set that has something to apply."""
    if refused := _author_or_admin(actor, "schedule"):
        return refused
    if refused := not_open(cs, "be scheduled"):
        return refused
    if cs.state == S.STALE:
        return _stale(cs, "Rebase it first.")
    if cs.source == ChangeSetSource.FOLLOW_UP:
        return Conflict("A follow-up review has nothing to apply.", code="follow_up")
    return None


_RULES = {
    "approve": _approve,
    "reject": _reject,
    "apply": _apply,
    "break_glass": _break_glass,
    "cancel": _cancel,
    "send": _send,
    "rebase": _rebase,
    "schedule": _schedule,
}
