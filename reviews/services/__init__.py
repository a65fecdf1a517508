"""Every write of a change set, and the review policy: one module per subject.

The one way configuration changes: a domain app's view, API or command builds ChangeInputs
and calls changeset_submit. A dry run (the changes applied in a savepoint that is rolled
back) validates them exactly as applying would, gives the documents the diff shows, and
tells which environments' specs they change; the policy then says apply now or wait for
approvals. changeset_apply runs each change through its kind's handler, then records a new
ruleset version (console.publishing), whose push to Redis is enqueued after commit.

- changes: the change rows, the dry run, staleness (what the others share)
- proposals: submit, send, edit, rebase, rollback
- decisions: approve, reject, cancel, comment
- applying: apply inline or in the worker, break-glass, staling the others
- scheduling: applying approved change sets at a chosen time (beat)
- policies: the review policy, review groups, entity owners
"""

from reviews.services.applying import (
    changeset_apply,
    changeset_apply_abandon,
    changeset_apply_queued,
    changeset_apply_requeue,
)
from reviews.services.changes import (
    MAX_CHANGES,
    ChangeInput,
    change_set_requirements,
    changeset_refresh,
    changeset_specs_after,
    stale_changes,
)
from reviews.services.decisions import (
    changeset_approve,
    changeset_cancel,
    changeset_comment,
    changeset_reject,
)
from reviews.services.policies import (
    EnvironmentRuleInput,
    entity_owner_set,
    review_group_delete,
    review_group_save,
    review_policy_document,
    review_policy_update,
)
from reviews.services.proposals import (
    RebaseConflict,
    RollbackPlan,
    SpecShift,
    changeset_check,
    changeset_edit,
    changeset_rebase,
    changeset_rollback,
    changeset_send,
    changeset_submit,
    rebase_conflicts,
    rollback_plan,
)
from reviews.services.scheduling import changeset_apply_due, changeset_schedule

__all__ = [
    "MAX_CHANGES",
    "ChangeInput",
    "EnvironmentRuleInput",
    "RebaseConflict",
    "RollbackPlan",
    "SpecShift",
    "change_set_requirements",
    "changeset_apply",
    "changeset_apply_due",
    "changeset_apply_abandon",
    "changeset_apply_queued",
    "changeset_apply_requeue",
    "changeset_approve",
    "changeset_cancel",
    "changeset_check",
    "changeset_comment",
    "changeset_edit",
    "changeset_rebase",
    "changeset_refresh",
    "changeset_reject",
    "changeset_rollback",
    "changeset_schedule",
    "changeset_send",
    "changeset_specs_after",
    "changeset_submit",
    "entity_owner_set",
    "rebase_conflicts",
    "review_group_delete",
    "review_group_save",
    "review_policy_document",
    "review_policy_update",
    "rollback_plan",
    "stale_changes",
]
