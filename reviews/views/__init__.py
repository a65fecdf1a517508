"""The review pages, one module per subject: the queue, the change set page and its actions,
readable diffs, review settings, version history."""

from reviews.views.actions import (
    changeset_apply,
    changeset_approve,
    changeset_break_glass,
    changeset_cancel,
    changeset_comment,
    changeset_rebase,
    changeset_reject,
    changeset_schedule,
    changeset_send,
    changeset_unschedule,
)
from reviews.views.changeset import changeset_detail, changeset_impact, changeset_progress
from reviews.views.history import changeset_rollback, version_history
from reviews.views.queue import changeset_list
from reviews.views.settings import (
    entity_owner_remove,
    entity_owner_set,
    review_group_create,
    review_group_delete,
    review_group_update,
    review_settings,
)

__all__ = [
    "changeset_apply",
    "changeset_approve",
    "changeset_break_glass",
    "changeset_cancel",
    "changeset_comment",
    "changeset_detail",
    "changeset_impact",
    "changeset_list",
    "changeset_progress",
    "changeset_rebase",
    "changeset_reject",
    "changeset_rollback",
    "changeset_schedule",
    "changeset_send",
    "changeset_unschedule",
    "entity_owner_remove",
    "entity_owner_set",
    "review_group_create",
    "review_group_delete",
    "review_group_update",
    "review_settings",
    "version_history",
]
